//! Service-to-service calls: success, the HTTP client's timeout, refused callees,
//! cancellation flowing downstream, and loops in the call graph.

use crate::util::{first, replay, status};

fn two_services(call: &str, inventory_work: &str, extra_timeline: &str, gateway: &str) -> String {
    format!(
        r#"
name: t
duration: 2m
clients:
  - name: users
    to: edge
    rate: 2/s
    arrivals: constant
gateways:
  - name: edge
    upstream: [api]
{gateway}
services:
  - name: api
    handler:
      steps:
        - work: {{constant: 1ms}}
        - call: {call}
  - name: inventory
    restart: {{startup: 1s, backoff: {{fixed: 1h}}}}
    handler:
      steps:
        - work: {{constant: {inventory_work}}}
timeline:
{extra_timeline}
"#
    )
}

#[test]
fn a_successful_call_adds_the_callee_time() {
    let r = replay(&two_services("{service: inventory}", "20ms", "  []", ""));
    assert_eq!(
        status(&r, 200),
        r.gateways[0].requests - r.gateways[0].in_flight_at_end
    );
    let p50 = r.gateways[0].p50_ms.expect("responses");
    assert!((p50 - 21.0).abs() < 0.1, "p50 {p50}");
    assert_eq!(r.services[1].ok, status(&r, 200));
}

#[test]
fn a_call_past_its_timeout_fails_with_500_and_cancels_the_callee() {
    let r = replay(&two_services(
        "{service: inventory, timeout: 1s}",
        "10s",
        "  []",
        "",
    ));
    assert_eq!(status(&r, 200), 0);
    assert!((first(&r, 500).expect("a 500") - 1.501).abs() < 0.001);
    // The callee's handler is bound to its request context: when the caller hangs up
    // it stops at its next wait, so it never answers.
    assert_eq!(r.services[1].ok, 0);
}

#[test]
fn a_refused_call_answers_the_configured_error_status_at_once() {
    let r = replay(&two_services(
        "{service: inventory, error_status: 503}",
        "10ms",
        "  - at: 30s\n    kill: {service: inventory}",
        "",
    ));
    assert!((first(&r, 503).expect("a 503") - 30.001).abs() < 0.01);
    assert_eq!(status(&r, 502) + status(&r, 504), 0);
}

#[test]
fn a_gateway_timeout_cancels_the_whole_chain_on_request_contexts() {
    // No client timeout on the call, a stuck callee, nginx gives up after 2 s: the api
    // handler is cancelled, which hangs up its call, which cancels the callee.
    let db_stuck = r#"
name: t
duration: 2m
clients:
  - name: users
    to: edge
    rate: 2/s
    arrivals: constant
gateways:
  - name: edge
    upstream: [api]
    proxy_read_timeout: 2s
services:
  - name: api
    handler:
      steps:
        - call: {service: inventory}
  - name: inventory
    handler:
      steps:
        - query: inv-db
    pools:
      - name: inv-db
        profile: go-sql
        database: db
        max_open: 1
databases:
  - name: db
    latency: {constant: 1h}
"#;
    let r = replay(db_stuck);
    assert!(status(&r, 504) > 200);
    // One request holds the only connection; the others wait at most 2 s each.
    assert!(
        r.pools[0].peak_waiting <= 5,
        "peak waiting {}",
        r.pools[0].peak_waiting
    );
    assert!(r.services[1].peak_inflight <= 6);
}

#[test]
fn a_loop_of_calls_is_rejected_where_it_closes() {
    let yaml = r#"
name: t
duration: 1m
services:
  - name: a
    handler:
      steps:
        - call: {service: b}
  - name: b
    handler:
      steps:
        - call: {service: a}
"#;
    let err = rewind::incident::parse("loop.yaml", yaml, &Default::default()).expect_err("a loop");
    let text = err.to_string();
    assert!(
        text.starts_with(
            "loop.yaml:12:27: this call closes a cycle in the call graph (a -> b -> a)"
        ),
        "{text}"
    );
}

/// A client calling a service directly picks by its `lb_policy`. One of two replicas
/// is dead but listed (killed at 0, an hour to restart, no readiness probe), so it
/// refuses at once. Round robin alternates: exactly every other request is refused;
/// `random`: half within binomial error; Envoy's `least_request` compares the client's
/// own attempts in flight: the dead replica never has one, the live one nearly always
/// has (1 s requests), so the dead one wins unless both draws are the live one: three
/// quarters refused (the pathology outlier detection exists for).
#[test]
fn a_direct_client_balances_by_its_lb_policy() {
    let refused_share = |policy: &str| {
        let r = crate::util::replay(&format!(
            r#"
name: t
duration: 5m
clients:
  - {{name: c, to: api, rate: 10/s, lb_policy: {policy}}}
services:
  - name: api
    replicas: 2
    restart: {{startup: 1h}}
    handler: {{steps: [{{work: {{constant: 1s}}}}]}}
timeline:
  - {{at: 0s, kill: {{service: api, replica: 1}}}}
"#
        ));
        let c = &r.clients[0];
        (c.refused as f64 / c.sent as f64, c.sent)
    };
    let (rr, n) = refused_share("round_robin");
    assert!((rr - 0.5).abs() <= 1.0 / n as f64, "round_robin: {rr}");
    let (random, n) = refused_share("random");
    let tol = 4.0 * (0.25 / n as f64).sqrt();
    assert!((random - 0.5).abs() <= tol, "random: {random} +- {tol}");
    let (least, n) = refused_share("least_request");
    let tol = 4.0 * (0.75 * 0.25 / n as f64).sqrt();
    assert!(least <= 0.75 + tol && least > 0.7, "least_request: {least}");
}
