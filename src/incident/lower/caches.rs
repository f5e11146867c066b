//! Caches: either entries per key (`keys`, `ttl`, with `popularity`, `single_flight`,
//! `invalidate_on_error`, `serve_stale` and `start`) or a fixed `hit_ratio`, never both; where they live
//! (`scope`, per process by default) and how long a lookup takes. Caches are lowered
//! before services: `cached` steps refer to them.

use serde_saphyr::Spanned;

use crate::engine::Nanos;
use crate::incident::raw::{RawCache, RawCacheScope, RawCacheStart, RawPopularity};
use crate::incident::units::Count;
use crate::incident::IncidentError;
use crate::model::dist::Latency;
use crate::model::spec::{
    CacheModel, CacheScope, CacheSpec, CacheStart, KeyedCache, Popularity, Zipf, MAX_CACHE_KEYS,
    MAX_ZIPF_EXPONENT,
};

use super::latency::latency;
use super::{loc, Ctx};

/// A lookup in a shared cache is a network round trip: 500 us, the round trip within
/// one datacenter in the latency figures engineers quote ("Latency numbers every
/// programmer should know", after Jeff Dean). A process's own cache answers at once.
const SHARED_LOOKUP: Nanos = Nanos(500_000);

pub(super) fn lower(ctx: &Ctx, raw: &[RawCache]) -> Result<Vec<CacheSpec>, IncidentError> {
    raw.iter().map(|c| cache(ctx, c)).collect()
}

fn cache(ctx: &Ctx, c: &RawCache) -> Result<CacheSpec, IncidentError> {
    let scope = match c.scope {
        Some(RawCacheScope::Shared) => CacheScope::Shared,
        Some(RawCacheScope::Process) | None => CacheScope::Process,
    };
    let lookup = match &c.lookup {
        Some(l) => latency(ctx, l)?,
        None => Latency::Constant(match scope {
            CacheScope::Process => Nanos::ZERO,
            CacheScope::Shared => SHARED_LOOKUP,
        }),
    };
    let model = match (&c.keys, &c.hit_ratio) {
        (Some(_), Some(h)) => {
            return Err(ctx.err(
                loc(h),
                "a cache has either `keys` (entries that expire after `ttl`) or a fixed `hit_ratio`, not both".into(),
            ))
        }
        (None, Some(h)) => {
            hit_ratio_only(ctx, c)?;
            CacheModel::HitRatio(h.value.0)
        }
        (keys, None) => CacheModel::Keyed(keyed(ctx, c, keys.as_ref())?),
    };
    Ok(CacheSpec {
        name: c.name.value.clone(),
        model,
        scope,
        lookup,
    })
}

/// A cache with entries: `keys` and `ttl` required, the rest with defaults.
fn keyed(
    ctx: &Ctx,
    c: &RawCache,
    keys: Option<&Spanned<Count>>,
) -> Result<KeyedCache, IncidentError> {
    let Some(keys) = keys else {
        return Err(ctx.err(
            loc(&c.name),
            format!(
                "cache `{}` needs `keys` (how many distinct keys it is asked for) and `ttl`, or a fixed `hit_ratio`",
                c.name.value
            ),
        ));
    };
    if keys.value.0 > MAX_CACHE_KEYS {
        return Err(ctx.err(
            loc(keys),
            format!(
                "{} keys is more than {} (a cache instance holds one entry per key)",
                keys.value.0,
                crate::human::thousands(u64::from(MAX_CACHE_KEYS))
            ),
        ));
    }
    let Some(ttl) = &c.ttl else {
        return Err(ctx.err(
            loc(&c.name),
            format!(
                "cache `{}` needs a `ttl`: how long an entry is fresh after its fill",
                c.name.value
            ),
        ));
    };
    let popularity = match c.popularity.as_ref().map(|p| (&p.value, p)) {
        None | Some((RawPopularity::Uniform, _)) => Popularity::Uniform,
        Some((RawPopularity::Zipf { s }, at)) => {
            if s.0 > MAX_ZIPF_EXPONENT {
                return Err(ctx.err(
                    loc(at),
                    format!("a Zipf exponent of {} is above {MAX_ZIPF_EXPONENT}: one key would take every lookup (measured ones lie between 0.5 and 1.5)", s.0),
                ));
            }
            Popularity::Zipf(Zipf::new(keys.value.0, s.0))
        }
    };
    Ok(KeyedCache {
        keys: keys.value.0,
        popularity,
        ttl: ttl.value.0,
        serve_stale: c.serve_stale.as_ref().map(|d| d.value.0),
        // Cache-aside code does not coalesce unless it is written to (singleflight,
        // groupcache): off by default.
        single_flight: c.single_flight.as_ref().is_some_and(|b| b.value),
        // An error is an error unless the code says otherwise: off by default.
        invalidate_on_error: c.invalidate_on_error.as_ref().is_some_and(|b| b.value),
        start: match c.start.as_ref().map(|s| s.value) {
            None | Some(RawCacheStart::Steady) => CacheStart::Steady,
            Some(RawCacheStart::Together) => CacheStart::Together,
            Some(RawCacheStart::Cold) => CacheStart::Cold,
        },
    })
}

/// A fixed hit ratio has no entries: what only entries have is refused, at its line.
fn hit_ratio_only(ctx: &Ctx, c: &RawCache) -> Result<(), IncidentError> {
    let refuse = |at, field: &str| {
        Err(ctx.err(
            at,
            format!("`{field}` needs `keys`: a cache with a fixed `hit_ratio` has no entries"),
        ))
    };
    if let Some(t) = &c.ttl {
        return refuse(loc(t), "ttl");
    }
    if let Some(p) = &c.popularity {
        return refuse(loc(p), "popularity");
    }
    if let Some(b) = &c.single_flight {
        return refuse(loc(b), "single_flight");
    }
    if let Some(b) = &c.invalidate_on_error {
        return refuse(loc(b), "invalidate_on_error");
    }
    if let Some(d) = &c.serve_stale {
        return refuse(loc(d), "serve_stale");
    }
    if let Some(s) = &c.start {
        return refuse(loc(s), "start");
    }
    Ok(())
}
