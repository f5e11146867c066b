//! The incident file as written: serde types that mirror the YAML one to one.
//!
//! Every struct denies unknown fields, so a typo is an error that lists the allowed
//! names. Names and references are `Spanned` so that lowering can point at them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::units::{
    Cores, Count, Duration, Limit, Memory, Positive, PositiveDuration, Quantile, Rate, RouteWeight,
    Whole,
};

/// A whole incident file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawIncident {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[schemars(with = "Option<String>")]
    pub title: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub description: Option<Spanned<String>>,
    /// URLs of the public reports the file is built from.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub sources: Vec<Spanned<String>>,
    pub seed: Option<u64>,
    #[schemars(with = "PositiveDuration")]
    pub duration: Spanned<PositiveDuration>,
    #[schemars(with = "Option<PositiveDuration>")]
    pub resolution: Option<Spanned<PositiveDuration>>,
    /// The wall-clock time the replay starts at (RFC 3339), for `metrics.om`.
    #[schemars(with = "Option<String>")]
    pub start: Option<Spanned<String>>,
    /// Time between two scrapes of the exported metrics.
    #[schemars(with = "Option<PositiveDuration>")]
    pub scrape_interval: Option<Spanned<PositiveDuration>>,
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
    pub caches: Vec<RawCache>,
    #[serde(default)]
    pub timeline: Vec<RawTimelineEntry>,
    #[serde(default)]
    pub alerts: Vec<RawAlert>,
    /// A Prometheus rules file whose rules are evaluated too, relative to this file.
    #[schemars(with = "Option<String>")]
    pub alerts_file: Option<Spanned<String>>,
    #[serde(default)]
    pub variants: Vec<RawVariant>,
}

/// A named set of overrides of the base file: `<component>.<field>: value`, or
/// `timeline.<id>.at` / `timeline.<id>.enabled`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawVariant {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    pub description: Option<String>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub set: BTreeMap<String, Spanned<serde_json::Value>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_events: Option<u64>,
    pub max_requests: Option<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawArrivals {
    Poisson,
    Constant,
}

/// HTTP method, written as in a request line (`GET`, `POST`) or in lower case.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::with_lower_case)]
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

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// A gateway or a service, by name.
    #[schemars(with = "String")]
    pub to: Spanned<String>,
    /// Required unless `routes` gives rates.
    #[schemars(with = "Option<Rate>")]
    pub rate: Option<Spanned<Rate>>,
    pub arrivals: Option<RawArrivals>,
    pub timeout: Option<PositiveDuration>,
    pub method: Option<RawMethod>,
    #[schemars(with = "Option<RawRetry>")]
    pub retry: Option<Spanned<RawRetry>>,
    #[schemars(with = "Option<RawBreaker>")]
    pub breaker: Option<Spanned<RawBreaker>>,
    pub bulkhead: Option<RawBulkhead>,
    /// How a client calling a service directly picks a replica (Envoy's policies).
    #[schemars(with = "Option<RawEnvoyLb>")]
    pub lb_policy: Option<Spanned<RawEnvoyLb>>,
    /// Route name -> share (`90%`) or rate (`90/s`).
    #[schemars(with = "Option<BTreeMap<String, RouteWeight>>")]
    pub routes: Option<Spanned<BTreeMap<String, Spanned<RouteWeight>>>>,
}

/// nginx's balancing methods, as the `upstream` block writes them.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
pub enum RawBalancer {
    #[serde(rename = "round_robin")]
    RoundRobin,
    #[serde(rename = "least_conn")]
    LeastConn,
    #[serde(rename = "random")]
    Random,
    #[serde(rename = "random two least_conn")]
    RandomTwoLeastConn,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawGatewayProfile {
    Nginx,
    Envoy,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawNextUpstream {
    Error,
    Timeout,
    InvalidHeader,
    // nginx's spelling: `proxy_next_upstream http_502`.
    #[serde(rename = "http_500")]
    Http500,
    #[serde(rename = "http_502")]
    Http502,
    #[serde(rename = "http_503")]
    Http503,
    #[serde(rename = "http_504")]
    Http504,
    #[serde(rename = "http_429")]
    Http429,
    NonIdempotent,
    Off,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    pub profile: Option<RawGatewayProfile>,
    #[schemars(with = "Vec<String>")]
    pub upstream: Spanned<Vec<Spanned<String>>>,
    pub balancer: Option<RawBalancer>,
    pub proxy_connect_timeout: Option<PositiveDuration>,
    pub proxy_read_timeout: Option<PositiveDuration>,
    #[schemars(with = "Option<Vec<RawNextUpstream>>")]
    pub proxy_next_upstream: Option<Spanned<Vec<RawNextUpstream>>>,
    pub proxy_next_upstream_tries: Option<u32>,
    pub max_fails: Option<u32>,
    pub fail_timeout: Option<PositiveDuration>,
    #[schemars(with = "Option<RawLimitReq>")]
    pub limit_req: Option<Spanned<RawLimitReq>>,
    #[schemars(with = "Option<u16>")]
    pub limit_req_status: Option<Spanned<u16>>,
    pub limit_conn: Option<Count>,
    #[schemars(with = "Option<u16>")]
    pub limit_conn_status: Option<Spanned<u16>>,
    // Envoy (`profile: envoy`), under Envoy's own names.
    #[schemars(with = "Option<Duration>")]
    pub timeout: Option<Spanned<Duration>>,
    pub connect_timeout: Option<PositiveDuration>,
    #[schemars(with = "Option<RawEnvoyRetry>")]
    pub retry_policy: Option<Spanned<RawEnvoyRetry>>,
    pub lb_policy: Option<RawEnvoyLb>,
    pub circuit_breakers: Option<RawCircuitBreakers>,
    pub outlier_detection: Option<RawOutlier>,
    /// Per-route settings (an nginx `location` per route).
    #[schemars(with = "Option<BTreeMap<String, RawGatewayRoute>>")]
    pub routes: Option<BTreeMap<String, Spanned<RawGatewayRoute>>>,
}

/// What an nginx `location` for one route overrides.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGatewayRoute {
    pub proxy_read_timeout: Option<PositiveDuration>,
}

/// A route's `retry_policy`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEnvoyRetry {
    /// Comma-separated conditions, as Envoy writes them: `5xx,connect-failure`.
    #[schemars(with = "String")]
    pub retry_on: Spanned<String>,
    pub num_retries: Option<u32>,
    pub per_try_timeout: Option<PositiveDuration>,
    pub retry_back_off: Option<RawEnvoyBackOff>,
    #[schemars(with = "Option<Vec<u16>>")]
    pub retriable_status_codes: Option<Spanned<Vec<u16>>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEnvoyBackOff {
    pub base_interval: PositiveDuration,
    pub max_interval: Option<PositiveDuration>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawEnvoyLb {
    RoundRobin,
    LeastRequest,
    Random,
}

/// A cluster's `circuit_breakers` (its default-priority thresholds).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCircuitBreakers {
    pub max_connections: Option<Count>,
    pub max_pending_requests: Option<Count>,
    pub max_requests: Option<Count>,
    pub max_retries: Option<u32>,
    pub retry_budget: Option<RawEnvoyRetryBudget>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEnvoyRetryBudget {
    pub budget_percent: Option<Positive>,
    pub min_retry_concurrency: Option<u32>,
}

/// A cluster's `outlier_detection`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOutlier {
    pub consecutive_5xx: Option<Count>,
    pub interval: Option<PositiveDuration>,
    pub base_ejection_time: Option<PositiveDuration>,
    pub max_ejection_time: Option<PositiveDuration>,
    pub max_ejection_percent: Option<u32>,
}

/// nginx `limit_req`: `rate`, `burst`, and `nodelay` or `delay`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLimitReq {
    #[schemars(with = "Rate")]
    pub rate: Spanned<Rate>,
    pub burst: Option<u32>,
    pub nodelay: Option<bool>,
    pub delay: Option<u32>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawContext {
    Request,
    Background,
}

/// A latency distribution: `{exponential: {mean: 100ms}}`, `{lognormal: {p50, p99}}` ...
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawStep {
    #[schemars(with = "RawLatency")]
    Work(Spanned<RawLatency>),
    #[schemars(with = "RawQueryStep")]
    Query(Spanned<RawQueryStep>),
    Call(Box<RawCall>),
    Cached(Box<RawCached>),
    #[schemars(with = "RawBody")]
    Body(Spanned<RawBody>),
    #[schemars(with = "RawLeak")]
    Leak(Spanned<RawLeak>),
}

/// `leak: {fds}`: descriptors the handler opens and never closes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLeak {
    #[schemars(with = "Whole")]
    pub fds: Spanned<Whole>,
}

/// `fds: {limit, baseline}`: a process's descriptor limit and what it holds idle.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFds {
    /// The soft `RLIMIT_NOFILE` (default 1024, Linux's).
    #[schemars(with = "Option<Count>")]
    pub limit: Option<Spanned<Count>>,
    /// Descriptors open in a started process (default 4).
    #[schemars(with = "Option<Whole>")]
    pub baseline: Option<Spanned<Whole>>,
}

/// `body: {chunks, every}`: the header goes out, then the body in writes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBody {
    #[schemars(with = "Count")]
    pub chunks: Spanned<Count>,
    #[schemars(with = "RawLatency")]
    pub every: Spanned<RawLatency>,
}

/// `cached: {cache, steps}`: steps that run only when the cache misses.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCached {
    #[schemars(with = "String")]
    pub cache: Spanned<String>,
    #[schemars(with = "Vec<RawStep>")]
    pub steps: Spanned<Vec<RawStep>>,
}

/// Every step of a list, those inside `cached` blocks included, in the order written.
pub fn flat_steps(steps: &[RawStep]) -> Vec<&RawStep> {
    let mut out = Vec::new();
    for s in steps {
        out.push(s);
        if let RawStep::Cached(c) = s {
            out.extend(flat_steps(&c.steps.value));
        }
    }
    out
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCall {
    #[schemars(with = "String")]
    pub service: Spanned<String>,
    pub timeout: Option<PositiveDuration>,
    #[schemars(with = "Option<u16>")]
    pub error_status: Option<Spanned<u16>>,
    #[schemars(with = "Option<RawRetry>")]
    pub retry: Option<Spanned<RawRetry>>,
    #[schemars(with = "Option<RawBreaker>")]
    pub breaker: Option<Spanned<RawBreaker>>,
    pub bulkhead: Option<RawBulkhead>,
    /// How the call picks a replica of the service (Envoy's policies).
    pub lb_policy: Option<RawEnvoyLb>,
    #[schemars(with = "Option<String>")]
    pub route: Option<Spanned<String>>,
}

impl RawService {
    /// Every list of handler steps the service has: its handler's, or each route's.
    pub fn step_lists(&self) -> Vec<&Spanned<Vec<RawStep>>> {
        let mut lists: Vec<&Spanned<Vec<RawStep>>> =
            self.handler.iter().map(|h| &h.steps).collect();
        if let Some(rs) = &self.routes {
            lists.extend(rs.value.iter().map(|r| &r.steps));
        }
        lists
    }

    /// Every list of handler steps, mutably: its handler's, or each route's.
    pub fn step_lists_mut(&mut self) -> Vec<&mut Spanned<Vec<RawStep>>> {
        let mut lists: Vec<&mut Spanned<Vec<RawStep>>> =
            self.handler.iter_mut().map(|h| &mut h.steps).collect();
        if let Some(rs) = &mut self.routes {
            lists.extend(rs.value.iter_mut().map(|r| &mut r.steps));
        }
        lists
    }
}

/// Injected faults, as Envoy's HTTP fault filter writes them, plus resets.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFaults {
    pub abort: Option<RawFaultAbort>,
    pub delay: Option<RawFaultDelay>,
    pub reset: Option<RawFaultReset>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFaultAbort {
    #[schemars(with = "u16")]
    pub http_status: Spanned<u16>,
    #[schemars(with = "f64")]
    pub percentage: Spanned<f64>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFaultDelay {
    pub fixed_delay: PositiveDuration,
    #[schemars(with = "f64")]
    pub percentage: Spanned<f64>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFaultReset {
    #[schemars(with = "f64")]
    pub percentage: Spanned<f64>,
}

/// `set_faults`: faults of a service switched on, changed, or off (`{}`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSetFaults {
    #[schemars(with = "String")]
    pub service: Spanned<String>,
    pub abort: Option<RawFaultAbort>,
    pub delay: Option<RawFaultDelay>,
    pub reset: Option<RawFaultReset>,
}

/// One route of a service: its method, its handler, its own limits.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    pub method: Option<RawMethod>,
    pub context: Option<RawContext>,
    #[schemars(with = "Vec<RawStep>")]
    pub steps: Spanned<Vec<RawStep>>,
    #[schemars(with = "Option<Count>")]
    pub reserved_workers: Option<Spanned<Count>>,
    pub concurrency_limit: Option<Count>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHandler {
    pub context: Option<RawContext>,
    #[schemars(with = "Vec<RawStep>")]
    pub steps: Spanned<Vec<RawStep>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMemory {
    pub baseline: Memory,
    pub per_request: Memory,
    #[schemars(with = "Memory")]
    pub limit: Spanned<Memory>,
    /// Whose heap holds what handlers allocate (default plain).
    #[schemars(with = "Option<RawRuntime>")]
    pub runtime: Option<Spanned<RawRuntime>>,
    /// Go: `GOGC`, a percentage or `off` (default 100).
    #[schemars(with = "Option<RawGogc>")]
    pub gogc: Option<Spanned<RawGogc>>,
    /// Go: `GOMEMLIMIT` (default none).
    #[schemars(with = "Option<Memory>")]
    pub gomemlimit: Option<Spanned<Memory>>,
    /// JVM: `-Xmx` (required).
    #[schemars(with = "Option<Memory>")]
    pub xmx: Option<Spanned<Memory>>,
    /// JVM: `-XX:+ExitOnOutOfMemoryError` (default false, the JVM's default).
    #[schemars(with = "Option<bool>")]
    pub exit_on_oom: Option<Spanned<bool>>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawRuntime {
    Plain,
    Go,
    Jvm,
}

/// `GOGC`: a percentage, or `off`, as the environment variable is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawGogc {
    Percent(u32),
    Off,
}

const GOGC_WORDS: &str = "a percentage such as 100, or off";

struct GogcVisitor;

impl serde::de::Visitor<'_> for GogcVisitor {
    type Value = RawGogc;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{GOGC_WORDS}")
    }
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<RawGogc, E> {
        u32::try_from(n)
            .map(RawGogc::Percent)
            .map_err(|_| E::custom(format!("GOGC {n} is too large: write {GOGC_WORDS}")))
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<RawGogc, E> {
        Err(E::custom(format!(
            "GOGC {n} is negative: write {GOGC_WORDS} (off disables the collector)"
        )))
    }
    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<RawGogc, E> {
        Err(E::custom(format!(
            "GOGC {n} is not a whole percentage: write {GOGC_WORDS}"
        )))
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RawGogc, E> {
        match s {
            "off" => Ok(RawGogc::Off),
            other => match other.parse::<u64>() {
                Ok(n) => self.visit_u64(n),
                Err(_) => Err(E::custom(format!(
                    "`{other}` is not a GOGC value: write {GOGC_WORDS}"
                ))),
            },
        }
    }
    /// `false` is taken for `off` too.
    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<RawGogc, E> {
        if b {
            Err(E::custom(format!(
                "`true` is not a GOGC value: write {GOGC_WORDS}"
            )))
        } else {
            Ok(RawGogc::Off)
        }
    }
}

impl<'de> Deserialize<'de> for RawGogc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(GogcVisitor)
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawBackoff {
    Kubernetes,
    Fixed(Duration),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRestart {
    pub startup: Option<Duration>,
    pub backoff: Option<RawBackoff>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RawPoolProfile {
    GoSql,
    Hikari,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    pub profile: RawPoolProfile,
    #[schemars(with = "String")]
    pub database: Spanned<String>,
    pub max_open: Option<Limit>,
    pub max_idle: Option<u32>,
    pub acquire_timeout: Option<PositiveDuration>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[schemars(with = "Option<Count>")]
    pub replicas: Option<Spanned<Count>>,
    pub workers: Option<Limit>,
    #[schemars(with = "Option<Whole>")]
    pub backlog: Option<Spanned<Whole>>,
    /// `net.core.somaxconn` of the replicas' kernel: the cap on `backlog`.
    #[schemars(with = "Option<Whole>")]
    pub somaxconn: Option<Spanned<Whole>>,
    pub tcp_abort_on_overflow: Option<bool>,
    /// Required unless `routes` is given.
    pub handler: Option<RawHandler>,
    #[schemars(with = "Option<Vec<RawRoute>>")]
    pub routes: Option<Spanned<Vec<RawRoute>>>,
    pub memory: Option<RawMemory>,
    /// File descriptors: the process's limit and baseline.
    #[schemars(with = "Option<RawFds>")]
    pub fds: Option<Spanned<RawFds>>,
    pub restart: Option<RawRestart>,
    #[serde(default)]
    pub pools: Vec<RawPool>,
    #[serde(default)]
    pub jobs: Vec<RawJob>,
    pub probes: Option<RawProbes>,
    #[schemars(with = "Option<RawAutoscaler>")]
    pub autoscaler: Option<Spanned<RawAutoscaler>>,
    pub concurrency_limit: Option<Count>,
    pub queue_timeout: Option<PositiveDuration>,
    #[schemars(with = "Option<u16>")]
    pub shed_status: Option<Spanned<u16>>,
    /// A CPU limit: `work` steps share these cores.
    pub cpus: Option<Cores>,
    /// Injected faults (an Envoy fault filter in front of each replica).
    #[schemars(with = "Option<RawFaults>")]
    pub faults: Option<Spanned<RawFaults>>,
    /// How deploys, rollbacks and restarts replace the replicas (default rolling).
    pub strategy: Option<RawStrategy>,
}

/// A Deployment's strategy: `rolling` (RollingUpdate, surge one) or `recreate`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawStrategy {
    Rolling,
    Recreate,
}

/// `rollback:` and `restart:`: a service's name, or `{service, strategy}`.
#[derive(Debug, Clone)]
pub struct RawRollout {
    pub service: String,
    pub strategy: Option<RawStrategy>,
}

struct RolloutVisitor;

impl<'de> serde::de::Visitor<'de> for RolloutVisitor {
    type Value = RawRollout;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a service's name, or `{service: NAME, strategy: rolling|recreate}`")
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RawRollout, E> {
        Ok(RawRollout {
            service: s.to_string(),
            strategy: None,
        })
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawRollout, A::Error> {
        const FIELDS: &[&str] = &["service", "strategy"];
        let (mut service, mut strategy) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "service" if service.is_none() => service = Some(map.next_value::<String>()?),
                "strategy" if strategy.is_none() => strategy = Some(map.next_value()?),
                "service" | "strategy" => {
                    return Err(serde::de::Error::custom(format!("duplicate field `{key}`")))
                }
                _ => return Err(serde::de::Error::unknown_field(&key, FIELDS)),
            }
        }
        let service = service.ok_or_else(|| serde::de::Error::missing_field("service"))?;
        Ok(RawRollout { service, strategy })
    }
}

impl<'de> Deserialize<'de> for RawRollout {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RolloutVisitor)
    }
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawHpaMetric {
    Inflight,
    RequestsPerSecond,
    Cpu,
}

/// A HorizontalPodAutoscaler with a per-pod (`Pods`) metric.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAutoscaler {
    #[schemars(with = "Option<Count>")]
    pub min_replicas: Option<Spanned<Count>>,
    #[schemars(with = "Count")]
    pub max_replicas: Spanned<Count>,
    pub metric: RawHpaMetric,
    pub target: Positive,
    /// `behavior:` present (even `{}`): the autoscaling/v2 behavior defaults apply.
    pub behavior: Option<RawHpaBehavior>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHpaBehavior {
    pub scale_up_stabilization: Option<Duration>,
    pub scale_down_stabilization: Option<Duration>,
}

/// `set_autoscaler`: an operator changes a service's autoscaler.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSetAutoscaler {
    #[schemars(with = "String")]
    pub service: Spanned<String>,
    pub min_replicas: Option<Count>,
    pub max_replicas: Option<Count>,
    pub target: Option<Positive>,
    pub enabled: Option<bool>,
}

/// A service's Kubernetes probes and its health endpoint.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProbes {
    pub liveness: Option<RawProbe>,
    pub readiness: Option<RawProbe>,
    pub startup: Option<RawProbe>,
    /// What the health endpoint does.
    pub handler: Option<RawHandler>,
}

/// One probe: Kubernetes' settings, durations with units.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    pub initial_delay: Option<Duration>,
    pub period: Option<PositiveDuration>,
    pub timeout: Option<PositiveDuration>,
    #[schemars(with = "Option<Count>")]
    pub success_threshold: Option<Spanned<Count>>,
    pub failure_threshold: Option<Count>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[schemars(with = "RawLatency")]
    pub latency: Spanned<RawLatency>,
    pub max_connections: Option<Count>,
    /// Cores its queries share; without it every query runs alone.
    pub cpus: Option<Cores>,
    /// PostgreSQL `statement_timeout` (0, off, by default).
    pub statement_timeout: Option<Duration>,
    /// Work of starting a backend for a new connection.
    pub connection_setup: Option<Duration>,
}

pub use super::raw_caches::*;
pub use super::raw_jobs::*;
pub use super::raw_queries::*;
pub use super::raw_resilience::*;
pub use super::raw_rules::*;
pub use super::raw_timeline::*;
