//! Alert rules against the real thing: the same series and rules given to rewind and
//! to `promtool test rules` (Prometheus 2.42, Debian's `prometheus` package), which
//! must agree on which alerts fire, with which labels, at every evaluation.
//!
//! Two sources of series: hand-made ones that probe the edges (short windows,
//! `for: 0`, ratios with empty denominators, counters that reset at a restart, gaps
//! longer than the lookback, histograms, subqueries, recording rules), and the
//! series of bundled incidents' replays as `metrics.om` exports them.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use rewind::engine::Nanos;
use rewind::incident::rules_file;
use rewind::outcome::alerts::{self, AlertOutcome, RuleGroup};
use rewind::outcome::exposition::Sample;
use rewind::outcome::promql::{Store, StoredSeries};

/// `promtool`, or a failure that says how to get it.
fn promtool() -> &'static str {
    let ok = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "promtool is not installed: install Debian's `prometheus` package (.ci/run does)"
    );
    "promtool"
}

/// A duration as promtool's test files write it.
fn dur(ms: i64) -> String {
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn label_text(labels: &[(String, String)]) -> String {
    labels
        .iter()
        .map(|(n, v)| format!("{n}={v:?}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A label set, `__name__` among the labels.
type Labels = Vec<(String, String)>;

/// The alerts firing for a rule at an evaluation, by rule name and time (ms).
type Firing<'a> = &'a dyn Fn(&str, i64) -> Vec<Labels>;

/// One input series: its labels (`__name__` among them) and its value at each scrape
/// (`None`: not scraped then).
struct Input {
    labels: Vec<(String, String)>,
    values: Vec<Option<f64>>,
}

impl Input {
    fn stored(&self, scrape_ms: i64) -> StoredSeries {
        StoredSeries {
            labels: self.labels.clone(),
            samples: self
                .values
                .iter()
                .enumerate()
                .filter_map(|(k, v)| {
                    v.map(|value| Sample {
                        at_ms: k as i64 * scrape_ms,
                        value,
                    })
                })
                .collect(),
        }
    }

    fn promtool_line(&self) -> String {
        let name = self
            .labels
            .iter()
            .find(|(n, _)| n == "__name__")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let rest: Vec<(String, String)> = self
            .labels
            .iter()
            .filter(|(n, _)| n != "__name__")
            .cloned()
            .collect();
        let values: Vec<String> = self
            .values
            .iter()
            .map(|v| match v {
                None => "_".to_string(),
                Some(x) if x.is_nan() => "NaN".to_string(),
                Some(x) if x.is_infinite() => if *x > 0.0 { "Inf" } else { "-Inf" }.to_string(),
                Some(x) => format!("{x:?}"),
            })
            .collect();
        format!(
            "      - series: '{name}{{{}}}'\n        values: '{}'\n",
            label_text(&rest),
            values.join(" ")
        )
    }
}

/// Whether an alert with these labels is firing at `t` by rewind's spans.
fn firing_at(outcome: &AlertOutcome, t: Nanos) -> Vec<Vec<(String, String)>> {
    outcome
        .spans
        .iter()
        .filter(|s| s.from <= t && s.to.is_none_or(|to| t < to))
        .map(|s| {
            s.labels
                .iter()
                .filter(|(n, _)| n != "alertname")
                .cloned()
                .collect()
        })
        .collect()
}

/// Write a promtool test over `inputs` that expects, for each alerting rule of
/// `rules_yml` (all evaluated every `eval_ms`), exactly the alerts `firing` says at
/// every evaluation up to `end_ms`, and run promtool on it. Returns how many
/// (evaluation, alert) firings were expected, so callers can check the test is not
/// vacuous.
#[allow(clippy::too_many_arguments)]
fn promtool_agrees(
    dir: &Path,
    rules_yml: &str,
    rule_names: &[String],
    eval_ms: i64,
    inputs: &[Input],
    scrape_ms: i64,
    end_ms: i64,
    firing: Firing,
) -> usize {
    let promtool = promtool();
    let mut test = String::new();
    let _ = writeln!(
        test,
        "rule_files:\n  - rules.yml\nevaluation_interval: {}",
        dur(eval_ms)
    );
    let _ = writeln!(
        test,
        "tests:\n  - interval: {}\n    input_series:",
        dur(scrape_ms)
    );
    for i in inputs {
        test.push_str(&i.promtool_line());
    }
    test.push_str("    alert_rule_test:\n");
    let mut fired = 0;
    let mut t = 0;
    while t <= end_ms {
        for name in rule_names {
            let alerts = firing(name, t);
            fired += alerts.len();
            let _ = writeln!(
                test,
                "      - eval_time: {}\n        alertname: {}",
                dur(t),
                name
            );
            if alerts.is_empty() {
                test.push_str("        exp_alerts: []\n");
                continue;
            }
            test.push_str("        exp_alerts:\n");
            for labels in alerts {
                if labels.is_empty() {
                    test.push_str("          - exp_labels: {}\n");
                    continue;
                }
                test.push_str("          - exp_labels:\n");
                for (n, v) in labels {
                    let _ = writeln!(test, "              {n}: {v:?}");
                }
            }
        }
        t += eval_ms;
    }
    std::fs::write(dir.join("rules.yml"), rules_yml).expect("write rules.yml");
    std::fs::write(dir.join("test.yml"), &test).expect("write test.yml");
    let out = Command::new(promtool)
        .args(["test", "rules", "test.yml"])
        .current_dir(dir)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool disagrees with rewind:\n{}\n{}\n(test file in {})",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        dir.display()
    );
    fired
}

/// Evaluate `groups` with rewind's library over `inputs`, and check promtool agrees.
fn agree(
    dir: &Path,
    rules_yml: &str,
    groups: &[RuleGroup],
    inputs: &[Input],
    scrape_ms: i64,
    end_ms: i64,
) -> usize {
    let interval = groups[0].interval;
    assert!(
        groups.iter().all(|g| g.interval == interval),
        "promtool evaluates every group at one interval"
    );
    let mut store = Store::from_series(inputs.iter().map(|i| i.stored(scrape_ms)).collect());
    let (_, outcomes) = alerts::evaluate(groups, &mut store, Nanos(end_ms as u64 * 1_000_000));
    for o in &outcomes {
        assert!(o.error.is_none(), "rule {} failed: {:?}", o.name, o.error);
    }
    let names: Vec<String> = outcomes.iter().map(|o| o.name.clone()).collect();
    let firing = |name: &str, t: i64| {
        outcomes
            .iter()
            .filter(|o| o.name == name)
            .flat_map(|o| firing_at(o, Nanos(t as u64 * 1_000_000)))
            .collect()
    };
    promtool_agrees(
        dir,
        rules_yml,
        &names,
        (interval.0 / 1_000_000) as i64,
        inputs,
        scrape_ms,
        end_ms,
        &firing,
    )
}

fn input(name: &str, labels: &[(&str, &str)], values: Vec<Option<f64>>) -> Input {
    let mut l: Vec<(String, String)> = labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    l.push(("__name__".into(), name.into()));
    l.sort();
    Input { labels: l, values }
}

/// Hand-made series over 40 minutes, scraped every 15 s: request counters by code
/// that reset at a restart, a counter that never moves (the empty denominator), a
/// gauge with short gaps and a gap longer than the 5-minute lookback, and a latency
/// histogram whose slow buckets fill during the trouble.
fn probe_inputs() -> Vec<Input> {
    let scrapes = 160;
    let mut ok = Vec::new();
    let mut err = Vec::new();
    let mut queue = Vec::new();
    let (mut ok_total, mut err_total) = (0.0f64, 0.0f64);
    let bounds = ["0.1", "0.25", "0.5", "1", "+Inf"];
    let mut buckets: Vec<Vec<Option<f64>>> = vec![Vec::new(); bounds.len()];
    let mut cum = [0.0f64; 5];
    for k in 0..scrapes {
        let t = k as f64 * 15.0;
        // A restart at 20 min: the process's counters start again from zero.
        if k == 80 {
            ok_total = 0.0;
            err_total = 0.0;
        }
        ok.push(Some(ok_total));
        err.push(Some(err_total));
        ok_total += 150.0 + 45.0 * (t / 97.0).sin();
        let trouble = (40..70).contains(&k) || (100..104).contains(&k);
        if trouble {
            err_total += 30.0 + 10.0 * (t / 31.0).cos();
        }
        // Gaps: two missed scrapes at 5 min, and 6 minutes of none from 27 min.
        let gauge = 4.0 + 5.0 * (t / 300.0).sin() + if trouble { 4.0 } else { 0.0 };
        queue.push(if (20..22).contains(&k) || (108..132).contains(&k) {
            None
        } else {
            Some(gauge.round())
        });
        let slow_share = if trouble { 0.6 } else { 0.05 };
        let n = 150.0;
        let per_bucket = [
            n * (1.0 - slow_share) * 0.7,
            n * (1.0 - slow_share) * 0.3,
            n * slow_share * 0.3,
            n * slow_share * 0.4,
            n * slow_share * 0.3,
        ];
        let mut running = 0.0;
        for (b, add) in per_bucket.iter().enumerate() {
            running += add;
            buckets[b].push(Some(cum[b].round()));
            cum[b] += running;
        }
    }
    let mut inputs = vec![
        input("req_total", &[("code", "200")], ok),
        input("req_total", &[("code", "500")], err),
        input("empty_total", &[], vec![Some(0.0); scrapes]),
        input("queue_depth", &[], queue),
    ];
    for (b, le) in bounds.iter().enumerate() {
        inputs.push(input(
            "latency_seconds_bucket",
            &[("le", le)],
            std::mem::take(&mut buckets[b]),
        ));
    }
    inputs
}

const PROBE_RULES: &str = r#"groups:
  - name: probes
    interval: 20s
    rules:
      - record: code:req:rate1m
        expr: sum by (code) (rate(req_total[1m]))
      - alert: ShortWindow
        expr: rate(req_total{code="500"}[30s]) > 0
      - alert: EmptyDenominator
        expr: sum(rate(req_total{code="500"}[1m])) / sum(rate(empty_total[1m])) > 0.1
      - alert: ZeroOverZero
        expr: sum(rate(empty_total[1m])) / sum(rate(empty_total[1m])) > 0.1
      - alert: IncreaseAcrossRestart
        expr: increase(req_total{code="200"}[2m]) > 1300
        for: 1m
      - alert: Restarted
        expr: resets(req_total[5m]) > 0
      - alert: QueueAvg
        expr: avg_over_time(queue_depth[1m]) > 8
        for: 30s
      - alert: QueueMax
        expr: max_over_time(queue_depth[45s]) > 10
      - alert: QueueNow
        expr: queue_depth > 9
      - alert: QueueGone
        expr: absent(queue_depth)
      - alert: SlowP99
        expr: histogram_quantile(0.99, sum by (le) (rate(latency_seconds_bucket[1m]))) > 0.9
      - alert: ByCode
        expr: code:req:rate1m > 1.5
        for: 40s
      - alert: Sticky
        expr: rate(req_total{code="500"}[1m]) > 1
        keep_firing_for: 2m
      - alert: ErrorRatio
        expr: code:req:rate1m{code="500"} / ignoring(code) code:req:rate1m{code="200"} > 0.15
        labels:
          severity: page
      - alert: Trend
        expr: predict_linear(queue_depth[2m], 300) > 15
      - alert: Subquery
        expr: max_over_time(rate(req_total{code="500"}[1m])[3m:30s]) > 2.2
      - alert: Both
        expr: (rate(req_total{code="500"}[1m]) > 0.5) and on() (queue_depth > 6)
      - alert: Instantaneous
        expr: irate(req_total{code="200"}[1m]) > 12.5
      - alert: DeltaGauge
        expr: delta(queue_depth[2m]) > 3
"#;

#[test]
fn probe_rules_fire_exactly_when_promtool_fires_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let groups =
        rules_file::parse("rules.yml", PROBE_RULES, &mut Vec::new()).expect("valid probe rules");
    let inputs = probe_inputs();
    let end_ms = 159 * 15_000;
    let fired = agree(dir.path(), PROBE_RULES, &groups, &inputs, 15_000, end_ms);
    // Not vacuous: the probes fire, and each fires at some evaluation except the
    // 0/0 ratio, which never does.
    assert!(fired > 100, "only {fired} firings");
    let mut store = Store::from_series(inputs.iter().map(|i| i.stored(15_000)).collect());
    let (_, outcomes) = alerts::evaluate(&groups, &mut store, Nanos::from_secs(2385));
    for o in &outcomes {
        if o.name == "ZeroOverZero" {
            assert_eq!(o.firings, 0, "0/0 is NaN and never fires");
        } else {
            assert!(
                o.firings > 0,
                "{} never fired: the probe probes nothing",
                o.name
            );
        }
    }
}

/// `name{a="b",...} value timestamp` lines of an OpenMetrics text, as inputs on the
/// scrape grid (timestamps made relative to the first), with the scrape interval.
fn read_openmetrics(text: &str) -> (Vec<Input>, i64) {
    let mut series: Vec<(Labels, Vec<(i64, f64)>)> = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (rest, ts) = line.rsplit_once(' ').expect("a timestamp");
        let (sel, value) = rest.rsplit_once(' ').expect("a value");
        let (name, body) = match sel.split_once('{') {
            Some((n, b)) => (n, b.strip_suffix('}').expect("closing brace")),
            None => (sel, ""),
        };
        let mut labels = vec![("__name__".to_string(), name.to_string())];
        let mut chars = body.chars().peekable();
        while chars.peek().is_some() {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert_eq!(chars.next(), Some('"'));
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('n') => v.push('\n'),
                        Some(o) => v.push(o),
                        None => {}
                    },
                    '"' => break,
                    _ => v.push(c),
                }
            }
            if chars.peek() == Some(&',') {
                chars.next();
            }
            labels.push((key, v));
        }
        labels.sort();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().expect("a number"),
        };
        let ms = (ts.parse::<f64>().expect("a timestamp") * 1000.0).round() as i64;
        match series.iter_mut().find(|(l, _)| *l == labels) {
            Some((_, s)) => s.push((ms, value)),
            None => series.push((labels, vec![(ms, value)])),
        }
    }
    let start = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|x| x.0))
        .min()
        .expect("samples");
    let mut times: Vec<i64> = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|x| x.0))
        .collect();
    times.sort();
    times.dedup();
    let scrape_ms = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .min()
        .expect("two scrapes");
    let scrapes = ((times[times.len() - 1] - start) / scrape_ms + 1) as usize;
    let inputs = series
        .into_iter()
        .map(|(labels, samples)| {
            let mut values = vec![None; scrapes];
            for (ms, v) in samples {
                values[((ms - start) / scrape_ms) as usize] = Some(v);
            }
            Input { labels, values }
        })
        .collect();
    (inputs, scrape_ms)
}

/// Replay a bundled incident and check that promtool, given its `metrics.om` and its
/// `rules.yml`, fires the alerts `summary.json` says fired, at every evaluation.
fn bundled_incident_agrees(file: &str) -> usize {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let status = Command::new(env!("CARGO_BIN_EXE_rewind"))
        .args(["replay", file, "--no-charts", "--quiet", "--out"])
        .arg(&out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run rewind");
    assert!(status.success(), "replay of {file} failed");
    let om = std::fs::read_to_string(out.join("metrics.om")).expect("metrics.om");
    let rules: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(out.join("rules.yml")).expect("rules.yml"))
            .expect("rules.yml is YAML");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("summary.json")).expect("summary.json"),
    )
    .expect("summary.json is JSON");
    let (inputs, scrape_ms) = read_openmetrics(&om);
    let end_ms = (summary["duration_s"].as_f64().expect("duration_s") * 1000.0) as i64;
    let alerts = summary["alerts"].as_array().expect("alerts").clone();
    let mut fired = 0;
    for (g, group) in rules["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .enumerate()
    {
        // promtool evaluates every group of a test at one interval: one group a run.
        let one = serde_json::json!({ "groups": [group] });
        let names: Vec<String> = group["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .filter_map(|r| r["alert"].as_str().map(String::from))
            .collect();
        let eval_ms = alerts
            .iter()
            .find(|a| names.iter().any(|n| a["name"] == n.as_str()))
            .and_then(|a| a["evaluation_interval_s"].as_f64())
            .map_or(60_000, |s| (s * 1000.0) as i64);
        let firing = |name: &str, t: i64| -> Vec<Vec<(String, String)>> {
            alerts
                .iter()
                .filter(|a| a["name"] == name)
                .flat_map(|a| a["firing"].as_array().cloned().unwrap_or_default())
                .filter(|span| {
                    let from = (span["from_s"].as_f64().unwrap_or(f64::MAX) * 1000.0) as i64;
                    let to = span["to_s"].as_f64().map(|s| (s * 1000.0) as i64);
                    from <= t && to.is_none_or(|to| t < to)
                })
                .map(|span| {
                    let mut l: Vec<(String, String)> = span["labels"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .filter(|(k, _)| *k != "alertname")
                                .map(|(k, v)| {
                                    (k.clone(), v.as_str().unwrap_or_default().to_string())
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    l.sort();
                    l
                })
                .collect()
        };
        let sub = dir.path().join(format!("group-{g}"));
        std::fs::create_dir_all(&sub).expect("group dir");
        fired += promtool_agrees(
            &sub,
            &one.to_string(),
            &names,
            eval_ms,
            &inputs,
            scrape_ms,
            end_ms,
            &firing,
        );
    }
    fired
}

#[test]
fn bundled_incidents_alerts_fire_when_promtool_fires_them() {
    for file in [
        "incidents/leaky-batch-loop.yaml",
        "incidents/honeycomb-rds-2018-05.yaml",
        "incidents/stripe-2015-10-index-drop.yaml",
        "incidents/retry-storm.yaml",
    ] {
        let fired = bundled_incident_agrees(file);
        assert!(
            fired > 0,
            "{file}: no alert fired, so promtool was asked nothing"
        );
    }
}
