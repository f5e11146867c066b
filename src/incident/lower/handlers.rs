//! A service's request handlers: one unnamed handler, or one per route (`routes:`),
//! each with its wait context and steps (`work` latencies, `query` through one of the
//! service's pools, the database's or a statement of its own time, `call` to another
//! service with its timeout, route and the status a failed call becomes, `cached`
//! steps behind a cache) and a route's own limits. Every
//! route's steps go into one list, one route after another, so that a step has a single
//! index; a `cached` block counts as one step before the steps inside it.

use serde_saphyr::Spanned;

use crate::incident::raw::{RawContext, RawQueryStep, RawService, RawStep};
use crate::incident::IncidentError;
use crate::model::spec::{HandlerSpec, RouteSpec, ServiceRoute, Step, WaitContext};

use super::latency::{latency, statement};
use super::resilience::{bulkhead, caller_policies};
use super::{find, loc, Ctx};

/// Most writes one `body` step may make: each is an event of the replay.
pub const MAX_BODY_CHUNKS: u32 = 100_000;

/// Names a handler's steps may refer to.
pub(super) struct Names<'a> {
    /// The service's pools.
    pub(super) pools: &'a [String],
    /// Every service.
    pub(super) services: &'a [String],
    /// Every route.
    pub(super) routes: &'a [RouteSpec],
    /// Every cache.
    pub(super) caches: &'a [String],
}

/// Lower the handler (or the routes) of service `s`.
pub(super) fn lower(
    ctx: &Ctx,
    s: &RawService,
    names: &Names,
) -> Result<HandlerSpec, IncidentError> {
    let service = &s.name.value;
    let mut steps = Vec::new();
    let mut routes = Vec::new();
    match (&s.handler, &s.routes) {
        (Some(h), None) => {
            lower_steps(ctx, service, &h.steps, names, &mut steps)?;
            routes.push(ServiceRoute::whole(steps.len(), context(h.context)));
        }
        (None, Some(rs)) => {
            if rs.value.is_empty() {
                return Err(ctx.err(loc(rs), "`routes:` needs at least one route".into()));
            }
            for r in &rs.value {
                let first = steps.len();
                lower_steps(ctx, service, &r.steps, names, &mut steps)?;
                let id = names
                    .routes
                    .iter()
                    .position(|x| x.name == r.name.value)
                    .ok_or_else(|| ctx.err(loc(&r.name), "route not in the route table".into()))?;
                if let Some(w) = &r.reserved_workers {
                    if s.workers.and_then(|w| w.0).is_none() {
                        return Err(ctx.err(
                            loc(w),
                            format!("reserved_workers needs a thread pool: give service `{service}` a number of `workers`"),
                        ));
                    }
                }
                routes.push(ServiceRoute {
                    route: Some(id),
                    first_step: first,
                    end_step: steps.len(),
                    context: context(r.context),
                    reserved_workers: r.reserved_workers.as_ref().map_or(0, |w| w.value.0),
                    concurrency_limit: r.concurrency_limit.map(|c| c.0),
                });
            }
            let workers = s.workers.and_then(|w| w.0).unwrap_or(u32::MAX);
            let reserved: u64 = routes.iter().map(|r| u64::from(r.reserved_workers)).sum();
            if reserved >= u64::from(workers) {
                let at = rs
                    .value
                    .iter()
                    .rev()
                    .find_map(|r| r.reserved_workers.as_ref())
                    .map_or(loc(rs), loc);
                return Err(ctx.err(
                    at,
                    format!("the routes of `{service}` reserve {reserved} of its {workers} workers: leave at least one unreserved"),
                ));
            }
        }
        (Some(_), Some(rs)) => {
            return Err(ctx.err(
                loc(rs),
                format!("service `{service}` has both `handler:` and `routes:`: give one (each route has its own steps)"),
            ))
        }
        (None, None) => {
            return Err(ctx.err(
                loc(&s.name),
                format!("service `{service}` needs a `handler:` (or `routes:`, one handler per route)"),
            ))
        }
    }
    Ok(HandlerSpec { steps, routes })
}

/// Lower one list of steps onto the end of `steps`.
pub(super) fn lower_steps(
    ctx: &Ctx,
    service: &str,
    raw: &serde_saphyr::Spanned<Vec<RawStep>>,
    names: &Names,
    steps: &mut Vec<Step>,
) -> Result<(), IncidentError> {
    if raw.value.is_empty() {
        return Err(ctx.err(
            loc(raw),
            "a handler needs at least one step (`work` or `query`)".into(),
        ));
    }
    push_steps(ctx, service, &raw.value, names, false, steps)
}

/// Append the lowered `raw` steps to `out`; `in_cached`: inside a `cached` block. A
/// `cached` step's `end` is an index into `out`, the one list every route shares.
fn push_steps(
    ctx: &Ctx,
    service: &str,
    raw: &[RawStep],
    names: &Names,
    in_cached: bool,
    out: &mut Vec<Step>,
) -> Result<(), IncidentError> {
    for step in raw {
        let lowered = match step {
            RawStep::Work(l) => Step::Work(latency(ctx, l)?),
            RawStep::Body(b) => {
                let chunks = b.value.chunks.value.0;
                if chunks > MAX_BODY_CHUNKS {
                    return Err(ctx.err(
                        loc(&b.value.chunks),
                        format!("a body of {chunks} writes is more than this replay follows ({MAX_BODY_CHUNKS}): each write is an event; write fewer, longer ones"),
                    ));
                }
                Step::Body {
                    chunks,
                    every: latency(ctx, &b.value.every)?,
                }
            }
            RawStep::Leak(l) => super::fds::leak(ctx, l)?,
            RawStep::Query(q) => {
                let (pool, own) = match &q.value {
                    // The short form's name is where the whole value is.
                    RawQueryStep::Pool(name) => {
                        (Spanned::new(name.clone(), q.referenced, q.defined), None)
                    }
                    RawQueryStep::Statement(s) => (s.pool.clone(), s.latency.as_ref()),
                };
                Step::Query {
                    pool: find(
                        ctx,
                        &format!("pool of service {service}"),
                        names.pools,
                        &pool,
                    )?,
                    statement: statement(ctx, own)?,
                }
            }
            RawStep::Call(c) => {
                let (retry, breaker) = caller_policies(ctx, c.retry.as_ref(), c.breaker.as_ref())?;
                let route_names: Vec<String> =
                    names.routes.iter().map(|r| r.name.clone()).collect();
                Step::Call {
                    service: find(ctx, "service", names.services, &c.service)?,
                    timeout: c.timeout.map(|t| t.0),
                    error_status: match &c.error_status {
                        None => 500,
                        Some(st) if [500, 502, 503, 504].contains(&st.value) => st.value,
                        Some(st) => {
                            return Err(ctx.err(loc(st), format!("error_status {} is not one a failed call turns into: use 500, 502, 503 or 504", st.value)))
                        }
                    },
                    retry,
                    breaker,
                    bulkhead: bulkhead(c.bulkhead.as_ref()),
                    lb_policy: super::envoy::lb_policy(c.lb_policy),
                    route: c
                        .route
                        .as_ref()
                        .map(|r| find(ctx, "route", &route_names, r))
                        .transpose()?,
                }
            }
            RawStep::Cached(c) => {
                if in_cached {
                    return Err(ctx.err(
                        loc(&c.cache),
                        "a `cached` block cannot hold another: give the inner cache's steps their own block after this one".into(),
                    ));
                }
                let cache = find(ctx, "cache", names.caches, &c.cache)?;
                let at = out.len();
                out.push(Step::Cached { cache, end: at + 1 });
                push_steps(ctx, service, &c.steps.value, names, true, out)?;
                if out.len() == at + 1 {
                    return Err(ctx.err(
                        loc(&c.steps),
                        "a `cached` block needs at least one step: the work a hit saves (a `query`, a `call` or `work`)".into(),
                    ));
                }
                out[at] = Step::Cached {
                    cache,
                    end: out.len(),
                };
                continue;
            }
        };
        out.push(lowered);
    }
    Ok(())
}

/// The context a handler's waits run under: the request's unless it says otherwise.
pub(super) fn context(c: Option<RawContext>) -> WaitContext {
    match c {
        Some(RawContext::Background) => WaitContext::Background,
        Some(RawContext::Request) | None => WaitContext::Request,
    }
}
