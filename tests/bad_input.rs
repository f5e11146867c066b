//! Every class of bad incident file: exit code 2, `FILE:LINE:COL: message` naming what
//! is wrong, no panic, and no output folder.

use std::path::Path;

use assert_cmd::Command;

use crate::util::incident_path;

/// The leaky-batch-loop incident with one substitution applied.
fn variant(from: &str, to: &str) -> String {
    let base =
        std::fs::read_to_string(incident_path("leaky-batch-loop.yaml")).expect("bundled incident");
    assert!(base.contains(from), "the base incident has no `{from}`");
    base.replacen(from, to, 1)
}

/// `bad.yaml:LINE:COL:` of `token` on the first line of `text` containing `line`:
/// where the error must point.
fn at(text: &str, line: &str, token: &str) -> String {
    let (n, l) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(line))
        .unwrap_or_else(|| panic!("no line contains `{line}`"));
    let col = l.find(line).expect("line")
        + line
            .find(token)
            .unwrap_or_else(|| panic!("`{token}` not in `{line}`"));
    format!("bad.yaml:{}:{}:", n + 1, col + 1)
}

/// Replay `text` as `bad.yaml`; require exit 2, a message on stderr containing each of
/// `expected`, and nothing written.
fn rejects(text: &str, expected: &[&str]) {
    rejects_bytes(text.as_bytes(), expected);
}

fn rejects_bytes(bytes: &[u8], expected: &[&str]) {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("bad.yaml"), bytes).expect("write");
    let out = Command::cargo_bin("rewind")
        .expect("binary")
        .current_dir(tmp.path())
        .args(["replay", "bad.yaml"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit code; stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for e in expected {
        assert!(stderr.contains(e), "expected `{e}` in:\n{stderr}");
    }
    assert!(
        !Path::new(&tmp.path().join("output")).exists(),
        "nothing may be written"
    );
}

#[test]
fn unknown_field_lists_the_allowed_ones() {
    let t = variant("    max_open: 20", "    max_opne: 20");
    rejects(
        &t,
        &[
            &format!(
                "{} unknown field `max_opne`",
                at(&t, "max_opne: 20", "max_opne")
            ),
            "expected one of name, profile, database, max_open",
        ],
    );
}

#[test]
fn wrong_type() {
    let t = variant("    replicas: 1", "    replicas: two");
    rejects(
        &t,
        &[
            &at(&t, "replicas: two", "replicas"),
            "expected a whole number of at least 1",
        ],
    );
}

#[test]
fn value_without_a_unit() {
    let t = variant("    timeout: 90s", "    timeout: 90");
    rejects(
        &t,
        &[
            &format!("{} `90` has no unit", at(&t, "timeout: 90", "90")),
            "e.g. `30s`",
        ],
    );
}

#[test]
fn value_with_a_wrong_unit() {
    let t = variant("    rate: 40/s", "    rate: 40/fortnight");
    rejects(
        &t,
        &[&format!(
            "{} `40/fortnight` is not a rate",
            at(&t, "rate: 40/fortnight", "40")
        )],
    );
    let t = variant("      limit: 512MiB", "      limit: 512 megs");
    rejects(
        &t,
        &[&at(&t, "limit: 512 megs", "512"), "not an amount of memory"],
    );
}

#[test]
fn zero_capacity_rate_and_duration() {
    let t = variant("    max_open: 20", "    max_open: 0");
    rejects(
        &t,
        &[
            &format!("{} 0 is not allowed here", at(&t, "max_open: 0", "0")),
            "`unlimited`",
        ],
    );
    let t = variant("    rate: 40/s", "    rate: 0/s");
    rejects(
        &t,
        &[&format!(
            "{} a client's rate must be more than zero",
            at(&t, "rate: 0/s", "0/s")
        )],
    );
    let t = variant("        every: 5m", "        every: 0s");
    rejects(
        &t,
        &[&format!("{} `0s` is zero", at(&t, "every: 0s", "0s"))],
    );
}

#[test]
fn negative_values() {
    let t = variant("duration: 2h 30m", "duration: -5m");
    rejects(
        &t,
        &[&format!(
            "{} `-5m` is negative",
            at(&t, "duration: -5m", "-5m")
        )],
    );
    let t = variant("    replicas: 1", "    replicas: -1");
    rejects(&t, &[&at(&t, "replicas: -1", "-1"), "-1 is negative"]);
}

#[test]
fn nan_and_infinity() {
    let t = variant("    rate: 40/s", "    rate: .nan/s");
    rejects(&t, &[&at(&t, "rate: .nan/s", ".nan"), "is not a rate"]);
    let extra = "  - at: 1h\n    slow_database: {database: postgres, factor: .nan}\n  - at: 2h\n";
    let t = variant("  - at: 2h\n", extra);
    rejects(&t, &[&at(&t, "factor: .nan", ".nan"), ".nan"]);
    let t = variant("  - at: 2h\n", &extra.replace(".nan", ".inf"));
    rejects(&t, &[&at(&t, "factor: .inf", ".inf")]);
}

#[test]
fn reference_to_a_component_that_does_not_exist() {
    let t = variant("    to: edge", "    to: edgee");
    rejects(
        &t,
        &[
            &format!(
                "{} unknown gateway or service `edgee`",
                at(&t, "to: edgee", "edgee")
            ),
            "known: edge, orders-api",
        ],
    );
    let t = variant("        database: postgres", "        database: postgre");
    rejects(
        &t,
        &[
            &format!(
                "{} unknown database `postgre`",
                at(&t, "database: postgre", "postgre")
            ),
            "known databases: postgres",
        ],
    );
}

#[test]
fn duplicate_names_are_reported_where_they_repeat() {
    let t = variant("  - name: postgres", "  - name: orders-db");
    let first_line = at(&t, "- name: orders-db", "orders-db");
    let first_line = first_line.split(':').nth(1).expect("line");
    let lines: Vec<&str> = t.lines().collect();
    let second = lines
        .iter()
        .rposition(|l| l.contains("- name: orders-db"))
        .expect("second");
    let col = lines[second].find("orders-db").expect("col") + 1;
    rejects(
        &t,
        &[&format!("bad.yaml:{}:{col}: duplicate name `orders-db`: the pool on line {first_line} already has it", second + 1)],
    );
}

#[test]
fn timeline_action_outside_the_duration_or_on_an_unknown_target() {
    let t = variant("  - at: 2h\n", "  - at: 3h\n");
    rejects(
        &t,
        &[&format!(
            "{} this action at 3h 00m 00s lies outside the replay",
            at(&t, "- at: 3h", "3h")
        )],
    );
    let t = variant(
        "jobs: {reconcile: {release: last_only}}",
        "jobs: {reconcil: {release: last_only}}",
    );
    rejects(
        &t,
        &[&format!(
            "{} service `orders-api` has no job `reconcil` (its jobs: reconcile)",
            at(&t, "jobs: {reconcil", "{reconcil")
        )],
    );
    let t = variant(
        "      service: orders-api\n      jobs: {reconcile: {release: last_only}}",
        "      service: orders\n      jobs: {reconcile: {release: last_only}}",
    );
    // The first `service: orders...` line is the edited one (the bug's deploy).
    rejects(
        &t,
        &[&format!(
            "{} unknown service `orders`",
            at(&t, "service: orders", "orders")
        )],
    );
}

#[test]
fn a_timeline_entry_with_two_actions() {
    let two = variant("  - at: 2h\n", "  - at: 1h\n    kill: {service: orders-api}\n    scale: {service: orders-api, replicas: 2}\n  - at: 2h\n");
    rejects(
        &two,
        &[
            &format!(
                "{} a timeline entry needs exactly one action",
                at(&two, "- at: 1h", "1h")
            ),
            "this one has 2",
        ],
    );
}

#[test]
fn files_over_the_size_limit() {
    let big = format!("# {}\n", "x".repeat(2_000_000));
    rejects(
        &big,
        &["bad.yaml: the file is 2000003 bytes, over the limit of 1048576 bytes"],
    );
}

#[test]
fn yaml_bombs_are_refused_before_they_expand() {
    let mut aliases = String::from("name: x\nduration: 1m\ndescription: &a x\ntimeline:\n");
    for _ in 0..300 {
        aliases.push_str("  - {at: 1s, rollback: *a, note: *a}\n");
    }
    rejects(
        &aliases,
        &[
            "bad.yaml:",
            "more YAML anchors, aliases or nesting than an incident file may",
        ],
    );
    let deep = format!(
        "name: x\nduration: 1m\nclients: {}{}\n",
        "[".repeat(500),
        "]".repeat(500)
    );
    rejects(&deep, &["bad.yaml:3:"]);
}

#[test]
fn runs_over_the_event_budget_say_how_to_raise_it() {
    let t = variant("    rate: 40/s", "    rate: 40000/s");
    rejects(
        &t,
        &[
            &format!(
                "{} this replay would process about 2,160,009,330 events",
                at(&t, "duration: 2h 30m", "2h")
            ),
            "--max-events",
            "limits: {max_events:",
        ],
    );
}

#[test]
fn not_yaml_empty_or_not_text() {
    rejects("name: [unclosed\n", &["bad.yaml:"]);
    rejects("", &["bad.yaml: the file is empty"]);
    rejects("- a list\n", &["bad.yaml:1:1:"]);
    rejects_bytes(b"name: x\xff\n", &["bad.yaml: the file is not UTF-8 text"]);
}

#[test]
fn invalid_latency_distributions() {
    let t = variant(
        "{lognormal: {p50: 4ms, p99: 40ms}}",
        "{lognormal: {p50: 40ms, p99: 4ms}}",
    );
    rejects(
        &t,
        &[&format!(
            "{} lognormal latency needs p99 above p50",
            at(&t, "latency: {lognormal: {p50: 40ms", "{lognormal")
        )],
    );
    let t = variant("{lognormal: {p50: 4ms, p99: 40ms}}", "{weibull: {k: 2}}");
    rejects(
        &t,
        &[
            &format!(
                "{} unknown variant `weibull`",
                at(&t, "{weibull", "weibull")
            ),
            "lognormal",
        ],
    );
}

#[test]
fn cycles_in_the_call_graph() {
    let t = variant(
        "        - query: orders-db\n",
        "        - query: orders-db\n        - call: {service: orders-api, timeout: 1s}\n",
    );
    rejects(
        &t,
        &[&format!(
            "{} this call closes a cycle in the call graph (orders-api -> orders-api)",
            at(&t, "call: {service: orders-api", "orders-api")
        )],
    );
}

#[test]
fn call_chains_deeper_than_the_limit() {
    // s0 -> s1 -> ... -> s33: 33 nested calls, one more than rewind follows.
    let mut t = String::from(
        "name: deep\nduration: 1m\nclients:\n  - name: users\n    to: s0\n    rate: 1/s\nservices:\n",
    );
    for i in 0..34 {
        t.push_str(&format!("  - name: s{i}\n    handler:\n      steps:\n"));
        if i < 33 {
            t.push_str(&format!(
                "        - call: {{service: s{}, timeout: 1s}}\n",
                i + 1
            ));
        } else {
            t.push_str("        - work: {constant: 1ms}\n");
        }
    }
    rejects(
        &t,
        &[
            &format!(
                "{} calls from this service nest 33 deep (s0 -> s1 -> s2",
                at(&t, "name: s0", "s0")
            ),
            "s32 -> s33); rewind follows chains of at most 32 nested calls",
        ],
    );
    // 32 nested calls are fine.
    let ok = t.replace(
        "        - call: {service: s33, timeout: 1s}\n",
        "        - work: {constant: 1ms}\n",
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("ok.yaml"), ok).expect("write");
    Command::cargo_bin("rewind")
        .expect("binary")
        .current_dir(tmp.path())
        .args(["check", "ok.yaml"])
        .assert()
        .success();
}

/// The retry-storm incident with one substitution applied.
fn storm(from: &str, to: &str) -> String {
    let base =
        std::fs::read_to_string(incident_path("retry-storm.yaml")).expect("bundled incident");
    assert!(base.contains(from), "the retry storm has no `{from}`");
    base.replacen(from, to, 1)
}

#[test]
fn retry_and_breaker_blocks_are_checked_and_bounded() {
    let t = storm("      attempts: 4", "      attempts: 1000");
    rejects(
        &t,
        &[&format!(
            "{} attempts: 1000 is more than 100",
            at(&t, "attempts: 1000", "1000")
        )],
    );
    let t = storm("retry_on: [timeout, 5xx]", "retry_on: [timeout, bogus]");
    rejects(
        &t,
        &[&format!(
            "{} `bogus` is not a failure to retry on",
            at(&t, "retry_on: [timeout, bogus]", "bogus")
        )],
    );
    let t = storm("retry_on: [timeout, 5xx]", "retry_on: [timeout, 42]");
    rejects(
        &t,
        &[&format!(
            "{} retry_on: 42 is not an error status",
            at(&t, "retry_on: [timeout, 42]", "42")
        )],
    );
    let t = storm(
        "backoff: {base: 100ms, max: 100ms, jitter: none}",
        "backoff: {base: 2s, max: 1s, jitter: none}",
    );
    rejects(&t, &["backoff: max 1s is shorter than base 2s"]);
    // A breaker setting of the other library, in a variant: located at the override.
    let t = storm(
        "web.breaker: {profile: resilience4j}",
        "web.breaker: {profile: resilience4j, sleep_window: 3s}",
    );
    rejects(
        &t,
        &[&format!(
            "{} variant `breaker`: `sleep_window` is a hystrix setting",
            at(&t, "web.breaker: {profile", "{profile")
        )],
    );
    let t = storm(
        "web.breaker: {profile: resilience4j}",
        "web.breaker: {profile: resilience4j, sliding_window_size: 100000}",
    );
    rejects(&t, &["sliding_window_size: 100000 is more than 10000"]);
}

#[test]
fn cpu_limits_and_database_capacity_are_checked() {
    for (cpus, says) in [
        ("0", "greater than zero"),
        ("-2", "greater than zero"),
        ("lots", "not a number of CPUs"),
        ("0.0001", "less than one millicore"),
        ("5000", "more than 1024"),
        ("0m", "greater than zero"),
    ] {
        let text = variant(
            "    replicas: 1\n",
            &format!("    replicas: 1\n    cpus: {cpus}\n"),
        );
        let line = format!("cpus: {cpus}");
        rejects(&text, &[&at(&text, &line, cpus), says]);
    }
    let text = variant(
        "    max_connections: 100",
        "    max_connections: 100\n    statement_timeout: 5",
    );
    rejects(
        &text,
        &[&at(&text, "statement_timeout: 5", "5"), "has no unit"],
    );
    let text = variant(
        "    replicas: 1\n",
        "    replicas: 1\n    autoscaler: {max_replicas: 4, metric: cpu, target: 60}\n",
    );
    rejects(
        &text,
        &[
            &at(&text, "autoscaler: {", "{"),
            "metric: cpu needs `cpus:`",
        ],
    );
}

#[test]
fn faults_are_checked() {
    let text = variant(
        "    replicas: 1\n",
        "    replicas: 1\n    faults: {abort: {http_status: 503, percentage: 150}}\n",
    );
    rejects(
        &text,
        &[&at(&text, "percentage: 150", "150"), "between 0 and 100"],
    );
    let text = variant(
        "    replicas: 1\n",
        "    replicas: 1\n    faults: {abort: {http_status: 418, percentage: 10}}\n",
    );
    rejects(
        &text,
        &[
            &at(&text, "http_status: 418", "418"),
            "429, 500, 502, 503 or 504",
        ],
    );
}

#[test]
fn routes_are_checked_where_they_are_written() {
    let base = r#"name: r
duration: 10s
clients:
  - {name: c, to: api, rate: 10/s, routes: {charges: 90%, reports: 10%}}
services:
  - name: api
    workers: 4
    routes:
      - {name: charges, method: POST, steps: [{work: {constant: 1ms}}]}
      - {name: reports, steps: [{work: {constant: 1s}}]}
"#;
    let swap = |from: &str, to: &str| {
        assert!(base.contains(from), "{from}");
        base.replacen(from, to, 1)
    };
    let text = swap("reports: 10%}", "report: 10%}");
    rejects(
        &text,
        &[
            &at(&text, "report: 10%", "10%"),
            "unknown route `report`",
            "charges, reports",
        ],
    );
    let text = swap("charges: 90%", "charges: 80%");
    rejects(
        &text,
        &[
            &at(&text, "routes: {charges", "{charges"),
            "add up to 90%, not 100%",
        ],
    );
    let text = swap("charges: 90%, reports: 10%", "charges: 9/s, reports: 10%");
    rejects(&text, &[&at(&text, "reports: 10%", "10%"), "not both"]);
    let text = swap("charges: 90%, reports: 10%", "charges: 9/s, reports: 1/s");
    rejects(
        &text,
        &[&at(&text, "rate: 10/s", "10/s"), "leave `rate:` out"],
    );
    let text = swap("charges: 90%", "charges: 90");
    rejects(&text, &[&at(&text, "charges: 90,", "90"), "has no unit"]);
    let text = swap(
        "    workers: 4\n",
        "    workers: 4\n    handler: {steps: [{work: {constant: 1ms}}]}\n",
    );
    // A block list is located at its first item.
    rejects(
        &text,
        &[
            &at(&text, "- {name: charges, method", "-"),
            "both `handler:` and `routes:`",
        ],
    );
    let text = swap(
        "{name: reports, steps",
        "{name: reports, reserved_workers: 4, steps",
    );
    rejects(
        &text,
        &[
            &at(&text, "reserved_workers: 4", "4"),
            "reserve 4 of its 4 workers",
        ],
    );
    let text = swap("{name: reports, steps", "{name: charges, steps");
    rejects(
        &text,
        &[
            &at(
                &text,
                "{name: charges, steps: [{work: {constant: 1s",
                "charges",
            ),
            "defines route `charges` twice",
        ],
    );
    let text = base.to_string()
        + "  - name: front\n    handler: {steps: [{call: {service: api, route: refunds}}]}\n";
    rejects(
        &text,
        &[
            &at(&text, "route: refunds", "refunds"),
            "unknown route `refunds`",
        ],
    );
}

#[test]
fn deploy_strategies_and_restarts_are_checked() {
    let t = variant(
        "      jobs: {reconcile: {release: last_only}}",
        "      jobs: {reconcile: {release: last_only}}\n      strategy: blue-green",
    );
    rejects(
        &t,
        &[&format!(
            "{} unknown variant `blue-green`, expected one of rolling, recreate",
            at(&t, "strategy: blue-green", "blue-green")
        )],
    );
    let t = variant(
        "  - at: 2h\n",
        "  - {at: 1h, restart: orders}\n  - at: 2h\n",
    );
    rejects(
        &t,
        &[&format!(
            "{} unknown service `orders`: known services: orders-api",
            at(&t, "restart: orders", "orders")
        )],
    );
    let t = variant(
        "  - at: 2h\n",
        "  - {at: 1h, rollback: {servce: orders-api}}\n  - at: 2h\n",
    );
    rejects(
        &t,
        &[
            &format!(
                "{} unknown field `servce`",
                at(&t, "rollback: {servce", "servce")
            ),
            "expected one of service, strategy",
        ],
    );
    let t = variant(
        "  - at: 2h\n",
        "  - {at: 1h, restart: {strategy: recreate}}\n  - at: 2h\n",
    );
    rejects(&t, &["bad.yaml:", "missing field `service`"]);
}

#[test]
fn runtime_settings_are_checked() {
    let with = |lines: &str| {
        variant(
            "      limit: 512MiB\n",
            &format!("      limit: 512MiB\n{lines}"),
        )
    };
    let t = with("      runtime: jvm\n");
    rejects(
        &t,
        &[&format!(
            "{} `runtime: jvm` needs `xmx`, the heap's maximum size (-Xmx)",
            at(&t, "runtime: jvm", "jvm")
        )],
    );
    let t = with("      gogc: 50\n");
    rejects(
        &t,
        &[&format!(
            "{} `gogc` is a setting of `runtime: go`, and this service's runtime is plain",
            at(&t, "gogc: 50", "50")
        )],
    );
    let t = with("      runtime: go\n      xmx: 1GiB\n");
    rejects(
        &t,
        &[&format!(
            "{} `xmx` is a setting of `runtime: jvm`, and this service's runtime is go",
            at(&t, "xmx: 1GiB", "1GiB")
        )],
    );
    let t = with("      runtime: go\n      gogc: fast\n");
    rejects(
        &t,
        &[&format!(
            "{} `fast` is not a GOGC value: write a percentage such as 100, or off",
            at(&t, "gogc: fast", "fast")
        )],
    );
    let t = with("      runtime: go\n      gomemlimit: 400\n");
    rejects(&t, &[&at(&t, "gomemlimit: 400", "400")]);
    let t = with("      runtime: python\n");
    rejects(
        &t,
        &[&format!(
            "{} unknown variant `python`, expected one of plain, go, jvm",
            at(&t, "runtime: python", "python")
        )],
    );
}

/// A small valid file with a cache, for the cache checks.
const CACHED: &str = r#"name: cached
duration: 1m
clients:
  - {name: users, to: api, rate: 10/s}
caches:
  - name: kv
    keys: 1000
    ttl: 30s
services:
  - name: api
    handler:
      steps:
        - cached:
            cache: kv
            steps:
              - work: {constant: 5ms}
timeline:
  - at: 30s
    flush_cache: {cache: kv}
"#;

fn cached(from: &str, to: &str) -> String {
    assert!(CACHED.contains(from), "no `{from}`");
    CACHED.replacen(from, to, 1)
}

#[test]
fn caches_are_checked() {
    let t = cached("            cache: kv", "            cache: kvv");
    rejects(
        &t,
        &[
            &format!("{} unknown cache `kvv`", at(&t, "cache: kvv", "kvv")),
            "known caches: kv",
        ],
    );
    let t = cached("    ttl: 30s", "    ttl: 0s");
    rejects(&t, &[&format!("{} `0s` is zero", at(&t, "ttl: 0s", "0s"))]);
    let t = cached("    keys: 1000", "    keys: 20000000");
    rejects(
        &t,
        &[&format!(
            "{} 20000000 keys is more than 10,000,000",
            at(&t, "keys: 20000000", "20000000")
        )],
    );
    let t = cached("    ttl: 30s", "    ttl: 30s\n    hit_ratio: 0.9");
    rejects(
        &t,
        &[&format!(
            "{} a cache has either `keys`",
            at(&t, "hit_ratio: 0.9", "0.9")
        )],
    );
    let t = cached(
        "    keys: 1000\n    ttl: 30s",
        "    hit_ratio: 0.9\n    ttl: 30s",
    );
    rejects(
        &t,
        &[&format!("{} `ttl` needs `keys`", at(&t, "ttl: 30s", "30s"))],
    );
    let t = cached("    ttl: 30s\n", "");
    rejects(
        &t,
        &[&format!(
            "{} cache `kv` needs a `ttl`",
            at(&t, "- name: kv", "kv")
        )],
    );
    let t = cached(
        "    ttl: 30s",
        "    ttl: 30s\n    popularity: {zipf: {s: 50}}",
    );
    rejects(&t, &[&at(&t, "popularity: {", "{"), "above 10"]);
    let t = cached(
        "              - work: {constant: 5ms}",
        "              - cached: {cache: kv, steps: [{work: {constant: 1ms}}]}",
    );
    rejects(
        &t,
        &[&format!(
            "{} a `cached` block cannot hold another",
            at(&t, "- cached: {cache: kv", "kv")
        )],
    );
    let t = cached(
        "    flush_cache: {cache: kv}",
        "    flush_cache: {cache: nope}",
    );
    rejects(
        &t,
        &[&format!(
            "{} unknown cache `nope`",
            at(&t, "cache: nope", "nope")
        )],
    );
}

#[test]
fn body_steps_are_checked() {
    let body = |b: &str| {
        variant(
            "        - work: {lognormal: {p50: 1ms, p99: 5ms}}\n",
            &format!(
                "        - work: {{lognormal: {{p50: 1ms, p99: 5ms}}}}\n        - body: {b}\n"
            ),
        )
    };
    let t = body("{chunks: 1000000, every: {constant: 1ms}}");
    rejects(
        &t,
        &[
            &at(&t, "chunks: 1000000", "1000000"),
            "more than this replay follows (100000)",
        ],
    );
    let t = body("{chunks: 0, every: {constant: 1ms}}");
    rejects(&t, &[&at(&t, "chunks: 0", "0")]);
    let t = body("{chunks: 3}");
    rejects(
        &t,
        &[
            &at(&t, "body: {chunks: 3}", "chunks"),
            "missing field `every`",
        ],
    );
}

#[test]
fn job_steps_are_checked() {
    let job = "        release: per_iteration\n";
    let t = variant(job, &format!("{job}        steps: []\n"));
    rejects(
        &t,
        &[&format!(
            "{} a job needs at least one step",
            at(&t, "steps: []", "[")
        )],
    );
    let t = variant(
        job,
        &format!("{job}        steps: [{{sleep: {{constant: 200ms}}}}]\n"),
    );
    rejects(
        &t,
        &[
            &format!("{} unknown variant `sleep`", at(&t, "{sleep", "sleep")),
            "query",
            "work",
        ],
    );
    let many = vec!["{work: {constant: 1ms}}"; 65].join(", ");
    let t = variant(job, &format!("{job}        steps: [{many}]\n"));
    rejects(
        &t,
        &[&format!(
            "{} a job iteration has 65 steps; rewind runs at most 64",
            at(&t, "steps: [{work", "[")
        )],
    );
    let t = variant(
        job,
        &format!(
            "{job}        steps: [{{query: {{latency: {{lognormal: {{p50: 9ms, p99: 1ms}}}}}}}}]\n"
        ),
    );
    rejects(
        &t,
        &[&format!(
            "{} lognormal latency needs p99 above p50",
            at(&t, "{lognormal: {p50: 9ms", "{lognormal")
        )],
    );
}

#[test]
fn a_source_that_is_not_a_web_address() {
    let t = variant(
        "seed: 20261126",
        "sources:\n  - https://example.com/postmortem\n  - ftp://example.com/report\nseed: 20261126",
    );
    rejects(
        &t,
        &[
            &format!(
                "{} source `ftp://example.com/report` is not a URL",
                at(&t, "- ftp://example.com/report", "ftp")
            ),
            "starting with https:// or http://",
        ],
    );
    let t = variant("seed: 20261126", "sources: [\"https://\"]\nseed: 20261126");
    rejects(&t, &[&at(&t, "sources: [\"https://\"]", "\"https")]);
}

#[test]
fn more_sources_than_a_list_of_reports() {
    let urls: String = (0..21)
        .map(|i| format!("  - https://example.com/{i}\n"))
        .collect();
    let t = variant("seed: 20261126", &format!("sources:\n{urls}seed: 20261126"));
    rejects(
        &t,
        &[
            &format!("{} 21 sources", at(&t, "- https://example.com/20", "https")),
            "at most 20",
        ],
    );
}
