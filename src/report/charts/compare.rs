//! The comparison chart, one line per run of `rewind compare` on a shared time axis:
//! failed requests per second (every answer but a 200, 499s included), goodput, and
//! the connections in use of the pool that had callers waiting longest.

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

/// Dash patterns of the variants' lines (the baseline is solid and wide): where two
/// runs draw the same values, each still shows through the other's gaps.
const DASHES: [(u32, u32); 4] = [(12, 6), (4, 4), (18, 5), (8, 8)];

/// The style of run `i`'s line.
fn run_line(i: usize, name: &str, values: Vec<f64>) -> Line {
    let mut line = Line::solid(name, PALETTE[i % PALETTE.len()], values);
    if i == 0 {
        line.width = 4;
    } else {
        line.dash = Some(DASHES[(i - 1) % DASHES.len()]);
    }
    line
}

/// Sum of several rate columns, bucket by bucket (a missing column adds nothing).
fn summed(series: &Series, names: &[String], bk: &[(usize, usize)]) -> Vec<f64> {
    let cols: Vec<Vec<f64>> = names
        .iter()
        .filter_map(|n| column(series, n, Reduce::RatePerS, bk))
        .collect();
    (0..bk.len())
        .map(|k| cols.iter().map(|v| v[k]).sum())
        .collect()
}

/// `compare.png` and `compare.svg`: failed requests and goodput per second, and pool
/// connections in use, one line per run (`(name, run)`, the baseline first).
pub fn render_compare(
    report: &Report,
    runs: &[(&str, &crate::outcome::RunResult)],
) -> Result<(Vec<u8>, Vec<u8>), ChartError> {
    let mut d = Dashboard::from_report(report);
    d.title = format!("Compare: {}", report.scenario.title);
    d.markers.clear();
    d.regimes.clear();
    d.panels.clear();
    let scenario = report.scenario;
    let bk = buckets(report.result.series.rows());
    // Failures as users saw them: every status but 200 at every gateway, 499s (clients
    // that gave up) included; without a gateway, what the clients counted as failed.
    let failure_columns: Vec<String> = if scenario.gateways.is_empty() {
        scenario
            .clients
            .iter()
            .map(|c| format!("{}.failed", c.name))
            .collect()
    } else {
        scenario
            .gateways
            .iter()
            .flat_map(|g| {
                STATUSES
                    .iter()
                    .filter(|s| **s != 200)
                    .map(move |s| format!("{}.status_{s}", g.name))
            })
            .collect()
    };
    let ok_columns: Vec<String> = scenario
        .clients
        .iter()
        .map(|c| format!("{}.ok", c.name))
        .collect();
    let pool = report
        .result
        .pools
        .iter()
        .max_by_key(|p| (p.peak_waiting, std::cmp::Reverse(p.name.clone())))
        .map(|p| p.name.clone());
    let (mut failed, mut goodput, mut in_use) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (name, run)) in runs.iter().enumerate() {
        failed.push(run_line(
            i,
            name,
            summed(&run.series, &failure_columns, &bk),
        ));
        goodput.push(run_line(i, name, summed(&run.series, &ok_columns, &bk)));
        if let Some(p) = &pool {
            let values =
                column(&run.series, &format!("{p}.in_use"), Reduce::Max, &bk).unwrap_or_default();
            in_use.push(run_line(i, name, values));
        }
    }
    let lines = |title: String, y_desc: &str, lines: Vec<Line>| PanelData {
        group: Group::Compare,
        title,
        kind: PanelKind::Lines {
            y_desc: y_desc.into(),
            lines,
            right: None,
            integer: false,
        },
    };
    d.panels.push(lines(
        "failed requests per second (every answer but a 200, 499s included)".into(),
        "failed / s",
        failed,
    ));
    d.panels.push(lines(
        "goodput: the clients' requests answered ok per second".into(),
        "ok / s",
        goodput,
    ));
    // No pool, no panel: an empty one would only say so.
    if let Some(p) = &pool {
        d.panels.push(lines(
            format!("pool {p}: connections in use (all replicas)"),
            "connections",
            in_use,
        ));
    }
    let panels: Vec<usize> = (0..d.panels.len()).collect();
    render_chart(&d, "compare", &panels)
}
