//! Clients: what they send to (a gateway, else a service, by name), their rate and
//! arrival process, their own timeout, and whether their method is idempotent (which
//! decides whether nginx may retry it).

use crate::incident::raw::{RawArrivals, RawClient, RawMethod};
use crate::incident::IncidentError;
use crate::model::spec::{Arrivals, ClientSpec, Method, Target};

use super::resilience::{bulkhead, caller_policies};
use super::{loc, Ctx};

/// Lower every client, in file order.
pub(super) fn lower(
    ctx: &Ctx,
    raw: &[RawClient],
    gateway_names: &[String],
    service_names: &[String],
) -> Result<Vec<ClientSpec>, IncidentError> {
    let mut clients = Vec::new();
    for c in raw {
        clients.push(client(ctx, c, gateway_names, service_names)?);
    }
    Ok(clients)
}

fn client(
    ctx: &Ctx,
    c: &RawClient,
    gateway_names: &[String],
    service_names: &[String],
) -> Result<ClientSpec, IncidentError> {
    let target = if let Some(i) = gateway_names.iter().position(|n| *n == c.to.value) {
        Target::Gateway(i)
    } else if let Some(i) = service_names.iter().position(|n| *n == c.to.value) {
        Target::Service(i)
    } else {
        let mut known: Vec<String> = gateway_names.to_vec();
        known.extend(service_names.iter().cloned());
        return Err(ctx.err(
            loc(&c.to),
            format!(
                "unknown gateway or service `{}`: known: {}",
                c.to.value,
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            ),
        ));
    };
    if c.rate.value.per_s <= 0.0 {
        return Err(ctx.err(
            loc(&c.rate),
            "a client's rate must be more than zero (a timeline `set_rate` can stop it later)"
                .into(),
        ));
    }
    let (retry, breaker) = caller_policies(ctx, c.retry.as_ref(), c.breaker.as_ref())?;
    Ok(ClientSpec {
        name: c.name.value.clone(),
        target,
        rate_per_s: c.rate.value.per_s,
        arrivals: match c.arrivals {
            Some(RawArrivals::Constant) => Arrivals::Constant,
            Some(RawArrivals::Poisson) | None => Arrivals::Poisson,
        },
        timeout: c.timeout.map(|t| t.0),
        method: match c.method {
            Some(RawMethod::Post | RawMethod::Patch | RawMethod::Lock) => Method::NonIdempotent,
            _ => Method::Idempotent,
        },
        retry,
        breaker,
        bulkhead: bulkhead(c.bulkhead.as_ref()),
    })
}
