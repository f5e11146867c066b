//! The incident file's retriers, circuit breakers and bulkheads as written (serde types
//! that mirror the YAML one to one, as in `raw`, which re-exports them).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::raw::RawNone;
use super::units::{Count, Duration, Positive, PositiveDuration};

/// A resilience4j `Bulkhead` (semaphore): `maxConcurrentCalls` (default 25), no waiting
/// (`maxWaitDuration` 0).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBulkhead {
    pub max_concurrent_calls: Option<Count>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RawRetryProfile {
    None,
    AwsStandard,
    Grpc,
    Envoy,
}

/// One entry of `retry_on`: a class of failures, or a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawRetryOn {
    Class(RawRetryClass),
    Status(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawRetryClass {
    /// Any 5xx answer.
    FiveXx,
    /// 502, 503, 504.
    GatewayError,
    Timeout,
    ConnectFailure,
    Reset,
}

const RETRY_ON_WORDS: &str = "5xx, gateway-error, timeout, connect-failure, reset, or a status";

struct RetryOnVisitor;

impl serde::de::Visitor<'_> for RetryOnVisitor {
    type Value = RawRetryOn;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "one of {RETRY_ON_WORDS}")
    }
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<RawRetryOn, E> {
        u16::try_from(n)
            .map(RawRetryOn::Status)
            .map_err(|_| E::custom(format!("{n} is not an HTTP status")))
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<RawRetryOn, E> {
        Err(E::custom(format!("{n} is not an HTTP status")))
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RawRetryOn, E> {
        Ok(RawRetryOn::Class(match s {
            "5xx" => RawRetryClass::FiveXx,
            "gateway-error" => RawRetryClass::GatewayError,
            "timeout" => RawRetryClass::Timeout,
            "connect-failure" => RawRetryClass::ConnectFailure,
            "reset" => RawRetryClass::Reset,
            other => {
                if let Ok(n) = other.parse::<u64>() {
                    return self.visit_u64(n);
                }
                return Err(E::custom(format!(
                    "`{other}` is not a failure to retry on: write {RETRY_ON_WORDS}"
                )));
            }
        }))
    }
}

impl<'de> Deserialize<'de> for RawRetryOn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RetryOnVisitor)
    }
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawJitter {
    None,
    Full,
    Equal,
    Decorrelated,
    Grpc,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetryBackoff {
    pub base: Option<Duration>,
    pub max: Option<Duration>,
    pub multiplier: Option<Positive>,
    pub jitter: Option<RawJitter>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetryQuota {
    pub size: Option<Count>,
    pub cost: Option<u32>,
    pub timeout_cost: Option<u32>,
    pub refund: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetryThrottling {
    pub max_tokens: Positive,
    pub token_ratio: Positive,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetryBudget {
    pub budget_percent: Option<Positive>,
    pub min_retry_concurrency: Option<u32>,
}

/// A mechanism's block, or `none` to remove the profile's.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "{T}_or_none")]
pub enum RawOrNone<T> {
    None(RawNone),
    Set(T),
}

/// A retrier: a profile's defaults, any of them overridden.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub profile: Option<RawRetryProfile>,
    #[schemars(with = "Option<Count>")]
    pub attempts: Option<Spanned<Count>>,
    #[schemars(with = "Option<Vec<RawRetryOn>>")]
    pub retry_on: Option<Spanned<Vec<Spanned<RawRetryOn>>>>,
    pub non_idempotent: Option<bool>,
    pub backoff: Option<RawRetryBackoff>,
    pub quota: Option<RawOrNone<RawRetryQuota>>,
    pub throttling: Option<RawOrNone<RawRetryThrottling>>,
    pub budget: Option<RawOrNone<RawRetryBudget>>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawBreakerProfile {
    /// No breaker (to remove one in a timeline change or a variant).
    None,
    Resilience4j,
    Hystrix,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawWindowType {
    CountBased,
    TimeBased,
}

/// A circuit breaker: resilience4j's or Hystrix's settings under their own names.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    #[schemars(with = "RawBreakerProfile")]
    pub profile: Spanned<RawBreakerProfile>,
    #[schemars(with = "Option<RawWindowType>")]
    pub sliding_window_type: Option<Spanned<RawWindowType>>,
    #[schemars(with = "Option<Count>")]
    pub sliding_window_size: Option<Spanned<Count>>,
    #[schemars(with = "Option<Count>")]
    pub minimum_number_of_calls: Option<Spanned<Count>>,
    #[schemars(with = "Option<f64>")]
    pub failure_rate_threshold: Option<Spanned<f64>>,
    #[schemars(with = "Option<f64>")]
    pub slow_call_rate_threshold: Option<Spanned<f64>>,
    #[schemars(with = "Option<PositiveDuration>")]
    pub slow_call_duration_threshold: Option<Spanned<PositiveDuration>>,
    #[schemars(with = "Option<PositiveDuration>")]
    pub wait_duration_in_open_state: Option<Spanned<PositiveDuration>>,
    #[schemars(with = "Option<Count>")]
    pub permitted_number_of_calls_in_half_open_state: Option<Spanned<Count>>,
    #[schemars(with = "Option<Count>")]
    pub request_volume_threshold: Option<Spanned<Count>>,
    #[schemars(with = "Option<f64>")]
    pub error_threshold_percentage: Option<Spanned<f64>>,
    #[schemars(with = "Option<PositiveDuration>")]
    pub sleep_window: Option<Spanned<PositiveDuration>>,
    #[schemars(with = "Option<PositiveDuration>")]
    pub rolling_window: Option<Spanned<PositiveDuration>>,
    #[schemars(with = "Option<PositiveDuration>")]
    pub health_snapshot_interval: Option<Spanned<PositiveDuration>>,
    #[schemars(with = "Option<PositiveDuration>")]
    pub execution_timeout: Option<Spanned<PositiveDuration>>,
}
