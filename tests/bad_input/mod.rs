//! Every class of bad incident file: exit code 2, `FILE:LINE:COL: message` naming what
//! is wrong, no panic, and no output folder.

use std::path::Path;

use assert_cmd::Command;

use crate::util::incident_path;

/// The leaky-batch-loop incident with one substitution applied.
pub(super) fn variant(from: &str, to: &str) -> String {
    let base =
        std::fs::read_to_string(incident_path("leaky-batch-loop.yaml")).expect("bundled incident");
    assert!(base.contains(from), "the base incident has no `{from}`");
    base.replacen(from, to, 1)
}

/// `bad.yaml:LINE:COL:` of `token` on the first line of `text` containing `line`:
/// where the error must point.
pub(super) fn at(text: &str, line: &str, token: &str) -> String {
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
pub(super) fn rejects(text: &str, expected: &[&str]) {
    rejects_bytes(text.as_bytes(), &[], expected);
}

/// [`rejects`] with more arguments after `replay bad.yaml`; returns stderr.
pub(super) fn rejects_with(text: &str, args: &[&str], expected: &[&str]) -> String {
    rejects_bytes(text.as_bytes(), args, expected)
}

fn rejects_bytes(bytes: &[u8], args: &[&str], expected: &[&str]) -> String {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("bad.yaml"), bytes).expect("write");
    let out = Command::cargo_bin("rewind")
        .expect("binary")
        .current_dir(tmp.path())
        .args(["replay", "bad.yaml"])
        .args(args)
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
    stderr.into_owned()
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
            "{} this action at 3h lies outside the replay, which lasts 2h 30m",
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
    let t = variant("    rate: 40/s", "    rate: 40000/s").replace(
        "seed: 20261126",
        "seed: 20261126\nlimits: {max_requests: 400000000}",
    );
    rejects(
        &t,
        &[
            &format!(
                // The requests' 2,160,009,330, plus 22,158 for the replica and the
                // one a rolling update adds: a row read each of 9,000 rows, a crash
                // loop as fast as 8 s start-up and 10 s back-off allow (501 cycles of
                // 4 events), and 150 alert evaluations.
                "{} this replay would process about 2,160,031,488 events",
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
    rejects_bytes(
        b"name: x\xff\n",
        &[],
        &["bad.yaml: the file is not UTF-8 text"],
    );
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
    // A client behind a gateway does not balance: the gateway does.
    let t = storm(
        "    timeout: 1s\n",
        "    timeout: 1s\n    lb_policy: random\n",
    );
    rejects(
        &t,
        &[&format!(
            "{} client `web` sends to a gateway, which balances",
            at(&t, "lb_policy: random", "random")
        )],
    );
    // More attempts with nothing to retry (no profile, no retry_on).
    let t = storm("      retry_on: [timeout, 5xx]\n", "");
    rejects(
        &t,
        &[&format!(
            "{} attempts: 4 with nothing to retry: add retry_on",
            at(&t, "attempts: 4", "4")
        )],
    );
}

mod budgets;
mod messages;
mod workload;
