//! `rewind sweep` and `rewind merge`: a point's row is the replay with its overrides;
//! shards run as separate processes and merged are the whole sweep byte for byte; a
//! resumed sweep runs only the missing points, and a changed file none of the old
//! ones; bad grids, shards and merges are refused with exit code 2 and nothing
//! written; the Kubernetes and Slurm files under deploy/ run the sweep's shards.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;

/// A retry storm small enough to replay in milliseconds: 4 workers serve ~78/s, a
/// spike to 100/s fills the queue past the clients' 1 s timeout, and their retries
/// keep it full; with 8 workers the spike fits. The variant is one point of the grid.
const STORM: &str = r#"
name: storm
title: "a small retry storm"
seed: 7
duration: 4m
resolution: 1s
clients:
  - name: web
    to: edge
    rate: 40/s
    timeout: 1s
    retry:
      attempts: 4
      retry_on: [timeout, 5xx]
      backoff: {base: 100ms, max: 100ms, jitter: none}
gateways:
  - name: edge
    profile: nginx
    upstream: [api]
services:
  - name: api
    replicas: 1
    workers: 4
    handler:
      context: background
      steps:
        - work: {lognormal: {p50: 40ms, p99: 200ms}}
timeline:
  - at: 1m
    id: spike
    role: trigger
    set_rate: {client: web, rate: 100/s}
  - at: 1m20s
    id: spike-ends
    role: trigger_end
    set_rate: {client: web, rate: 40/s}
variants:
  - name: w5-late
    set:
      api.workers: 5
      timeline.spike-ends.at: 1m40s
"#;

/// The grid of the tests: 3 x 2 points, 2 seeds.
const GRID: [&str; 6] = [
    "--vary",
    "api.workers=4,5,8",
    "--vary",
    "timeline.spike-ends.at=1m10s,1m40s",
    "--runs",
    "2",
];

/// A temporary folder holding the storm as `storm.yaml`.
fn storm() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("storm.yaml");
    fs::write(&file, STORM).expect("write");
    (tmp, file)
}

fn rewind() -> Command {
    Command::cargo_bin("rewind").expect("binary")
}

/// `rewind sweep FILE GRID extra... --out out`, which must succeed; its stdout.
fn sweep(file: &Path, out: &Path, extra: &[&str]) -> String {
    let done = rewind()
        .arg("sweep")
        .arg(file)
        .args(GRID)
        .args(extra)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
    String::from_utf8_lossy(&done.get_output().stdout).into_owned()
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The rows of a sweep.csv as maps from column to value.
fn rows(out: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(out.join("sweep.csv")).expect("sweep.csv");
    let header = r.headers().expect("header").clone();
    r.records()
        .map(|rec| {
            let rec = rec.expect("row");
            header
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Every file of a folder below it, with its bytes (the marker included).
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(dir).expect("below").to_path_buf();
                out.push((rel, read(&p)));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_point_is_the_replay_with_its_overrides() {
    let (tmp, file) = storm();
    let out = tmp.path().join("s");
    let printed = sweep(&file, &out, &["-q"]);
    assert!(printed.is_empty(), "-q prints nothing: {printed}");
    let rows = rows(&out);
    assert_eq!(rows.len(), 6);
    // The first axis varies slowest.
    let order: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["api.workers"].as_str(),
                r["timeline.spike-ends.at"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("4", "1m10s"),
            ("4", "1m40s"),
            ("5", "1m10s"),
            ("5", "1m40s"),
            ("8", "1m10s"),
            ("8", "1m40s")
        ]
    );
    // The variant w5-late is the point (5, 1m40s): replay it with both seeds.
    let (mut shares, mut recovered) = (Vec::new(), Vec::new());
    for seed in ["7", "8"] {
        let run = tmp.path().join(format!("replay-{seed}"));
        rewind()
            .args([
                "replay",
                "-q",
                "--no-charts",
                "--variant",
                "w5-late",
                "--seed",
                seed,
            ])
            .arg("--out")
            .arg(&run)
            .arg(&file)
            .assert()
            .success();
        let summary: serde_json::Value =
            serde_json::from_slice(&read(&run.join("summary.json"))).expect("json");
        let c = &summary["clients"][0];
        let (sent, failed) = (
            c["sent"].as_f64().expect("sent"),
            c["failed"].as_f64().expect("failed"),
        );
        shares.push(failed / sent);
        recovered.push(!summary["timeline"][1]["recovered_after_s"].is_null());
    }
    let row = &rows[3];
    assert_eq!(row["runs"], "2");
    assert_eq!(
        row["failed_share"],
        format!("{:.4}", (shares[0] + shares[1]) / 2.0)
    );
    let back = recovered.iter().filter(|&&b| b).count() as f64 / 2.0;
    assert_eq!(row["recovered_share"], format!("{back:.4}"));
    assert_eq!(row["recovery_from"], "spike-ends (trigger_end)");
    // The storm as the grid draws it: 4 workers stay down, 8 come back.
    for r in &rows {
        match r["api.workers"].as_str() {
            "4" => assert_eq!(r["recovered_share"], "0.0000", "{r:?}"),
            "8" => assert_eq!(r["recovered_share"], "1.0000", "{r:?}"),
            _ => {}
        }
    }
    // Two parameters: the map, a PNG and an SVG.
    assert!(read(&out.join("sweep.png")).starts_with(b"\x89PNG"));
    assert!(String::from_utf8(read(&out.join("sweep.svg")))
        .expect("utf-8")
        .contains("<svg"));
}

#[test]
fn shards_merged_are_the_whole_sweep_byte_for_byte() {
    let (tmp, file) = storm();
    let whole = tmp.path().join("whole");
    sweep(&file, &whole, &["-q"]);
    // Three shards at once, each its own process.
    let bin = env!("CARGO_BIN_EXE_rewind");
    let shards: Vec<PathBuf> = (0..3)
        .map(|i| tmp.path().join(format!("shard-{i}")))
        .collect();
    let children: Vec<_> = shards
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            Process::new(bin)
                .arg("sweep")
                .arg(&file)
                .args(GRID)
                .args(["-q", "--shard", &format!("{i}/3"), "--out"])
                .arg(dir)
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    // A shard writes its points, not the table.
    assert!(!shards[0].join("sweep.csv").exists());
    let merged = tmp.path().join("merged");
    let done = rewind()
        .arg("merge")
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .assert()
        .success();
    let printed = String::from_utf8_lossy(&done.get_output().stdout).into_owned();
    assert!(printed.contains("6 points x 2 seeds"), "{printed}");
    for name in ["sweep.csv", "sweep.png", "sweep.svg", "sweep.json"] {
        assert!(
            read(&whole.join(name)) == read(&merged.join(name)),
            "{name} differs between the whole sweep and the merged shards"
        );
    }
    assert_eq!(tree(&whole), tree(&merged));
}

#[test]
fn a_resumed_sweep_runs_only_the_missing_points() {
    let (tmp, file) = storm();
    let dir = tmp.path().join("s");
    // Half the points first (0, 2, 4), then the whole sweep into the same folder.
    let first = sweep(&file, &dir, &["--shard", "0/2"]);
    assert!(first.contains("ran 3, kept 0"), "{first}");
    let kept: Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> = fs::read_dir(dir.join("points"))
        .expect("points")
        .flatten()
        .map(|e| {
            let p = e.path();
            let m = fs::metadata(&p).expect("meta").modified().expect("mtime");
            (p.clone(), read(&p), m)
        })
        .collect();
    assert_eq!(kept.len(), 3);
    let second = sweep(&file, &dir, &[]);
    assert!(second.contains("ran 3, kept 3"), "{second}");
    for (p, bytes, mtime) in &kept {
        assert_eq!(&read(p), bytes, "{} was rewritten", p.display());
        assert_eq!(
            &fs::metadata(p).expect("meta").modified().expect("mtime"),
            mtime,
            "{} was rewritten",
            p.display()
        );
    }
    let fresh = tmp.path().join("fresh");
    sweep(&file, &fresh, &["-q"]);
    for name in ["sweep.csv", "sweep.png", "sweep.svg", "sweep.json"] {
        assert!(read(&dir.join(name)) == read(&fresh.join(name)), "{name}");
    }
    // A point lost (a run killed before it finished) is the only one run again.
    let lost = &kept[0].0;
    fs::remove_file(lost).expect("remove");
    let third = sweep(&file, &dir, &[]);
    assert!(third.contains("ran 1, kept 5"), "{third}");
    assert!(lost.exists());
    assert!(read(&dir.join("sweep.csv")) == read(&fresh.join("sweep.csv")));
    // The same grid over a changed file reuses nothing.
    fs::write(&file, format!("{STORM}# changed\n")).expect("write");
    let changed = sweep(&file, &dir, &[]);
    assert!(changed.contains("ran 6, kept 0"), "{changed}");
}

/// Runs `rewind ARGS` expecting exit code 2 with `needle` in the message.
fn refused(args: &[&std::ffi::OsStr], needle: &str) -> String {
    let done = rewind().args(args).assert().code(2);
    let err = String::from_utf8_lossy(&done.get_output().stderr).into_owned();
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn bad_grids_shards_and_merges_are_refused_with_nothing_written() {
    let (tmp, file) = storm();
    let out = tmp.path().join("never");
    let os = |s: &str| std::ffi::OsString::from(s);
    let sweep_with = |vary: &[&str]| -> Vec<std::ffi::OsString> {
        let mut a = vec![os("sweep"), file.clone().into_os_string()];
        a.extend(vary.iter().map(|s| os(s)));
        a.extend([os("--out"), out.clone().into_os_string()]);
        a
    };
    let cases: [(&[&str], &str); 8] = [
        (&["--vary", "api.nope=1,2"], "api` has no field `nope`"),
        (&["--vary", "db.max_open=1"], "`db` is not a component"),
        (&["--vary", "api.workers=4,,8"], "an empty value"),
        (&["--vary", "api.workers=lots"], "--vary api.workers=lots"),
        (
            &["--vary", "timeline.spike-ends.at=5m"],
            "storm.yaml: sweep point timeline.spike-ends.at=5m: this action at 5m lies outside the replay",
        ),
        (&["--vary", "api.workers=8..4:1"], "from low to high"),
        (
            &["--vary", "api.workers=1..100:1", "--vary", "web.timeout=1s..20s:1s"],
            "more than 1000",
        ),
        (&["--vary", "api.workers=4,8", "--shard", "3/2"], "--shard"),
    ];
    for (vary, needle) in cases {
        let args = sweep_with(vary);
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        refused(&refs, needle);
        assert!(!out.exists(), "{vary:?} wrote {}", out.display());
    }
    // Shards of two different sweeps, and a shard missing.
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    for (dir, runs) in [(&a, "1"), (&b, "2")] {
        rewind()
            .arg("sweep")
            .arg(&file)
            .args(["-q", "--vary", "api.workers=4,8", "--runs", runs, "--shard"])
            .arg(if runs == "1" { "0/2" } else { "1/2" })
            .arg("--out")
            .arg(dir)
            .assert()
            .success();
    }
    let merged = tmp.path().join("merged");
    let merge = |dirs: &[&PathBuf]| -> Vec<std::ffi::OsString> {
        let mut v = vec![os("merge")];
        v.extend(dirs.iter().map(|d| d.as_os_str().to_owned()));
        v.extend([os("--out"), merged.clone().into_os_string()]);
        v
    };
    let args = merge(&[&a, &b]);
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|x| x.as_os_str()).collect();
    refused(&refs, "not shares of one sweep: the seeds");
    let args = merge(&[&a]);
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|x| x.as_os_str()).collect();
    let err = refused(&refs, "1 of 2 points are not finished");
    assert!(err.contains("shard 1/2"), "{err}");
    let args = merge(&[&tmp.path().to_path_buf()]);
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|x| x.as_os_str()).collect();
    refused(&refs, "not a sweep's folder");
    assert!(!merged.exists());
    // A folder with another command's output is not a sweep's to add to.
    let replayed = tmp.path().join("replayed");
    rewind()
        .args(["replay", "-q", "--no-charts", "--duration", "10s", "--out"])
        .arg(&replayed)
        .arg(&file)
        .assert()
        .success();
    let mut args = sweep_with(&["--vary", "api.workers=4,8"]);
    let n = args.len();
    args[n - 1] = replayed.clone().into_os_string();
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|x| x.as_os_str()).collect();
    refused(&refs, "another rewind command's output");
    assert!(!replayed.join("sweep.json").exists());
}

/// The sweep a deploy file asks of shard `index`: its arguments parsed by rewind's own
/// command line, then planned (every point of the grid validated against the file).
fn planned(argv: &[String], index: u32, count: u32) -> (PathBuf, Vec<usize>) {
    use clap::Parser;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cli = rewind::cli::Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let rewind::cli::Job::Sweep(mut opts) = cli.into_job() else {
        panic!("{argv:?} is not a sweep");
    };
    assert_eq!(
        opts.shard,
        Some(rewind::sweep::grid::Shard { index, count }),
        "{argv:?}"
    );
    assert!(opts.quiet, "a batch job's log needs no progress: {argv:?}");
    opts.file = repo.join(&opts.file);
    let plan = rewind::sweep::plan(&opts).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let out = plan.folder.clone();
    (out, plan.points.iter().map(|p| p.index).collect())
}

/// Shard folders distinct, and the shards' points every point of the grid once.
fn shards_cover_the_grid(shards: &[(PathBuf, Vec<usize>)], points_in_readme: usize) {
    let mut all: Vec<usize> = shards.iter().flat_map(|(_, p)| p.clone()).collect();
    all.sort_unstable();
    assert_eq!(all, (0..points_in_readme).collect::<Vec<_>>());
    let mut outs: Vec<&PathBuf> = shards.iter().map(|(o, _)| o).collect();
    outs.sort();
    outs.dedup();
    assert_eq!(outs.len(), shards.len(), "two shards write one folder");
}

/// The number of points of the README's sweep of the retry storm (6 x 6).
const README_POINTS: usize = 36;

#[test]
fn the_kubernetes_indexed_job_runs_every_shard() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = String::from_utf8(read(&repo.join("deploy/k8s-sweep-job.yaml"))).expect("utf-8");
    let job: serde_json::Value = serde_saphyr::from_str(&text).expect("the manifest is YAML");
    assert_eq!(job["kind"], "Job");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().expect("completions") as u32;
    let container = &spec["template"]["spec"]["containers"][0];
    let mut argv: Vec<String> = container["command"]
        .as_array()
        .expect("command")
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect();
    argv.extend(
        container["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|v| v.as_str().expect("a string").to_string()),
    );
    assert_eq!(argv[0], "rewind");
    // As the kubelet does: $(JOB_COMPLETION_INDEX) is the pod's index.
    let shards: Vec<(PathBuf, Vec<usize>)> = (0..n)
        .map(|i| {
            let argv: Vec<String> = argv
                .iter()
                .map(|a| a.replace("$(JOB_COMPLETION_INDEX)", &i.to_string()))
                .collect();
            planned(&argv, i, n)
        })
        .collect();
    shards_cover_the_grid(&shards, README_POINTS);
}

#[test]
fn the_slurm_array_runs_every_shard() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = repo.join("deploy/slurm-sweep.sh");
    let text = String::from_utf8(read(&script)).expect("utf-8");
    let array = text
        .lines()
        .find_map(|l| l.strip_prefix("#SBATCH --array="))
        .expect("an #SBATCH --array line");
    let (lo, hi) = array.split_once('-').expect("--array=0-N");
    assert_eq!(lo, "0", "shards count from 0");
    let n: u32 = hi.trim().parse::<u32>().expect("a number") + 1;
    // A `rewind` on the PATH that writes down the arguments it is given.
    let tmp = tempfile::tempdir().expect("tempdir");
    let bin = tmp.path().join("bin");
    fs::create_dir(&bin).expect("mkdir");
    let stub = bin.join("rewind");
    fs::write(
        &stub,
        "#!/bin/sh\nprintf '%s\\n' rewind \"$@\" > \"$ARGS_FILE\"\n",
    )
    .expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let shards: Vec<(PathBuf, Vec<usize>)> = (0..n)
        .map(|i| {
            let args_file = tmp.path().join(format!("args-{i}"));
            let status = Process::new("bash")
                .arg(&script)
                .current_dir(repo)
                .env("PATH", &path)
                .env("ARGS_FILE", &args_file)
                .env("SLURM_ARRAY_TASK_ID", i.to_string())
                .env("SLURM_ARRAY_TASK_COUNT", n.to_string())
                .status()
                .expect("bash");
            assert!(status.success());
            let argv: Vec<String> = String::from_utf8(read(&args_file))
                .expect("utf-8")
                .lines()
                .map(str::to_string)
                .collect();
            planned(&argv, i, n)
        })
        .collect();
    shards_cover_the_grid(&shards, README_POINTS);
}

/// A point's values are YAML, read before the file is changed: one that is not YAML,
/// or does not fit its path, is said of its flag; a point the file then refuses is
/// named whole, every value as written.
#[test]
fn a_point_s_errors_name_its_flag_or_the_whole_point() {
    let (tmp, file) = storm();
    let out = tmp.path().join("never");
    let cases: [(&[&str], &str); 3] = [
        (
            &["--vary", "api.workers={"],
            "error: --vary api.workers={: `{` is not a YAML value: ",
        ),
        (
            &["--vary", "api.workers=0"],
            "error: --vary api.workers=0: 0 is not allowed here",
        ),
        (
            &["--vary", "api.workers=4", "--vary", "timeline.spike-ends.at=1h"],
            "storm.yaml: sweep point api.workers=4, timeline.spike-ends.at=1h: this action at 1h lies outside the replay",
        ),
    ];
    for (vary, needle) in cases {
        let mut args = vec![std::ffi::OsString::from("sweep"), file.clone().into()];
        args.extend(vary.iter().map(std::ffi::OsString::from));
        args.extend(["--out".into(), out.clone().into()]);
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        refused(&refs, needle);
        assert!(!out.exists(), "{vary:?} wrote {}", out.display());
    }
}
