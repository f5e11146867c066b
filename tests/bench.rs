//! `rewind bench` on tiny configurations: the JSON lines are well formed and the bundled
//! benchmark models are valid incident files. Nothing here times anything: speed is
//! measured by `rewind bench` and `bench/compare.py` (BENCHMARKS.md), never by tests.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

fn rewind() -> Command {
    Command::cargo_bin("rewind").expect("binary")
}

/// Run `rewind bench ARGS` and parse its lines.
fn bench(args: &[&str]) -> Vec<Value> {
    let out = rewind().arg("bench").args(args).output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn positive(line: &Value, key: &str) -> f64 {
    let x = line[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` is not a number in {line}"));
    assert!(x > 0.0 && x.is_finite(), "`{key}` is {x} in {line}");
    x
}

fn assert_well_formed(line: &Value) {
    assert!(line["label"]
        .as_str()
        .is_some_and(|l| l.starts_with("rewind_")));
    assert!(line["events"].as_u64().is_some_and(|e| e > 0), "{line}");
    assert!(line["customers"].as_u64().is_some_and(|c| c > 0), "{line}");
    for key in [
        "simulated_s",
        "sim_loop_wall_s",
        "events_per_s",
        "customers_per_s",
    ] {
        positive(line, key);
    }
    assert_eq!(line["runs"], 1);
    if cfg!(target_os = "linux") {
        assert!(
            line["peak_rss_kib"].as_u64().is_some_and(|k| k > 0),
            "{line}"
        );
        assert!(line["peak_rss_source"].is_string());
    }
}

#[test]
fn bench_all_prints_one_well_formed_line_per_model_with_ratios_to_references() {
    let lines = bench(&[
        "--model",
        "all",
        "--runs",
        "1",
        "--horizon",
        "100s",
        "--scale",
        "0.01",
    ]);
    let labels: Vec<&str> = lines.iter().map(|l| l["label"].as_str().unwrap()).collect();
    assert_eq!(
        labels,
        [
            "rewind_mmc",
            "rewind_leaky-batch-loop",
            "rewind_overload",
            "rewind_replicas-10",
            "rewind_replicas-1000"
        ]
    );
    for line in &lines {
        assert_well_formed(line);
    }
    // Each incident model replays 1% of its file's duration.
    assert_eq!(lines[0]["simulated_s"], 100.0);
    assert_eq!(lines[2]["simulated_s"], 72.0);
    assert_eq!(lines[3]["simulated_s"], 300.0);
    assert_eq!(lines[4]["simulated_s"], 3.0);
    for (line, reference, target) in [
        (&lines[2], "rewind_mmc", 0.5),
        (&lines[4], "rewind_replicas-10", 0.5),
    ] {
        assert_eq!(line["reference"], reference);
        assert_eq!(line["target_ratio"], target);
        assert!(line["target_met"].is_boolean());
        let ratio = positive(line, "ratio_to_reference");
        let expected = line["events_per_s"].as_f64().unwrap()
            / line["reference_events_per_s"].as_f64().unwrap();
        assert!((ratio - expected).abs() <= 1e-9 * expected, "{line}");
    }
    for line in [&lines[0], &lines[1], &lines[3]] {
        assert!(line.get("ratio_to_reference").is_none(), "{line}");
    }
}

#[test]
fn bench_overload_measures_its_reference_in_the_same_run() {
    let lines = bench(&[
        "--model",
        "overload",
        "--runs",
        "1",
        "--horizon",
        "50s",
        "--scale",
        "0.005",
    ]);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["label"], "rewind_mmc");
    assert_eq!(lines[1]["label"], "rewind_overload");
    for line in &lines {
        assert_well_formed(line);
    }
    assert_eq!(lines[1]["reference_events_per_s"], lines[0]["events_per_s"]);
}

#[test]
fn bench_keeps_the_mmc_and_incident_flags() {
    let lines = bench(&["--model", "mmc", "--runs", "1", "--horizon", "200s"]);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["label"], "rewind_mmc");
    assert_eq!(lines[0]["simulated_s"], 200.0);
    assert_well_formed(&lines[0]);
    positive(&lines[0], "mean_wait_queue_s");

    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("incidents/defer-in-loop.yaml");
    let lines = bench(&[
        "--model",
        "incident",
        "--runs",
        "1",
        "--scale",
        "0.02",
        "--incident",
        file.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["model"], "incident");
    assert_well_formed(&lines[0]);
}

#[test]
fn bench_rejects_a_scale_shorter_than_the_resolution() {
    let out = rewind()
        .args(["bench", "--model", "replicas", "--scale", "0.001"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--scale"), "{stderr}");
}

#[test]
fn check_accepts_every_bundled_benchmark_model() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("bench/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    for f in files {
        rewind().arg("check").arg(&f).assert().success();
    }
}
