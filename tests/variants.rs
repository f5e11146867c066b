//! Variants and `rewind compare`: overrides validated like the base file, common random
//! numbers, and the comparison's files.

use std::fs;

use assert_cmd::Command;
use rewind::incident::{parse_incident, Overrides};

use crate::util::incident_path;

fn leaky() -> String {
    fs::read_to_string(incident_path("leaky-batch-loop.yaml")).expect("bundled incident")
}

/// The leaky incident with `variants` replaced by the given YAML.
fn with_variants(variants: &str) -> String {
    let base = leaky();
    let cut = base.find("\nvariants:").expect("the file has variants");
    format!("{}\nvariants:\n{variants}", &base[..cut])
}

#[test]
fn a_variant_identical_to_the_baseline_gives_identical_numbers() {
    let text = with_variants("  - name: same\n    set:\n      orders-db.max_open: 20\n");
    let incident = parse_incident("t.yaml", &text, &Overrides::default()).expect("valid");
    let base = rewind::model::replay(incident.baseline.clone());
    let same = rewind::model::replay(incident.variants[0].scenario.clone());
    assert_eq!(base.series.values.len(), same.series.values.len());
    assert!(base
        .series
        .values
        .iter()
        .zip(&same.series.values)
        .all(|(a, b)| a == b || (a.is_nan() && b.is_nan())));
    assert_eq!(base.occurrences, same.occurrences);
}

#[test]
fn variants_share_random_numbers_with_the_baseline_until_they_diverge() {
    let incident = parse_incident("t.yaml", &leaky(), &Overrides::default()).expect("valid");
    let fix_early = incident
        .variants
        .iter()
        .find(|v| v.name == "fix-at-50m")
        .expect("variant");
    let base = rewind::model::replay(incident.baseline.clone());
    let var = rewind::model::replay(fix_early.scenario.clone());
    // Identical, row for row, until the fix ships at 50 minutes; different after.
    let width = base.series.columns.len();
    let rows_before = 50 * 60 - 1;
    let same = |r: usize| {
        base.series.values[r * width..(r + 1) * width]
            .iter()
            .zip(&var.series.values[r * width..(r + 1) * width])
            .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()))
    };
    assert!((0..rows_before).all(same), "rows before the fix differ");
    assert!(
        !(rows_before..base.series.rows()).all(same),
        "the fix changed nothing"
    );
}

fn variant_error(set: &str) -> String {
    let text = with_variants(&format!("  - name: what-if\n    set:\n      {set}\n"));
    let err = parse_incident("v.yaml", &text, &Overrides::default()).expect_err("invalid");
    let line = text.lines().position(|l| l.contains(set)).expect("line") + 1;
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("v.yaml:{line}:")),
        "error not at the override's line {line}: {msg}"
    );
    msg
}

#[test]
fn override_errors_name_the_variant_and_point_at_the_override() {
    let e = variant_error("orders-dbb.max_open: 40");
    assert!(
        e.contains("variant `what-if`: orders-dbb.max_open: `orders-dbb` is not a component"),
        "{e}"
    );
    let e = variant_error("orders-db.max_opne: 40");
    assert!(
        e.contains(
            "pool `orders-db` has no field `max_opne` a variant can set (it can set: max_open"
        ),
        "{e}"
    );
    let e = variant_error("orders-db.max_open: 0");
    assert!(
        e.contains("variant `what-if`") && e.contains("0 is not allowed here"),
        "{e}"
    );
    let e = variant_error("orders-db.acquire_timeout: 1");
    assert!(e.contains("`1` has no unit"), "{e}");
    let e = variant_error("timeline.nope.at: 10m");
    assert!(
        e.contains("no timeline entry has `id: nope` (ids: bug, fix)"),
        "{e}"
    );
    let e = variant_error("timeline.fix.at: 5h");
    assert!(
        e.contains(
            "variant `what-if`: this action at 5h lies outside the replay, which lasts 2h 30m"
        ),
        "{e}"
    );
}

fn rewind() -> Command {
    Command::cargo_bin("rewind").expect("binary")
}

#[test]
fn compare_writes_the_table_csv_and_chart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("o");
    let stdout = rewind()
        .args(["compare", "--variants", "pool-of-40,fix-at-50m", "--out"])
        .arg(&out)
        .arg(incident_path("leaky-batch-loop.yaml"))
        .output()
        .expect("runs");
    assert!(
        stdout.status.success(),
        "{}",
        String::from_utf8_lossy(&stdout.stderr)
    );
    let printed = String::from_utf8(stdout.stdout).expect("utf-8");
    assert!(printed.contains("| baseline | 26,084 |"), "{printed}");
    let dir = out.join("compare");
    for f in ["compare.md", "compare.csv", "compare.png", "compare.svg"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let csv = fs::read_to_string(dir.join("compare.csv")).expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("variant,runs,failed,failed_ci95,status_200,"));
    assert!(lines[1].starts_with("baseline,1,26084,"));
    assert!(lines[2].starts_with("pool-of-40,1,"));
    assert!(lines[3].starts_with("fix-at-50m,1,"));
    assert_eq!(lines.len(), 4);
}

#[test]
fn compare_with_runs_reports_intervals_and_says_when_a_difference_is_noise() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("i.yaml");
    let text = with_variants(
        "  - name: same\n    set:\n      orders-db.max_open: 20\n  - name: pool-of-40\n    set:\n      orders-db.max_open: 40\n",
    );
    fs::write(&file, text).expect("write");
    rewind()
        .args([
            "compare",
            "-q",
            "--no-charts",
            "--runs",
            "3",
            "--duration",
            "1h",
            "--out",
        ])
        .arg(tmp.path().join("o"))
        .arg(&file)
        .assert()
        .success();
    let md = fs::read_to_string(tmp.path().join("o/compare/compare.md")).expect("md");
    assert!(md.contains("seeds 20261126 to 20261128"), "{md}");
    assert!(
        md.contains("**same**") && md.contains("within noise"),
        "{md}"
    );
    assert!(md.contains(" ± "), "{md}");
    let csv = fs::read_to_string(tmp.path().join("o/compare/compare.csv")).expect("csv");
    let same = csv.lines().find(|l| l.starts_with("same,")).expect("row");
    assert!(same.ends_with(",0,0,0,true,0,0"), "{same}");
}

#[test]
fn compare_refuses_unknown_variants_and_files_without_any() {
    let out = rewind()
        .args(["compare", "--variants", "nope"])
        .arg(incident_path("leaky-batch-loop.yaml"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no variant `nope`") && err.contains("fix-at-50m, pool-of-40"),
        "{err}"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("plain.yaml");
    let base = leaky();
    fs::write(&file, &base[..base.find("\nvariants:").expect("variants")]).expect("write");
    rewind().arg("compare").arg(&file).assert().code(2);
}

#[test]
fn a_later_replay_keeps_the_comparison() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("o");
    let file = incident_path("defer-in-loop.yaml");
    rewind()
        .args([
            "compare",
            "-q",
            "--no-charts",
            "--variants",
            "pool-of-40",
            "--out",
        ])
        .arg(&out)
        .arg(&file)
        .assert()
        .success();
    rewind()
        .args(["replay", "-q", "--no-charts", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .success();
    assert!(
        out.join("compare/compare.md").is_file(),
        "replay removed compare/"
    );
    assert!(out.join("report.md").is_file());
}

/// A variant can switch a service's runtime and its settings, and its deploy strategy.
#[test]
fn a_variant_sets_the_runtime_and_the_strategy() {
    use rewind::model::spec::{DeployStrategy, RuntimeSpec};
    let text = with_variants(
        "  - name: go\n    set:\n      orders-api.memory.runtime: go\n      orders-api.memory.gogc: 50\n      orders-api.memory.gomemlimit: 400MiB\n  - name: jvm\n    set:\n      orders-api.memory.runtime: jvm\n      orders-api.memory.xmx: 256MiB\n      orders-api.memory.exit_on_oom: true\n      orders-api.strategy: recreate\n  - name: gc-off\n    set:\n      orders-api.memory.runtime: go\n      orders-api.memory.gogc: \"off\"\n",
    );
    let incident = parse_incident("t.yaml", &text, &Overrides::default()).expect("valid");
    let service = |i: usize| incident.variants[i].scenario.services[0].clone();
    assert_eq!(
        service(0).memory.expect("memory").runtime,
        RuntimeSpec::Go {
            gogc: Some(50),
            memory_limit: Some(400 << 20)
        }
    );
    assert_eq!(
        service(1).memory.expect("memory").runtime,
        RuntimeSpec::Jvm {
            max_heap: 256 << 20,
            exit_on_oom: true
        }
    );
    assert_eq!(service(1).strategy, DeployStrategy::Recreate);
    assert_eq!(
        service(2).memory.expect("memory").runtime,
        RuntimeSpec::Go {
            gogc: None,
            memory_limit: None
        }
    );
    // Settings of another runtime are refused, naming the variant.
    let text = with_variants("  - name: bad\n    set:\n      orders-api.memory.xmx: 1GiB\n");
    let err = parse_incident("t.yaml", &text, &Overrides::default()).expect_err("invalid");
    assert!(
        err.to_string()
            .contains("`xmx` is a setting of `runtime: jvm`, and this service's runtime is plain"),
        "{err}"
    );
}

#[test]
fn a_variant_can_size_a_database() {
    let text = with_variants(
        "  - name: bigger\n    set:\n      postgres.cpus: 8\n      postgres.statement_timeout: 30s\n      postgres.connection_setup: 3ms\n",
    );
    let incident = parse_incident("t.yaml", &text, &Overrides::default()).expect("valid");
    let base = &incident.baseline.databases[0];
    let db = &incident.variants[0].scenario.databases[0];
    assert_eq!(base.cpus, None);
    assert_eq!(db.cpus, Some(8.0));
    assert_eq!(
        db.statement_timeout,
        Some(rewind::engine::Nanos::from_secs(30))
    );
    assert_eq!(db.connection_setup, rewind::engine::Nanos::from_millis(3));
}

#[test]
fn a_variant_can_give_a_job_steps() {
    let text = with_variants(
        "  - name: sleepy\n    set:\n      reconcile.steps: [{work: {constant: 10ms}}, {query: {latency: {constant: 200ms}}}]\n",
    );
    let incident = parse_incident("t.yaml", &text, &Overrides::default()).expect("valid");
    use rewind::model::dist::Latency;
    use rewind::model::spec::{JobStep, Statement};
    let ms = |n| Latency::Constant(rewind::engine::Nanos::from_millis(n));
    assert_eq!(
        incident.baseline.services[0].jobs[0].steps,
        [JobStep::Query(Statement::Database)],
        "without `steps`, one database query"
    );
    assert_eq!(
        incident.variants[0].scenario.services[0].jobs[0].steps,
        [
            JobStep::Work(ms(10)),
            JobStep::Query(Statement::OwnTime(ms(200)))
        ]
    );
}

/// Every request given up at the client's 1 s timeout (the service takes 2 s): 499s
/// and nothing else, and an alert on them.
const ALL_499: &str = r#"
name: t
duration: 3m
resolution: 1s
clients:
  - name: users
    to: edge
    rate: 1/s
    arrivals: constant
    timeout: 1s
gateways:
  - name: edge
    upstream: [api]
services:
  - name: api
    handler:
      steps:
        - work: {constant: 2s}
alerts:
  - name: GaveUp
    expr: rate(edge.status_499[1m]) > 0
    for: 0s
variants:
  - name: two-replicas
    set:
      api.replicas: 2
"#;

#[test]
fn compare_reports_impact_and_time_to_detect_when_every_failure_is_a_499() {
    let s = crate::util::scenario(ALL_499);
    let r = rewind::model::replay(s.clone());
    let f = rewind::report::compare::Figures::of(&r);
    let first_5xx = r.first_5xx();
    assert_eq!(first_5xx, None, "no 5xx at all");
    let first = r.first_user_visible_error().expect("a 499").as_secs_f64();
    // One arrival a second from 1 s; each 499 comes 1 s after its arrival. The last
    // arrival whose second runs out before the end (180 s, not run) is at 178 s: its
    // 499, at 179 s, lies in the last row, [179 s, 180 s). Impact runs to that row's
    // end.
    assert!((first - 2.0).abs() < 1e-6, "first 499 at {first}");
    assert!(
        (f.impact_s - (180.0 - first)).abs() < 1e-6,
        "{}",
        f.impact_s
    );
    assert!(f.time_to_detect_s.is_finite() && f.time_to_detect_s >= 0.0);
    assert_eq!(f.alert_fired, Some(true));
}

#[test]
fn compare_says_in_how_many_runs_an_alert_fired() {
    use rewind::report::compare::{comparison, Figures, Row};
    let s = crate::util::scenario(ALL_499);
    let fired = Figures::of(&rewind::model::replay(s.clone()));
    // The same replay with its alert never firing, and one without any rule.
    let silent = Figures {
        alert_fired: Some(false),
        time_to_detect_s: f64::NAN,
        ..fired
    };
    let no_rules = Figures {
        alert_fired: None,
        time_to_detect_s: f64::NAN,
        ..fired
    };
    let rows = [
        Row {
            name: "baseline".into(),
            description: String::new(),
            runs: vec![fired, silent, fired],
        },
        Row {
            name: "never".into(),
            description: String::new(),
            runs: vec![silent, silent, silent],
        },
        Row {
            name: "unwatched".into(),
            description: String::new(),
            runs: vec![no_rules, no_rules, no_rules],
        },
    ];
    let md = comparison("t", &rows, &[1, 2, 3], false).markdown();
    let line = |name: &str| {
        md.lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("{name}: {md}"))
            .to_string()
    };
    assert!(line("baseline").contains("(fired in 2 of 3 runs)"), "{md}");
    assert!(line("never").contains("fired in 0 of 3 runs"), "{md}");
    assert!(!line("unwatched").contains("fired"), "{md}");
    assert!(md.contains("The baseline and 2 variants"), "{md}");
}

#[test]
fn compare_with_runs_on_retry_storm_draws_every_failure_and_counts_firings() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("o");
    rewind()
        .args([
            "compare",
            "-q",
            "--runs",
            "2",
            "--duration",
            "20m",
            "--variants",
            "no-retries",
            "--out",
        ])
        .arg(&out)
        .arg(incident_path("retry-storm.yaml"))
        .assert()
        .success();
    let md = fs::read_to_string(out.join("compare/compare.md")).expect("md");
    assert!(
        md.contains(" of 2 runs)") || md.contains("fired in 0 of 2 runs"),
        "{md}"
    );
    let svg = fs::read_to_string(out.join("compare/compare.svg")).expect("svg");
    assert!(svg.contains("failed requests per second"), "compare.svg");
    assert!(svg.contains("goodput"), "compare.svg");
    assert!(!svg.contains("no connection pool"), "compare.svg");
    assert!(!svg.contains("5xx responses per second"), "compare.svg");
}
