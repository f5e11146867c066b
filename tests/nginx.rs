//! The nginx profile's status rules (DOMAIN.md, ngx_http_upstream / ngx_http_proxy).

use crate::util::{first, replay, status};

/// One gateway in front of `replicas` replicas whose handler works for `work`; extra
/// YAML is spliced into the gateway, client, service and timeline.
fn system(
    replicas: u32,
    work: &str,
    gateway: &str,
    client: &str,
    service: &str,
    timeline: &str,
) -> String {
    format!(
        r#"
name: t
duration: 5m
clients:
  - name: users
    to: edge
    rate: 2/s
    arrivals: constant
{client}
gateways:
  - name: edge
    upstream: [api]
{gateway}
services:
  - name: api
    replicas: {replicas}
    restart: {{startup: 1s, backoff: {{fixed: 1h}}}}
    handler:
      steps:
        - work: {{constant: {work}}}
{service}
timeline:
{timeline}
"#
    )
}

#[test]
fn a_single_stuck_upstream_answers_504_after_the_read_timeout_and_is_never_marked_down() {
    let r = replay(&system(1, "2m", "", "", "", "  []"));
    assert_eq!(status(&r, 200), 0);
    assert!(status(&r, 504) > 400, "504s: {}", status(&r, 504));
    // A group with a single server never marks it unavailable: no 502 at all.
    assert_eq!(status(&r, 502), 0);
    let t = first(&r, 504).expect("a 504");
    assert!(
        (t - 60.5).abs() < 0.01,
        "first 504 at {t}: arrival 0.5 s + 60 s"
    );
    let p50 = r.gateways[0].p50_ms.expect("responses");
    assert!((p50 - 60_000.0).abs() < 100.0, "p50 {p50} ms");
}

#[test]
fn a_dead_upstream_is_refused_at_once_502() {
    let r = replay(&system(
        1,
        "10ms",
        "",
        "",
        "",
        "  - at: 10s\n    kill: {service: api}",
    ));
    assert!(status(&r, 200) >= 19);
    let t = first(&r, 502).expect("a 502");
    assert!((10.0..10.6).contains(&t), "first 502 at {t}");
    assert_eq!(status(&r, 504), 0);
    // Refusals take no time: the 99th percentile is still the healthy latency.
    let p99 = r.gateways[0].p99_ms.expect("responses");
    assert!(p99 < 20.0, "p99 {p99} ms");
}

#[test]
fn a_client_that_gives_up_first_is_logged_499() {
    let r = replay(&system(1, "2m", "", "    timeout: 30s", "", "  []"));
    assert!(status(&r, 499) > 400);
    assert_eq!(status(&r, 504), 0);
    assert!((first(&r, 499).expect("a 499") - 30.5).abs() < 0.01);
    assert_eq!(r.clients[0].gave_up, status(&r, 499));
}

#[test]
fn an_upstream_500_passes_through_and_is_not_retried() {
    // A hikari pool of 1 whose queries take 5 s: waiters time out after 1 s and the
    // handler answers 500, which nginx passes through (http_500 is not in the default
    // proxy_next_upstream).
    let yaml = r#"
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
services:
  - name: api
    replicas: 2
    handler:
      steps:
        - query: db-pool
    pools:
      - name: db-pool
        profile: hikari
        database: db
        max_open: 1
        acquire_timeout: 1s
databases:
  - name: db
    latency: {constant: 5s}
"#;
    let r = replay(yaml);
    assert!(status(&r, 500) > 100, "500s: {}", status(&r, 500));
    assert!(status(&r, 200) > 0);
    assert_eq!(r.gateways[0].retries, 0);
    assert_eq!(r.pools[0].timeouts, status(&r, 500));
}

#[test]
fn a_full_accept_queue_drops_the_handshake_so_the_connect_times_out_504() {
    let service = "    workers: 1\n    backlog: 1";
    let gateway = "    proxy_connect_timeout: 5s\n    proxy_read_timeout: 10m";
    let r = replay(&system(1, "10m", gateway, "", service, "  []"));
    assert_eq!(status(&r, 502), 0, "a dropped handshake is not a refusal");
    assert!(status(&r, 504) > 100);
    // Request 1 takes the worker; a backlog of 1 queues two (Linux holds backlog + 1):
    // requests 2 and 3. Request 4 (t = 2.0 s) hangs until the 5 s connect timeout.
    assert!((first(&r, 504).expect("a 504") - 7.0).abs() < 0.01);
    assert!(r.services[0].dropped_syn > 0);
}

#[test]
fn with_tcp_abort_on_overflow_a_full_accept_queue_is_refused_502() {
    let service = "    workers: 1\n    backlog: 1\n    tcp_abort_on_overflow: true";
    let gateway = "    proxy_read_timeout: 10m";
    let r = replay(&system(1, "10m", gateway, "", service, "  []"));
    assert_eq!(status(&r, 504), 0);
    // The worker, then two queued (backlog 1 holds 2): request 4 (t = 2.0 s) is refused.
    assert!((first(&r, 502).expect("a 502") - 2.0).abs() < 0.01);
}

#[test]
fn a_backlog_of_zero_still_queues_one_connection() {
    // listen(fd, 0) on Linux: `sk_acceptq_is_full` is `>`, so one connection waits.
    let service = "    workers: 1\n    backlog: 0\n    tcp_abort_on_overflow: true";
    let gateway = "    proxy_read_timeout: 10m";
    let r = replay(&system(1, "10m", gateway, "", service, "  []"));
    // Request 1 (0.5 s) works, request 2 (1.0 s) waits, request 3 (1.5 s) is refused.
    assert!((first(&r, 502).expect("a 502") - 1.5).abs() < 0.01);
    assert_eq!(r.services[0].accepted, 2);
}

#[test]
fn a_backlog_above_somaxconn_is_capped_at_it() {
    // somaxconn 1 caps a backlog of 50 at 1: the queue holds 2, as with backlog 1.
    let service =
        "    workers: 1\n    backlog: 50\n    somaxconn: 1\n    tcp_abort_on_overflow: true";
    let gateway = "    proxy_read_timeout: 10m";
    let r = replay(&system(1, "10m", gateway, "", service, "  []"));
    assert!((first(&r, 502).expect("a 502") - 2.0).abs() < 0.01);
    assert_eq!(r.services[0].accepted, 3);
}

#[test]
fn a_refused_replica_is_retried_on_the_next_and_skipped_for_fail_timeout() {
    let r = replay(&system(
        2,
        "10ms",
        "",
        "",
        "",
        "  - at: 10s\n    kill: {service: api}",
    ));
    assert_eq!(status(&r, 502), 0, "the other replica answers");
    assert_eq!(
        status(&r, 200),
        r.gateways[0].requests - r.gateways[0].in_flight_at_end
    );
    // max_fails 1, fail_timeout 10 s: the dead replica is tried about once per 10 s
    // over the remaining 290 s, not on every other request (about 290 times).
    let retries = r.gateways[0].retries;
    assert!((25..=35).contains(&retries), "retries {retries}");
}

#[test]
fn a_post_is_not_retried_once_sent_but_a_get_is() {
    let gateway = "    proxy_read_timeout: 5s";
    let get = replay(&system(2, "2m", gateway, "", "", "  []"));
    let post = replay(&system(2, "2m", gateway, "    method: POST", "", "  []"));
    assert_eq!(post.gateways[0].retries, 0);
    assert!(get.gateways[0].retries > 0);
    let post_first = first(&post, 504).expect("a 504");
    assert!(
        (post_first - 5.5).abs() < 0.01,
        "POST gives up after one try: {post_first}"
    );
    let get_first = first(&get, 504).expect("a 504");
    assert!(
        (get_first - 10.5).abs() < 0.01,
        "GET tries both replicas: {get_first}"
    );
}

#[test]
fn when_every_server_is_marked_failed_nginx_says_502_no_live_upstreams() {
    let gateway = "    proxy_read_timeout: 5s";
    let r = replay(&system(2, "2m", gateway, "", "", "  []"));
    // Request 1 (0.5 s) times out on A at 5.5 s: A is marked failed and the request
    // moves to B. Request 2 (1.0 s) times out on B at 6.0 s: its retry finds A marked,
    // so nginx answers 502 "no live upstreams" at once. Request 1 then times out on B
    // at 10.5 s: both servers tried, the last failure, a timeout, stands as 504.
    assert!((first(&r, 502).expect("a 502") - 6.0).abs() < 0.01);
    assert!((first(&r, 504).expect("a 504") - 10.5).abs() < 0.01);
    // nginx 1.22 clears no marks when every server is down: each server gets one
    // probe per fail_timeout, whose retry finds the other marked (502). Only request 1
    // ever reaches a second server.
    assert_eq!(status(&r, 504), 1);
    let g = &r.gateways[0];
    assert_eq!(g.no_live_upstreams, status(&r, 502));
    // 12 connections before 6 s (11 first tries and request 1's retry). The last
    // failures are at 10.5 s (second 10): each server is let through again at second
    // 21 (21 - 10 > fail_timeout 10), fails 5 s later, and is let through again 16 s
    // after its previous probe: 21, 37, ..., 293, 18 probes each.
    assert_eq!(r.services[0].accepted, 12 + 2 * 18);
}

#[test]
fn proxy_next_upstream_off_never_tries_another_server() {
    let gateway = "    proxy_read_timeout: 5s\n    proxy_next_upstream: [off]";
    let r = replay(&system(2, "2m", gateway, "", "", "  []"));
    assert_eq!(r.gateways[0].retries, 0);
    assert!((first(&r, 504).expect("a 504") - 5.5).abs() < 0.01);
}

/// Two replicas that answer every request (or `percentage` of them) with `status`, an
/// nginx in front whose `proxy_next_upstream` lists `conditions`.
fn answering(
    status: u16,
    percentage: u32,
    conditions: &str,
    max_fails: u32,
    client: &str,
) -> String {
    system(
        2,
        "10ms",
        &format!("    proxy_next_upstream: [{conditions}]\n    max_fails: {max_fails}"),
        client,
        &format!("    faults: {{abort: {{http_status: {status}, percentage: {percentage}}}}}"),
        "  []",
    )
}

#[test]
fn a_listed_5xx_goes_to_the_next_server_and_the_last_one_passes_through() {
    // max_fails 0: no server is ever marked failed, so every request tries both.
    let r = replay(&answering(503, 100, "error, timeout, http_503", 0, ""));
    let g = &r.gateways[0];
    let answered = g.requests - g.in_flight_at_end;
    assert!(answered > 500);
    assert_eq!(
        status(&r, 503),
        answered,
        "the last try's 503 passes through"
    );
    assert_eq!(g.retries, answered, "one retry per request");
    assert_eq!(
        r.services[0].accepted,
        2 * answered + 2 * g.in_flight_at_end
    );
    assert_eq!(status(&r, 502), 0);
    // Not listed: passed through at once, as before.
    let r = replay(&answering(503, 100, "error, timeout, http_500", 0, ""));
    assert_eq!(r.gateways[0].retries, 0);
}

#[test]
fn a_listed_5xx_marks_the_server_failed_until_none_is_left() {
    // max_fails 1: request 1 (0.5 s) gets a 503 from one server, which is marked
    // failed, and the other's 503 passes through (the last try counts as a success).
    // Request 2 (1.0 s) marks that one failed too: its retry finds no live upstream.
    let r = replay(&answering(503, 100, "error, timeout, http_503", 1, ""));
    assert!((first(&r, 503).expect("a 503") - 0.5).abs() < 0.01);
    assert!((first(&r, 502).expect("a 502") - 1.0).abs() < 0.01);
    assert_eq!(r.gateways[0].no_live_upstreams, status(&r, 502));
}

#[test]
fn a_post_is_sent_again_after_a_listed_5xx_only_with_non_idempotent() {
    let post = "    method: POST";
    let r = replay(&answering(500, 100, "error, timeout, http_500", 0, post));
    assert_eq!(r.gateways[0].retries, 0);
    let r = replay(&answering(
        500,
        100,
        "error, timeout, http_500, non_idempotent",
        0,
        post,
    ));
    let g = &r.gateways[0];
    assert_eq!(g.retries, g.requests - g.in_flight_at_end);
}

#[test]
fn a_second_try_halves_what_a_flaky_upstream_fails() {
    // Half the tries fail at random: with http_429 listed a request fails only if both
    // its tries do, p = 1/4, over 600 requests (2/s for 5 minutes).
    let r = replay(&answering(429, 50, "error, timeout, http_429", 0, ""));
    let g = &r.gateways[0];
    let n = (g.requests - g.in_flight_at_end) as f64;
    let failed = status(&r, 429) as f64 / n;
    let se = (0.25 * 0.75 / n).sqrt();
    assert!(
        (failed - 0.25).abs() < 4.0 * se,
        "{failed} of requests 429, 1/4 expected"
    );
    let retried = g.retries as f64 / n;
    let se = (0.5 * 0.5 / n).sqrt();
    assert!(
        (retried - 0.5).abs() < 4.0 * se,
        "{retried} retried, 1/2 expected"
    );
}

/// Share of requests the gateway sent to `fast` (10 ms) rather than `slow` (1 s), both
/// one replica in the same upstream group, at 10 requests/s for 10 minutes.
fn fast_share(balancer: &str) -> (f64, u64) {
    let r = crate::util::replay(&format!(
        r#"
name: t
seed: 3
duration: 10m
clients:
  - {{name: c, to: edge, rate: 10/s}}
gateways:
  - name: edge
    upstream: [fast, slow]
    balancer: {balancer}
services:
  - name: fast
    handler: {{steps: [{{work: {{constant: 10ms}}}}]}}
  - name: slow
    handler: {{steps: [{{work: {{constant: 1s}}}}]}}
"#
    ));
    let fast = r.services[0].accepted as f64;
    let slow = r.services[1].accepted as f64;
    (
        fast / (fast + slow),
        r.services[0].accepted + r.services[1].accepted,
    )
}

/// Round-robin alternates whatever the servers' speed; `random` splits evenly within
/// binomial error; `least_conn` and `random two least_conn` send most requests to the
/// server that finishes them (the slow one holds ~10 connections at a time).
#[test]
fn balancers_split_load_by_their_rule() {
    let (rr, n) = fast_share("round_robin");
    assert!((rr - 0.5).abs() <= 1.0 / n as f64, "round_robin: {rr}");
    let (random, n) = fast_share("random");
    let tol = 4.0 * (0.25 / n as f64).sqrt();
    assert!((random - 0.5).abs() <= tol, "random: {random} +- {tol}");
    let (lc, _) = fast_share("least_conn");
    assert!(lc > 0.85, "least_conn: {lc}");
    let (two, _) = fast_share("random two least_conn");
    assert!(two > 0.85, "random two least_conn: {two}");
}

/// 20 requests/s evenly spaced for 10 s through a gateway with `limit_req` at 10 r/s,
/// no burst, `nodelay`, and the gateway settings `extra`.
fn limit_req_at_10_per_s(extra: &str) -> rewind::outcome::RunResult {
    crate::util::replay(&format!(
        r#"
name: t
duration: 10s
clients:
  - {{name: c, to: edge, rate: 20/s, arrivals: constant}}
gateways:
  - name: edge
    upstream: [api]
    limit_req: {{rate: 10/s, nodelay: true}}
{extra}services:
  - name: api
    handler: {{steps: [{{work: {{constant: 1ms}}}}]}}
"#
    ))
}

/// `limit_req` at 10 r/s, no burst, `nodelay`, against 20 requests/s evenly spaced:
/// every other request finds one request's worth not yet leaked and gets 503.
#[test]
fn limit_req_rejects_what_exceeds_the_rate_with_503() {
    let r = limit_req_at_10_per_s("");
    let g = &r.gateways[0];
    assert_eq!(g.requests, 199);
    assert_eq!(status(&r, 503), 99);
    assert_eq!(g.limit_req_rejected, 99);
    assert_eq!(status(&r, 200), 100);
    assert_eq!(r.services[0].accepted, 100);
}

/// The same with `limit_req_status 429`, the usual setting: the rejections have a
/// column of their own, apart from the 5xx (and from 504, where an untracked status
/// would go).
#[test]
fn limit_req_status_429_is_counted_as_429() {
    let r = limit_req_at_10_per_s("    limit_req_status: 429\n");
    assert_eq!(status(&r, 429), 99);
    assert_eq!(crate::util::column_sum(&r, "edge.status_429"), 99.0);
    assert_eq!(status(&r, 503) + status(&r, 504), 0);
    assert_eq!(status(&r, 200), 100);
    assert_eq!(r.clients[0].failed, 99, "a 429 is not a success");
}

/// `limit_conn 2` in front of a server taking 1 s per request, one request every
/// 0.25 s: at most 2 in progress, the others answered 503 at once.
#[test]
fn limit_conn_caps_requests_in_progress() {
    let r = crate::util::replay(
        r#"
name: t
duration: 20s
clients:
  - {name: c, to: edge, rate: 4/s, arrivals: constant}
gateways:
  - name: edge
    upstream: [api]
    limit_conn: 2
services:
  - name: api
    handler: {steps: [{work: {constant: 1s}}]}
"#,
    );
    let g = &r.gateways[0];
    // Requests at 0.25 s steps; each holds its slot for 1 s: of every 4 consecutive
    // requests 2 pass (the slot frees exactly as the 5th arrives: the response event at
    // the same instant was scheduled earlier, so it runs first).
    assert_eq!(
        g.limit_conn_rejected + status(&r, 200) + g.in_flight_at_end,
        g.requests
    );
    assert_eq!(status(&r, 503), g.limit_conn_rejected);
    assert!(r.services[0].peak_inflight <= 2);
    let passed = status(&r, 200) + g.in_flight_at_end;
    assert!(
        (passed as f64 / g.requests as f64 - 0.5).abs() < 0.02,
        "{passed} of {}",
        g.requests
    );
}

/// An operator raises the `limit_req` rate at 5 s (`set_gateway`): the rejections stop.
#[test]
fn set_gateway_raises_a_limit_during_the_replay() {
    let r = crate::util::replay(
        r#"
name: t
duration: 10s
clients:
  - {name: c, to: edge, rate: 20/s, arrivals: constant}
gateways:
  - name: edge
    upstream: [api]
    limit_req: {rate: 10/s, nodelay: true}
services:
  - name: api
    handler: {steps: [{work: {constant: 1ms}}]}
timeline:
  - {at: 5s, set_gateway: {gateway: edge, limit_req: {rate: 100/s, nodelay: true}}}
"#,
    );
    let col = r.series.column("edge.status_503").expect("column");
    let rejected_after: f64 = (5..10).map(|t| r.series.row(t)[col]).sum();
    let rejected_before: f64 = (0..5).map(|t| r.series.row(t)[col]).sum();
    assert_eq!(rejected_after, 0.0);
    assert!(rejected_before >= 45.0, "{rejected_before}");
}
