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

use plotters::prelude::*;

use super::Report;
use crate::outcome::regimes::Regime;
use crate::outcome::{Occurrence, Series, STATUSES};

mod compare;
mod draw;

pub use compare::render_compare;
pub use draw::chart_height;
use draw::*;

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

static DEJAVU: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
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
        429 => RGBColor(188, 189, 34),
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

/// The tint a regime's stretch is shaded with (healthy is not shaded).
fn regime_color(regime: Regime) -> RGBColor {
    match regime {
        Regime::Healthy => WHITE,
        Regime::Degraded => RGBColor(240, 170, 30),
        Regime::Overloaded => RGBColor(220, 40, 30),
        Regime::Recovering => RGBColor(40, 130, 220),
        Regime::Metastable => RGBColor(140, 40, 200),
    }
}

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
    /// The second panel's y axis: connections, or requests per second without a pool.
    pool_unit: String,
    pool_lines: Vec<Line>,
    pool_waiting: Option<Line>,
    latency_title: String,
    latency_lines: Vec<Line>,
    memory_title: String,
    memory_lines: Vec<Line>,
    replicas: Option<Line>,
    markers: Vec<Marker>,
    /// Stretches not healthy, shaded behind the panels: (from, to) in `unit`, regime.
    regimes: Vec<(f64, f64, Regime)>,
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
                    // A status that never occurred would only crowd the legend.
                    let seen = *s == 200 || v.iter().any(|&x| x > 0.0);
                    seen.then(|| (s.to_string(), status_color(*s), v))
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
        let mut pool_unit = "connections".to_string();
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
            // Without a pool: the first client's offered load against its goodput, which
            // is where retries and breakers show.
            None => match scenario.clients.first() {
                Some(c) => {
                    pool_unit = "requests / s".into();
                    let rate = |m: &str| {
                        column(series, &format!("{}.{m}", c.name), Reduce::RatePerS, &bk)
                            .unwrap_or_default()
                    };
                    (
                        format!("{}: offered load and goodput", c.name),
                        vec![
                            Line {
                                label: "new requests".into(),
                                color: GREY,
                                values: rate("sent"),
                                dashed: true,
                            },
                            Line {
                                label: "attempts (retries included)".into(),
                                color: DARK_RED,
                                values: rate("attempts"),
                                dashed: false,
                            },
                            Line {
                                label: "answered ok (goodput)".into(),
                                color: status_color(200),
                                values: rate("ok"),
                                dashed: false,
                            },
                        ],
                        None,
                    )
                }
                None => ("no connection pool in this system".into(), Vec::new(), None),
            },
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
            pool_unit,
            pool_lines,
            pool_waiting,
            latency_title,
            latency_lines,
            memory_title,
            memory_lines,
            replicas,
            markers,
            regimes: report
                .result
                .regimes
                .spans
                .iter()
                .filter(|s| s.regime != Regime::Healthy)
                .map(|s| {
                    let at = |t: crate::engine::Nanos| t.as_secs_f64() / unit.1;
                    (at(s.from), at(s.to), s.regime)
                })
                .collect(),
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
