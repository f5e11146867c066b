//! The tipping-point map of a sweep over two parameters (`sweep.png`, `sweep.svg`):
//! one cell per point, the first parameter across, the second up; the colour is the
//! share of requests that failed, and the cells where the system stayed down after
//! its trigger ended in every seed are hatched and outlined, so the edge between
//! "comes back" and "stays down" reads at a glance.
//!
//! Drawn in pixels on the plain drawing area (the axes are categories, the values as
//! the sweep wrote them), with the bundled font, so it needs no system font.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{err, font_ready, ChartError};

/// One cell of the map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatCell {
    /// Mean share of the clients' requests that failed, 0 to 1 (None: none sent).
    pub failed_share: Option<f64>,
    /// Share of the seeds in which the system was healthy again (None: no entry
    /// to recover from).
    pub recovered_share: Option<f64>,
}

/// What the map shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// The headline.
    pub title: String,
    /// What the colours and marks mean, one line each.
    pub notes: Vec<String>,
    /// The first parameter's path (across) and its values, left to right.
    pub x: (String, Vec<String>),
    /// The second parameter's path (up) and its values, bottom to top.
    pub y: (String, Vec<String>),
    /// Cells, `cells[ix * ny + iy]` (the sweep's point order: the first axis slowest).
    pub cells: Vec<HeatCell>,
    /// Seeds per point, for the "k/n up" labels.
    pub runs: usize,
}

const MARGIN: i32 = 16;
const TITLE_H: i32 = 40;
const LEFT: i32 = 150;
const LEGEND_W: i32 = 250;
const X_LABELS_H: i32 = 64;
const NOTE_H: i32 = 20;
/// Height the legend needs beside the grid, px.
const LEGEND_H: i32 = 330;
const GRID_W: f64 = 900.0;
const GRID_H: f64 = 560.0;
const LABEL_FONT: f64 = 14.0;
/// Rough width of a character of the label font, px, to space labels apart.
const CHAR_W: f64 = 8.0;

/// Yellow to dark red (ColorBrewer's YlOrRd): light where little failed.
const STOPS: [(f64, (u8, u8, u8)); 5] = [
    (0.0, (255, 255, 204)),
    (0.25, (254, 217, 118)),
    (0.5, (253, 141, 60)),
    (0.75, (227, 26, 28)),
    (1.0, (128, 0, 38)),
];

/// The colour of a failed share.
fn shade(share: Option<f64>) -> RGBColor {
    let Some(v) = share.filter(|v| v.is_finite()) else {
        return RGBColor(215, 215, 215);
    };
    let v = v.clamp(0.0, 1.0);
    for w in STOPS.windows(2) {
        let ((a, ca), (b, cb)) = (w[0], w[1]);
        if v <= b {
            let t = (v - a) / (b - a);
            let mix =
                |x: u8, y: u8| (f64::from(x) + t * (f64::from(y) - f64::from(x))).round() as u8;
            return RGBColor(mix(ca.0, cb.0), mix(ca.1, cb.1), mix(ca.2, cb.2));
        }
    }
    let (_, c) = STOPS[STOPS.len() - 1];
    RGBColor(c.0, c.1, c.2)
}

/// Text that reads on a cell of that share.
fn ink(share: Option<f64>) -> RGBColor {
    if share.is_some_and(|v| v > 0.6) {
        WHITE
    } else {
        BLACK
    }
}

/// Cell size in px: the grid fills about [`GRID_W`] x [`GRID_H`], within bounds.
fn cell_size(nx: usize, ny: usize) -> (i32, i32) {
    let w = (GRID_W / nx.max(1) as f64).clamp(14.0, 120.0);
    let h = (GRID_H / ny.max(1) as f64).clamp(12.0, 70.0);
    (w as i32, h as i32)
}

/// `sweep.png` and `sweep.svg`.
pub fn render_heatmap(map: &Heatmap) -> Result<(Vec<u8>, Vec<u8>), ChartError> {
    let name = "sweep";
    if !font_ready() {
        return Err(err(name, "the bundled font could not be loaded"));
    }
    let (nx, ny) = (map.x.1.len(), map.y.1.len());
    if nx * ny != map.cells.len() || nx == 0 {
        return Err(err(name, "the cells do not match the axes"));
    }
    let (cw, ch) = cell_size(nx, ny);
    let grid_w = cw * nx as i32;
    let grid_h = ch * ny as i32;
    let width = (MARGIN * 2 + LEFT + grid_w + LEGEND_W).max(900) as u32;
    let notes_h = NOTE_H * map.notes.len() as i32;
    let body_h = (grid_h + X_LABELS_H).max(LEGEND_H);
    let height = (MARGIN * 2 + TITLE_H + 28 + body_h + notes_h + 8) as u32;
    let mut rgb = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        draw(map, &root, (cw, ch)).map_err(|e| err(name, e))?;
        root.present().map_err(|e| err(name, e))?;
    }
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| err(name, e))?;
        w.write_image_data(&rgb).map_err(|e| err(name, e))?;
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        draw(map, &root, (cw, ch)).map_err(|e| err(name, e))?;
        root.present().map_err(|e| err(name, e))?;
    }
    Ok((png_bytes, svg.into_bytes()))
}

type Area<'a, DB> = DrawingArea<DB, Shift>;

fn text<DB: DrawingBackend>(
    area: &Area<'_, DB>,
    s: &str,
    (x, y): (i32, i32),
    size: f64,
    color: RGBColor,
    pos: Pos,
) -> Result<(), String> {
    let style = ("sans-serif", size).into_font().color(&color).pos(pos);
    area.draw(&Text::new(s.to_string(), (x, y), style))
        .map_err(|e| format!("{e:?}"))
}

fn rect<DB: DrawingBackend>(
    area: &Area<'_, DB>,
    (x0, y0): (i32, i32),
    (x1, y1): (i32, i32),
    style: ShapeStyle,
) -> Result<(), String> {
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], style))
        .map_err(|e| format!("{e:?}"))
}

/// Diagonal lines across a rectangle: the mark of "stays down".
fn hatch<DB: DrawingBackend>(
    area: &Area<'_, DB>,
    (x0, y0): (i32, i32),
    (w, h): (i32, i32),
    color: RGBAColor,
) -> Result<(), String> {
    let gap = 7;
    // Lines x - y = c in the cell's own coordinates, clipped to it.
    let mut c = -h + gap / 2;
    while c < w {
        let u0 = c.max(0);
        let u1 = (h + c).min(w);
        if u1 > u0 {
            let from = (x0 + u0, y0 + u0 - c);
            let to = (x0 + u1, y0 + u1 - c);
            area.draw(&PathElement::new(vec![from, to], color.stroke_width(2)))
                .map_err(|e| format!("{e:?}"))?;
        }
        c += gap;
    }
    Ok(())
}

/// Every `step`-th label, so that labels `width` px wide spaced `pitch` apart never
/// overlap (always the first and, when it fits, the last).
fn label_step(width: f64, pitch: f64) -> usize {
    (width / pitch.max(1.0)).ceil().max(1.0) as usize
}

fn draw<DB: DrawingBackend>(
    map: &Heatmap,
    root: &Area<'_, DB>,
    (cw, ch): (i32, i32),
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| format!("{e:?}"))?;
    let (nx, ny) = (map.x.1.len(), map.y.1.len());
    let left = MARGIN + LEFT;
    let top = MARGIN + TITLE_H + 28;
    let (grid_w, grid_h) = (cw * nx as i32, ch * ny as i32);
    let start = Pos::new(HPos::Left, VPos::Top);
    text(root, &map.title, (MARGIN, MARGIN), 22.0, BLACK, start)?;
    // The second parameter's name over its values, at the top left of the grid.
    text(
        root,
        &format!("{} (up)", map.y.0),
        (left, top - 8),
        LABEL_FONT,
        BLACK,
        Pos::new(HPos::Left, VPos::Bottom),
    )?;

    for ix in 0..nx {
        for iy in 0..ny {
            let cell = map.cells[ix * ny + iy];
            let x0 = left + ix as i32 * cw;
            // Bottom to top: the first value at the bottom.
            let y0 = top + (ny - 1 - iy) as i32 * ch;
            let fill = shade(cell.failed_share);
            rect(root, (x0, y0), (x0 + cw, y0 + ch), fill.filled())?;
            let down = cell.recovered_share == Some(0.0);
            if down {
                // Inside the outline, so that no line strays into a neighbour.
                hatch(root, (x0 + 2, y0 + 2), (cw - 4, ch - 4), BLACK.mix(0.35))?;
            }
            // Thin white gaps between cells keep neighbours of one colour apart.
            rect(root, (x0, y0), (x0 + cw, y0 + ch), WHITE.stroke_width(1))?;
            if down {
                rect(
                    root,
                    (x0 + 1, y0 + 1),
                    (x0 + cw - 2, y0 + ch - 2),
                    BLACK.stroke_width(2),
                )?;
            }
            cell_label(root, map, cell, (x0, y0), (cw, ch), down.then_some(fill))?;
        }
    }

    // Values of the second parameter, right-aligned left of the rows.
    let y_step = label_step(18.0, f64::from(ch));
    for (iy, v) in map.y.1.iter().enumerate() {
        if iy % y_step != 0 {
            continue;
        }
        let y = top + (ny - 1 - iy) as i32 * ch + ch / 2;
        text(
            root,
            v,
            (left - 8, y),
            LABEL_FONT,
            BLACK,
            Pos::new(HPos::Right, VPos::Center),
        )?;
    }
    // Values of the first parameter, centred under the columns.
    let widest = map.x.1.iter().map(|v| v.chars().count()).max().unwrap_or(1) as f64;
    let x_step = label_step(widest * CHAR_W + 10.0, f64::from(cw));
    for (ix, v) in map.x.1.iter().enumerate() {
        if ix % x_step != 0 {
            continue;
        }
        let x = left + ix as i32 * cw + cw / 2;
        text(
            root,
            v,
            (x, top + grid_h + 8),
            LABEL_FONT,
            BLACK,
            Pos::new(HPos::Center, VPos::Top),
        )?;
    }
    text(
        root,
        &format!("{} (across)", map.x.0),
        (left + grid_w / 2, top + grid_h + 34),
        LABEL_FONT,
        BLACK,
        Pos::new(HPos::Center, VPos::Top),
    )?;
    let notes_top = top + (grid_h + X_LABELS_H).max(LEGEND_H) + 4;
    for (i, note) in map.notes.iter().enumerate() {
        let y = notes_top + NOTE_H * i as i32;
        text(root, note, (MARGIN, y), 13.0, RGBColor(60, 60, 60), start)?;
    }
    legend(root, map, (left + grid_w + 36, top))
}

/// A cell's own words: the failed share, and how many seeds came back when not all.
/// On a hatched cell the words sit on a patch of the cell's colour (`backing`), so
/// that the lines do not run through them.
fn cell_label<DB: DrawingBackend>(
    root: &Area<'_, DB>,
    map: &Heatmap,
    cell: HeatCell,
    (x0, y0): (i32, i32),
    (cw, ch): (i32, i32),
    backing: Option<RGBColor>,
) -> Result<(), String> {
    if cw < 34 || ch < 16 {
        return Ok(());
    }
    if let Some(fill) = backing {
        let (cx, cy) = (x0 + cw / 2, y0 + ch / 2);
        let (hw, hh) = (((cw - 10) / 2).min(26), 10);
        rect(root, (cx - hw, cy - hh), (cx + hw, cy + hh), fill.filled())?;
    }
    let color = ink(cell.failed_share);
    let share = match cell.failed_share {
        Some(v) if v.is_finite() => format!("{:.0}%", v * 100.0),
        _ => "-".into(),
    };
    let centre = Pos::new(HPos::Center, VPos::Center);
    let partial = cell
        .recovered_share
        .filter(|s| *s > 0.0 && *s < 1.0)
        .map(|s| format!("{}/{} up", (s * map.runs as f64).round() as usize, map.runs));
    match partial {
        Some(p) if ch >= 34 => {
            text(
                root,
                &share,
                (x0 + cw / 2, y0 + ch / 2 - 8),
                13.0,
                color,
                centre,
            )?;
            text(
                root,
                &p,
                (x0 + cw / 2, y0 + ch / 2 + 9),
                12.0,
                color,
                centre,
            )
        }
        Some(p) if cw >= 70 => text(
            root,
            &format!("{share} {p}"),
            (x0 + cw / 2, y0 + ch / 2),
            12.0,
            color,
            centre,
        ),
        _ => text(
            root,
            &share,
            (x0 + cw / 2, y0 + ch / 2),
            13.0,
            color,
            centre,
        ),
    }
}

/// The colour bar (failed share, 0 to 100%) and the hatched swatch.
fn legend<DB: DrawingBackend>(
    root: &Area<'_, DB>,
    map: &Heatmap,
    (x, y): (i32, i32),
) -> Result<(), String> {
    let start = Pos::new(HPos::Left, VPos::Top);
    text(root, "requests failed", (x, y), LABEL_FONT, BLACK, start)?;
    let (bar_top, bar_h, bar_w) = (y + 24, 200, 22);
    for k in 0..bar_h {
        // Top is 100%.
        let v = 1.0 - f64::from(k) / f64::from(bar_h - 1);
        rect(
            root,
            (x, bar_top + k),
            (x + bar_w, bar_top + k + 1),
            shade(Some(v)).filled(),
        )?;
    }
    rect(
        root,
        (x, bar_top),
        (x + bar_w, bar_top + bar_h),
        RGBColor(120, 120, 120).stroke_width(1),
    )?;
    for pct in [0, 25, 50, 75, 100] {
        let ty = bar_top + bar_h - 1 - (bar_h - 1) * pct / 100;
        root.draw(&PathElement::new(
            vec![(x + bar_w, ty), (x + bar_w + 5, ty)],
            BLACK.stroke_width(1),
        ))
        .map_err(|e| format!("{e:?}"))?;
        text(
            root,
            &format!("{pct}%"),
            (x + bar_w + 9, ty),
            13.0,
            BLACK,
            Pos::new(HPos::Left, VPos::Center),
        )?;
    }
    if map.cells.iter().all(|c| c.recovered_share.is_none()) {
        return Ok(());
    }
    let sy = bar_top + bar_h + 30;
    let (sw, sh) = (34, 26);
    rect(root, (x, sy), (x + sw, sy + sh), shade(Some(0.9)).filled())?;
    hatch(root, (x, sy), (sw, sh), BLACK.mix(0.35))?;
    rect(
        root,
        (x + 1, sy + 1),
        (x + sw - 2, sy + sh - 2),
        BLACK.stroke_width(2),
    )?;
    text(root, "stays down:", (x + sw + 10, sy), 13.0, BLACK, start)?;
    text(
        root,
        "back in no seed",
        (x + sw + 10, sy + 15),
        13.0,
        BLACK,
        start,
    )?;
    if map.runs > 1 {
        text(
            root,
            &format!("k/{} up: back in k seeds", map.runs),
            (x, sy + sh + 14),
            13.0,
            BLACK,
            start,
        )?;
    }
    Ok(())
}
