//! Stripe, December 2015: rising traffic slows the event queue; the API's writes
//! time out into a retry loop that keeps the queue overloaded after the traffic has
//! fallen back (a metastable failure), until the queue is firewalled from its
//! producers and drains. With the retries bounded by a budget, or none, or more
//! queue capacity, the loop does not hold.

use rewind::outcome::RunResult;

use super::{entry_at, failed_share, load_bundled, rows_with_5xx_after_at, sum_between, variant};
use crate::util::{column, first};

/// The first second in `[from_s, to_s)` whose row has a failed request.
fn first_failure(r: &RunResult, from_s: f64, to_s: f64) -> Option<f64> {
    let failed = column(r, "merchants.failed");
    (0..r.series.rows())
        .map(|i| (r.series.time_s(i), failed[i]))
        .find(|&(t, f)| (from_s..to_s).contains(&t) && f > 0.0)
        .map(|(t, _)| t)
}

/// The mean of a column over the rows in `[from_s, to_s)` that have a value.
fn mean_between(r: &RunResult, name: &str, from_s: f64, to_s: f64) -> f64 {
    let values = column(r, name);
    let xs: Vec<f64> = (0..r.series.rows())
        .filter(|&i| (from_s..to_s).contains(&r.series.time_s(i)) && !values[i].is_nan())
        .map(|i| values[i])
        .collect();
    xs.iter().sum::<f64>() / xs.len() as f64
}

#[test]
fn stripe_retry_loop_keeps_the_api_down_after_the_traffic_falls_until_the_firewall() {
    let incident = load_bundled("stripe-2015-12-retry-loop.yaml");
    let r = rewind::model::replay(incident.baseline.clone());
    let at = |id: &str| entry_at(&incident, id);
    let (up, normal, firewall, capacity, readmit, restored) = (
        at("traffic-up"),
        at("traffic-normal"),
        at("firewall"),
        at("capacity"),
        at("readmit"),
        at("restored"),
    );
    assert_eq!((up, restored), (300.0, 5520.0), "02:25 and 03:52 UTC");
    let end = r.duration.as_secs_f64();

    // 02:25 to 02:55: the queue slows and the API with it, but nothing fails.
    let t_first = first_failure(&r, 0.0, end).expect("failures");
    let slow_before = mean_between(&r, "edge.ok_mean_ms", 0.0, up);
    let slow_late = mean_between(&r, "edge.ok_mean_ms", t_first - 300.0, t_first - 60.0);
    assert!(
        slow_late > 1.5 * slow_before,
        "{slow_before} -> {slow_late}"
    );
    // The first errors come within two minutes of the report's 02:59 (39m).
    assert!(
        (t_first - 2340.0).abs() <= 120.0,
        "first failure at {t_first}"
    );

    // The loop: every worker (4 x 24) retrying, the queue's backlog growing, no
    // request served, and so it stays after the traffic is back to its old rate.
    let inflight = column(&r, "api.inflight");
    assert!((t_first as usize..normal as usize).all(|i| inflight[i] == 96.0));
    assert!(sum_between(&r, "api.calls.event-queue.retries", t_first, normal) > 0.0);
    assert_eq!(failed_share(&r, "merchants", t_first + 60.0, firewall), 1.0);
    let backlog = column(&r, "event-queue.inflight");
    assert!(
        backlog[firewall as usize - 1] > backlog[normal as usize] + 5000.0,
        "the backlog still grows at the old rate: {} -> {}",
        backlog[normal as usize],
        backlog[firewall as usize - 1]
    );

    // The firewall: the backlog drains before the capacity arrives.
    assert_eq!(backlog[capacity as usize - 1], 0.0);
    // Half the writes let through: half the requests succeed; then all.
    let half = failed_share(&r, "merchants", readmit + 30.0, restored);
    assert!((half - 0.5).abs() < 0.05, "{half}");
    assert!(rows_with_5xx_after_at(&r, "edge", restored + 1.0).is_empty());
    assert_eq!(failed_share(&r, "merchants", restored + 60.0, end), 0.0);
    // 5xx for about the report's 53 minutes (9 partial + 44 complete).
    let last = r.gateways[0].last_5xx.expect("5xx").as_secs_f64();
    let first_5xx = [500, 502, 503, 504]
        .iter()
        .filter_map(|c| first(&r, *c))
        .fold(f64::INFINITY, f64::min);
    assert!(
        ((last - first_5xx) - 53.0 * 60.0).abs() < 180.0,
        "{first_5xx}..{last}"
    );

    // Without the write retries, the slow queue fails a handful of writes only.
    let no_retries = variant(&incident, "no-write-retries");
    assert!(
        no_retries.clients[0].failed < 200,
        "{}",
        no_retries.clients[0].failed
    );
    // A retry budget: down while the traffic is high, back within 5 minutes of its fall.
    let budget = variant(&incident, "retry-budget");
    assert!(failed_share(&budget, "merchants", t_first + 60.0, normal) > 0.9);
    assert_eq!(failed_share(&budget, "merchants", normal + 300.0, end), 0.0);
    // Three attempts with back-off and jitter: no response plan, and it never comes
    // back: every worker still writes once a second.
    let backoff = variant(&incident, "bounded-backoff");
    assert_eq!(failed_share(&backoff, "merchants", normal, end), 1.0);
    // A third queue node: nothing fails.
    assert_eq!(
        variant(&incident, "more-queue-capacity").clients[0].failed,
        0
    );
    // The response plan at 03:01: back 2 minutes after the writes are let through.
    let early = variant(&incident, "respond-at-identification");
    assert_eq!(failed_share(&early, "merchants", 3000.0 + 120.0, end), 0.0);
    assert!(early.clients[0].failed * 3 < r.clients[0].failed);
    // Capacity alone, at the same time: back within two minutes of it.
    let capacity_only = variant(&incident, "capacity-only");
    assert_eq!(
        failed_share(&capacity_only, "merchants", capacity - 60.0, capacity),
        1.0
    );
    assert_eq!(
        failed_share(&capacity_only, "merchants", capacity + 120.0, end),
        0.0
    );
}
