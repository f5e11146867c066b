//! Alert rules: each expression parsed against the metrics the replay will produce
//! (the columns of `timeseries.csv`, plus a gateway's derived `status_5xx` and
//! `responses`), errors placed at the character; names unique; Prometheus's default
//! evaluation interval.

use crate::engine::Nanos;
use crate::incident::error::position_in_scalar;
use crate::incident::promql::parse_rule;
use crate::incident::raw::RawAlert;
use crate::incident::IncidentError;
use crate::model::metric_columns;
use crate::model::spec::Scenario;
use crate::outcome::alerts::AlertRule;
use crate::outcome::STATUSES;

use super::{loc, Ctx};

/// Prometheus's default `evaluation_interval`.
const PROMETHEUS_EVALUATION_INTERVAL: Nanos = Nanos::from_secs(60);

/// Parse and check the alert rules against the metrics the replay will produce.
pub(super) fn lower(
    ctx: &Ctx,
    raw: &[RawAlert],
    scenario: &Scenario,
) -> Result<Vec<AlertRule>, IncidentError> {
    let columns = metric_columns(scenario);
    let gateways: Vec<&str> = scenario.gateways.iter().map(|g| g.name.as_str()).collect();
    let resolve = |name: &str| resolve_metric(&columns, &gateways, name);
    let mut rules: Vec<AlertRule> = Vec::new();
    for a in raw {
        if rules.iter().any(|r| r.name == a.name.value) {
            return Err(ctx.err(
                loc(&a.name),
                format!("two alert rules are named `{}`", a.name.value),
            ));
        }
        let (expr, cmp, threshold) = parse_rule(&a.expr.value, &resolve).map_err(|e| {
            let l = loc(&a.expr);
            let (line, column) =
                position_in_scalar(ctx.text, l.line(), l.column(), &a.expr.value, e.offset);
            IncidentError::at(
                ctx.file,
                ctx.text,
                line,
                column,
                format!("in alert `{}`: {}", a.name.value, e.message),
            )
        })?;
        rules.push(AlertRule {
            name: a.name.value.clone(),
            text: a.expr.value.clone(),
            expr,
            cmp,
            threshold,
            hold: a.hold.map_or(Nanos::ZERO, |d| d.0),
            interval: a
                .evaluation_interval
                .as_ref()
                .map_or(PROMETHEUS_EVALUATION_INTERVAL, |d| d.value.0),
        });
    }
    Ok(rules)
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
