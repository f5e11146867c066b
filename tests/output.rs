//! The output folder is never lost and rewind never destroys what is not its own;
//! standard output never panics.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

use crate::util::incident_path;

fn rewind() -> Command {
    Command::cargo_bin("rewind").expect("binary")
}

/// A quick replay's flags: one simulated minute, no charts.
const QUICK: [&str; 5] = ["replay", "-q", "--no-charts", "--duration", "1m"];

/// Every path under `dir` with its contents (empty for folders), sorted.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("ls") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(dir).expect("inside").to_path_buf();
            if path.is_dir() {
                stack.push(path);
                all.push((rel, Vec::new()));
            } else {
                all.push((rel, fs::read(&path).expect("read")));
            }
        }
    }
    all.sort();
    all
}

/// Names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Run `cmd`, require exit code `code`, return its stderr.
fn fails_with(cmd: &mut Command, code: i32) -> String {
    let out = cmd.output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    stderr
}

#[test]
fn a_folder_holding_the_incident_file_is_refused_and_the_file_survives() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("incidents");
    fs::create_dir(&dir).expect("mkdir");
    let file = dir.join("defer-in-loop.yaml");
    fs::copy(incident_path("defer-in-loop.yaml"), &file).expect("copy");
    let before = tree(tmp.path());
    // The folder that holds the file, and one of its ancestors.
    for out in [dir.clone(), tmp.path().to_path_buf()] {
        for command in [&QUICK[..], &["compare", "-q", "--no-charts"]] {
            let err = fails_with(rewind().args(command).arg("--out").arg(&out).arg(&file), 2);
            assert!(err.contains("holds the incident file"), "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert_eq!(tree(tmp.path()), before, "--out {}", out.display());
        }
    }
    // A link to the incident file inside a folder rewind wrote would go with the folder.
    #[cfg(unix)]
    {
        let out = tmp.path().join("o");
        rewind()
            .args(QUICK)
            .arg("--out")
            .arg(&out)
            .arg(&file)
            .assert()
            .success();
        let link = out.join("incident.yaml");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        let err = fails_with(rewind().args(QUICK).arg("--out").arg(&out).arg(&link), 2);
        assert!(err.contains("holds the incident file"), "{err}");
        assert!(link.exists());
    }
}

#[test]
fn dot_and_dot_dot_are_refused_and_leave_nothing_behind() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cwd = tmp.path().join("a/b");
    fs::create_dir_all(&cwd).expect("mkdir");
    for out in [".", "..", "./", "../b/.."] {
        let err = fails_with(
            rewind()
                .current_dir(&cwd)
                .args(QUICK)
                .args(["--out", out])
                .arg(incident_path("defer-in-loop.yaml")),
            2,
        );
        assert!(err.contains("has no name of its own"), "{err}");
        assert_eq!(names(tmp.path()), ["a"], "--out {out}");
        assert_eq!(names(&tmp.path().join("a")), ["b"], "--out {out}");
        assert!(names(&cwd).is_empty(), "--out {out}: {:?}", names(&cwd));
    }
}

#[test]
fn an_out_that_is_a_file_is_refused_and_left_untouched() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let notes = tmp.path().join("notes.txt");
    fs::write(&notes, "mine").expect("write");
    let err = fails_with(
        rewind()
            .args(QUICK)
            .arg("--out")
            .arg(&notes)
            .arg(incident_path("defer-in-loop.yaml")),
        2,
    );
    assert!(err.contains("is a file"), "{err}");
    assert_eq!(fs::read_to_string(&notes).expect("kept"), "mine");
    assert_eq!(names(tmp.path()), ["notes.txt"]);
}

#[test]
fn a_non_empty_folder_not_written_by_rewind_is_refused_and_left_untouched() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let photos = tmp.path().join("photos");
    fs::create_dir(&photos).expect("mkdir");
    fs::write(photos.join("cat.jpg"), "meow").expect("write");
    let before = tree(tmp.path());
    for command in [&QUICK[..], &["compare", "-q", "--no-charts"]] {
        let err = fails_with(
            rewind()
                .args(command)
                .arg("--out")
                .arg(&photos)
                .arg(incident_path("defer-in-loop.yaml")),
            2,
        );
        assert!(err.contains("was not written by rewind"), "{err}");
        assert_eq!(tree(tmp.path()), before);
    }
}

#[test]
fn a_replay_into_an_existing_rewind_folder_replaces_it_completely() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("o");
    let replay = || {
        rewind()
            .args(QUICK)
            .arg("--out")
            .arg(&out)
            .arg(incident_path("defer-in-loop.yaml"))
            .assert()
            .success();
    };
    replay();
    fs::write(out.join("stale.txt"), "from an older run").expect("write");
    replay();
    assert!(!out.join("stale.txt").exists());
    assert!(out.join("summary.json").is_file());
    assert!(out.join(rewind::outdir::MARKER).is_file());
    assert_eq!(names(tmp.path()), ["o"], "no temporary folder or lock left");
}

#[test]
fn leftovers_of_killed_runs_are_removed_only_when_marked_as_rewinds() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Process numbers above Linux's largest (2^22), so no live process has them.
    for (name, marked) in [
        (".o.tmp-90000001", true),
        (".o.old-90000002", true),
        (".o.tmp-90000003", false),
    ] {
        let dir = tmp.path().join(name);
        fs::create_dir(&dir).expect("mkdir");
        fs::write(dir.join("summary.json"), "{}").expect("write");
        if marked {
            fs::write(dir.join(rewind::outdir::MARKER), "").expect("write");
        }
    }
    rewind()
        .args(QUICK)
        .arg("--out")
        .arg(tmp.path().join("o"))
        .arg(incident_path("defer-in-loop.yaml"))
        .assert()
        .success();
    assert_eq!(names(tmp.path()), [".o.tmp-90000003", "o"]);
}

#[test]
fn an_unreadable_incident_file_exits_1_and_a_missing_one_2() {
    // Reading /proc/self/mem at offset 0 fails with EIO, even for root.
    #[cfg(target_os = "linux")]
    {
        let err = fails_with(rewind().args(["check", "/proc/self/mem"]), 1);
        assert!(err.contains("cannot read incident file"), "{err}");
    }
    let err = fails_with(rewind().args(["check", "no-such-incident.yaml"]), 2);
    assert!(err.contains("cannot read incident file"), "{err}");
}

#[test]
fn graph_into_a_closed_pipe_ends_quietly() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rewind"))
        .arg("graph")
        .arg(incident_path("leaky-batch-loop.yaml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // The reader goes away before rewind has parsed the file, as `| true` does.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[cfg(target_os = "linux")]
#[test]
fn check_into_a_full_disk_says_so_in_one_line() {
    let full = fs::File::create("/dev/full").expect("/dev/full");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rewind"))
        .arg("check")
        .arg(incident_path("leaky-batch-loop.yaml"))
        .stdout(full)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: writing to standard output:"),
        "{stderr}"
    );
}

/// A replay that would take minutes, into `out`; killed when dropped.
#[cfg(unix)]
struct LongReplay {
    child: Child,
    /// Holds the incident file it replays.
    _file_dir: tempfile::TempDir,
}

#[cfg(unix)]
impl LongReplay {
    /// Start it and wait until it has claimed `out` (its temporary folder exists).
    fn start(out: &Path) -> LongReplay {
        // The seed incident for 700 hours: about 100 million requests and 2.5
        // million one-second rows, past the default budgets, so its copy raises the
        // one and takes minute rows.
        let file_dir = tempfile::tempdir().expect("tempdir");
        let file = file_dir.path().join("long.yaml");
        let text = fs::read_to_string(incident_path("leaky-batch-loop.yaml"))
            .expect("read")
            .replace("resolution: 1s", "resolution: 1m");
        fs::write(
            &file,
            format!("{text}\nlimits: {{max_requests: 200000000}}\n"),
        )
        .expect("write");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_rewind"))
            .args(["replay", "-q", "--no-charts", "--duration", "700h"])
            .args(["--max-events", "100000000000", "--out"])
            .arg(out)
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut run = LongReplay {
            child,
            _file_dir: file_dir,
        };
        let tmp = out.with_file_name(format!(
            ".{}.tmp-{}",
            out.file_name().expect("named").to_string_lossy(),
            run.child.id()
        ));
        let started = Instant::now();
        while !tmp.join(rewind::outdir::MARKER).is_file() {
            if let Some(status) = run.child.try_wait().expect("wait") {
                panic!("the long replay ended early: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no {} after 20 s",
                tmp.display()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        run
    }

    /// Send `signal` and return the exit code.
    fn stop(mut self, signal: rustix::process::Signal) -> Option<i32> {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, signal).expect("signal");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "still running 10 s after the signal"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(unix)]
impl Drop for LongReplay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(unix)]
#[test]
fn sigint_during_a_replay_removes_its_temporary_folder_and_keeps_the_previous_output() {
    use rustix::process::Signal;
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("o");
    rewind()
        .args(QUICK)
        .arg("--out")
        .arg(&out)
        .arg(incident_path("defer-in-loop.yaml"))
        .assert()
        .success();
    let previous = tree(&out);
    for (signal, code) in [(Signal::INT, 130), (Signal::TERM, 143)] {
        let run = LongReplay::start(&out);
        assert_eq!(run.stop(signal), Some(code));
        assert_eq!(names(tmp.path()), ["o"], "after signal {code}");
        assert_eq!(tree(&out), previous);
    }
}

#[cfg(unix)]
#[test]
fn a_second_run_into_a_folder_being_written_fails_at_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("o");
    let run = LongReplay::start(&out);
    let holder = format!("another rewind run (process {})", run.child.id());
    for command in [&QUICK[..], &["compare", "-q", "--no-charts"]] {
        let err = fails_with(
            rewind()
                .args(command)
                .arg("--out")
                .arg(&out)
                .arg(incident_path("defer-in-loop.yaml")),
            1,
        );
        assert!(err.contains(&holder), "{err}");
    }
    let tmp_of_first = format!(".o.tmp-{}", run.child.id());
    assert_eq!(names(tmp.path()), [".o.lock", tmp_of_first.as_str()]);
    assert_eq!(run.stop(rustix::process::Signal::INT), Some(130));
    assert!(names(tmp.path()).is_empty(), "{:?}", names(tmp.path()));
    // Once the first has ended, the folder is free.
    rewind()
        .args(QUICK)
        .arg("--out")
        .arg(&out)
        .arg(incident_path("defer-in-loop.yaml"))
        .assert()
        .success();
}
