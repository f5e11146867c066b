//! Client and call retries and circuit breakers, replayed end to end: the exact times
//! and counts their rules give, retries multiplying through layers, and the bundled
//! metastable retry storm against the mitigations that bring it back.

use rewind::incident::Overrides;
use rewind::outcome::RunResult;

use crate::util::{column, incident_path, occurrences, replay};

/// A service `front` whose every answer is 503: its only step calls `down`, whose one
/// replica is killed at 0 and stays starting for an hour (so connections are refused
/// and the call fails at once). `client` is spliced in as the client block.
fn always_503(client: &str, duration: &str, resolution: &str) -> String {
    format!(
        r#"
name: t
duration: {duration}
resolution: {resolution}
clients:
{client}
services:
  - name: front
    handler:
      steps:
        - call: {{service: down, error_status: 503}}
  - name: down
    restart: {{startup: 1h}}
    handler:
      steps:
        - work: {{constant: 1ms}}
timeline:
  - {{at: 0s, kill: {{service: down}}}}
"#
    )
}

/// A constant retry back-off of 200 ms: attempts at exactly t, t + 0.2 s, t + 0.4 s.
#[test]
fn retries_happen_at_the_backoff_instants_and_stop_after_the_attempts() {
    let r = replay(&always_503(
        r#"  - name: c
    to: front
    rate: 1/s
    arrivals: constant
    retry: {attempts: 3, retry_on: [503], backoff: {base: 200ms, jitter: none}}"#,
        "5s",
        "100ms",
    ));
    let attempts = column(&r, "c.attempts");
    let rows_with_attempts: Vec<usize> = attempts
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > 0.0)
        .map(|(i, _)| i)
        .collect();
    // Requests at 1, 2, 3, 4 s (constant arrivals start one gap in); each row is 100 ms.
    assert_eq!(
        rows_with_attempts,
        vec![10, 12, 14, 20, 22, 24, 30, 32, 34, 40, 42, 44]
    );
    assert!(attempts.iter().all(|&v| v <= 1.0));
    let c = &r.clients[0];
    assert_eq!(c.sent, 4);
    assert_eq!(c.caller.attempts, 12);
    assert_eq!(c.caller.retries, 8);
    assert_eq!(c.caller.retries_exhausted, 4);
    assert_eq!(c.failed, 4);
}

/// POST is not retried once sent (a 503 came back), but is retried when it was never
/// sent (the connection was refused).
#[test]
fn a_post_is_retried_only_when_it_was_not_sent() {
    let sent_post = replay(&always_503(
        r#"  - name: c
    to: front
    rate: 1/s
    arrivals: constant
    method: POST
    retry: {attempts: 3, retry_on: [503, connect-failure], backoff: {base: 0s}}"#,
        "10s",
        "1s",
    ));
    let c = &sent_post.clients[0];
    assert_eq!(c.caller.attempts, c.sent, "a sent POST is not retried");
    let refused_post = replay(&always_503(
        r#"  - name: c
    to: down
    rate: 1/s
    arrivals: constant
    method: POST
    retry: {attempts: 3, retry_on: [503, connect-failure], backoff: {base: 0s}}"#,
        "10s",
        "1s",
    ));
    let c = &refused_post.clients[0];
    assert_eq!(c.caller.attempts, 3 * c.sent, "a refused POST is retried");
    assert_eq!(c.refused, c.sent);
    // non_idempotent: true retries the sent POST too.
    let forced = replay(&always_503(
        r#"  - name: c
    to: front
    rate: 1/s
    arrivals: constant
    method: POST
    retry: {attempts: 3, retry_on: [503], non_idempotent: true, backoff: {base: 0s}}"#,
        "10s",
        "1s",
    ));
    assert_eq!(
        forced.clients[0].caller.attempts,
        3 * forced.clients[0].sent
    );
}

/// The AWS retry quota against a dependency that always fails: 500 tokens, 5 per
/// retry, no refund on failure: exactly 100 retries, then every failure is refused one.
#[test]
fn the_aws_retry_quota_runs_dry_after_one_hundred_retries() {
    let r = replay(&always_503(
        r#"  - name: c
    to: front
    rate: 1/s
    arrivals: constant
    retry: {profile: aws-standard}"#,
        "200s",
        "1s",
    ));
    let c = &r.clients[0];
    assert!(c.sent > 150, "{}", c.sent);
    assert_eq!(c.caller.retries, 100);
    // Every finished request ended either with its attempts used or refused a retry.
    let done = c.sent - c.in_flight_at_end;
    assert_eq!(
        c.caller.retries_exhausted + c.caller.retries_denied_quota,
        done
    );
    assert!(c.caller.retries_exhausted <= 50);
}

/// A resilience4j breaker with a count window of 10 against a dependency that always
/// fails at once, one call a second: it opens at the 10th call (t = 10 s), rejects until
/// strictly after the 5 s wait, lets a trial through at 16 s, and re-opens when the
/// second of its 2 trials fails at 17 s.
#[test]
fn a_resilience4j_breaker_opens_at_the_tenth_failure_and_probes_after_its_wait() {
    let r = replay(&always_503(
        r#"  - name: c
    to: front
    rate: 1/s
    arrivals: constant
    breaker:
      profile: resilience4j
      sliding_window_size: 10
      minimum_number_of_calls: 10
      wait_duration_in_open_state: 5s
      permitted_number_of_calls_in_half_open_state: 2"#,
        "30s",
        "1s",
    ));
    let times = |kind| -> Vec<f64> {
        occurrences(&r, kind)
            .iter()
            .map(|(t, _)| (t * 1000.0).round() / 1000.0)
            .collect()
    };
    assert_eq!(times("breaker_open"), vec![10.0, 17.0, 24.0]);
    assert_eq!(times("breaker_half_open"), vec![16.0, 23.0]);
    assert!(times("breaker_closed").is_empty());
    let c = &r.clients[0];
    // Calls 11-15, 18-22 and 25-29 (and 30 if it arrived) were rejected.
    assert_eq!(c.caller.breaker_rejected, 15 + u64::from(c.sent == 30));
    assert_eq!(c.caller.breaker_opened, 3);
    let open = column(&r, "c.breaker_open");
    assert_eq!(open[9], 0.0, "closed during [9 s, 10 s)");
    assert_eq!(open[10], 1.0, "open at the end of [10 s, 11 s)");
    let half = column(&r, "c.breaker_half_open");
    assert_eq!((open[16], half[16]), (0.0, 1.0), "half-open at 17 s");
    assert_eq!((open[17], half[17]), (1.0, 0.0), "open again at 18 s");
    assert_eq!(half.iter().sum::<f64>(), 2.0, "rows 16 and 23");
}

/// The breakers' chart lane and the report follow the breaker exactly: shipped by the
/// timeline at 0.5 s (closed from then), open at 10 s, half-open at 16 s, open at 17 s,
/// and so on; the report says how often and how long it was open.
#[test]
fn the_breaker_lane_and_report_follow_its_transitions() {
    let text = always_503(
        r#"  - name: c
    to: front
    rate: 1/s
    arrivals: constant"#,
        "30s",
        "1s",
    ) + "  - at: 500ms\n    set_client:\n      client: c\n      breaker: {profile: resilience4j, sliding_window_size: 10, minimum_number_of_calls: 10, wait_duration_in_open_state: 5s, permitted_number_of_calls_in_half_open_state: 2}\n";
    let s = crate::util::scenario(&text);
    let r = rewind::model::replay(s.clone());
    let report = rewind::report::Report {
        scenario: &s,
        result: &r,
    };
    use rewind::report::charts::{client_breaker, LaneState::*};
    let spans: Vec<(f64, f64, _)> = client_breaker(&report, 0)
        .expect("a breaker")
        .into_iter()
        .map(|(a, b, st)| {
            let ms = |t: rewind::engine::Nanos| (t.as_secs_f64() * 1000.0).round() / 1000.0;
            (ms(a), ms(b), st)
        })
        .collect();
    assert_eq!(
        spans,
        vec![
            (0.5, 10.0, Closed),
            (10.0, 16.0, Open),
            (16.0, 17.0, HalfOpen),
            (17.0, 23.0, Open),
            (23.0, 24.0, HalfOpen),
            (24.0, 30.0, Open),
        ]
    );
    let md = rewind::report::postmortem(
        &report,
        &rewind::report::Provenance { file: "t.yaml" },
        false,
    )
    .markdown();
    let row = md
        .lines()
        .find(|l| l.starts_with("| breaker of client c |"))
        .unwrap_or_else(|| panic!("no breaker row in\n{md}"));
    assert!(
        row.contains("opened 3 times, first at 10s, open 18s in all"),
        "{row}"
    );
    let client = md
        .lines()
        .find(|l| l.starts_with("| client c |"))
        .unwrap_or("");
    assert!(
        client.contains("15 attempts refused by its breaker"),
        "{client}"
    );
}

/// Retries multiply through layers: 3 attempts at the client, at A's call to B and at
/// B's call to C make 27 attempts at C for one request.
#[test]
fn retries_multiply_through_layers() {
    let r = replay(
        r#"
name: t
duration: 2s
clients:
  - name: user
    to: a
    rate: 1/s
    arrivals: constant
    retry: {attempts: 3, retry_on: [5xx], backoff: {base: 0s}}
services:
  - name: a
    handler:
      steps:
        - call: {service: b, error_status: 503, retry: {attempts: 3, retry_on: [5xx], backoff: {base: 0s}}}
  - name: b
    handler:
      steps:
        - call: {service: c, error_status: 503, retry: {attempts: 3, retry_on: [connect-failure], backoff: {base: 0s}}}
  - name: c
    restart: {startup: 1h}
    handler:
      steps:
        - work: {constant: 1ms}
timeline:
  - {at: 0s, kill: {service: c}}
"#,
    );
    assert_eq!(r.clients[0].sent, 1);
    assert_eq!(r.clients[0].caller.attempts, 3);
    let call = |svc: &str| {
        r.calls
            .iter()
            .find(|c| c.service == svc)
            .unwrap_or_else(|| panic!("no call from {svc}"))
            .counts
    };
    assert_eq!(call("a").attempts, 9);
    assert_eq!(call("a").retries, 6);
    assert_eq!(call("b").attempts, 27);
    assert_eq!(call("b").failed, 9);
    assert_eq!(r.services[2].refused, 27);
}

/// Goodput over `[from_s, end)`: the client's answered share of what it sent.
fn goodput(r: &RunResult, client: &str, from_s: f64) -> f64 {
    let ok = column(r, &format!("{client}.ok"));
    let sent = column(r, &format!("{client}.sent"));
    let (mut o, mut s) = (0.0, 0.0);
    for i in 0..r.series.rows() {
        if r.series.time_s(i) >= from_s {
            o += ok[i];
            s += sent[i];
        }
    }
    o / s
}

/// The bundled retry storm is metastable: 20 minutes after its trigger ended it is
/// still down. Without retries, with a retry budget, with the AWS quota and with a
/// breaker it comes back; back-off with jitter alone does not bring it back.
#[test]
fn the_retry_storm_stays_down_and_its_mitigations_recover() {
    let incident =
        rewind::app::load_incident(&incident_path("retry-storm.yaml"), &Overrides::default())
            .unwrap_or_else(|e| panic!("retry-storm.yaml is invalid: {e}"));
    let spike_end = incident
        .baseline
        .timeline
        .iter()
        .find(|e| e.id.as_deref() == Some("spike-ends"))
        .expect("spike-ends entry")
        .at
        .as_secs_f64();
    let end = incident.baseline.duration.as_secs_f64();
    assert!(
        end - spike_end >= 20.0 * 60.0,
        "the trigger ends 20 min before the end"
    );
    let from = spike_end + 5.0 * 60.0;
    let base = rewind::model::replay(incident.baseline.clone());
    let g = goodput(&base, "web", from);
    assert!(g < 0.05, "baseline goodput after the trigger: {g}");
    for v in &incident.variants {
        let r = rewind::model::replay(v.scenario.clone());
        let g = goodput(&r, "web", from);
        match v.name.as_str() {
            "backoff-jitter" => assert!(g < 0.05, "{}: {g}", v.name),
            _ => assert!(g > 0.99, "{} should recover: goodput {g}", v.name),
        }
    }
}

/// A replica's own shedding: with `concurrency_limit: 3` and a goroutine per request,
/// never more than 3 handlers run; the rest are answered 503 at once, without work.
#[test]
fn a_concurrency_limit_sheds_beyond_it() {
    let r = replay(
        r#"
name: t
duration: 60s
clients:
  - {name: c, to: edge, rate: 10/s, arrivals: constant}
gateways:
  - {name: edge, upstream: [api]}
services:
  - name: api
    concurrency_limit: 3
    handler: {steps: [{work: {constant: 1s}}]}
"#,
    );
    let s = &r.services[0];
    assert_eq!(s.peak_inflight, 3);
    // 10 arrive per second, 3 run at a time for 1 s: 7 of every 10 are shed.
    let shed_share = s.shed as f64 / s.accepted as f64;
    assert!((shed_share - 0.7).abs() < 0.02, "{shed_share}");
    assert_eq!(crate::util::status(&r, 503), s.shed);
}

/// `queue_timeout`: a connection that waited longer than 500 ms for the one worker is
/// answered 503 when the worker reaches it, so no served request waited longer.
#[test]
fn a_queue_timeout_sheds_what_waited_too_long() {
    let r = replay(
        r#"
name: t
duration: 60s
clients:
  - {name: c, to: api, rate: 3/s}
services:
  - name: api
    workers: 1
    queue_timeout: 500ms
    handler: {steps: [{work: {constant: 500ms}}]}
"#,
    );
    let s = &r.services[0];
    assert!(s.shed > 0);
    assert!(s.started > 0);
    assert!(
        s.queue_wait_sum_s / s.started as f64 <= 0.5,
        "mean wait of the served {}",
        s.queue_wait_sum_s / s.started as f64
    );
    assert_eq!(r.clients[0].failed, s.shed);
}

/// A bulkhead of 2 on a call to a slow service: at most 2 calls in flight per caller
/// replica; the others fail at once and the handler answers its error status.
#[test]
fn a_bulkhead_caps_calls_in_flight() {
    let r = replay(
        r#"
name: t
duration: 30s
clients:
  - {name: c, to: front, rate: 10/s, arrivals: constant}
services:
  - name: front
    handler:
      steps:
        - call: {service: back, error_status: 503, bulkhead: {max_concurrent_calls: 2}}
  - name: back
    handler: {steps: [{work: {constant: 1s}}]}
"#,
    );
    let call = r.calls[0].counts;
    assert_eq!(r.services[1].peak_inflight, 2);
    assert!(call.bulkhead_rejected > 0);
    // Every bulkhead rejection fails its call (no retries here).
    assert!(call.failed >= call.bulkhead_rejected);
    assert_eq!(r.clients[0].failed, call.failed);
}

/// A deploy ships a concurrency limit of 3 at 20 s (a rolling update: the new replica
/// takes traffic once it is ready): nothing is shed before, 503s at once after.
#[test]
fn a_deploy_ships_shedding() {
    let r = replay(
        r#"
name: t
duration: 60s
clients:
  - {name: c, to: edge, rate: 10/s, arrivals: constant}
gateways:
  - {name: edge, upstream: [api]}
services:
  - name: api
    handler: {steps: [{work: {constant: 1s}}]}
timeline:
  - {at: 20s, deploy: {service: api, concurrency_limit: 3, shed_status: 429}}
"#,
    );
    let shed = column(&r, "edge.status_429");
    assert!(shed[..20].iter().all(|&v| v == 0.0), "{shed:?}");
    assert!(shed[40..].iter().all(|&v| v >= 6.0), "{shed:?}");
    assert_eq!(crate::util::status(&r, 429), r.services[0].shed);
    assert!(r.services[0].shed > 200);
}

/// `set_client` ships a bulkhead of 2 at 10.5 s on a client calling a 1 s service at
/// 10/s: nothing refused before, 8 of every 10 attempts refused at once after.
#[test]
fn set_client_ships_a_bulkhead() {
    let r = replay(
        r#"
name: t
duration: 30s
clients:
  - {name: c, to: api, rate: 10/s, arrivals: constant}
services:
  - name: api
    handler: {steps: [{work: {constant: 1s}}]}
timeline:
  - {at: 10500ms, set_client: {client: c, bulkhead: {max_concurrent_calls: 2}}}
"#,
    );
    let rejected = column(&r, "c.rejected");
    assert!(rejected[..10].iter().all(|&v| v == 0.0), "{rejected:?}");
    assert!(rejected[12..].iter().all(|&v| v == 8.0), "{rejected:?}");
    assert_eq!(
        r.clients[0].caller.bulkhead_rejected,
        rejected.iter().sum::<f64>() as u64
    );
    assert_eq!(r.services[0].peak_inflight, 10);
}

/// A Hystrix breaker with its defaults on a client with no timeout of its own, calling
/// a service that takes 2 s, 5 calls a second from 0.2 s: each attempt ends at the 1 s
/// execution timeout. The health snapshot at 5.0 s sees 19 failures (1.2 to 4.8 s), the
/// one at 5.5 s 22: it trips at 5.5 s. One trial at the first call strictly after the
/// 5 s sleep window (10.6 s) fails at 11.6 s and re-opens it; then 16.8 and 17.8 s,
/// 23.0 and 24.0 s, 29.2 s.
#[test]
fn a_hystrix_breaker_trips_at_the_health_snapshot_and_tries_one_call_per_sleep_window() {
    let r = replay(
        r#"
name: t
duration: 30s
clients:
  - {name: c, to: api, rate: 5/s, arrivals: constant, breaker: {profile: hystrix}}
services:
  - name: api
    handler: {steps: [{work: {constant: 2s}}]}
"#,
    );
    let times = |kind| -> Vec<f64> {
        occurrences(&r, kind)
            .iter()
            .map(|(t, _)| (t * 1000.0).round() / 1000.0)
            .collect()
    };
    assert_eq!(times("breaker_open"), vec![5.5, 11.6, 17.8, 24.0]);
    assert_eq!(times("breaker_half_open"), vec![10.6, 16.8, 23.0, 29.2]);
    let c = &r.clients[0];
    assert_eq!(c.sent, 149, "0.2 s to 29.8 s");
    // 27 calls before it opened (0.2 to 5.4 s) and 4 trials went out; the rest refused.
    assert_eq!(c.caller.attempts, 31);
    assert_eq!(c.caller.breaker_rejected, 149 - 31);
    assert_eq!(
        c.gave_up, 30,
        "each sent attempt timed out at 1 s (the last one's is past the end)"
    );
}
