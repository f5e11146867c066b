//! Deploy strategies and restarts: a rolling update never refuses a request; a
//! recreate refuses for exactly the start-up time; `restart` follows the service's
//! strategy.

use crate::util::{first, occurrences, replay, status};

/// One request every 10 ms (constant arrivals at 10, 20, ... ms), 1 ms of work each, to
/// `api` (`replicas`, 2 s start-up) through nginx or straight from the client; at
/// 10.005 s, between two arrivals, the timeline entry `action` applies. Rows are 10 ms
/// wide, so row `i` holds the request sent at `i` x 10 ms.
fn steady(replicas: u32, via_gateway: bool, service_extra: &str, action: &str) -> String {
    let to = if via_gateway { "edge" } else { "api" };
    format!(
        r#"
name: t
duration: 20s
resolution: 10ms
clients:
  - {{name: users, to: {to}, rate: 100/s, arrivals: constant}}
gateways:
  - {{name: edge, upstream: [api]}}
services:
  - name: api
    replicas: {replicas}
    restart: {{startup: 2s}}
    handler: {{steps: [{{work: {{constant: 1ms}}}}]}}
{service_extra}
timeline:
  - at: 10.005s
    {action}
"#
    )
}

/// The rows (10 ms each) in which `column` is above zero.
fn rows_with(r: &rewind::outcome::RunResult, column: &str) -> Vec<usize> {
    let c = r.series.column(column).expect("column");
    (0..r.series.rows())
        .filter(|&i| r.series.row(i)[c] > 0.0)
        .collect()
}

/// A rolling update starts the new replica first and stops the old one once the new
/// one is ready: not one request is refused.
#[test]
fn a_rolling_deploy_refuses_nothing() {
    let r = replay(&steady(
        1,
        true,
        "",
        "deploy: {service: api, handler: {work: {1: {constant: 2ms}}}}",
    ));
    assert_eq!(status(&r, 502), 0);
    assert_eq!(status(&r, 200), 1999);
    // The new replica is ready 2 s after the deploy, and then the old one goes.
    let ready: Vec<f64> = occurrences(&r, "ready").iter().map(|o| o.0).collect();
    assert_eq!(ready, vec![12.005]);
    assert_eq!(occurrences(&r, "terminated").len(), 1);
    assert!(occurrences(&r, "stopped").is_empty());
}

/// Recreate stops the only replica at 10.005 s and starts the new version in its
/// place; it listens 2 s later, at 12.005 s. Meanwhile it stays listed and refuses
/// connections, and nginx answers 502 to each request at once: those sent at 10.01,
/// 10.02, ..., 12.00 s, 200 of them, 2 s x 100/s: exactly the start-up time of
/// refusals, the first one after the stop and the last one before the process listens.
#[test]
fn a_recreate_deploy_refuses_for_exactly_the_startup_time() {
    let r = replay(&steady(
        1,
        true,
        "",
        "deploy: {service: api, strategy: recreate, handler: {work: {1: {constant: 2ms}}}}",
    ));
    assert_eq!(status(&r, 502), 200);
    assert_eq!(status(&r, 200), 1999 - 200);
    assert_eq!(
        rows_with(&r, "edge.status_502"),
        (1001..=1200).collect::<Vec<_>>()
    );
    assert_eq!(first(&r, 502), Some(10.01));
    let stopped: Vec<f64> = occurrences(&r, "stopped").iter().map(|o| o.0).collect();
    assert_eq!(stopped, vec![10.005]);
    let ready: Vec<f64> = occurrences(&r, "ready").iter().map(|o| o.0).collect();
    assert_eq!(ready, vec![12.005]);
    // The replica never left the endpoints, and no replica was added or terminated.
    assert_eq!(rows_with(&r, "api.endpoints").len(), r.series.rows());
    assert!(occurrences(&r, "terminated").is_empty());
    // Not a crash: the restart count (Kubernetes' restartCount) stays 0.
    assert_eq!(r.services[0].restarts, 0);
    let timeline = occurrences(&r, "timeline");
    assert!(
        timeline[0].1.starts_with("deploy by recreate ("),
        "{}",
        timeline[0].1
    );
}

/// With three replicas every one stops at once: a client connecting straight to the
/// Service's endpoints is refused on each of them for the same 2 s, whichever it picks.
#[test]
fn a_recreate_stops_every_replica_at_once() {
    let r = replay(&steady(
        3,
        false,
        "",
        "deploy: {service: api, strategy: recreate, handler: {work: {1: {constant: 2ms}}}}",
    ));
    assert_eq!(r.clients[0].failed, 200);
    assert_eq!(r.clients[0].refused, 200);
    assert_eq!(occurrences(&r, "stopped").len(), 3);
    assert_eq!(occurrences(&r, "ready").len(), 3);
    assert_eq!(
        rows_with(&r, "users.failed"),
        (1001..=1200).collect::<Vec<_>>()
    );
}

/// A service with a readiness probe leaves the endpoints when its container stops, as
/// a Kubernetes `Recreate` Deployment's Service has no endpoints until the new pods are
/// ready. The probe ticks every 1 s from the new pod's creation at 10.005 s, the first
/// at or after its 2.5 s initial delay: 13.005 s. The process listens at 12.005 s and
/// waits for it; it passes after its 1 ms of work, at 13.006 s. Requests sent at 10.01
/// .. 13.00 s find no endpoint: 300 of them, nginx's "no live upstreams" 502. (Gauges
/// are read at a row's end: row 1000 ends at 10.01 s, row 1300 at 13.01 s.)
#[test]
fn a_recreate_with_a_readiness_probe_empties_the_endpoints_until_the_probe_passes() {
    let r = replay(&steady(
        1,
        true,
        "    probes: {readiness: {period: 1s, initial_delay: 2500ms}}",
        "deploy: {service: api, strategy: recreate, handler: {work: {1: {constant: 2ms}}}}",
    ));
    assert_eq!(status(&r, 502), 300);
    assert_eq!(r.gateways[0].no_live_upstreams, 300);
    let ends = r.series.column("api.endpoints").expect("column");
    assert_eq!(r.series.row(999)[ends], 1.0);
    assert_eq!(r.series.row(1000)[ends], 0.0);
    assert_eq!(r.series.row(1299)[ends], 0.0);
    assert_eq!(r.series.row(1300)[ends], 1.0);
    let listening: Vec<f64> = occurrences(&r, "listening").iter().map(|o| o.0).collect();
    assert_eq!(listening, vec![12.005]);
    let ready: Vec<f64> = occurrences(&r, "probe_ready").iter().map(|o| o.0).collect();
    assert_eq!(ready, vec![13.006]);
}

/// `restart` follows the service's strategy: rolling by default (every replica
/// replaced one at a time, nothing refused), recreate when the service says so.
#[test]
fn restart_follows_the_services_strategy() {
    let rolling = replay(&steady(2, true, "", "restart: api"));
    assert_eq!(status(&rolling, 502), 0);
    assert_eq!(occurrences(&rolling, "terminated").len(), 2);
    // One at a time: the second new replica starts when the first is ready.
    let ready: Vec<f64> = occurrences(&rolling, "ready").iter().map(|o| o.0).collect();
    assert_eq!(ready, vec![12.005, 14.005]);
    assert_eq!(
        occurrences(&rolling, "timeline")[0].1,
        "rollout restart: every replica replaced, one at a time"
    );

    let recreate = replay(&steady(1, true, "    strategy: recreate", "restart: api"));
    assert_eq!(status(&recreate, 502), 200);
    // The entry can override the service's strategy.
    let overridden = replay(&steady(
        1,
        true,
        "    strategy: recreate",
        "restart: {service: api, strategy: rolling}",
    ));
    assert_eq!(status(&overridden, 502), 0);
}

/// A rollback by recreate goes back to the previous version the same way.
#[test]
fn a_rollback_by_recreate_refuses_for_the_startup_time() {
    let yaml = steady(
        1,
        true,
        "",
        "deploy: {service: api, handler: {work: {1: {constant: 2ms}}}}",
    ) + "  - {at: 15.005s, rollback: {service: api, strategy: recreate}}\n";
    let r = replay(&yaml);
    // The rolling deploy refuses nothing; the rollback refuses 15.01 .. 17.00 s.
    assert_eq!(status(&r, 502), 200);
    assert_eq!(first(&r, 502), Some(15.01));
}

/// A recreate during an unfinished rolling update stops the surge replica too and
/// recreates the rest: the service keeps its replica count.
#[test]
fn a_recreate_during_a_rolling_update_keeps_the_replica_count() {
    let yaml = steady(
        2,
        true,
        "",
        "deploy: {service: api, handler: {work: {1: {constant: 2ms}}}}",
    ) + "  - {at: 11s, restart: {service: api, strategy: recreate}}\n";
    let r = replay(&yaml);
    let up = r.series.column("api.replicas_up").expect("column");
    let last = r.series.rows() - 1;
    assert_eq!(r.series.row(last)[up], 2.0);
    // The surge replica (started at 10.005 s, not yet ready) is terminated.
    let terminated = occurrences(&r, "terminated");
    assert_eq!(terminated.len(), 1, "{terminated:?}");
    assert_eq!(terminated[0].0, 11.0);
    assert_eq!(occurrences(&r, "stopped").len(), 2);
}
