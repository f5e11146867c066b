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

/// A small outage: 20 requests/s, a dependency that fails everything from 2 to 5 min.
const OUTAGE: &str = "name: t\nduration: 8m\nscrape_interval: 15s\nclients:\n  - name: c\n    to: edge\n    rate: 20/s\ngateways:\n  - name: edge\n    upstream: [s]\nservices:\n  - name: s\n    handler:\n      steps:\n        - work: {constant: 5ms}\ntimeline:\n  - at: 2m\n    set_faults: {service: s, abort: {http_status: 500, percentage: 100}}\n  - at: 5m\n    set_faults: {service: s}\n";

const TEAM_RULES: &str = "groups:\n  - name: team\n    interval: 30s\n    rules:\n      - record: edge:errors:rate1m\n        expr: sum(rate(rewind_gateway_responses_total{component=\"edge\",status=~\"5..\"}[1m]))\n      - alert: EdgeErrors\n        expr: edge:errors:rate1m > 5\n        for: 1m\n        labels:\n          team: orders\n";

fn replay_dir(
    incident: &str,
    rules: Option<&str>,
    flags: &[&str],
) -> (tempfile::TempDir, assert_cmd::assert::Assert) {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("incident.yaml"), incident).expect("write incident");
    if let Some(r) = rules {
        std::fs::write(tmp.path().join("team.rules.yml"), r).expect("write rules");
    }
    let assert = assert_cmd::Command::cargo_bin("rewind")
        .expect("binary")
        .current_dir(tmp.path())
        .args(["replay", "-q", "--no-charts", "--out", "o", "incident.yaml"])
        .args(flags)
        .assert();
    (tmp, assert)
}

#[test]
fn a_teams_rules_file_is_evaluated_with_its_recording_rules() {
    let incident = format!("{OUTAGE}alerts_file: team.rules.yml\n");
    let (tmp, assert) = replay_dir(&incident, Some(TEAM_RULES), &[]);
    assert.success();
    let out = tmp.path().join("o");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary"))
            .expect("json");
    let a = &v["alerts"][0];
    assert_eq!(a["name"], "EdgeErrors");
    // Errors from 2:00 at 20/s. The 1m window at 2:30 holds the scrapes from 1:30:
    // 2:00 (no errors yet), 2:15 and 2:30: above 5/s. Pending at 2:30, firing at
    // 3:30 (`for: 1m`), resolved once the window holds no growth, at 6:00.
    assert_eq!(a["first_pending_s"], 150.0);
    assert_eq!(a["first_firing_s"], 210.0);
    assert_eq!(a["first_resolved_s"], 360.0);
    assert_eq!(a["firing"][0]["labels"]["team"], "orders");
    let rules = std::fs::read_to_string(out.join("rules.yml")).expect("rules.yml");
    assert!(rules.contains("record: \"edge:errors:rate1m\""), "{rules}");
}

#[test]
fn the_command_line_adds_a_rules_file() {
    let (tmp, assert) = replay_dir(
        OUTAGE,
        Some(TEAM_RULES),
        &["--alerts-file", "team.rules.yml"],
    );
    assert.success();
    let summary = std::fs::read_to_string(tmp.path().join("o/summary.json")).expect("summary");
    assert!(summary.contains("\"EdgeErrors\""), "{summary}");
}

#[test]
fn a_bad_rules_file_is_located_in_itself_and_a_missing_one_where_it_is_named() {
    let incident = format!("{OUTAGE}alerts_file: team.rules.yml\n");
    let bad = TEAM_RULES.replace("for: 1m", "for: 1 minute");
    let (tmp, assert) = replay_dir(&incident, Some(&bad), &[]);
    let out = assert.code(2).get_output().stderr.clone();
    let err = String::from_utf8_lossy(&out);
    assert!(err.contains("team.rules.yml:9:14:"), "{err}");
    assert!(err.contains("not a Prometheus duration"), "{err}");
    assert!(!tmp.path().join("o").exists(), "nothing written");
    let (_tmp, assert) = replay_dir(&incident, None, &[]);
    let out = assert.code(2).get_output().stderr.clone();
    let err = String::from_utf8_lossy(&out);
    assert!(
        err.contains("incident.yaml:21:14: alerts_file: cannot read rules file"),
        "{err}"
    );
}

#[test]
fn column_rules_read_counters_as_counters() {
    let e = rule_error("avg_over_time(edge.requests[5m]) > 1");
    assert!(e.contains("`edge.requests` is a counter"), "{e}");
    let e = rule_error("rate(s.inflight[5m]) > 1");
    assert!(e.contains("`s.inflight` is a gauge"), "{e}");
}

#[test]
fn check_warns_of_a_rule_that_selects_what_no_replay_exports() {
    let incident = format!("{OUTAGE}alerts_file: team.rules.yml\n");
    let rules = format!(
        "{TEAM_RULES}      - alert: NginxErrors\n        expr: sum(rate(nginx_http_requests_total{{status=~\"5..\"}}[5m])) > 1\n"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("incident.yaml"), incident).expect("write incident");
    std::fs::write(tmp.path().join("team.rules.yml"), rules).expect("write rules");
    let out = assert_cmd::Command::cargo_bin("rewind")
        .expect("binary")
        .current_dir(tmp.path())
        .args(["check", "incident.yaml"])
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8_lossy(&out);
    // The recorded `edge:errors:rate1m` is known; the exporter's name is not.
    assert!(err.contains("team.rules.yml:13:15:"), "{err}");
    assert!(
        err.contains("rule `NginxErrors` selects `nginx_http_requests_total`"),
        "{err}"
    );
    assert!(!err.contains("EdgeErrors"), "{err}");
}
