//! The incident file as written: serde types that mirror the YAML one to one.
//!
//! Every struct denies unknown fields, so a typo is an error that lists the allowed
//! names. Names and references are `Spanned` so that lowering can point at them.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::units::{Count, Duration, Limit, Memory, Positive, PositiveDuration, Quantile, Rate};

/// A whole incident file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIncident {
    pub name: Spanned<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub seed: Option<u64>,
    pub duration: Spanned<PositiveDuration>,
    pub resolution: Option<Spanned<PositiveDuration>>,
    pub limits: Option<RawLimits>,
    #[serde(default)]
    pub clients: Vec<RawClient>,
    #[serde(default)]
    pub gateways: Vec<RawGateway>,
    #[serde(default)]
    pub services: Vec<RawService>,
    #[serde(default)]
    pub databases: Vec<RawDatabase>,
    #[serde(default)]
    pub timeline: Vec<RawTimelineEntry>,
    #[serde(default)]
    pub alerts: Vec<RawAlert>,
    #[serde(default)]
    pub variants: Vec<RawVariant>,
}

/// A named set of overrides of the base file: `<component>.<field>: value`, or
/// `timeline.<id>.at` / `timeline.<id>.enabled`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVariant {
    pub name: Spanned<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub set: BTreeMap<String, Spanned<serde_json::Value>>,
}

/// A Prometheus-style alerting rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlert {
    pub name: Spanned<String>,
    pub expr: Spanned<String>,
    #[serde(rename = "for")]
    pub hold: Option<Duration>,
    pub evaluation_interval: Option<PositiveDuration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_events: Option<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawArrivals {
    Poisson,
    Constant,
}

/// HTTP method, written as in a request line (`GET`, `POST`) or in lower case.
#[derive(Debug, Clone, Copy, Deserialize)]
pub enum RawMethod {
    #[serde(rename = "GET", alias = "get")]
    Get,
    #[serde(rename = "HEAD", alias = "head")]
    Head,
    #[serde(rename = "PUT", alias = "put")]
    Put,
    #[serde(rename = "DELETE", alias = "delete")]
    Delete,
    #[serde(rename = "OPTIONS", alias = "options")]
    Options,
    #[serde(rename = "POST", alias = "post")]
    Post,
    #[serde(rename = "PATCH", alias = "patch")]
    Patch,
    #[serde(rename = "LOCK", alias = "lock")]
    Lock,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub name: Spanned<String>,
    /// A gateway or a service, by name.
    pub to: Spanned<String>,
    pub rate: Spanned<Rate>,
    pub arrivals: Option<RawArrivals>,
    pub timeout: Option<PositiveDuration>,
    pub method: Option<RawMethod>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawGatewayProfile {
    Nginx,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawNextUpstream {
    Error,
    Timeout,
    InvalidHeader,
    Http500,
    Http502,
    Http503,
    Http504,
    NonIdempotent,
    Off,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    pub name: Spanned<String>,
    pub profile: Option<RawGatewayProfile>,
    pub upstream: Spanned<Vec<Spanned<String>>>,
    pub proxy_connect_timeout: Option<PositiveDuration>,
    pub proxy_read_timeout: Option<PositiveDuration>,
    pub proxy_next_upstream: Option<Spanned<Vec<RawNextUpstream>>>,
    pub proxy_next_upstream_tries: Option<u32>,
    pub max_fails: Option<u32>,
    pub fail_timeout: Option<PositiveDuration>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawContext {
    Request,
    Background,
}

/// A latency distribution: `{exponential: {mean: 100ms}}`, `{lognormal: {p50, p99}}` ...
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawLatency {
    Constant(Duration),
    Exponential {
        mean: PositiveDuration,
    },
    Uniform {
        min: Duration,
        max: PositiveDuration,
    },
    Lognormal {
        p50: PositiveDuration,
        p99: PositiveDuration,
    },
    Empirical(Vec<(Quantile, Duration)>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawStep {
    Work(Spanned<RawLatency>),
    Query(Spanned<String>),
    Call(RawCall),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCall {
    pub service: Spanned<String>,
    pub timeout: Option<PositiveDuration>,
    pub error_status: Option<Spanned<u16>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHandler {
    pub context: Option<RawContext>,
    pub steps: Spanned<Vec<RawStep>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMemory {
    pub baseline: Memory,
    pub per_request: Memory,
    pub limit: Spanned<Memory>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawBackoff {
    Kubernetes,
    Fixed(Duration),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRestart {
    pub startup: Option<Duration>,
    pub backoff: Option<RawBackoff>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawPoolProfile {
    GoSql,
    Hikari,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    pub name: Spanned<String>,
    pub profile: RawPoolProfile,
    pub database: Spanned<String>,
    pub max_open: Option<Limit>,
    pub max_idle: Option<u32>,
    pub acquire_timeout: Option<PositiveDuration>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawRelease {
    PerIteration,
    AtFunctionReturn,
    LastOnly,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawJobContext {
    Background,
    Timeout(PositiveDuration),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    pub name: Spanned<String>,
    pub pool: Spanned<String>,
    pub every: PositiveDuration,
    pub first_run: Option<Duration>,
    pub iterations: Count,
    pub release: RawRelease,
    pub context: Option<RawJobContext>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub name: Spanned<String>,
    pub replicas: Option<Count>,
    pub workers: Option<Limit>,
    pub backlog: Option<Count>,
    pub tcp_abort_on_overflow: Option<bool>,
    pub handler: RawHandler,
    pub memory: Option<RawMemory>,
    pub restart: Option<RawRestart>,
    #[serde(default)]
    pub pools: Vec<RawPool>,
    #[serde(default)]
    pub jobs: Vec<RawJob>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    pub name: Spanned<String>,
    pub latency: Spanned<RawLatency>,
    pub max_connections: Option<Count>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSetRate {
    pub client: Spanned<String>,
    pub rate: Rate,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJobChange {
    pub release: Option<RawRelease>,
    pub iterations: Option<Count>,
    pub context: Option<RawJobContext>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPoolChange {
    pub max_open: Option<Limit>,
    /// `none` removes the timeout.
    pub acquire_timeout: Option<RawTimeoutChange>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum RawTimeoutChange {
    Set(PositiveDuration),
    None(RawNone),
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawNone {
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHandlerChange {
    pub context: Option<RawContext>,
    /// Step number (from 1) -> new latency of that `work` step.
    #[serde(default)]
    pub work: BTreeMap<u32, RawLatency>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeploy {
    pub service: Spanned<String>,
    pub jobs: Option<Spanned<BTreeMap<String, RawJobChange>>>,
    pub pools: Option<Spanned<BTreeMap<String, RawPoolChange>>>,
    pub handler: Option<Spanned<RawHandlerChange>>,
    pub memory_limit: Option<Memory>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKill {
    pub service: Spanned<String>,
    /// Ordinal among the running replicas (default 0).
    pub replica: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlowDatabase {
    pub database: Spanned<String>,
    pub factor: Positive,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScale {
    pub service: Spanned<String>,
    pub replicas: Count,
}

/// One timeline entry: `at`, an optional `note`, and exactly one action.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimelineEntry {
    pub at: Spanned<Duration>,
    /// Name by which variants address this entry.
    pub id: Option<Spanned<String>>,
    pub note: Option<String>,
    /// A few words for chart markers.
    pub label: Option<String>,
    pub set_rate: Option<RawSetRate>,
    pub deploy: Option<RawDeploy>,
    pub rollback: Option<Spanned<String>>,
    pub kill: Option<RawKill>,
    pub slow_database: Option<RawSlowDatabase>,
    pub scale: Option<RawScale>,
}
