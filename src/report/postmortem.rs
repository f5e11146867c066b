//! The replay as a postmortem section, ready to paste: the content of `report.md`
//! and `report.html`, built once as a [`Document`] that each renders.

use std::fmt::Write;

use super::html::{text, Block, Column, Document, Inline, Inlines, Table};
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

/// The charts of a replay that the report shows, by file stem, with what each shows.
const PANELS: [(&str, &str); 4] = [
    ("status", "Responses per second at each gateway, by status"),
    (
        "pool",
        "Pool connections in use and callers waiting (without a pool: requests, attempts and goodput per second)",
    ),
    (
        "latency",
        "Response times: p50, p95 and p99, on a log scale",
    ),
    ("memory", "Memory against its limit, and replicas up"),
];

/// The postmortem section: `report.md` and `report.html` are renderings of it.
/// `charts`: whether the replay drew its charts (`--no-charts` did not).
pub fn postmortem(report: &Report, provenance: &Provenance, charts: bool) -> Document {
    let r = report.result;
    let s = report.scenario;
    let mut blocks = Vec::new();
    if !s.description.trim().is_empty() {
        blocks.push(Block::Prose(s.description.trim_end().to_string()));
    }
    if !s.sources.is_empty() {
        blocks.push(Block::Paragraph(text("Sources:")));
        blocks.push(Block::List(
            s.sources
                .iter()
                .map(|u| vec![Inline::Url(u.clone())])
                .collect(),
        ));
    }
    blocks.push(Block::Paragraph(vec![
        Inline::Text(format!("Replayed with rewind {VERSION} from ")),
        Inline::Code(provenance.file.to_string()),
        Inline::Text(format!(
            " (seed {}, {} simulated). Every figure below comes from that replay.",
            s.seed, r.duration
        )),
    ]));
    if charts {
        blocks.push(Block::Chart {
            name: "overview".into(),
            alt: "Overview: responses by status, pool, latency, memory".into(),
        });
    } else {
        blocks.push(Block::Paragraph(vec![
            Inline::Text("No charts: the replay ran with ".into()),
            Inline::Code("--no-charts".into()),
            Inline::Text(".".into()),
        ]));
    }
    impact_section(&mut blocks, report);
    regimes_section(&mut blocks, report);
    alerts_section(&mut blocks, report);
    if charts {
        blocks.push(Block::Heading("Charts".into()));
        blocks.push(Block::Paragraph(text(
            "The overview's panels one by one, with the same markers.",
        )));
        for (name, alt) in PANELS {
            blocks.push(Block::Chart {
                name: name.into(),
                alt: alt.into(),
            });
        }
    }

    blocks.push(Block::Heading("Timeline".into()));
    blocks.push(Block::Paragraph(vec![
        Inline::Text(
            "Timeline actions, and the first occurrence of each kind of event. All events: ".into(),
        ),
        Inline::Code("events.jsonl".into()),
        Inline::Text(".".into()),
    ]));
    blocks.push(Block::Table(Table {
        columns: vec![
            Column::numeric("offset"),
            Column::text("component"),
            Column::text("what happened"),
        ],
        rows: key_moments(&r.occurrences)
            .into_iter()
            .map(|e| vec![text(e.at.to_string()), text(&e.component), text(&e.detail)])
            .collect(),
    }));

    blocks.push(Block::Heading("How to reproduce".into()));
    blocks.push(Block::Command(format!(
        "rewind replay {} --seed {}",
        provenance.file, s.seed
    )));
    blocks.push(Block::Paragraph(vec![
        Inline::Text(format!(
            "rewind {VERSION}. The same file, seed and version give byte-identical "
        )),
        Inline::Code("timeseries.csv".into()),
        Inline::Text(", ".into()),
        Inline::Code("events.jsonl".into()),
        Inline::Text(" and ".into()),
        Inline::Code("summary.json".into()),
        Inline::Text(".".into()),
    ]));
    Document {
        title: s.title.clone(),
        blocks,
    }
}

/// Requests, failures, the statuses, the stretch of 5xx, pools, services, detection.
fn impact_section(blocks: &mut Vec<Block>, report: &Report) {
    let (r, s) = (report.result, report.scenario);
    let mut rows: Vec<Vec<Inlines>> = Vec::new();
    let mut row = |key: String, value: String| rows.push(vec![text(key), text(value)]);
    let requests: u64 = r.clients.iter().map(|c| c.sent).sum();
    let failed: u64 = r.clients.iter().map(|c| c.failed).sum();
    row("requests".into(), thousands(requests));
    row(
        "failed (no 2xx answer)".into(),
        format!("{} ({})", thousands(failed), pct(failed, requests)),
    );
    for g in &r.gateways {
        let parts: Vec<String> = g
            .status_shares()
            .iter()
            .map(|(c, n, pct)| format!("{c}: {} ({pct:.1}%)", thousands(*n)))
            .collect();
        row(format!("responses at {}", g.name), parts.join(", "));
    }
    match (r.first_5xx(), r.last_5xx()) {
        (Some((first, code)), Some(last)) => {
            row("first 5xx".into(), format!("{first} ({code})"));
            row("last 5xx".into(), last.to_string());
            row(
                "duration of impact".into(),
                format!("{} (first to last 5xx)", last.saturating_sub(first)),
            );
        }
        _ => row("5xx".into(), "none".into()),
    }
    row(
        "time with failures".into(),
        format!(
            "{} (intervals of {} with a 5xx or 499)",
            seconds_with_failures(report),
            s.resolution
        ),
    );
    for p in &r.pools {
        row(
            format!("pool {}", p.name),
            format!(
                "peak {} callers waiting, {} waits, {} acquire timeouts, {} connections leaked",
                thousands(p.peak_waiting),
                thousands(p.wait_count),
                thousands(p.timeouts),
                thousands(p.leaked)
            ),
        );
    }
    for sv in &r.services {
        row(
            format!("service {}", sv.name),
            format!(
                "{} OOM kills, {} restarts, peak {} handlers in flight",
                sv.oom_kills,
                sv.restarts,
                thousands(sv.peak_inflight)
            ),
        );
    }
    let first_error = r.first_user_visible_error();
    for a in &r.alerts {
        let ttd = match (a.first_firing, first_error) {
            (Some(f), Some(e)) => format!("{} (fired at {f})", f.saturating_sub(e)),
            (Some(f), None) => format!("fired at {f}, before any error"),
            (None, _) => "never fired".into(),
        };
        row(format!("time to detect, {}", a.name), ttd);
    }
    blocks.push(Block::Heading("Impact".into()));
    blocks.push(Block::Table(Table {
        columns: vec![Column::text(""), Column::text("")],
        rows,
    }));
}

/// Each alert rule: its condition, its hold, and when it first changed state.
fn alerts_section(blocks: &mut Vec<Block>, report: &Report) {
    let r = report.result;
    if r.alerts.is_empty() {
        return;
    }
    let t = |v: Option<Nanos>| text(v.map_or("-".to_string(), |t| t.to_string()));
    blocks.push(Block::Heading("Alerts".into()));
    blocks.push(Block::Table(Table {
        columns: vec![
            Column::text("rule"),
            Column::text("condition"),
            Column::numeric("for"),
            Column::numeric("first pending"),
            Column::numeric("first firing"),
            Column::numeric("first resolved"),
            Column::numeric("firings"),
        ],
        rows: r
            .alerts
            .iter()
            .map(|a| {
                vec![
                    text(&a.name),
                    vec![Inline::Code(a.text.clone())],
                    text(a.hold.to_string()),
                    t(a.first_pending),
                    t(a.first_firing),
                    t(a.first_resolved),
                    text(a.firings.to_string()),
                ]
            })
            .collect(),
    }));
}

/// The regimes in a sentence each, and how long after each timeline entry the
/// system was healthy again.
fn regimes_section(blocks: &mut Vec<Block>, report: &Report) {
    let (r, s) = (report.result, report.scenario);
    let Some(base) = &r.regimes.baseline else {
        return;
    };
    blocks.push(Block::Heading("Regimes".into()));
    let latency = base.ok_mean_ms.map_or(String::new(), |ms| {
        format!(" with 200s in {ms:.0} ms on average")
    });
    blocks.push(Block::Paragraph(vec![
        Inline::Text(format!(
            "Measured against the healthy baseline ({} to {}): {} of the clients' requests served{latency}. Definitions: README, ",
            instant(base.from),
            base.to,
            share(Some(base.goodput_share))
        )),
        Inline::Emphasis("Regimes".into()),
        Inline::Text(".".into()),
    ]));
    let name = |k: usize| {
        s.timeline.get(k).map_or(String::new(), |e| {
            e.label
                .clone()
                .or(e.id.clone())
                .unwrap_or_else(|| "its end".into())
        })
    };
    let mut items = Vec::new();
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
        items.push(vec![
            Inline::Strong(format!(
                "{} to {}: {}",
                instant(span.from),
                span.to,
                span.regime.name()
            )),
            Inline::Text(format!("{why}; {what}.")),
        ]);
    }
    blocks.push(Block::List(items));
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
    let rows = named
        .into_iter()
        .map(|i| {
            let e = &s.timeline[i];
            let label = e.label.clone().or(e.id.clone()).unwrap_or_default();
            let after = match r.regimes.recovered_after.get(i).copied().flatten() {
                Some(Nanos::ZERO) => "stayed healthy".to_string(),
                Some(t) => format!("{t} after it"),
                None => "not by the end".into(),
            };
            vec![
                text(label),
                text(e.at.to_string()),
                text(e.role.map_or("", |r| r.name())),
                text(after),
            ]
        })
        .collect();
    blocks.push(Block::Table(Table {
        columns: vec![
            Column::text("entry"),
            Column::numeric("at"),
            Column::text("role"),
            Column::text(format!("healthy again (for {})", regimes::SETTLE)),
        ],
        rows,
    }));
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
