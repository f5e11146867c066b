//! `metrics.om`: the replay's metrics in the OpenMetrics 1.0 text format
//! (<https://github.com/prometheus/OpenMetrics/blob/v1.0.0/specification/OpenMetrics.md>),
//! with timestamps, for `promtool tsdb create-blocks-from openmetrics` to turn into
//! Prometheus blocks.
//!
//! Each family is written whole: `# TYPE`, `# UNIT` (when the name ends in a unit),
//! `# HELP`, then its series one after another, each series' samples in time order
//! (promtool appends a series' samples in file order and refuses one older than the
//! last). `# EOF` ends it. The text is a pure function of the exposition and the start
//! instant: the same file and seed give the same bytes.

use std::fmt::Write;

use crate::model::spec::Scenario;
use crate::outcome::exposition::{self, escape_label_value, Exposition, MetricType};
use crate::outcome::RunResult;

/// The replay's `metrics.om`.
pub fn metrics_om(scenario: &Scenario, result: &RunResult) -> String {
    let components = crate::model::components(scenario);
    let exposition = exposition::expose(&components, result);
    render(&exposition, scenario.start_unix_ms)
}

/// The exposition as OpenMetrics text, its samples at `start_unix_ms` + their time.
pub fn render(exposition: &Exposition, start_unix_ms: i64) -> String {
    let samples: usize = exposition.series().map(|s| s.samples.len()).sum();
    let mut out = String::with_capacity(samples * 96 + 4096);
    for f in &exposition.families {
        let kind = match f.kind {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        };
        let _ = writeln!(out, "# TYPE {} {kind}", f.name);
        if let Some(unit) = unit_of(&f.name) {
            let _ = writeln!(out, "# UNIT {} {unit}", f.name);
        }
        let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(&f.help));
        for s in &f.series {
            let mut prefix = s.name.clone();
            if !s.labels.is_empty() {
                prefix.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        prefix.push(',');
                    }
                    let _ = write!(prefix, "{k}=\"{}\"", escape_label_value(v));
                }
                prefix.push('}');
            }
            for sample in &s.samples {
                let _ = writeln!(
                    out,
                    "{prefix} {} {}",
                    number(sample.value),
                    timestamp(start_unix_ms.saturating_add(sample.at_ms))
                );
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// The unit a family's name ends with, for `# UNIT` (OpenMetrics requires the name to
/// end with it; only base units are used).
fn unit_of(name: &str) -> Option<&'static str> {
    ["seconds", "bytes"]
        .into_iter()
        .find(|u| name.ends_with(&format!("_{u}")))
}

/// Help text escaped as OpenMetrics requires: backslash and line feed.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value: integers without a fraction, others in the shortest form that reads
/// back as the same double.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

/// A timestamp in seconds, as OpenMetrics writes them, for an instant in milliseconds.
/// Prometheus reads a timestamp as a double and truncates it times 1000 to whole
/// milliseconds, so a fraction that no double holds exactly (`.001`) may read back a
/// millisecond early; such a one gets a trailing `4` (0.4 ms more), which every reader
/// that rounds or truncates reads as the intended millisecond.
pub fn timestamp(unix_ms: i64) -> String {
    let (secs, ms) = (unix_ms.div_euclid(1000), unix_ms.rem_euclid(1000));
    if ms == 0 {
        return secs.to_string();
    }
    let text = format!("{secs}.{ms:03}");
    let reads_back = text
        .parse::<f64>()
        .is_ok_and(|f| (f * 1000.0) as i64 == unix_ms);
    if reads_back {
        text.trim_end_matches('0').to_string()
    } else {
        format!("{text}4")
    }
}
