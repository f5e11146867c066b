//! The incident file's caches as written (serde types that mirror the YAML one to one,
//! as in `raw`, which re-exports them).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::raw::RawLatency;
use super::units::{Count, Positive, PositiveDuration, Quantile};

/// A cache in front of a dependency: entries per key with a TTL, or a fixed hit ratio.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[schemars(with = "Option<PositiveDuration>")]
    pub ttl: Option<Spanned<PositiveDuration>>,
    #[schemars(with = "Option<Count>")]
    pub keys: Option<Spanned<Count>>,
    #[schemars(with = "Option<RawPopularity>")]
    pub popularity: Option<Spanned<RawPopularity>>,
    #[schemars(with = "Option<Quantile>")]
    pub hit_ratio: Option<Spanned<Quantile>>,
    #[schemars(with = "Option<bool>")]
    pub single_flight: Option<Spanned<bool>>,
    #[schemars(with = "Option<bool>")]
    pub invalidate_on_error: Option<Spanned<bool>>,
    #[schemars(with = "Option<PositiveDuration>")]
    pub serve_stale: Option<Spanned<PositiveDuration>>,
    pub scope: Option<RawCacheScope>,
    #[schemars(with = "Option<RawLatency>")]
    pub lookup: Option<Spanned<RawLatency>>,
    #[schemars(with = "Option<RawCacheStart>")]
    pub start: Option<Spanned<RawCacheStart>>,
}

/// How often each key is asked for: `uniform` or `{zipf: {s: 1.0}}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawPopularity {
    Uniform,
    Zipf { s: Positive },
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawCacheScope {
    Process,
    Shared,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawCacheStart {
    Steady,
    Together,
    Cold,
}

/// `flush_cache`: every entry of a cache is dropped (an operator, a deploy, a cache
/// server restarted).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFlushCache {
    #[schemars(with = "String")]
    pub cache: Spanned<String>,
}
