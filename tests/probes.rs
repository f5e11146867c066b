//! Kubernetes probes as requests like any other: a saturated server fails them, the
//! liveness probe restarts it at the instants the kubelet's schedule gives, and the
//! readiness probe takes it out of the endpoints.

use crate::util::{occurrences, replay};

/// One replica with 2 workers, each request 10 s of work, one request a second: from
/// t = 3 s every worker is busy and connections queue, so a probe (1 s timeout) waits
/// behind them and times out.
fn saturated(probes: &str, duration: &str) -> String {
    format!(
        r#"
name: t
duration: {duration}
clients:
  - {{name: c, to: api, rate: 1/s, arrivals: constant}}
services:
  - name: api
    workers: 2
    handler: {{context: background, steps: [{{work: {{constant: 10s}}}}]}}
    probes:
{probes}
"#
    )
}

fn times(r: &rewind::outcome::RunResult, kind: &str) -> Vec<f64> {
    occurrences(r, kind)
        .iter()
        .map(|(t, _)| (t * 1000.0).round() / 1000.0)
        .collect()
}

/// Liveness defaults (every 10 s, 1 s timeout, 3 failures): probes at 10, 20, 30 s
/// time out; the third restarts the container at 31 s. Restarted at once (Kubernetes'
/// first restart), listening 5 s later, saturated again: probes at 40, 50, 60 s, restart
/// at 61 s.
#[test]
fn a_stuck_server_fails_liveness_and_is_restarted_at_period_times_threshold() {
    let r = replay(&saturated("      liveness: {}", "65s"));
    assert_eq!(times(&r, "liveness_restart"), vec![31.0, 61.0]);
    // The first restart is immediate; the second waits its 10 s back-off (past 65 s).
    assert_eq!(r.services[0].restarts, 1);
}

/// The same server with only light load passes every probe and is never restarted.
#[test]
fn a_healthy_server_passes_its_probes() {
    let r = replay(
        r#"
name: t
duration: 10m
clients:
  - {name: c, to: api, rate: 1/s}
services:
  - name: api
    workers: 2
    handler: {steps: [{work: {constant: 10ms}}]}
    probes:
      liveness: {}
      readiness: {period: 5s}
"#,
    );
    assert!(times(&r, "liveness_restart").is_empty());
    assert!(times(&r, "probe_unready").is_empty());
    assert_eq!(r.clients[0].failed, 0);
}

/// Readiness with its defaults (every 10 s, 3 failures): the saturated replica leaves
/// the endpoints at 31 s; from then on the client's connections find no
/// endpoint (refused at once), and the `endpoints` column shows 0.
#[test]
fn a_saturated_server_fails_readiness_and_leaves_the_endpoints() {
    let r = replay(&saturated("      readiness: {}", "40s"));
    assert_eq!(times(&r, "probe_unready"), vec![31.0]);
    let col = r.series.column("api.endpoints").expect("column");
    let at = |t: usize| r.series.row(t)[col];
    assert_eq!(at(30), 1.0);
    assert_eq!(at(31), 0.0);
    assert!(r.clients[0].refused >= 8, "{}", r.clients[0].refused);
    assert!(times(&r, "liveness_restart").is_empty());
}

/// Any settings: with a 4 s period, a 2 s timeout and 5 failures, the probes at 4, 8,
/// 12, 16 and 20 s wait behind the queue and time out; the fifth's timeout restarts
/// the container at 22 s = 5 x 4 s + 2 s.
#[test]
fn the_restart_comes_after_failure_threshold_periods_with_any_settings() {
    let r = replay(&saturated(
        "      liveness: {period: 4s, timeout: 2s, failure_threshold: 5}",
        "25s",
    ));
    assert_eq!(times(&r, "liveness_restart"), vec![22.0]);
}
