//! Gateways and the nginx profile: the upstream group and nginx's defaults
//! (`proxy_connect_timeout` and `proxy_read_timeout` 60 s, `proxy_next_upstream error
//! timeout`, `proxy_next_upstream_tries` 0 (unlimited), `max_fails` 1, `fail_timeout`
//! 10 s).

use serde_saphyr::Spanned;

use crate::engine::Nanos;
use crate::incident::raw::{
    RawBalancer, RawGateway, RawGatewayProfile, RawLimitReq, RawNextUpstream,
};
use crate::incident::IncidentError;
use crate::model::spec::{
    BalancerKind, GatewaySpec, LimitConnSpec, LimitReqSpec, NextUpstream, RouteSpec,
};

use super::{envoy, find, loc, Ctx};

/// nginx `proxy_connect_timeout` / `proxy_read_timeout` default.
const NGINX_PROXY_TIMEOUT: Nanos = Nanos::from_secs(60);
/// nginx `fail_timeout` default.
const NGINX_FAIL_TIMEOUT: Nanos = Nanos::from_secs(10);

/// Lower every gateway, in file order; upstreams name services.
pub(super) fn lower(
    ctx: &Ctx,
    raw: &[RawGateway],
    service_names: &[String],
    routes: &[RouteSpec],
) -> Result<Vec<GatewaySpec>, IncidentError> {
    let mut gateways = Vec::new();
    for g in raw {
        gateways.push(gateway(ctx, g, service_names, routes)?);
    }
    Ok(gateways)
}

fn gateway(
    ctx: &Ctx,
    g: &RawGateway,
    service_names: &[String],
    routes: &[RouteSpec],
) -> Result<GatewaySpec, IncidentError> {
    let mut route_read_timeouts = Vec::new();
    for (name, r) in g.routes.iter().flatten() {
        let Some(id) = routes.iter().position(|x| x.name == *name) else {
            let known: Vec<&str> = routes.iter().map(|x| x.name.as_str()).collect();
            return Err(ctx.err(
                loc(r),
                format!(
                    "unknown route `{name}`: known routes: {}",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        };
        if let Some(t) = r.value.proxy_read_timeout {
            route_read_timeouts.push((id, Some(t.0)));
        }
    }
    let mut upstream = Vec::new();
    for u in &g.upstream.value {
        let idx = find(ctx, "service", service_names, u)?;
        if upstream.contains(&idx) {
            return Err(ctx.err(
                loc(u),
                format!("service `{}` is listed twice in this upstream", u.value),
            ));
        }
        upstream.push(idx);
    }
    if upstream.is_empty() {
        return Err(ctx.err(
            loc(&g.upstream),
            "an upstream needs at least one service".into(),
        ));
    }
    let next_upstream = next_upstream(ctx, g)?;
    let (envoy, per_try) = match g.profile.unwrap_or(RawGatewayProfile::Nginx) {
        RawGatewayProfile::Nginx => {
            envoy::refuse_envoy_fields(ctx, g)?;
            (None, None)
        }
        RawGatewayProfile::Envoy => {
            envoy::refuse_nginx_fields(ctx, g)?;
            let (spec, per_try) = envoy::lower(ctx, g)?;
            (Some(spec), per_try)
        }
    };
    Ok(GatewaySpec {
        name: g.name.value.clone(),
        upstream,
        // Without a method directive an upstream block balances round-robin.
        balancer: match g.balancer {
            None | Some(RawBalancer::RoundRobin) => BalancerKind::RoundRobin,
            Some(RawBalancer::LeastConn) => BalancerKind::LeastConn,
            Some(RawBalancer::Random) => BalancerKind::Random,
            Some(RawBalancer::RandomTwoLeastConn) => BalancerKind::RandomTwoLeastConn,
        },
        connect_timeout: match &envoy {
            Some(_) => g.connect_timeout.map_or(envoy::CONNECT_TIMEOUT, |t| t.0),
            None => g.proxy_connect_timeout.map_or(NGINX_PROXY_TIMEOUT, |t| t.0),
        },
        read_timeout: match &envoy {
            Some(_) => per_try,
            None => Some(g.proxy_read_timeout.map_or(NGINX_PROXY_TIMEOUT, |t| t.0)),
        },
        next_upstream,
        next_upstream_tries: g.proxy_next_upstream_tries.unwrap_or(0),
        max_fails: g.max_fails.unwrap_or(1),
        fail_timeout: g.fail_timeout.map_or(NGINX_FAIL_TIMEOUT, |t| t.0),
        limit_req: limit_req(ctx, g)?,
        envoy,
        route_read_timeouts,
        limit_conn: match g.limit_conn {
            None => None,
            Some(c) => Some(LimitConnSpec {
                limit: c.0,
                status: limit_status(ctx, g.limit_conn_status.as_ref())?,
            }),
        },
    })
}

/// `limit_req_status` and `limit_conn_status` default to 503
/// (`NGX_HTTP_SERVICE_UNAVAILABLE`); 429 is the usual setting; the statuses rewind
/// tracks are 429, 500, 502, 503, 504.
fn limit_status(ctx: &Ctx, s: Option<&Spanned<u16>>) -> Result<u16, IncidentError> {
    s.map_or(Ok(503), |st| {
        super::tracked_error_status(ctx, "a rejected request's status", st)
    })
}

/// `limit_req`: the rate in milli-requests per second as nginx keeps it, `burst` and
/// `delay` x 1000, `nodelay` as an infinite delay threshold.
fn limit_req(ctx: &Ctx, g: &RawGateway) -> Result<Option<LimitReqSpec>, IncidentError> {
    let Some(l) = &g.limit_req else {
        if let Some(st) = &g.limit_req_status {
            return Err(ctx.err(loc(st), "limit_req_status without limit_req".into()));
        }
        return Ok(None);
    };
    let status = limit_status(ctx, g.limit_req_status.as_ref())?;
    limit_req_spec(ctx, l, status).map(Some)
}

/// One `limit_req` block, with the status its rejections get.
pub(super) fn limit_req_spec(
    ctx: &Ctx,
    l: &Spanned<RawLimitReq>,
    status: u16,
) -> Result<LimitReqSpec, IncidentError> {
    let rate_milli = (l.value.rate.value.per_s * 1000.0).floor();
    if !(1.0..=1e12).contains(&rate_milli) {
        return Err(ctx.err(
            loc(&l.value.rate),
            "limit_req rate must be between 0.001 and a billion requests per second".into(),
        ));
    }
    if l.value.nodelay == Some(true) && l.value.delay.is_some() {
        return Err(ctx.err(
            loc(l),
            "limit_req takes `nodelay` or `delay`, not both".into(),
        ));
    }
    let delay_milli = if l.value.nodelay == Some(true) {
        u64::MAX
    } else {
        u64::from(l.value.delay.unwrap_or(0)) * 1000
    };
    Ok(LimitReqSpec {
        rate_milli: rate_milli as u64,
        burst_milli: u64::from(l.value.burst.unwrap_or(0)) * 1000,
        delay_milli,
        status,
    })
}

/// `proxy_next_upstream`: when nginx passes a request on to the next server.
fn next_upstream(ctx: &Ctx, g: &RawGateway) -> Result<NextUpstream, IncidentError> {
    Ok(match &g.proxy_next_upstream {
        None => NextUpstream::NGINX_DEFAULT,
        Some(list) => {
            if list.value.contains(&RawNextUpstream::Off) {
                if list.value.len() > 1 {
                    return Err(ctx.err(
                        loc(list),
                        "`off` cannot be combined with other proxy_next_upstream conditions".into(),
                    ));
                }
                NextUpstream::OFF
            } else {
                let has = |c| list.value.contains(&c);
                NextUpstream {
                    // nginx treats an invalid header like an error for retries.
                    error: has(RawNextUpstream::Error) || has(RawNextUpstream::InvalidHeader),
                    timeout: has(RawNextUpstream::Timeout),
                    http_500: has(RawNextUpstream::Http500),
                    http_502: has(RawNextUpstream::Http502),
                    http_503: has(RawNextUpstream::Http503),
                    http_504: has(RawNextUpstream::Http504),
                    http_429: has(RawNextUpstream::Http429),
                    non_idempotent: has(RawNextUpstream::NonIdempotent),
                }
            }
        }
    })
}
