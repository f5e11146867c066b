//! The overlay chart of `rewind calibrate`: one mapped metric, the observed series
//! dashed over the replayed column, on the replay's time axis, in the style of the
//! other charts (counts as a rate per second, everything else by its maximum per
//! plotted point, so that spikes stay visible in both alike).

use super::*;

/// The observed line's colour: black, apart from every status and component colour.
const OBSERVED: RGBColor = RGBColor(20, 20, 20);

/// `overlay-*.png`: `observed` (one value per replay row, NaN where nothing was
/// observed, drawn as a gap) dashed over the replay's `column`. `count` columns are
/// drawn per second.
pub fn render_overlay(
    report: &Report,
    column: &str,
    observed_label: &str,
    observed: &[f64],
    count: bool,
) -> Result<Vec<u8>, ChartError> {
    let mut d = Dashboard::from_report(report);
    d.title = format!("Calibration: observed {observed_label} over replayed {column}");
    d.markers.clear();
    d.regimes.clear();
    d.panels.clear();
    let series = &report.result.series;
    let rows = series.rows();
    let replayed = series
        .column_values(column)
        .unwrap_or_else(|| vec![f64::NAN; rows]);
    // The two as one table, so that both are reduced to points by the same rule.
    let pair = Series {
        resolution: series.resolution,
        columns: vec!["replayed".into(), "observed".into()],
        values: (0..rows)
            .flat_map(|r| [replayed[r], observed.get(r).copied().unwrap_or(f64::NAN)])
            .collect(),
    };
    let bk = buckets(rows);
    let reduce = if count { Reduce::RatePerS } else { Reduce::Max };
    let line = |name: &str| column_of(&pair, name, reduce, &bk);
    let y_desc = if count {
        "per second".to_string()
    } else {
        column.rsplit('.').next().unwrap_or(column).to_string()
    };
    d.panels.push(PanelData {
        group: Group::Compare,
        title: format!("{column}: replayed (solid) and observed {observed_label} (dashed)"),
        kind: PanelKind::Lines {
            y_desc,
            lines: vec![
                Line {
                    width: 3,
                    ..Line::solid(format!("replayed {column}"), BLUE, line("replayed"))
                },
                Line {
                    width: 2,
                    ..Line::dashed(
                        format!("observed {observed_label}"),
                        OBSERVED,
                        line("observed"),
                    )
                },
            ],
            right: None,
            integer: false,
        },
    });
    render_chart(&d, "overlay", &[0]).map(|(png, _)| png)
}

/// A reduced column that NaN rows leave as gaps: a bucket with no finite value is NaN
/// (rather than the rate reduction's 0), so a stretch with nothing observed is not
/// drawn as an observed zero.
fn column_of(series: &Series, name: &str, reduce: Reduce, bk: &[(usize, usize)]) -> Vec<f64> {
    let reduced = column(series, name, reduce, bk).unwrap_or_default();
    let c = series.column(name);
    reduced
        .into_iter()
        .zip(bk)
        .map(|(v, &(a, b))| {
            let any = c.is_some_and(|c| (a..b).any(|r| series.row(r)[c].is_finite()));
            if any {
                v
            } else {
                f64::NAN
            }
        })
        .collect()
}
