//! Alert rules as written in the incident file's `alerts:` (serde types that mirror
//! the YAML one to one, as in `raw`, which re-exports them). A Prometheus rules file
//! is another format: its types are in `rules_file`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::units::{Duration, PositiveDuration};

/// An alerting rule in the incident file, as Prometheus writes one.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAlert {
    /// The rule's name (`alertname`).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// A condition over `timeseries.csv`'s column names, or PromQL over the exported
    /// series.
    #[schemars(with = "String")]
    pub expr: Spanned<String>,
    /// How long the condition must hold before the alert fires.
    #[serde(rename = "for")]
    pub hold: Option<Duration>,
    /// How long a firing alert keeps firing after the condition went away.
    pub keep_firing_for: Option<Duration>,
    /// Time between evaluations (default 1m, Prometheus's).
    #[schemars(with = "Option<PositiveDuration>")]
    pub evaluation_interval: Option<Spanned<PositiveDuration>>,
    /// Labels added to the alert.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub labels: BTreeMap<String, Spanned<String>>,
    /// Annotations, kept as written.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub annotations: BTreeMap<String, Spanned<String>>,
}
