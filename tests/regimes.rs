//! Regimes: constant arrivals and constant work times make the backlog's growth and
//! drain exact, so each label's edges are known to within half the one-minute window
//! the signals are taken over; the retry storm is metastable after its spike and only
//! while nothing fixes it.

use rewind::engine::Nanos;
use rewind::outcome::regimes::{Regime, RegimeSpan};
use rewind::outcome::RunResult;

use crate::util::{incident_path, replay};

/// Half the window the signals are centred on: labels move by at most this much.
const HALF_WINDOW_S: f64 = 30.0;

/// One replica of `workers` workers doing 100 ms of work per request, 50 requests a
/// second arriving exactly 20 ms apart, and a timeline.
fn system(workers: u32, timeline: &str) -> String {
    format!(
        r#"
name: regimes
duration: 12m
clients:
  - {{name: users, to: edge, rate: 50/s, arrivals: constant}}
gateways:
  - {{name: edge, upstream: [api], proxy_read_timeout: 10m}}
services:
  - name: api
    replicas: 1
    workers: {workers}
    backlog: 4096
    handler:
      steps: [{{work: {{constant: 100ms}}}}]
timeline:
{timeline}
"#
    )
}

/// The regime at instant `t_s`.
fn regime_at(r: &RunResult, t_s: f64) -> Regime {
    let t = Nanos::from_secs_f64(t_s);
    r.regimes
        .spans
        .iter()
        .find(|s| s.from <= t && t < s.to)
        .map(|s| s.regime)
        .unwrap_or_else(|| panic!("no span holds {t_s} s: {:?}", r.regimes.spans))
}

/// The spans of one regime.
fn spans_of(r: &RunResult, regime: Regime) -> Vec<&RegimeSpan> {
    r.regimes
        .spans
        .iter()
        .filter(|s| s.regime == regime)
        .collect()
}

/// Every instant in `[from_s, to_s]`, a second apart, is in `regime`.
fn holds(r: &RunResult, regime: Regime, from_s: f64, to_s: f64) {
    let mut t = from_s;
    while t <= to_s {
        assert_eq!(regime_at(r, t), regime, "at {t} s: {:?}", r.regimes.spans);
        t += 1.0;
    }
}

/// 10 workers serve 100 a second. From 5m to 8m 120 arrive a second: the backlog
/// grows by 20 a second to 3,600 requests; back at 50 a second it drains at 50 a
/// second, in exactly 72 s. Overloaded from the spike to its end (the change the
/// window sees early is placed at the entry), recovering while it drains, healthy
/// once the window holds no queued request.
#[test]
fn an_overload_grows_the_backlog_and_drains_after_the_trigger_ends() {
    let r = replay(&system(
        10,
        "  - {at: 5m, role: trigger, set_rate: {client: users, rate: 120/s}}\n  - {at: 8m, role: trigger_end, set_rate: {client: users, rate: 50/s}}",
    ));
    let base = r.regimes.baseline.as_ref().expect("a baseline");
    assert_eq!(base.to, Nanos::from_secs(300));
    // Arrivals at 20 ms, 40 ms, ...: 14,999 before 5m; the 5 sent at 299.90 s and
    // after are answered at 300 s or later, in the next row.
    assert!(
        (base.goodput_share - 14_994.0 / 14_999.0).abs() < 1e-12,
        "{base:?}"
    );
    let base_ms = base.ok_mean_ms.expect("a baseline latency");
    assert!((base_ms - 100.0).abs() < 1e-6, "baseline {base_ms} ms");

    let overloaded = spans_of(&r, Regime::Overloaded);
    assert_eq!(overloaded.len(), 1, "{:?}", r.regimes.spans);
    assert_eq!(
        (overloaded[0].from, overloaded[0].to),
        (Nanos::from_secs(300), Nanos::from_secs(480))
    );
    // 3,600 waiting plus the 10 in work at 480 s, the last gauge of the span.
    assert_eq!(overloaded[0].peak_backlog, 3610.0);
    holds(&r, Regime::Healthy, 0.0, 299.0);
    holds(&r, Regime::Recovering, 480.0, 552.0);
    holds(&r, Regime::Healthy, 552.0 + HALF_WINDOW_S + 1.0, 719.0);
    assert!(spans_of(&r, Regime::Metastable).is_empty());
    assert!(spans_of(&r, Regime::Degraded).is_empty());

    // Healthy again the 72 s drain after the spike ends, plus at most half a window.
    let after_end = r.regimes.recovered_after[1]
        .expect("recovers")
        .as_secs_f64();
    assert!(
        (72.0..=72.0 + HALF_WINDOW_S + 1.0).contains(&after_end),
        "recovered {after_end} s after the spike ended"
    );
    let after_trigger = r.regimes.recovered_after[0]
        .expect("recovers")
        .as_secs_f64();
    assert_eq!(after_trigger, 180.0 + after_end);
}

/// A 200 ms injected delay on every request from 5m to 8m: 300 ms instead of 100 on
/// 20 workers, whose 66.7 a second still exceed the 50 that arrive: nothing queues,
/// nothing fails, responses take 3x the baseline's. Degraded, never overloaded.
#[test]
fn slower_without_a_backlog_is_degraded() {
    let r = replay(&system(
        20,
        "  - {at: 5m, role: trigger, set_faults: {service: api, delay: {fixed_delay: 200ms, percentage: 100}}}\n  - {at: 8m, role: fix, set_faults: {service: api}}",
    ));
    let degraded = spans_of(&r, Regime::Degraded);
    assert_eq!(degraded.len(), 1, "{:?}", r.regimes.spans);
    assert_eq!(
        (degraded[0].from, degraded[0].to),
        (Nanos::from_secs(300), Nanos::from_secs(480))
    );
    holds(&r, Regime::Healthy, 0.0, 299.0);
    holds(&r, Regime::Healthy, 480.0 + HALF_WINDOW_S + 1.0, 719.0);
    assert!(spans_of(&r, Regime::Overloaded).is_empty());
    let ms = degraded[0].ok_mean_ms.expect("200s");
    assert!((ms - 300.0).abs() < 1.0, "degraded mean {ms} ms");
    assert_eq!(r.clients[0].failed, 0);
}

/// The bundled retry storm with its story cut to 30 minutes, plus a fix at `fix`
/// (none if empty): the retries are switched off.
fn storm(fix: &str) -> RunResult {
    let path = incident_path("retry-storm.yaml");
    let mut text = std::fs::read_to_string(&path).expect("the bundled retry storm");
    text = text.replace("duration: 40m", "duration: 30m");
    if !fix.is_empty() {
        let entry = format!(
            "  - {{at: {fix}, role: fix, set_client: {{client: web, retry: {{profile: none}}}}}}\n"
        );
        let at = text.find("\nalerts:").map_or(text.len(), |i| i + 1);
        text.insert_str(at, &entry);
    }
    replay(&text)
}

/// After the spike ends at 15m the retries keep it down with no fix: metastable from
/// the trigger's end to the end of the replay, and no recovery after it.
#[test]
fn the_retry_storm_is_metastable_after_its_spike() {
    let r = storm("");
    holds(&r, Regime::Healthy, 0.0, 600.0 - HALF_WINDOW_S);
    let meta = spans_of(&r, Regime::Metastable);
    assert_eq!(meta.len(), 1, "{:?}", r.regimes.spans);
    assert_eq!(meta[0].from, Nanos::from_secs(900));
    assert_eq!(meta[0].to, Nanos::from_secs(1800));
    assert_eq!(meta[0].after_mark, Some(1));
    assert!(meta[0].goodput_share.unwrap_or(1.0) < 0.5);
    assert_eq!(r.regimes.recovered_after[1], None);
}

/// A fix 10 minutes after the spike ends: metastable exactly until the fix, then it
/// comes back. A fix 2 minutes after: never metastable (the fix came within 5 min).
#[test]
fn a_fix_ends_the_metastable_stretch_and_an_early_fix_prevents_it() {
    let late = storm("25m");
    let meta = spans_of(&late, Regime::Metastable);
    assert_eq!(meta.len(), 1, "{:?}", late.regimes.spans);
    assert_eq!(
        (meta[0].from, meta[0].to),
        (Nanos::from_secs(900), Nanos::from_secs(1500))
    );
    let back = late.regimes.recovered_after[2].expect("the fix brings it back");
    assert!(back < Nanos::from_secs(120), "back {back:?} after the fix");

    let early = storm("17m");
    assert!(
        spans_of(&early, Regime::Metastable).is_empty(),
        "{:?}",
        early.regimes.spans
    );
    assert!(early.regimes.recovered_after[2].is_some());
}

/// The bundled incidents whose replay stays down after its trigger ends with no fix
/// are labelled metastable, and no other is: those that come back by themselves or
/// after a fix never are.
#[test]
fn only_the_incidents_stuck_after_their_trigger_are_metastable() {
    let stuck = [
        "retry-storm.yaml",
        "stripe-2015-12-retry-loop.yaml",
        "dynamodb-2015-09-metadata-storm.yaml",
        "facebook-2010-09-config-loop.yaml",
    ];
    let dir = incident_path("retry-storm.yaml")
        .parent()
        .expect("the incidents folder")
        .to_path_buf();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("incidents/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 14, "{files:?}");
    for name in &files {
        let text = std::fs::read_to_string(dir.join(name)).expect("readable");
        let r = replay(&text);
        let metastable = !spans_of(&r, Regime::Metastable).is_empty();
        assert_eq!(
            metastable,
            stuck.contains(&name.as_str()),
            "{name}: {:?}",
            r.regimes.spans
        );
    }
}
