//! Alert rules as written: the incident file's `alerts:` and a Prometheus rules file
//! (serde types that mirror the YAML one to one, as in `raw`, which re-exports them).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::units::{Duration, PositiveDuration};

/// An alerting rule in the incident file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlert {
    pub name: Spanned<String>,
    pub expr: Spanned<String>,
    #[serde(rename = "for")]
    pub hold: Option<Duration>,
    pub keep_firing_for: Option<Duration>,
    pub evaluation_interval: Option<Spanned<PositiveDuration>>,
    #[serde(default)]
    pub labels: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub annotations: BTreeMap<String, Spanned<String>>,
}

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
