//! `rewind compare`: the baseline and its variants side by side, replayed with the same
//! seeds (common random numbers, so differences are the variant's and not noise).
//!
//! With several runs, each figure is the mean over the seeds with a 95% interval
//! (Student's t), and each change against the baseline is the mean of the paired
//! per-seed differences with its own interval: when that interval contains zero, the
//! report says plainly that the difference is within noise.

use super::html::{text, Block, Column, Document, Inline, Table};
use crate::engine::Nanos;
use crate::outcome::regimes::Regime;
use crate::outcome::{RunResult, STATUSES};

use crate::human;

/// The figures of one replay that the comparison reports. NaN: not applicable (no 5xx,
/// alert never fired, no responses).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// Requests that did not get a 2xx.
    pub failed: f64,
    /// Responses per status at the gateways, in [`STATUSES`] order.
    pub statuses: [f64; crate::outcome::N_STATUSES],
    /// 99th percentile of response time at the first gateway, ms.
    pub p99_ms: f64,
    /// First 5xx, seconds from the start.
    pub first_5xx_s: f64,
    /// First to last 5xx, seconds; with no 5xx, the first 499 to the end of the last
    /// interval with one (clients that gave up are the whole impact then).
    pub impact_s: f64,
    /// Earliest firing of any alert rule minus the first user-visible error, seconds.
    pub time_to_detect_s: f64,
    /// Requests that succeeded over those the clients sent (NaN: none sent).
    pub goodput: f64,
    /// Time in any regime but healthy, seconds.
    pub unhealthy_s: f64,
    /// Time metastable (stuck after its trigger ended, no fix), seconds.
    pub metastable_s: f64,
    /// Whether any alert rule fired; None: the replay has no alert rule.
    pub alert_fired: Option<bool>,
}

impl Figures {
    /// Read the figures off a replay.
    pub fn of(r: &RunResult) -> Figures {
        let mut statuses = [0.0; crate::outcome::N_STATUSES];
        for g in &r.gateways {
            for (i, n) in g.by_status.iter().enumerate() {
                statuses[i] += *n as f64;
            }
        }
        let first_5xx = r.first_5xx().map(|(t, _)| t);
        let last_5xx = r.last_5xx();
        let secs = |t: Option<Nanos>| t.map_or(f64::NAN, |t| t.as_secs_f64());
        let ttd = match (
            r.alerts.iter().filter_map(|a| a.first_firing).min(),
            r.first_user_visible_error(),
        ) {
            (Some(f), Some(e)) => f.saturating_sub(e).as_secs_f64(),
            _ => f64::NAN,
        };
        Figures {
            failed: r.clients.iter().map(|c| c.failed as f64).sum(),
            statuses,
            p99_ms: r
                .gateways
                .first()
                .and_then(|g| g.p99_ms)
                .unwrap_or(f64::NAN),
            first_5xx_s: secs(first_5xx),
            impact_s: match (first_5xx, last_5xx) {
                (Some(a), Some(b)) => b.saturating_sub(a).as_secs_f64(),
                _ => match (r.first_user_visible_error(), last_499_end(r)) {
                    (Some(a), Some(b)) => b.saturating_sub(a).as_secs_f64(),
                    _ => f64::NAN,
                },
            },
            time_to_detect_s: ttd,
            goodput: {
                let sent: u64 = r.clients.iter().map(|c| c.sent).sum();
                let ok: u64 = r.clients.iter().map(|c| c.ok).sum();
                if sent == 0 {
                    f64::NAN
                } else {
                    ok as f64 / sent as f64
                }
            },
            unhealthy_s: time_in(r, |g| g != Regime::Healthy),
            metastable_s: time_in(r, |g| g == Regime::Metastable),
            alert_fired: (!r.alerts.is_empty())
                .then(|| r.alerts.iter().any(|a| a.first_firing.is_some())),
        }
    }

    fn get(&self, m: Measure) -> f64 {
        match m {
            Measure::Failed => self.failed,
            Measure::P99 => self.p99_ms,
            Measure::First5xx => self.first_5xx_s,
            Measure::Impact => self.impact_s,
            Measure::TimeToDetect => self.time_to_detect_s,
            Measure::Goodput => self.goodput,
            Measure::Unhealthy => self.unhealthy_s,
            Measure::Metastable => self.metastable_s,
        }
    }
}

/// The end of the last interval in which a gateway logged a 499, capped at the end of
/// the replay (the totals keep the last 5xx's instant, not the last 499's).
fn last_499_end(r: &RunResult) -> Option<Nanos> {
    let series = &r.series;
    let cols: Vec<usize> = r
        .gateways
        .iter()
        .filter_map(|g| series.column(&format!("{}.status_499", g.name)))
        .collect();
    let last = (0..series.rows())
        .rev()
        .find(|&row| cols.iter().any(|&c| series.row(row)[c] > 0.0))?;
    let end = series.resolution.saturating_mul(last as u64 + 1);
    Some(end.min(r.duration))
}

/// "time to detect" of a row: the mean over the runs where an alert fired, and with
/// several runs in how many it fired; "never fired" when none did, "-" without rules.
fn detection(row: &Row) -> String {
    let n = row.runs.len();
    let fired = row
        .runs
        .iter()
        .filter(|f| f.alert_fired == Some(true))
        .count();
    if row.runs.iter().all(|f| f.alert_fired.is_none()) {
        return "-".into();
    }
    if fired == 0 {
        return if n == 1 {
            "never fired".into()
        } else {
            format!("fired in 0 of {n} runs")
        };
    }
    let (mean, ci, _) = mean_ci(row.runs.iter().map(|f| f.time_to_detect_s));
    let t = pm(duration(mean), ci, &duration);
    if n == 1 {
        t
    } else {
        format!("{t} (fired in {fired} of {n} runs)")
    }
}

/// Seconds the replay spent in regimes that satisfy `which`.
fn time_in(r: &RunResult, which: impl Fn(Regime) -> bool) -> f64 {
    r.regimes
        .spans
        .iter()
        .filter(|s| which(s.regime))
        .map(|s| s.to.saturating_sub(s.from).as_secs_f64())
        .sum()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measure {
    Failed,
    P99,
    First5xx,
    Impact,
    TimeToDetect,
    Goodput,
    Unhealthy,
    Metastable,
}

/// One row of the comparison: a variant (or the baseline) over every seed.
#[derive(Debug, Clone)]
pub struct Row {
    /// `baseline` or the variant's name.
    pub name: String,
    /// What it changes.
    pub description: String,
    /// One entry per seed, in seed order (the same seeds for every row).
    pub runs: Vec<Figures>,
}

/// Two-sided 95% quantile of Student's t with `df` degrees of freedom.
fn t95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        31..=60 => 2.000,
        61..=120 => 1.980,
        _ => 1.960,
    }
}

/// Mean and 95% half-width (Student's t) of the finite values, and how many there were
/// (half-width NaN with fewer than two).
pub fn mean_ci(xs: impl Iterator<Item = f64>) -> (f64, f64, usize) {
    let v: Vec<f64> = xs.filter(|x| x.is_finite()).collect();
    let n = v.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, 0);
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, f64::NAN, n);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, t95(n - 1) * (var / n as f64).sqrt(), n)
}

/// Change of `m` against the baseline: mean paired difference and its half-width.
fn change(row: &Row, base: &Row, m: Measure) -> (f64, f64, usize) {
    mean_ci(
        row.runs
            .iter()
            .zip(&base.runs)
            .map(|(a, b)| a.get(m) - b.get(m)),
    )
}

fn num(v: f64) -> String {
    if !v.is_finite() {
        String::new()
    } else if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.3}")
    }
}

/// `compare.csv`: one row per variant, the baseline first.
pub fn compare_csv(rows: &[Row]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = vec![
        "variant".into(),
        "runs".into(),
        "failed".into(),
        "failed_ci95".into(),
    ];
    header.extend(STATUSES.iter().map(|s| format!("status_{s}")));
    header.extend(
        [
            "p99_ms",
            "p99_ms_ci95",
            "first_5xx_s",
            "impact_s",
            "time_to_detect_s",
            "goodput",
            "unhealthy_s",
            "metastable_s",
            "failed_change",
            "failed_change_pct",
            "failed_change_ci95",
            "failed_change_within_noise",
            "p99_ms_change",
            "time_to_detect_s_change",
        ]
        .map(String::from),
    );
    w.write_record(&header)?;
    let base = &rows[0];
    for row in rows {
        let (failed, failed_ci, _) = mean_ci(row.runs.iter().map(|f| f.failed));
        let (p99, p99_ci, _) = mean_ci(row.runs.iter().map(|f| f.p99_ms));
        let mut rec = vec![
            row.name.clone(),
            row.runs.len().to_string(),
            num(failed),
            num(failed_ci),
        ];
        for i in 0..STATUSES.len() {
            rec.push(num(mean_ci(row.runs.iter().map(|f| f.statuses[i])).0));
        }
        rec.push(num(p99));
        rec.push(num(p99_ci));
        for m in [
            Measure::First5xx,
            Measure::Impact,
            Measure::TimeToDetect,
            Measure::Goodput,
            Measure::Unhealthy,
            Measure::Metastable,
        ] {
            rec.push(num(mean_ci(row.runs.iter().map(|f| f.get(m))).0));
        }
        if std::ptr::eq(row, base) {
            // The baseline's changes against itself are empty, not "zero, within noise".
            rec.extend(std::iter::repeat_n(String::new(), 6));
            w.write_record(&rec)?;
            continue;
        }
        let (d, d_ci, _) = change(row, base, Measure::Failed);
        let (base_failed, _, _) = mean_ci(base.runs.iter().map(|f| f.failed));
        rec.push(num(d));
        rec.push(if base_failed > 0.0 {
            num(100.0 * d / base_failed)
        } else {
            String::new()
        });
        rec.push(num(d_ci));
        rec.push(if d_ci.is_finite() {
            (d.abs() <= d_ci).to_string()
        } else {
            String::new()
        });
        rec.push(num(change(row, base, Measure::P99).0));
        rec.push(num(change(row, base, Measure::TimeToDetect).0));
        w.write_record(&rec)?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

fn percent(share: f64) -> String {
    if share.is_finite() {
        format!("{:.1}%", 100.0 * share)
    } else {
        "-".into()
    }
}

fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let n = v.round() as i64;
    let out = human::thousands(n.unsigned_abs());
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn duration(s: f64) -> String {
    if s.is_finite() {
        Nanos::from_secs_f64(s).to_string()
    } else {
        "-".into()
    }
}

/// A time spent in some regime: "none" rather than "0ms" when it never was.
fn time_or_none(s: f64) -> String {
    if s == 0.0 {
        "none".into()
    } else {
        duration(s)
    }
}

fn pm(mean: String, ci: f64, fmt: &dyn Fn(f64) -> String) -> String {
    if ci.is_finite() {
        format!("{mean} ± {}", fmt(ci))
    } else {
        mean
    }
}

/// The comparison: the table and what it means. `compare.md` and `compare.html` are
/// renderings of it; `chart`: whether `compare.png`/`.svg` were drawn.
pub fn comparison(title: &str, rows: &[Row], seeds: &[u64], chart: bool) -> Document {
    let mut blocks = Vec::new();
    let base = &rows[0];
    blocks.push(Block::Paragraph(intro(rows.len() - 1, seeds)));
    if chart {
        blocks.push(Block::Chart {
            name: "compare".into(),
            alt: "Failed requests (499s included) and goodput per second, and pool in use, per variant".into(),
        });
    }
    // The error statuses any run answered, each a column.
    let shown: Vec<usize> = (0..STATUSES.len())
        .filter(|&i| STATUSES[i] >= 400)
        .filter(|&i| {
            rows.iter()
                .any(|r| r.runs.iter().any(|f| f.statuses[i] > 0.0))
        })
        .collect();
    let mut columns = vec![
        Column::text("variant"),
        Column::numeric("failed"),
        Column::numeric("goodput"),
    ];
    columns.extend(
        shown
            .iter()
            .map(|&i| Column::numeric(STATUSES[i].to_string())),
    );
    columns.extend(
        [
            "p99",
            "first 5xx",
            "impact",
            "time to detect",
            "not healthy",
            "metastable",
        ]
        .map(Column::numeric),
    );
    columns.push(Column::text("failed vs baseline"));
    let (base_failed, _, _) = mean_ci(base.runs.iter().map(|f| f.failed));
    let mut table = Vec::new();
    for row in rows {
        let (failed, failed_ci, _) = mean_ci(row.runs.iter().map(|f| f.failed));
        let (p99, p99_ci, _) = mean_ci(row.runs.iter().map(|f| f.p99_ms));
        let mean_of = |m: Measure| mean_ci(row.runs.iter().map(|f| f.get(m))).0;
        let vs = if std::ptr::eq(row, base) {
            "-".to_string()
        } else {
            failed_vs_baseline(row, base, base_failed)
        };
        let mut cells = vec![
            text(&row.name),
            text(pm(thousands(failed), failed_ci, &thousands)),
            text(percent(mean_of(Measure::Goodput))),
        ];
        cells.extend(
            shown
                .iter()
                .map(|&i| text(thousands(mean_ci(row.runs.iter().map(|f| f.statuses[i])).0))),
        );
        cells.extend([
            text(pm(duration(p99 / 1000.0), p99_ci, &|v| {
                duration(v / 1000.0)
            })),
            text(duration(mean_of(Measure::First5xx))),
            text(duration(mean_of(Measure::Impact))),
            text(detection(row)),
            text(time_or_none(mean_of(Measure::Unhealthy))),
            text(time_or_none(mean_of(Measure::Metastable))),
            text(vs),
        ]);
        table.push(cells);
    }
    blocks.push(Block::Table(Table {
        columns,
        rows: table,
    }));
    blocks.push(Block::Paragraph(text(
        "impact: first to last 5xx, or, when there was no 5xx, first 499 to the end of the last interval with one. time to detect: first alert firing after the first 5xx or 499, averaged over the runs in which one fired.",
    )));
    blocks.push(Block::Heading("What each variant changes".into()));
    let mut items = Vec::new();
    for row in rows.iter().skip(1) {
        let (d, d_ci, _) = change(row, base, Measure::Failed);
        let verdict = if d_ci.is_finite() && d.abs() <= d_ci {
            format!(
                "the difference in failed requests ({}) is within noise: the 95% interval of the paired difference, ±{}, contains zero",
                thousands(d),
                thousands(d_ci)
            )
        } else if d < 0.0 {
            format!("{} fewer failed requests than the baseline", thousands(-d))
        } else if d > 0.0 {
            format!("{} more failed requests than the baseline", thousands(d))
        } else {
            "exactly as many failed requests as the baseline".into()
        };
        let desc = if row.description.is_empty() {
            String::new()
        } else {
            format!("{}: ", row.description)
        };
        items.push(vec![
            Inline::Strong(row.name.clone()),
            Inline::Text(format!(": {desc}{verdict}.")),
        ]);
    }
    blocks.push(Block::List(items));
    Document {
        title: format!("Compare: {title}"),
        blocks,
    }
}

/// The opening paragraph: how many variants, which seeds, and how to read the figures.
fn intro(variants: usize, seeds: &[u64]) -> Vec<Inline> {
    let n = seeds.len();
    let seeds_text = match seeds {
        [one] => format!("seed {one}"),
        [first, .., last] => format!("seeds {first} to {last}"),
        [] => "no seeds".into(),
    };
    let mut intro = vec![Inline::Text(format!(
        "The baseline and {}, each replayed with {seeds_text} (common random numbers: every variant sees the same arrivals and draws as the baseline). ",
        match variants {
            1 => "1 variant".to_string(),
            k => format!("{k} variants"),
        }
    ))];
    if n > 1 {
        intro.push(Inline::Text(format!(
            "Figures are means over the {n} runs with a 95% interval (±)."
        )));
    } else {
        intro.push(Inline::Text(
            "One run each: differences are exact for this seed; ".into(),
        ));
        intro.push(Inline::Code("--runs N".into()));
        intro.push(Inline::Text(" tells them from noise.".into()));
    }
    intro
}

/// A variant's failed requests against the baseline's (`base_failed`, their mean): the
/// paired difference with its interval, as a share, and whether it is within noise.
fn failed_vs_baseline(row: &Row, base: &Row, base_failed: f64) -> String {
    let (d, d_ci, _) = change(row, base, Measure::Failed);
    let pct = if base_failed > 0.0 {
        format!(" ({:+.1}%)", 100.0 * d / base_failed)
    } else {
        String::new()
    };
    let noise = if d_ci.is_finite() && d.abs() <= d_ci {
        ", within noise"
    } else {
        ""
    };
    let signed = if d > 0.0 {
        format!("+{}", thousands(d))
    } else {
        thousands(d)
    };
    format!("{}{pct}{noise}", pm(signed, d_ci, &thousands))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_and_intervals() {
        assert_eq!(t95(4), 2.776);
        let (m, ci, n) = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0].into_iter());
        assert_eq!((m, n), (3.0, 5));
        // sd = 1.5811, se = 0.7071, t(4) = 2.776
        // sd = sqrt(2.5), se = sd / sqrt(5) = sqrt(0.5), t(4) = 2.776
        assert!((ci - 2.776 * 0.5f64.sqrt()).abs() < 1e-9);
        let (_, ci, _) = mean_ci([7.0].into_iter());
        assert!(ci.is_nan());
    }

    /// Each status column holds that status's count: 429 under 429, 504 under 504.
    #[test]
    fn status_columns_line_up_with_their_headers() {
        let mut statuses = [0.0; crate::outcome::N_STATUSES];
        for (i, code) in STATUSES.iter().enumerate() {
            statuses[i] = f64::from(*code) * 10.0;
        }
        statuses[crate::outcome::status_index(500)] = 0.0;
        let figures = Figures {
            failed: 1.0,
            statuses,
            p99_ms: f64::NAN,
            first_5xx_s: f64::NAN,
            impact_s: f64::NAN,
            time_to_detect_s: f64::NAN,
            goodput: 0.5,
            unhealthy_s: 60.0,
            metastable_s: 0.0,
            alert_fired: None,
        };
        let rows = [Row {
            name: "baseline".into(),
            description: String::new(),
            runs: vec![figures],
        }];
        let md = comparison("t", &rows, &[1], true).markdown();
        let table: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
        let head: Vec<&str> = table[0].split('|').map(str::trim).collect();
        let row: Vec<&str> = table[1].split('|').map(str::trim).collect();
        for code in [429, 499, 502, 503, 504] {
            let col = head
                .iter()
                .position(|h| *h == code.to_string())
                .unwrap_or_else(|| panic!("no column {code}: {head:?}"));
            assert_eq!(row[col], thousands(f64::from(code) * 10.0), "{code}");
        }
        // No run answered a 500: no column for it.
        assert!(!head.contains(&"500"), "{head:?}");
        assert_eq!(
            row[head.iter().position(|h| *h == "goodput").unwrap_or(0)],
            "50.0%"
        );
    }
}
