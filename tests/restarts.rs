//! OOM kills and the restart back-off.

use crate::util::{occurrences, replay};

fn leaking(limit: &str, backoff: &str, duration: &str) -> String {
    format!(
        r#"
name: t
duration: {duration}
clients:
  - name: users
    to: edge
    rate: 1/s
    arrivals: constant
gateways:
  - name: edge
    upstream: [api]
services:
  - name: api
    memory: {{baseline: 100MiB, per_request: 1MiB, limit: {limit}}}
    restart: {{startup: 1s, backoff: {backoff}}}
    handler:
      context: background
      steps:
        - work: {{constant: 10h}}
"#
    )
}

/// (kill time, delay until the process started again) for each OOM kill.
fn kill_to_restart(r: &rewind::outcome::RunResult) -> Vec<(f64, f64)> {
    let kills = occurrences(r, "oom_kill");
    let restarts = occurrences(r, "restart");
    kills
        .iter()
        .zip(restarts.iter())
        .map(|(k, s)| (k.0, s.0 - k.0))
        .collect()
}

#[test]
fn memory_over_the_limit_is_an_oom_kill_then_502_while_restarting() {
    let r = replay(&leaking("150MiB", "kubernetes", "2m"));
    let kills = occurrences(&r, "oom_kill");
    // A handler a second, 1 MiB each, never finishing: the 51st takes it over 150 MiB.
    assert!(
        (kills[0].0 - 51.0).abs() < 0.01,
        "first kill at {}",
        kills[0].0
    );
    assert!(kills[0].1.contains("151.0 MiB"), "{}", kills[0].1);
    assert!(r.services[0].oom_kills >= 1);
}

#[test]
fn kubernetes_back_off_is_immediate_then_doubles_from_10s_to_5min() {
    let r = replay(&leaking("150MiB", "kubernetes", "3h"));
    let delays: Vec<f64> = kill_to_restart(&r).iter().map(|k| k.1).collect();
    assert_eq!(
        &delays[..8],
        &[0.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]
    );
}

#[test]
fn kubernetes_back_off_resets_after_ten_minutes_of_running() {
    // 700 MiB of headroom at 1 MiB/s: each process runs ~11.7 min before the kill.
    let r = replay(&leaking("800MiB", "kubernetes", "2h"));
    let delays: Vec<f64> = kill_to_restart(&r).iter().map(|k| k.1).collect();
    assert!(delays.len() >= 5);
    assert!(delays.iter().all(|d| *d == 0.0), "{delays:?}");
}

#[test]
fn a_fixed_back_off_always_waits_the_same() {
    let r = replay(&leaking("150MiB", "{fixed: 7s}", "20m"));
    let delays: Vec<f64> = kill_to_restart(&r).iter().map(|k| k.1).collect();
    assert!(delays.len() >= 5);
    assert!(delays.iter().all(|d| *d == 7.0), "{delays:?}");
}

#[test]
fn a_restarting_replica_refuses_connections_until_ready() {
    let r = replay(&leaking("150MiB", "{fixed: 7s}", "3m"));
    let kill = occurrences(&r, "oom_kill")[0].0;
    let ready: Vec<f64> = occurrences(&r, "ready").iter().map(|o| o.0).collect();
    assert!(
        (ready[0] - (kill + 7.0 + 1.0)).abs() < 0.01,
        "ready {ready:?}"
    );
    // Requests at kill+1 .. kill+8 are refused (the one at kill+8 finds it ready).
    let c = r.series.column("edge.status_502").expect("column");
    let refused: f64 = (0..r.series.rows()).map(|i| r.series.row(i)[c]).sum();
    assert!(refused >= 7.0, "502s: {refused}");
}
