//! Budgets: whatever a file asks for (replicas, restarts, rows, alert evaluations,
//! requests, nesting, text) is bounded, refused at its line, and a file `check`
//! accepts neither overflows a stack nor allocates without end nor hangs.

use std::time::{Duration, Instant};

use assert_cmd::Command;

use super::{at, rejects, variant};
use crate::util::{replay, status};

const EXPR: &str = "expr: rate(edge.status_5xx[5m]) / rate(edge.responses[5m]) > 0.05";

/// `rewind check` of `text` as `ok.yaml` succeeds.
fn accepts(text: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("ok.yaml"), text).expect("write");
    let out = Command::cargo_bin("rewind")
        .expect("binary")
        .current_dir(tmp.path())
        .args(["check", "ok.yaml"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn thousands_of_parentheses_are_refused_by_length() {
    let deep = format!("expr: {}1{} > 0.05", "(".repeat(5000), ")".repeat(5000));
    let t = variant(EXPR, &deep);
    rejects(
        &t,
        &[&format!(
            "{} in alert `OrdersErrorRateHigh`: the expression is 10008 characters long; an alert expression may have at most 1000",
            at(&t, "expr: (((", "(")
        )],
    );
}

#[test]
fn nesting_past_the_parser_depth_is_refused_at_the_level() {
    let deep = format!("expr: {}1{} > 0.05", "(".repeat(40), ")".repeat(40));
    let t = variant(EXPR, &deep);
    // The 33rd parenthesis, 32 columns after the first.
    let (n, l) = t
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("expr: ((("))
        .expect("the expression's line");
    let place = format!(
        "bad.yaml:{}:{}:",
        n + 1,
        l.find('(').expect("a parenthesis") + 33
    );
    rejects(
        &t,
        &[&format!(
            "{place} in alert `OrdersErrorRateHigh`: parentheses and minus signs nest more than 32 deep here"
        )],
    );
    let minus = variant(EXPR, &format!("expr: {}1 > 0.05", "-".repeat(600)));
    rejects(
        &minus,
        &["parentheses and minus signs nest more than 32 deep here"],
    );
}

#[test]
fn a_long_chain_of_operators_is_refused() {
    let t = variant(EXPR, &format!("expr: 1{} > 0.05", "+1".repeat(150)));
    rejects(
        &t,
        &["more than 100 operators (+ - * /) in one expression: split the rule"],
    );
}

#[test]
fn replicas_beyond_the_budget_are_refused_at_the_number() {
    let t = variant("    replicas: 1\n", "    replicas: 4294967295\n");
    rejects(
        &t,
        &[&format!(
            "{} 4294967295 replicas is more than a service may run here: at most 10000",
            at(&t, "replicas: 4294967295", "4294967295")
        )],
    );
    let t = variant(
        "\nalerts:\n",
        "  - {at: 30m, scale: {service: orders-api, replicas: 4294967295}}\n\nalerts:\n",
    );
    rejects(
        &t,
        &[&format!(
            "{} 4294967295 replicas is more than a service may run here",
            at(&t, "replicas: 4294967295}", "4294967295")
        )],
    );
}

#[test]
fn the_event_estimate_counts_replicas() {
    // 10,000 idle replicas for a day: every row reads each of them.
    let t = variant("    replicas: 1\n", "    replicas: 10000\n")
        .replace("duration: 2h 30m", "duration: 24h")
        .replace("    rate: 40/s\n", "    rate: 1/s\n");
    rejects(
        &t,
        &[&format!(
            "{} this replay would process about",
            at(&t, "duration: 24h", "24h")
        )],
    );
}

#[test]
fn a_kill_of_a_replica_that_cannot_exist_is_refused() {
    let t = variant(
        "\nalerts:\n",
        "  - {at: 30m, kill: {service: orders-api, replica: 99}}\n\nalerts:\n",
    );
    rejects(
        &t,
        &[&format!(
            "{} `orders-api` runs at most 1 replica by 30m (numbered from 0): there is no replica 99 to kill",
            at(&t, "replica: 99", "99")
        )],
    );
    // After a scale to 3, replica 2 exists.
    accepts(&variant(
        "\nalerts:\n",
        "  - {at: 30m, scale: {service: orders-api, replicas: 3}}\n  - {at: 31m, kill: {service: orders-api, replica: 2}}\n\nalerts:\n",
    ));
}

#[test]
fn a_restart_that_takes_no_time_is_refused() {
    let t = variant(
        "      startup: 8s\n      backoff: kubernetes\n",
        "      startup: 0s\n      backoff: {fixed: 0s}\n",
    );
    rejects(
        &t,
        &[&format!(
            "{} `orders-api` restarts with `startup: 0s` and a `fixed: 0s` back-off",
            at(&t, "  - name: orders-api", "orders-api")
        )],
    );
}

#[test]
fn a_fast_crash_loop_counts_in_the_event_estimate() {
    // The fifth replica's HikariCP pool finds no connection left: it crash-loops, here
    // every millisecond, each cycle opening its pool again.
    let base = std::fs::read_to_string(crate::util::incident_path(
        "scale-out-exhausts-postgres.yaml",
    ))
    .expect("bundled incident");
    let from = "    restart: {startup: 20s}   # a JVM takes a while";
    assert!(base.contains(from));
    let t = base.replace(from, "    restart: {startup: 1ms, backoff: {fixed: 0s}}");
    rejects(
        &t,
        &[&format!(
            "{} this replay would process about",
            at(&t, "duration: 1h", "1h")
        )],
    );
}

#[test]
fn an_evaluation_finer_than_the_resolution_is_refused() {
    let t = variant("evaluation_interval: 1m", "evaluation_interval: 1ns");
    rejects(
        &t,
        &[&format!(
            "{} an evaluation every 1ns is finer than the time series it reads, one row every 1s",
            at(&t, "evaluation_interval: 1ns", "1ns")
        )],
    );
}

#[test]
fn the_longest_duration_is_30_days() {
    let t = variant("duration: 2h 30m", "duration: 5124095h 34m 33s 709551615ns");
    rejects(
        &t,
        &[&format!(
            "{} this replay lasts 5124095h 34m 33s 709ms 551us 615ns; a replay may last at most 720h (30 days)",
            at(&t, "duration: 5124095h", "5124095h")
        )],
    );
}

#[test]
fn requests_beyond_the_budget_say_how_to_raise_it() {
    let t = variant("    rate: 40/s", "    rate: 2000/s");
    rejects(
        &t,
        &[
            &format!(
                "{} this replay would send about 18,000,000 requests (counting each retry and each call between services), over the budget of 10,000,000",
                at(&t, "duration: 2h 30m", "2h")
            ),
            "`limits: {max_requests: 18000000}`",
        ],
    );
    accepts(&t.replace(
        "seed: 20261126",
        "seed: 20261126\nlimits: {max_requests: 18000000}",
    ));
    // Each attempt counts: three per request at 400/s is 10.8 million.
    let retried = variant(
        "    rate: 40/s",
        "    rate: 400/s\n    retry: {attempts: 3, retry_on: [timeout]}",
    );
    rejects(
        &retried,
        &["this replay would send about 10,800,000 requests"],
    );
}

#[test]
fn calls_fanning_out_over_many_levels_are_estimated_at_once() {
    // 20 calls per level, 29 levels: 20^29 calls per request, estimated without
    // walking them.
    let mut t = String::from(
        "name: fan\nduration: 1m\nclients:\n  - {name: users, to: s0, rate: 1/s}\nservices:\n",
    );
    for i in 0..29 {
        t.push_str(&format!("  - name: s{i}\n    handler:\n      steps:\n"));
        for _ in 0..20 {
            t.push_str(&format!("        - call: {{service: s{}}}\n", i + 1));
        }
    }
    t.push_str("  - name: s29\n    handler: {steps: [{work: {constant: 1ms}}]}\n");
    let started = Instant::now();
    rejects(&t, &["bad.yaml:2:11: this replay would send about"]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn long_labels_and_titles_are_refused_where_they_are_written() {
    let t = variant("label: bug ships", &format!("label: {}", "x".repeat(101)));
    rejects(
        &t,
        &[&format!(
            "{} this entry's label is 101 characters long; it may have at most 100",
            at(&t, "label: xxx", "xxx")
        )],
    );
    let title = format!("title: \"{}\"", "t".repeat(201));
    let t = variant(
        "title: \"orders-api outage: leaked DB connections from the reconcile loop\"",
        &title,
    );
    rejects(
        &t,
        &[&format!(
            "{} the title is 201 characters long; it may have at most 200",
            at(&t, "title: \"ttt", "\"ttt")
        )],
    );
}

#[test]
fn compare_runs_are_bounded() {
    let out = Command::cargo_bin("rewind")
        .expect("binary")
        .args([
            "compare",
            "incidents/leaky-batch-loop.yaml",
            "--runs",
            "4294967295",
        ])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("4294967295 is not in 1..=100"), "{stderr}");
}

#[test]
fn nginx_spells_next_upstream_statuses_with_an_underscore() {
    let t = variant(
        "    upstream: [orders-api]\n",
        "    upstream: [orders-api]\n    proxy_next_upstream: [error, timeout, http_502]\n",
    );
    accepts(&t);
    let old = t.replace("http_502", "http502");
    rejects(
        &old,
        &[&format!(
            "{} unknown variant `http502`, expected one of error, timeout, invalid_header, http_500, http_502",
            at(&old, "http502]", "http502")
        )],
    );
}

#[test]
fn off_in_a_variant_is_nginx_off() {
    accepts(&variant(
        "      orders-db.max_open: 40\n",
        "      orders-db.max_open: 40\n      edge.proxy_next_upstream: [off]\n",
    ));
}

/// Tens of thousands of tries of refusing peers in one request: the gateway tries them
/// in a loop, so even a test thread's small stack holds.
#[test]
fn thousands_of_refusing_replicas_do_not_recurse() {
    let r = replay(
        "name: refusing\nduration: 20s\n\
         clients: [{name: users, to: edge, rate: 5/s, arrivals: constant}]\n\
         gateways: [{name: edge, upstream: [api]}]\n\
         services:\n  - name: api\n    replicas: 10000\n    restart: {startup: 1m}\n\
         \x20   handler: {steps: [{work: {constant: 1ms}}]}\n\
         timeline:\n  - {at: 5s, restart: {service: api, strategy: recreate}}\n",
    );
    // 24 answered before the restart; after it the first requests try all 10,000
    // refusing replicas (marking each failed), the rest find no live upstream.
    assert_eq!(status(&r, 200), 24);
    assert_eq!(status(&r, 502), 75);
}
