//! A service's request handler: its wait context and its steps (`work` latencies,
//! `query` through one of the service's pools, `call` to another service with its
//! timeout and the status a failed call becomes, `cached` steps behind a cache).
//! Steps are numbered from 1 in the order they are written, a `cached` block counting
//! as one step before the steps inside it: that is also their index in the lowered,
//! flat list.

use crate::incident::raw::{RawContext, RawHandler, RawStep};
use crate::incident::IncidentError;
use crate::model::spec::{HandlerSpec, Step, WaitContext};

use super::latency::latency;
use super::resilience::{bulkhead, caller_policies};
use super::{find, loc, Ctx};

/// The names a handler's steps may refer to.
pub(super) struct StepNames<'a> {
    /// The service's pools.
    pub(super) pools: &'a [String],
    /// Every service.
    pub(super) services: &'a [String],
    /// Every cache.
    pub(super) caches: &'a [String],
}

/// Lower the handler of service `service`.
pub(super) fn lower(
    ctx: &Ctx,
    service: &str,
    raw: &RawHandler,
    names: &StepNames,
) -> Result<HandlerSpec, IncidentError> {
    let mut steps = Vec::new();
    lower_steps(ctx, service, &raw.steps.value, names, false, &mut steps)?;
    if steps.is_empty() {
        return Err(ctx.err(
            loc(&raw.steps),
            "a handler needs at least one step (`work` or `query`)".into(),
        ));
    }
    Ok(HandlerSpec {
        context: context(raw.context),
        steps,
    })
}

/// Append the lowered `raw` steps to `out`; `in_cached`: inside a `cached` block.
fn lower_steps(
    ctx: &Ctx,
    service: &str,
    raw: &[RawStep],
    names: &StepNames,
    in_cached: bool,
    out: &mut Vec<Step>,
) -> Result<(), IncidentError> {
    for step in raw {
        let lowered = match step {
            RawStep::Work(l) => Step::Work(latency(ctx, l)?),
            RawStep::Query(p) => Step::Query {
                pool: find(ctx, &format!("pool of service {service}"), names.pools, p)?,
            },
            RawStep::Call(c) => {
                let (retry, breaker) = caller_policies(ctx, c.retry.as_ref(), c.breaker.as_ref())?;
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
                lower_steps(ctx, service, &c.steps.value, names, true, out)?;
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
