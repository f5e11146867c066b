//! Drawing the panels: marker rows and labels, axis ranges made safe for plotters,
//! the status, line and latency panels, and one chart of panels on a drawing area.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::*;

/// Marker labels in rows so that none overlaps another: each label goes to the first
/// row where it clears the previous label's end. Returns (row, pixel x) per marker.
pub(super) fn marker_rows(
    markers: &[Marker],
    to_px: &dyn Fn(f64) -> i32,
) -> (Vec<(usize, i32)>, usize) {
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
pub(super) fn minute_to_px(end_minute: f64) -> impl Fn(f64) -> i32 {
    let left = (MARGIN + Y_LABEL_AREA) as f64;
    let right = (WIDTH - MARGIN - Y2_LABEL_AREA) as f64;
    let span = end_minute.max(1e-9);
    move |m: f64| (left + (m / span).clamp(0.0, 1.0) * (right - left)) as i32
}

pub(super) fn finite_max(values: impl Iterator<Item = f64>) -> f64 {
    values.filter(|v| v.is_finite()).fold(0.0, f64::max)
}

/// A linear range from 0 that plotters can draw: finite, with room above the data.
pub(super) fn y_range(max: f64) -> std::ops::Range<f64> {
    let top = if max.is_finite() && max > 0.0 {
        max * 1.12
    } else {
        1.0
    };
    0.0..top
}

/// The share of a panel's plot height that a legend of `rows` entries takes at its top:
/// the y axis is stretched by it, so that no line runs under the legend.
pub(super) fn legend_room(rows: usize) -> f64 {
    // The plot is the panel less its caption, its x labels and the margin, px.
    let plot_px = f64::from(PANEL_HEIGHT) - 25.0 - 42.0 - 6.0;
    let legend_px = rows as f64 * 18.0 + 20.0;
    (legend_px / plot_px).min(0.6)
}

/// The top of a linear axis from 0 whose data reach `max`, leaving `room` of the
/// height above them (and at least the usual headroom).
pub(super) fn top_with_room(max: f64, room: f64) -> f64 {
    let usual = y_range(max).end;
    if max.is_finite() && max > 0.0 {
        usual.max(max / (1.0 - room))
    } else {
        usual
    }
}

/// Dashed vertical lines at the markers, over the y range (linear or logarithmic).
pub(super) fn draw_markers<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
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

/// Light bands behind the data over the stretches that were not healthy.
pub(super) fn draw_regimes<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    regimes: &[(f64, f64, Regime)],
    y: std::ops::Range<f64>,
) -> Result<(), String> {
    chart
        .draw_series(regimes.iter().map(|&(from, to, regime)| {
            Rectangle::new(
                [(from, y.start), (to, y.end)],
                regime_color(regime).mix(0.13).filled(),
            )
        }))
        .map_err(|e| format!("{e:?}"))?;
    Ok(())
}

/// The regimes shaded in the chart, as swatches at the right of the first panel's
/// caption line (the caption is centred; long titles fill the title strip).
fn regime_legend<DB: DrawingBackend>(
    d: &Dashboard,
    area: &DrawingArea<DB, Shift>,
) -> Result<(), String> {
    let mut shown: Vec<Regime> = Vec::new();
    for &(_, _, r) in &d.regimes {
        if !shown.contains(&r) {
            shown.push(r);
        }
    }
    shown.sort_by_key(|r| *r as u8);
    let step = 130;
    let mut x = WIDTH as i32 - MARGIN as i32 - step * shown.len() as i32;
    for r in shown {
        let c = regime_color(r);
        area.draw(&Rectangle::new(
            [(x, 6), (x + 16, 22)],
            c.mix(0.35).filled(),
        ))
        .map_err(|e| format!("{e:?}"))?;
        area.draw(&Text::new(
            r.name(),
            (x + 22, 6),
            ("sans-serif", 16).into_font().color(&c),
        ))
        .map_err(|e| format!("{e:?}"))?;
        x += step;
    }
    Ok(())
}

pub(super) fn builder<'a, 'b, DB: DrawingBackend>(
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
pub(super) fn quiet_corner(series: &[(&[f64], f64)]) -> SeriesLabelPosition {
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

pub(super) fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
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

pub(super) fn mesh_x_desc(d: &Dashboard) -> String {
    format!(
        "{} since the start (0 to {})",
        d.unit.0,
        tick(&d.end_minute)
    )
}

pub(super) fn draw_status<DB: DrawingBackend>(
    d: &Dashboard,
    area: &DrawingArea<DB, Shift>,
    title: &str,
    layers: &[(String, RGBColor, Vec<f64>)],
) -> Result<(), String> {
    let total = (0..d.minutes.len()).map(|i| {
        layers
            .iter()
            .map(|l| l.2.get(i).copied().unwrap_or(0.0))
            .sum::<f64>()
    });
    let y = 0.0..top_with_room(finite_max(total), legend_room(layers.len()));
    let mut chart = builder(area, title)
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
    draw_regimes(&mut chart, &d.regimes, y.clone())?;
    // Stacked: draw the cumulative sums from the top layer down, each over the last.
    let mut cumulative: Vec<Vec<f64>> = Vec::new();
    let mut running = vec![0.0; d.minutes.len()];
    for (_, _, v) in layers {
        for (i, r) in running.iter_mut().enumerate() {
            *r += v.get(i).copied().filter(|x| x.is_finite()).unwrap_or(0.0);
        }
        cumulative.push(running.clone());
    }
    for (k, (label, color, _)) in layers.iter().enumerate().rev() {
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
    legend(&mut chart, !layers.is_empty(), corner)
}

/// Axis labels with as many decimals as their size needs, and no more.
pub(super) fn tick(v: &f64) -> String {
    let a = v.abs();
    if a >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub(super) fn draw_lines<DB: DrawingBackend>(
    d: &Dashboard,
    area: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    lines: &[Line],
    right: Option<&RightAxis>,
    y_integer: bool,
) -> Result<(), String> {
    let secondary = right.map(|r| &r.line);
    let y2_integer = right.is_some_and(|r| r.integer);
    let y2_desc = right.map_or("", |r| r.desc.as_str());
    let y_data = finite_max(lines.iter().flat_map(|l| l.values.iter().copied()));
    let room = legend_room(lines.len() + usize::from(secondary.is_some()));
    // Counts (replicas) get whole-number ticks and at least one unit of headroom.
    let y = if y_integer {
        0.0..(y_data.max(1.0) / (1.0 - room)).ceil().max(y_data + 1.0)
    } else {
        0.0..top_with_room(y_data, room)
    };
    // At most 11 ticks: a tick per replica smears the axis of a 250-replica fleet.
    let y_labels = if y_integer {
        (y.end as usize + 1).min(11)
    } else {
        10
    };
    let y2_data = secondary.map_or(1.0, |s| finite_max(s.values.iter().copied()).max(1.0));
    let y2_max = if y2_integer {
        (y2_data / (1.0 - room)).ceil().max(y2_data + 1.0)
    } else {
        top_with_room(y2_data, room)
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
        let labels = if y2_integer {
            (y2_max as usize + 1).min(11)
        } else {
            10
        };
        chart
            .configure_secondary_axes()
            .y_desc(y2_desc)
            .y_labels(labels)
            .y_label_formatter(&tick)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| format!("{e:?}"))?;
    }
    draw_regimes(&mut chart, &d.regimes, y.clone())?;
    draw_markers(&mut chart, &d.markers, y.clone())?;
    for line in lines.iter().chain(secondary) {
        let color = line.color;
        let style = color.stroke_width(line.width);
        let points = segments(&d.minutes, &line.values);
        let is_secondary = secondary.is_some_and(|s| std::ptr::eq(s, line));
        for (i, seg) in points.into_iter().enumerate() {
            let anno = if let Some((dash, gap)) = line.dash {
                let series = DashedLineSeries::new(seg, dash, gap, style);
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
                let dash = line.dash;
                anno.label(line.label.clone()).legend(move |(x, y)| {
                    // The legend's sample shows the dash too, so that overlapping
                    // runs can be told apart by pattern as well as by colour.
                    let gap = if dash.is_some() { 4 } else { 0 };
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (8 - gap / 2, 0)], color.stroke_width(3))
                        + PathElement::new(vec![(8 + gap / 2, 0), (18, 0)], color.stroke_width(3))
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
pub(super) fn segments(xs: &[f64], ys: &[f64]) -> Vec<Vec<(f64, f64)>> {
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

pub(super) fn draw_latency<DB: DrawingBackend>(
    d: &Dashboard,
    area: &DrawingArea<DB, Shift>,
    title: &str,
    lines: &[Line],
) -> Result<(), String> {
    let values = || {
        lines
            .iter()
            .flat_map(|l| l.values.iter().copied())
            .filter(|v| v.is_finite() && *v > 0.0)
    };
    let lo = values().fold(f64::INFINITY, f64::min);
    let hi = values().fold(0.0, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        let lo = (lo / 2.0).max(0.01);
        // Room for the legend at the top, as a share of the decades shown.
        let room = legend_room(lines.len());
        let above = lo * (hi / lo).powf(1.0 / (1.0 - room));
        (lo, (hi * 2.0).max(lo * 10.0).max(above))
    } else {
        (1.0, 1000.0)
    };
    let mut chart = builder(area, title)
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
    draw_regimes(&mut chart, &d.regimes, lo..hi)?;
    draw_markers(&mut chart, &d.markers, lo..hi)?;
    for line in lines {
        let color = line.color;
        for (i, seg) in segments(&d.minutes, &line.values).into_iter().enumerate() {
            let seg: Vec<(f64, f64)> = seg.into_iter().map(|(x, y)| (x, y.clamp(lo, hi))).collect();
            let style = color.stroke_width(2);
            let anno = if let Some((dash, gap)) = line.dash {
                chart.draw_series(DashedLineSeries::new(seg, dash, gap, style))
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
    let mid = (lo * hi).sqrt();
    let shown: Vec<(&[f64], f64)> = lines.iter().map(|l| (l.values.as_slice(), mid)).collect();
    legend(&mut chart, !lines.is_empty(), quiet_corner(&shown))
}

pub(super) fn draw_chart<DB: DrawingBackend>(
    d: &Dashboard,
    root: DrawingArea<DB, Shift>,
    panels: &[usize],
    rows: usize,
    placed: &[(usize, i32)],
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| format!("{e:?}"))?;
    let (title, rest) = root.split_vertically(TITLE_HEIGHT);
    let room = WIDTH.saturating_sub(2 * MARGIN + 12);
    for (text, size, y) in fit_title(&d.title, room, |t, size| {
        title
            .estimate_text_size(t, &("sans-serif", size).into_text_style(&title))
            .map_or(u32::MAX, |(w, _)| w)
    }) {
        title
            .draw(&Text::new(
                text,
                (MARGIN as i32 + 6, y),
                ("sans-serif", size).into_font().color(&BLACK),
            ))
            .map_err(|e| format!("{e:?}"))?;
    }
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
    let areas = body.split_evenly((panels.len().max(1), 1));
    if let Some(first) = areas.first() {
        regime_legend(d, first)?;
    }
    for (&i, area) in panels.iter().zip(areas.iter()) {
        let Some(panel) = d.panels.get(i) else {
            continue;
        };
        match &panel.kind {
            PanelKind::Stacked(layers) => draw_status(d, area, &panel.title, layers)?,
            PanelKind::Latency(lines) => draw_latency(d, area, &panel.title, lines)?,
            PanelKind::Breakers(lanes) => {
                super::breakers::draw_breakers(d, area, &panel.title, lanes)?
            }
            PanelKind::Lines {
                y_desc,
                lines,
                right,
                integer,
            } => draw_lines(
                d,
                area,
                &panel.title,
                y_desc,
                lines,
                right.as_ref(),
                *integer,
            )?,
        }
    }
    root.present().map_err(|e| format!("{e:?}"))
}

/// The title's lines, their font size and baseline-free top `y`, fitted to `room`
/// pixels of the title strip as `width(text, size)` measures them: one line at 26
/// px, or 22; else two lines at 20 px split at the last space that fits; a second
/// line still too long ends in an ellipsis. A title never runs off the chart.
fn fit_title(title: &str, room: u32, width: impl Fn(&str, u32) -> u32) -> Vec<(String, u32, i32)> {
    for size in [26, 22] {
        if width(title, size) <= room {
            return vec![(title.to_string(), size, 16)];
        }
    }
    const SIZE: u32 = 20;
    let words: Vec<&str> = title.split(' ').collect();
    let mut first = 1;
    while first < words.len() && width(&words[..=first].join(" "), SIZE) <= room {
        first += 1;
    }
    let clip = |line: String| {
        if width(&line, SIZE) <= room {
            return line;
        }
        let mut chars: Vec<char> = line.chars().collect();
        loop {
            chars.pop();
            let cut = format!("{}…", chars.iter().collect::<String>().trim_end());
            if chars.is_empty() || width(&cut, SIZE) <= room {
                return cut;
            }
        }
    };
    let line1 = clip(words[..first].join(" "));
    let line2 = clip(words[first..].join(" "));
    let mut lines = vec![(line1, SIZE, 4)];
    if !line2.is_empty() {
        lines.push((line2, SIZE, 28));
    }
    lines
}

#[cfg(test)]
mod title_tests {
    use super::fit_title;

    /// A measure of 10 px per character at any size (the real font is narrower at 20).
    fn ten_px(t: &str, _size: u32) -> u32 {
        10 * t.chars().count() as u32
    }

    #[test]
    fn a_short_title_is_one_line_and_a_long_one_two_that_fit() {
        assert_eq!(
            fit_title("short", 100, ten_px),
            vec![("short".into(), 26, 16)]
        );
        let lines = fit_title("aaaa bbbb cccc dddd", 100, ten_px);
        assert_eq!(
            lines,
            vec![("aaaa bbbb".into(), 20, 4), ("cccc dddd".into(), 20, 28)]
        );
        let lines = fit_title("aaaa bbbb cccc dddd eeee ffff", 100, ten_px);
        assert_eq!(lines[1].0, "cccc dddd…");
        assert!(lines.iter().all(|(t, _, _)| ten_px(t, 20) <= 100));
        // One word longer than the room: cut, never over.
        let lines = fit_title("abcdefghijklmnopqrstuvwxyz", 100, ten_px);
        assert_eq!(lines, vec![("abcdefghi…".into(), 20, 4)]);
    }
}
