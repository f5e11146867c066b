//! The Envoy gateway profile: the status and response flag of each failure mode, the
//! route and per-try timeouts, retries within the retry policy and the circuit
//! breakers, and outlier detection ejecting a failing host.

use crate::util::{occurrences, replay, status};

fn flags(r: &rewind::outcome::RunResult) -> rewind::outcome::EnvoyFlags {
    r.gateways[0].envoy_flags.expect("an Envoy gateway")
}

/// `api` with one replica taking `work` per request, behind Envoy with `gateway`
/// settings spliced in; 1 request a second, evenly spaced, for `duration`.
fn behind_envoy(gateway: &str, work: &str, duration: &str, timeline: &str) -> String {
    format!(
        r#"
name: t
duration: {duration}
clients:
  - {{name: c, to: edge, rate: 1/s, arrivals: constant}}
gateways:
  - name: edge
    profile: envoy
    upstream: [api]
{gateway}
services:
  - name: api
    restart: {{startup: 1h}}
    handler: {{steps: [{{work: {{constant: {work}}}}}]}}
timeline:
{timeline}
"#
    )
}

/// A refused connection: 503 UF, at once.
#[test]
fn connection_refused_is_503_uf() {
    let r = replay(&behind_envoy(
        "",
        "10ms",
        "10s",
        "  - {at: 0s, kill: {service: api}}",
    ));
    assert_eq!(status(&r, 503), r.gateways[0].requests);
    assert_eq!(flags(&r).uf, r.gateways[0].requests);
}

/// No host in the cluster (the only replica failed its readiness probe and left the
/// endpoints): 503 UH.
#[test]
fn no_healthy_host_is_503_uh() {
    let text = behind_envoy("", "10ms", "20s", "  - {at: 0s, kill: {service: api}}").replace(
        "    restart: {startup: 1h}\n",
        "    restart: {startup: 1h}\n    probes: {readiness: {}}\n",
    );
    let r = replay(&text);
    assert_eq!(flags(&r).uh, r.gateways[0].requests);
    assert_eq!(status(&r, 503), r.gateways[0].requests);
}

/// The route timeout (15 s by default) over a 20 s upstream: 504 UT at exactly 15 s.
#[test]
fn the_route_timeout_is_504_ut_at_15_s() {
    let r = replay(&behind_envoy("", "20s", "30s", "  []"));
    assert_eq!(flags(&r).ut, status(&r, 504));
    // Requests at 1..14 s time out within the run (the one at 15 s at 30 s: not run).
    assert_eq!(status(&r, 504), 14);
    // 15 s exactly, as HdrHistogram reports it at 3 significant figures.
    let p50 = r.gateways[0].p50_ms.expect("latency");
    assert!((15_000.0..=15_008.0).contains(&p50), "{p50}");
}

/// A per-try timeout of 1 s with `num_retries: 2` on `5xx`: three tries of 1 s with
/// back-offs below 25 and 50 ms, then 504 UT; the upstream sees three requests each.
#[test]
fn per_try_timeouts_are_retried_then_504_ut() {
    let r = replay(&behind_envoy(
        "    retry_policy: {retry_on: 5xx, num_retries: 2, per_try_timeout: 1s}",
        "10s",
        "20s",
        "  []",
    ));
    let done = status(&r, 504);
    assert!(done >= 15, "{done}");
    assert_eq!(flags(&r).ut, done);
    assert_eq!(flags(&r).urx, done, "each used its 2 retries");
    // 3 tries per request (the last request's may still be running).
    assert!(r.gateways[0].retries >= 2 * done);
    let p50 = r.gateways[0].p50_ms.expect("latency");
    assert!((3_000.0..3_075.0).contains(&p50), "{p50}");
}

/// `max_requests: 1` and `max_pending_requests: 1` over a 10 s upstream: one request
/// runs, one waits, the others are 503 UO at once.
#[test]
fn circuit_breaker_overflow_is_503_uo() {
    let r = replay(&behind_envoy(
        "    circuit_breakers: {max_requests: 1, max_pending_requests: 1}",
        "10s",
        "30s",
        "  []",
    ));
    assert!(flags(&r).uo > 0);
    assert_eq!(status(&r, 503), flags(&r).uo);
    assert_eq!(r.services[0].peak_inflight, 1);
}

/// The process dies under a request: 503 UC.
#[test]
fn a_reset_is_503_uc() {
    let r = replay(&behind_envoy(
        "",
        "5s",
        "12s",
        "  - {at: 10500ms, kill: {service: api}}",
    ));
    assert!(flags(&r).uc >= 1);
}

/// Outlier detection: of 10 hosts, the one whose every answer is 5xx is ejected after
/// 5 consecutive failures, and gets traffic again once its 30 s are over.
#[test]
fn outlier_detection_ejects_the_failing_host() {
    let r = replay(
        r#"
name: t
duration: 120s
clients:
  - {name: c, to: edge, rate: 20/s, arrivals: constant}
gateways:
  - name: edge
    profile: envoy
    upstream: [good, bad]
    outlier_detection: {}
services:
  - name: good
    replicas: 9
    handler: {steps: [{work: {constant: 1ms}}]}
  - name: bad
    handler: {steps: [{call: {service: down, error_status: 503}}]}
  - name: down
    restart: {startup: 1h}
    handler: {steps: [{work: {constant: 1ms}}]}
timeline:
  - {at: 0s, kill: {service: down}}
"#,
    );
    let ejections = occurrences(&r, "outlier_ejected");
    assert!(!ejections.is_empty());
    assert!(ejections[0].1.contains("bad-0"), "{}", ejections[0].1);
    // Round robin over 10 hosts at 20/s: the bad host gets 2 requests a second; its 5th
    // failure comes within 3 s. Ejected 30 s, back at the next 10 s tick, ejected again
    // (60 s the second time).
    assert!(ejections[0].0 < 3.0, "{}", ejections[0].0);
    let failed = status(&r, 503) as f64 / r.gateways[0].requests as f64;
    assert!(
        failed < 0.03,
        "share of 503s with the host ejected most of the time: {failed}"
    );
}

/// The bundled Envoy incident: the slowdown shows as 504 UT and 503 UF; the default
/// `max_retries` keeps retries to a trickle, a 100% retry budget lets a hundred times
/// more through and they overflow the pending queue (503 UO).
#[test]
fn the_bundled_envoy_incident_shows_the_flags_its_story_tells() {
    let incident = rewind::app::load_incident(
        &crate::util::incident_path("envoy-retry-amplification.yaml"),
        &rewind::incident::Overrides::default(),
    )
    .unwrap_or_else(|e| panic!("invalid: {e}"));
    let base = rewind::model::replay(incident.baseline.clone());
    let f = flags(&base);
    // Mostly tries timing out (UT), some connections timing out (UF).
    assert!(f.ut > 2 * f.uf && f.uf > 0, "{f:?}");
    assert_eq!(f.uo, 0);
    let budget = incident
        .variants
        .iter()
        .find(|v| v.name == "retry-budget-100")
        .expect("variant");
    let b = rewind::model::replay(budget.scenario.clone());
    assert!(b.gateways[0].retries > 50 * base.gateways[0].retries);
    assert!(flags(&b).uo > flags(&b).ut, "{:?}", flags(&b));
    // Failed requests within 2% of each other: retries add no capacity.
    let failed = |r: &rewind::outcome::RunResult| r.clients[0].failed as f64;
    assert!((failed(&b) / failed(&base) - 1.0).abs() < 0.02);
}
