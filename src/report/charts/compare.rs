//! The comparison chart: 5xx per second and pool connections in use, one line per
//! run of `rewind compare`, on a shared time axis.

use plotters::prelude::*;

use super::*;

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
    d.regimes.clear();
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
