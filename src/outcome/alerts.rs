//! Alert rules evaluated the way Prometheus evaluates them, over the replay's metrics.
//!
//! A rule is `expr OP threshold` with `for` and an evaluation interval. At every
//! evaluation (multiples of the interval) the expression is computed from the time
//! series as it stood then; while the condition holds the alert is *pending*, and once
//! it has held at every evaluation for `for` it is *firing*; when it stops holding, a
//! firing alert is *resolved* (a pending one simply goes back to inactive). NaN (for
//! example 0/0, no traffic) never satisfies a comparison, as in Prometheus.

use crate::engine::Nanos;

use super::{Occurrence, Series};

/// A comparison of the rule's expression with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

/// Range functions over a window of the time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFn {
    /// Per-second average of a count over the window.
    Rate,
    /// Total of a count over the window.
    Increase,
    /// Mean of a gauge over the window.
    AvgOverTime,
    /// Largest value of a gauge over the window.
    MaxOverTime,
    /// Smallest value of a gauge over the window.
    MinOverTime,
}

/// Arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

/// A metric: one or more time-series columns, summed (`edge.status_5xx` is four).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// As written.
    pub name: String,
    /// The columns summed.
    pub columns: Vec<String>,
}

/// An expression over metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A constant.
    Number(f64),
    /// A metric's value in the last complete interval (a gauge read).
    Metric(Metric),
    /// A range function of a metric over a window.
    Range {
        /// The function.
        func: RangeFn,
        /// Its argument.
        metric: Metric,
        /// Look-back window.
        window: Nanos,
    },
    /// Arithmetic.
    Binary(Op, Box<Expr>, Box<Expr>),
    /// Negation.
    Neg(Box<Expr>),
}

/// One alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// Rule name (`alertname`).
    pub name: String,
    /// The expression as written, for reports.
    pub text: String,
    /// Left side of the comparison.
    pub expr: Expr,
    /// The comparison.
    pub cmp: Cmp,
    /// Right side.
    pub threshold: f64,
    /// How long the condition must hold before the alert fires.
    pub hold: Nanos,
    /// Time between evaluations.
    pub interval: Nanos,
}

/// What happened to one rule during the replay.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertOutcome {
    /// Rule name.
    pub name: String,
    /// The expression and threshold, as written.
    pub text: String,
    /// First time the alert went pending.
    pub first_pending: Option<Nanos>,
    /// First time it fired.
    pub first_firing: Option<Nanos>,
    /// First time it resolved after firing.
    pub first_resolved: Option<Nanos>,
    /// Times it fired.
    pub firings: u32,
}

/// Values of a metric per row: its columns summed (NaN when a column has no value).
fn metric_rows(series: &Series, m: &Metric) -> Vec<f64> {
    let idx: Vec<usize> = m.columns.iter().filter_map(|c| series.column(c)).collect();
    (0..series.rows())
        .map(|r| idx.iter().map(|&c| series.row(r)[c]).sum())
        .collect()
}

struct Ctx<'a> {
    series: &'a Series,
    /// Cached per-metric rows, by metric name.
    cache: Vec<(String, Vec<f64>)>,
}

impl Ctx<'_> {
    fn rows(&mut self, m: &Metric) -> &[f64] {
        if let Some(i) = self.cache.iter().position(|(n, _)| *n == m.name) {
            return &self.cache[i].1;
        }
        let rows = metric_rows(self.series, m);
        self.cache.push((m.name.clone(), rows));
        &self.cache[self.cache.len() - 1].1
    }

    /// Value of `e` at time `at`, from the rows that ended at or before `at`.
    fn eval(&mut self, e: &Expr, at: Nanos) -> f64 {
        let res = self.series.resolution.0.max(1);
        let complete = (at.0 / res) as usize;
        match e {
            Expr::Number(v) => *v,
            Expr::Metric(m) => {
                let rows = self.rows(m);
                match complete.checked_sub(1).and_then(|i| rows.get(i)) {
                    Some(v) => *v,
                    None => f64::NAN,
                }
            }
            Expr::Range {
                func,
                metric,
                window,
            } => {
                let first = at.0.saturating_sub(window.0).div_ceil(res) as usize;
                let rows = self.rows(metric);
                let end = complete.min(rows.len());
                let vals: Vec<f64> = rows[first.min(end)..end]
                    .iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .collect();
                if vals.is_empty() {
                    return f64::NAN;
                }
                match func {
                    RangeFn::Rate => vals.iter().sum::<f64>() / window.as_secs_f64(),
                    RangeFn::Increase => vals.iter().sum(),
                    RangeFn::AvgOverTime => vals.iter().sum::<f64>() / vals.len() as f64,
                    RangeFn::MaxOverTime => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    RangeFn::MinOverTime => vals.iter().copied().fold(f64::INFINITY, f64::min),
                }
            }
            Expr::Binary(op, l, r) => {
                let (a, b) = (self.eval(l, at), self.eval(r, at));
                match op {
                    Op::Add => a + b,
                    Op::Sub => a - b,
                    Op::Mul => a * b,
                    Op::Div => a / b,
                }
            }
            Expr::Neg(x) => -self.eval(x, at),
        }
    }
}

fn holds(v: f64, cmp: Cmp, t: f64) -> bool {
    match cmp {
        Cmp::Gt => v > t,
        Cmp::Ge => v >= t,
        Cmp::Lt => v < t,
        Cmp::Le => v <= t,
        Cmp::Eq => v == t,
        Cmp::Ne => v != t,
    }
}

/// Evaluate every rule over the run; returns the occurrences (`alert_pending`,
/// `alert_firing`, `alert_resolved`) and one outcome per rule.
pub fn evaluate(
    rules: &[AlertRule],
    series: &Series,
    end: Nanos,
) -> (Vec<Occurrence>, Vec<AlertOutcome>) {
    let mut occurrences = Vec::new();
    let mut outcomes = Vec::new();
    for rule in rules {
        let mut ctx = Ctx {
            series,
            cache: Vec::new(),
        };
        let mut out = AlertOutcome {
            name: rule.name.clone(),
            text: rule.text.clone(),
            first_pending: None,
            first_firing: None,
            first_resolved: None,
            firings: 0,
        };
        let mut active_since: Option<Nanos> = None;
        let mut firing = false;
        let mut at = rule.interval;
        let note = |at: Nanos, kind: &'static str, detail: String| Occurrence {
            at,
            kind,
            component: rule.name.clone(),
            detail,
            status: None,
            replica: None,
            label: None,
        };
        while at <= end {
            let v = ctx.eval(&rule.expr, at);
            if holds(v, rule.cmp, rule.threshold) {
                let since = *active_since.get_or_insert_with(|| {
                    out.first_pending.get_or_insert(at);
                    // With `for: 0` Prometheus goes straight to firing.
                    if rule.hold > Nanos::ZERO {
                        occurrences.push(note(
                            at,
                            "alert_pending",
                            format!("pending: {} is {}", rule.text, fmt_value(v)),
                        ));
                    }
                    at
                });
                if !firing && at.saturating_sub(since) >= rule.hold {
                    firing = true;
                    out.firings += 1;
                    out.first_firing.get_or_insert(at);
                    occurrences.push(note(
                        at,
                        "alert_firing",
                        format!("firing: {} is {}", rule.text, fmt_value(v)),
                    ));
                }
            } else {
                if firing {
                    out.first_resolved.get_or_insert(at);
                    occurrences.push(note(
                        at,
                        "alert_resolved",
                        "resolved: the condition no longer holds".to_string(),
                    ));
                }
                firing = false;
                active_since = None;
            }
            at = at.saturating_add(rule.interval);
        }
        outcomes.push(out);
    }
    (occurrences, outcomes)
}

fn fmt_value(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row per second for 600 s: `g.all` is always 10, `g.bad` is 10 in [from, to).
    fn series(from: usize, to: usize, all: f64) -> Series {
        let mut values = Vec::new();
        for i in 0..600 {
            values.push(if (from..to).contains(&i) { 10.0 } else { 0.0 });
            values.push(all);
        }
        Series {
            resolution: Nanos::SECOND,
            columns: vec!["g.bad".into(), "g.all".into()],
            values,
        }
    }

    fn metric(name: &str) -> Metric {
        Metric {
            name: name.into(),
            columns: vec![name.into()],
        }
    }

    /// rate(g.bad[60s]) / rate(g.all[60s]) > 0.5, evaluated every 30 s.
    fn ratio_rule(hold_s: u64) -> AlertRule {
        let rate = |m: &str| Expr::Range {
            func: RangeFn::Rate,
            metric: metric(m),
            window: Nanos::from_secs(60),
        };
        AlertRule {
            name: "r".into(),
            text: "ratio".into(),
            expr: Expr::Binary(Op::Div, Box::new(rate("g.bad")), Box::new(rate("g.all"))),
            cmp: Cmp::Gt,
            threshold: 0.5,
            hold: Nanos::from_secs(hold_s),
            interval: Nanos::from_secs(30),
        }
    }

    fn kinds(occ: &[Occurrence]) -> Vec<(&'static str, u64)> {
        occ.iter()
            .map(|o| (o.kind, o.at.0 / 1_000_000_000))
            .collect()
    }

    #[test]
    fn pending_then_firing_after_for_then_resolved() {
        // At 120 s the window (60, 120] holds 20 bad rows of 60: 0.33, false. At 150 s,
        // 50 of 60: pending. It holds at every evaluation to 270 s = 150 + 120: firing.
        // At 450 s the window holds 10 bad rows: false, resolved.
        let (occ, out) = evaluate(
            &[ratio_rule(120)],
            &series(100, 400, 10.0),
            Nanos::from_secs(600),
        );
        assert_eq!(
            kinds(&occ),
            vec![
                ("alert_pending", 150),
                ("alert_firing", 270),
                ("alert_resolved", 450)
            ]
        );
        assert_eq!(out[0].first_firing, Some(Nanos::from_secs(270)));
        assert_eq!(out[0].firings, 1);
    }

    #[test]
    fn a_condition_shorter_than_for_never_fires() {
        let (occ, out) = evaluate(
            &[ratio_rule(120)],
            &series(100, 160, 10.0),
            Nanos::from_secs(600),
        );
        assert_eq!(kinds(&occ), vec![("alert_pending", 150)]);
        assert_eq!(out[0].first_firing, None);
    }

    #[test]
    fn for_zero_fires_at_the_first_true_evaluation() {
        let (occ, _) = evaluate(
            &[ratio_rule(0)],
            &series(100, 400, 10.0),
            Nanos::from_secs(600),
        );
        assert_eq!(
            kinds(&occ),
            vec![("alert_firing", 150), ("alert_resolved", 450)]
        );
    }

    #[test]
    fn no_traffic_is_nan_and_never_fires() {
        let (occ, _) = evaluate(
            &[ratio_rule(0)],
            &series(600, 600, 0.0),
            Nanos::from_secs(600),
        );
        assert!(occ.is_empty());
    }

    #[test]
    fn a_gauge_is_read_at_the_last_complete_interval() {
        let rule = AlertRule {
            expr: Expr::Metric(metric("g.bad")),
            cmp: Cmp::Ge,
            threshold: 10.0,
            interval: Nanos::from_secs(1),
            hold: Nanos::ZERO,
            ..ratio_rule(0)
        };
        // Row 100 covers [100, 101): it is complete, and read, at 101 s.
        let (occ, _) = evaluate(&[rule], &series(100, 101, 10.0), Nanos::from_secs(600));
        assert_eq!(
            kinds(&occ),
            vec![("alert_firing", 101), ("alert_resolved", 102)]
        );
    }
}
