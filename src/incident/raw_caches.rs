//! The incident file's caches as written (serde types that mirror the YAML one to one,
//! as in `raw`, which re-exports them).

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::raw::RawLatency;
use super::units::{Count, Positive, PositiveDuration, Quantile};

/// A cache in front of a dependency: entries per key with a TTL, or a fixed hit ratio.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    pub name: Spanned<String>,
    pub ttl: Option<Spanned<PositiveDuration>>,
    pub keys: Option<Spanned<Count>>,
    pub popularity: Option<Spanned<RawPopularity>>,
    pub hit_ratio: Option<Spanned<Quantile>>,
    pub single_flight: Option<Spanned<bool>>,
    pub invalidate_on_error: Option<Spanned<bool>>,
    pub serve_stale: Option<Spanned<PositiveDuration>>,
    pub scope: Option<RawCacheScope>,
    pub lookup: Option<Spanned<RawLatency>>,
    pub start: Option<Spanned<RawCacheStart>>,
}

/// How often each key is asked for: `uniform` or `{zipf: {s: 1.0}}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawPopularity {
    Uniform,
    Zipf { s: Positive },
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawCacheScope {
    Process,
    Shared,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawCacheStart {
    Steady,
    Together,
    Cold,
}

/// `flush_cache`: every entry of a cache is dropped (an operator, a deploy, a cache
/// server restarted).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlushCache {
    pub cache: Spanned<String>,
}
