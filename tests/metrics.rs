//! The time series: rows are the half-open intervals `[t, t + resolution)`.

use crate::util::replay;

#[test]
fn an_event_at_exactly_a_boundary_belongs_to_the_row_that_starts_there() {
    // Requests at exactly 1, 2, ..., 9 s, each answered exactly 1 s later.
    let r = replay(
        r#"
name: t
duration: 10s
resolution: 1s
clients:
  - name: users
    to: api
    rate: 1/s
    arrivals: constant
services:
  - name: api
    handler:
      steps:
        - work: {constant: 1s}
"#,
    );
    assert_eq!(r.series.rows(), 10);
    let sent = r.series.column_values("users.sent").expect("column");
    let ok = r.series.column_values("users.ok").expect("column");
    // Row t holds the request sent at t and the answer to the one sent at t - 1. The
    // request due at exactly 10 s, the end, belongs to a row the replay does not have.
    assert_eq!(sent, [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
    assert_eq!(ok, [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
}

/// Responses the first gateway finished in each row: the sum of its status columns.
fn responses_per_row(r: &rewind::outcome::RunResult, gateway: &str) -> Vec<f64> {
    let cols: Vec<Vec<f64>> = rewind::outcome::STATUSES
        .iter()
        .map(|st| {
            r.series
                .column_values(&format!("{gateway}.status_{st}"))
                .expect("status column")
        })
        .collect();
    (0..r.series.rows())
        .map(|i| cols.iter().map(|c| c[i]).sum())
        .collect()
}

/// The summary of a replay, parsed.
fn summary(s: &rewind::model::spec::Scenario, r: &rewind::outcome::RunResult) -> serde_json::Value {
    let report = rewind::report::Report {
        scenario: s,
        result: r,
    };
    serde_json::from_str(&rewind::report::summary_json(&report, None)).expect("json")
}

#[test]
fn the_mean_column_is_the_exact_mean_where_percentiles_are_rounded() {
    // Every response takes exactly 100 ms: the mean says so, while a percentile is the
    // histogram's highest value equivalent to 100 ms at 3 significant figures.
    let r = replay(
        r#"
name: t
duration: 20s
clients:
  - {name: users, to: edge, rate: 10/s, arrivals: constant}
gateways:
  - {name: edge, upstream: [api]}
services:
  - name: api
    handler:
      steps:
        - work: {constant: 100ms}
"#,
    );
    let mean = r.series.column_values("edge.mean_ms").expect("column");
    let ok_mean = r.series.column_values("edge.ok_mean_ms").expect("column");
    let p50 = r.series.column_values("edge.p50_ms").expect("column");
    let n = responses_per_row(&r, "edge");
    assert!(n.iter().all(|&n| n > 0.0));
    for i in 0..r.series.rows() {
        assert!(
            mean[i] == 100.0 && ok_mean[i] == 100.0,
            "row {i}: {}",
            mean[i]
        );
        assert!(p50[i] > 100.0 && p50[i] < 100.1, "row {i}: {}", p50[i]);
    }
    let g = &r.gateways[0];
    assert_eq!(g.mean_ms, Some(100.0));
    assert_eq!(g.ok_mean_ms, Some(100.0));
    assert_eq!(g.ok_p50_ms, g.p50_ms);
}

#[test]
fn per_interval_means_add_up_to_littles_law_and_queue_waits_to_the_queue_length() {
    // M/M/1 behind the gateway (one worker, lambda 8/s, mu 10/s). The gateway's latency
    // of a request is its time in the service, so the per-row means weighted by the
    // row's responses add up to the service's time-integral of connections in the
    // system (L T = lambda W T), but for the few still in it at the end.
    let yaml = r#"
name: t
duration: 10000s
resolution: 1s
seed: 7
clients:
  - {name: users, to: edge, rate: 8/s}
gateways:
  - {name: edge, upstream: [api]}
services:
  - name: api
    workers: 1
    handler:
      steps:
        - work: {exponential: {mean: 100ms}}
"#;
    let s = crate::util::scenario(yaml);
    let r = rewind::model::replay(s.clone());
    let mean = r.series.column_values("edge.mean_ms").expect("column");
    let n = responses_per_row(&r, "edge");
    let sum_w_s: f64 = mean
        .iter()
        .zip(&n)
        .filter(|(_, n)| **n > 0.0)
        .map(|(m, n)| m * n / 1000.0)
        .sum();
    let area = r.services[0].in_system_area_s;
    assert!(
        (sum_w_s - area).abs() / area < 1e-3,
        "sum of W {sum_w_s:.1} s vs time in system {area:.1} s"
    );
    // The run's mean is the same sum over the same responses.
    let total: f64 = n.iter().sum();
    let run_mean = r.gateways[0].mean_ms.expect("responses");
    assert!((run_mean * total / 1000.0 - sum_w_s).abs() / sum_w_s < 1e-9);
    // And it is M/M/1's W = 1 / (mu - lambda) = 500 ms, within this run's noise
    // (about 3% standard error over 80,000 customers at rho 0.8).
    assert!((run_mean - 500.0).abs() < 75.0, "W {run_mean:.1} ms");

    // summary.json's queue waits: the sum over started handlers, and Lq = lambda Wq
    // against the mean of the `queued` gauge sampled at each row's end (every second,
    // well within the queue's relaxation time of about 9 s, so the samples' mean
    // follows the time average).
    let sv = &summary(&s, &r)["services"][0];
    let started = sv["started"].as_u64().expect("started");
    assert_eq!(started, r.services[0].started);
    assert_eq!(sv["waited"].as_u64(), Some(r.services[0].waited));
    let wq_ms = sv["mean_queue_wait_ms"].as_f64().expect("mean");
    let wq_sum_s = sv["queue_wait_s"].as_f64().expect("sum");
    assert!((wq_sum_s / started as f64 * 1000.0 - wq_ms).abs() < 1e-3);
    // Wq = rho / (mu - lambda) = 400 ms.
    assert!((wq_ms - 400.0).abs() < 70.0, "Wq {wq_ms:.1} ms");
    let queued = r.series.column_values("api.queued").expect("column");
    let lq = queued.iter().sum::<f64>() / queued.len() as f64;
    let lambda = started as f64 / 10_000.0;
    assert!(
        (lq - lambda * wq_ms / 1000.0).abs() / lq < 0.1,
        "Lq {lq:.3} vs lambda Wq {:.3}",
        lambda * wq_ms / 1000.0
    );
}

#[test]
fn success_percentiles_leave_out_the_fast_502s_of_a_dead_upstream() {
    // One replica working 200 ms per request is killed at 40 s and not restarted within
    // the replay: from then on nginx's connect is refused, a 502 in no time.
    let r = replay(
        r#"
name: t
duration: 100s
clients:
  - {name: users, to: edge, rate: 10/s, arrivals: constant}
gateways:
  - {name: edge, upstream: [api]}
services:
  - name: api
    restart: {startup: 1s, backoff: {fixed: 1h}}
    handler:
      steps:
        - work: {constant: 200ms}
timeline:
  - {at: 40s, kill: {service: api}}
"#,
    );
    let g = &r.gateways[0];
    let (ok, bad) = (crate::util::status(&r, 200), crate::util::status(&r, 502));
    assert!(bad > ok, "200: {ok}, 502: {bad}");
    // More than half the responses are instant 502s: the all-response median is one.
    assert!(g.p50_ms.expect("p50") < 1.0, "{:?}", g.p50_ms);
    assert!(g.ok_p50_ms.expect("ok p50") >= 200.0, "{:?}", g.ok_p50_ms);
    assert!(g.ok_p99_ms.expect("ok p99") >= 200.0);
    assert_eq!(g.ok_mean_ms, Some(200.0));
    assert!(g.mean_ms.expect("mean") < 100.0, "{:?}", g.mean_ms);
    // Per row: equal while all is well, apart once the 502s start.
    let p99 = r.series.column_values("edge.p99_ms").expect("column");
    let ok_p99 = r.series.column_values("edge.ok_p99_ms").expect("column");
    let ok_p50 = r.series.column_values("edge.ok_p50_ms").expect("column");
    let p50 = r.series.column_values("edge.p50_ms").expect("column");
    for i in 1..39 {
        assert_eq!(p99[i], ok_p99[i], "row {i}");
    }
    for i in 42..r.series.rows() {
        assert!(
            ok_p50[i].is_nan() && p50[i] < 1.0,
            "row {i}: {} {}",
            ok_p50[i],
            p50[i]
        );
    }
}
