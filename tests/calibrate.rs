//! `rewind calibrate`: the scores on hand-made series, a replay against its own
//! time series, the observed formats, bad input, and a fit that recovers a known pool
//! size.

use std::fs;
use std::path::{Path, PathBuf};

use rewind::calibrate::observed::{Matcher, ObservedFile};
use rewind::calibrate::score::{grade, score, Grade};
use rewind::calibrate::{align, ColumnKind, Mapping};

use super::util::incident_path;

fn rewind() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("rewind").expect("binary")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn mape_r_bias_and_grade_of_hand_made_series() {
    // |errors| 1 + 2 + 3 + 0 = 6 over 100 observed: 6%; means 25.5 and 25.
    let s = score(&[(11.0, 10.0), (18.0, 20.0), (33.0, 30.0), (40.0, 40.0)]);
    assert_eq!(s.n, 4);
    assert!(close(s.mape.unwrap(), 6.0), "{s:?}");
    assert!(
        close(s.bias, 0.5) && close(s.bias_percent.unwrap(), 2.0),
        "{s:?}"
    );
    // r by hand: deviations (-14.5,-7.5,7.5,14.5) and (-15,-5,5,15).
    let r = (14.5 * 15.0 * 2.0 + 7.5 * 5.0 * 2.0)
        / ((2.0f64 * (14.5 * 14.5 + 7.5 * 7.5)).sqrt() * (2.0f64 * (225.0 + 25.0)).sqrt());
    assert!(close(s.r.unwrap(), r), "{s:?} {r}");
    assert_eq!(s.grade, Grade::Excellent);
    // Twice the observed: perfectly correlated, 100% off.
    let s = score(&[(2.0, 1.0), (4.0, 2.0), (6.0, 3.0)]);
    assert!(close(s.mape.unwrap(), 100.0) && close(s.r.unwrap(), 1.0));
    assert!(close(s.bias, 2.0) && close(s.bias_percent.unwrap(), 100.0));
    assert_eq!(s.grade, Grade::Poor);
    // Zeros: both zero everywhere is a perfect match with no r; nothing observed but
    // something replayed is undefined and poor; one flat series has r 0.
    let s = score(&[(0.0, 0.0), (0.0, 0.0)]);
    assert_eq!((s.mape, s.r, s.grade), (Some(0.0), None, Grade::Excellent));
    let s = score(&[(0.0, 0.0), (3.0, 0.0)]);
    assert_eq!((s.mape, s.grade), (None, Grade::Poor));
    let s = score(&[(5.0, 4.0), (5.0, 6.0)]);
    assert_eq!((s.mape, s.r, s.grade), (Some(20.0), Some(0.0), Grade::Poor));
    // The thresholds, at their edges.
    assert_eq!(grade(Some(9.99), Some(0.951)), Grade::Excellent);
    assert_eq!(grade(Some(10.0), Some(0.99)), Grade::Good);
    assert_eq!(grade(Some(5.0), Some(0.95)), Grade::Good);
    assert_eq!(grade(Some(19.9), Some(0.86)), Grade::Good);
    assert_eq!(grade(Some(34.9), Some(0.71)), Grade::Fair);
    assert_eq!(grade(Some(34.9), Some(0.70)), Grade::Poor);
    assert_eq!(grade(Some(35.0), None), Grade::Poor);
    assert_eq!(grade(Some(12.0), None), Grade::Good);
}

#[test]
fn rows_take_counts_over_their_interval_and_gauges_at_their_end() {
    let csv = "t,n,g\n0,1,10\n1,2,20\n1.5,3,25\n2,4,30\n";
    let f = ObservedFile::parse("o.csv", csv, 0, false).unwrap();
    let series =
        |col: &str, f: &ObservedFile| f.matching(&Matcher::parse(col).unwrap()).unwrap().remove(0);
    let m = Mapping::parse("n=x.sent").unwrap();
    let counts = align(&m, &series("n", &f), ColumnKind::Count, 3, 1.0);
    assert_eq!(counts.observed, vec![1.0, 5.0, 4.0]);
    let gauges = align(&m, &series("g", &f), ColumnKind::Instant, 3, 1.0);
    assert_eq!(gauges.observed, vec![10.0, 25.0, 30.0]);
    // Gauges read at the row's start (a scrape at t) belong to the row that ends at t.
    let f = ObservedFile::parse("o.csv", csv, 0, true).unwrap();
    // The reading at 0 is before the first row's end; the row [1, 2) ends at 2.
    let gauges = align(&m, &series("g", &f), ColumnKind::Instant, 3, 1.0);
    assert_eq!(&gauges.observed[..2], &[20.0, 30.0]);
    assert!(gauges.observed[2].is_nan());
    assert_eq!(gauges.outside, 1);
    // Rows of 2 s: counts add up, the last gauge counts.
    let f = ObservedFile::parse("o.csv", csv, 0, false).unwrap();
    let counts = align(&m, &series("n", &f), ColumnKind::Count, 2, 2.0);
    assert_eq!(counts.observed, vec![6.0, 4.0]);
}

#[test]
fn rfc3339_csv_and_prometheus_json_are_placed_by_the_start() {
    let start_ms = 1_767_225_600_000; // 2026-01-01T00:00:00Z, the default start
    let csv = "timestamp,s504\n2026-01-01T00:00:02Z,7\n2026-01-01T00:00:03.000Z,9\n2025-12-31T23:59:59Z,4\n";
    let f = ObservedFile::parse("o.csv", csv, start_ms, false).unwrap();
    let s = f
        .matching(&Matcher::parse("s504").unwrap())
        .unwrap()
        .remove(0);
    assert_eq!(s.points, vec![(2.0, 7.0), (3.0, 9.0), (-1.0, 4.0)]);
    let t = align(
        &Mapping::parse("s504=e.status_504").unwrap(),
        &s,
        ColumnKind::Count,
        5,
        1.0,
    );
    assert_eq!(t.outside, 1);
    assert_eq!(t.observed[2..4], [7.0, 9.0]);

    let json = prometheus_json(start_ms as f64 / 1e3, &[(1.0, 3.0), (2.0, 5.0)]);
    let f = ObservedFile::parse("q.json", &json, start_ms, false).unwrap();
    let m = Matcher::parse(r#"nginx_http_responses_total{status="504"}"#).unwrap();
    let mut found = f.matching(&m).unwrap();
    assert_eq!(found.len(), 1);
    let s = found.remove(0);
    assert_eq!(s.labels, vec![("status".into(), "504".into())]);
    // A sample at t is read at t: the row that ends there.
    let t = align(
        &Mapping::parse("x=e.status_504").unwrap(),
        &s,
        ColumnKind::Count,
        3,
        1.0,
    );
    assert_eq!(t.observed[..2], [3.0, 5.0]);
    assert_eq!(
        f.matching(&Matcher::parse("nginx_http_responses_total").unwrap())
            .unwrap()
            .len(),
        2
    );
}

/// A range query's answer: `nginx_http_responses_total` for 200 (always 100) and for
/// 504 (`samples`, seconds after `start_s`).
fn prometheus_json(start_s: f64, samples: &[(f64, f64)]) -> String {
    let values = |v: &[(f64, f64)]| {
        v.iter()
            .map(|(t, x)| format!("[{}, \"{x}\"]", start_s + t))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ok: Vec<(f64, f64)> = samples.iter().map(|(t, _)| (*t, 100.0)).collect();
    format!(
        r#"{{"status": "success", "data": {{"resultType": "matrix", "result": [
  {{"metric": {{"__name__": "nginx_http_responses_total", "status": "200"}}, "values": [{}]}},
  {{"metric": {{"__name__": "nginx_http_responses_total", "status": "504"}}, "values": [{}]}}
]}}}}"#,
        values(&ok),
        values(samples)
    )
}

/// `rewind replay -q` of `incidents/observed/S3.yaml` for `duration`: its folder.
fn replay_s3(tmp: &Path, duration: &str) -> PathBuf {
    let out = tmp.join("replayed");
    rewind()
        .args([
            "replay",
            "-q",
            "--no-charts",
            "--duration",
            duration,
            "--out",
        ])
        .arg(&out)
        .arg(incident_path("observed/S3.yaml"))
        .assert()
        .success();
    out
}

fn calibration(folder: &Path) -> serde_json::Value {
    let text = fs::read_to_string(folder.join("calibration/calibration.json")).expect("json");
    serde_json::from_str(&text).expect("valid JSON")
}

#[test]
fn a_replay_against_its_own_time_series_scores_perfectly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let observed = replay_s3(tmp.path(), "90s");
    let out = tmp.path().join("cal");
    let maps = [
        "edge.status_200=edge.status_200",
        "edge.status_504=edge.status_504",
        "api-db.in_use=api-db.in_use",
        "api.inflight=api.inflight",
        "api.memory_mib=api.memory_mib",
        "edge.mean_ms=edge.mean_ms",
    ];
    let mut cmd = rewind();
    cmd.args(["calibrate", "-q", "--duration", "90s", "--observed"])
        .arg(observed.join("timeseries.csv"))
        .arg("--out")
        .arg(&out)
        .arg(incident_path("observed/S3.yaml"));
    for m in maps {
        cmd.args(["--map", m]);
    }
    cmd.assert().success().stdout("");
    let doc = calibration(&out);
    let metrics = doc["metrics"].as_array().expect("metrics");
    assert_eq!(metrics.len(), maps.len());
    // timeseries.csv keeps three decimals: the rest is rounding.
    for m in metrics {
        assert!(m["mape"].as_f64().unwrap() < 1e-3, "{m}");
        assert!(m["r"].as_f64().unwrap() > 1.0 - 1e-9, "{m}");
        assert!(m["bias"].as_f64().unwrap().abs() < 1e-3, "{m}");
        assert_eq!(m["grade"], "excellent", "{m}");
        // Rows with no response have no mean response time.
        if m["column"] != "edge.mean_ms" {
            assert_eq!(m["n"], 90, "{m}");
        }
    }
    for o in doc["onsets"].as_array().expect("onsets") {
        assert_eq!(o["error_s"].as_f64(), Some(0.0), "{o}");
    }
    assert!(doc["onsets"].to_string().contains("first pool exhaustion"));
    for i in 1..=maps.len() {
        let name = format!(
            "overlay-{i:02}-{}.png",
            maps[i - 1].split('=').nth(1).unwrap()
        );
        let png = fs::read(out.join("calibration").join(&name)).expect("overlay chart");
        assert!(png.starts_with(b"\x89PNG"), "{name}");
    }
    assert!(out.join("calibration/calibration.md").is_file());
}

#[test]
fn prometheus_json_and_rfc3339_csv_calibrate_from_the_command_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // S3 starts at 2026-11-26T07:30:29.499Z; its first 504 comes at 68 s.
    let start_s = 1_795_678_229.499;
    let samples: Vec<(f64, f64)> = (1..=90)
        .map(|t| (t as f64, if t > 68 { 100.0 } else { 0.0 }))
        .collect();
    let json = tmp.path().join("q.json");
    fs::write(&json, prometheus_json(start_s, &samples)).unwrap();
    let csv = tmp.path().join("o.csv");
    let mut text = String::from("time,in_use\n");
    for t in 0..90 {
        let ts = jiff::Timestamp::from_millisecond(1_795_678_229_499 + t * 1000).unwrap();
        text.push_str(&format!("{ts},{}\n", if t >= 64 { 20 } else { 1 }));
    }
    fs::write(&csv, text).unwrap();
    let out = tmp.path().join("cal");
    rewind()
        .args(["calibrate", "-q", "--duration", "90s", "--observed"])
        .arg(&json)
        .arg("--observed")
        .arg(&csv)
        .args([
            "--map",
            r#"nginx_http_responses_total{status="504"}=edge.status_504"#,
            "--map",
            "in_use=api-db.in_use",
            "--out",
        ])
        .arg(&out)
        .arg(incident_path("observed/S3.yaml"))
        .assert()
        .success();
    let doc = calibration(&out);
    let m = &doc["metrics"];
    assert_eq!(
        m[0]["observed_series"],
        r#"nginx_http_responses_total{status="504"}"#
    );
    assert_eq!(m[0]["n"], 90);
    assert!(m[0]["mape"].as_f64().unwrap() < 5.0, "{}", m[0]);
    assert_eq!(m[1]["n"], 90);
    assert!(m[1]["r"].as_f64().unwrap() > 0.95, "{}", m[1]);
    let onsets = doc["onsets"].as_array().unwrap();
    let first_504 = onsets.iter().find(|o| o["onset"] == "first 504").unwrap();
    assert_eq!(first_504["observed_s"].as_f64(), Some(68.0), "{first_504}");
}

/// `rewind calibrate` of S3 for 30 s with `args` fails with exit code 2, a message
/// containing `wanted`, and writes nothing.
fn refused(args: &[&str], wanted: &str) {
    refused_of(
        "observed/S3.yaml",
        &[&["--duration", "30s"][..], args].concat(),
        wanted,
    );
}

/// `rewind calibrate` of the bundled incident `file` with `args` fails with exit code
/// 2, a message containing `wanted`, and writes nothing.
fn refused_of(file: &str, args: &[&str], wanted: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("cal");
    let assert = rewind()
        .arg("calibrate")
        .arg(incident_path(file))
        .arg("--out")
        .arg(&out)
        .args(args)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains(wanted), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!out.exists(), "{args:?} wrote {}", out.display());
}

#[test]
fn bad_input_is_refused_with_its_place_and_nothing_written() {
    let csv = incident_path("observed/S3.csv");
    let csv = csv.to_str().unwrap();
    refused(
        &["--observed", csv, "--map", "s504=edge.status_5o4"],
        "`edge.status_5o4` is not a column of this replay's timeseries.csv (the columns of `edge`: edge.requests, edge.status_200",
    );
    refused(
        &["--observed", csv, "--map", "s504=gateway.status_504"],
        "no component is `gateway`",
    );
    refused(
        &[
            "--observed",
            "no/such/file.csv",
            "--map",
            "s504=edge.status_504",
        ],
        "observed file no/such/file.csv",
    );
    refused(&["--observed", csv, "--map", "s504"], "write METRIC=COLUMN");
    refused(
        &["--observed", csv, "--map", "s999=edge.status_504"],
        "no observed series is `s999`",
    );
    refused(
        &[
            "--observed",
            csv,
            "--map",
            "s504=edge.status_504",
            "--fit",
            "api-db.max_open=40..10",
        ],
        "LO must be below HI",
    );
    refused(
        &[
            "--observed",
            csv,
            "--map",
            "s504=edge.status_504",
            "--fit",
            "api-db.max_opne=10..40",
        ],
        "no field `max_opne`",
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = tmp.path().join("bad.csv");
    fs::write(&bad, "t,s504\n0,1\n1,2,3\n").unwrap();
    let bad_s = bad.to_str().unwrap();
    refused(
        &["--observed", bad_s, "--map", "s504=edge.status_504"],
        &format!("{bad_s}:3: 3 fields where the header has 2"),
    );
    fs::write(&bad, "t,s504\n0,1\n1,lots\n").unwrap();
    refused(
        &["--observed", bad_s, "--map", "s504=edge.status_504"],
        &format!("{bad_s}:3: column `s504`: `lots` is not a number"),
    );
    fs::write(&bad, "t,s504\nyesterday,1\n").unwrap();
    refused(
        &["--observed", bad_s, "--map", "s504=edge.status_504"],
        &format!("{bad_s}:2: `yesterday` in the time column `t`"),
    );
    let json = tmp.path().join("q.json");
    fs::write(&json, prometheus_json(0.0, &[(1.0, 1.0)])).unwrap();
    refused(
        &[
            "--observed",
            json.to_str().unwrap(),
            "--map",
            "nginx_http_responses_total=edge.status_504",
        ],
        "2 observed series match",
    );
    fs::write(
        &json,
        r#"{"status": "success", "data": {"resultType": "vector", "result": []}}"#,
    )
    .unwrap();
    refused(
        &[
            "--observed",
            json.to_str().unwrap(),
            "--map",
            "x=edge.status_504",
        ],
        "resultType `vector`",
    );
}

#[test]
fn a_fit_recovers_the_pool_size_the_observations_were_made_with() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Observed: S3 as written, pool 20 (the batch run holds the whole pool).
    let observed = replay_s3(tmp.path(), "80s");
    // The same system believed to have a pool of 35.
    let text = fs::read_to_string(incident_path("observed/S3.yaml")).unwrap();
    assert!(text.contains("max_open: 20"));
    let believed = tmp.path().join("believed.yaml");
    fs::write(&believed, text.replace("max_open: 20", "max_open: 35")).unwrap();
    let run = |out: &Path| {
        rewind()
            .args([
                "calibrate",
                "-q",
                "--no-charts",
                "--duration",
                "80s",
                "--observed",
            ])
            .arg(observed.join("timeseries.csv"))
            .args([
                "--map",
                "api-db.in_use=api-db.in_use",
                "--map",
                "edge.status_504=edge.status_504",
                "--fit",
                "api-db.max_open=10..40",
                "--budget",
                "24",
                "--out",
            ])
            .arg(out)
            .arg(&believed)
            .assert()
            .success();
        fs::read(out.join("calibration/calibration.json")).expect("json")
    };
    let first = run(&tmp.path().join("a"));
    let doc: serde_json::Value = serde_json::from_slice(&first).unwrap();
    let fit = &doc["fit"];
    assert_eq!(fit["unknowns"][0]["found"].as_f64(), Some(20.0), "{fit}");
    assert!(fit["loss"].as_f64().unwrap() < 1e-9, "{fit}");
    assert!(fit["loss_at_file_values"].as_f64().unwrap() > 0.1, "{fit}");
    assert!(fit["evaluations_used"].as_u64().unwrap() <= 24, "{fit}");
    assert_eq!(doc["metrics"][0]["grade"], "excellent");
    // Deterministic: the same search, the same bytes.
    assert_eq!(first, run(&tmp.path().join("b")));
}

/// A search whose range leaves out the file's own value, which made the observations:
/// no candidate beats it, so the file's values are the ones scored and said to be.
#[test]
fn a_fit_that_beats_nothing_scores_the_file_s_own_values() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let observed = replay_s3(tmp.path(), "80s");
    let out = tmp.path().join("o");
    let assert = rewind()
        .args([
            "calibrate",
            "--no-charts",
            "--duration",
            "80s",
            "--observed",
        ])
        .arg(observed.join("timeseries.csv"))
        .args(["--map", "api-db.in_use=api-db.in_use"])
        .args(["--fit", "api-db.max_open=30..40", "--budget", "4", "--out"])
        .arg(&out)
        .arg(incident_path("observed/S3.yaml"))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(
        stdout.contains("no candidate beat the file's values, which are the ones scored"),
        "{stdout}"
    );
    let json = fs::read(out.join("calibration/calibration.json")).expect("json");
    let doc: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
    assert_eq!(doc["fit"]["scored"], "file's own values", "{doc}");
    // The file made the observations: a perfect match, up to the float's last bit.
    assert!(doc["fit"]["loss_at_file_values"].as_f64().expect("a loss") < 1e-9);
    assert!(doc["fit"]["loss"].as_f64().expect("a loss") > 0.01, "{doc}");
    assert_eq!(doc["metrics"][0]["grade"], "excellent");
    let md = fs::read_to_string(out.join("calibration/calibration.md")).expect("md");
    assert!(md.contains("No candidate scored better than the file's own values"));
}

/// A fit under `--variant` sets its candidates over the variant: observed from the
/// variant's own replay (a pool of 40), every candidate that leaves the pool alone
/// matches it exactly, and none of the baseline's (a pool of 20) does.
#[test]
fn a_fit_under_a_variant_sets_its_candidates_over_the_variant() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = incident_path("leaky-batch-loop.yaml");
    let observed = tmp.path().join("observed");
    rewind()
        .args(["replay", "-q", "--no-charts", "--duration", "60m"])
        .args(["--variant", "pool-of-40", "--out"])
        .arg(&observed)
        .arg(&file)
        .assert()
        .success();
    let fit = |variant: &[&str], out: &str| {
        let out = tmp.path().join(out);
        rewind()
            .args(["calibrate", "-q", "--no-charts", "--duration", "60m"])
            .args(variant)
            .arg("--observed")
            .arg(observed.join("timeseries.csv"))
            .args(["--map", "orders-db.in_use=orders-db.in_use"])
            // The fix ships after the replay's end whatever the candidate.
            .args([
                "--fit",
                "timeline.fix.at=100m..140m",
                "--budget",
                "3",
                "--out",
            ])
            .arg(&out)
            .arg(&file)
            .assert()
            .success();
        let json = fs::read(out.join("calibration/calibration.json")).expect("json");
        let doc: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
        doc["fit"]["loss"].as_f64().expect("a loss")
    };
    // A perfect match, up to the float's last bit (as for the file's own values).
    assert!(fit(&["--variant", "pool-of-40"], "variant") < 1e-9);
    assert!(fit(&[], "baseline") > 0.5);
}

/// A range whose end does not fit its path names the file and the value; one whose
/// end the file then refuses names the values before the file's own words, over the
/// baseline and over a variant alike; nothing is written.
#[test]
fn a_fit_s_bad_ends_name_the_file_and_the_values() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let csv = tmp.path().join("o.csv");
    fs::write(&csv, "t,x\n0,1\n1,2\n").unwrap();
    let csv = csv.to_str().unwrap();
    for variant in [&[][..], &["--variant", "pool-of-40"][..]] {
        for (range, wanted) in [
            (
                "orders-db.max_open=0..10",
                "leaky-batch-loop.yaml: `orders-db.max_open` = 0: 0 is not allowed here",
            ),
            (
                "timeline.fix.at=3h..4h",
                "leaky-batch-loop.yaml: with timeline.fix.at = \"3h\": this action at 3h lies outside the replay",
            ),
        ] {
            let flags = ["--observed", csv, "--map", "x=edge.status_504", "--fit", range];
            refused_of("leaky-batch-loop.yaml", &[variant, &flags[..]].concat(), wanted);
        }
    }
}
