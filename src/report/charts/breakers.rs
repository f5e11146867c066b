//! The circuit breakers' panel: each breaker's state over time as a lane of closed,
//! half-open and open stretches.
//!
//! A client has one breaker: its lane comes from the exact instants of its
//! `breaker_*` events, and from the timeline's `set_client` entries that ship or remove
//! one (a new breaker starts closed). A `call` step has one breaker per replica process:
//! its lane summarises them row by row from the `breaker_open` and `breaker_half_open`
//! columns (open while any replica's is open, else half-open while any is), which is
//! as fine as the resolution. Breakers decide at calls and outcomes, never on a timer,
//! so an open breaker stays open until the first call after its wait, as
//! resilience4j's and Hystrix's do.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::draw::*;
use super::*;
use crate::engine::Nanos;
use crate::model::spec::{Action, Change, Step};

/// A breaker's state in a lane (a stretch with no breaker in force is left blank).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneState {
    /// Calls pass.
    Closed,
    /// Trial calls pass.
    HalfOpen,
    /// Calls are refused.
    Open,
}

impl LaneState {
    fn from_kind(kind: &str) -> Option<LaneState> {
        match kind {
            "breaker_closed" => Some(LaneState::Closed),
            "breaker_half_open" => Some(LaneState::HalfOpen),
            "breaker_open" => Some(LaneState::Open),
            _ => None,
        }
    }

    fn color(self) -> RGBColor {
        match self {
            LaneState::Closed => RGBColor(150, 205, 150),
            LaneState::HalfOpen => RGBColor(240, 170, 30),
            LaneState::Open => RGBColor(214, 39, 40),
        }
    }

    fn name(self) -> &'static str {
        match self {
            LaneState::Closed => "closed",
            LaneState::HalfOpen => "half-open",
            LaneState::Open => "open",
        }
    }
}

/// One breaker (or one call step's breakers): a label and its stretches, in the x unit.
pub(super) struct Lane {
    pub(super) label: String,
    pub(super) spans: Vec<(f64, f64, LaneState)>,
}

/// Most lanes in the panel: more would be too thin to read.
const MAX_LANES: usize = 12;

/// Stretches from state changes in time order: each lasts until the next change or
/// `end`; a change to None (no breaker) leaves a gap.
fn stretches(changes: &[(Nanos, Option<LaneState>)], end: Nanos) -> Vec<(Nanos, Nanos, LaneState)> {
    let mut out = Vec::new();
    for (i, &(from, state)) in changes.iter().enumerate() {
        let to = changes.get(i + 1).map_or(end, |c| c.0).min(end);
        if let Some(state) = state {
            if to > from {
                out.push((from, to, state));
            }
        }
    }
    out
}

/// Total time of `state` in stretches.
fn time_in(spans: &[(Nanos, Nanos, LaneState)], state: LaneState) -> Nanos {
    spans
        .iter()
        .filter(|s| s.2 == state)
        .fold(Nanos::ZERO, |acc, s| {
            acc.saturating_add(s.1.saturating_sub(s.0))
        })
}

/// Client `c`'s breaker over the run: (from, to, state) in simulated time, or None when
/// the client never has one.
pub fn client_breaker(report: &Report, c: usize) -> Option<Vec<(Nanos, Nanos, LaneState)>> {
    let (s, r) = (report.scenario, report.result);
    let spec = s.clients.get(c)?;
    // The timeline entries that ship or remove this client's breaker, in time order.
    let mut shipped: Vec<(Nanos, Option<LaneState>)> = s
        .timeline
        .iter()
        .filter_map(|e| match &e.action {
            Action::SetClient {
                client,
                breaker: Some(b),
                ..
            } if *client == c => Some((e.at, b.map(|_| LaneState::Closed))),
            _ => None,
        })
        .collect();
    shipped.sort_by_key(|x| x.0);
    if spec.breaker.is_none() && shipped.is_empty() {
        return None;
    }
    let mut changes = vec![(Nanos::ZERO, spec.breaker.map(|_| LaneState::Closed))];
    let mut next = shipped.iter().peekable();
    for o in &r.occurrences {
        if o.component != spec.name {
            continue;
        }
        if o.kind == "timeline" {
            // This entry's action ran now: a breaker it ships starts closed.
            if let Some(&&(at, state)) = next.peek() {
                if at == o.at {
                    changes.push((at, state));
                    next.next();
                }
            }
        } else if let Some(state) = LaneState::from_kind(o.kind) {
            changes.push((o.at, Some(state)));
        }
    }
    Some(stretches(&changes, r.duration))
}

/// Whether service `s`'s call steps to `target` ever have a breaker (in the file, or
/// shipped by a deploy).
fn call_has_breaker(report: &Report, s: usize, target: usize) -> bool {
    let spec = &report.scenario.services[s];
    let calls_target = |step: usize| matches!(spec.handler.steps.get(step), Some(Step::Call { service, .. }) if *service == target);
    let in_file =
        spec.handler.steps.iter().any(
            |st| matches!(st, Step::Call { service, breaker: Some(_), .. } if *service == target),
        );
    let deployed = report.scenario.timeline.iter().any(|e| match &e.action {
        Action::Deploy {
            service, changes, ..
        } if *service == s => changes.iter().any(|ch| {
            matches!(ch, Change::CallPolicy { step, breaker: Some(Some(_)), .. } if calls_target(*step))
        }),
        _ => false,
    });
    in_file || deployed
}

/// Every breaker's lane, clients first, then call steps by service and target.
pub(super) fn lanes(report: &Report, unit_s: f64) -> Vec<Lane> {
    let (s, r) = (report.scenario, report.result);
    let at = |t: Nanos| t.as_secs_f64() / unit_s;
    let mut out = Vec::new();
    for (c, client) in s.clients.iter().enumerate() {
        let Some(spans) = client_breaker(report, c) else {
            continue;
        };
        let opened = spans.iter().filter(|x| x.2 == LaneState::Open).count();
        let refused = r.clients.get(c).map_or(0, |t| t.caller.breaker_rejected);
        let label = if opened == 0 {
            format!("client {}: never opened", client.name)
        } else {
            format!(
                "client {}: opened {}, open {} in all, {} attempts refused",
                client.name,
                if opened == 1 {
                    "once".to_string()
                } else {
                    format!("{opened} times")
                },
                time_in(&spans, LaneState::Open),
                crate::human::thousands(refused),
            )
        };
        out.push(Lane {
            label,
            spans: spans
                .into_iter()
                .map(|(a, b, st)| (at(a), at(b), st))
                .collect(),
        });
    }
    let series = &r.series;
    let res_s = series.resolution.as_secs_f64();
    for (si, svc) in s.services.iter().enumerate() {
        let mut targets: Vec<usize> = Vec::new();
        for st in &svc.handler.steps {
            if let Step::Call { service, .. } = st {
                if !targets.contains(service) {
                    targets.push(*service);
                }
            }
        }
        for t in targets {
            if !call_has_breaker(report, si, t) {
                continue;
            }
            let col =
                |m: &str| series.column(&format!("{}.calls.{}.{m}", svc.name, s.services[t].name));
            let (Some(open), Some(half)) = (col("breaker_open"), col("breaker_half_open")) else {
                continue;
            };
            let mut spans: Vec<(f64, f64, LaneState)> = Vec::new();
            for i in 0..series.rows() {
                let row = series.row(i);
                let state = if row[open] > 0.0 {
                    LaneState::Open
                } else if row[half] > 0.0 {
                    LaneState::HalfOpen
                } else {
                    LaneState::Closed
                };
                let (from, to) = (
                    series.time_s(i) / unit_s,
                    (series.time_s(i) + res_s) / unit_s,
                );
                match spans.last_mut() {
                    Some(last) if last.2 == state => last.1 = to,
                    _ => spans.push((from, to, state)),
                }
            }
            out.push(Lane {
                label: format!(
                    "{} -> {}: breakers of its replicas (open while any is open)",
                    svc.name, s.services[t].name
                ),
                spans,
            });
        }
    }
    out
}

/// The lanes panel: one bar per breaker, its label above it, the legend at the top.
pub(super) fn draw_breakers<DB: DrawingBackend>(
    d: &Dashboard,
    area: &DrawingArea<DB, Shift>,
    title: &str,
    lanes: &[Lane],
) -> Result<(), String> {
    let shown = &lanes[..lanes.len().min(MAX_LANES)];
    let n = shown.len().max(1) as f64;
    // The legend is one row per state; the lanes sit below it.
    let top = n / (1.0 - legend_room(3));
    let y = 0.0..top;
    let mut chart = builder(area, title)
        .build_cartesian_2d(0.0..d.end_minute.max(1e-6), y.clone())
        .map_err(|e| format!("{e:?}"))?;
    chart
        .configure_mesh()
        .x_desc(mesh_x_desc(d))
        .y_desc("breaker")
        .disable_y_mesh()
        .y_labels(0)
        .x_label_formatter(&tick)
        .label_style(("sans-serif", 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| format!("{e:?}"))?;
    draw_regimes(&mut chart, &d.regimes, y.clone())?;
    // Labels start a little right of the axis, their baseline just over their bar.
    let label_x = d.end_minute * 0.005;
    let label_font = ("sans-serif", 15)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Bottom));
    for (i, lane) in shown.iter().enumerate() {
        // Lane 0 at the top, just under the legend.
        let base = n - 1.0 - i as f64;
        chart
            .draw_series(lane.spans.iter().map(|&(from, to, state)| {
                Rectangle::new(
                    [(from, base + 0.1), (to, base + 0.5)],
                    state.color().filled(),
                )
            }))
            .map_err(|e| format!("{e:?}"))?;
        chart
            .draw_series(std::iter::once(Text::new(
                lane.label.clone(),
                (label_x, base + 0.56),
                label_font.clone(),
            )))
            .map_err(|e| format!("{e:?}"))?;
    }
    draw_markers(&mut chart, &d.markers, y.clone())?;
    for state in [LaneState::Closed, LaneState::HalfOpen, LaneState::Open] {
        let color = state.color();
        chart
            .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
            .map_err(|e| format!("{e:?}"))?
            .label(state.name())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
    }
    legend(&mut chart, true, SeriesLabelPosition::UpperRight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretches_last_until_the_next_change_and_leave_gaps_without_a_breaker() {
        let s = |x: u64| Nanos::from_secs(x);
        let changes = [
            (s(0), None),
            (s(10), Some(LaneState::Closed)),
            (s(20), Some(LaneState::Open)),
            (s(80), Some(LaneState::HalfOpen)),
            (s(81), Some(LaneState::Closed)),
            (s(90), None),
        ];
        let spans = stretches(&changes, s(100));
        assert_eq!(
            spans,
            vec![
                (s(10), s(20), LaneState::Closed),
                (s(20), s(80), LaneState::Open),
                (s(80), s(81), LaneState::HalfOpen),
                (s(81), s(90), LaneState::Closed),
            ]
        );
        assert_eq!(time_in(&spans, LaneState::Open), s(60));
    }
}
