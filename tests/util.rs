//! Helpers shared by the test modules.

use rewind::incident::{self, Overrides};
use rewind::model::spec::Scenario;
use rewind::outcome::{RunResult, STATUSES};

/// Parse an incident given inline; panics with the located error if it is invalid.
pub fn scenario(yaml: &str) -> Scenario {
    match incident::parse("test.yaml", yaml, &Overrides::default()) {
        Ok(s) => s,
        Err(e) => panic!("test incident is invalid:\n{e}"),
    }
}

/// Parse and replay an inline incident.
pub fn replay(yaml: &str) -> RunResult {
    rewind::model::replay(scenario(yaml))
}

/// Responses of the first gateway with this status.
pub fn status(r: &RunResult, code: u16) -> u64 {
    let i = STATUSES
        .iter()
        .position(|c| *c == code)
        .expect("a tracked status");
    r.gateways[0].by_status[i]
}

/// Time of the first response of this status at the first gateway, seconds.
pub fn first(r: &RunResult, code: u16) -> Option<f64> {
    let i = STATUSES
        .iter()
        .position(|c| *c == code)
        .expect("a tracked status");
    r.gateways[0].first[i].map(|t| t.as_secs_f64())
}

/// Occurrences of one kind, as (seconds, detail).
pub fn occurrences(r: &RunResult, kind: &str) -> Vec<(f64, String)> {
    r.occurrences
        .iter()
        .filter(|o| o.kind == kind)
        .map(|o| (o.at.as_secs_f64(), o.detail.clone()))
        .collect()
}

/// Mean and standard error of independent replications.
pub fn mean_and_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// The values of time-series column `name` (a missing column fails the test).
pub fn column(r: &RunResult, name: &str) -> Vec<f64> {
    r.series
        .column_values(name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// The sum of column `name` over the run.
pub fn column_sum(r: &RunResult, name: &str) -> f64 {
    column(r, name).iter().sum()
}

/// The largest value of column `name` over the run (empty intervals, NaN, skipped).
pub fn column_max(r: &RunResult, name: &str) -> f64 {
    column(r, name)
        .into_iter()
        .filter(|v| !v.is_nan())
        .fold(0.0, f64::max)
}

/// How many standard errors a statistical check allows: a false alarm is then a
/// 1-in-15,000 event for a correct model.
pub const Z: f64 = 4.0;

/// Require `theory` within `Z` standard errors of the mean of independent
/// replications' `estimates`, and the standard error at most `max_relative_se` of
/// `theory` (a check with too little data to tell cannot pass).
pub fn check(what: &str, estimates: &[f64], theory: f64, max_relative_se: f64) {
    let (mean, se) = mean_and_se(estimates);
    assert!(
        se <= max_relative_se * theory,
        "{what}: standard error {se:.5} is too large to test against {theory:.5} (add data)"
    );
    assert!(
        (mean - theory).abs() <= Z * se,
        "{what}: simulated {mean:.5} vs theory {theory:.5}, off by {:.1} standard errors (se {se:.5}, seeds 1..={})",
        (mean - theory).abs() / se,
        estimates.len()
    );
}

/// The path of a bundled incident file.
pub fn incident_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("incidents")
        .join(name)
}

/// `rewind replay -q [flags] --out <tmp>/o incidents/<name>` must succeed; returns the
/// temporary folder (keep it alive) and the output folder.
pub fn replay_cli(name: &str, flags: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("o");
    assert_cmd::Command::cargo_bin("rewind")
        .expect("binary")
        .args(["replay", "-q"])
        .args(flags)
        .arg("--out")
        .arg(&out)
        .arg(incident_path(name))
        .assert()
        .success();
    (tmp, out)
}
