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
