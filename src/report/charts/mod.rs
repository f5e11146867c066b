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
use crate::outcome::{Occurrence, Series, ENVOY_FLAGS, STATUSES};

mod breakers;
mod calibrate;
mod compare;
mod draw;
mod heatmap;
mod panels;

pub use breakers::{client_breaker, LaneState};
pub use calibrate::render_overlay;
pub use compare::render_compare;
pub use draw::chart_height;
use draw::*;
pub use heatmap::{render_heatmap, HeatCell, Heatmap};

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

/// DejaVu Sans, the one font of the charts and of the HTML pages that show them (one
/// copy in the binary serves both).
pub(crate) static DEJAVU: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
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
    /// Dash and gap lengths, px; None: solid.
    dash: Option<(u32, u32)>,
    /// Stroke width, px.
    width: u32,
}

impl Line {
    fn solid(label: impl Into<String>, color: RGBColor, values: Vec<f64>) -> Line {
        Line {
            label: label.into(),
            color,
            values,
            dash: None,
            width: 2,
        }
    }
    fn dashed(label: impl Into<String>, color: RGBColor, values: Vec<f64>) -> Line {
        Line {
            dash: Some((8, 5)),
            ..Line::solid(label, color, values)
        }
    }
}

/// A line on a panel's right axis, with its own scale: callers waiting can outnumber
/// connections a thousand to one, replicas are a handful.
struct RightAxis {
    desc: String,
    line: Line,
    /// Whole numbers (replicas): integer ticks and one unit of headroom.
    integer: bool,
}

/// What a panel draws.
enum PanelKind {
    /// Stacked areas: responses per second by status (label, colour, values).
    Stacked(Vec<(String, RGBColor, Vec<f64>)>),
    /// Lines on a logarithmic axis of milliseconds.
    Latency(Vec<Line>),
    /// One lane per circuit breaker: its closed, half-open and open stretches.
    Breakers(Vec<breakers::Lane>),
    /// Lines on a linear axis, maybe one on a right axis of its own.
    Lines {
        y_desc: String,
        lines: Vec<Line>,
        right: Option<RightAxis>,
        /// Whole numbers on the left axis (replicas).
        integer: bool,
    },
}

/// The chart file a panel is also drawn in, besides the overview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Responses per second by status, per gateway (or answers per client).
    Status,
    /// Responses per second by response flag, per Envoy gateway that set any.
    Flags,
    /// Offered load, attempts and goodput per client (systems without a pool).
    Load,
    /// Each circuit breaker's state over time (systems with a breaker).
    Breakers,
    /// Response times per gateway.
    Latency,
    /// Handlers in flight, the accept queue and replicas up, per service.
    Services,
    /// Connections per pool, and per database against `max_connections`.
    Pool,
    /// Memory against its limit, per service with a memory model; open file
    /// descriptors against theirs, per service that counts them.
    Memory,
    /// The comparison's panels (drawn only in `compare.png`).
    Compare,
}

impl Group {
    /// The chart file's stem, and what the report says it shows.
    pub fn file(self) -> (&'static str, &'static str) {
        match self {
            Group::Status => ("status", "Responses per second at each gateway, by status"),
            Group::Flags => (
                "flags",
                "Responses per second at each Envoy gateway, by response flag (UF, UH, UO, UT, UC, URX; a response can carry two)",
            ),
            Group::Load => (
                "load",
                "Each client's new requests, attempts (retries included) and goodput per second",
            ),
            Group::Breakers => (
                "breakers",
                "Each circuit breaker's state over time: closed, half-open, open",
            ),
            Group::Latency => (
                "latency",
                "Response times at each gateway: p50 and p99 of successes, p99 of all responses (failures included), log scale",
            ),
            Group::Services => (
                "services",
                "Handlers in flight and connections in the accept queue (all replicas), and replicas up, per service",
            ),
            Group::Pool => (
                "pool",
                "Connections per pool (all replicas) and callers waiting; each database's connections against max_connections",
            ),
            Group::Memory => (
                "memory",
                "Memory of the highest replica against its limit, per service with a memory model; open file descriptors against RLIMIT_NOFILE, per service that counts them",
            ),
            Group::Compare => ("compare", "The runs compared"),
        }
    }
}

/// One panel: its chart file, its title and what it draws.
struct PanelData {
    group: Group,
    title: String,
    kind: PanelKind,
}

/// The data of every panel, already downsampled.
pub struct Dashboard {
    title: String,
    /// Bucket starts, in `unit`.
    minutes: Vec<f64>,
    /// End of the replay, in `unit`.
    end_minute: f64,
    /// Name and length in seconds of the x unit: seconds, minutes or hours by duration.
    unit: (&'static str, f64),
    panels: Vec<PanelData>,
    markers: Vec<Marker>,
    /// Stretches not healthy, shaded behind the panels: (from, to) in `unit`, regime.
    regimes: Vec<(f64, f64, Regime)>,
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
            // One action written as several entries (one per client, say) at the same
            // instant under the same label is one marker.
            let key = format!("timeline:{}:{label}", o.at.0);
            if seen.contains(&key) {
                return None;
            }
            seen.push(key);
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
        "fd_exhausted" => ("fds".to_string(), "fds exhausted".to_string(), DARK_RED),
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
    /// The chart files this dashboard draws, each with its panels (indices): the
    /// overview with every panel but the comparison's, then one file per group that has
    /// a panel. A group with nothing to show gets no file, not an empty panel.
    pub fn charts(&self) -> Vec<(&'static str, Vec<usize>)> {
        let of = |g: Group| -> Vec<usize> {
            (0..self.panels.len())
                .filter(|&i| self.panels[i].group == g)
                .collect()
        };
        let mut out = vec![(
            "overview",
            (0..self.panels.len())
                .filter(|&i| self.panels[i].group != Group::Compare)
                .collect::<Vec<_>>(),
        )];
        for g in GROUPS {
            let panels = of(g);
            if !panels.is_empty() {
                out.push((g.file().0, panels));
            }
        }
        out
    }

    /// The per-group chart files (stem, what it shows), in the order they are drawn.
    pub fn chart_descriptions(&self) -> Vec<(&'static str, &'static str)> {
        GROUPS
            .into_iter()
            .filter(|g| self.panels.iter().any(|p| p.group == *g))
            .map(Group::file)
            .collect()
    }

    /// Every panel's title, top to bottom.
    pub fn panel_titles(&self) -> Vec<&str> {
        self.panels.iter().map(|p| p.title.as_str()).collect()
    }
}

/// The groups with a chart file of their own, in the order of the overview.
const GROUPS: [Group; 8] = [
    Group::Status,
    Group::Flags,
    Group::Load,
    Group::Breakers,
    Group::Latency,
    Group::Services,
    Group::Pool,
    Group::Memory,
];

/// Draw one chart as PNG and SVG bytes.
pub fn render_chart(
    d: &Dashboard,
    name: &str,
    panels: &[usize],
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
    for (name, panels) in d.charts() {
        let (png, svg) = render_chart(&d, name, &panels)?;
        files.push((format!("{name}.png"), png));
        files.push((format!("{name}.svg"), svg));
    }
    Ok(files)
}
