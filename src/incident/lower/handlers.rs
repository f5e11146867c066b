//! A service's request handler: its wait context and its steps (`work` latencies,
//! `query` through one of the service's pools, `call` to another service with its
//! timeout and the status a failed call becomes).

use crate::incident::raw::{RawContext, RawHandler, RawStep};
use crate::incident::IncidentError;
use crate::model::spec::{HandlerSpec, Step, WaitContext};

use super::latency::latency;
use super::resilience::{bulkhead, caller_policies};
use super::{find, loc, Ctx};

/// Lower the handler of service `service`, whose pools are `pool_names`.
pub(super) fn lower(
    ctx: &Ctx,
    service: &str,
    raw: &RawHandler,
    pool_names: &[String],
    service_names: &[String],
) -> Result<HandlerSpec, IncidentError> {
    let mut steps = Vec::new();
    for step in &raw.steps.value {
        steps.push(match step {
            RawStep::Work(l) => Step::Work(latency(ctx, l)?),
            RawStep::Query(p) => Step::Query {
                pool: find(ctx, &format!("pool of service {service}"), pool_names, p)?,
            },
            RawStep::Call(c) => {
                let (retry, breaker) =
                    caller_policies(ctx, c.retry.as_ref(), c.breaker.as_ref())?;
                Step::Call {
                service: find(ctx, "service", service_names, &c.service)?,
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
        });
    }
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

/// The context a handler's waits run under: the request's unless it says otherwise.
pub(super) fn context(c: Option<RawContext>) -> WaitContext {
    match c {
        Some(RawContext::Background) => WaitContext::Background,
        Some(RawContext::Request) | None => WaitContext::Request,
    }
}
