//! `report.md`: the replay as a postmortem section, ready to paste.

use std::fmt::Write;

use super::{Report, VERSION};
use crate::engine::Nanos;
use crate::human::thousands;
use crate::outcome::regimes::{self, Regime};
use crate::outcome::{Occurrence, STATUSES};

/// How the replay was started, for the "how to reproduce" section.
pub struct Provenance<'a> {
    /// The incident file as given on the command line.
    pub file: &'a str,
}

/// Occurrence kinds whose first appearance (per component and status) goes on the
/// report's timeline; timeline actions always do.
const FIRSTS: [&str; 13] = [
    "db_refused",
    "crash",
    "pool_exhausted",
    "pool_recovered",
    "first_status",
    "oom_kill",
    "kill",
    "restart",
    "job_stuck",
    "cache_emptied",
    "alert_pending",
    "alert_firing",
    "alert_resolved",
];

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "0%".into()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}

/// Markdown table cells must not contain a bare `|`.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The occurrences worth a line: every timeline action, and the first of each other
/// notable kind per component (and status).
pub fn key_moments(occurrences: &[Occurrence]) -> Vec<&Occurrence> {
    let mut seen: Vec<(&str, &str, Option<u16>)> = Vec::new();
    occurrences
        .iter()
        .filter(|o| {
            if o.kind == "timeline" {
                return true;
            }
            if !FIRSTS.contains(&o.kind) {
                return false;
            }
            let key = (o.kind, o.component.as_str(), o.status);
            if seen.contains(&key) {
                false
            } else {
                seen.push(key);
                true
            }
        })
        .collect()
}

/// The postmortem section as Markdown. `overview` is the chart's file name, if drawn.
pub fn report_md(report: &Report, provenance: &Provenance, overview: Option<&str>) -> String {
    let r = report.result;
    let s = report.scenario;
    let mut o = String::new();
    let _ = writeln!(o, "# {}\n", s.title);
    if !s.description.trim().is_empty() {
        let _ = writeln!(o, "{}\n", s.description.trim_end());
    }
    if !s.sources.is_empty() {
        let _ = writeln!(o, "Sources:\n");
        for url in &s.sources {
            let _ = writeln!(o, "- <{url}>");
        }
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "Replayed with rewind {VERSION} from `{}` (seed {}, {} simulated). Every figure below comes from that replay.\n",
        provenance.file, s.seed, r.duration
    );
    if let Some(chart) = overview {
        let _ = writeln!(
            o,
            "![Overview: responses by status, pool, latency, memory]({chart})\n"
        );
    }

    // Impact.
    let requests: u64 = r.clients.iter().map(|c| c.sent).sum();
    let failed: u64 = r.clients.iter().map(|c| c.failed).sum();
    let _ = writeln!(o, "## Impact\n");
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(o, "| requests | {} |", thousands(requests));
    let _ = writeln!(
        o,
        "| failed (no 2xx answer) | {} ({}) |",
        thousands(failed),
        pct(failed, requests)
    );
    for g in &r.gateways {
        let parts: Vec<String> = g
            .status_shares()
            .iter()
            .map(|(c, n, pct)| format!("{c}: {} ({pct:.1}%)", thousands(*n)))
            .collect();
        let _ = writeln!(o, "| responses at {} | {} |", g.name, parts.join(", "));
    }
    match (r.first_5xx(), r.last_5xx()) {
        (Some((first, code)), Some(last)) => {
            let _ = writeln!(o, "| first 5xx | {first} ({code}) |");
            let _ = writeln!(o, "| last 5xx | {last} |");
            let _ = writeln!(
                o,
                "| duration of impact | {} (first to last 5xx) |",
                last.saturating_sub(first)
            );
        }
        _ => {
            let _ = writeln!(o, "| 5xx | none |");
        }
    }
    let failing_rows = seconds_with_failures(report);
    let _ = writeln!(
        o,
        "| time with failures | {} (intervals of {} with a 5xx or 499) |",
        failing_rows, s.resolution
    );
    for p in &r.pools {
        let _ = writeln!(
            o,
            "| pool {} | peak {} callers waiting, {} waits, {} acquire timeouts, {} connections leaked |",
            p.name,
            thousands(p.peak_waiting),
            thousands(p.wait_count),
            thousands(p.timeouts),
            thousands(p.leaked)
        );
    }
    for sv in &r.services {
        let _ = writeln!(
            o,
            "| service {} | {} OOM kills, {} restarts, peak {} handlers in flight |",
            sv.name,
            sv.oom_kills,
            sv.restarts,
            thousands(sv.peak_inflight)
        );
    }
    let first_error = r.first_user_visible_error();
    for a in &r.alerts {
        let ttd = match (a.first_firing, first_error) {
            (Some(f), Some(e)) => format!("{} (fired at {f})", f.saturating_sub(e)),
            (Some(f), None) => format!("fired at {f}, before any error"),
            (None, _) => "never fired".into(),
        };
        let _ = writeln!(o, "| time to detect, {} | {ttd} |", a.name);
    }
    o.push('\n');

    regimes_section(&mut o, report);

    if !r.alerts.is_empty() {
        let _ = writeln!(o, "## Alerts\n");
        let _ = writeln!(o, "| rule | condition | for | first pending | first firing | first resolved | firings |\n|---|---|---|---|---|---|---|");
        for a in &r.alerts {
            let hold = a.hold;
            let t = |v: Option<Nanos>| v.map_or("-".to_string(), |t| t.to_string());
            let _ = writeln!(
                o,
                "| {} | `{}` | {} | {} | {} | {} | {} |",
                a.name,
                cell(&a.text),
                hold,
                t(a.first_pending),
                t(a.first_firing),
                t(a.first_resolved),
                a.firings
            );
        }
        o.push('\n');
    }

    let _ = writeln!(o, "## Timeline\n");
    let _ = writeln!(o, "Timeline actions, and the first occurrence of each kind of event. All events: `events.jsonl`.\n");
    let _ = writeln!(o, "| offset | component | what happened |\n|---:|---|---|");
    for e in key_moments(&r.occurrences) {
        let _ = writeln!(
            o,
            "| {} | {} | {} |",
            e.at,
            cell(&e.component),
            cell(&e.detail)
        );
    }
    o.push('\n');

    let _ = writeln!(o, "## How to reproduce\n");
    let _ = writeln!(
        o,
        "```\nrewind replay {} --seed {}\n```\n",
        provenance.file, s.seed
    );
    let _ = writeln!(
        o,
        "rewind {VERSION}. The same file, seed and version give byte-identical `timeseries.csv`, `events.jsonl` and `summary.json`."
    );
    o
}

/// The regimes in a sentence each, and how long after each timeline entry the
/// system was healthy again.
fn regimes_section(o: &mut String, report: &Report) {
    let (r, s) = (report.result, report.scenario);
    let Some(base) = &r.regimes.baseline else {
        return;
    };
    let _ = writeln!(o, "## Regimes\n");
    let latency = base.ok_mean_ms.map_or(String::new(), |ms| {
        format!(" with 200s in {ms:.0} ms on average")
    });
    let _ = writeln!(
        o,
        "Measured against the healthy baseline ({} to {}): {} of the clients' requests served{latency}. Definitions: README, *Regimes*.\n",
        instant(base.from),
        base.to,
        share(Some(base.goodput_share))
    );
    let name = |k: usize| {
        s.timeline.get(k).map_or(String::new(), |e| {
            e.label
                .clone()
                .or(e.id.clone())
                .unwrap_or_else(|| "its end".into())
        })
    };
    for span in &r.regimes.spans {
        let mut what = format!("{} of requests served", share(span.goodput_share));
        if let Some(ms) = span.ok_mean_ms {
            let _ = write!(what, ", 200s in {ms:.0} ms on average");
        }
        if span.peak_backlog > 0.0 {
            let _ = write!(
                what,
                ", at most {} requests held at the services",
                thousands(span.peak_backlog as u64)
            );
        }
        let why = match (span.regime, span.after_mark) {
            (Regime::Metastable, Some(k)) => format!(
                ": its trigger had ended ({}, at {}) and no fix followed, yet it did not come back within {}",
                name(k),
                s.timeline[k].at,
                regimes::SETTLE
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "- **{} to {}: {}**{why}; {what}.",
            instant(span.from),
            span.to,
            span.regime.name()
        );
    }
    o.push('\n');
    // The entries a reader can name: labelled, with an id, or with a role.
    let named: Vec<usize> = (0..s.timeline.len())
        .filter(|&i| {
            let e = &s.timeline[i];
            e.label.is_some() || e.id.is_some() || e.role.is_some()
        })
        .collect();
    if named.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "| entry | at | role | healthy again (for {}) |\n|---|---:|---|---|",
        regimes::SETTLE
    );
    for i in named {
        let e = &s.timeline[i];
        let label = e.label.clone().or(e.id.clone()).unwrap_or_default();
        let after = match r.regimes.recovered_after.get(i).copied().flatten() {
            Some(Nanos::ZERO) => "stayed healthy".to_string(),
            Some(t) => format!("{t} after it"),
            None => "not by the end".into(),
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {after} |",
            cell(&label),
            e.at,
            e.role.map_or("", |r| r.name())
        );
    }
    o.push('\n');
}

/// An instant of the replay: "start" for its first.
pub(crate) fn instant(t: Nanos) -> String {
    if t == Nanos::ZERO {
        "start".into()
    } else {
        t.to_string()
    }
}

fn share(s: Option<f64>) -> String {
    s.map_or("none".into(), |s| format!("{:.1}%", 100.0 * s))
}

/// Time covered by rows in which any gateway answered a 5xx or logged a 499.
fn seconds_with_failures(report: &Report) -> Nanos {
    let series = &report.result.series;
    let cols: Vec<usize> = report
        .scenario
        .gateways
        .iter()
        .flat_map(|g| {
            STATUSES
                .iter()
                .filter(|c| **c >= 499)
                .map(move |c| format!("{}.status_{c}", g.name))
        })
        .filter_map(|c| series.column(&c))
        .collect();
    let rows = (0..series.rows())
        .filter(|&r| cols.iter().any(|&c| series.row(r)[c] > 0.0))
        .count();
    series.resolution.saturating_mul(rows as u64)
}
