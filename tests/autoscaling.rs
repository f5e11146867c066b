//! The Kubernetes HPA wired to a service: syncs every 15 s, replica counts step by step
//! as the algorithm gives them, with and without `behavior`.

use crate::util::{occurrences, replay};

/// 40 requests/s of exactly 1 s each (40 in flight), one replica, target 10 in flight
/// per replica; at 60 s the rate halves (20 in flight).
fn service(behavior: &str) -> String {
    format!(
        r#"
name: t
duration: 400s
clients:
  - {{name: c, to: api, rate: 40/s, arrivals: constant}}
services:
  - name: api
    replicas: 1
    handler: {{steps: [{{work: {{constant: 1s}}}}]}}
    autoscaler: {{max_replicas: 10, metric: inflight, target: 10{behavior}}}
timeline:
  - {{at: 60s, set_rate: {{client: c, rate: 20/s}}}}
"#
    )
}

fn scalings(r: &rewind::outcome::RunResult) -> Vec<(f64, String)> {
    occurrences(r, "autoscaled")
        .into_iter()
        .map(|(t, d)| {
            let counts = d
                .split(": ")
                .nth(1)
                .and_then(|x| x.split(" replicas").next())
                .unwrap_or_default()
                .to_string();
            (t, counts)
        })
        .collect()
}

/// Without `behavior` (the controller's own normalization): at 15 s, 40 in flight on
/// one replica is 4x the target: 4 replicas (the cap max(2 x 1, 4) allows it). At 30 s
/// the 4 replicas hold 10 each: within tolerance. From 75 s the proposal is 2, but the
/// highest recommendation of the last 300 s (inclusive) is 4 until the one made at 60 s
/// is older than 300 s: the scale-down comes at 375 s.
#[test]
fn hpa_without_behavior_scales_up_at_once_and_down_after_the_window() {
    let r = replay(&service(""));
    assert_eq!(
        scalings(&r),
        vec![(15.0, "1 -> 4".to_string()), (375.0, "4 -> 2".to_string())]
    );
}

/// With `behavior: {}` (the API server's defaults): up by max(4 pods, 100 %) per 15 s,
/// so 4 at 15 s again; down after a 300 s window exclusive at its old end: at 360 s.
#[test]
fn hpa_with_default_behavior_scales_down_one_sync_earlier() {
    let r = replay(&service(", behavior: {}"));
    assert_eq!(
        scalings(&r),
        vec![(15.0, "1 -> 4".to_string()), (360.0, "4 -> 2".to_string())]
    );
}

/// An operator switches the autoscaler off: no scaling after that.
#[test]
fn an_autoscaler_switched_off_stops_scaling() {
    let text = service("").replace(
        "timeline:\n",
        "timeline:\n  - {at: 100s, set_autoscaler: {service: api, enabled: false}}\n",
    );
    let r = replay(&text);
    assert_eq!(scalings(&r), vec![(15.0, "1 -> 4".to_string())]);
}

/// The request-rate metric: 40 requests/s of 100 ms. The first sync (15 s) counts the
/// 599 connections accepted since 0 (the first at 25 ms): 39.93 per second on one
/// replica, 3.99 x the target of 10: 4 replicas. At 60 s the rate halves: 5 per second
/// per replica, 2 replicas once the 300 s window has dropped the last 4 (375 s).
#[test]
fn hpa_on_requests_per_second_counts_connections_over_the_sync_period() {
    let text = service("")
        .replace("metric: inflight", "metric: requests_per_second")
        .replace("{constant: 1s}", "{constant: 100ms}");
    let r = replay(&text);
    assert_eq!(
        scalings(&r),
        vec![(15.0, "1 -> 4".to_string()), (375.0, "4 -> 2".to_string())]
    );
    let first = occurrences(&r, "autoscaled")[0].1.clone();
    assert!(first.contains("per replica 39.93"), "{first}");
}
