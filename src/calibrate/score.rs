//! How close a replayed series comes to an observed one: MAPE (weighted), Pearson's r,
//! bias, and a grade with stated thresholds; and the fit's loss over several metrics.
//!
//! Many columns are zero most of the time (504s, 502s, callers waiting), where a
//! point-by-point MAPE divides by zero. The MAPE here is the weighted one (wMAPE):
//! the sum of absolute errors over the sum of the observed values' magnitudes,
//! `100 x sum|replayed - observed| / sum|observed|`, so a point weighs by what was
//! observed there and zeros need no rule of their own. When every observed value is
//! zero it is 0 if the replay is zero too, and undefined (`None`, graded poor)
//! otherwise.

/// The grades, best first, with their thresholds: MAPE below (percent) and r above.
pub const GRADES: [(Grade, f64, f64); 3] = [
    (Grade::Excellent, 10.0, 0.95),
    (Grade::Good, 20.0, 0.85),
    (Grade::Fair, 35.0, 0.70),
];

/// A metric's grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grade {
    /// MAPE < 10% and r > 0.95.
    Excellent,
    /// MAPE < 20% and r > 0.85.
    Good,
    /// MAPE < 35% and r > 0.70.
    Fair,
    /// Anything else.
    Poor,
}

impl Grade {
    /// The grade as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Excellent => "excellent",
            Grade::Good => "good",
            Grade::Fair => "fair",
            Grade::Poor => "poor",
        }
    }
}

/// The grade of a MAPE (percent) and an r. An undefined MAPE (the replay shows what
/// was never observed) is poor; an undefined r (both series constant) leaves the MAPE
/// alone to decide.
pub fn grade(mape: Option<f64>, r: Option<f64>) -> Grade {
    let Some(mape) = mape else {
        return Grade::Poor;
    };
    GRADES
        .iter()
        .find(|(_, m, rr)| mape < *m && r.is_none_or(|r| r > *rr))
        .map_or(Grade::Poor, |(g, _, _)| *g)
}

/// The scores of one mapped metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Rows where both have a value.
    pub n: usize,
    /// Weighted MAPE, percent (None: nothing observed but something replayed).
    pub mape: Option<f64>,
    /// Pearson's correlation (None: both constant; 0 when only one is).
    pub r: Option<f64>,
    /// Mean of replayed minus observed, in the column's unit.
    pub bias: f64,
    /// The bias over the mean observed magnitude, percent (None when that is 0).
    pub bias_percent: Option<f64>,
    /// Mean observed value.
    pub observed_mean: f64,
    /// Mean replayed value, over the same rows.
    pub replayed_mean: f64,
    /// The grade.
    pub grade: Grade,
}

/// Score `(replayed, observed)` pairs (both finite). No pairs: undefined MAPE, poor.
pub fn score(pairs: &[(f64, f64)]) -> Score {
    let n = pairs.len();
    if n == 0 {
        return Score {
            n,
            mape: None,
            r: None,
            bias: 0.0,
            bias_percent: None,
            observed_mean: 0.0,
            replayed_mean: 0.0,
            grade: Grade::Poor,
        };
    }
    let nf = n as f64;
    let abs_error: f64 = pairs.iter().map(|(r, o)| (r - o).abs()).sum();
    let observed_magnitude: f64 = pairs.iter().map(|(_, o)| o.abs()).sum();
    let mape = if observed_magnitude > 0.0 {
        Some(100.0 * abs_error / observed_magnitude)
    } else if abs_error == 0.0 {
        Some(0.0)
    } else {
        None
    };
    let observed_mean = pairs.iter().map(|(_, o)| o).sum::<f64>() / nf;
    let replayed_mean = pairs.iter().map(|(r, _)| r).sum::<f64>() / nf;
    let bias = replayed_mean - observed_mean;
    let bias_percent = (observed_magnitude > 0.0).then(|| 100.0 * bias / (observed_magnitude / nf));
    let r = pearson(pairs, replayed_mean, observed_mean);
    Score {
        n,
        mape,
        r,
        bias,
        bias_percent,
        observed_mean,
        replayed_mean,
        grade: grade(mape, r),
    }
}

/// Pearson's r. Both series constant: None (nothing to correlate; the MAPE says
/// whether they agree). One constant and not the other: 0, since the one follows
/// none of the other's movement.
fn pearson(pairs: &[(f64, f64)], mean_r: f64, mean_o: f64) -> Option<f64> {
    let (mut srr, mut soo, mut sro) = (0.0, 0.0, 0.0);
    for (r, o) in pairs {
        let (dr, d_o) = (r - mean_r, o - mean_o);
        srr += dr * dr;
        soo += d_o * d_o;
        sro += dr * d_o;
    }
    // Below this a series is constant up to rounding.
    let flat = |s: f64, mean: f64| s <= 1e-12 * (1.0 + mean * mean) * pairs.len() as f64;
    match (flat(srr, mean_r), flat(soo, mean_o)) {
        (true, true) => None,
        (true, false) | (false, true) => Some(0.0),
        (false, false) => Some((sro / (srr.sqrt() * soo.sqrt())).clamp(-1.0, 1.0)),
    }
}

/// Cap on one metric's MAPE in the loss, as a fraction: a metric the replay misses
/// entirely (or one never observed but replayed) counts 2, not without bound, so that
/// one metric cannot drown the others.
pub const LOSS_MAPE_CAP: f64 = 2.0;

/// One metric's share of the fit's loss: its MAPE as a fraction (at most
/// [`LOSS_MAPE_CAP`]; undefined counts the cap) plus `1 - r` (0 for an undefined r).
/// 0 is a perfect match; the worst is 4.
pub fn loss_term(s: &Score) -> f64 {
    let mape = s
        .mape
        .map_or(LOSS_MAPE_CAP, |m| (m / 100.0).min(LOSS_MAPE_CAP));
    mape + s.r.map_or(0.0, |r| 1.0 - r)
}

/// The fit's loss: the mean of the metrics' [`loss_term`]s.
pub fn loss(scores: &[Score]) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    scores.iter().map(loss_term).sum::<f64>() / scores.len() as f64
}
