//! Calibration: a replay laid over what production recorded, with an honest score,
//! and the search for unknown settings that make the two agree.
//!
//! [`observed`] reads the user's observations (CSV, Prometheus JSON) into series;
//! [`align`] puts each on the replay's rows; [`score`] compares a replayed column with
//! its observed series (weighted MAPE, Pearson's r, bias, a grade); [`onset`] finds the
//! moments a postmortem dates (first pool exhaustion, first 5xx, each crash) in both;
//! [`fit`] searches declared unknowns; [`report`] renders `calibration.json`,
//! `calibration.md` and the terminal table. Nothing here reads or writes a file (the
//! app does) or draws (the overlay charts are `report::charts`').

pub mod fit;
pub mod observed;
pub mod onset;
pub mod report;
pub mod score;

use crate::outcome::Series;
use observed::{Matcher, ObservedSeries, Stamp};
use score::Score;

/// Most `--map`s one calibration takes.
pub const MAX_MAPPINGS: usize = 64;

/// How a `timeseries.csv` column relates to its row, which decides where an
/// observation falls and how several in one row combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Counted over the row (responses, requests): several observations add up.
    Count,
    /// A figure over the row (`_ms` percentiles and means, CPU utilisation): their mean.
    Interval,
    /// Read at the row's end (gauges: in flight, in use, memory, replicas up): the last.
    Instant,
}

impl ColumnKind {
    /// The kind of `column`, given whether the exposition counts it.
    pub fn of(column: &str, is_count: bool) -> ColumnKind {
        if is_count {
            ColumnKind::Count
        } else if column.ends_with("_ms") || column.ends_with(".cpu_utilisation") {
            ColumnKind::Interval
        } else {
            ColumnKind::Instant
        }
    }
}

/// One `--map METRIC=COLUMN`: an observed series and the column it is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// METRIC as written.
    pub metric: String,
    /// What METRIC selects.
    pub matcher: Matcher,
    /// A `timeseries.csv` column.
    pub column: String,
}

impl Mapping {
    /// Read `METRIC=COLUMN` (split at the last `=`: a matcher's labels hold `=`, a
    /// column never does).
    pub fn parse(text: &str) -> Result<Mapping, String> {
        let Some((metric, column)) = text.rsplit_once('=') else {
            return Err(format!(
                "--map `{text}`: write METRIC=COLUMN, e.g. `s504=edge.status_504`"
            ));
        };
        let (metric, column) = (metric.trim(), column.trim());
        if column.is_empty() {
            return Err(format!("--map `{text}`: the column after `=` is empty"));
        }
        let matcher = Matcher::parse(metric).map_err(|m| format!("--map `{text}`: {m}"))?;
        Ok(Mapping {
            metric: metric.to_string(),
            matcher,
            column: column.to_string(),
        })
    }
}

/// An observed series on the replay's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The mapping.
    pub mapping: Mapping,
    /// The observed series' file, and its name as a matcher writes it.
    pub source: (String, String),
    /// How the column relates to its row.
    pub kind: ColumnKind,
    /// One value per replay row; NaN where nothing was observed.
    pub observed: Vec<f64>,
    /// Observations outside the replay (before its start or after its end), left out.
    pub outside: usize,
}

/// The row an observation at `t` seconds falls in, if within `rows`: a count or
/// interval figure at t covers `[t, t + resolution)` in a CSV; an instant reading at t
/// belongs to the row whose end-of-row reading is the first at or after t.
fn row_of(t: f64, resolution_s: f64, stamp: Stamp, kind: ColumnKind) -> Option<usize> {
    let x = t / resolution_s;
    // Times written in decimal seconds sit a rounding error off a row's boundary.
    const EPS: f64 = 1e-6;
    let instant_end = match stamp {
        Stamp::Instant => true,
        Stamp::CsvRow { gauges_at_start } => gauges_at_start && kind == ColumnKind::Instant,
    };
    let row = if instant_end {
        (x - EPS).ceil() - 1.0
    } else {
        (x + EPS).floor()
    };
    (row >= 0.0).then_some(row as usize)
}

/// Put an observed series on `rows` rows of `resolution_s` seconds: several
/// observations in one row add up (counts), average (interval figures) or the last
/// counts (instants).
pub fn align(
    mapping: &Mapping,
    series: &ObservedSeries,
    kind: ColumnKind,
    rows: usize,
    resolution_s: f64,
) -> Target {
    let mut sum = vec![0.0; rows];
    let mut count = vec![0usize; rows];
    let mut last_t = vec![f64::NEG_INFINITY; rows];
    let mut outside = 0;
    for &(t, v) in &series.points {
        let Some(r) = row_of(t, resolution_s, series.stamp, kind).filter(|&r| r < rows) else {
            outside += 1;
            continue;
        };
        match kind {
            ColumnKind::Count | ColumnKind::Interval => sum[r] += v,
            ColumnKind::Instant => {
                if t >= last_t[r] {
                    last_t[r] = t;
                    sum[r] = v;
                }
            }
        }
        count[r] += 1;
    }
    let observed = (0..rows)
        .map(|r| match (count[r], kind) {
            (0, _) => f64::NAN,
            (n, ColumnKind::Interval) => sum[r] / n as f64,
            _ => sum[r],
        })
        .collect();
    Target {
        mapping: mapping.clone(),
        source: (series.file.clone(), series.display_name()),
        kind,
        observed,
        outside,
    }
}

/// `(replayed, observed)` at every row where both have a value.
pub fn pairs(replayed: &[f64], observed: &[f64]) -> Vec<(f64, f64)> {
    replayed
        .iter()
        .zip(observed)
        .filter(|(r, o)| r.is_finite() && o.is_finite())
        .map(|(r, o)| (*r, *o))
        .collect()
}

/// A replayed column's values (all NaN if the replay has no such column, which the
/// app refuses before it gets here).
pub fn replayed(series: &Series, column: &str) -> Vec<f64> {
    series
        .column_values(column)
        .unwrap_or_else(|| vec![f64::NAN; series.rows()])
}

/// Every target scored against a replay's series, in order.
pub fn scores(series: &Series, targets: &[Target]) -> Vec<Score> {
    targets
        .iter()
        .map(|t| score::score(&pairs(&replayed(series, &t.mapping.column), &t.observed)))
        .collect()
}
