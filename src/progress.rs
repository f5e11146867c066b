//! Progress of long work on standard error: a bar per replay (simulated time done of
//! the total, events per second, the time left) and, for `compare`, `sweep` and a
//! calibration's fit, one over all their replays. Shown only when standard error is
//! a terminal and `-q` was not given, so never in a pipe, a file, CI or the tests.
//!
//! It watches a run and never changes it: the engine hands it the simulated clock and
//! the count of events every [`crate::engine::WATCH_EVERY`] events, it draws at most
//! every [`REDRAW`] of wall time, and it touches no random stream and no output file,
//! so a replay's files are the same bytes with or without it. It knows nothing of the
//! model; only the commands' top layers (`app`, `sweep`) use it.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::engine::Nanos;

/// Least wall time between two updates of a bar: often enough to look alive, rarely
/// enough that a replay does not pay for it.
pub const REDRAW: Duration = Duration::from_millis(100);

/// Where the bars go: a terminal, or nowhere.
pub struct Progress {
    /// None: nothing is drawn and watching costs one test per call.
    bars: Option<MultiProgress>,
    overall: Option<Overall>,
}

/// The bar over every replay of a `compare`, a sweep or a fit.
struct Overall {
    bar: ProgressBar,
    events: AtomicU64,
    done: AtomicUsize,
    replays: usize,
    started: Instant,
}

impl Progress {
    /// Bars on standard error if it is a terminal and `quiet` is off; otherwise none.
    pub fn on_stderr(quiet: bool) -> Progress {
        if quiet || !std::io::stderr().is_terminal() {
            Progress::hidden()
        } else {
            Progress::to(ProgressDrawTarget::stderr())
        }
    }

    /// No bars at all.
    pub fn hidden() -> Progress {
        Progress {
            bars: None,
            overall: None,
        }
    }

    /// Bars drawn on `target` (a terminal, or a test's stand-in for one).
    pub fn to(target: ProgressDrawTarget) -> Progress {
        Progress {
            bars: Some(MultiProgress::with_draw_target(target)),
            overall: None,
        }
    }

    /// Whether anything is drawn.
    pub fn is_shown(&self) -> bool {
        self.bars.is_some()
    }

    /// Add the bar over `replays` replays that simulate `total` together, above the
    /// replays' own bars.
    pub fn with_overall(mut self, label: &str, replays: usize, total: Nanos) -> Progress {
        if let Some(bars) = &self.bars {
            let bar = bars.add(ProgressBar::new(total.0 / NANOS_PER_MS));
            // The label is ours ("compare", "sweep", "fit"), never a user's text with
            // braces in it.
            bar.set_style(style(&format!(
                "{label} [{{wide_bar}}] {{prefix}} replays, {{sim}}, {{msg}} events/s, ETA {{eta}}"
            )));
            bar.set_message("-");
            self.overall = Some(Overall {
                bar,
                events: AtomicU64::new(0),
                done: AtomicUsize::new(0),
                replays,
                started: Instant::now(),
            });
            self.redraw_overall();
        }
        self
    }

    /// A bar for one replay of `length` of simulated time, named `label`.
    pub fn replay(&self, label: &str, length: Nanos) -> ReplayProgress<'_> {
        let bar = self.bars.as_ref().map(|bars| {
            let bar = bars.add(ProgressBar::new(length.0 / NANOS_PER_MS));
            bar.set_style(style(STARTING));
            bar.set_prefix(label.to_string());
            bar.set_message("-");
            bar
        });
        let now = Instant::now();
        ReplayProgress {
            bar,
            progress: self,
            started: now,
            last_drawn: now,
            position_ms: 0,
            events: 0,
        }
    }

    /// Take every bar off the terminal (before a summary is printed).
    pub fn clear(&self) {
        if let Some(o) = &self.overall {
            o.bar.finish_and_clear();
        }
        if let Some(bars) = &self.bars {
            // Nothing to do if the terminal cannot be written.
            let _ = bars.clear();
        }
    }

    fn redraw_overall(&self) {
        if let Some(o) = &self.overall {
            let done = o.done.load(Ordering::Relaxed);
            let events = o.events.load(Ordering::Relaxed);
            o.bar
                .set_message(per_second(events, o.started.elapsed()).to_string());
            // The prefix is the count of replays done: "3/12".
            o.bar.set_prefix(format!("{done}/{}", o.replays));
        }
    }
}

/// A replay's bar until its first update: no rate and no time left yet.
const STARTING: &str = "{prefix} [{wide_bar}] {sim} simulated";
/// A replay's bar once it runs.
const RUNNING: &str = "{prefix} [{wide_bar}] {sim} simulated, {msg} events/s, ETA {eta}";

/// One replay's bar, fed by the engine's watcher.
pub struct ReplayProgress<'a> {
    bar: Option<ProgressBar>,
    progress: &'a Progress,
    started: Instant,
    last_drawn: Instant,
    /// Simulated milliseconds already added to the overall bar.
    position_ms: u64,
    /// Events already added to the overall count.
    events: u64,
}

const NANOS_PER_MS: u64 = 1_000_000;

impl ReplayProgress<'_> {
    /// The engine's watcher: the simulated time reached and the events handled so far.
    /// Reads the wall clock, and draws only when [`REDRAW`] has passed.
    pub fn watch(&mut self, now: Nanos, events: u64) {
        let Some(bar) = &self.bar else { return };
        let wall = Instant::now();
        if wall.duration_since(self.last_drawn) < REDRAW {
            return;
        }
        if self.last_drawn == self.started {
            bar.set_style(style(RUNNING));
        }
        self.last_drawn = wall;
        let position_ms = now.0 / NANOS_PER_MS;
        // The message first: the position's redraw then shows both.
        bar.set_message(per_second(events, wall.duration_since(self.started)).to_string());
        bar.set_position(position_ms);
        self.add_to_overall(position_ms, events);
    }

    /// The replay is over: its bar goes, and the overall bar counts it whole.
    pub fn finish(mut self, length: Nanos, events: u64) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            self.add_to_overall(length.0 / NANOS_PER_MS, events);
            if let Some(o) = &self.progress.overall {
                o.done.fetch_add(1, Ordering::Relaxed);
            }
            self.progress.redraw_overall();
        }
    }

    fn add_to_overall(&mut self, position_ms: u64, events: u64) {
        if let Some(o) = &self.progress.overall {
            o.bar.inc(position_ms.saturating_sub(self.position_ms));
            o.events
                .fetch_add(events.saturating_sub(self.events), Ordering::Relaxed);
            self.position_ms = self.position_ms.max(position_ms);
            self.events = self.events.max(events);
            self.progress.redraw_overall();
        }
    }
}

/// A bar's style: `template` with `{sim}`, the simulated time done of the total, both
/// to the total's precision (`1h 15m/2h 30m`, `4m 10s/20m 00s`, `12.5s/30.0s`), so
/// that a line fits an 80-column terminal.
fn style(template: &str) -> ProgressStyle {
    let sim = |state: &ProgressState, w: &mut dyn std::fmt::Write| {
        let total = state.len().unwrap_or(0);
        let both = [state.pos(), total].map(|ms| {
            let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
            if total >= 3_600_000 {
                format!("{h}h {m:02}m")
            } else if total >= 60_000 {
                format!("{}m {s:02}s", ms / 60_000)
            } else {
                format!("{:.1}s", ms as f64 / 1000.0)
            }
        });
        // A failed write only loses this frame of the bar.
        let _ = write!(w, "{}/{}", both[0], both[1]);
    };
    // A template of ours that does not parse is a bug; draw the plain bar rather than
    // fail a replay over it.
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("sim", sim)
        .progress_chars("=> ")
}

/// Events per second, short: `850`, `42.1k`, `3.20M`.
struct PerSecond(f64);

fn per_second(events: u64, elapsed: Duration) -> PerSecond {
    PerSecond(events as f64 / elapsed.as_secs_f64().max(1e-3))
}

impl std::fmt::Display for PerSecond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            r if r >= 1e6 => write!(f, "{:.2}M", r / 1e6),
            r if r >= 1e3 => write!(f, "{:.1}k", r / 1e3),
            r => write!(f, "{r:.0}"),
        }
    }
}
