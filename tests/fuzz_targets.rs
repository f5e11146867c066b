//! The fuzz targets: arbitrary input through `check`, a short replay and everything
//! rendered from it, a rules file, a PromQL expression. Each returns normally for any
//! input; a panic, a mislocated error or a failed rendering is a finding.
//!
//! Shared by the smoke test (`fuzz.rs`, structure-aware inputs) and the AFL++
//! binaries under `fuzz/` (byte-level inputs), which include this file by path, so it
//! uses nothing but the `rewind` library.

use std::time::{Duration, Instant};

use rewind::engine::Nanos;
use rewind::incident::{self, Incident, IncidentError, Overrides};
use rewind::model::spec::Scenario;
use rewind::outcome::promql;
use rewind::report::{self, Report};

/// How errors name the fuzzed file.
pub const FILE: &str = "fuzz.yaml";

/// Simulated time a fuzzed replay is cut to: long enough for start-ups, probes,
/// autoscaler syncs and a few alert evaluations, short enough to run thousands.
pub const REPLAY_SECONDS: u64 = 60;

/// The event budget of a fuzzed replay (`--max-events`): at the engine's few million
/// events per second, a replay within it takes seconds, so [`HANG`] beyond that is a
/// hang, not a slow input.
pub const MAX_EVENTS: u64 = 20_000_000;

/// The longest a replay within [`MAX_EVENTS`] is expected to take: 20 million events
/// at a conservative million a second.
pub const ESTIMATE_BOUND: Duration = Duration::from_secs(20);

/// Wall time beyond its estimate after which a replay counts as hung.
pub const HANG: Duration = Duration::from_secs(60);

/// The README's memory bound for any file `check` accepts.
pub const MEMORY_BOUND_BYTES: u64 = 2 << 30;

/// `rewind check` of `bytes`: the incident when valid; an invalid one must be refused
/// with an error naming the file and, when located, a line of the file.
pub fn check(bytes: &[u8]) -> Option<Incident> {
    let text = as_text(bytes)?;
    match incident::parse_incident(FILE, text, &Overrides::default()) {
        Ok(i) => Some(i),
        Err(e) => {
            assert_located(&e, text);
            None
        }
    }
}

/// The incident of `bytes` as a short replay sees it (`--duration` at most
/// [`REPLAY_SECONDS`], `--max-events` [`MAX_EVENTS`]), when `check` accepts it and
/// the shortened replay fits the smaller budget.
pub fn short(bytes: &[u8]) -> Option<Incident> {
    let text = as_text(bytes)?;
    let full = incident::parse_incident(FILE, text, &Overrides::default()).ok()?;
    let cap = Nanos::from_secs(REPLAY_SECONDS);
    let overrides = Overrides {
        seed: None,
        duration: Some(if full.baseline.duration > cap {
            cap
        } else {
            full.baseline.duration
        }),
        max_events: Some(MAX_EVENTS),
    };
    match incident::parse_incident(FILE, text, &overrides) {
        Ok(i) => Some(i),
        Err(e) => {
            assert_located(&e, text);
            None
        }
    }
}

/// Replay `scenario` and render every output a replay writes; `charts` adds the PNG
/// and SVG charts and the HTML report that embeds them. Returns the wall time the
/// simulation took.
pub fn replay(scenario: &Scenario, charts: bool) -> Duration {
    let started = Instant::now();
    let result = rewind::model::replay(scenario.clone());
    let wall = started.elapsed();
    // Every rendering must succeed: a failure here is a replay whose folder is never
    // written.
    let rendered = match rewind::app::render(scenario, &result, None) {
        Ok(r) => r,
        Err(e) => panic!("rendering failed: {e}"),
    };
    assert!(!rendered.timeseries_csv.is_empty(), "empty timeseries.csv");
    assert!(!rendered.summary_json.is_empty(), "empty summary.json");
    assert!(
        rendered.metrics_om.ends_with("# EOF\n"),
        "metrics.om does not end with # EOF"
    );
    let rep = Report {
        scenario,
        result: &result,
    };
    let postmortem = report::postmortem(&rep, &report::Provenance { file: FILE }, charts);
    let _ = postmortem.markdown();
    let _ = report::rules_yml(scenario);
    let _ = report::terminal_summary(&rep, "output/fuzz", charts);
    if charts {
        let rendered = match report::charts::render_charts(&rep) {
            Ok(c) => c,
            Err(e) => panic!("charts failed: {e}"),
        };
        assert!(!rendered.is_empty(), "no charts");
        let _ = report::html::page(&postmortem, &rendered);
    }
    wall
}

/// A Prometheus rules file (`--alerts-file`): groups, or an error naming the file.
/// True when the file is accepted.
pub fn rules(bytes: &[u8]) -> bool {
    let Some(text) = as_text(bytes) else {
        return false;
    };
    if text.len() > incident::rules_file::MAX_RULES_FILE_BYTES {
        return false;
    }
    match incident::rules_file::parse("rules.yml", text, &mut Vec::new()) {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(e.file, "rules.yml", "{e}");
            false
        }
    }
}

/// A PromQL expression: checked, and when rewind accepts it, its sample budget
/// computed and the expression evaluated over a few series at a few instants. True
/// when the expression is accepted.
pub fn promql(bytes: &[u8]) -> bool {
    let Some(text) = as_text(bytes) else {
        return false;
    };
    let Ok(expr) = promql::check(text) else {
        return false;
    };
    for (scrape_ms, step_ms) in [(0, 0), (1, 1), (15_000, 60_000), (u64::MAX, u64::MAX)] {
        let _ = promql::samples_per_evaluation(&expr, scrape_ms, step_ms);
    }
    let store = promql::Store::from_series(series());
    for at in [0, 1, 300_000, 3_600_000] {
        // An evaluation may fail (a type error the checker cannot see); never panic.
        let _ = promql::instant(&expr, &store, at, 15_000);
    }
    true
}

/// A few series, with the awkward values: zeros, a reset, NaN, infinities.
fn series() -> Vec<promql::StoredSeries> {
    use rewind::outcome::exposition::Sample;
    let labels = |name: &str, job: &str| {
        vec![
            ("__name__".to_string(), name.to_string()),
            ("job".to_string(), job.to_string()),
        ]
    };
    let samples = |values: &[f64]| -> Vec<Sample> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Sample {
                at_ms: i as i64 * 15_000,
                value: *v,
            })
            .collect()
    };
    let mut out = Vec::new();
    for (name, job, values) in [
        (
            "edge_responses_total",
            "edge",
            &[0.0, 5.0, 9.0, 2.0, 7.0][..],
        ),
        (
            "edge_status_5xx_total",
            "edge",
            &[0.0, 0.0, 1.0, 1.0, 3.0][..],
        ),
        (
            "edge_responses_total",
            "orders",
            &[f64::NAN, 1.0, f64::INFINITY, -1.0, 0.0],
        ),
        ("up", "orders", &[1.0, 0.0, 1.0, 1e308, -1e308][..]),
    ] {
        out.push(promql::StoredSeries {
            labels: labels(name, job),
            samples: samples(values),
        });
    }
    out
}

/// The text of `bytes`, as the app reads a file: UTF-8 and within the size limit.
fn as_text(bytes: &[u8]) -> Option<&str> {
    if bytes.len() as u64 > incident::MAX_FILE_BYTES {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// An error names the file; a located one points into it (a line the file has, or the
/// one past its end where the reader met the end).
fn assert_located(e: &IncidentError, text: &str) {
    assert_eq!(e.file, FILE, "{e}");
    assert!(!e.message.trim().is_empty(), "an empty message: {e:?}");
    if e.line > 0 {
        assert!(e.column > 0, "a line without a column: {e}");
        let lines = text.lines().count() as u64;
        assert!(
            e.line <= lines + 1,
            "line {} of a file of {lines} lines: {e}",
            e.line
        );
    }
}

/// The process's peak resident memory so far (`VmHWM`), where Linux tells it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
