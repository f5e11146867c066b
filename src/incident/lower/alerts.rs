//! Alert rules of the incident file: each expression is either in the column
//! language (`rate(edge.status_5xx[5m])`: names as in `timeseries.csv`, plus a
//! gateway's derived `status_5xx` and `responses`), parsed with errors placed at the
//! character and turned into PromQL over the exported series, or PromQL over the
//! exported series itself. Names unique; Prometheus's default evaluation interval.
//! Rules with the same interval form one group, as they would in a rules file.

use serde_saphyr::Spanned;

use crate::engine::Nanos;
use crate::incident::error::position_in_scalar;
use crate::incident::promql::{parse_rule, to_promql, ColumnSeries};
use crate::incident::raw::RawAlert;
use crate::incident::rules_file::{is_label_name, PROMETHEUS_EVALUATION_INTERVAL};
use crate::incident::IncidentError;
use crate::model::metric_columns;
use crate::model::spec::Scenario;
use crate::outcome::alerts::{AlertRule, Rule, RuleGroup};
use crate::outcome::exposition::{self, Components};
use crate::outcome::promql::{self, Labels};
use crate::outcome::STATUSES;

use super::{loc, Ctx};

/// How a column is exported, for the column language's translation.
fn column_series(components: &Components, column: &str) -> Result<ColumnSeries, String> {
    let selector = exposition::selector(components, column)
        .ok_or_else(|| format!("`{column}` is not exported to Prometheus"))?;
    let name = selector.split('{').next().unwrap_or_default();
    // The exported families are in base units; the columns are not.
    let factor = if column.ends_with("_ms") && name.ends_with("_seconds") {
        1000.0
    } else if column.ends_with("_mib") && name.ends_with("_bytes") {
        1.0 / (1024.0 * 1024.0)
    } else {
        1.0
    };
    Ok(ColumnSeries {
        counter: name.ends_with("_total"),
        selector,
        factor,
    })
}

fn labels(
    ctx: &Ctx,
    map: &std::collections::BTreeMap<String, Spanned<String>>,
) -> Result<Labels, IncidentError> {
    let mut out = Labels::new();
    for (n, v) in map {
        if !is_label_name(n) {
            return Err(ctx.err(loc(v), format!("`{n}` is not a valid label name")));
        }
        out.push((n.clone(), v.value.clone()));
    }
    Ok(out)
}

/// Parse and check the alert rules against the metrics the replay will produce.
pub(super) fn lower(
    ctx: &Ctx,
    raw: &[RawAlert],
    scenario: &Scenario,
) -> Result<Vec<RuleGroup>, IncidentError> {
    let columns = metric_columns(scenario);
    let gateways: Vec<&str> = scenario.gateways.iter().map(|g| g.name.as_str()).collect();
    let components = crate::model::components(scenario);
    let resolve = |name: &str| resolve_metric(&columns, &gateways, name);
    let series = |column: &str| column_series(&components, column);
    let mut groups: Vec<RuleGroup> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for a in raw {
        if names.contains(&a.name.value.as_str()) {
            return Err(ctx.err(
                loc(&a.name),
                format!("two alert rules are named `{}`", a.name.value),
            ));
        }
        names.push(&a.name.value);
        let at_offset = |offset: usize, message: String| {
            let l = loc(&a.expr);
            let (line, column) =
                position_in_scalar(ctx.text, l.line(), l.column(), &a.expr.value, offset);
            IncidentError::at(
                ctx.file,
                ctx.text,
                line,
                column,
                format!("in alert `{}`: {}", a.name.value, message),
            )
        };
        let promql_text = match parse_rule(&a.expr.value, &resolve) {
            Ok((expr, cmp, threshold)) => {
                to_promql(&expr, cmp, threshold, &series).map_err(|m| at_offset(0, m))?
            }
            // Not the column language: PromQL over the exported series, if it reads as
            // PromQL at all; else the column language's error, which points at the
            // character.
            Err(e) => match promql::check(&a.expr.value) {
                Ok(_) => a.expr.value.clone(),
                Err(pe) if a.expr.value.contains("rewind_") => return Err(at_offset(0, pe)),
                Err(_) => return Err(at_offset(e.offset, e.message)),
            },
        };
        let expr = promql::check(&promql_text).map_err(|m| {
            at_offset(
                0,
                format!("its PromQL form `{promql_text}` is not valid: {m}"),
            )
        })?;
        let interval = a
            .evaluation_interval
            .as_ref()
            .map_or(PROMETHEUS_EVALUATION_INTERVAL, |d| d.value.0);
        for d in [&a.hold, &a.keep_firing_for].into_iter().flatten() {
            if d.0 .0 % 1_000_000 != 0 {
                return Err(ctx.err(
                    loc(&a.name),
                    format!(
                        "in alert `{}`: Prometheus counts durations in whole milliseconds",
                        a.name.value
                    ),
                ));
            }
        }
        let rule = Rule::Alert(AlertRule {
            name: a.name.value.clone(),
            text: a.expr.value.clone(),
            promql: promql_text,
            expr,
            hold: a.hold.map_or(Nanos::ZERO, |d| d.0),
            keep_firing_for: a.keep_firing_for.map_or(Nanos::ZERO, |d| d.0),
            labels: labels(ctx, &a.labels)?,
            annotations: labels(ctx, &a.annotations)?,
        });
        match groups.iter_mut().find(|g| g.interval == interval) {
            Some(g) => g.rules.push(rule),
            None => groups.push(RuleGroup {
                name: if groups.is_empty() {
                    scenario.name.clone()
                } else {
                    format!(
                        "{}-every-{}",
                        scenario.name,
                        crate::human::exact_duration(interval)
                    )
                },
                interval,
                rules: vec![rule],
            }),
        }
    }
    Ok(groups)
}

/// The columns a metric name stands for: itself, or for a gateway's derived metrics,
/// all its 5xx statuses (`status_5xx`) or all its statuses (`responses`).
fn resolve_metric(
    columns: &[String],
    gateways: &[&str],
    name: &str,
) -> Result<Vec<String>, String> {
    if columns.iter().any(|c| c == name) {
        return Ok(vec![name.to_string()]);
    }
    if let Some((component, metric)) = name.rsplit_once('.') {
        if gateways.contains(&component) {
            let pick = |f: &dyn Fn(u16) -> bool| -> Vec<String> {
                STATUSES
                    .iter()
                    .filter(|s| f(**s))
                    .map(|s| format!("{component}.status_{s}"))
                    .collect()
            };
            match metric {
                "status_5xx" => return Ok(pick(&|s| s >= 500)),
                "responses" => return Ok(pick(&|_| true)),
                _ => {}
            }
        }
        let same: Vec<&str> = columns
            .iter()
            .filter_map(|c| c.strip_prefix(&format!("{component}.")))
            .collect();
        if !same.is_empty() {
            let mut known = same.join(", ");
            if gateways.contains(&component) {
                known.push_str(", status_5xx, responses");
            }
            return Err(format!(
                "`{component}` has no metric `{metric}` (its metrics: {known})"
            ));
        }
    }
    Err(format!(
        "unknown metric `{name}`: metrics are `<component>.<metric>` as in timeseries.csv, e.g. {}",
        columns
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    ))
}
