//! `rules.yml`: the replay's alerting and recording rules as a Prometheus rules file,
//! with the incident file's column-language expressions written as the PromQL over
//! the exported series that rewind evaluated. `promtool check rules` accepts it, and a
//! Prometheus loading it over `metrics.om` evaluates exactly what the replay did.

use std::fmt::Write;

use crate::engine::Nanos;
use crate::model::spec::Scenario;
use crate::outcome::alerts::Rule;
use crate::outcome::promql::Labels;

/// A YAML double-quoted scalar (JSON's string syntax is YAML's).
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// A duration in Prometheus's syntax, in whole milliseconds (`1h30m`, `90s`, `250ms`).
pub fn prometheus_duration(d: Nanos) -> String {
    let mut ms = d.0 / 1_000_000;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (size, unit) in [
        (86_400_000u64, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
        (1, "ms"),
    ] {
        if ms >= size {
            let _ = write!(out, "{}{unit}", ms / size);
            ms %= size;
        }
    }
    out
}

fn write_labels(o: &mut String, key: &str, labels: &Labels) {
    if labels.is_empty() {
        return;
    }
    let _ = writeln!(o, "        {key}:");
    for (n, v) in labels {
        let _ = writeln!(o, "          {n}: {}", quoted(v));
    }
}

/// The rules file of a replay (empty `groups` when it has no rules).
pub fn rules_yml(scenario: &Scenario) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Alerting and recording rules of {}, as Prometheus evaluates them over metrics.om.",
        scenario.name
    );
    if scenario.rule_groups.is_empty() {
        o.push_str("groups: []\n");
        return o;
    }
    o.push_str("groups:\n");
    for g in &scenario.rule_groups {
        let _ = writeln!(o, "  - name: {}", quoted(&g.name));
        let _ = writeln!(o, "    interval: {}", prometheus_duration(g.interval));
        o.push_str("    rules:\n");
        for r in &g.rules {
            match r {
                Rule::Alert(a) => {
                    let _ = writeln!(o, "      - alert: {}", quoted(&a.name));
                    let _ = writeln!(o, "        expr: {}", quoted(&a.promql));
                    if a.hold > Nanos::ZERO {
                        let _ = writeln!(o, "        for: {}", prometheus_duration(a.hold));
                    }
                    if a.keep_firing_for > Nanos::ZERO {
                        let _ = writeln!(
                            o,
                            "        keep_firing_for: {}",
                            prometheus_duration(a.keep_firing_for)
                        );
                    }
                    write_labels(&mut o, "labels", &a.labels);
                    write_labels(&mut o, "annotations", &a.annotations);
                }
                Rule::Record(r) => {
                    let _ = writeln!(o, "      - record: {}", quoted(&r.record));
                    let _ = writeln!(o, "        expr: {}", quoted(&r.promql));
                    write_labels(&mut o, "labels", &r.labels);
                }
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_prometheus_syntax() {
        assert_eq!(prometheus_duration(Nanos::from_secs(90)), "1m30s");
        assert_eq!(prometheus_duration(Nanos::from_secs(3600)), "1h");
        assert_eq!(prometheus_duration(Nanos(250_000_000)), "250ms");
        assert_eq!(prometheus_duration(Nanos::ZERO), "0s");
    }
}
