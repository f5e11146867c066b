//! The incident file's timeline as written: entries and their actions (serde types
//! that mirror the YAML one to one, as in `raw`, which re-exports them).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::raw::*;
use super::units::{Count, Duration, Limit, Memory, Positive, PositiveDuration, Rate, RouteWeight};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSetRate {
    #[schemars(with = "String")]
    pub client: Spanned<String>,
    pub rate: Rate,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawJobChange {
    pub release: Option<RawRelease>,
    pub iterations: Option<Count>,
    pub context: Option<RawJobContext>,
    #[schemars(with = "Option<Vec<RawJobStep>>")]
    pub steps: Option<Spanned<Vec<RawJobStep>>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPoolChange {
    pub max_open: Option<Limit>,
    /// `none` removes the timeout.
    pub acquire_timeout: Option<RawTimeoutChange>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawTimeoutChange {
    Set(PositiveDuration),
    None(RawNone),
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawNone {
    None,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHandlerChange {
    /// The route whose handler changes (default: the service's first).
    pub route: Option<String>,
    pub context: Option<RawContext>,
    /// Step number (from 1) -> new latency of that `work` step.
    #[serde(default)]
    pub work: BTreeMap<u32, RawLatency>,
    /// Step number (from 1) -> new retry policy or breaker of that `call` step.
    #[serde(default)]
    pub calls: BTreeMap<u32, RawCallChange>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCallChange {
    #[schemars(with = "Option<RawRetry>")]
    pub retry: Option<Spanned<RawRetry>>,
    #[schemars(with = "Option<RawBreaker>")]
    pub breaker: Option<Spanned<RawBreaker>>,
}

/// `set_client`: a client's retries, breaker, timeout or split among routes change.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSetClient {
    #[schemars(with = "String")]
    pub client: Spanned<String>,
    #[schemars(with = "Option<RawRetry>")]
    pub retry: Option<Spanned<RawRetry>>,
    #[schemars(with = "Option<RawBreaker>")]
    pub breaker: Option<Spanned<RawBreaker>>,
    pub timeout: Option<RawTimeoutChange>,
    /// A new split among routes, by share (`90%`): what its users ask for changes.
    #[schemars(with = "Option<BTreeMap<String, RouteWeight>>")]
    pub routes: Option<Spanned<BTreeMap<String, Spanned<RouteWeight>>>>,
    pub bulkhead: Option<RawBulkhead>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDeploy {
    #[schemars(with = "String")]
    pub service: Spanned<String>,
    #[schemars(with = "Option<BTreeMap<String, RawJobChange>>")]
    pub jobs: Option<Spanned<BTreeMap<String, RawJobChange>>>,
    #[schemars(with = "Option<BTreeMap<String, RawPoolChange>>")]
    pub pools: Option<Spanned<BTreeMap<String, RawPoolChange>>>,
    #[schemars(with = "Option<RawHandlerChange>")]
    pub handler: Option<Spanned<RawHandlerChange>>,
    pub memory_limit: Option<Memory>,
    /// How this deploy replaces the replicas (default: the service's strategy).
    pub strategy: Option<RawStrategy>,
    /// Shedding the new version ships (each field set replaces the service's).
    pub concurrency_limit: Option<Count>,
    pub queue_timeout: Option<PositiveDuration>,
    #[schemars(with = "Option<u16>")]
    pub shed_status: Option<Spanned<u16>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawKill {
    #[schemars(with = "String")]
    pub service: Spanned<String>,
    /// Ordinal among the running replicas (default 0).
    #[schemars(with = "Option<u32>")]
    pub replica: Option<Spanned<u32>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSlowDatabase {
    #[schemars(with = "String")]
    pub database: Spanned<String>,
    pub factor: Positive,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScale {
    #[schemars(with = "String")]
    pub service: Spanned<String>,
    #[schemars(with = "Count")]
    pub replicas: Spanned<Count>,
}

/// One timeline entry: `at`, an optional `note`, and exactly one action.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTimelineEntry {
    #[schemars(with = "Duration")]
    pub at: Spanned<Duration>,
    /// Name by which variants address this entry.
    #[schemars(with = "Option<String>")]
    pub id: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub note: Option<Spanned<String>>,
    /// A few words for chart markers.
    #[schemars(with = "Option<String>")]
    pub label: Option<Spanned<String>>,
    /// What the entry means for the regimes.
    pub role: Option<RawRole>,
    pub set_rate: Option<RawSetRate>,
    pub deploy: Option<RawDeploy>,
    #[schemars(with = "Option<RawRollout>")]
    pub rollback: Option<Spanned<RawRollout>>,
    #[schemars(with = "Option<RawRollout>")]
    pub restart: Option<Spanned<RawRollout>>,
    pub kill: Option<RawKill>,
    pub slow_database: Option<RawSlowDatabase>,
    pub scale: Option<RawScale>,
    pub set_client: Option<RawSetClient>,
    pub set_autoscaler: Option<RawSetAutoscaler>,
    pub set_gateway: Option<RawSetGateway>,
    pub set_faults: Option<RawSetFaults>,
    pub flush_cache: Option<RawFlushCache>,
}

/// `role:` of a timeline entry.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawRole {
    Trigger,
    TriggerEnd,
    Fix,
}

/// `set_gateway`: an operator changes an nginx gateway's limits, or an Envoy's route
/// retry policy or cluster circuit breakers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSetGateway {
    #[schemars(with = "String")]
    pub gateway: Spanned<String>,
    #[schemars(with = "Option<RawLimitReq>")]
    pub limit_req: Option<Spanned<RawLimitReq>>,
    pub limit_conn: Option<Count>,
    #[schemars(with = "Option<RawEnvoyRetry>")]
    pub retry_policy: Option<Spanned<RawEnvoyRetry>>,
    pub circuit_breakers: Option<RawCircuitBreakers>,
}
