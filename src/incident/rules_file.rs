//! A Prometheus rules file, read as Prometheus reads it (`model/rulefmt`): groups
//! with unique names, each rule either `alert:` or `record:`, durations in
//! Prometheus's syntax, every expression valid PromQL that rewind can evaluate.
//! Errors are `FILE:LINE:COL: message` against the rules file.

use std::collections::BTreeMap;

use serde_saphyr::{Location, Spanned};

use super::error::{IncidentError, IncidentWarning};
use crate::engine::Nanos;
use crate::outcome::alerts::{AlertRule, RecordingRule, Rule, RuleGroup};
use crate::outcome::exposition::sample_names;
use crate::outcome::promql::{self, Labels};
use serde::Deserialize;

/// Prometheus's default `global.evaluation_interval`
/// (<https://prometheus.io/docs/prometheus/latest/configuration/configuration/>).
pub const PROMETHEUS_EVALUATION_INTERVAL: Nanos = Nanos::from_secs(60);

/// Largest rules file read, in bytes.
pub const MAX_RULES_FILE_BYTES: usize = 4 << 20;

/// Most rules in one file, all groups together.
pub const MAX_RULES: usize = 1000;

/// A Prometheus rules file (`rule_files:` of prometheus.yml), as `promtool check
/// rules` reads it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRulesFile {
    pub groups: Vec<RawRuleGroup>,
}

/// `groups[]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuleGroup {
    pub name: Spanned<String>,
    /// Prometheus's duration syntax (`1m`, `1h30m`).
    pub interval: Option<Spanned<String>>,
    pub limit: Option<Spanned<u64>>,
    pub rules: Vec<RawRule>,
}

/// `groups[].rules[]`: an alerting rule (`alert:`) or a recording rule (`record:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub alert: Option<Spanned<String>>,
    pub record: Option<Spanned<String>>,
    pub expr: Spanned<String>,
    #[serde(rename = "for")]
    pub hold: Option<Spanned<String>>,
    pub keep_firing_for: Option<Spanned<String>>,
    #[serde(default)]
    pub labels: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub annotations: BTreeMap<String, Spanned<String>>,
}

/// A Prometheus duration: `0`, or one or more `<n><unit>` in decreasing units
/// (`y w d h m s ms`), as `model.ParseDuration`.
pub fn parse_prometheus_duration(s: &str) -> Result<Nanos, String> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    let bad = || format!("`{s}` is not a Prometheus duration (such as 30s, 5m or 1h30m)");
    if s == "0" {
        return Ok(Nanos::ZERO);
    }
    let mut rest = s;
    let mut ms: u64 = 0;
    let mut last_unit = 0usize;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        // `ms` before `m`, so that `5ms` is not five minutes and an `s`.
        let (i, (unit, size)) = UNITS
            .iter()
            .enumerate()
            .filter(|(_, (u, _))| rest.starts_with(u))
            .max_by_key(|(_, (u, _))| u.len())
            .ok_or_else(bad)?;
        if i < last_unit || (i == last_unit && ms > 0) {
            return Err(bad());
        }
        last_unit = i;
        ms = n
            .checked_mul(*size)
            .and_then(|v| ms.checked_add(v))
            .ok_or_else(bad)?;
        rest = &rest[unit.len()..];
    }
    ms.checked_mul(1_000_000).map(Nanos).ok_or_else(bad)
}

/// A valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

/// A valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

struct Reader<'a> {
    file: &'a str,
    text: &'a str,
}

impl Reader<'_> {
    fn err(&self, l: Location, message: String) -> IncidentError {
        IncidentError::at(self.file, self.text, l.line(), l.column(), message)
    }

    fn duration(&self, d: &Option<Spanned<String>>) -> Result<Nanos, IncidentError> {
        match d {
            None => Ok(Nanos::ZERO),
            Some(s) => parse_prometheus_duration(&s.value).map_err(|m| self.err(s.referenced, m)),
        }
    }

    fn labels(
        &self,
        map: &BTreeMap<String, Spanned<String>>,
        what: &str,
        check_templates: bool,
    ) -> Result<Labels, IncidentError> {
        let mut out = Labels::new();
        for (name, value) in map {
            if !is_label_name(name) {
                return Err(self.err(
                    value.referenced,
                    format!("`{name}` is not a valid {what} name"),
                ));
            }
            if check_templates && value.value.contains("{{") {
                return Err(self.err(
                    value.referenced,
                    format!(
                        "the label `{name}` is a template; rewind does not expand templates in labels (annotations may have them)"
                    ),
                ));
            }
            out.push((name.clone(), value.value.clone()));
        }
        Ok(out)
    }

    fn expr(&self, e: &Spanned<String>) -> Result<promql_parser::parser::Expr, IncidentError> {
        promql::check(&e.value).map_err(|m| self.err(e.referenced, m))
    }

    fn rule(&self, r: &RawRule) -> Result<Rule, IncidentError> {
        let expr = self.expr(&r.expr)?;
        match (&r.alert, &r.record) {
            (Some(a), None) => Ok(Rule::Alert(AlertRule {
                name: a.value.clone(),
                text: r.expr.value.clone(),
                promql: r.expr.value.clone(),
                expr,
                hold: self.duration(&r.hold)?,
                keep_firing_for: self.duration(&r.keep_firing_for)?,
                labels: self.labels(&r.labels, "label", true)?,
                annotations: self.labels(&r.annotations, "annotation", false)?,
            })),
            (None, Some(rec)) => {
                if !is_metric_name(&rec.value) {
                    return Err(self.err(
                        rec.referenced,
                        format!("`{}` is not a valid metric name to record", rec.value),
                    ));
                }
                if let Some(h) = r.hold.as_ref().or(r.keep_firing_for.as_ref()) {
                    return Err(self.err(
                        h.referenced,
                        "a recording rule has no `for` or `keep_firing_for`".into(),
                    ));
                }
                if let Some(a) = r.annotations.values().next() {
                    return Err(
                        self.err(a.referenced, "a recording rule has no annotations".into())
                    );
                }
                Ok(Rule::Record(RecordingRule {
                    record: rec.value.clone(),
                    promql: r.expr.value.clone(),
                    expr,
                    labels: self.labels(&r.labels, "label", true)?,
                }))
            }
            (Some(a), Some(_)) => Err(self.err(
                a.referenced,
                "a rule is either `alert:` or `record:`, not both".into(),
            )),
            (None, None) => Err(self.err(
                r.expr.referenced,
                "this rule has neither `alert:` nor `record:`".into(),
            )),
        }
    }
}

/// Parse and check a Prometheus rules file. A rule that selects a metric no replay
/// exports and no rule records is valid, but never matches: `warnings` gets it.
pub fn parse(
    file: &str,
    text: &str,
    warnings: &mut Vec<IncidentWarning>,
) -> Result<Vec<RuleGroup>, IncidentError> {
    if text.len() > MAX_RULES_FILE_BYTES {
        return Err(IncidentError::whole_file(
            file,
            format!(
                "the rules file is {} bytes, over the limit of {MAX_RULES_FILE_BYTES}",
                text.len()
            ),
        ));
    }
    let options = serde_saphyr::options! {
        strict_booleans: true,
        budget: serde_saphyr::budget! {
            max_depth: 32,
            max_aliases: 256,
            max_anchors: 256,
            max_nodes: 200_000,
            max_documents: 1,
        },
    };
    let raw: RawRulesFile = serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| IncidentError::from_yaml(file, text, &e))?;
    let r = Reader { file, text };
    let mut groups: Vec<RuleGroup> = Vec::new();
    let mut count = 0usize;
    for g in &raw.groups {
        if groups.iter().any(|x| x.name == g.name.value) {
            return Err(r.err(
                g.name.referenced,
                format!("two groups are named `{}`", g.name.value),
            ));
        }
        let interval = match &g.interval {
            Some(i) => {
                let d = parse_prometheus_duration(&i.value).map_err(|m| r.err(i.referenced, m))?;
                if d == Nanos::ZERO {
                    return Err(r.err(i.referenced, "a group's interval must be above zero".into()));
                }
                d
            }
            None => PROMETHEUS_EVALUATION_INTERVAL,
        };
        if let Some(l) = &g.limit {
            if l.value > 0 {
                return Err(r.err(
                    l.referenced,
                    "rewind does not apply a group's `limit`: remove it to replay these rules"
                        .into(),
                ));
            }
        }
        let mut rules = Vec::with_capacity(g.rules.len());
        for raw_rule in &g.rules {
            count += 1;
            if count > MAX_RULES {
                return Err(r.err(
                    raw_rule.expr.referenced,
                    format!("more than {MAX_RULES} rules: split the file"),
                ));
            }
            rules.push(r.rule(raw_rule)?);
        }
        groups.push(RuleGroup {
            name: g.name.value.clone(),
            interval,
            rules,
        });
    }
    let mut known = sample_names();
    for g in &groups {
        for rule in &g.rules {
            if let Rule::Record(rec) = rule {
                known.push(rec.record.clone());
            }
        }
    }
    for (g, raw_group) in groups.iter().zip(&raw.groups) {
        for (rule, raw_rule) in g.rules.iter().zip(&raw_group.rules) {
            let (name, expr) = match rule {
                Rule::Alert(a) => (&a.name, &a.expr),
                Rule::Record(r) => (&r.record, &r.expr),
            };
            let mut names = Vec::new();
            promql::selected_names(expr, &mut names);
            if let Some(unknown) = names.iter().find(|n| !known.contains(n)) {
                warnings.push(IncidentWarning(r.err(
                    raw_rule.expr.referenced,
                    format!(
                        "rule `{name}` selects `{unknown}`, which a replay does not export and no rule records: it never matches (exported names start with `rewind_`; README, \"Prometheus and Grafana\")"
                    ),
                )));
            }
        }
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_durations() {
        let s = |x: &str| parse_prometheus_duration(x).map(|n| n.0 / 1_000_000);
        assert_eq!(s("0"), Ok(0));
        assert_eq!(s("30s"), Ok(30_000));
        assert_eq!(s("1h30m"), Ok(5_400_000));
        assert_eq!(s("5ms"), Ok(5));
        assert_eq!(s("1m5ms"), Ok(60_005));
        assert_eq!(s("1d"), Ok(86_400_000));
        assert!(s("").is_err());
        assert!(s("5").is_err());
        assert!(s("30s1m").is_err(), "units must decrease");
        assert!(s("1.5m").is_err());
        assert!(s("99999999999999999999y").is_err());
    }

    #[test]
    fn a_rules_file_with_alerts_and_records() {
        let text = "groups:\n  - name: api\n    interval: 30s\n    rules:\n      - record: job:errors:rate5m\n        expr: sum(rate(errors_total[5m]))\n      - alert: Errors\n        expr: job:errors:rate5m > 1\n        for: 2m\n        labels:\n          severity: page\n        annotations:\n          summary: \"{{ $value }} errors/s\"\n";
        let g = parse("rules.yml", text, &mut Vec::new()).expect("valid rules");
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].interval, Nanos::from_secs(30));
        assert_eq!(g[0].rules.len(), 2);
        let a = g[0].alerts().next().expect("an alert");
        assert_eq!(a.hold, Nanos::from_secs(120));
        assert_eq!(a.labels, vec![("severity".to_string(), "page".to_string())]);
    }

    #[test]
    fn errors_name_the_line() {
        let text = "groups:\n  - name: api\n    rules:\n      - alert: Errors\n        expr: rate(x[5m]) >\n";
        let e = parse("rules.yml", text, &mut Vec::new()).expect_err("invalid PromQL");
        assert!(e.to_string().starts_with("rules.yml:5:"), "{e}");
        let text = "groups:\n  - name: api\n    rules:\n      - alert: A\n        expr: up == 0\n        for: 5 minutes\n";
        let e = parse("rules.yml", text, &mut Vec::new()).expect_err("bad duration");
        assert!(e.to_string().contains("rules.yml:6:"), "{e}");
        assert!(e.to_string().contains("not a Prometheus duration"), "{e}");
        let text = "groups:\n  - name: api\n    rules:\n      - alert: A\n        expr: up == 0\n        severity: page\n";
        let e = parse("rules.yml", text, &mut Vec::new()).expect_err("unknown field");
        assert!(e.to_string().contains("rules.yml:6:"), "{e}");
    }
}
