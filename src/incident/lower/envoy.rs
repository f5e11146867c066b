//! An Envoy gateway (`profile: envoy`): the route's `timeout` (15 s, over every try),
//! its `retry_policy` (`retry_on`, `num_retries` 1, `per_try_timeout`, back-off 25 ms /
//! 10x), the cluster's `connect_timeout` (5 s), `lb_policy` (round robin),
//! `circuit_breakers` (1024 connections, pending and requests, `max_retries` 3, or a
//! retry budget of 20% / 3) and `outlier_detection` (5 consecutive 5xx, 10 s interval,
//! 30 s base ejection, 300 s max, 10%). Sources: `route_components.proto`
//! (`RouteAction.timeout`, `RetryPolicy`), `cluster.proto` (`connect_timeout`,
//! `lb_policy`), `circuit_breaker.proto`, `outlier_detection.proto`, router_filter.rst
//! (`x-envoy-retry-on` conditions).

use serde_saphyr::Spanned;

use crate::engine::Nanos;
use crate::incident::raw::{RawCircuitBreakers, RawEnvoyLb, RawEnvoyRetry, RawGateway};
use crate::incident::IncidentError;
use crate::model::retry::{Backoff, Jitter, RetryBudget, RetryOn, RetryPolicy, RetryProfile};
use crate::model::spec::{EnvoyLbPolicy, EnvoyLimits, EnvoySpec, OutlierDetection};

use super::{loc, Ctx};

/// Route `timeout` default.
const ROUTE_TIMEOUT: Nanos = Nanos::from_secs(15);
/// Cluster `connect_timeout` default.
pub(super) const CONNECT_TIMEOUT: Nanos = Nanos::from_secs(5);
/// Circuit-breaker thresholds default (`max_connections`, `max_pending_requests`,
/// `max_requests`).
const THRESHOLD: u32 = 1024;

/// nginx directives an Envoy gateway does not have.
pub(super) fn refuse_nginx_fields(ctx: &Ctx, g: &RawGateway) -> Result<(), IncidentError> {
    let nginx = [
        ("balancer", g.balancer.is_some()),
        ("proxy_connect_timeout", g.proxy_connect_timeout.is_some()),
        ("proxy_read_timeout", g.proxy_read_timeout.is_some()),
        ("proxy_next_upstream", g.proxy_next_upstream.is_some()),
        (
            "proxy_next_upstream_tries",
            g.proxy_next_upstream_tries.is_some(),
        ),
        ("max_fails", g.max_fails.is_some()),
        ("fail_timeout", g.fail_timeout.is_some()),
        ("limit_req", g.limit_req.is_some()),
        ("limit_conn", g.limit_conn.is_some()),
        ("routes", g.routes.is_some()),
    ];
    if let Some((name, _)) = nginx.iter().find(|(_, set)| *set) {
        return Err(ctx.err(
            loc(&g.name),
            format!("`{name}` is an nginx setting; gateway `{}` is an Envoy (profile: envoy): use retry_policy, lb_policy, circuit_breakers, outlier_detection", g.name.value),
        ));
    }
    Ok(())
}

/// Envoy settings on an nginx gateway.
pub(super) fn refuse_envoy_fields(ctx: &Ctx, g: &RawGateway) -> Result<(), IncidentError> {
    let envoy = [
        ("timeout", g.timeout.is_some()),
        ("connect_timeout", g.connect_timeout.is_some()),
        ("retry_policy", g.retry_policy.is_some()),
        ("lb_policy", g.lb_policy.is_some()),
        ("circuit_breakers", g.circuit_breakers.is_some()),
        ("outlier_detection", g.outlier_detection.is_some()),
    ];
    if let Some((name, _)) = envoy.iter().find(|(_, set)| *set) {
        return Err(ctx.err(
            loc(&g.name),
            format!("`{name}` is an Envoy setting; gateway `{}` is nginx (write `profile: envoy` for an Envoy)", g.name.value),
        ));
    }
    Ok(())
}

/// The Envoy route and cluster of gateway `g`, and its per-try timeout.
pub(super) fn lower(
    ctx: &Ctx,
    g: &RawGateway,
) -> Result<(EnvoySpec, Option<Nanos>), IncidentError> {
    let route_timeout = match &g.timeout {
        None => Some(ROUTE_TIMEOUT),
        // 0 disables the route timeout.
        Some(t) if t.value.0 == Nanos::ZERO => None,
        Some(t) => Some(t.value.0),
    };
    let (mut retry, per_try) = retry_policy(ctx, g.retry_policy.as_ref())?;
    let limits = circuit_breakers(g.circuit_breakers.as_ref());
    retry.budget = Some(limits.retry_budget);
    let outlier_detection = g.outlier_detection.as_ref().map(|o| OutlierDetection {
        consecutive_5xx: o.consecutive_5xx.map_or(5, |c| c.0),
        interval: o.interval.map_or(Nanos::from_secs(10), |d| d.0),
        base_ejection_time: o.base_ejection_time.map_or(Nanos::from_secs(30), |d| d.0),
        max_ejection_time: o.max_ejection_time.map_or(Nanos::from_secs(300), |d| d.0),
        max_ejection_percent: o.max_ejection_percent.unwrap_or(10).min(100),
    });
    Ok((
        EnvoySpec {
            route_timeout,
            retry,
            lb_policy: lb_policy(g.lb_policy),
            max_connections: limits.max_connections,
            max_pending_requests: limits.max_pending_requests,
            max_requests: limits.max_requests,
            outlier_detection,
        },
        per_try,
    ))
}

/// `lb_policy` (Envoy's default `ROUND_ROBIN`), of a gateway's cluster or of a caller
/// balancing itself.
pub(super) fn lb_policy(raw: Option<RawEnvoyLb>) -> EnvoyLbPolicy {
    match raw {
        None | Some(RawEnvoyLb::RoundRobin) => EnvoyLbPolicy::RoundRobin,
        Some(RawEnvoyLb::LeastRequest) => EnvoyLbPolicy::LeastRequest,
        Some(RawEnvoyLb::Random) => EnvoyLbPolicy::Random,
    }
}

/// A route's `retry_policy` (none: no retries) and its per-try timeout; the retry
/// budget is the cluster's ([`circuit_breakers`]).
pub(super) fn retry_policy(
    ctx: &Ctx,
    raw: Option<&Spanned<RawEnvoyRetry>>,
) -> Result<(RetryPolicy, Option<Nanos>), IncidentError> {
    let mut retry = RetryPolicy::profile(RetryProfile::None);
    let Some(rp) = raw else {
        return Ok((retry, None));
    };
    let p = &rp.value;
    retry.attempts = 1 + p.num_retries.unwrap_or(1).min(100);
    retry.retry_on = retry_on(ctx, &p.retry_on, p.retriable_status_codes.as_ref())?;
    // Envoy retries whatever the method.
    retry.non_idempotent = true;
    let base = p
        .retry_back_off
        .as_ref()
        .map_or(Nanos::from_millis(25), |b| b.base_interval.0);
    let max = p
        .retry_back_off
        .as_ref()
        .and_then(|b| b.max_interval)
        .map_or(base.saturating_mul(10), |m| m.0);
    if max < base {
        return Err(ctx.err(
            loc(rp),
            format!("retry_back_off: max_interval {max} is shorter than base_interval {base}"),
        ));
    }
    retry.backoff = Backoff {
        base,
        max,
        multiplier: 2.0,
        jitter: Jitter::Full,
    };
    Ok((retry, p.per_try_timeout.map(|t| t.0)))
}

/// A cluster's `circuit_breakers` thresholds, Envoy's defaults where not given.
pub(super) fn circuit_breakers(cb: Option<&RawCircuitBreakers>) -> EnvoyLimits {
    EnvoyLimits {
        max_connections: cb
            .and_then(|c| c.max_connections)
            .map_or(THRESHOLD, |c| c.0),
        max_pending_requests: cb
            .and_then(|c| c.max_pending_requests)
            .map_or(THRESHOLD, |c| c.0),
        max_requests: cb.and_then(|c| c.max_requests).map_or(THRESHOLD, |c| c.0),
        // With a retry budget the budget decides; without, `max_retries` (3) concurrent
        // retries: a budget of 0% with that floor.
        retry_budget: match cb.and_then(|c| c.retry_budget.as_ref()) {
            Some(b) => RetryBudget {
                percent: b.budget_percent.map_or(20.0, |p| p.0.min(100.0)),
                min_concurrency: b.min_retry_concurrency.unwrap_or(3),
            },
            None => RetryBudget {
                percent: 0.0,
                min_concurrency: cb.and_then(|c| c.max_retries).unwrap_or(3),
            },
        },
    }
}

/// `retry_on`: Envoy's comma-separated conditions.
fn retry_on(
    ctx: &Ctx,
    text: &Spanned<String>,
    codes: Option<&Spanned<Vec<u16>>>,
) -> Result<RetryOn, IncidentError> {
    let mut on = RetryOn::default();
    let add_range = |on: &mut RetryOn, lo: u16, hi: u16| {
        for s in lo..=hi {
            on.statuses.insert(s);
        }
    };
    for cond in text
        .value
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        match cond {
            // Any 5xx, and no response at all (reset, connect failure, per-try timeout).
            "5xx" => {
                add_range(&mut on, 500, 599);
                on.reset = true;
                on.connect_failure = true;
                on.timeout = true;
            }
            // 502, 503, 504, and no response at all.
            "gateway-error" => {
                add_range(&mut on, 502, 504);
                on.reset = true;
                on.connect_failure = true;
                on.timeout = true;
            }
            "reset" => on.reset = true,
            "connect-failure" => on.connect_failure = true,
            "retriable-status-codes" => {
                let Some(list) = codes else {
                    return Err(ctx.err(
                        loc(text),
                        "retry_on retriable-status-codes needs retriable_status_codes: [...]".into(),
                    ));
                };
                for &c in &list.value {
                    if !on.statuses.insert(c) {
                        return Err(ctx.err(
                            loc(list),
                            format!("retriable_status_codes: {c} is not an error status (400 to 599)"),
                        ));
                    }
                }
            }
            other => {
                return Err(ctx.err(
                    loc(text),
                    format!("retry_on: `{other}` is not a condition rewind knows: use 5xx, gateway-error, reset, connect-failure, retriable-status-codes (comma-separated)"),
                ))
            }
        }
    }
    Ok(on)
}
