//! `retry:` and `breaker:` blocks (on clients, on `call` steps, in timeline changes):
//! a profile's defaults (see `model::retry` and `model::breaker` for where each comes
//! from), then the fields the file overrides, each checked and bounded.

use serde_saphyr::Spanned;

use crate::engine::Nanos;
use crate::incident::raw::*;
use crate::incident::IncidentError;
use crate::model::breaker::{BreakerSpec, Hystrix, Resilience4j, WindowType};
use crate::model::retry::{
    Backoff, Jitter, RetryBudget, RetryOn, RetryPolicy, RetryProfile, RetryQuota, RetryThrottling,
    StatusSet,
};

use super::{loc, Ctx};

/// Where an error inside a block points: at the field, or at the block when the field
/// has no place of its own (a block set by a variant's override, parsed from its value).
fn within(inner: serde_saphyr::Location, block: serde_saphyr::Location) -> serde_saphyr::Location {
    if inner.line() == 0 {
        block
    } else {
        inner
    }
}

/// Most attempts a retrier may make (a bound on what a file can ask for).
const MAX_ATTEMPTS: u32 = 100;
/// Longest back-off cap.
const MAX_BACKOFF: Nanos = Nanos::from_secs(24 * 3600);
/// Most buckets or calls a breaker window may hold (memory per breaker instance).
const MAX_WINDOW: u32 = 10_000;

/// The retry policy and breaker of a caller (a client or a `call` step): its blocks
/// lowered, no retries and no breaker where it has none.
pub(super) fn caller_policies(
    ctx: &Ctx,
    retry_block: Option<&Spanned<RawRetry>>,
    breaker_block: Option<&Spanned<RawBreaker>>,
) -> Result<(RetryPolicy, Option<BreakerSpec>), IncidentError> {
    let policy = match retry_block {
        Some(r) => retry(ctx, r)?,
        None => RetryPolicy::profile(RetryProfile::None),
    };
    let spec = match breaker_block {
        Some(b) => breaker(ctx, b)?,
        None => None,
    };
    Ok((policy, spec))
}

/// Lower a `retry:` block.
pub(super) fn retry(ctx: &Ctx, raw: &Spanned<RawRetry>) -> Result<RetryPolicy, IncidentError> {
    let r = &raw.value;
    let profile = match r.profile {
        None | Some(RawRetryProfile::None) => RetryProfile::None,
        Some(RawRetryProfile::AwsStandard) => RetryProfile::AwsStandard,
        Some(RawRetryProfile::Grpc) => RetryProfile::Grpc,
        Some(RawRetryProfile::Envoy) => RetryProfile::Envoy,
    };
    let mut p = RetryPolicy::profile(profile);
    if let Some(a) = &r.attempts {
        if a.value.0 > MAX_ATTEMPTS {
            return Err(ctx.err(
                within(loc(a), loc(raw)),
                format!(
                    "attempts: {} is more than {MAX_ATTEMPTS}; a retrier that tries that often is a loop",
                    a.value.0
                ),
            ));
        }
        p.attempts = a.value.0;
    }
    if let Some(on) = &r.retry_on {
        p.retry_on = retry_on(ctx, raw, on)?;
    }
    if let Some(n) = r.non_idempotent {
        p.non_idempotent = n;
    }
    if let Some(b) = &r.backoff {
        backoff(ctx, raw, b, &mut p.backoff)?;
    }
    match &r.quota {
        None => {}
        Some(RawOrNone::None(_)) => p.quota = None,
        Some(RawOrNone::Set(q)) => {
            let d = p.quota.unwrap_or(RetryQuota {
                size: 500,
                cost: 5,
                timeout_cost: 10,
                refund: 1,
            });
            p.quota = Some(RetryQuota {
                size: q.size.map_or(d.size, |c| c.0),
                cost: q.cost.unwrap_or(d.cost),
                timeout_cost: q.timeout_cost.unwrap_or(d.timeout_cost),
                refund: q.refund.unwrap_or(d.refund),
            });
        }
    }
    match &r.throttling {
        None => {}
        Some(RawOrNone::None(_)) => p.throttling = None,
        Some(RawOrNone::Set(t)) => {
            if t.max_tokens.0 > 1000.0 {
                return Err(ctx.err(
                    loc(raw),
                    format!(
                        "throttling: max_tokens {} is more than gRPC allows (1000)",
                        t.max_tokens.0
                    ),
                ));
            }
            p.throttling = Some(RetryThrottling {
                max_tokens: t.max_tokens.0,
                token_ratio: t.token_ratio.0,
            });
        }
    }
    // Without a profile nothing is retried unless `retry_on` says what: more attempts
    // with nothing to retry is a block that does not do what it says.
    if p.attempts > 1 && p.retry_on == RetryOn::default() {
        let at = r
            .attempts
            .as_ref()
            .map_or(loc(raw), |a| within(loc(a), loc(raw)));
        return Err(ctx.err(
            at,
            format!(
                "attempts: {} with nothing to retry: add retry_on (5xx, gateway-error, timeout, connect-failure, reset, or statuses) or a profile",
                p.attempts
            ),
        ));
    }
    match &r.budget {
        None => {}
        Some(RawOrNone::None(_)) => p.budget = None,
        Some(RawOrNone::Set(b)) => {
            let percent = b.budget_percent.map_or(20.0, |v| v.0);
            if percent > 100.0 {
                return Err(ctx.err(
                    loc(raw),
                    format!("budget: budget_percent {percent} is more than 100"),
                ));
            }
            p.budget = Some(RetryBudget {
                percent,
                min_concurrency: b.min_retry_concurrency.unwrap_or(3),
            });
        }
    }
    Ok(p)
}

/// `retry_on`: the classes and statuses retried.
fn retry_on(
    ctx: &Ctx,
    raw: &Spanned<RawRetry>,
    on: &Spanned<Vec<Spanned<RawRetryOn>>>,
) -> Result<RetryOn, IncidentError> {
    let mut rule = RetryOn::default();
    for item in &on.value {
        match item.value {
            RawRetryOn::Class(RawRetryClass::FiveXx) => {
                rule.statuses = union(rule.statuses, StatusSet::range(500..=599))
            }
            RawRetryOn::Class(RawRetryClass::GatewayError) => {
                rule.statuses = union(rule.statuses, StatusSet::range(502..=504))
            }
            RawRetryOn::Class(RawRetryClass::Timeout) => rule.timeout = true,
            RawRetryOn::Class(RawRetryClass::ConnectFailure) => rule.connect_failure = true,
            RawRetryOn::Class(RawRetryClass::Reset) => rule.reset = true,
            RawRetryOn::Status(code) => {
                if !rule.statuses.insert(code) {
                    return Err(ctx.err(
                        within(loc(item), loc(raw)),
                        format!("retry_on: {code} is not an error status (write one from 400 to 599, or 5xx, gateway-error, timeout, connect-failure, reset)"),
                    ));
                }
            }
        }
    }
    Ok(rule)
}

/// `backoff`: the fields given over the profile's `backoff`, its cap no shorter than
/// its base and no longer than a day.
fn backoff(
    ctx: &Ctx,
    raw: &Spanned<RawRetry>,
    b: &RawRetryBackoff,
    backoff: &mut Backoff,
) -> Result<(), IncidentError> {
    if let Some(base) = b.base {
        backoff.base = base.0;
    }
    if let Some(max) = b.max {
        backoff.max = max.0;
    }
    if let Some(m) = b.multiplier {
        backoff.multiplier = m.0;
    }
    if let Some(j) = b.jitter {
        backoff.jitter = match j {
            RawJitter::None => Jitter::None,
            RawJitter::Full => Jitter::Full,
            RawJitter::Equal => Jitter::Equal,
            RawJitter::Decorrelated => Jitter::Decorrelated,
            RawJitter::Grpc => Jitter::Grpc,
        };
    }
    // A back-off without a cap of its own is capped at its base when only the
    // base was given (constant back-off), never below it.
    if b.max.is_none() && b.base.is_some() && backoff.max < backoff.base {
        backoff.max = backoff.base;
    }
    if backoff.max < backoff.base {
        return Err(ctx.err(
            loc(raw),
            format!(
                "backoff: max {} is shorter than base {}",
                backoff.max, backoff.base
            ),
        ));
    }
    if backoff.max > MAX_BACKOFF {
        return Err(ctx.err(
            loc(raw),
            format!("backoff: max {} is longer than a day", backoff.max),
        ));
    }
    Ok(())
}

fn union(a: StatusSet, b: StatusSet) -> StatusSet {
    let mut out = a;
    for s in StatusSet::LOWEST..=StatusSet::HIGHEST {
        if b.contains(s) {
            out.insert(s);
        }
    }
    out
}

/// Lower a `bulkhead:` block: resilience4j's `maxConcurrentCalls`, 25 by default
/// (`BulkheadConfig.DEFAULT_MAX_CONCURRENT_CALLS`).
pub(super) fn bulkhead(raw: Option<&RawBulkhead>) -> Option<u32> {
    raw.map(|b| b.max_concurrent_calls.map_or(25, |c| c.0))
}

/// Lower a `breaker:` block; `profile: none` gives None.
pub(super) fn breaker(
    ctx: &Ctx,
    raw: &Spanned<RawBreaker>,
) -> Result<Option<BreakerSpec>, IncidentError> {
    let b = &raw.value;
    let r4j_fields: [(&str, bool); 8] = [
        ("sliding_window_type", b.sliding_window_type.is_some()),
        ("sliding_window_size", b.sliding_window_size.is_some()),
        (
            "minimum_number_of_calls",
            b.minimum_number_of_calls.is_some(),
        ),
        ("failure_rate_threshold", b.failure_rate_threshold.is_some()),
        (
            "slow_call_rate_threshold",
            b.slow_call_rate_threshold.is_some(),
        ),
        (
            "slow_call_duration_threshold",
            b.slow_call_duration_threshold.is_some(),
        ),
        (
            "wait_duration_in_open_state",
            b.wait_duration_in_open_state.is_some(),
        ),
        (
            "permitted_number_of_calls_in_half_open_state",
            b.permitted_number_of_calls_in_half_open_state.is_some(),
        ),
    ];
    let hystrix_fields: [(&str, bool); 6] = [
        (
            "request_volume_threshold",
            b.request_volume_threshold.is_some(),
        ),
        (
            "error_threshold_percentage",
            b.error_threshold_percentage.is_some(),
        ),
        ("sleep_window", b.sleep_window.is_some()),
        ("rolling_window", b.rolling_window.is_some()),
        (
            "health_snapshot_interval",
            b.health_snapshot_interval.is_some(),
        ),
        ("execution_timeout", b.execution_timeout.is_some()),
    ];
    let foreign = |fields: &[(&str, bool)], owner: &str| -> Result<(), IncidentError> {
        match fields.iter().find(|(_, set)| *set) {
            Some((name, _)) => Err(ctx.err(
                within(loc(&b.profile), loc(raw)),
                format!("`{name}` is a {owner} setting; this breaker's profile is not {owner}"),
            )),
            None => Ok(()),
        }
    };
    match b.profile.value {
        RawBreakerProfile::None => {
            foreign(&r4j_fields, "resilience4j")?;
            foreign(&hystrix_fields, "hystrix")?;
            Ok(None)
        }
        RawBreakerProfile::Resilience4j => {
            foreign(&hystrix_fields, "hystrix")?;
            resilience4j(ctx, raw).map(|c| Some(BreakerSpec::Resilience4j(c)))
        }
        RawBreakerProfile::Hystrix => {
            foreign(&r4j_fields, "resilience4j")?;
            hystrix(ctx, raw).map(|h| Some(BreakerSpec::Hystrix(h)))
        }
    }
}

/// A resilience4j breaker: its defaults, then the fields given.
fn resilience4j(ctx: &Ctx, raw: &Spanned<RawBreaker>) -> Result<Resilience4j, IncidentError> {
    let b = &raw.value;
    let mut c = Resilience4j::default();
    if let Some(t) = &b.sliding_window_type {
        c.sliding_window_type = match t.value {
            RawWindowType::CountBased => WindowType::CountBased,
            RawWindowType::TimeBased => WindowType::TimeBased,
        };
    }
    if let Some(n) = &b.sliding_window_size {
        c.sliding_window_size = bounded(ctx, loc(raw), n, "sliding_window_size")?;
    }
    if let Some(n) = &b.minimum_number_of_calls {
        c.minimum_number_of_calls = n.value.0;
    }
    if let Some(v) = &b.failure_rate_threshold {
        c.failure_rate_threshold = percent(ctx, loc(raw), v, "failure_rate_threshold")?;
    }
    if let Some(v) = &b.slow_call_rate_threshold {
        c.slow_call_rate_threshold = percent(ctx, loc(raw), v, "slow_call_rate_threshold")?;
    }
    if let Some(d) = &b.slow_call_duration_threshold {
        c.slow_call_duration_threshold = d.value.0;
    }
    if let Some(d) = &b.wait_duration_in_open_state {
        c.wait_duration_in_open_state = d.value.0;
    }
    if let Some(n) = &b.permitted_number_of_calls_in_half_open_state {
        c.permitted_number_of_calls_in_half_open_state = bounded(
            ctx,
            loc(raw),
            n,
            "permitted_number_of_calls_in_half_open_state",
        )?;
    }
    Ok(c)
}

/// A Hystrix breaker: its defaults, then the fields given; its rolling window a whole
/// number of health snapshots.
fn hystrix(ctx: &Ctx, raw: &Spanned<RawBreaker>) -> Result<Hystrix, IncidentError> {
    let b = &raw.value;
    let mut h = Hystrix::default();
    if let Some(n) = &b.request_volume_threshold {
        h.request_volume_threshold = n.value.0;
    }
    if let Some(v) = &b.error_threshold_percentage {
        h.error_threshold_percentage =
            percent(ctx, loc(raw), v, "error_threshold_percentage")? as u32;
    }
    if let Some(d) = &b.sleep_window {
        h.sleep_window = d.value.0;
    }
    if let Some(d) = &b.rolling_window {
        h.rolling_window = d.value.0;
    }
    if let Some(d) = &b.health_snapshot_interval {
        h.health_snapshot_interval = d.value.0;
    }
    if let Some(d) = &b.execution_timeout {
        h.execution_timeout = d.value.0;
    }
    let buckets = h.rolling_window.0 / h.health_snapshot_interval.0.max(1);
    if h.rolling_window.0 % h.health_snapshot_interval.0.max(1) != 0
        || buckets == 0
        || buckets > u64::from(MAX_WINDOW)
    {
        let at = b
            .rolling_window
            .as_ref()
            .map_or(loc(raw), |r| within(loc(r), loc(raw)));
        return Err(ctx.err(
            at,
            format!(
                "rolling_window {} must be a whole number (1 to {MAX_WINDOW}) of health_snapshot_interval {}",
                h.rolling_window, h.health_snapshot_interval
            ),
        ));
    }
    Ok(h)
}

fn bounded(
    ctx: &Ctx,
    block: serde_saphyr::Location,
    n: &Spanned<crate::incident::units::Count>,
    what: &str,
) -> Result<u32, IncidentError> {
    if n.value.0 > MAX_WINDOW {
        return Err(ctx.err(
            within(loc(n), block),
            format!("{what}: {} is more than {MAX_WINDOW}", n.value.0),
        ));
    }
    Ok(n.value.0)
}

fn percent(
    ctx: &Ctx,
    block: serde_saphyr::Location,
    v: &Spanned<f64>,
    what: &str,
) -> Result<f64, IncidentError> {
    if !(v.value > 0.0 && v.value <= 100.0) {
        return Err(ctx.err(
            within(loc(v), block),
            format!(
                "{what}: {} is not a percentage above 0 and at most 100",
                v.value
            ),
        ));
    }
    Ok(v.value)
}
