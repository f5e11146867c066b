//! Routes: a client's split of its traffic among named routes (by share or by rate),
//! each route's own steps, method and gateway read timeout, per-route columns, and
//! the route bulkheads (reserved workers, a concurrency limit) that kept Stripe's
//! charges alive while a slow endpoint took every worker.

use crate::util::{column, column_max, column_sum, mean_and_se, replay};

/// A gateway in front of one service with a fast and a slow route.
fn api(
    client_routes: &str,
    service_extra: &str,
    charges_extra: &str,
    reports_extra: &str,
) -> String {
    format!(
        r#"
name: routes
duration: 60s
clients:
  - {{name: users, to: edge, {client_routes}}}
gateways:
  - name: edge
    upstream: [api]
    proxy_read_timeout: 3s
services:
  - name: api
{service_extra}
    routes:
      - name: charges
        method: POST
        steps: [{{work: {{constant: 10ms}}}}]
{charges_extra}
      - name: reports
        steps: [{{work: {{constant: 2s}}}}]
{reports_extra}
"#
    )
}

/// Shares: each request's route is drawn from the split; over 10 seeds the share of
/// `reports` is 10 % within four standard errors, and the per-route columns add up to
/// the gateway's.
#[test]
fn a_client_splits_its_requests_by_share() {
    let shares: Vec<f64> = (1..=10)
        .map(|seed| {
            let text = api(
                "rate: 50/s, routes: {charges: 90%, reports: 10%}",
                "",
                "",
                "",
            )
            .replace("duration: 60s", &format!("duration: 60s\nseed: {seed}"));
            let r = replay(&text);
            let reports = column_sum(&r, "edge.reports.requests");
            let charges = column_sum(&r, "edge.charges.requests");
            assert_eq!(reports + charges, column_sum(&r, "edge.requests"));
            assert_eq!(
                column_sum(&r, "api.charges.ok") + column_sum(&r, "api.reports.ok"),
                r.services[0].ok as f64
            );
            reports / (reports + charges)
        })
        .collect();
    let (mean, se) = mean_and_se(&shares);
    assert!(se < 0.01, "{se}");
    assert!((mean - 0.1).abs() <= 4.0 * se, "{mean} +- {se}");
}

/// Rates: with a rate per route the client's rate is their sum; with constant
/// arrivals 30/s and 10/s over 60 s give about 1,800 and 600 requests.
#[test]
fn a_client_splits_its_requests_by_rate() {
    let r = replay(&api(
        "routes: {charges: 30/s, reports: 10/s}, arrivals: constant",
        "",
        "",
        "",
    ));
    let total = column_sum(&r, "edge.requests");
    assert!((total - 2400.0).abs() <= 4.0, "{total}");
    let reports = column_sum(&r, "edge.reports.requests");
    // The route of each request is still drawn: binomial spread around a quarter.
    let sd = (2400.0f64 * 0.25 * 0.75).sqrt();
    assert!((reports - 600.0).abs() <= 4.0 * sd, "{reports}");
}

/// Each route runs its own steps: reports take 2 s, charges 10 ms, so a 3 s read
/// timeout passes both; a 1 s `location` timeout for reports turns them into 504s
/// while charges are untouched.
#[test]
fn each_route_runs_its_own_steps_and_the_gateway_times_them_per_location() {
    let text = api(
        "rate: 20/s, routes: {charges: 90%, reports: 10%}",
        "",
        "",
        "",
    );
    let r = replay(&text);
    assert_eq!(column_sum(&r, "edge.status_504"), 0.0);
    let p99 = column_max(&r, "edge.reports.p99_ms");
    assert!((p99 - 2000.0).abs() < 5.0, "{p99}");

    let timed = text.replace(
        "    proxy_read_timeout: 3s\n",
        "    proxy_read_timeout: 3s\n    routes: {reports: {proxy_read_timeout: 1s}}\n",
    );
    let r = replay(&timed);
    assert_eq!(column_sum(&r, "edge.charges.status_504"), 0.0);
    // Every report that arrived a second before the end timed out within the run.
    let arrived = column(&r, "edge.reports.requests");
    let before_last: f64 = arrived[..arrived.len() - 1].iter().sum();
    assert_eq!(column_sum(&r, "edge.reports.status_504"), before_last);
}

/// Stripe, 2015-10: a slow endpoint takes every worker and the fast, critical one
/// starves behind it. 10 reports/s of 2 s need 20 workers; the service has 10. With 4
/// workers reserved for charges, reports are shed (503) when they would eat into the
/// reserve, and charges keep answering.
#[test]
fn reserved_workers_keep_a_critical_route_alive() {
    let split = "rate: 100/s, routes: {charges: 90%, reports: 10%}";
    let starved = replay(&api(split, "    workers: 10", "", ""));
    let reserved = replay(&api(
        split,
        "    workers: 10",
        "        reserved_workers: 4",
        "",
    ));
    let ok_share = |r: &rewind::outcome::RunResult| {
        column_sum(r, "edge.charges.status_200") / column_sum(r, "edge.charges.requests")
    };
    assert!(ok_share(&starved) < 0.5, "starved: {}", ok_share(&starved));
    assert!(
        ok_share(&reserved) > 0.99,
        "reserved: {}",
        ok_share(&reserved)
    );
    assert!(column_sum(&reserved, "api.reports.shed") > 0.0);
    assert_eq!(column_sum(&reserved, "api.charges.shed"), 0.0);
    assert_eq!(
        column_sum(&reserved, "edge.reports.status_503"),
        column_sum(&reserved, "api.reports.shed")
    );
    // Reports still get the 6 unreserved workers: at most 6 in flight, never more.
    let most = column_max(&reserved, "api.reports.inflight");
    assert_eq!(most, 6.0);
}

/// A route's `concurrency_limit` sheds beyond N of its handlers in flight per replica.
#[test]
fn a_route_concurrency_limit_sheds_beyond_it() {
    let r = replay(&api(
        "rate: 100/s, routes: {charges: 95%, reports: 5%}",
        "",
        "",
        "        concurrency_limit: 3",
    ));
    let most = column_max(&r, "api.reports.inflight");
    assert_eq!(most, 3.0);
    assert!(column_sum(&r, "api.reports.shed") > 0.0);
}

/// A deploy changes one route's step (numbered within the route), and a call step can
/// name the route it calls.
#[test]
fn deploys_and_calls_address_routes() {
    let text = api("rate: 20/s, routes: {charges: 90%, reports: 10%}", "", "", "")
        + "timeline:\n  - {at: 30s, deploy: {service: api, handler: {route: reports, work: {1: {constant: 5s}}}}}\n";
    let r = replay(&text);
    // Before the deploy reports take 2 s; after it, 5 s: past the 3 s read timeout.
    let col = r.series.column("edge.reports.status_504").expect("column");
    let early: f64 = (0..30).map(|i| r.series.row(i)[col]).sum();
    let late: f64 = (40..60).map(|i| r.series.row(i)[col]).sum();
    assert_eq!(early, 0.0);
    assert!(late > 0.0);
    assert_eq!(column_sum(&r, "edge.charges.status_504"), 0.0);

    let calls = r#"
name: calls
duration: 10s
clients:
  - {name: c, to: front, rate: 10/s, arrivals: constant}
services:
  - name: front
    handler: {steps: [{call: {service: api, route: reports}}]}
  - name: api
    routes:
      - {name: charges, steps: [{work: {constant: 10ms}}]}
      - {name: reports, steps: [{work: {constant: 300ms}}]}
"#;
    let r = replay(calls);
    assert_eq!(column_sum(&r, "api.charges.ok"), 0.0);
    assert_eq!(column_sum(&r, "api.reports.ok"), r.services[1].ok as f64);
    let mean = r.services[1].response_sum_s / r.services[1].ok as f64;
    assert!((mean - 0.3).abs() < 1e-6, "{mean}");
}

/// `set_client` with `routes` changes a client's split from then on: ten requests a
/// second at 0.1 s, 0.2 s, ...; the 100 sent up to 10 s take route `a`, the 99 after
/// the change at 10.05 s take `b`.
#[test]
fn the_timeline_changes_a_clients_split() {
    let r = replay(
        r#"
name: t
duration: 20s
clients:
  - {name: users, to: api, rate: 10/s, arrivals: constant, routes: {a: 100%}}
services:
  - name: api
    routes:
      - {name: a, steps: [{work: {constant: 1ms}}]}
      - {name: b, steps: [{work: {constant: 1ms}}]}
timeline:
  - {at: 10050ms, set_client: {client: users, routes: {b: 100%}}}
"#,
    );
    assert_eq!(column_sum(&r, "api.a.ok"), 100.0);
    assert_eq!(column_sum(&r, "api.b.ok"), 99.0);
    let ok_a = r.series.column_values("api.a.ok").expect("column");
    assert!(ok_a[11..].iter().all(|&v| v == 0.0));
}
