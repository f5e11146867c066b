//! Fitting unknowns: settings declared unknown within a range (`--fit PATH=LO..HI`,
//! PATH a variant path such as `orders-db.max_open` or `timeline.fix.at`) searched for
//! the values whose replay comes closest to the observations.
//!
//! The search is a Latin hypercube over the ranges (half the budget, evaluated as one
//! batch, which the app runs on every core), then Nelder-Mead (`argmin`) from the best
//! point found, one candidate at a time, until the budget of evaluations is spent or
//! the simplex has shrunk below one unit of an integral parameter. Every candidate is
//! replayed with the same seeds (common random numbers), so the loss differs between
//! candidates by their settings alone, and the search is deterministic: the hypercube
//! is drawn from a stream of the run's seed and the simplex moves by the losses alone.
//! A candidate already evaluated (integral parameters round to the same values) is
//! not replayed again and costs nothing.

use std::cell::RefCell;
use std::collections::BTreeMap;

use argmin::core::{CostFunction, Executor};
use argmin::solver::neldermead::NelderMead;

use crate::engine::SimRng;
use crate::incident::Setting;

/// Most unknowns one fit searches: each adds a dimension the budget must cover.
pub const MAX_UNKNOWNS: usize = 4;
/// Evaluations (distinct candidates) a fit spends by default.
pub const DEFAULT_BUDGET: u32 = 40;
/// Most evaluations `--budget` allows: each is a replay per seed.
pub const MAX_BUDGET: u32 = 400;
/// Most seeds per candidate (`--runs`).
pub const MAX_RUNS: u32 = 10;

/// One unknown: a variant path and its range, `LO..HI` with one unit (`10..40`,
/// `256KiB..320KiB`, `30m..60m`, `80/s..120/s`). Bounds written without a decimal
/// point make it integral: candidates are whole numbers of the unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Unknown {
    /// The variant path.
    pub path: String,
    /// Lower bound, in `unit`.
    pub lo: f64,
    /// Upper bound, in `unit`.
    pub hi: f64,
    /// The unit both bounds were written in (may be empty).
    pub unit: String,
    /// Candidates are whole numbers.
    pub integral: bool,
}

/// A number and its unit: `256KiB` -> (256, "KiB", integral).
fn quantity(text: &str) -> Option<(f64, String, bool)> {
    let text = text.trim();
    let split = text
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == '-' || *c == '+'))
        .map_or(text.len(), |(i, _)| i);
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let unit = unit.trim();
    let unit_ok = unit.chars().all(|c| c.is_ascii_alphabetic() || c == '/');
    (value.is_finite() && unit_ok).then(|| (value, unit.to_string(), !number.contains('.')))
}

impl Unknown {
    /// Read `PATH=LO..HI`.
    pub fn parse(text: &str) -> Result<Unknown, String> {
        let bad = |why: &str| format!("--fit `{text}`: {why}");
        let Some((path, range)) = text.split_once('=') else {
            return Err(bad("write PATH=LO..HI, e.g. `orders-db.max_open=10..40`"));
        };
        let Some((lo, hi)) = range.split_once("..") else {
            return Err(bad(
                "write the range as LO..HI, e.g. `10..40` or `30s..90s`",
            ));
        };
        let (Some((lo_v, lo_u, lo_i)), Some((hi_v, hi_u, hi_i))) = (quantity(lo), quantity(hi))
        else {
            return Err(bad(
                "each bound is a number with at most one unit, e.g. `10`, `250ms`, `256KiB`, `40/s`",
            ));
        };
        if lo_u != hi_u {
            return Err(bad(&format!(
                "both bounds need the same unit (`{lo_u}` and `{hi_u}`)"
            )));
        }
        if lo_v >= hi_v {
            return Err(bad("LO must be below HI"));
        }
        let path = path.trim();
        if path.is_empty() {
            return Err(bad("the path before `=` is empty"));
        }
        Ok(Unknown {
            path: path.to_string(),
            lo: lo_v,
            hi: hi_v,
            unit: lo_u,
            integral: lo_i && hi_i,
        })
    }

    /// The value at `u` in [0, 1] of the range (clamped), whole when integral.
    pub fn at(&self, u: f64) -> f64 {
        let x = self.lo + u.clamp(0.0, 1.0) * (self.hi - self.lo);
        if self.integral {
            x.round()
        } else {
            // Six significant digits: enough for a fit, and stable to print.
            let scale = 10f64.powi(5 - x.abs().max(1e-300).log10().floor() as i32);
            (x * scale).round() / scale
        }
    }

    /// The value as written in a file: `25`, `270KiB`.
    pub fn display(&self, x: f64) -> String {
        format!("{x}{}", self.unit)
    }

    /// The setting that gives the path this value.
    pub fn setting(&self, x: f64) -> Setting {
        let value = if !self.unit.is_empty() {
            serde_json::Value::String(self.display(x))
        } else if self.integral {
            serde_json::Value::from(x as i64)
        } else {
            serde_json::Value::from(x)
        };
        Setting {
            path: self.path.clone(),
            value,
        }
    }
}

/// The settings of one candidate.
pub fn settings(unknowns: &[Unknown], values: &[f64]) -> Vec<Setting> {
    unknowns
        .iter()
        .zip(values)
        .map(|(u, x)| u.setting(*x))
        .collect()
}

/// One candidate and its loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Its values, one per unknown, in their units.
    pub values: Vec<f64>,
    /// Its loss (mean over the seeds).
    pub loss: f64,
}

/// What a fit found.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The candidate with the least loss (the first evaluated among equals).
    pub best: Evaluation,
    /// Every candidate, in the order evaluated.
    pub evaluations: Vec<Evaluation>,
    /// Candidates of the Latin hypercube.
    pub hypercube: usize,
    /// The budget it was given.
    pub budget: u32,
}

/// What replays a batch of candidates (values in their units) and returns their
/// losses in order; its error ends the search.
pub type Evaluate<'a, E> = dyn Fn(&[Vec<f64>]) -> Result<Vec<f64>, E> + 'a;

type Key = Vec<u64>;

fn key(values: &[f64]) -> Key {
    values.iter().map(|v| v.to_bits()).collect()
}

/// The search's record: every loss by candidate, in order, within the budget.
struct Record<'a, E> {
    unknowns: &'a [Unknown],
    budget: usize,
    evaluations: Vec<Evaluation>,
    known: BTreeMap<Key, f64>,
    evaluate: &'a Evaluate<'a, E>,
    failed: Option<E>,
}

impl<E> Record<'_, E> {
    fn values(&self, u: &[f64]) -> Vec<f64> {
        self.unknowns.iter().zip(u).map(|(p, x)| p.at(*x)).collect()
    }

    /// Losses of a batch of points of the unit cube; None once the budget is spent
    /// (or an evaluation failed).
    fn losses(&mut self, points: &[Vec<f64>]) -> Option<Vec<f64>> {
        let candidates: Vec<Vec<f64>> = points.iter().map(|u| self.values(u)).collect();
        let mut fresh: Vec<Vec<f64>> = Vec::new();
        for c in &candidates {
            if !self.known.contains_key(&key(c)) && !fresh.contains(c) {
                fresh.push(c.clone());
            }
        }
        if self.failed.is_some() || self.evaluations.len() + fresh.len() > self.budget {
            return None;
        }
        if !fresh.is_empty() {
            match (self.evaluate)(&fresh) {
                Ok(losses) => {
                    for (values, loss) in fresh.into_iter().zip(losses) {
                        self.known.insert(key(&values), loss);
                        self.evaluations.push(Evaluation { values, loss });
                    }
                }
                Err(e) => {
                    self.failed = Some(e);
                    return None;
                }
            }
        }
        Some(candidates.iter().map(|c| self.known[&key(c)]).collect())
    }
}

/// Nelder-Mead's view of the record: a cost per point of the unit cube.
struct Problem<'a, 'b, E>(&'b RefCell<Record<'a, E>>);

impl<E> CostFunction for Problem<'_, '_, E> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, u: &Self::Param) -> Result<f64, argmin::core::Error> {
        let mut record = self.0.borrow_mut();
        match record.losses(std::slice::from_ref(u)) {
            Some(l) => Ok(l[0]),
            // Stops the solver; the record keeps what was found.
            None => Err(argmin::core::Error::msg(
                "the budget of evaluations is spent",
            )),
        }
    }
}

/// Search `unknowns` within `budget` evaluations for the least loss. `evaluate`
/// replays a batch of candidates (values in their units) and returns their losses in
/// order; its error ends the search.
pub fn search<E>(
    unknowns: &[Unknown],
    budget: u32,
    seed: u64,
    evaluate: &Evaluate<'_, E>,
) -> Result<Fit, E> {
    let d = unknowns.len();
    let budget_n = budget.max(1) as usize;
    // Half the budget explores, at least two points per unknown when it allows.
    let m = (budget_n / 2).max((2 * d).min(budget_n)).max(1);
    let mut rng = SimRng::stream(seed, "calibrate.hypercube");
    let mut strata: Vec<Vec<usize>> = Vec::with_capacity(d);
    for _ in 0..d {
        let mut p: Vec<usize> = (0..m).collect();
        for i in (1..m).rev() {
            p.swap(i, rng.below(i + 1));
        }
        strata.push(p);
    }
    let cube: Vec<Vec<f64>> = (0..m)
        .map(|i| {
            (0..d)
                .map(|j| (strata[j][i] as f64 + rng.uniform_open01()) / m as f64)
                .collect()
        })
        .collect();
    let record = RefCell::new(Record {
        unknowns,
        budget: budget_n,
        evaluations: Vec::new(),
        known: BTreeMap::new(),
        evaluate,
        failed: None,
    });
    let losses = record.borrow_mut().losses(&cube);
    if let Some(losses) = losses {
        // The simplex starts at the best hypercube point, one stratum wide along each
        // axis, towards the middle of the range.
        let best = (0..m)
            .min_by(|&a, &b| losses[a].total_cmp(&losses[b]))
            .unwrap_or(0);
        let start = cube[best].clone();
        let step = 1.0 / m as f64;
        let mut simplex = vec![start.clone()];
        for j in 0..d {
            let mut v = start.clone();
            v[j] += if v[j] > 0.5 { -step } else { step };
            simplex.push(v);
        }
        // Below a unit of the smallest integral range, the simplex cannot move a value.
        let tolerance = unknowns
            .iter()
            .filter(|u| u.integral)
            .map(|u| 0.5 / (u.hi - u.lo))
            .fold(1e-4, f64::min);
        if let Ok(solver) = NelderMead::new(simplex).with_sd_tolerance(tolerance * 1e-3) {
            let problem = Problem(&record);
            // The budget stops it; the iterations bound only a search that stalls on
            // candidates evaluated already (each Nelder-Mead step asks for at most
            // d + 2 points).
            let max_iters = (budget_n * 4) as u64;
            // An error here is the budget spent: what was found is in the record.
            let _ = Executor::new(problem, solver)
                .configure(|s| s.max_iters(max_iters))
                .run();
        }
    }
    let record = record.into_inner();
    if let Some(e) = record.failed {
        return Err(e);
    }
    let evaluations = record.evaluations;
    let best = evaluations
        .iter()
        .fold(None::<&Evaluation>, |b, e| match b {
            Some(b) if b.loss <= e.loss => Some(b),
            _ => Some(e),
        })
        .cloned()
        .unwrap_or(Evaluation {
            values: unknowns.iter().map(|u| u.at(0.5)).collect(),
            loss: f64::NAN,
        });
    Ok(Fit {
        best,
        evaluations,
        hypercube: m,
        budget,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_units_and_integrality() {
        let u = Unknown::parse("api.memory.per_request=256KiB..320KiB").unwrap();
        assert_eq!(
            (u.lo, u.hi, u.unit.as_str(), u.integral),
            (256.0, 320.0, "KiB", true)
        );
        assert_eq!(u.setting(300.0).value, serde_json::json!("300KiB"));
        let p = Unknown::parse("db.max_open=10..40").unwrap();
        assert_eq!(p.setting(p.at(0.5)).value, serde_json::json!(25));
        let f = Unknown::parse("x.y=0.5..2.5").unwrap();
        assert!(!f.integral);
        assert!(Unknown::parse("x.y=10s..1m").is_err());
        assert!(Unknown::parse("x.y=40..10").is_err());
        assert!(Unknown::parse("x.y").is_err());
    }

    #[test]
    fn the_search_finds_a_minimum_within_its_budget() {
        let unknowns = vec![Unknown::parse("p.max_open=10..40").unwrap()];
        let evaluate = |c: &[Vec<f64>]| -> Result<Vec<f64>, ()> {
            Ok(c.iter().map(|v| (v[0] - 23.0).abs()).collect())
        };
        let fit = search(&unknowns, 20, 1, &evaluate).unwrap();
        assert_eq!(fit.best.values, vec![23.0]);
        assert!(fit.evaluations.len() <= 20);
        let again = search(&unknowns, 20, 1, &evaluate).unwrap();
        assert_eq!(fit, again);
    }

    #[test]
    fn two_unknowns_are_refined_by_nelder_mead() {
        let unknowns = vec![
            Unknown::parse("a.b=0.0..10.0").unwrap(),
            Unknown::parse("c.d=0.0..10.0").unwrap(),
        ];
        let evaluate = |c: &[Vec<f64>]| -> Result<Vec<f64>, ()> {
            Ok(c.iter()
                .map(|v| (v[0] - 3.3).powi(2) + (v[1] - 7.1).powi(2))
                .collect())
        };
        let fit = search(&unknowns, 80, 7, &evaluate).unwrap();
        assert!(fit.best.loss < 0.05, "{:?}", fit.best);
        assert!(fit.evaluations.len() <= 80);
    }
}
