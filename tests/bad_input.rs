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
    rejects(
        &variant("    max_open: 20", "    max_opne: 20"),
        &[
            "bad.yaml:50:9: unknown field `max_opne`",
            "expected one of name, profile, database, max_open",
        ],
    );
}

#[test]
fn wrong_type() {
    rejects(
        &variant("    replicas: 1", "    replicas: two"),
        &["bad.yaml:32:", "expected a whole number of at least 1"],
    );
}

#[test]
fn value_without_a_unit() {
    rejects(
        &variant("    timeout: 90s", "    timeout: 90"),
        &["bad.yaml:23:14: `90` has no unit", "e.g. `30s`"],
    );
}

#[test]
fn value_with_a_wrong_unit() {
    rejects(
        &variant("    rate: 40/s", "    rate: 40/fortnight"),
        &["bad.yaml:22:11: `40/fortnight` is not a rate"],
    );
    rejects(
        &variant("      limit: 512MiB", "      limit: 512 megs"),
        &["bad.yaml:36:14:", "not an amount of memory"],
    );
}

#[test]
fn zero_capacity_rate_and_duration() {
    rejects(
        &variant("    max_open: 20", "    max_open: 0"),
        &["bad.yaml:50:19: 0 is not allowed here", "`unlimited`"],
    );
    rejects(
        &variant("    rate: 40/s", "    rate: 0/s"),
        &["bad.yaml:22:11: a client's rate must be more than zero"],
    );
    rejects(
        &variant("        every: 5m", "        every: 0s"),
        &["bad.yaml:54:16: `0s` is zero"],
    );
}

#[test]
fn negative_values() {
    rejects(
        &variant("duration: 2h 30m", "duration: -5m"),
        &["bad.yaml:16:11: `-5m` is negative"],
    );
    rejects(
        &variant("    replicas: 1", "    replicas: -1"),
        &["bad.yaml:32:", "-1 is negative"],
    );
}

#[test]
fn nan_and_infinity() {
    rejects(
        &variant("    rate: 40/s", "    rate: .nan/s"),
        &["bad.yaml:22:11:", "is not a rate"],
    );
    let nan_factor = variant(
        "  - at: 2h\n",
        "  - at: 1h\n    slow_database: {database: postgres, factor: .nan}\n  - at: 2h\n",
    );
    rejects(&nan_factor, &["bad.yaml:70:49:", ".nan"]);
    let inf_factor = variant(
        "  - at: 2h\n",
        "  - at: 1h\n    slow_database: {database: postgres, factor: .inf}\n  - at: 2h\n",
    );
    rejects(&inf_factor, &["bad.yaml:70:49:"]);
}

#[test]
fn reference_to_a_component_that_does_not_exist() {
    rejects(
        &variant("    to: edge", "    to: edgee"),
        &[
            "bad.yaml:21:9: unknown gateway or service `edgee`",
            "known: edge, orders-api",
        ],
    );
    rejects(
        &variant("        database: postgres", "        database: postgre"),
        &[
            "bad.yaml:49:19: unknown database `postgre`",
            "known databases: postgres",
        ],
    );
}

#[test]
fn duplicate_names_are_reported_where_they_repeat() {
    rejects(
        &variant("  - name: postgres", "  - name: orders-db"),
        &["bad.yaml:59:11: duplicate name `orders-db`: the pool on line 47 already has it"],
    );
}

#[test]
fn timeline_action_outside_the_duration_or_on_an_unknown_target() {
    rejects(
        &variant("  - at: 2h", "  - at: 3h"),
        &["bad.yaml:69:9: this action at 3h 00m 00s lies outside the replay"],
    );
    rejects(
        &variant(
            "      jobs: {reconcile: {release: last_only}}",
            "      jobs: {reconcil: {release: last_only}}",
        ),
        &["bad.yaml:68:13: service `orders-api` has no job `reconcil` (its jobs: reconcile)"],
    );
    rejects(
        &variant(
            "      service: orders-api\n      jobs: {reconcile: {release: last_only}}",
            "      service: orders\n      jobs: {reconcile: {release: last_only}}",
        ),
        &["bad.yaml:67:16: unknown service `orders`"],
    );
}

#[test]
fn a_timeline_entry_with_two_actions() {
    let two = variant("  - at: 2h\n", "  - at: 1h\n    kill: {service: orders-api}\n    scale: {service: orders-api, replicas: 2}\n  - at: 2h\n");
    rejects(
        &two,
        &[
            "bad.yaml:69:9: a timeline entry needs exactly one action",
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
    rejects(
        &variant("    rate: 40/s", "    rate: 40000/s"),
        &[
            "bad.yaml:16:11: this replay would process about 2,160,009,330 events",
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
    rejects(
        &variant(
            "{lognormal: {p50: 4ms, p99: 40ms}}",
            "{lognormal: {p50: 40ms, p99: 4ms}}",
        ),
        &["bad.yaml:60:14: lognormal latency needs p99 above p50"],
    );
    rejects(
        &variant("{lognormal: {p50: 4ms, p99: 40ms}}", "{weibull: {k: 2}}"),
        &["bad.yaml:60:15: unknown variant `weibull`", "lognormal"],
    );
}

#[test]
fn cycles_in_the_call_graph() {
    let looped = variant(
        "        - query: orders-db\n",
        "        - query: orders-db\n        - call: {service: orders-api, timeout: 1s}\n",
    );
    rejects(
        &looped,
        &["bad.yaml:45:27: this call closes a cycle in the call graph (orders-api -> orders-api)"],
    );
}
