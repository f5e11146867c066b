//! The incident file's batch jobs as written (serde types that mirror the YAML one to
//! one, as in `raw`, which re-exports them).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::raw::{RawJobQuery, RawLatency};
use super::units::{Count, Duration, PositiveDuration};

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawRelease {
    PerIteration,
    AtFunctionReturn,
    LastOnly,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawJobContext {
    Background,
    Timeout(PositiveDuration),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[schemars(with = "String")]
    pub pool: Spanned<String>,
    pub every: PositiveDuration,
    pub first_run: Option<Duration>,
    pub iterations: Count,
    pub release: RawRelease,
    pub context: Option<RawJobContext>,
    /// What each iteration does on its connection; one database query when absent.
    #[schemars(with = "Option<Vec<RawJobStep>>")]
    pub steps: Option<Spanned<Vec<RawJobStep>>>,
}

/// One step of a job iteration: `query: {}` (the database's latency),
/// `query: {latency: ...}` (a statement with its own time) or `work: <latency>`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawJobStep {
    Query(RawJobQuery),
    #[schemars(with = "RawLatency")]
    Work(Spanned<RawLatency>),
}
