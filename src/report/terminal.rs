//! The short summary printed after a replay.

use std::fmt::Write;

use super::postmortem::instant;
use super::Report;
use crate::engine::Nanos;
use crate::human::thousands;
use crate::outcome::{Occurrence, RunResult, STATUSES};

/// Kinds of occurrence worth a line in the terminal (the rest are in events.jsonl).
const HEADLINE_KINDS: [&str; 13] = [
    "timeline",
    "crash",
    "db_refused",
    "alert_firing",
    "alert_resolved",
    "pool_exhausted",
    "first_status",
    "oom_kill",
    "fd_exhausted",
    "kill",
    "restart",
    "ready",
    "pool_recovered",
];

/// Lines shown for one kind of occurrence at one component (timeline actions: all).
const REPEATS: usize = 3;

/// Most timeline lines shown before "... and N more".
const MAX_LINES: usize = 24;

/// `n` and a noun, singular for one and plural otherwise: "1 fill", "3 misses".
fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", thousands(n))
    }
}

/// A run of headline occurrences that say the same thing, one after another: a fleet
/// coming up writes "replica ready" once per replica.
struct Run<'a> {
    first: &'a Occurrence,
    last: Nanos,
    more: usize,
}

/// Folds each run of consecutive occurrences of one kind at one component with the
/// same detail into its first, with how many more. Timeline actions (each is an
/// operator's step) and first statuses (each a different status) are never folded.
fn fold_runs<'a>(headline: &[&'a Occurrence]) -> Vec<Run<'a>> {
    let mut runs: Vec<Run<'a>> = Vec::new();
    for &e in headline {
        if let Some(run) = runs.last_mut() {
            let same = !matches!(e.kind, "timeline" | "first_status")
                && run.first.kind == e.kind
                && run.first.component == e.component
                && run.first.detail == e.detail;
            if same {
                run.more += 1;
                run.last = e.at;
                continue;
            }
        }
        runs.push(Run {
            first: e,
            last: e.at,
            more: 0,
        });
    }
    runs
}

/// A few lines for the terminal: totals, statuses, first errors, main events.
pub fn terminal_summary(report: &Report, out_dir: &str, with_charts: bool) -> String {
    let r = report.result;
    let s = report.scenario;
    let mut o = String::new();
    let _ = writeln!(o, "{} (seed {}, {} simulated)", s.title, s.seed, r.duration);
    figure_lines(r, &mut o);
    timeline_lines(r, &mut o);
    let mut files = vec!["report.md", "report.html"];
    files.extend([
        "timeseries.csv",
        "events.jsonl",
        "summary.json",
        "metrics.om",
    ]);
    if !s.rule_groups.is_empty() {
        files.push("rules.yml");
    }
    let charts = if with_charts {
        ", overview.png and one chart per group of panels (PNG, SVG)"
    } else {
        ""
    };
    let _ = writeln!(o, "wrote {out_dir}/: {}{charts}", files.join(", "));
    o
}

/// The figures, one line each: requests, each gateway's statuses and first 5xx, the
/// clients that were refused or gave up, OOM kills, caches, alerts and regimes.
fn figure_lines(r: &RunResult, o: &mut String) {
    // The first column fits its longest name, so that long ones do not push their
    // line's figures out of line with the rest.
    let width = r
        .gateways
        .iter()
        .map(|g| g.name.chars().count())
        .chain(r.clients.iter().map(|c| c.name.chars().count()))
        .chain(r.caches.iter().map(|c| c.name.chars().count()))
        .chain(["requests", "OOM kills", "regimes"].map(str::len))
        .max()
        .unwrap_or(0);
    let requests: u64 = r.clients.iter().map(|c| c.sent).sum();
    let _ = writeln!(o, "  {:<width$} {requests}", "requests");
    for g in &r.gateways {
        let parts: Vec<String> = g
            .status_shares()
            .iter()
            .map(|(c, n, pct)| format!("{c}: {n} ({pct:.1}%)"))
            .collect();
        let _ = writeln!(o, "  {:<width$} {}", g.name, parts.join(", "));
        let firsts: Vec<String> = STATUSES
            .iter()
            .enumerate()
            .filter(|(i, c)| **c >= 500 && g.first[*i].is_some())
            .map(|(i, c)| format!("{c} at {}", g.first[i].unwrap_or_default()))
            .collect();
        if !firsts.is_empty() {
            let _ = writeln!(o, "  {:<width$} first {}", "", firsts.join(", first "));
        }
    }
    for c in r.clients.iter().filter(|c| c.refused > 0 || c.gave_up > 0) {
        let _ = writeln!(
            o,
            "  {:<width$} {} ok, {} failed ({} refused, {} gave up)",
            c.name,
            thousands(c.ok),
            thousands(c.failed),
            thousands(c.refused),
            thousands(c.gave_up)
        );
    }
    let kills: u64 = r.services.iter().map(|s| s.oom_kills).sum();
    if kills > 0 {
        let _ = writeln!(o, "  {:<width$} {kills}", "OOM kills");
    }
    let fd_crashes: u64 = r.services.iter().map(|s| s.fd_crashes).sum();
    if fd_crashes > 0 {
        let _ = writeln!(o, "  {:<width$} {fd_crashes}", "fd crashes");
    }
    for c in r.caches.iter().filter(|c| c.lookups > 0) {
        let served = 100.0 * (c.hits + c.stale) as f64 / c.lookups as f64;
        let mut line = format!(
            "  {:<width$} cache: {served:.1}% served from it, {}",
            c.name,
            count(c.fills, "fill", "fills")
        );
        if c.coalesced > 0 {
            let _ = write!(line, ", {} coalesced", count(c.coalesced, "miss", "misses"));
        }
        if c.fill_errors > 0 {
            let _ = write!(line, ", {} failed", count(c.fill_errors, "fill", "fills"));
        }
        let _ = writeln!(o, "{line}");
    }
    let first_error = r.first_user_visible_error();
    for a in &r.alerts {
        let line = match (a.first_firing, first_error) {
            (Some(f), Some(e)) => format!(
                "fired at {f}, {} after the first error",
                f.saturating_sub(e)
            ),
            (Some(f), None) => format!("fired at {f}"),
            (None, _) => "never fired".to_string(),
        };
        let _ = writeln!(o, "  {:<width$} {}: {line}", "alert", a.name);
    }
    let spans = &r.regimes.spans;
    if spans
        .iter()
        .any(|s| s.regime != crate::outcome::regimes::Regime::Healthy)
    {
        let parts: Vec<String> = spans
            .iter()
            .map(|s| format!("{} {}-{}", s.regime.name(), instant(s.from), s.to))
            .collect();
        let _ = writeln!(o, "  {:<width$} {}", "regimes", parts.join(", "));
    }
}

/// The headline occurrences, repeats folded, at most `MAX_LINES` of them.
fn timeline_lines(r: &RunResult, o: &mut String) {
    let headline: Vec<&Occurrence> = r
        .occurrences
        .iter()
        .filter(|e| HEADLINE_KINDS.contains(&e.kind))
        .collect();
    // A crash loop repeats the same few lines every restart: after REPEATS runs of one
    // kind at one component, the rest are only counted.
    let mut seen: Vec<(&str, &str, usize)> = Vec::new();
    let mut folded = 0usize;
    let runs: Vec<Run> = fold_runs(&headline)
        .into_iter()
        .filter(|run| {
            let e = run.first;
            if e.kind == "timeline" {
                return true;
            }
            match seen
                .iter_mut()
                .find(|(k, c, _)| *k == e.kind && *c == e.component)
            {
                Some(entry) => {
                    entry.2 += 1;
                    let keep = entry.2 <= REPEATS;
                    if !keep {
                        folded += run.more + 1;
                    }
                    keep
                }
                None => {
                    seen.push((e.kind, &e.component, 1));
                    true
                }
            }
        })
        .collect();
    if !runs.is_empty() {
        let _ = writeln!(o, "timeline:");
        let shown = &runs[..runs.len().min(MAX_LINES)];
        let at_width = shown
            .iter()
            .map(|run| run.first.at.to_string().chars().count())
            .max()
            .unwrap_or(0);
        let component_width = shown
            .iter()
            .map(|run| run.first.component.chars().count())
            .max()
            .unwrap_or(0);
        for run in shown {
            let e = run.first;
            let mut detail = e.detail.clone();
            if run.more > 0 {
                let _ = write!(detail, " (and {} more to {})", run.more, run.last);
            }
            let _ = writeln!(
                o,
                "  {:>at_width$}  {:<component_width$}  {detail}",
                e.at.to_string(),
                e.component,
            );
        }
        let hidden_runs: usize = runs.iter().skip(MAX_LINES).map(|r| r.more + 1).sum();
        let hidden = hidden_runs + folded;
        if hidden > 0 {
            let _ = writeln!(o, "  ... and {hidden} more in events.jsonl");
        }
    }
}
