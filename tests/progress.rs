//! Progress: the bar shows simulated time, events/s and the time left on a terminal,
//! and clears itself; off a terminal (and with `-q`) nothing reaches standard error;
//! a watched replay is the same replay.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assert_cmd::Command;
use indicatif::{ProgressDrawTarget, TermLike};

use rewind::app::mmc_scenario;
use rewind::engine::{Nanos, WATCH_EVERY};
use rewind::progress::{Progress, REDRAW};

use crate::util::incident_path;

/// A terminal that keeps what is drawn on it: the lines written, and `<clear>` where a
/// line was erased.
#[derive(Debug, Clone, Default)]
struct Screen(Arc<Mutex<String>>);

impl Screen {
    fn push(&self, s: &str) -> io::Result<()> {
        self.0
            .lock()
            .map(|mut t| t.push_str(s))
            .map_err(|_| io::Error::other("poisoned"))
    }
    fn text(&self) -> String {
        self.0.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

impl TermLike for Screen {
    fn width(&self) -> u16 {
        160
    }
    fn move_cursor_up(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        self.push(&format!("{s}\n"))
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        self.push(s)
    }
    fn clear_line(&self) -> io::Result<()> {
        self.push("<clear>")
    }
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_bar_shows_simulated_time_events_per_second_and_the_time_left_then_clears() {
    let screen = Screen::default();
    let progress = Progress::to(ProgressDrawTarget::term_like_with_hz(
        Box::new(screen.clone()),
        100,
    ));
    assert!(progress.is_shown());
    let length = Nanos::from_secs(9000);
    let mut bar = progress.replay("leaky-batch-loop", length);
    for k in 1..=3u64 {
        std::thread::sleep(REDRAW + Duration::from_millis(20));
        bar.watch(Nanos::from_secs(1500 * k), 2_000_000 * k);
    }
    let drawn = screen.text();
    for needle in [
        "leaky-batch-loop",
        "1h 15m/2h 30m simulated",
        "events/s",
        "ETA",
    ] {
        assert!(drawn.contains(needle), "`{needle}` missing from:\n{drawn}");
    }
    bar.finish(length, 6_000_000);
    progress.clear();
    let after = screen.text();
    assert!(
        after[drawn.len()..].contains("<clear>"),
        "the bar was not cleared:\n{after}"
    );
}

#[test]
fn a_hidden_progress_draws_nothing_and_a_watched_replay_is_the_same_replay() {
    let progress = Progress::hidden();
    assert!(!progress.is_shown());
    let scenario = mmc_scenario(90.0, 10, 0.1, None, Nanos::from_secs(2000), 42);
    let plain = rewind::model::replay(scenario.clone());
    let mut calls = Vec::new();
    let mut bar = progress.replay("mmc", scenario.duration);
    let watched = rewind::model::replay_watched(scenario.clone(), |now, events| {
        calls.push((now, events));
        bar.watch(now, events);
    });
    bar.finish(scenario.duration, watched.events);
    assert!(plain.events > 2 * WATCH_EVERY, "{} events", plain.events);
    // Called every WATCH_EVERY events, at a clock that never goes back.
    assert_eq!(calls.len() as u64, plain.events / WATCH_EVERY);
    assert!(calls
        .iter()
        .enumerate()
        .all(|(i, &(_, e))| e == (i as u64 + 1) * WATCH_EVERY));
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
    let render = |r: &rewind::outcome::RunResult| {
        let out = rewind::app::render(&scenario, r, None).expect("render");
        (out.timeseries_csv, out.events_jsonl, out.summary_json)
    };
    assert_eq!(render(&plain), render(&watched));
}

/// A command whose standard error is a pipe, as in CI: it succeeds and writes nothing
/// there.
fn stderr_of(args: &[&str]) -> (String, String) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = Command::cargo_bin("rewind")
        .expect("binary")
        .args(args)
        .arg("--out")
        .arg(tmp.path().join("o"))
        .arg(incident_path("leaky-batch-loop.yaml"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

#[test]
fn off_a_terminal_a_replay_and_a_compare_write_nothing_on_standard_error() {
    let (stdout, stderr) = stderr_of(&["replay", "--no-charts", "--duration", "50m"]);
    assert!(
        stdout.contains("wrote "),
        "the summary is printed:\n{stdout}"
    );
    assert_eq!(stderr, "", "no progress off a terminal");
    let (stdout, stderr) = stderr_of(&[
        "compare",
        "--no-charts",
        "--duration",
        "10m",
        "--variants",
        "pool-of-40",
        "--runs",
        "2",
    ]);
    assert!(stdout.contains("| pool-of-40 |"), "{stdout}");
    assert_eq!(stderr, "", "no progress off a terminal");
}

/// A calibration's fit replays for minutes with a bar on a terminal; off one, as in CI,
/// nothing reaches standard error.
#[test]
fn off_a_terminal_a_fit_writes_nothing_on_standard_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let csv = tmp.path().join("o.csv");
    std::fs::write(&csv, "t,x\n0,1\n1,2\n").expect("write");
    let csv = csv.to_string_lossy().into_owned();
    let (stdout, stderr) = stderr_of(&[
        "calibrate",
        "--no-charts",
        "--duration",
        "10m",
        "--observed",
        &csv,
        "--map",
        "x=edge.status_504",
        "--fit",
        "orders-db.max_open=10..40",
        "--budget",
        "3",
        "--runs",
        "2",
    ]);
    assert!(
        stdout.contains("calibrated against"),
        "the table is printed:\n{stdout}"
    );
    assert_eq!(stderr, "", "no progress off a terminal");
}
