//! An instant query at one time: selectors, subqueries, aggregations; functions and
//! binary operators are in their own modules.

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_GROUP, T_MAX, T_MIN, T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier, Offset, SubqueryExpr};

use super::store::{label, Labels, Store, NAME_LABEL};
use super::{binary, functions};
use crate::outcome::exposition::{Millis, Sample};

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Elem {
    /// Its labels.
    pub labels: Labels,
    /// Its value.
    pub value: f64,
}

/// One series of a range vector.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// Its labels.
    pub labels: Labels,
    /// The samples in the range, in time order.
    pub samples: Vec<Sample>,
}

/// A range vector with the bounds it was selected over (`rate` extrapolates to them).
#[derive(Debug, Clone)]
pub struct Range {
    /// The series with at least one sample in range.
    pub series: Vec<RangeSeries>,
    /// Start of the range.
    pub start_ms: Millis,
    /// End of the range.
    pub end_ms: Millis,
}

impl Range {
    /// Length of the range, seconds.
    pub fn seconds(&self) -> f64 {
        (self.end_ms - self.start_ms) as f64 / 1000.0
    }
}

/// What an expression evaluates to.
#[derive(Debug, Clone)]
pub enum Value {
    /// A number.
    Scalar(f64),
    /// Labelled numbers at one time.
    Vector(Vec<Elem>),
    /// Labelled samples over a range.
    Matrix(Range),
    /// A string literal.
    String(String),
}

/// Evaluate `expr` at `at`; `step_ms` is a subquery's default step (the rule
/// group's evaluation interval, as in Prometheus).
pub fn instant(expr: &Expr, store: &Store, at: Millis, step_ms: Millis) -> Result<Value, String> {
    Ctx {
        store,
        step_ms,
        subquery_steps_left: std::cell::Cell::new(MAX_SUBQUERY_STEPS),
    }
    .eval(expr, at)
}

/// Most subquery steps one evaluation may take, nested subqueries multiplied: 11,000
/// is Prometheus's own bound on the points of one series in a query's result; a
/// `[30d:1s]` subquery is refused, not run for hours.
pub const MAX_SUBQUERY_STEPS: u64 = 11_000;

pub(super) struct Ctx<'a> {
    pub store: &'a Store,
    pub step_ms: Millis,
    /// Subquery steps this evaluation may still take.
    pub subquery_steps_left: std::cell::Cell<u64>,
}

/// Remove the metric name, as arithmetic and most functions do.
pub(super) fn drop_name(mut labels: Labels) -> Labels {
    labels.retain(|(n, _)| n != NAME_LABEL);
    labels
}

fn offset_ms(o: &Option<Offset>) -> Millis {
    match o {
        Some(Offset::Pos(d)) => d.as_millis() as Millis,
        Some(Offset::Neg(d)) => -(d.as_millis() as Millis),
        None => 0,
    }
}

impl Ctx<'_> {
    pub(super) fn eval(&self, e: &Expr, at: Millis) -> Result<Value, String> {
        Ok(match e {
            Expr::NumberLiteral(n) => Value::Scalar(n.val),
            Expr::StringLiteral(s) => Value::String(s.val.clone()),
            Expr::Paren(p) => self.eval(&p.expr, at)?,
            Expr::Unary(u) => match self.eval(&u.expr, at)? {
                Value::Scalar(v) => Value::Scalar(-v),
                Value::Vector(v) => Value::Vector(
                    v.into_iter()
                        .map(|e| Elem {
                            labels: drop_name(e.labels),
                            value: -e.value,
                        })
                        .collect(),
                ),
                _ => return Err("a unary minus needs a number or an instant vector".into()),
            },
            Expr::VectorSelector(vs) => {
                let t = at - offset_ms(&vs.offset);
                Value::Vector(
                    self.store
                        .select(vs.name.as_deref(), &vs.matchers)
                        .filter_map(|s| {
                            s.instant(t).map(|smp| Elem {
                                labels: s.labels.clone(),
                                value: smp.value,
                            })
                        })
                        .collect(),
                )
            }
            Expr::MatrixSelector(_) | Expr::Subquery(_) => Value::Matrix(self.range(e, at)?),
            Expr::Call(c) => functions::call(self, c, at)?,
            Expr::Aggregate(a) => self.aggregate(a, at)?,
            Expr::Binary(b) => binary::eval(self, b, at)?,
            Expr::Extension(_) => return Err("this expression is not PromQL".into()),
        })
    }

    pub(super) fn vector(&self, e: &Expr, at: Millis) -> Result<Vec<Elem>, String> {
        match self.eval(e, at)? {
            Value::Vector(v) => Ok(v),
            _ => Err("expected an instant vector".into()),
        }
    }

    /// A scalar argument (a number, or a scalar expression).
    pub(super) fn scalar(&self, e: &Expr, at: Millis) -> Result<f64, String> {
        match self.eval(e, at)? {
            Value::Scalar(v) => Ok(v),
            _ => Err("expected a scalar".into()),
        }
    }

    /// A range vector: a matrix selector or a subquery.
    pub(super) fn range(&self, e: &Expr, at: Millis) -> Result<Range, String> {
        match e {
            Expr::Paren(p) => self.range(&p.expr, at),
            Expr::MatrixSelector(ms) => {
                let end_ms = at - offset_ms(&ms.vs.offset);
                let start_ms = end_ms - ms.range.as_millis() as Millis;
                let series = self
                    .store
                    .select(ms.vs.name.as_deref(), &ms.vs.matchers)
                    .filter_map(|s| {
                        let samples = s.range(start_ms, end_ms);
                        (!samples.is_empty()).then(|| RangeSeries {
                            labels: s.labels.clone(),
                            samples: samples.to_vec(),
                        })
                    })
                    .collect();
                Ok(Range {
                    series,
                    start_ms,
                    end_ms,
                })
            }
            Expr::Subquery(sq) => self.subquery(sq, at),
            _ => Err("expected a range vector".into()),
        }
    }

    /// `expr[range:step]`: the inner expression at every multiple of the step in
    /// `[at - offset - range, at - offset]` (engine.go aligns the steps to absolute
    /// multiples of the step, and includes the first one at the range's start).
    fn subquery(&self, sq: &SubqueryExpr, at: Millis) -> Result<Range, String> {
        let end_ms = at - offset_ms(&sq.offset);
        let start_ms = end_ms - sq.range.as_millis() as Millis;
        let step = sq
            .step
            .map_or(self.step_ms, |d| d.as_millis() as Millis)
            .max(1);
        let mut t = start_ms.div_euclid(step) * step;
        if t < start_ms {
            t += step;
        }
        let steps = ((end_ms - t).max(0) / step) as u64 + 1;
        let left = self.subquery_steps_left.get();
        if steps > left {
            return Err(format!(
                "a subquery of {steps} steps: one evaluation may take at most {MAX_SUBQUERY_STEPS} (a shorter range or a longer step)"
            ));
        }
        self.subquery_steps_left.set(left - steps);
        let mut series: Vec<RangeSeries> = Vec::new();
        while t <= end_ms {
            let elems = match self.eval(&sq.expr, t)? {
                Value::Vector(v) => v,
                Value::Scalar(v) => vec![Elem {
                    labels: Vec::new(),
                    value: v,
                }],
                _ => return Err("a subquery needs an instant vector or a scalar".into()),
            };
            for e in elems {
                let sample = Sample {
                    at_ms: t,
                    value: e.value,
                };
                match series.iter_mut().find(|s| s.labels == e.labels) {
                    Some(s) => s.samples.push(sample),
                    None => series.push(RangeSeries {
                        labels: e.labels,
                        samples: vec![sample],
                    }),
                }
            }
            t += step;
        }
        Ok(Range {
            series,
            start_ms,
            end_ms,
        })
    }

    fn aggregate(&self, a: &AggregateExpr, at: Millis) -> Result<Value, String> {
        let input = self.vector(&a.expr, at)?;
        let param = match &a.param {
            Some(p) => Some(self.scalar(p, at)?),
            None => None,
        };
        Ok(Value::Vector(aggregate(
            a.op.id(),
            a.modifier.as_ref(),
            param,
            input,
        )?))
    }
}

/// The labels an element is grouped by.
fn grouping_labels(labels: &Labels, modifier: Option<&LabelModifier>) -> Labels {
    match modifier {
        Some(LabelModifier::Include(keep)) => labels
            .iter()
            .filter(|(n, _)| keep.labels.iter().any(|k| k == n))
            .cloned()
            .collect(),
        Some(LabelModifier::Exclude(drop)) => labels
            .iter()
            .filter(|(n, _)| n != NAME_LABEL && !drop.labels.iter().any(|k| k == n))
            .cloned()
            .collect(),
        None => Vec::new(),
    }
}

struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    count: f64,
    members: Vec<Elem>,
}

/// `sum`, `avg`, ... over groups, with Prometheus 2.42's arithmetic (an incremental
/// mean for `avg`, Welford for `stddev`/`stdvar`; NaN never wins `min`/`max` unless
/// it is all there is).
pub(super) fn aggregate(
    op: u16,
    modifier: Option<&LabelModifier>,
    param: Option<f64>,
    input: Vec<Elem>,
) -> Result<Vec<Elem>, String> {
    let mut groups: Vec<Group> = Vec::new();
    for e in input {
        let key = grouping_labels(&e.labels, modifier);
        let g = match groups.iter().position(|g| g.labels == key) {
            Some(i) => &mut groups[i],
            None => {
                groups.push(Group {
                    labels: key,
                    value: e.value,
                    mean: e.value,
                    count: 1.0,
                    members: Vec::new(),
                });
                let g = groups.len() - 1;
                let g = &mut groups[g];
                if op == T_STDDEV || op == T_STDVAR {
                    g.value = 0.0;
                }
                g.members.push(e);
                continue;
            }
        };
        g.count += 1.0;
        let v = e.value;
        match op {
            T_SUM => g.value += v,
            T_AVG => {
                let skip = g.mean.is_infinite()
                    && ((v.is_infinite() && (g.mean > 0.0) == (v > 0.0))
                        || (!v.is_infinite() && !v.is_nan()));
                if !skip {
                    g.mean += v / g.count - g.mean / g.count;
                }
            }
            T_MAX if g.value < v || g.value.is_nan() => g.value = v,
            T_MIN if g.value > v || g.value.is_nan() => g.value = v,
            T_STDDEV | T_STDVAR => {
                let delta = v - g.mean;
                g.mean += delta / g.count;
                g.value += delta * (v - g.mean);
            }
            _ => {}
        }
        g.members.push(e);
    }
    let mut out = Vec::new();
    for g in groups {
        let value = match op {
            T_SUM | T_MAX | T_MIN => g.value,
            T_AVG => g.mean,
            T_COUNT => g.count,
            T_GROUP => 1.0,
            T_STDVAR => g.value / g.count,
            T_STDDEV => (g.value / g.count).sqrt(),
            T_QUANTILE => {
                let mut values: Vec<f64> = g.members.iter().map(|e| e.value).collect();
                functions::quantile(param.unwrap_or(f64::NAN), &mut values)
            }
            T_TOPK | T_BOTTOMK => {
                let k = param.unwrap_or(0.0);
                if !(k.is_finite() && k.abs() < 9.2e18) {
                    return Err(format!("the k of topk/bottomk, {k}, is not a count"));
                }
                if k < 1.0 {
                    continue;
                }
                let mut members = g.members;
                // Prometheus's heaps put NaN last for both.
                members.sort_by(|a, b| {
                    let (x, y) = if op == T_TOPK {
                        (b.value, a.value)
                    } else {
                        (a.value, b.value)
                    };
                    match (x.is_nan(), y.is_nan()) {
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                    }
                });
                members.truncate(k as usize);
                out.extend(members);
                continue;
            }
            _ => return Err("this aggregation is not supported".into()),
        };
        out.push(Elem {
            labels: g.labels,
            value,
        });
    }
    Ok(out)
}

/// Labels with `name` set to `value` (empty removes it).
pub(super) fn with_label(mut labels: Labels, name: &str, value: &str) -> Labels {
    super::store::set_label(&mut labels, name, value);
    labels
}

/// The value of a label, or "".
pub(super) fn get<'a>(labels: &'a Labels, name: &str) -> &'a str {
    label(labels, name).unwrap_or("")
}
