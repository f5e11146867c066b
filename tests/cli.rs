//! The commands as a newcomer runs them, from the README.

use std::fs;

use assert_cmd::Command;

use crate::util::incident_path;

fn rewind() -> Command {
    Command::cargo_bin("rewind").expect("binary")
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn replay_prints_a_summary_and_writes_output_named_after_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fs::create_dir(tmp.path().join("incidents")).expect("mkdir");
    fs::copy(
        incident_path("leaky-batch-loop.yaml"),
        tmp.path().join("incidents/leaky-batch-loop.yaml"),
    )
    .expect("copy");
    let out = stdout_of(
        rewind()
            .current_dir(tmp.path())
            .args(["replay", "incidents/leaky-batch-loop.yaml"]),
    );
    for needle in [
        "requests",
        "504",
        "502",
        "first 504 at",
        "OOM kills",
        "timeline:",
        "pool exhausted",
        "wrote output/leaky-batch-loop/",
    ] {
        assert!(out.contains(needle), "`{needle}` missing from:\n{out}");
    }
    let dir = tmp.path().join("output/leaky-batch-loop");
    for f in ["timeseries.csv", "events.jsonl", "summary.json"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let header = fs::read_to_string(dir.join("timeseries.csv")).expect("csv");
    let header = header.lines().next().expect("header");
    assert!(header.starts_with("time_s,"));
    for col in [
        "edge.requests",
        "edge.status_200",
        "edge.status_499",
        "edge.status_500",
        "edge.status_502",
        "edge.status_503",
        "edge.status_504",
        "edge.p50_ms",
        "edge.p99_ms",
        "edge.mean_ms",
        "edge.ok_p50_ms",
        "edge.ok_p95_ms",
        "edge.ok_p99_ms",
        "edge.ok_mean_ms",
        "orders-db.in_use",
        "orders-db.idle",
        "orders-db.waiting",
        "orders-db.max_open",
        "orders-api.inflight",
        "orders-api.memory_mib",
        "orders-api.replicas_up",
        "orders-api.restarts",
        "reconcile.running",
    ] {
        assert!(header.split(',').any(|c| c == col), "column {col} missing");
    }
    let events = fs::read_to_string(dir.join("events.jsonl")).expect("events");
    for line in events.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        for key in ["time_s", "kind", "component", "detail"] {
            assert!(v.get(key).is_some(), "{key} missing in {line}");
        }
    }
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("summary.json")).expect("summary"))
            .expect("json");
    for key in [
        "incident",
        "seed",
        "rewind_version",
        "duration_s",
        "requests",
        "responses",
        "first_status_s",
        "peak_pool_waiting",
        "oom_kills",
        "events",
        "wall_s",
    ] {
        assert!(
            summary.get(key).is_some(),
            "{key} missing from summary.json"
        );
    }
}

#[test]
fn an_interval_without_responses_has_no_percentile_rather_than_zero() {
    let (_tmp, out) = crate::util::replay_cli("leaky-batch-loop.yaml", &[]);
    let csv = fs::read_to_string(out.join("timeseries.csv")).expect("csv");
    let header: Vec<&str> = csv.lines().next().expect("header").split(',').collect();
    let p50 = header
        .iter()
        .position(|c| *c == "edge.p50_ms")
        .expect("column");
    // While the service is dry nothing finishes in some intervals: their p50 is empty.
    let empty = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|r| r[p50].is_empty())
        .count();
    assert!(empty > 0);
    assert!(csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .all(|r| r[p50] != "0"));
}

#[test]
fn out_and_duration_and_seed_flags() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("here");
    rewind()
        .args([
            "replay",
            "--quiet",
            "--duration",
            "10m",
            "--seed",
            "3",
            "--out",
        ])
        .arg(&out)
        .arg(incident_path("defer-in-loop.yaml"))
        .assert()
        .success()
        .stdout("");
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).expect("summary"))
            .expect("json");
    assert_eq!(summary["duration_s"], 600.0);
    assert_eq!(summary["seed"], 3);
    let rows = fs::read_to_string(out.join("timeseries.csv"))
        .expect("csv")
        .lines()
        .count();
    assert_eq!(rows, 601);
}

#[test]
fn check_accepts_the_bundled_incidents() {
    for name in ["leaky-batch-loop.yaml", "defer-in-loop.yaml"] {
        let out = stdout_of(rewind().arg("check").arg(incident_path(name)));
        assert!(out.contains(": ok ("), "{out}");
    }
}

#[test]
fn check_warns_when_a_backlog_is_above_somaxconn_and_still_passes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("big-backlog.yaml");
    let yaml = "name: t\nduration: 1m\nclients:\n  - {name: users, to: api, rate: 1/s}\nservices:\n  - name: api\n    workers: 8\n    backlog: 65535\n    handler: {steps: [{work: {constant: 1ms}}]}\n  - name: capped\n    backlog: 200\n    somaxconn: 128\n    handler: {steps: [{work: {constant: 1ms}}]}\n  - name: fits\n    backlog: 4096\n    handler: {steps: [{work: {constant: 1ms}}]}\nvariants:\n  - name: older-kernel\n    set: {fits.somaxconn: 128}\n";
    fs::write(&file, yaml).expect("write");
    let out = rewind().arg("check").arg(&file).output().expect("runs");
    assert!(out.status.success(), "a warning is not an error");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert!(stdout.contains(": ok ("), "{stdout}");
    // One of a kind is singular.
    assert!(
        stdout.contains(
            "(1 client, 0 gateways, 3 services, 0 databases, 0 timeline entries, 0 alert rules, 1m"
        ),
        "{stdout}"
    );
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 3, "{stderr}");
    assert!(
        warnings[0].contains("big-backlog.yaml:8:14: backlog 65535 is above somaxconn (4096, Linux's default since 5.4): listen() caps it at 4096, so each replica of `api` holds 4097 connections"),
        "{stderr}"
    );
    assert!(
        warnings[1].contains(":11:14: backlog 200 is above somaxconn (128, as set)"),
        "{stderr}"
    );
    assert!(
        warnings[2]
            .contains("variant `older-kernel`: backlog 4096 is above somaxconn (128, as set)"),
        "{stderr}"
    );
    // The replay keeps what the kernel keeps.
    let s = rewind::incident::parse("t.yaml", yaml, &Default::default()).expect("valid");
    let backlogs: Vec<u32> = s.services.iter().map(|s| s.backlog).collect();
    assert_eq!(backlogs, [4096, 128, 4096]);
}

#[test]
fn graph_prints_graphviz_dot() {
    let out = stdout_of(
        rewind()
            .arg("graph")
            .arg(incident_path("leaky-batch-loop.yaml")),
    );
    assert!(out.starts_with("digraph \"leaky-batch-loop\" {"));
    for needle in [
        "users",
        "edge",
        "orders-api",
        "orders-db",
        "reconcile",
        "postgres",
        "->",
    ] {
        assert!(out.contains(needle), "{needle}");
    }
    assert!(out.trim_end().ends_with('}'));
}

#[test]
fn help_lists_the_subcommands_and_bad_arguments_exit_2() {
    let help = stdout_of(rewind().arg("--help"));
    for sub in ["replay", "check", "graph", "bench"] {
        assert!(help.contains(sub));
    }
    rewind().args(["replay"]).assert().code(2);
    rewind()
        .args(["replay", "x.yaml", "--seed", "x"])
        .assert()
        .code(2);
    rewind()
        .args(["replay", "x.yaml", "--duration", "-5m"])
        .assert()
        .code(2);
    rewind().args(["frobnicate"]).assert().code(2);
    rewind()
        .args(["check", "does-not-exist.yaml"])
        .assert()
        .code(2);
}

#[test]
fn bench_prints_one_json_line_per_model() {
    let out = stdout_of(rewind().args([
        "bench",
        "--model",
        "mmc",
        "--horizon",
        "200s",
        "--runs",
        "1",
    ]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json line");
    for key in [
        "events",
        "sim_loop_wall_s",
        "events_per_s",
        "customers_per_s",
        "mean_wait_queue_s",
    ] {
        assert!(v.get(key).is_some(), "{key}");
    }
}

#[test]
fn the_readme_example_incident_is_valid() {
    let readme =
        fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("README");
    // The full example is the YAML block that starts with `name:`; the others are parts.
    let start = readme.find("```yaml\nname:").expect("the example block") + "```yaml\n".len();
    let end = start + readme[start..].find("```").expect("block end");
    let yaml = &readme[start..end];
    if let Err(e) = rewind::incident::parse("README.md", yaml, &Default::default()) {
        panic!("the README's example does not parse:\n{e}");
    }
}

#[test]
fn the_report_is_a_postmortem_section_with_the_chart_and_how_to_reproduce() {
    let (_tmp, out) = crate::util::replay_cli("leaky-batch-loop.yaml", &[]);
    let md = fs::read_to_string(out.join("report.md")).expect("report.md");
    for needle in [
        "# orders-api outage: leaked DB connections from the reconcile loop",
        "![Overview",
        "(overview.png)",
        "## Impact",
        "| requests | 360,536 |",
        "| first 5xx | 46m 00s (504) |",
        "| time to detect, OrdersErrorRateHigh | 5m 59s (fired at 52m 00s) |",
        "## Alerts",
        "## Timeline",
        "| 46m 00s | edge | first 504: upstream timed out |",
        "## How to reproduce",
        "leaky-batch-loop.yaml --seed 20261126",
    ] {
        assert!(
            md.contains(needle),
            "`{needle}` missing from report.md:\n{md}"
        );
    }
    assert!(out.join("overview.png").is_file() && out.join("overview.svg").is_file());
    for chart in ["status", "pool", "latency", "memory"] {
        assert!(
            out.join(format!("{chart}.png")).is_file()
                && out.join(format!("{chart}.svg")).is_file()
        );
    }
}

#[test]
fn no_charts_skips_the_images_and_their_link() {
    let (_tmp, out) = crate::util::replay_cli("defer-in-loop.yaml", &["--no-charts"]);
    assert!(!out.join("overview.png").exists());
    let md = fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(!md.contains("overview.png"));
}

#[test]
fn the_sources_of_an_incident_reach_the_summary_and_the_report() {
    let (_tmp, out) = crate::util::replay_cli("honeycomb-rds-2018-05.yaml", &["--no-charts"]);
    let url = "https://www.honeycomb.io/blog/rds-performance-degradation-postmortem";
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).expect("summary"))
            .expect("json");
    assert_eq!(summary["sources"], serde_json::json!([url]));
    let md = fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(md.contains(&format!("Sources:\n\n- <{url}>\n")), "{md}");
    // A file without sources (the flagship with its block taken out) has an empty list
    // and no such line.
    let flagship = fs::read_to_string(incident_path("leaky-batch-loop.yaml")).expect("flagship");
    let start = flagship
        .find("\nsources:\n")
        .expect("the flagship has sources")
        + 1;
    let end = start
        + flagship[start..]
            .find("\nseed:")
            .expect("seed after sources")
        + 1;
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("no-sources.yaml");
    fs::write(&file, format!("{}{}", &flagship[..start], &flagship[end..])).expect("write");
    let out = tmp.path().join("out");
    rewind()
        .args(["-q", "replay", "--no-charts", "--duration", "5m", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .success();
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).expect("summary"))
            .expect("json");
    assert_eq!(summary["sources"], serde_json::json!([]));
    let md = fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(!md.contains("Sources:"));
}

/// `-q` anywhere on the line, for every command: replay, compare and check print
/// nothing on success; graph, schema and bench still print what they are run for.
#[test]
fn quiet_is_accepted_by_every_command_before_or_after_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let leaky = incident_path("leaky-batch-loop.yaml");
    let leaky = leaky.to_str().expect("utf-8 path");
    let out = tmp.path().join("o");
    let out = out.to_str().expect("utf-8 path");
    let quick = ["--no-charts", "--duration", "5m", "--out", out];
    let silent: [Vec<&str>; 3] = [
        [&["replay", leaky][..], &quick].concat(),
        [&["compare", leaky, "--variants", "pool-of-40"][..], &quick].concat(),
        vec!["check", leaky],
    ];
    let printing: [Vec<&str>; 3] = [
        vec!["graph", leaky],
        vec!["schema"],
        vec![
            "bench",
            "--model",
            "mmc",
            "--horizon",
            "100s",
            "--runs",
            "1",
        ],
    ];
    for (args, prints) in silent
        .iter()
        .map(|a| (a, false))
        .chain(printing.iter().map(|a| (a, true)))
    {
        for quiet_first in [true, false] {
            let mut cmd = rewind();
            if quiet_first {
                cmd.arg("-q").args(args);
            } else {
                cmd.args(args).arg("--quiet");
            }
            let o = cmd.output().expect("runs");
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success(), "{args:?}: {stderr}");
            assert_eq!(stderr, "", "{args:?}");
            assert_eq!(!o.stdout.is_empty(), prints, "{args:?}");
        }
    }
}

/// Every bundled incident, loaded and replayed.
fn bundled() -> Vec<(
    String,
    rewind::model::spec::Scenario,
    rewind::outcome::RunResult,
)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("incidents");
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .expect("incidents/")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let s = rewind::app::load(&p, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
            let r = rewind::model::replay(s.clone());
            (p.display().to_string(), s, r)
        })
        .collect()
}

fn thousands(n: u64) -> String {
    rewind::human::thousands(n)
}

#[test]
fn the_report_counts_refusals_retries_dropped_syns_and_abandoned_handlers_when_there_are_any() {
    let mut seen = [0usize; 4];
    for (name, s, r) in bundled() {
        let md = rewind::report::postmortem(
            &rewind::report::Report {
                scenario: &s,
                result: &r,
            },
            &rewind::report::Provenance { file: &name },
            false,
        )
        .markdown();
        let row = |component: &str| -> String {
            md.lines()
                .find(|l| l.starts_with(&format!("| {component} |")))
                .unwrap_or("")
                .to_string()
        };
        for sv in &r.services {
            let line = row(&format!("service {}", sv.name));
            // The peak of handlers in flight is one replica's, and says so.
            let peak = if sv.peak_inflight == 1 {
                "peak 1 handler in flight in one replica".to_string()
            } else {
                format!(
                    "peak {} handlers in flight in one replica",
                    thousands(sv.peak_inflight)
                )
            };
            assert!(line.contains(&peak), "{name}: {line}");
            for (n, one, many, k) in [
                (sv.refused, "connection refused", "connections refused", 0),
                (sv.dropped_syn, "SYN dropped", "SYNs dropped", 1),
                (sv.unanswered, "handler abandoned", "handlers abandoned", 2),
            ] {
                let phrase = if n == 1 {
                    format!("1 {one}")
                } else {
                    format!("{} {many}", thousands(n))
                };
                assert_eq!(
                    line.contains(&phrase),
                    n > 0,
                    "{name}: `{phrase}` in {line}"
                );
                seen[k] += usize::from(n > 0);
            }
        }
        for c in &r.clients {
            let line = row(&format!("client {}", c.name));
            let n = c.caller.retries;
            if n > 0 {
                let phrase = if n == 1 {
                    "1 retry".to_string()
                } else {
                    format!("{} retries", thousands(n))
                };
                assert!(line.contains(&phrase), "{name}: `{phrase}` in {line}");
                seen[3] += 1;
            }
            if c.refused > 0 {
                assert!(line.contains("refused"), "{name}: {line}");
            }
        }
        for p in &r.pools {
            assert!(
                row(&format!("pool {}", p.name)).contains("callers waiting (all replicas)"),
                "{name}"
            );
        }
        assert!(md.contains("## What the model simplifies"), "{name}");
        let section = &md[md.find("## What the model simplifies").unwrap_or(0)..];
        assert!(
            section.contains(&format!("interval of {}", s.resolution)),
            "{name}"
        );
        let pools = s.services.iter().any(|sv| !sv.pools.is_empty());
        assert_eq!(
            section.contains("A handler holds a connection for one query"),
            pools,
            "{name}"
        );
    }
    // The bundled incidents between them exercise each line.
    assert!(seen.iter().all(|&k| k > 0), "{seen:?}");
}

#[test]
fn the_terminal_folds_runs_of_ready_replicas_and_aligns_long_names() {
    // Ten replicas added at 10 s, each ready after its 1 s start-up: ten "replica
    // ready" lines at 11 s that fold into one.
    let s = crate::util::scenario(
        r#"
name: fleet
duration: 30s
clients:
  - name: c
    to: a-gateway-with-a-long-name
    rate: 10/s
gateways:
  - name: a-gateway-with-a-long-name
    upstream: [api]
services:
  - name: api
    replicas: 2
    restart: {startup: 1s}
    handler:
      steps:
        - work: {constant: 1ms}
timeline:
  - at: 10s
    scale: {service: api, replicas: 12}
"#,
    );
    let r = rewind::model::replay(s.clone());
    let out = rewind::report::terminal_summary(
        &rewind::report::Report {
            scenario: &s,
            result: &r,
        },
        "out",
        true,
    );
    let ready: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("replica ready"))
        .collect();
    assert_eq!(ready.len(), 1, "{out}");
    assert!(ready[0].contains("(and 9 more to 11s)"), "{out}");
    // The figures start in one column, however long the gateway's name.
    let requests = out
        .lines()
        .find(|l| l.trim_start().starts_with("requests"))
        .expect("requests");
    let gateway = out
        .lines()
        .find(|l| l.trim_start().starts_with("a-gateway-with-a-long-name"))
        .expect("gateway");
    let figures_at = |l: &str, head: &str| {
        l.find(head)
            .map(|i| i + head.len())
            .map(|i| i + l[i..].len() - l[i..].trim_start().len())
    };
    assert_eq!(
        figures_at(requests, "requests"),
        figures_at(gateway, "a-gateway-with-a-long-name"),
        "{out}"
    );
    assert!(
        out.contains("wrote out/: report.md, report.html, timeseries.csv, events.jsonl, summary.json, metrics.om,"),
        "{out}"
    );
    assert!(!out.contains("rules.yml"), "no rules, no rules.yml: {out}");
}

#[test]
fn the_wrote_line_names_report_html_and_rules_yml_when_there_are_rules() {
    for (name, s, r) in bundled() {
        let text = rewind::report::terminal_summary(
            &rewind::report::Report {
                scenario: &s,
                result: &r,
            },
            "o",
            false,
        );
        let wrote = text.lines().last().unwrap_or("");
        assert!(wrote.contains("report.md, report.html"), "{name}: {wrote}");
        assert_eq!(
            wrote.contains("rules.yml"),
            !s.rule_groups.is_empty(),
            "{name}: {wrote}"
        );
    }
}
