//! Injected faults (Envoy's fault filter: a delay, then an abort; and resets), switched
//! on and off by the timeline.

use crate::util::replay;

fn sum(r: &rewind::outcome::RunResult, col: &str, rows: std::ops::Range<usize>) -> f64 {
    let c = r.series.column(col).expect("column");
    rows.map(|i| r.series.row(i)[c]).sum()
}

fn system(faults: &str, timeline: &str) -> String {
    format!(
        r#"
name: faults
duration: 60s
clients:
  - {{name: c, to: edge, rate: 100/s, arrivals: constant}}
gateways:
  - {{name: edge, upstream: [api]}}
services:
  - name: api
    handler: {{steps: [{{work: {{constant: 10ms}}}}]}}
{faults}
{timeline}
"#
    )
}

/// An abort for 20 % of requests answers its status to about a fifth of them while it
/// is on, and none once the timeline switches it off.
#[test]
fn an_abort_fault_answers_its_share_until_switched_off() {
    let r = replay(&system(
        "    faults: {abort: {http_status: 503, percentage: 20}}",
        "timeline:\n  - {at: 30s, set_faults: {service: api}}",
    ));
    let on = sum(&r, "edge.status_503", 0..30);
    let sent = sum(&r, "edge.requests", 0..30);
    let sd = (sent * 0.2 * 0.8).sqrt();
    assert!((on - 0.2 * sent).abs() <= 4.0 * sd, "{on} of {sent}");
    assert_eq!(sum(&r, "edge.status_503", 31..60), 0.0);
    assert_eq!(
        r.services[0].faults_injected as f64,
        sum(&r, "edge.status_503", 0..60)
    );
}

/// A delay for every request adds exactly its time; a reset of every connection is a
/// 502 at nginx (with one server there is no next upstream to try).
#[test]
fn delays_add_their_time_and_resets_are_502s() {
    let r = replay(&system(
        "",
        "timeline:\n  - {at: 20s, set_faults: {service: api, delay: {fixed_delay: 1s, percentage: 100}}}\n  - {at: 40s, set_faults: {service: api, reset: {percentage: 100}}}",
    ));
    let mean = |rows: std::ops::Range<usize>| {
        let c = r.series.column("edge.mean_ms").expect("column");
        let v: Vec<f64> = rows
            .map(|i| r.series.row(i)[c])
            .filter(|v| !v.is_nan())
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!((mean(5..19) - 10.0).abs() < 0.01, "{}", mean(5..19));
    assert!((mean(25..39) - 1010.0).abs() < 0.01, "{}", mean(25..39));
    assert_eq!(sum(&r, "edge.status_200", 42..60), 0.0);
    assert_eq!(
        sum(&r, "edge.status_502", 42..60),
        sum(&r, "edge.requests", 42..60)
    );
}
