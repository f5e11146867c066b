//! The short summary printed after a replay.

use std::fmt::Write;

use super::postmortem::instant;
use super::Report;
use crate::human::thousands;
use crate::outcome::STATUSES;

/// Kinds of occurrence worth a line in the terminal (the rest are in events.jsonl).
const HEADLINE_KINDS: [&str; 12] = [
    "timeline",
    "crash",
    "db_refused",
    "alert_firing",
    "alert_resolved",
    "pool_exhausted",
    "first_status",
    "oom_kill",
    "kill",
    "restart",
    "ready",
    "pool_recovered",
];

/// Lines shown for one kind of occurrence at one component (timeline actions: all).
const REPEATS: usize = 3;

/// Most timeline lines shown before "... and N more".
const MAX_LINES: usize = 24;

/// A few lines for the terminal: totals, statuses, first errors, main events.
pub fn terminal_summary(report: &Report, out_dir: &str, with_charts: bool) -> String {
    let r = report.result;
    let s = report.scenario;
    let mut o = String::new();
    let _ = writeln!(o, "{} (seed {}, {} simulated)", s.title, s.seed, r.duration);
    let requests: u64 = r.clients.iter().map(|c| c.sent).sum();
    let _ = writeln!(o, "  requests   {requests}");
    for g in &r.gateways {
        let parts: Vec<String> = g
            .status_shares()
            .iter()
            .map(|(c, n, pct)| format!("{c}: {n} ({pct:.1}%)"))
            .collect();
        let _ = writeln!(o, "  {:<10} {}", g.name, parts.join(", "));
        let firsts: Vec<String> = STATUSES
            .iter()
            .enumerate()
            .filter(|(i, c)| **c >= 500 && g.first[*i].is_some())
            .map(|(i, c)| format!("{c} at {}", g.first[i].unwrap_or_default()))
            .collect();
        if !firsts.is_empty() {
            let _ = writeln!(o, "  {:<10} first {}", "", firsts.join(", first "));
        }
    }
    for c in r.clients.iter().filter(|c| c.refused > 0 || c.gave_up > 0) {
        let _ = writeln!(
            o,
            "  {:<10} {} ok, {} failed ({} refused, {} gave up)",
            c.name, c.ok, c.failed, c.refused, c.gave_up
        );
    }
    let kills: u64 = r.services.iter().map(|s| s.oom_kills).sum();
    if kills > 0 {
        let _ = writeln!(o, "  OOM kills  {kills}");
    }
    for c in r.caches.iter().filter(|c| c.lookups > 0) {
        let served = 100.0 * (c.hits + c.stale) as f64 / c.lookups as f64;
        let mut line = format!(
            "  {:<10} cache: {served:.1}% served from it, {} fills",
            c.name,
            thousands(c.fills)
        );
        if c.coalesced > 0 {
            let _ = write!(line, ", {} misses coalesced", thousands(c.coalesced));
        }
        if c.fill_errors > 0 {
            let _ = write!(line, ", {} fills failed", thousands(c.fill_errors));
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
        let _ = writeln!(o, "  alert      {}: {line}", a.name);
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
        let _ = writeln!(o, "  regimes    {}", parts.join(", "));
    }
    // A crash loop repeats the same few lines every restart: after REPEATS of one kind
    // at one component, the rest are only counted.
    let mut seen: Vec<(&str, &str, usize)> = Vec::new();
    let mut folded = 0usize;
    let headline: Vec<_> = r
        .occurrences
        .iter()
        .filter(|e| HEADLINE_KINDS.contains(&e.kind))
        .filter(|e| {
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
                    folded += usize::from(!keep);
                    keep
                }
                None => {
                    seen.push((e.kind, &e.component, 1));
                    true
                }
            }
        })
        .collect();
    if !headline.is_empty() {
        let _ = writeln!(o, "timeline:");
        for e in headline.iter().take(MAX_LINES) {
            let _ = writeln!(
                o,
                "  {:>12}  {:<16} {}",
                e.at.to_string(),
                e.component,
                e.detail
            );
        }
        let hidden = headline.len().saturating_sub(MAX_LINES) + folded;
        if hidden > 0 {
            let _ = writeln!(o, "  ... and {hidden} more in events.jsonl");
        }
    }
    let charts = if with_charts {
        ", overview.png and one chart per panel (PNG, SVG)"
    } else {
        ""
    };
    let _ = writeln!(
        o,
        "wrote {out_dir}/: report.md, timeseries.csv, events.jsonl, summary.json, metrics.om{charts}"
    );
    o
}
