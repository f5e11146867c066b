//! The moments a postmortem dates, found the same way in the replayed and the observed
//! series of each mapping, at the rows' resolution (a row's start time):
//!
//! - first pool exhaustion, from a pool's `in_use`: the first row at which it reaches
//!   the pool's size, the replay's `<pool>.max_open` in that row;
//! - first 5xx, from a gateway's `status_5NN`: the first row with one (per status,
//!   and over them all when several statuses of one gateway are mapped);
//! - each crash, from a service's `replicas_up` (a row lower than the last one with a
//!   value) or `restarts` (a row higher): the k-th observed crash is paired with the
//!   k-th replayed one.
//!
//! The error is replayed minus observed: positive when the replay is late.

use super::{replayed, Target};
use crate::outcome::Series;

/// One dated moment in both series.
#[derive(Debug, Clone, PartialEq)]
pub struct Onset {
    /// What it is: `first pool exhaustion`, `first 504`, `first 5xx`, `crash 2`.
    pub what: String,
    /// The column it was read from (several, comma-separated, for `first 5xx`).
    pub column: String,
    /// When it was observed, seconds (None: never).
    pub observed_s: Option<f64>,
    /// When it happened in the replay, seconds (None: never).
    pub replayed_s: Option<f64>,
}

impl Onset {
    /// Replayed minus observed, seconds, when both happened.
    pub fn error_s(&self) -> Option<f64> {
        Some(self.replayed_s? - self.observed_s?)
    }
}

fn first(values: &[f64], hit: impl Fn(usize, f64) -> bool) -> Option<usize> {
    values
        .iter()
        .enumerate()
        .find(|(i, v)| v.is_finite() && hit(*i, **v))
        .map(|(i, _)| i)
}

/// Rows at which a series steps the way a crash does: down (`replicas_up`) or up
/// (`restarts`), against the last row with a value.
fn steps(values: &[f64], down: bool) -> Vec<usize> {
    let mut out = Vec::new();
    let mut last: Option<f64> = None;
    for (i, v) in values.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        if let Some(prev) = last {
            if (down && *v < prev) || (!down && *v > prev) {
                out.push(i);
            }
        }
        last = Some(*v);
    }
    out
}

/// One gateway's mapped 5xx columns and the first row with one in either series.
struct Fives {
    gateway: String,
    columns: Vec<String>,
    observed: Option<usize>,
    replayed: Option<usize>,
}

/// The onsets the mapped columns date, in mapping order.
pub fn onsets(series: &Series, targets: &[Target]) -> Vec<Onset> {
    let res_s = series.resolution.as_secs_f64();
    let at = |row: Option<usize>| row.map(|r| r as f64 * res_s);
    let mut out: Vec<Onset> = Vec::new();
    let mut fives: Vec<Fives> = Vec::new();
    for t in targets {
        let column = &t.mapping.column;
        let rep = replayed(series, column);
        let obs = &t.observed;
        let Some((component, metric)) = column.rsplit_once('.') else {
            continue;
        };
        if metric == "in_use" {
            let Some(size) = series.column_values(&format!("{component}.max_open")) else {
                continue;
            };
            let full = |i: usize, v: f64| size[i] > 0.0 && v >= size[i];
            out.push(Onset {
                what: "first pool exhaustion".into(),
                column: column.clone(),
                observed_s: at(first(obs, full)),
                replayed_s: at(first(&rep, full)),
            });
        } else if let Some(code) = metric
            .strip_prefix("status_5")
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_digit()))
        {
            let (o, r) = (first(obs, |_, v| v > 0.0), first(&rep, |_, v| v > 0.0));
            out.push(Onset {
                what: format!("first 5{code}"),
                column: column.clone(),
                observed_s: at(o),
                replayed_s: at(r),
            });
            let earliest = |a: Option<usize>, b: Option<usize>| match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match fives.iter_mut().find(|f| f.gateway == component) {
                Some(f) => {
                    if !f.columns.contains(column) {
                        f.columns.push(column.clone());
                    }
                    f.observed = earliest(f.observed, o);
                    f.replayed = earliest(f.replayed, r);
                }
                None => fives.push(Fives {
                    gateway: component.to_string(),
                    columns: vec![column.clone()],
                    observed: o,
                    replayed: r,
                }),
            }
        } else if metric == "replicas_up" || metric == "restarts" {
            let down = metric == "replicas_up";
            let (o, r) = (steps(obs, down), steps(&rep, down));
            for k in 0..o.len().max(r.len()) {
                out.push(Onset {
                    what: format!("crash {}", k + 1),
                    column: column.clone(),
                    observed_s: at(o.get(k).copied()),
                    replayed_s: at(r.get(k).copied()),
                });
            }
        }
    }
    for f in fives.into_iter().filter(|f| f.columns.len() > 1) {
        out.push(Onset {
            what: "first 5xx".into(),
            column: f.columns.join(", "),
            observed_s: at(f.observed),
            replayed_s: at(f.replayed),
        });
    }
    out
}
