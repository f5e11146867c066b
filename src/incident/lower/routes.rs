//! Routes (request classes): the table of every route the services define, with its
//! method, and a client's split of its traffic among routes, by share or by rate.
//! A route is named once per service; services that share a name share the route
//! (a gateway forwards it to whichever it balances to), and must agree on its method.

use std::collections::BTreeMap;

use serde_saphyr::Spanned;

use crate::incident::raw::{RawClient, RawMethod, RawService};
use crate::incident::units::RouteWeight;
use crate::incident::IncidentError;
use crate::model::spec::{HandlerSpec, Method, RouteShare, RouteSpec};

use super::{check_name, loc, Ctx};

/// Most routes in one file (each adds time-series columns per gateway and service).
const MAX_ROUTES: usize = 256;

/// The method class of a method as written (POST, PATCH and LOCK are not idempotent).
pub(super) fn method(m: Option<RawMethod>) -> Method {
    match m {
        Some(RawMethod::Post | RawMethod::Patch | RawMethod::Lock) => Method::NonIdempotent,
        _ => Method::Idempotent,
    }
}

/// Every route the services define, in file order of first definition.
pub(super) fn table(ctx: &Ctx, services: &[RawService]) -> Result<Vec<RouteSpec>, IncidentError> {
    let mut routes: Vec<RouteSpec> = Vec::new();
    for s in services {
        let Some(rs) = &s.routes else {
            continue;
        };
        let mut mine: Vec<&str> = Vec::new();
        for r in &rs.value {
            check_name(ctx, &r.name)?;
            if mine.contains(&r.name.value.as_str()) {
                return Err(ctx.err(
                    loc(&r.name),
                    format!(
                        "service `{}` defines route `{}` twice",
                        s.name.value, r.name.value
                    ),
                ));
            }
            mine.push(&r.name.value);
            let m = method(r.method);
            match routes.iter().find(|x| x.name == r.name.value) {
                Some(x) if x.method != m => {
                    return Err(ctx.err(
                        loc(&r.name),
                        format!("route `{}` is defined elsewhere with another method: a route has one method wherever it is served", r.name.value),
                    ))
                }
                Some(_) => {}
                None => routes.push(RouteSpec {
                    name: r.name.value.clone(),
                    method: m,
                }),
            }
            if routes.len() > MAX_ROUTES {
                return Err(ctx.err(
                    loc(&r.name),
                    format!("more than {MAX_ROUTES} routes in one file"),
                ));
            }
        }
    }
    Ok(routes)
}

/// A client's `routes:`, checked against the routes its target's services serve
/// (`served`), and the client's total rate (from `rate:`, or the sum of route rates).
pub(super) fn client_split(
    ctx: &Ctx,
    c: &RawClient,
    routes: &[RouteSpec],
    served: &[&HandlerSpec],
) -> Result<(Vec<RouteShare>, Option<f64>), IncidentError> {
    let Some(raw) = &c.routes else {
        return Ok((Vec::new(), None));
    };
    let (out, percent, per_s) = split(ctx, raw, &c.to.value, routes, served)?;
    if percent > 0.0 {
        if (percent - 100.0).abs() > 1e-9 {
            return Err(ctx.err(
                loc(raw),
                format!(
                    "the route shares of client `{}` add up to {percent}%, not 100%",
                    c.name.value
                ),
            ));
        }
        Ok((out, None))
    } else {
        if let Some(rate) = &c.rate {
            return Err(ctx.err(
                loc(rate),
                format!("client `{}` gives its routes rates, which add up to its rate: leave `rate:` out", c.name.value),
            ));
        }
        Ok((out, Some(per_s)))
    }
}

/// A timeline's new split for client `client` (sending to `to`): shares that add up
/// to 100%, since its rate is `set_rate`'s to change.
pub(super) fn changed_split(
    ctx: &Ctx,
    raw: &Spanned<BTreeMap<String, Spanned<RouteWeight>>>,
    client: &str,
    to: &str,
    routes: &[RouteSpec],
    served: &[&HandlerSpec],
) -> Result<Vec<RouteShare>, IncidentError> {
    let (out, percent, per_s) = split(ctx, raw, to, routes, served)?;
    if per_s > 0.0 {
        return Err(ctx.err(
            loc(raw),
            format!("a new split of client `{client}` gives each route a share (`90%`): its rate changes with `set_rate`"),
        ));
    }
    if (percent - 100.0).abs() > 1e-9 {
        return Err(ctx.err(
            loc(raw),
            format!("the route shares of client `{client}` add up to {percent}%, not 100%"),
        ));
    }
    Ok(out)
}

/// A split as written, every route known and served by every service behind `to`:
/// the shares normalised to sum 1, and the sums of the percentages and of the rates
/// written (one of them 0: a split is all shares or all rates).
fn split(
    ctx: &Ctx,
    raw: &Spanned<BTreeMap<String, Spanned<RouteWeight>>>,
    to: &str,
    routes: &[RouteSpec],
    served: &[&HandlerSpec],
) -> Result<(Vec<RouteShare>, f64, f64), IncidentError> {
    let map: &BTreeMap<String, Spanned<RouteWeight>> = &raw.value;
    if map.is_empty() {
        return Err(ctx.err(loc(raw), "`routes:` needs at least one route".into()));
    }
    let names: Vec<String> = routes.iter().map(|r| r.name.clone()).collect();
    let (mut percent, mut per_s) = (0.0, 0.0);
    let mut out = Vec::new();
    for (name, w) in map {
        let Some(id) = routes.iter().position(|r| r.name == *name) else {
            return Err(ctx.err(
                loc(w),
                format!(
                    "unknown route `{name}`: known routes: {}",
                    if names.is_empty() {
                        "none (services define them under `routes:`)".into()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        };
        if !served
            .iter()
            .all(|h| h.routes.iter().any(|r| r.route == Some(id)))
        {
            return Err(ctx.err(
                loc(w),
                format!("route `{name}` is not served by every service `{to}` sends to"),
            ));
        }
        let v = match w.value {
            RouteWeight::Percent(p) => {
                percent += p;
                p
            }
            RouteWeight::PerSecond(r) => {
                per_s += r;
                r
            }
        };
        if percent > 0.0 && per_s > 0.0 {
            return Err(ctx.err(
                loc(w),
                "give every route of a client a share (`90%`) or every one a rate (`90/s`), not both".into(),
            ));
        }
        out.push(RouteShare {
            route: id,
            share: v,
        });
    }
    let total = percent + per_s;
    for r in &mut out {
        r.share /= total;
    }
    Ok((out, percent, per_s))
}

/// Every call that names a route calls a service that serves it.
pub(super) fn calls_served(
    ctx: &Ctx,
    raw: &[RawService],
    services: &[crate::model::spec::ServiceSpec],
    routes: &[RouteSpec],
) -> Result<(), IncidentError> {
    for s in raw {
        for list in s.step_lists() {
            for step in &list.value {
                let crate::incident::raw::RawStep::Call(c) = step else {
                    continue;
                };
                let (Some(route), Some(callee)) = (
                    &c.route,
                    services.iter().find(|x| x.name == c.service.value),
                ) else {
                    continue;
                };
                let serves = callee
                    .handler
                    .routes
                    .iter()
                    .filter_map(|r| r.route.and_then(|id| routes.get(id)))
                    .any(|r| r.name == route.value);
                if !serves {
                    return Err(ctx.err(
                        loc(route),
                        format!(
                            "service `{}` does not serve route `{}`",
                            c.service.value, route.value
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}
