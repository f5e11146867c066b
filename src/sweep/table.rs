//! `sweep.csv` and the heatmap's data, from the manifest and the finished points
//! alone: a whole sweep and a merge of its shards read the same records and so
//! write the same bytes.
//!
//! Per point, over its seeds: the share of the clients' requests that failed (mean
//! and 95% half-width, Student's t); the first 5xx (mean and half-width over the
//! seeds that had one, and how many did); the share of seeds in which the system was
//! healthy again after the recovery mark ([`super::points::recovery_mark`]), and how
//! long that took (mean and half-width over those seeds).

use super::points::{Manifest, PointRecord};
use crate::report::charts::{HeatCell, Heatmap};
use crate::report::compare::mean_ci;

/// The figures of one point over its seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The point's values, one per axis.
    pub values: Vec<String>,
    /// Seeds replayed.
    pub runs: usize,
    /// Share of requests failed: mean, half-width.
    pub failed_share: (f64, f64),
    /// First 5xx, seconds: mean, half-width, seeds with one.
    pub first_5xx_s: (f64, f64, usize),
    /// Share of seeds back to healthy after the mark (None: no mark).
    pub recovered_share: Option<f64>,
    /// Time to recover, seconds: mean, half-width, seeds that recovered.
    pub recover_s: (f64, f64, usize),
    /// The entry recovery is measured from.
    pub recovery_from: Option<String>,
}

impl Row {
    /// Aggregate one point's record.
    pub fn of(record: &PointRecord) -> Row {
        let shares = record.runs.iter().map(|r| {
            if r.sent == 0 {
                f64::NAN
            } else {
                r.failed as f64 / r.sent as f64
            }
        });
        let (fm, fci, _) = mean_ci(shares);
        let first = mean_ci(
            record
                .runs
                .iter()
                .map(|r| r.first_5xx_s.unwrap_or(f64::NAN)),
        );
        let marked: Vec<bool> = record.runs.iter().filter_map(|r| r.recovered).collect();
        let recovered_share = (!marked.is_empty())
            .then(|| marked.iter().filter(|&&b| b).count() as f64 / marked.len() as f64);
        let recover = mean_ci(record.runs.iter().map(|r| r.recover_s.unwrap_or(f64::NAN)));
        Row {
            values: record.set.iter().map(|(_, v)| v.clone()).collect(),
            runs: record.runs.len(),
            failed_share: (fm, fci),
            first_5xx_s: first,
            recovered_share,
            recover_s: recover,
            recovery_from: record.recovery_from.clone(),
        }
    }
}

/// A figure with `decimals` places; empty when it does not apply (NaN).
fn fixed(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        String::new()
    }
}

/// `sweep.csv`: a header, then one row per point in the grid's order.
pub fn sweep_csv(manifest: &Manifest, rows: &[Row]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = manifest.vary.iter().map(|a| a.path.as_str()).collect();
    header.extend([
        "runs",
        "failed_share",
        "failed_share_ci95",
        "first_5xx_s",
        "first_5xx_s_ci95",
        "runs_with_5xx",
        "recovered_share",
        "recover_s",
        "recover_s_ci95",
        "recovery_from",
    ]);
    w.write_record(&header)?;
    for r in rows {
        let mut rec = r.values.clone();
        rec.extend([
            r.runs.to_string(),
            fixed(r.failed_share.0, 4),
            fixed(r.failed_share.1, 4),
            fixed(r.first_5xx_s.0, 3),
            fixed(r.first_5xx_s.1, 3),
            r.first_5xx_s.2.to_string(),
            r.recovered_share.map_or_else(String::new, |s| fixed(s, 4)),
            fixed(r.recover_s.0, 1),
            fixed(r.recover_s.1, 1),
            r.recovery_from.clone().unwrap_or_default(),
        ]);
        w.write_record(&rec)?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The heatmap of a sweep over exactly two parameters (None otherwise).
pub fn heatmap(manifest: &Manifest, rows: &[Row]) -> Option<Heatmap> {
    let [x, y] = manifest.vary.as_slice() else {
        return None;
    };
    let runs = manifest.seeds.len();
    let from = rows.iter().find_map(|r| r.recovery_from.clone());
    let seeds = if runs == 1 {
        "one seed".to_string()
    } else {
        format!("mean of {runs} seeds")
    };
    let mut notes = vec![format!(
        "Colour: share of the clients' requests that failed ({seeds}). Each cell is one point of sweep.csv."
    )];
    if let Some(from) = &from {
        notes.push(format!(
            "Hatched and outlined: it stays down. In no seed was it healthy again after {from} (5 minutes in a row, or to the end)."
        ));
    }
    Some(Heatmap {
        title: format!("Sweep: {}", manifest.title),
        notes,
        x: (x.path.clone(), x.values.clone()),
        y: (y.path.clone(), y.values.clone()),
        cells: rows
            .iter()
            .map(|r| HeatCell {
                failed_share: Some(r.failed_share.0).filter(|v| v.is_finite()),
                recovered_share: r.recovered_share,
            })
            .collect(),
        runs,
    })
}
