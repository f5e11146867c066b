//! Same file, same seed, same version: byte-identical output. Another seed: not.

use std::fs;
use std::path::Path;

use assert_cmd::Command;

use crate::util::incident_path;

fn replay_to(dir: &Path, seed: u64) {
    Command::cargo_bin("rewind")
        .expect("binary")
        .args(["replay", "--quiet", "--seed", &seed.to_string(), "--out"])
        .arg(dir)
        .arg(incident_path("leaky-batch-loop.yaml"))
        .assert()
        .success();
}

/// The outputs, with the one line that may differ (the wall time) taken out.
fn outputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    ["timeseries.csv", "events.jsonl", "summary.json"]
        .iter()
        .map(|f| {
            let bytes = fs::read(dir.join(f)).expect("output written");
            let bytes = if *f == "summary.json" {
                String::from_utf8(bytes)
                    .expect("utf-8")
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("\"wall_s\""))
                    .collect::<Vec<_>>()
                    .join("\n")
                    .into_bytes()
            } else {
                bytes
            };
            (f.to_string(), bytes)
        })
        .collect()
}

#[test]
fn same_seed_gives_identical_bytes_and_another_seed_does_not() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let seed = 20261126;
    replay_to(&a, seed);
    replay_to(&b, seed);
    replay_to(&c, seed + 1);
    for ((name, x), (_, y)) in outputs(&a).iter().zip(outputs(&b).iter()) {
        assert!(x == y, "{name} differs between two runs with seed {seed}");
    }
    let differs = outputs(&a)
        .iter()
        .zip(outputs(&c).iter())
        .filter(|((_, x), (_, y))| x != y)
        .count();
    assert!(
        differs >= 2,
        "seed {} and {} gave the same output",
        seed,
        seed + 1
    );
    let summary =
        String::from_utf8(fs::read(a.join("summary.json")).expect("summary")).expect("utf-8");
    assert!(summary.contains("\"wall_s\""), "the wall time is reported");
}

#[test]
fn renderers_are_pure_functions_of_the_run() {
    let s = rewind::app::load(&incident_path("defer-in-loop.yaml"), &Default::default())
        .expect("valid");
    let one = rewind::model::replay(s.clone());
    let two = rewind::model::replay(s.clone());
    let r1 = rewind::app::render(&s, &one, None).expect("render");
    let r2 = rewind::app::render(&s, &two, None).expect("render");
    assert_eq!(r1.timeseries_csv, r2.timeseries_csv);
    assert_eq!(r1.events_jsonl, r2.events_jsonl);
    assert_eq!(r1.summary_json, r2.summary_json);
}
