//! Responses with a body: nginx's `proxy_read_timeout` bounds the gap between two
//! reads, not the response, so a slow but steady body arrives whole; a body that
//! stalls after its header ends as a 200 in nginx's log with a truncated body, not a
//! 504, with no other upstream tried; the client that gives up mid-body is logged as
//! that 200 too, not a 499; truncated 200s are counted per route too; and where
//! bodies stream, the time to the header is kept apart from the response time.
//! Constant arrivals and latencies make every count exact.

use crate::util::{column_sum, replay};

/// A gateway with `proxy_read_timeout: 3s` and `proxy_next_upstream` on timeouts in
/// front of two replicas whose handler runs `steps`; one request a second for 60 s.
fn streamed(steps: &str, client_extra: &str) -> String {
    format!(
        r#"
name: bodies
duration: 60s
clients:
  - {{name: users, to: edge, rate: 1/s, arrivals: constant{client_extra}}}
gateways:
  - name: edge
    upstream: [api]
    proxy_read_timeout: 3s
services:
  - name: api
    replicas: 2
    handler:
      steps: {steps}
"#
    )
}

/// Ten writes two seconds apart: 20 s of body, never 3 s without a read. Every
/// response is a whole 200 after 20 s (plus the 10 ms before the header).
#[test]
fn a_steady_body_outlasts_the_read_timeout() {
    let r = replay(&streamed(
        "[{work: {constant: 10ms}}, {body: {chunks: 10, every: {constant: 2s}}}]",
        "",
    ));
    let answered = column_sum(&r, "edge.status_200");
    // The arrival at k s is answered at k + 20.01 s: k up to 39 before 60 s.
    assert_eq!(answered, 39.0);
    assert_eq!(column_sum(&r, "edge.status_504"), 0.0);
    assert_eq!(column_sum(&r, "edge.truncated"), 0.0);
    assert_eq!(r.gateways[0].truncated, 0);
    let mean = r.gateways[0].ok_mean_ms.unwrap_or(f64::NAN);
    assert!((mean - 20_010.0).abs() < 1e-6, "ok mean {mean} ms");
    assert_eq!(r.clients[0].ok, 39);
    // The header comes after the 10 ms of work, twenty seconds before the response
    // ends: the time to the first byte, nginx's `$upstream_header_time`. Percentiles
    // are at HdrHistogram's 3 significant figures (10 ms reads 10.007), the mean exact.
    let header = r.gateways[0]
        .header
        .expect("bodies stream: headers are timed");
    assert_eq!(header.p50_ms, Some(10.007));
    assert_eq!(header.p99_ms, Some(10.007));
    let header_mean = header.mean_ms.unwrap_or(f64::NAN);
    assert!(
        (header_mean - 10.0).abs() < 1e-9,
        "header mean {header_mean} ms"
    );
    // A header goes out each second, in the row of its arrival's second (the one at
    // 59 s included); the column is empty in a row with none.
    let headers = crate::util::column(&r, "edge.header_mean_ms");
    assert!(
        headers[1..].iter().all(|v| (v - 10.0).abs() < 1e-9),
        "{headers:?}"
    );
    assert!(headers[0].is_nan());
}

/// A system without a `body` step has no header columns: its header comes with its
/// body, at the response time.
#[test]
fn header_times_are_kept_only_where_bodies_stream() {
    let r = replay(&streamed("[{work: {constant: 10ms}}]", ""));
    assert!(r.gateways[0].header.is_none());
    assert!(r.series.column_values("edge.header_p99_ms").is_none());
    assert!(r.series.column_values("edge.mean_ms").is_some());
}

/// Per route: a route whose body stalls counts its truncated 200s in
/// `<gateway>.<route>.truncated`, apart from a route whose responses come whole; the
/// gateway's `truncated` is their sum. A whole response's header comes with it.
#[test]
fn truncated_responses_are_counted_per_route() {
    let text = r#"
name: bodies
duration: 60s
clients:
  - {name: a, to: edge, rate: 1/s, arrivals: constant, routes: {stream: 100%}}
  - {name: b, to: edge, rate: 1/s, arrivals: constant, routes: {plain: 100%}}
gateways:
  - name: edge
    upstream: [api]
    proxy_read_timeout: 3s
services:
  - name: api
    routes:
      - name: stream
        steps: [{body: {chunks: 2, every: {constant: 100ms}}}, {work: {constant: 10s}}]
      - name: plain
        steps: [{work: {constant: 50ms}}]
"#;
    let r = replay(text);
    let stream = column_sum(&r, "edge.stream.truncated");
    // The arrival at k s is cut off at k + 3.2 s: k up to 56 before 60 s.
    assert_eq!(stream, 56.0);
    assert_eq!(column_sum(&r, "edge.plain.truncated"), 0.0);
    assert_eq!(column_sum(&r, "edge.truncated"), stream);
    assert_eq!(column_sum(&r, "edge.stream.status_200"), stream);
    assert_eq!(r.gateways[0].truncated, 56);
    // Headers: the stream's at once (0 ms, counted as the histogram's 1 us floor in
    // percentiles, exactly in the mean), the plain route's with its answer at 50 ms.
    let plain = column_sum(&r, "edge.plain.status_200");
    let streamed = column_sum(&r, "edge.stream.requests");
    let header = r.gateways[0].header.expect("bodies stream");
    let mean = header.mean_ms.unwrap_or(f64::NAN);
    let expected = 50.0 * plain / (plain + streamed);
    assert!(
        (mean - expected).abs() < 1e-9,
        "header mean {mean}, expected {expected}"
    );
}

/// The header and two writes, then 10 s without one: the read timer, restarted at the
/// last write (200 ms), fires at 3.2 s. nginx cannot answer 504 after its 200 header:
/// the log keeps the 200, the body is cut short, no other upstream is tried, and to
/// the client the exchange failed.
#[test]
fn a_body_that_stalls_after_the_header_is_a_truncated_200() {
    let r = replay(&streamed(
        "[{body: {chunks: 2, every: {constant: 100ms}}}, {work: {constant: 10s}}]",
        "",
    ));
    let requests = column_sum(&r, "edge.requests");
    let truncated = column_sum(&r, "edge.truncated");
    // The arrival at k s is cut off at k + 3.2 s: k up to 56 before 60 s.
    assert_eq!(truncated, 56.0);
    assert_eq!(r.gateways[0].truncated, 56);
    assert_eq!(column_sum(&r, "edge.status_200"), truncated);
    assert_eq!(column_sum(&r, "edge.status_504"), 0.0);
    assert_eq!(
        r.gateways[0].retries, 0,
        "no other upstream after the header"
    );
    assert!(requests >= truncated);
    // Every response took 3.2 s, and none was a success.
    let mean = r.gateways[0].mean_ms.unwrap_or(f64::NAN);
    assert!((mean - 3200.0).abs() < 1e-6, "mean {mean} ms");
    assert_eq!(r.gateways[0].ok_p99_ms, None);
    assert_eq!(r.clients[0].ok, 0);
    assert_eq!(r.clients[0].failed, 56);
}

/// The same stall before the header is an ordinary read timeout: 504, and nginx tries
/// the other replica first (two tries of 3 s each; `max_fails: 0` keeps both peers
/// in use, so every request gets its two tries rather than "no live upstreams").
#[test]
fn the_same_stall_before_the_header_is_a_504_after_the_next_upstream() {
    let r = replay(
        &streamed(
            "[{work: {constant: 10s}}, {body: {chunks: 2, every: {constant: 100ms}}}]",
            "",
        )
        .replace(
            "proxy_read_timeout: 3s",
            "proxy_read_timeout: 3s\n    max_fails: 0",
        ),
    );
    assert_eq!(column_sum(&r, "edge.truncated"), 0.0);
    assert_eq!(column_sum(&r, "edge.status_200"), 0.0);
    // The arrival at k s is answered at k + 6 s: k up to 53 before 60 s.
    assert_eq!(column_sum(&r, "edge.status_504"), 53.0);
    // The arrival at k s begins its second try at k + 3 s: k up to 56 before 60 s.
    assert_eq!(r.gateways[0].retries, 56);
}

/// A client that gives up while the body is coming: nginx had sent the 200 header, so
/// it logs 200 (with a short body), not 499.
#[test]
fn a_client_leaving_mid_body_is_logged_as_the_200_it_began() {
    let r = replay(&streamed(
        "[{body: {chunks: 10, every: {constant: 500ms}}}]",
        ", timeout: 2500ms",
    ));
    assert_eq!(column_sum(&r, "edge.status_499"), 0.0);
    // The arrival at k s gives up at k + 2.5 s: k up to 57 before 60 s.
    assert_eq!(column_sum(&r, "edge.truncated"), 57.0);
    assert_eq!(column_sum(&r, "edge.status_200"), 57.0);
    assert_eq!(r.clients[0].gave_up, 57);
}

/// The process dies while bodies are being written (one replica, killed at 30.5 s):
/// every response in flight had sent its header (10 ms after its arrival) and ends as
/// a truncated 200, not a 502. In flight are the arrivals of 11 s to 30 s (each takes
/// 20.01 s): twenty.
#[test]
fn a_process_dying_mid_body_truncates_what_it_was_writing() {
    let text = streamed(
        "[{work: {constant: 10ms}}, {body: {chunks: 10, every: {constant: 2s}}}]",
        "",
    )
    .replace("replicas: 2", "replicas: 1")
        + "timeline:\n  - {at: 30500ms, kill: {service: api}}\n";
    let r = replay(&text);
    assert_eq!(r.gateways[0].truncated, 20);
    let truncated_by_31s: f64 = crate::util::column(&r, "edge.truncated")
        .iter()
        .take(31)
        .sum();
    assert_eq!(truncated_by_31s, 20.0);
}

/// Envoy's route timeout (15 s by default) spans the whole response, body included: a
/// body of ten writes two seconds apart is reset at 15 s, counted as truncated and
/// UT, and logged as the 200 it began, not a 504.
#[test]
fn envoys_route_timeout_spans_the_body() {
    let text = streamed("[{body: {chunks: 10, every: {constant: 2s}}}]", "")
        .replace("    proxy_read_timeout: 3s\n", "    profile: envoy\n");
    let r = replay(&text);
    // The arrival at k s is reset at k + 15 s: k up to 44 before 60 s.
    assert_eq!(r.gateways[0].truncated, 44);
    assert_eq!(column_sum(&r, "edge.status_200"), 44.0);
    assert_eq!(column_sum(&r, "edge.status_504"), 0.0);
    assert_eq!(r.gateways[0].envoy_flags.map(|f| f.ut), Some(44));
}
