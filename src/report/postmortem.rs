//! The replay as a postmortem section, ready to paste: the content of `report.md`
//! and `report.html`, built once as a [`Document`] that each renders.

use std::fmt::Write;

use super::html::{text, Block, Column, Document, Inline, Inlines, Table};
use super::{Report, VERSION};
use crate::engine::Nanos;
use crate::human::thousands;
use crate::outcome::regimes::{self, Regime};
use crate::outcome::{Occurrence, ENVOY_FLAGS, STATUSES};

/// How the replay was started, for the "how to reproduce" section.
pub struct Provenance<'a> {
    /// The incident file as given on the command line.
    pub file: &'a str,
}

/// Occurrence kinds whose first appearance (per component and status) goes on the
/// report's timeline; timeline actions always do.
const FIRSTS: [&str; 14] = [
    "db_refused",
    "crash",
    "pool_exhausted",
    "pool_recovered",
    "first_status",
    "oom_kill",
    "fd_exhausted",
    "kill",
    "restart",
    "job_stuck",
    "cache_emptied",
    "alert_pending",
    "alert_firing",
    "alert_resolved",
];

/// `n` and a noun, singular for one: "1 retry", "2,000 retries".
fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", thousands(n))
    }
}

/// The counts that are not zero, each with its noun.
fn nonzero(counts: &[(u64, &str, &str)]) -> Vec<String> {
    counts
        .iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|&(n, one, many)| plural(n, one, many))
        .collect()
}

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
            alt: "Overview: responses by status, latency, services, pools, memory".into(),
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
            "The overview's panels by subject, with the same markers.",
        )));
        let dashboard = super::charts::Dashboard::from_report(report);
        for (name, alt) in dashboard.chart_descriptions() {
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

    simplifications_section(&mut blocks, report);

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
    let mut rows: Vec<Vec<Inlines>> = Vec::new();
    let mut row = |key: String, value: String| rows.push(vec![text(key), text(value)]);
    impact_totals(report, &mut row);
    impact_callers(report, &mut row);
    impact_gateways(report, &mut row);
    impact_backends(report, &mut row);
    impact_detection(report, &mut row);
    blocks.push(Block::Heading("Impact".into()));
    blocks.push(Block::Table(Table {
        columns: vec![Column::text(""), Column::text("")],
        rows,
    }));
}

/// Requests, failures, each gateway's statuses, the 5xx span and the time with failures.
fn impact_totals(report: &Report, row: &mut dyn FnMut(String, String)) {
    let (r, s) = (report.result, report.scenario);
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
}

/// What each client went through: retries, refusals, give-ups, its breaker and bulkhead.
fn impact_callers(report: &Report, row: &mut dyn FnMut(String, String)) {
    let r = report.result;
    for c in &r.clients {
        let parts = nonzero(&[
            (c.caller.retries, "retry", "retries"),
            (c.refused, "connection refused", "connections refused"),
            (
                c.gave_up,
                "request given up at its timeout",
                "requests given up at their timeout",
            ),
            (
                c.caller.breaker_rejected,
                "attempt refused by its breaker",
                "attempts refused by its breaker",
            ),
            (
                c.caller.bulkhead_rejected,
                "attempt refused by its bulkhead",
                "attempts refused by its bulkhead",
            ),
        ]);
        if !parts.is_empty() {
            row(format!("client {}", c.name), parts.join(", "));
        }
    }
    for (i, c) in r.clients.iter().enumerate() {
        if let Some(spans) = super::charts::client_breaker(report, i) {
            row(
                format!("breaker of client {}", c.name),
                breaker_story(&spans),
            );
        }
    }
}

/// Each gateway's Envoy response flags and its retries to another server.
fn impact_gateways(report: &Report, row: &mut dyn FnMut(String, String)) {
    let r = report.result;
    for g in &r.gateways {
        let Some(f) = g.envoy_flags else { continue };
        let mut parts: Vec<String> = ENVOY_FLAGS
            .iter()
            .zip(f.by_flag())
            .filter(|(_, n)| *n > 0)
            .map(|(flag, n)| format!("{flag} {}", thousands(n)))
            .collect();
        if parts.is_empty() {
            parts.push("none".into());
        }
        let mut value = parts.join(", ");
        if f.retry_overflow > 0 {
            let _ = write!(
                value,
                " ({} refused by the retry circuit breaker, flagged UO)",
                plural(f.retry_overflow, "retry", "retries")
            );
        }
        if f.ejections > 0 {
            let _ = write!(
                value,
                "; {} by outlier detection",
                plural(f.ejections, "host ejected", "hosts ejected")
            );
        }
        row(format!("response flags at {}", g.name), value);
    }
    for g in &r.gateways {
        let parts = nonzero(&[(g.retries, "retry", "retries")]);
        if !parts.is_empty() {
            row(
                format!("gateway {}", g.name),
                format!("{} to another upstream server", parts.join(", ")),
            );
        }
    }
}

/// Calls between services, pools and services: what they refused, leaked, shed, lost.
fn impact_backends(report: &Report, row: &mut dyn FnMut(String, String)) {
    let r = report.result;
    for c in &r.calls {
        let parts = nonzero(&[
            (c.counts.retries, "retry", "retries"),
            (
                c.counts.breaker_rejected,
                "attempt refused by the breaker",
                "attempts refused by the breaker",
            ),
            (
                c.counts.bulkhead_rejected,
                "attempt refused by the bulkhead",
                "attempts refused by the bulkhead",
            ),
        ]);
        if !parts.is_empty() {
            row(
                format!("calls {} to {}", c.service, c.target),
                parts.join(", "),
            );
        }
    }
    for p in &r.pools {
        let mut value = format!(
            "peak {} callers waiting (all replicas), {} waits, {} acquire timeouts, {} connections leaked",
            thousands(p.peak_waiting),
            thousands(p.wait_count),
            thousands(p.timeouts),
            thousands(p.leaked)
        );
        if p.refused > 0 {
            let _ = write!(
                value,
                ", {} refused by the database",
                plural(p.refused, "connection", "connections")
            );
        }
        row(format!("pool {}", p.name), value);
    }
    for sv in &r.services {
        let mut parts = vec![
            plural(sv.oom_kills, "OOM kill", "OOM kills"),
            plural(sv.restarts, "restart", "restarts"),
            format!(
                "peak {} in flight in one replica",
                plural(sv.peak_inflight, "handler", "handlers")
            ),
        ];
        parts.extend(nonzero(&[
            (sv.refused, "connection refused", "connections refused"),
            (
                sv.dropped_syn,
                "SYN dropped on a full accept queue",
                "SYNs dropped on a full accept queue",
            ),
            (sv.shed, "request shed", "requests shed"),
            (
                sv.fd_crashes,
                "crash on exhausted file descriptors (EMFILE)",
                "crashes on exhausted file descriptors (EMFILE)",
            ),
            (
                sv.unanswered,
                "handler abandoned (ended without answering)",
                "handlers abandoned (ended without answering)",
            ),
        ]));
        row(format!("service {}", sv.name), parts.join(", "));
    }
}

/// The time each alert took to fire after the first error users saw.
fn impact_detection(report: &Report, row: &mut dyn FnMut(String, String)) {
    let r = report.result;
    let first_error = r.first_user_visible_error();
    for a in &r.alerts {
        let ttd = match (a.first_firing, first_error) {
            (Some(f), Some(e)) => format!("{} (fired at {f})", f.saturating_sub(e)),
            (Some(f), None) => format!("fired at {f}, before any error"),
            (None, _) => "never fired".into(),
        };
        row(format!("time to detect, {}", a.name), ttd);
    }
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

/// What the model leaves out that bears on this replay's figures: the general rules,
/// then those of the parts this system has. The full list is in ARCHITECTURE.md.
fn simplifications_section(blocks: &mut Vec<Block>, report: &Report) {
    let s = report.scenario;
    let mut items: Vec<String> = vec![
        format!(
            "Gauges (handlers in flight, accept queue, pool occupancy, memory) are read at the end of each interval of {}; counters cover the interval.",
            s.resolution
        ),
        "A caller's timeout is per attempt: no deadline spans a request's retries. Calls between services count as idempotent.".into(),
        "The statuses tracked are 200, 429, 499, 500, 502, 503 and 504.".into(),
        "A replica stopped or killed resets the requests it was handling (no graceful shutdown); replicas running at the start are ready already.".into(),
    ];
    if s.services.iter().any(|sv| !sv.pools.is_empty()) {
        items.push("A handler holds a connection for one query; a cancelled caller's query runs on to its end (or its statement timeout). Locks, plans and caches inside the database are out of scope.".into());
    }
    if s.services.iter().any(|sv| sv.cpus.is_some()) || s.databases.iter().any(|d| d.cpus.is_some())
    {
        items.push("CPU limits are processor sharing: CFS quota throttling (a burst stalls to the end of its 100 ms period) is left out.".into());
    }
    if s.services.iter().any(|sv| sv.memory.is_some()) {
        items.push("Memory is a baseline plus what handlers allocate when they start; a collector runs at once when the heap reaches its goal, at no CPU cost.".into());
    }
    if s.services.iter().any(|sv| sv.fds.is_some()) {
        items.push("File descriptors are a process's baseline plus what `leak` steps left open, not the sockets of its connections; running out is fatal (the process exits on EMFILE), never a refused connection.".into());
    }
    if !s.caches.is_empty() {
        items.push("Every entry of a cache has the same TTL, and the key space has no capacity (no eviction).".into());
    }
    if s.services.iter().any(|sv| sv.autoscaler.is_some()) {
        items.push("The autoscaler reads its metric with no metrics-pipeline delay; starting and crashed replicas report none.".into());
    }
    blocks.push(Block::Heading("What the model simplifies".into()));
    blocks.push(Block::List(items.into_iter().map(text).collect()));
    blocks.push(Block::Paragraph(vec![
        Inline::Text("Every modelling choice: ".into()),
        Inline::Code("ARCHITECTURE.md".into()),
        Inline::Text(", ".into()),
        Inline::Emphasis("Modelling choices".into()),
        Inline::Text(".".into()),
    ]));
}

/// A client breaker's run in words: how often and how long it was open.
fn breaker_story(spans: &[(Nanos, Nanos, super::charts::LaneState)]) -> String {
    use super::charts::LaneState;
    let open: Vec<&(Nanos, Nanos, LaneState)> =
        spans.iter().filter(|s| s.2 == LaneState::Open).collect();
    let (Some(first), Some(last)) = (open.first(), open.last()) else {
        return "never opened".into();
    };
    let total = open.iter().fold(Nanos::ZERO, |acc, s| {
        acc.saturating_add(s.1.saturating_sub(s.0))
    });
    let times = if open.len() == 1 {
        "once".to_string()
    } else {
        format!("{} times", thousands(open.len() as u64))
    };
    let closed = spans
        .iter()
        .rev()
        .find(|s| s.2 == LaneState::Closed && s.0 >= last.1)
        .map_or(String::new(), |s| format!(", closed for good at {}", s.0));
    format!(
        "opened {times}, first at {}, open {total} in all{closed}",
        first.0
    )
}
