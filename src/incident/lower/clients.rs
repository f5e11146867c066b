//! Clients: what they send to (a gateway, else a service, by name), their rate and
//! arrival process, their own timeout, and whether their method is idempotent (which
//! decides whether nginx may retry it).

use crate::incident::raw::{RawArrivals, RawClient};
use crate::incident::IncidentError;
use crate::model::spec::{
    Arrivals, ClientSpec, GatewaySpec, HandlerSpec, RouteShare, RouteSpec, ServiceSpec, Target,
};

use super::resilience::{bulkhead, caller_policies};
use super::{loc, routes, Ctx};

/// Lower every client, in file order.
pub(super) fn lower(
    ctx: &Ctx,
    raw: &[RawClient],
    gateway_names: &[String],
    service_names: &[String],
    services: &[ServiceSpec],
    gateways: &[GatewaySpec],
    routes: &[RouteSpec],
) -> Result<Vec<ClientSpec>, IncidentError> {
    let mut clients = Vec::new();
    for c in raw {
        let target = target(ctx, c, gateway_names, service_names)?;
        let served: Vec<&HandlerSpec> = match target {
            Target::Gateway(g) => gateways[g]
                .upstream
                .iter()
                .map(|&s| &services[s].handler)
                .collect(),
            Target::Service(s) => vec![&services[s].handler],
        };
        let (split, route_rate) = routes::client_split(ctx, c, routes, &served)?;
        clients.push(client(ctx, c, target, split, route_rate)?);
    }
    Ok(clients)
}

fn target(
    ctx: &Ctx,
    c: &RawClient,
    gateway_names: &[String],
    service_names: &[String],
) -> Result<Target, IncidentError> {
    Ok(
        if let Some(i) = gateway_names.iter().position(|n| *n == c.to.value) {
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
        },
    )
}

fn client(
    ctx: &Ctx,
    c: &RawClient,
    target: Target,
    routes: Vec<RouteShare>,
    route_rate: Option<f64>,
) -> Result<ClientSpec, IncidentError> {
    let rate_per_s = match (&c.rate, route_rate) {
        (_, Some(r)) => r,
        (Some(rate), None) => {
            if rate.value.per_s <= 0.0 {
                return Err(ctx.err(
                    loc(rate),
                    "a client's rate must be more than zero (a timeline `set_rate` can stop it later)"
                        .into(),
                ));
            }
            rate.value.per_s
        }
        (None, None) => {
            return Err(ctx.err(
                loc(&c.name),
                format!(
                    "client `{}` needs a `rate:` (or `routes:` with a rate per route)",
                    c.name.value
                ),
            ))
        }
    };
    let (retry, breaker) = caller_policies(ctx, c.retry.as_ref(), c.breaker.as_ref())?;
    if let (Some(lb), Target::Gateway(_)) = (&c.lb_policy, &target) {
        return Err(ctx.err(
            loc(lb),
            format!(
                "client `{}` sends to a gateway, which balances: lb_policy is for a client that calls a service directly",
                c.name.value
            ),
        ));
    }
    let lb_policy = super::envoy::lb_policy(c.lb_policy.as_ref().map(|l| l.value));
    Ok(ClientSpec {
        name: c.name.value.clone(),
        target,
        rate_per_s,
        arrivals: match c.arrivals {
            Some(RawArrivals::Constant) => Arrivals::Constant,
            Some(RawArrivals::Poisson) | None => Arrivals::Poisson,
        },
        timeout: c.timeout.map(|t| t.0),
        method: routes::method(c.method),
        retry,
        breaker,
        bulkhead: bulkhead(c.bulkhead.as_ref()),
        lb_policy,
        routes,
    })
}
