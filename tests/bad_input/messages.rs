//! Messages about a bad file say what is wrong in the file's terms, at the line and
//! column of the fault, and never quote the YAML library's types or advice.

use super::{at, rejects_with, variant};

/// Words of the YAML library's own messages that must never reach the user.
const LIBRARY_WORDS: [&str; 4] = ["Option<", "DuplicateKeyPolicy", "budget breached", "{ "];

fn rejects_plainly(text: &str, expected: &[&str]) {
    let stderr = rejects_with(text, &[], expected);
    for w in LIBRARY_WORDS {
        assert!(!stderr.contains(w), "`{w}` in:\n{stderr}");
    }
}

#[test]
fn two_documents_are_one_incident_too_many() {
    let t = format!("{}---\nname: other\n", variant("seed: 20261126", "seed: 1"));
    let line = t.lines().position(|l| l == "---").expect("separator") + 1;
    rejects_plainly(
        &t,
        &[&format!(
            "bad.yaml:{line}:1: a second YAML document starts here: an incident file holds one incident"
        )],
    );
}

#[test]
fn a_duplicate_key_is_named_without_library_advice() {
    let t = variant("seed: 20261126\n", "seed: 20261126\nseed: 3\n");
    rejects_plainly(
        &t,
        &[&format!(
            "{} `seed` is written twice in this mapping: keep one",
            at(&t, "seed: 3", "seed")
        )],
    );
}

#[test]
fn an_empty_name_says_it_is_empty() {
    let t = variant("name: leaky-batch-loop", "name: ~");
    rejects_plainly(
        &t,
        &[&format!(
            "{} this needs a text value, and it is empty",
            at(&t, "name: ~", "~")
        )],
    );
}

#[test]
fn an_error_in_a_block_expression_is_on_its_own_line() {
    let t = variant(
        "expr: rate(edge.status_5xx[5m]) / rate(edge.responses[5m]) > 0.05",
        "expr: |\n      rate(edge.status_5xx[5m])\n        / rate(edge.responsez[5m]) > 0.05",
    );
    rejects_plainly(
        &t,
        &[
            &format!(
                "{} in alert `OrdersErrorRateHigh`: `edge` has no metric `responsez`",
                at(&t, "/ rate(edge.responsez[5m])", "edge.responsez")
            ),
            // The caret sits under the metric, not past the end of the `|` line.
            "  |                ^",
        ],
    );
}

#[test]
fn an_error_in_a_quoted_expression_points_at_the_character() {
    let t = variant(
        "expr: rate(edge.status_5xx[5m]) / rate(edge.responses[5m]) > 0.05",
        "expr: \"rate(edge.status_5xx[5m]) / rate(edge.responsez[5m]) > 0.05\"",
    );
    rejects_plainly(
        &t,
        &[&format!(
            "{} in alert",
            at(&t, "rate(edge.responsez[5m])", "edge.responsez")
        )],
    );
}

#[test]
fn a_tab_is_located_at_the_tab() {
    let t = variant("    rate: 40/s\n", "    rate: 40/s\n\tbad: 1\n");
    rejects_plainly(
        &t,
        &[&format!(
            "{} a tab: YAML indents and separates with spaces only",
            at(&t, "\tbad: 1", "\t")
        )],
    );
}

#[test]
fn a_duration_flag_shorter_than_the_resolution_names_the_flag() {
    let t = variant("seed: 20261126", "seed: 1");
    let line = 1 + t
        .lines()
        .position(|l| l.starts_with("resolution:"))
        .expect("the flagship sets its resolution");
    let stderr = rejects_with(
        &t,
        &["--duration", "1ns"],
        &[&format!("bad.yaml: --duration 1ns is shorter than the resolution, 1s (line {line}): a replay needs at least one time-series row")],
    );
    assert!(!stderr.contains("0.00ms"), "{stderr}");
}

#[test]
fn a_fraction_of_a_replica_keeps_its_decimal_point() {
    let t = variant("    replicas: 1\n", "    replicas: 1.0\n");
    rejects_plainly(
        &t,
        &[&format!(
            "{} 1.0 is not a whole number",
            at(&t, "replicas: 1.0", "1.0")
        )],
    );
}

#[test]
fn an_entry_a_nanosecond_late_shows_the_nanosecond() {
    let t = variant("  - at: 2h\n", "  - at: 2h 30m 1ns\n");
    rejects_plainly(
        &t,
        &[&format!(
            "{} this action at 2h 30m 1ns lies outside the replay, which lasts 2h 30m",
            at(&t, "at: 2h 30m 1ns", "2h")
        )],
    );
}

#[test]
fn booleans_are_true_or_false() {
    // YAML 1.1's `yes`, `no`, `on` and `off` are words: `off` is nginx's, and a `no`
    // never silently means false.
    let t = variant(
        "  - name: orders-api\n",
        "  - name: orders-api\n    tcp_abort_on_overflow: no\n",
    );
    rejects_plainly(
        &t,
        &[&format!(
            "{} write `true` or `false` here",
            at(&t, "tcp_abort_on_overflow: no", "no")
        )],
    );
}
