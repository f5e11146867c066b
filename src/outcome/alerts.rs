//! Alerting and recording rules, evaluated the way Prometheus 2.42's rule manager
//! evaluates them (`rules/alerting.go`, `rules/recording.go` at v2.42.0), over the
//! replay's metrics as Prometheus would have scraped them.
//!
//! Every group is evaluated at each multiple of its interval from the start (as
//! `promtool test rules` does; a real server adds a fixed per-group offset), its rules
//! in order, so a recording rule's output is visible to the rules after it. An alerting
//! rule's query gives one alert per result element, labelled by the element's labels
//! (less the metric name), the rule's labels and `alertname`. A new alert is
//! *pending* from the evaluation that first returns it; it *fires* at the first
//! evaluation at least `for` after that (at once with `for: 0`); when its element is
//! gone it is *resolved*, unless `keep_firing_for` keeps a firing alert firing that
//! long after the condition went away. NaN never satisfies a comparison, as in
//! Prometheus, so a ratio over no traffic never fires.

use promql_parser::parser::Expr;

use crate::engine::Nanos;
use crate::outcome::exposition::{Millis, Sample};
use crate::outcome::promql::store::{set_label, NAME_LABEL};
use crate::outcome::promql::{self, Elem, Labels, Store, Value};

use super::Occurrence;

/// One alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// Rule name (`alertname`).
    pub name: String,
    /// The expression as written, for reports.
    pub text: String,
    /// The PromQL evaluated (the text itself, or the text with the incident file's
    /// column names turned into the exported series).
    pub promql: String,
    /// `promql`, parsed and checked.
    pub expr: Expr,
    /// How long the condition must hold before the alert fires (`for`).
    pub hold: Nanos,
    /// How long a firing alert keeps firing after the condition went away.
    pub keep_firing_for: Nanos,
    /// Labels added to every alert of the rule.
    pub labels: Labels,
    /// Annotations, as written (templates are not expanded).
    pub annotations: Labels,
}

/// One recording rule: its result is stored as series named `record`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingRule {
    /// The name of the series it writes.
    pub record: String,
    /// The expression.
    pub promql: String,
    /// `promql`, parsed and checked.
    pub expr: Expr,
    /// Labels added to every series it writes.
    pub labels: Labels,
}

/// A rule of a group.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// An alerting rule.
    Alert(AlertRule),
    /// A recording rule.
    Record(RecordingRule),
}

/// A rule group: rules evaluated in order, every `interval`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleGroup {
    /// Group name.
    pub name: String,
    /// Time between evaluations.
    pub interval: Nanos,
    /// Its rules, in order.
    pub rules: Vec<Rule>,
}

impl RuleGroup {
    /// The alerting rules of the group.
    pub fn alerts(&self) -> impl Iterator<Item = &AlertRule> {
        self.rules.iter().filter_map(|r| match r {
            Rule::Alert(a) => Some(a),
            Rule::Record(_) => None,
        })
    }
}

/// A stretch during which one alert (one label set of a rule) was firing.
#[derive(Debug, Clone, PartialEq)]
pub struct FiringSpan {
    /// The alert's labels (`alertname` among them).
    pub labels: Labels,
    /// The evaluation at which it fired.
    pub from: Nanos,
    /// The evaluation at which it resolved; `None` if still firing at the end.
    pub to: Option<Nanos>,
}

/// What happened to one rule during the replay.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertOutcome {
    /// Rule name.
    pub name: String,
    /// The expression, as written.
    pub text: String,
    /// How long it had to hold (`for`).
    pub hold: Nanos,
    /// Time between its evaluations.
    pub interval: Nanos,
    /// First time one of its alerts went pending.
    pub first_pending: Option<Nanos>,
    /// First time one fired.
    pub first_firing: Option<Nanos>,
    /// First time one resolved after firing.
    pub first_resolved: Option<Nanos>,
    /// Times its alerts went to firing.
    pub firings: u32,
    /// Every firing stretch, in order.
    pub spans: Vec<FiringSpan>,
    /// The first evaluation error, if any (Prometheus logs it and tries again at
    /// the next evaluation).
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Pending,
    Firing,
}

/// One active alert of a rule (`rules.Alert`).
struct Active {
    labels: Labels,
    state: State,
    active_at: Millis,
    keep_firing_since: Option<Millis>,
    value: f64,
}

fn to_ms(n: Nanos) -> Millis {
    (n.0 / 1_000_000) as Millis
}

fn to_nanos(ms: Millis) -> Nanos {
    Nanos(ms.max(0) as u64 * 1_000_000)
}

/// The instant vector a rule's query gives (a scalar is one element with no labels,
/// as the rule manager's query function makes it).
fn query(expr: &Expr, store: &Store, at: Millis, step: Millis) -> Result<Vec<Elem>, String> {
    match promql::instant(expr, store, at, step)? {
        Value::Vector(v) => Ok(v),
        Value::Scalar(v) => Ok(vec![Elem {
            labels: Vec::new(),
            value: v,
        }]),
        _ => Err("the expression does not give an instant vector".into()),
    }
}

struct RuleState {
    outcome: AlertOutcome,
    active: Vec<Active>,
}

/// Evaluate every group over the run, `store` holding the scraped series (recording
/// rules add theirs to it); returns the occurrences (`alert_pending`,
/// `alert_firing`, `alert_resolved`) and one outcome per alerting rule, in order.
pub fn evaluate(
    groups: &[RuleGroup],
    store: &mut Store,
    end: Nanos,
) -> (Vec<Occurrence>, Vec<AlertOutcome>) {
    let end_ms = to_ms(end);
    // Every (time, group) evaluation in time order; at equal times, in group order.
    let mut schedule: Vec<(Millis, usize)> = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let step = to_ms(group.interval).max(1);
        let mut t = 0;
        while t <= end_ms {
            schedule.push((t, g));
            t += step;
        }
    }
    schedule.sort();
    let mut states: Vec<Vec<Option<RuleState>>> = groups
        .iter()
        .map(|g| {
            g.rules
                .iter()
                .map(|r| match r {
                    Rule::Alert(a) => Some(RuleState {
                        outcome: AlertOutcome {
                            name: a.name.clone(),
                            text: a.text.clone(),
                            hold: a.hold,
                            interval: g.interval,
                            first_pending: None,
                            first_firing: None,
                            first_resolved: None,
                            firings: 0,
                            spans: Vec::new(),
                            error: None,
                        },
                        active: Vec::new(),
                    }),
                    Rule::Record(_) => None,
                })
                .collect()
        })
        .collect();
    let mut occurrences = Vec::new();
    for (at, g) in schedule {
        let group = &groups[g];
        let step = to_ms(group.interval).max(1);
        for (i, rule) in group.rules.iter().enumerate() {
            match rule {
                Rule::Record(r) => {
                    // A failed recording rule writes nothing this time.
                    if let Ok(v) = query(&r.expr, store, at, step) {
                        for e in v {
                            let mut labels = e.labels;
                            set_label(&mut labels, NAME_LABEL, &r.record);
                            for (n, val) in &r.labels {
                                set_label(&mut labels, n, val);
                            }
                            store.append(
                                &labels,
                                Sample {
                                    at_ms: at,
                                    value: e.value,
                                },
                            );
                        }
                    }
                }
                Rule::Alert(a) => {
                    if let Some(st) = states[g][i].as_mut() {
                        eval_alert(a, st, store, at, step, &mut occurrences);
                    }
                }
            }
        }
    }
    let mut outcomes = Vec::new();
    for group in states {
        for st in group.into_iter().flatten() {
            outcomes.push(st.outcome);
        }
    }
    (occurrences, outcomes)
}

/// One evaluation of an alerting rule (`AlertingRule.Eval`).
fn eval_alert(
    rule: &AlertRule,
    st: &mut RuleState,
    store: &Store,
    at: Millis,
    step: Millis,
    occurrences: &mut Vec<Occurrence>,
) {
    let result = match query(&rule.expr, store, at, step) {
        Ok(v) => v,
        Err(e) => {
            st.outcome.error.get_or_insert(e);
            return;
        }
    };
    // The alerts this evaluation returns, by label set.
    let current = match alert_labels(rule, result) {
        Ok(c) => c,
        Err(e) => {
            st.outcome.error.get_or_insert(e);
            return;
        }
    };
    let note = |at: Millis, kind: &'static str, detail: String| Occurrence {
        at: to_nanos(at),
        kind,
        component: rule.name.clone(),
        detail,
        status: None,
        replica: None,
        label: None,
    };
    let hold = to_ms(rule.hold);
    let keep_for = to_ms(rule.keep_firing_for);
    for (labels, value) in &current {
        match st.active.iter_mut().find(|a| a.labels == *labels) {
            Some(a) => {
                a.value = *value;
                a.keep_firing_since = None;
            }
            None => {
                st.outcome.first_pending.get_or_insert(to_nanos(at));
                if hold > 0 {
                    occurrences.push(note(
                        at,
                        "alert_pending",
                        format!(
                            "pending{}: {} is {}",
                            shown(labels),
                            rule.text,
                            fmt_value(*value)
                        ),
                    ));
                }
                st.active.push(Active {
                    labels: labels.clone(),
                    state: State::Pending,
                    active_at: at,
                    keep_firing_since: None,
                    value: *value,
                });
            }
        }
    }
    let mut kept = Vec::with_capacity(st.active.len());
    for mut a in std::mem::take(&mut st.active) {
        if !current.iter().any(|(l, _)| *l == a.labels) {
            let mut keep_firing = false;
            if a.state == State::Firing && keep_for > 0 {
                let since = *a.keep_firing_since.get_or_insert(at);
                keep_firing = at - since < keep_for;
            }
            if !keep_firing {
                if a.state == State::Firing {
                    st.outcome.first_resolved.get_or_insert(to_nanos(at));
                    if let Some(span) = st
                        .outcome
                        .spans
                        .iter_mut()
                        .rev()
                        .find(|s| s.labels == a.labels && s.to.is_none())
                    {
                        span.to = Some(to_nanos(at));
                    }
                    occurrences.push(note(
                        at,
                        "alert_resolved",
                        format!(
                            "resolved{}: the condition no longer holds",
                            shown(&a.labels)
                        ),
                    ));
                }
                // Inactive alerts are forgotten: a new one starts pending afresh.
                continue;
            }
        }
        if a.state == State::Pending && at - a.active_at >= hold {
            a.state = State::Firing;
            st.outcome.firings += 1;
            st.outcome.first_firing.get_or_insert(to_nanos(at));
            st.outcome.spans.push(FiringSpan {
                labels: a.labels.clone(),
                from: to_nanos(at),
                to: None,
            });
            occurrences.push(note(
                at,
                "alert_firing",
                format!(
                    "firing{}: {} is {}",
                    shown(&a.labels),
                    rule.text,
                    fmt_value(a.value)
                ),
            ));
        }
        kept.push(a);
    }
    st.active = kept;
}

/// Each sample's labels as its alert's: `__name__` dropped, the rule's labels and
/// `alertname` set; two samples with the same set are Prometheus's evaluation error.
fn alert_labels(rule: &AlertRule, result: Vec<Elem>) -> Result<Vec<(Labels, f64)>, String> {
    let mut current: Vec<(Labels, f64)> = Vec::with_capacity(result.len());
    for e in result {
        let mut labels = e.labels;
        set_label(&mut labels, NAME_LABEL, "");
        for (n, v) in &rule.labels {
            set_label(&mut labels, n, v);
        }
        set_label(&mut labels, "alertname", &rule.name);
        if current.iter().any(|(l, _)| *l == labels) {
            return Err(
                "vector contains metrics with the same labelset after applying alert labels"
                    .to_string(),
            );
        }
        current.push((labels, e.value));
    }
    Ok(current)
}

/// The labels that tell one alert of a rule from another (all but `alertname`), for
/// event details: empty when there are none.
fn shown(labels: &Labels) -> String {
    let rest: Vec<String> = labels
        .iter()
        .filter(|(n, _)| n != "alertname")
        .map(|(n, v)| format!("{n}=\"{v}\""))
        .collect();
    if rest.is_empty() {
        String::new()
    } else {
        format!(" {{{}}}", rest.join(", "))
    }
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
    use crate::outcome::promql::StoredSeries;

    /// Counters scraped every 15 s for 600 s: `bad_total` grows by 10/s in
    /// [from, to), `all_total` by 10/s throughout.
    fn store(from: i64, to: i64) -> Store {
        let mut bad = Vec::new();
        let mut all = Vec::new();
        let (mut b, mut a) = (0.0, 0.0);
        for k in 0..=40 {
            let at_ms = k * 15_000;
            bad.push(Sample { at_ms, value: b });
            all.push(Sample { at_ms, value: a });
            let t = at_ms / 1000;
            if (from..to).contains(&t) {
                b += 150.0;
            }
            a += 150.0;
        }
        let series = |name: &str, samples| StoredSeries {
            labels: vec![(NAME_LABEL.into(), name.into())],
            samples,
        };
        Store::from_series(vec![series("bad_total", bad), series("all_total", all)])
    }

    fn rule(expr: &str, hold_s: u64, keep_s: u64) -> RuleGroup {
        RuleGroup {
            name: "g".into(),
            interval: Nanos::from_secs(30),
            rules: vec![Rule::Alert(AlertRule {
                name: "r".into(),
                text: expr.into(),
                promql: expr.into(),
                expr: promql::check(expr).expect("a valid test expression"),
                hold: Nanos::from_secs(hold_s),
                keep_firing_for: Nanos::from_secs(keep_s),
                labels: vec![("severity".into(), "page".into())],
                annotations: Vec::new(),
            })],
        }
    }

    fn kinds(occ: &[Occurrence]) -> Vec<(&'static str, u64)> {
        occ.iter()
            .map(|o| (o.kind, o.at.0 / 1_000_000_000))
            .collect()
    }

    const RATIO: &str = "rate(bad_total[1m]) / rate(all_total[1m]) > 0.5";

    #[test]
    fn pending_then_firing_after_for_then_resolved() {
        // `bad_total` grows between the scrapes at 120 s and 300 s. At 150 s the
        // window [90, 150] saw it grow in 2 of its 4 gaps: a rate of 5 against 10, a
        // ratio of 0.5, not above. At 180 s, 4 of 4: pending; `for: 60s` fires at
        // 240 s. At 330 s the window [270, 330] saw 2 of 4 again: resolved.
        let mut s = store(120, 300);
        let (occ, out) = evaluate(&[rule(RATIO, 60, 0)], &mut s, Nanos::from_secs(600));
        assert_eq!(
            kinds(&occ),
            vec![
                ("alert_pending", 180),
                ("alert_firing", 240),
                ("alert_resolved", 330)
            ]
        );
        assert_eq!(out[0].firings, 1);
        assert_eq!(out[0].spans[0].labels[0], ("alertname".into(), "r".into()));
    }

    #[test]
    fn for_zero_fires_at_the_first_true_evaluation() {
        let mut s = store(120, 300);
        let (occ, _) = evaluate(&[rule(RATIO, 0, 0)], &mut s, Nanos::from_secs(600));
        assert_eq!(
            kinds(&occ),
            vec![("alert_firing", 180), ("alert_resolved", 330)]
        );
    }

    #[test]
    fn keep_firing_for_holds_a_firing_alert() {
        let mut s = store(120, 300);
        let (occ, _) = evaluate(&[rule(RATIO, 0, 90)], &mut s, Nanos::from_secs(600));
        // False from 330 s; kept while less than 90 s have passed: 330, 360, 390.
        assert_eq!(
            kinds(&occ),
            vec![("alert_firing", 180), ("alert_resolved", 420)]
        );
    }

    #[test]
    fn no_traffic_is_nan_and_never_fires() {
        let mut s = store(0, 0);
        let (occ, _) = evaluate(
            &[rule(
                "rate(bad_total[1m]) / rate(bad_total[1m]) > 0.5",
                0,
                0,
            )],
            &mut s,
            Nanos::from_secs(600),
        );
        assert!(occ.is_empty());
    }

    #[test]
    fn a_recording_rule_feeds_the_rules_after_it() {
        let mut g = rule("bad:rate1m > 5", 0, 0);
        g.rules.insert(
            0,
            Rule::Record(RecordingRule {
                record: "bad:rate1m".into(),
                promql: "rate(bad_total[1m])".into(),
                expr: promql::check("rate(bad_total[1m])").expect("valid"),
                labels: Vec::new(),
            }),
        );
        let mut s = store(120, 300);
        let (occ, _) = evaluate(&[g], &mut s, Nanos::from_secs(600));
        assert_eq!(occ.first().map(|o| o.kind), Some("alert_firing"));
    }

    #[test]
    fn a_subquery_of_billions_of_steps_is_an_error_not_a_hang() {
        // Found by the fuzzer: 4294967295m at 30 s steps is 8.6 billion evaluations.
        let mut s = store(120, 300);
        let expr = "max_over_time(rate(bad_total[1m])[4294967295m:30s]) > 2.2";
        let (occ, out) = evaluate(&[rule(expr, 0, 0)], &mut s, Nanos::from_secs(600));
        assert!(occ.is_empty());
        let e = out[0].error.as_deref().unwrap_or_default();
        assert!(e.contains("at most 11000"), "{e}");
    }
}
