//! The Envoy gateway profile: the status and response flag of each failure mode, the
//! route and per-try timeouts, retries within the retry policy and the circuit
//! breakers, and outlier detection ejecting a failing host.

use crate::util::{column, column_sum, occurrences, replay, status};

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

/// A retry the cluster's retry circuit breaker refuses: with `max_retries: 0` every
/// refused connection (UF, which `5xx` retries) is answered 503 at once, flagged `UO`
/// too (`RetryStatus::NoOverflow`), never `URX`; one of each per row at 1/s.
#[test]
fn a_retry_the_circuit_breaker_refuses_is_503_uf_and_uo() {
    let r = replay(&behind_envoy(
        "    retry_policy: {retry_on: 5xx, num_retries: 1}\n    circuit_breakers: {max_retries: 0}",
        "10ms",
        "10s",
        "  - {at: 0s, kill: {service: api}}",
    ));
    let n = r.gateways[0].requests;
    assert_eq!(n, 9, "requests at 1..9 s");
    let f = flags(&r);
    assert_eq!((f.uf, f.uo, f.retry_overflow, f.urx), (n, n, n, 0));
    assert_eq!(r.gateways[0].retries, 0);
    assert_eq!(status(&r, 503), n);
    // The columns: one UF and one UO in each row from 1 s, nothing else.
    let uf = column(&r, "edge.flag_UF");
    assert_eq!(uf[0], 0.0);
    assert!(uf[1..].iter().all(|&v| v == 1.0), "{uf:?}");
    assert_eq!(column(&r, "edge.flag_UO"), uf);
    for flag in ["UH", "UT", "UC", "URX"] {
        assert_eq!(column_sum(&r, &format!("edge.flag_{flag}")), 0.0, "{flag}");
    }
}

/// `num_retries: 0` with a `retry_on` the failure matches: no retry, and the failure
/// carries `URX` (no retry left) beside its `UF`. A failure `retry_on` does not match
/// carries no `URX`.
#[test]
fn a_matching_failure_with_no_retries_left_is_urx() {
    let text = |retry_on: &str| {
        behind_envoy(
            &format!("    retry_policy: {{retry_on: {retry_on}, num_retries: 0}}"),
            "10ms",
            "10s",
            "  - {at: 0s, kill: {service: api}}",
        )
    };
    let r = replay(&text("connect-failure"));
    let n = r.gateways[0].requests;
    assert_eq!((flags(&r).uf, flags(&r).urx, flags(&r).uo), (n, n, 0));
    assert_eq!(column_sum(&r, "edge.flag_URX"), n as f64);
    let r = replay(&text("reset"));
    assert_eq!((flags(&r).uf, flags(&r).urx), (n, 0));
}

/// `set_gateway` on an Envoy: `max_retries` raised from 0 to 3 at 5.5 s; the refused
/// connections of the requests at 1..5 s had their retry refused (UF,UO), those at
/// 6..9 s are retried once and fail again (UF,URX). Or the route's retry policy
/// changes instead: from 5.5 s a connect failure is not a condition it retries on
/// (UF alone).
#[test]
fn set_gateway_changes_an_envoy_s_circuit_breakers_or_retry_policy() {
    let text = |change: &str| {
        behind_envoy(
            "    retry_policy: {retry_on: 5xx, num_retries: 1}\n    circuit_breakers: {max_retries: 0}",
            "10ms",
            "10s",
            &format!("  - {{at: 0s, kill: {{service: api}}}}\n  - {{at: 5500ms, set_gateway: {{gateway: edge, {change}}}}}"),
        )
    };
    let r = replay(&text("circuit_breakers: {max_retries: 3}"));
    let f = flags(&r);
    assert_eq!((f.uf, f.uo, f.urx, f.retry_overflow), (9, 5, 4, 5));
    assert_eq!(r.gateways[0].retries, 4);
    let r = replay(&text("retry_policy: {retry_on: reset, num_retries: 1}"));
    let f = flags(&r);
    assert_eq!((f.uf, f.uo, f.urx), (9, 5, 0));
    assert_eq!(r.gateways[0].retries, 0);
}

/// Which answers each `retry_on` condition retries (router_filter.rst), with the default
/// `num_retries` (1): an upstream that answers every request `status` (an injected
/// abort). A retried request is tried twice and then passes the status on with URX.
#[test]
fn retry_on_conditions_retry_what_envoy_says_with_one_retry_by_default() {
    let run = |retry_on: &str, status: u16| {
        let text = behind_envoy(
            &format!(
                "    retry_policy: {{retry_on: \"{retry_on}\", retriable_status_codes: [500]}}"
            ),
            "10ms",
            "10s",
            "  []",
        )
        .replace(
            "    restart: {startup: 1h}\n",
            &format!("    faults: {{abort: {{http_status: {status}, percentage: 100}}}}\n"),
        );
        let r = replay(&text);
        let n = r.gateways[0].requests;
        assert_eq!(n, 9);
        assert_eq!(crate::util::status(&r, status), n, "{retry_on} {status}");
        (r.gateways[0].retries, flags(&r).urx)
    };
    // 5xx: any 5xx; gateway-error: 502, 503, 504 only; retriable-status-codes: the list.
    assert_eq!(run("5xx", 500), (9, 9));
    assert_eq!(run("gateway-error", 500), (0, 0));
    assert_eq!(run("gateway-error", 503), (9, 9));
    assert_eq!(run("retriable-status-codes", 500), (9, 9));
    assert_eq!(run("retriable-status-codes", 503), (0, 0));
    assert_eq!(run("reset,connect-failure", 503), (0, 0));
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
    // Mostly tries timing out (UT), some connections timing out (UF); no request
    // overflowed the pending queue: every UO is a retry `max_retries` refused.
    assert!(f.ut > 2 * f.uf && f.uf > 0, "{f:?}");
    assert_eq!(f.uo, f.retry_overflow, "{f:?}");
    assert!(f.retry_overflow > 0, "{f:?}");
    let budget = incident
        .variants
        .iter()
        .find(|v| v.name == "retry-budget-100")
        .expect("variant");
    let b = rewind::model::replay(budget.scenario.clone());
    assert!(b.gateways[0].retries > 50 * base.gateways[0].retries);
    // Its UOs are the pending queue's: requests refused at once.
    let fb = flags(&b);
    assert!(fb.uo - fb.retry_overflow > fb.ut, "{fb:?}");
    // Failed requests within 2% of each other: retries add no capacity.
    let failed = |r: &rewind::outcome::RunResult| r.clients[0].failed as f64;
    assert!((failed(&b) / failed(&base) - 1.0).abs() < 0.02);
}
