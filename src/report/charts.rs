//! Charts for the postmortem: the overview dashboard and one chart per panel, as PNG
//! and SVG bytes.
//!
//! Only this module knows plotters. Text is drawn with the bundled DejaVu Sans through
//! ab_glyph, so no system font or graphics library is needed. Data is downsampled to
//! about the plot's pixel width before drawing (counts averaged into rates, gauges and
//! percentiles by their maximum, replicas up by their minimum, so spikes and outages
//! stay visible), and every axis range is made finite and non-empty first: plotters
//! must never see an empty, NaN or infinite range.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::Report;
use crate::outcome::{Occurrence, Series, STATUSES};

/// Width of every chart, px.
pub const WIDTH: u32 = 1400;
/// Height of one panel, px.
const PANEL_HEIGHT: u32 = 330;
/// Height of the title strip, px.
const TITLE_HEIGHT: u32 = 56;
/// Height of one row of marker labels, px.
const MARKER_ROW: u32 = 19;
/// Most points per line, about the plot width in pixels.
const MAX_POINTS: usize = 1200;
/// Left axis label area, px (shared by all panels so their x axes line up).
const Y_LABEL_AREA: u32 = 80;
/// Right axis label area, px.
const Y2_LABEL_AREA: u32 = 60;
/// Outer margin, px.
const MARGIN: u32 = 12;
/// Font size of marker labels; their width is estimated from it to avoid overlaps.
const MARKER_FONT: f64 = 13.0;

static DEJAVU: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static FONT: OnceLock<bool> = OnceLock::new();

fn font_ready() -> bool {
    *FONT.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, DEJAVU).is_ok()
    })
}

/// A chart could not be drawn or encoded.
#[derive(Debug, thiserror::Error)]
#[error("drawing {chart}: {message}")]
pub struct ChartError {
    chart: String,
    message: String,
}

fn err(chart: &str, e: impl std::fmt::Debug) -> ChartError {
    ChartError {
        chart: chart.to_string(),
        message: format!("{e:?}"),
    }
}

/// The colour of each status, the same in every chart.
pub fn status_color(status: u16) -> RGBColor {
    match status {
        200 => RGBColor(44, 160, 44),
        499 => RGBColor(127, 127, 127),
        500 => RGBColor(148, 103, 189),
        502 => RGBColor(214, 39, 40),
        503 => RGBColor(227, 119, 194),
        _ => RGBColor(255, 127, 14),
    }
}

const BLUE: RGBColor = RGBColor(31, 119, 180);
const DARK_RED: RGBColor = RGBColor(150, 20, 20);
const NAVY: RGBColor = RGBColor(20, 40, 110);
const PURPLE: RGBColor = RGBColor(110, 40, 150);
const GREY: RGBColor = RGBColor(110, 110, 110);

/// A vertical marker: when, a short label, and a colour by kind.
#[derive(Debug, Clone)]
pub struct Marker {
    /// Minutes since the start.
    pub minute: f64,
    /// A few words.
    pub label: String,
    color: RGBColor,
}

/// One line of a line panel.
struct Line {
    label: String,
    color: RGBColor,
    values: Vec<f64>,
    dashed: bool,
}

/// The data of the four panels, already downsampled.
pub struct Dashboard {
    title: String,
    /// Bucket starts, in `unit`.
    minutes: Vec<f64>,
    /// End of the replay, in `unit`.
    end_minute: f64,
    /// Name and length in seconds of the x unit: seconds, minutes or hours by duration.
    unit: (&'static str, f64),
    status_title: String,
    status_layers: Vec<(String, RGBColor, Vec<f64>)>,
    pool_title: String,
    pool_lines: Vec<Line>,
    pool_waiting: Option<Line>,
    latency_title: String,
    latency_lines: Vec<Line>,
    memory_title: String,
    memory_lines: Vec<Line>,
    replicas: Option<Line>,
    markers: Vec<Marker>,
    /// Further line panels (title, y axis, lines): the comparison's.
    extra: Vec<(String, String, Vec<Line>)>,
}

/// Buckets of at most `MAX_POINTS` over the rows.
fn buckets(rows: usize) -> Vec<(usize, usize)> {
    let size = rows.div_ceil(MAX_POINTS).max(1);
    (0..rows.div_ceil(size))
        .map(|b| (b * size, ((b + 1) * size).min(rows)))
        .collect()
}

#[derive(Clone, Copy)]
enum Reduce {
    RatePerS,
    Max,
    Min,
}

fn column(series: &Series, name: &str, reduce: Reduce, bk: &[(usize, usize)]) -> Option<Vec<f64>> {
    let c = series.column(name)?;
    let res_s = series.resolution.as_secs_f64().max(1e-9);
    Some(
        bk.iter()
            .map(|&(a, b)| {
                let vals = (a..b).map(|r| series.row(r)[c]).filter(|v| v.is_finite());
                match reduce {
                    Reduce::RatePerS => vals.sum::<f64>() / ((b - a) as f64 * res_s),
                    Reduce::Max => vals.fold(f64::NAN, f64::max),
                    Reduce::Min => vals.fold(f64::NAN, f64::min),
                }
            })
            .collect(),
    )
}

/// Short label for a marker of an occurrence, or None if it gets no marker.
fn marker_for(o: &Occurrence, unit_s: f64, seen: &mut Vec<String>) -> Option<Marker> {
    let minute = o.at.as_secs_f64() / unit_s;
    let (key, label, color) = match o.kind {
        "timeline" => {
            let label = o
                .label
                .clone()
                .unwrap_or_else(|| o.detail.chars().take(24).collect());
            return Some(Marker {
                minute,
                label,
                color: NAVY,
            });
        }
        "pool_exhausted" => (
            format!("pool:{}", o.component),
            format!("{} exhausted", o.component),
            DARK_RED,
        ),
        "first_status" => {
            let s = o.status.unwrap_or(0);
            (format!("status:{s}"), format!("first {s}"), status_color(s))
        }
        "oom_kill" => ("oom".to_string(), "OOM kill".to_string(), DARK_RED),
        "crash" => ("crash".to_string(), "crash at start".to_string(), DARK_RED),
        "db_refused" => (
            format!("refused:{}", o.component),
            "database full".to_string(),
            DARK_RED,
        ),
        "alert_firing" => (
            format!("alert:{}", o.component),
            format!("{} firing", o.component),
            PURPLE,
        ),
        _ => return None,
    };
    if seen.contains(&key) {
        return None;
    }
    seen.push(key);
    Some(Marker {
        minute,
        label,
        color,
    })
}

impl Dashboard {
    /// Gather the panels from a replay.
    pub fn from_report(report: &Report) -> Dashboard {
        let series = &report.result.series;
        let scenario = report.scenario;
        let bk = buckets(series.rows());
        let duration_s = report.result.duration.as_secs_f64();
        let unit = if duration_s < 600.0 {
            ("seconds", 1.0)
        } else if duration_s <= 6.0 * 3600.0 {
            ("minutes", 60.0)
        } else {
            ("hours", 3600.0)
        };
        let minutes: Vec<f64> = bk.iter().map(|&(a, _)| series.time_s(a) / unit.1).collect();
        let end_minute = duration_s / unit.1;

        // Panel 1: responses per second by status, at the first gateway.
        let (status_title, status_layers) = if let Some(g) = scenario.gateways.first() {
            let layers = STATUSES
                .iter()
                .filter_map(|s| {
                    let v = column(
                        series,
                        &format!("{}.status_{s}", g.name),
                        Reduce::RatePerS,
                        &bk,
                    )?;
                    Some((s.to_string(), status_color(*s), v))
                })
                .collect();
            (
                format!("{}: responses per second by status", g.name),
                layers,
            )
        } else if let Some(c) = scenario.clients.first() {
            let ok = column(series, &format!("{}.ok", c.name), Reduce::RatePerS, &bk)
                .unwrap_or_default();
            let failed = column(series, &format!("{}.failed", c.name), Reduce::RatePerS, &bk)
                .unwrap_or_default();
            (
                format!("{}: answers per second", c.name),
                vec![
                    ("ok".into(), status_color(200), ok),
                    ("failed".into(), status_color(502), failed),
                ],
            )
        } else {
            ("no traffic in this system".into(), Vec::new())
        };

        // Panel 2: the pool that had callers waiting longest, else the first one.
        let pool = report
            .result
            .pools
            .iter()
            .max_by_key(|p| (p.peak_waiting, std::cmp::Reverse(p.name.clone())))
            .map(|p| p.name.clone());
        let (pool_title, pool_lines, pool_waiting) = match pool {
            Some(p) => {
                let get = |m: &str| {
                    column(series, &format!("{p}.{m}"), Reduce::Max, &bk).unwrap_or_default()
                };
                (
                    format!("pool {p}: connections (all replicas)"),
                    vec![
                        Line {
                            label: "pool size".into(),
                            color: GREY,
                            values: get("max_open"),
                            dashed: true,
                        },
                        Line {
                            label: "in use".into(),
                            color: BLUE,
                            values: get("in_use"),
                            dashed: false,
                        },
                        Line {
                            label: "leaked".into(),
                            color: PURPLE,
                            values: get("leaked"),
                            dashed: false,
                        },
                    ],
                    // Waiters can outnumber connections a thousand to one: their own axis.
                    Some(Line {
                        label: "callers waiting (right axis)".into(),
                        color: DARK_RED,
                        values: get("waiting"),
                        dashed: false,
                    }),
                )
            }
            None => ("no connection pool in this system".into(), Vec::new(), None),
        };

        // Panel 3: latency percentiles at the first gateway.
        let (latency_title, latency_lines) = match scenario.gateways.first() {
            Some(g) => {
                let get = |m: &str| {
                    column(series, &format!("{}.{m}", g.name), Reduce::Max, &bk).unwrap_or_default()
                };
                (
                    format!("{}: response time (log scale)", g.name),
                    vec![
                        Line {
                            label: "p50".into(),
                            color: status_color(200),
                            values: get("p50_ms"),
                            dashed: false,
                        },
                        Line {
                            label: "p95".into(),
                            color: BLUE,
                            values: get("p95_ms"),
                            dashed: false,
                        },
                        Line {
                            label: "p99".into(),
                            color: DARK_RED,
                            values: get("p99_ms"),
                            dashed: false,
                        },
                    ],
                )
            }
            None => ("no gateway in this system".into(), Vec::new()),
        };

        // Panel 4: memory of the first service with a memory model, and replicas up.
        let service = scenario
            .services
            .iter()
            .find(|s| s.memory.is_some())
            .or_else(|| scenario.services.first());
        let (memory_title, memory_lines, replicas) = match service {
            Some(s) => {
                let mem = column(series, &format!("{}.memory_mib", s.name), Reduce::Max, &bk)
                    .unwrap_or_default();
                let up = column(series, &format!("{}.replicas_up", s.name), Reduce::Min, &bk)
                    .unwrap_or_default();
                let (title, lines) = match s.memory {
                    Some(m) => (
                        format!("{}: memory and replicas up", s.name),
                        vec![
                            Line {
                                label: "memory (highest replica)".into(),
                                color: BLUE,
                                values: mem,
                                dashed: false,
                            },
                            Line {
                                label: "limit".into(),
                                color: DARK_RED,
                                values: vec![m.limit_mib; minutes.len()],
                                dashed: true,
                            },
                        ],
                    ),
                    None => (
                        format!("{}: replicas up (no memory model)", s.name),
                        Vec::new(),
                    ),
                };
                (
                    title,
                    lines,
                    Some(Line {
                        label: "replicas up (right axis)".into(),
                        color: status_color(200),
                        values: up,
                        dashed: false,
                    }),
                )
            }
            None => ("no service in this system".into(), Vec::new(), None),
        };

        let mut seen = Vec::new();
        let markers = report
            .result
            .occurrences
            .iter()
            .filter_map(|o| marker_for(o, unit.1, &mut seen))
            .collect();
        Dashboard {
            title: scenario.title.clone(),
            minutes,
            end_minute,
            unit,
            status_title,
            status_layers,
            pool_title,
            pool_lines,
            pool_waiting,
            latency_title,
            latency_lines,
            memory_title,
            memory_lines,
            replicas,
            markers,
            extra: Vec::new(),
        }
    }
}

/// Which panels a chart shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    /// Responses per second by status.
    Status,
    /// Pool connections.
    Pool,
    /// Latency percentiles.
    Latency,
    /// Memory and replicas.
    Memory,
    /// One of the dashboard's extra line panels.
    Extra(usize),
}

/// Every chart file rewind writes, with the panels it shows.
pub const CHARTS: [(&str, &[Panel]); 5] = [
    (
        "overview",
        &[Panel::Status, Panel::Pool, Panel::Latency, Panel::Memory],
    ),
    ("status", &[Panel::Status]),
    ("pool", &[Panel::Pool]),
    ("latency", &[Panel::Latency]),
    ("memory", &[Panel::Memory]),
];

/// Marker labels in rows so that none overlaps another: each label goes to the first
/// row where it clears the previous label's end. Returns (row, pixel x) per marker.
fn marker_rows(markers: &[Marker], to_px: &dyn Fn(f64) -> i32) -> (Vec<(usize, i32)>, usize) {
    let mut row_end: Vec<i32> = Vec::new();
    let mut order: Vec<usize> = (0..markers.len()).collect();
    order.sort_by(|&a, &b| markers[a].minute.total_cmp(&markers[b].minute));
    let mut rows_of = vec![(0usize, 0i32); markers.len()];
    for i in order {
        let x = to_px(markers[i].minute);
        let width = (markers[i].label.chars().count() as f64 * MARKER_FONT * 0.58) as i32 + 10;
        let row = row_end
            .iter()
            .position(|&end| x > end)
            .unwrap_or(row_end.len());
        if row == row_end.len() {
            row_end.push(x + width);
        } else {
            row_end[row] = x + width;
        }
        rows_of[i] = (row, x);
    }
    (rows_of, row_end.len().max(1))
}

/// Height of a chart with `panels` panels and `rows` rows of marker labels.
pub fn chart_height(panels: usize, rows: usize) -> u32 {
    TITLE_HEIGHT + rows as u32 * MARKER_ROW + 8 + panels as u32 * PANEL_HEIGHT
}

/// Pixel x of a minute in every panel (they share the x layout).
fn minute_to_px(end_minute: f64) -> impl Fn(f64) -> i32 {
    let left = (MARGIN + Y_LABEL_AREA) as f64;
    let right = (WIDTH - MARGIN - Y2_LABEL_AREA) as f64;
    let span = end_minute.max(1e-9);
    move |m: f64| (left + (m / span).clamp(0.0, 1.0) * (right - left)) as i32
}

fn finite_max(values: impl Iterator<Item = f64>) -> f64 {
    values.filter(|v| v.is_finite()).fold(0.0, f64::max)
}

/// A linear range from 0 that plotters can draw: finite, with room above the data.
fn y_range(max: f64) -> std::ops::Range<f64> {
    let top = if max.is_finite() && max > 0.0 {
        max * 1.12
    } else {
        1.0
    };
    0.0..top
}

/// Dashed vertical lines at the markers, over the y range (linear or logarithmic).
fn draw_markers<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    markers: &[Marker],
    y: std::ops::Range<f64>,
) -> Result<(), String> {
    for m in markers {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(m.minute, y.start), (m.minute, y.end)],
                5,
                4,
                m.color.mix(0.55).stroke_width(1),
            ))
            .map_err(|e| format!("{e:?}"))?;
    }
    Ok(())
}

fn builder<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.margin_left(MARGIN)
        .margin_right(MARGIN)
        .margin_top(6)
        .caption(caption, ("sans-serif", 19))
        .x_label_area_size(42)
        .y_label_area_size(Y_LABEL_AREA)
        .right_y_label_area_size(Y2_LABEL_AREA);
    b
}

/// The upper corner with less data in the top half of the plot, for the legend: an
/// incident's first errors are often early, its recovery late, or the other way round.
/// `series` pairs values with the height above which a point is "in the top half".
fn quiet_corner(series: &[(&[f64], f64)]) -> SeriesLabelPosition {
    let busy = |from: f64, to: f64| -> usize {
        series
            .iter()
            .map(|(v, top)| {
                let n = v.len();
                let (a, b) = ((from * n as f64) as usize, (to * n as f64) as usize);
                v[a.min(n)..b.min(n)]
                    .iter()
                    .filter(|x| x.is_finite() && **x > *top)
                    .count()
            })
            .sum()
    };
    // The legend box spans about the first or last 30% of the width.
    if busy(0.0, 0.3) <= busy(0.7, 1.0) {
        SeriesLabelPosition::UpperLeft
    } else {
        SeriesLabelPosition::UpperRight
    }
}

fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    any: bool,
    corner: SeriesLabelPosition,
) -> Result<(), String> {
    if !any {
        return Ok(());
    }
    chart
        .configure_series_labels()
        .position(corner)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| format!("{e:?}"))
}

fn mesh_x_desc(d: &Dashboard) -> String {
    format!(
        "{} since the start (0 to {})",
        d.unit.0,
        tick(&d.end_minute)
    )
}

fn draw_status<DB: DrawingBackend>(
    d: &Dashboard,
    area: &DrawingArea<DB, Shift>,
) -> Result<(), String> {
    let total = (0..d.minutes.len()).map(|i| {
        d.status_layers
            .iter()
            .map(|l| l.2.get(i).copied().unwrap_or(0.0))
            .sum::<f64>()
    });
    let y = y_range(finite_max(total));
    let mut chart = builder(area, &d.status_title)
        .build_cartesian_2d(0.0..d.end_minute.max(1e-6), y.clone())
        .map_err(|e| format!("{e:?}"))?;
    chart
        .configure_mesh()
        .x_desc(mesh_x_desc(d))
        .y_desc("responses / s")
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style(("sans-serif", 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| format!("{e:?}"))?;
    // Stacked: draw the cumulative sums from the top layer down, each over the last.
    let mut cumulative: Vec<Vec<f64>> = Vec::new();
    let mut running = vec![0.0; d.minutes.len()];
    for (_, _, v) in &d.status_layers {
        for (i, r) in running.iter_mut().enumerate() {
            *r += v.get(i).copied().filter(|x| x.is_finite()).unwrap_or(0.0);
        }
        cumulative.push(running.clone());
    }
    for (k, (label, color, _)) in d.status_layers.iter().enumerate().rev() {
        let points: Vec<(f64, f64)> = d
            .minutes
            .iter()
            .copied()
            .zip(cumulative[k].iter().copied())
            .collect();
        let color = *color;
        chart
            .draw_series(
                AreaSeries::new(points, 0.0, color.mix(0.9)).border_style(color.stroke_width(1)),
            )
            .map_err(|e| format!("{e:?}"))?
            .label(label.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
    }
    draw_markers(&mut chart, &d.markers, y.clone())?;
    let total = cumulative.last().map_or(&[][..], |v| v.as_slice());
    let corner = quiet_corner(&[(total, y.end * 0.5)]);
    legend(&mut chart, !d.status_layers.is_empty(), corner)
}

/// Axis labels with as many decimals as their size needs, and no more.
fn tick(v: &f64) -> String {
    let a = v.abs();
    if a >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_lines<DB: DrawingBackend>(
    d: &Dashboard,
    area: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    lines: &[Line],
    secondary: Option<&Line>,
    y2_desc: &str,
    y2_integer: bool,
    y_integer: bool,
) -> Result<(), String> {
    let y_data = finite_max(lines.iter().flat_map(|l| l.values.iter().copied()));
    // Counts (replicas) get whole-number ticks and one unit of headroom.
    let y = if y_integer {
        0.0..y_data.max(1.0) + 1.0
    } else {
        y_range(y_data)
    };
    let y_labels = if y_integer { y.end as usize + 1 } else { 10 };
    let y2_data = secondary.map_or(1.0, |s| finite_max(s.values.iter().copied()).max(1.0));
    let y2_max = if y2_integer {
        y2_data + 1.0
    } else {
        y_range(y2_data).end
    };
    let mut chart = builder(area, title)
        .build_cartesian_2d(0.0..d.end_minute.max(1e-6), y.clone())
        .map_err(|e| format!("{e:?}"))?
        .set_secondary_coord(0.0..d.end_minute.max(1e-6), 0.0..y2_max);
    chart
        .configure_mesh()
        .x_desc(mesh_x_desc(d))
        .y_desc(y_desc)
        .y_labels(y_labels)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style(("sans-serif", 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| format!("{e:?}"))?;
    if secondary.is_some() {
        let labels = if y2_integer { y2_max as usize + 1 } else { 10 };
        chart
            .configure_secondary_axes()
            .y_desc(y2_desc)
            .y_labels(labels)
            .y_label_formatter(&tick)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| format!("{e:?}"))?;
    }
    draw_markers(&mut chart, &d.markers, y.clone())?;
    for line in lines.iter().chain(secondary) {
        let color = line.color;
        let style = color.stroke_width(2);
        let points = segments(&d.minutes, &line.values);
        let is_secondary = secondary.is_some_and(|s| std::ptr::eq(s, line));
        for (i, seg) in points.into_iter().enumerate() {
            let anno = if line.dashed {
                let series = DashedLineSeries::new(seg, 8, 5, style);
                if is_secondary {
                    chart.draw_secondary_series(series)
                } else {
                    chart.draw_series(series)
                }
            } else if is_secondary {
                chart.draw_secondary_series(LineSeries::new(seg, style))
            } else {
                chart.draw_series(LineSeries::new(seg, style))
            }
            .map_err(|e| format!("{e:?}"))?;
            if i == 0 {
                anno.label(line.label.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(3))
                });
            }
        }
    }
    let mut shown: Vec<(&[f64], f64)> = lines
        .iter()
        .map(|l| (l.values.as_slice(), y.end * 0.5))
        .collect();
    shown.extend(secondary.map(|s| (s.values.as_slice(), y2_max * 0.5)));
    legend(
        &mut chart,
        !lines.is_empty() || secondary.is_some(),
        quiet_corner(&shown),
    )
}

/// Split a line into runs of finite points (NaN means "no value here": a gap).
fn segments(xs: &[f64], ys: &[f64]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (x, y) in xs.iter().zip(ys) {
        if y.is_finite() {
            if let Some(last) = out.last_mut() {
                last.push((*x, *y));
            }
        } else if out.last().is_some_and(|l| !l.is_empty()) {
            out.push(Vec::new());
        }
    }
    out.retain(|s| !s.is_empty());
    if out.is_empty() {
        // Keep one (empty) series so the legend still names the line.
        out.push(Vec::new());
    }
    out
}

fn draw_latency<DB: DrawingBackend>(
    d: &Dashboard,
    area: &DrawingArea<DB, Shift>,
) -> Result<(), String> {
    let values = || {
        d.latency_lines
            .iter()
            .flat_map(|l| l.values.iter().copied())
            .filter(|v| v.is_finite() && *v > 0.0)
    };
    let lo = values().fold(f64::INFINITY, f64::min);
    let hi = values().fold(0.0, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        ((lo / 2.0).max(0.01), (hi * 2.0).max(lo * 10.0))
    } else {
        (1.0, 1000.0)
    };
    let mut chart = builder(area, &d.latency_title)
        .build_cartesian_2d(0.0..d.end_minute.max(1e-6), (lo..hi).log_scale())
        .map_err(|e| format!("{e:?}"))?;
    chart
        .configure_mesh()
        .x_desc(mesh_x_desc(d))
        .y_desc("ms")
        .x_label_formatter(&tick)
        .y_label_formatter(&|v| {
            if *v >= 1000.0 {
                format!("{:.0} s", v / 1000.0)
            } else if *v >= 1.0 {
                format!("{v:.0} ms")
            } else {
                format!("{v:.2} ms")
            }
        })
        .label_style(("sans-serif", 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| format!("{e:?}"))?;
    draw_markers(&mut chart, &d.markers, lo..hi)?;
    for line in &d.latency_lines {
        let color = line.color;
        for (i, seg) in segments(&d.minutes, &line.values).into_iter().enumerate() {
            let seg: Vec<(f64, f64)> = seg.into_iter().map(|(x, y)| (x, y.clamp(lo, hi))).collect();
            let anno = chart
                .draw_series(LineSeries::new(seg, color.stroke_width(2)))
                .map_err(|e| format!("{e:?}"))?;
            if i == 0 {
                anno.label(line.label.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(3))
                });
            }
        }
    }
    let mid = (lo * hi).sqrt();
    let shown: Vec<(&[f64], f64)> = d
        .latency_lines
        .iter()
        .map(|l| (l.values.as_slice(), mid))
        .collect();
    legend(
        &mut chart,
        !d.latency_lines.is_empty(),
        quiet_corner(&shown),
    )
}

fn draw_chart<DB: DrawingBackend>(
    d: &Dashboard,
    root: DrawingArea<DB, Shift>,
    panels: &[Panel],
    rows: usize,
    placed: &[(usize, i32)],
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| format!("{e:?}"))?;
    let (title, rest) = root.split_vertically(TITLE_HEIGHT);
    title
        .draw(&Text::new(
            d.title.clone(),
            (MARGIN as i32 + 6, 16),
            ("sans-serif", 26).into_font().color(&BLACK),
        ))
        .map_err(|e| format!("{e:?}"))?;
    let (band, body) = rest.split_vertically(rows as u32 * MARKER_ROW + 8);
    for (m, &(row, x)) in d.markers.iter().zip(placed) {
        let y = (row as u32 * MARKER_ROW) as i32 + 2;
        band.draw(&PathElement::new(
            vec![(x, y), (x, y + MARKER_ROW as i32 - 2)],
            m.color.stroke_width(2),
        ))
        .map_err(|e| format!("{e:?}"))?;
        band.draw(&Text::new(
            m.label.clone(),
            (x + 4, y + 1),
            ("sans-serif", MARKER_FONT).into_font().color(&m.color),
        ))
        .map_err(|e| format!("{e:?}"))?;
    }
    let areas = body.split_evenly((panels.len(), 1));
    for (panel, area) in panels.iter().zip(areas.iter()) {
        match panel {
            Panel::Status => draw_status(d, area)?,
            Panel::Pool => draw_lines(
                d,
                area,
                &d.pool_title,
                "connections",
                &d.pool_lines,
                d.pool_waiting.as_ref(),
                "callers waiting",
                false,
                false,
            )?,
            Panel::Latency => draw_latency(d, area)?,
            Panel::Extra(i) => {
                let (title, y_desc, lines) = &d.extra[*i];
                draw_lines(d, area, title, y_desc, lines, None, "", false, false)?
            }
            // Without a memory model, replicas up is the panel's only line.
            Panel::Memory if d.memory_lines.is_empty() => {
                let up: Vec<Line> = d
                    .replicas
                    .iter()
                    .map(|l| Line {
                        label: "replicas up".into(),
                        color: l.color,
                        values: l.values.clone(),
                        dashed: false,
                    })
                    .collect();
                draw_lines(
                    d,
                    area,
                    &d.memory_title,
                    "replicas up",
                    &up,
                    None,
                    "",
                    false,
                    true,
                )?
            }
            Panel::Memory => draw_lines(
                d,
                area,
                &d.memory_title,
                "MiB",
                &d.memory_lines,
                d.replicas.as_ref(),
                "replicas up",
                true,
                false,
            )?,
        }
    }
    root.present().map_err(|e| format!("{e:?}"))
}

/// Draw one chart as PNG and SVG bytes.
pub fn render_chart(
    d: &Dashboard,
    name: &str,
    panels: &[Panel],
) -> Result<(Vec<u8>, Vec<u8>), ChartError> {
    if !font_ready() {
        return Err(err(name, "the bundled font could not be loaded"));
    }
    let (placed, rows) = marker_rows(&d.markers, &minute_to_px(d.end_minute));
    let height = chart_height(panels.len(), rows);
    let mut rgb = vec![0u8; (WIDTH * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, height)).into_drawing_area();
        draw_chart(d, root, panels, rows, &placed).map_err(|e| err(name, e))?;
    }
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, WIDTH, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| err(name, e))?;
        w.write_image_data(&rgb).map_err(|e| err(name, e))?;
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        draw_chart(d, root, panels, rows, &placed).map_err(|e| err(name, e))?;
    }
    Ok((png_bytes, svg.into_bytes()))
}

/// Every chart of a replay: (file name, bytes), PNG and SVG for each.
pub fn render_charts(report: &Report) -> Result<Vec<(String, Vec<u8>)>, ChartError> {
    let d = Dashboard::from_report(report);
    let mut files = Vec::new();
    for (name, panels) in CHARTS {
        let (png, svg) = render_chart(&d, name, panels)?;
        files.push((format!("{name}.png"), png));
        files.push((format!("{name}.svg"), svg));
    }
    Ok(files)
}

/// Colours of the lines of a comparison: the baseline black, variants in turn.
const PALETTE: [RGBColor; 9] = [
    RGBColor(30, 30, 30),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// `compare.png` and `compare.svg`: 5xx per second and pool connections in use, one
/// line per run (`(name, run)`, the baseline first), on a shared time axis.
pub fn render_compare(
    report: &Report,
    runs: &[(&str, &crate::outcome::RunResult)],
) -> Result<(Vec<u8>, Vec<u8>), ChartError> {
    let mut d = Dashboard::from_report(report);
    d.title = format!("Compare: {}", report.scenario.title);
    d.markers.clear();
    let series = &report.result.series;
    let bk = buckets(series.rows());
    let gateway = report.scenario.gateways.first().map(|g| g.name.clone());
    let pool = report
        .result
        .pools
        .iter()
        .max_by_key(|p| (p.peak_waiting, std::cmp::Reverse(p.name.clone())))
        .map(|p| p.name.clone());
    let mut errors = Vec::new();
    let mut in_use = Vec::new();
    for (i, (name, run)) in runs.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        if let Some(g) = &gateway {
            let per_status: Vec<Vec<f64>> = STATUSES
                .iter()
                .filter(|s| **s >= 500)
                .filter_map(|s| {
                    column(
                        &run.series,
                        &format!("{g}.status_{s}"),
                        Reduce::RatePerS,
                        &bk,
                    )
                })
                .collect();
            let values = (0..bk.len())
                .map(|k| per_status.iter().map(|v| v[k]).sum())
                .collect();
            errors.push(Line {
                label: name.to_string(),
                color,
                values,
                dashed: false,
            });
        }
        if let Some(p) = &pool {
            let values =
                column(&run.series, &format!("{p}.in_use"), Reduce::Max, &bk).unwrap_or_default();
            in_use.push(Line {
                label: name.to_string(),
                color,
                values,
                dashed: false,
            });
        }
    }
    d.extra = vec![
        (
            match &gateway {
                Some(g) => format!("{g}: 5xx responses per second"),
                None => "no gateway in this system".into(),
            },
            "5xx / s".into(),
            errors,
        ),
        (
            match &pool {
                Some(p) => format!("pool {p}: connections in use (all replicas)"),
                None => "no connection pool in this system".into(),
            },
            "connections".into(),
            in_use,
        ),
    ];
    render_chart(&d, "compare", &[Panel::Extra(0), Panel::Extra(1)])
}
