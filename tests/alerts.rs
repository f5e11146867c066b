//! Alert rules through the whole pipeline: the incident's paging rule, time to detect,
//! and located errors in rule expressions.

use crate::util::{incident_path, occurrences};

#[test]
fn the_paging_rule_of_the_leaky_batch_loop_fires_six_minutes_after_the_first_error() {
    let s = rewind::app::load(&incident_path("leaky-batch-loop.yaml"), &Default::default())
        .expect("valid");
    let r = rewind::model::replay(s);
    let firing: Vec<f64> = occurrences(&r, "alert_firing")
        .iter()
        .map(|o| o.0)
        .collect();
    let pending: Vec<f64> = occurrences(&r, "alert_pending")
        .iter()
        .map(|o| o.0)
        .collect();
    // First 504 at 46:00; the 5-minute rate is above 5% from the 47:00 evaluation, and
    // has held for 5 minutes at 52:00. One firing per outage cycle, none after the fix.
    assert_eq!(pending[0], 47.0 * 60.0);
    assert_eq!(firing[0], 52.0 * 60.0);
    assert_eq!(firing.len(), r.services[0].oom_kills as usize);
    let first_error = r.first_user_visible_error().expect("errors").as_secs_f64();
    assert!(
        (firing[0] - first_error - 359.95).abs() < 0.1,
        "time to detect {}",
        firing[0] - first_error
    );
    let resolved = occurrences(&r, "alert_resolved");
    assert_eq!(resolved.len(), firing.len());
}

#[test]
fn summary_reports_each_rule_with_its_time_to_detect() {
    let (_tmp, out) = crate::util::replay_cli("leaky-batch-loop.yaml", &["--no-charts"]);
    let text = std::fs::read_to_string(out.join("summary.json")).expect("summary");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let alert = &v["alerts"][0];
    assert_eq!(alert["name"], "OrdersErrorRateHigh");
    assert_eq!(alert["first_firing_s"], 3120.0);
    assert!((alert["time_to_detect_s"].as_f64().expect("ttd") - 359.95).abs() < 0.1);
}

fn rule_error(expr: &str) -> String {
    let yaml = format!(
        "name: t\nduration: 1m\nclients:\n  - name: c\n    to: edge\n    rate: 1/s\ngateways:\n  - name: edge\n    upstream: [s]\nservices:\n  - name: s\n    handler:\n      steps:\n        - work: {{constant: 1ms}}\nalerts:\n  - name: r\n    expr: {expr}\n"
    );
    rewind::incident::parse("a.yaml", &yaml, &Default::default())
        .expect_err("an invalid rule")
        .to_string()
}

#[test]
fn rule_errors_point_at_the_offending_character() {
    let e = rule_error("rate(edge.status_5xxx[5m]) > 0.05");
    assert!(
        e.starts_with("a.yaml:17:16: in alert `r`: `edge` has no metric `status_5xxx`"),
        "{e}"
    );
    assert!(e.contains("status_5xx, responses"), "{e}");
    let e = rule_error("rate(edge.responses[5 fortnights]) > 1");
    assert!(
        e.starts_with("a.yaml:17:31: in alert `r`: `5 fortnights` is not a window"),
        "{e}"
    );
    let e = rule_error("rate(edge.responses[5m])");
    assert!(
        e.starts_with("a.yaml:17:35: in alert `r`: expected a comparison"),
        "{e}"
    );
    let e = rule_error("\"rate(nosuch.metric[1m]) > 1\"");
    assert!(
        e.starts_with("a.yaml:17:17: in alert `r`: unknown metric `nosuch.metric`"),
        "{e}"
    );
}
