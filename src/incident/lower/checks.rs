//! Checks of the system as a whole, made once its components are lowered: no loop of
//! service-to-service calls (reported at the call that closes it), call chains no
//! deeper than [`MAX_CALL_DEPTH`], no cycle in the full request graph, and an
//! estimated event count within the budget.

use crate::human::thousands;
use crate::incident::raw::{flat_steps, RawIncident, RawStep};
use crate::incident::{IncidentError, Overrides, DEFAULT_MAX_EVENTS};
use crate::model::spec::{Scenario, ServiceSpec, Step};
use crate::model::{estimate_events, topology};

use super::{loc, Ctx};

/// Calls nest at most this deep. A real request crosses a handful of services; the
/// replay follows a chain of calls one level per service, so its depth is bounded.
pub const MAX_CALL_DEPTH: usize = 32;

/// The services each service's handler calls, in step order.
fn callees(services: &[ServiceSpec]) -> Vec<Vec<usize>> {
    services
        .iter()
        .map(|s| {
            s.handler
                .steps
                .iter()
                .filter_map(|st| match st {
                    Step::Call { service, .. } => Some(*service),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// Reject loops of service-to-service calls, at the call that closes the loop.
pub(super) fn call_cycles(
    ctx: &Ctx,
    raw: &RawIncident,
    services: &[ServiceSpec],
) -> Result<(), IncidentError> {
    let calls = callees(services);
    let Some(cycle) = topology::call_cycle(&calls) else {
        return Ok(());
    };
    let (from, to) = (cycle[cycle.len() - 2], cycle[cycle.len() - 1]);
    let path: Vec<&str> = cycle.iter().map(|&i| services[i].name.as_str()).collect();
    let site = raw.services[from]
        .step_lists()
        .into_iter()
        .flat_map(|l| flat_steps(&l.value))
        .find_map(|st| match st {
            RawStep::Call(c) if c.service.value == services[to].name => Some(loc(&c.service)),
            _ => None,
        })
        .unwrap_or_else(|| loc(&raw.services[from].name));
    Err(ctx.err(
        site,
        format!("this call closes a cycle in the call graph ({}): a request would come back to a service it passed", path.join(" -> ")),
    ))
}

/// Reject a chain of calls deeper than [`MAX_CALL_DEPTH`], at the service it starts
/// from. The call graph has no loop (checked before), so the deepest chain from each
/// service is found callees first, without recursion.
pub(super) fn call_depth(
    ctx: &Ctx,
    raw: &RawIncident,
    services: &[ServiceSpec],
) -> Result<(), IncidentError> {
    let calls = callees(services);
    let n = services.len();
    let mut callers = vec![Vec::new(); n];
    let mut waiting: Vec<usize> = calls.iter().map(Vec::len).collect();
    for (from, tos) in calls.iter().enumerate() {
        for &to in tos {
            callers[to].push(from);
        }
    }
    // depth[s]: calls in the deepest chain from s; next[s]: the callee it goes through.
    let mut depth = vec![0usize; n];
    let mut next = vec![None; n];
    let mut ready: Vec<usize> = (0..n).filter(|&s| waiting[s] == 0).collect();
    while let Some(s) = ready.pop() {
        for &from in &callers[s] {
            if depth[s] + 1 > depth[from] {
                depth[from] = depth[s] + 1;
                next[from] = Some(s);
            }
            waiting[from] -= 1;
            if waiting[from] == 0 {
                ready.push(from);
            }
        }
    }
    let Some(start) = (0..n).find(|&s| depth[s] > MAX_CALL_DEPTH) else {
        return Ok(());
    };
    let mut chain = vec![services[start].name.as_str()];
    let mut at = start;
    while let Some(to) = next[at] {
        chain.push(services[to].name.as_str());
        at = to;
    }
    Err(ctx.err(
        loc(&raw.services[start].name),
        format!(
            "calls from this service nest {} deep ({}); rewind follows chains of at most {MAX_CALL_DEPTH} nested calls",
            depth[start],
            chain.join(" -> ")
        ),
    ))
}

/// Reject a cycle anywhere in the request graph (clients, gateways, services).
pub(super) fn graph_cycle(
    ctx: &Ctx,
    raw: &RawIncident,
    scenario: &Scenario,
) -> Result<(), IncidentError> {
    if topology::has_cycle(scenario) {
        return Err(ctx.err(
            loc(&raw.name),
            "the call graph has a cycle: a request could come back to a component it passed".into(),
        ));
    }
    Ok(())
}

/// Refuse a replay estimated to process more events than the budget: the command
/// line's, else the file's `limits.max_events`, else the default.
pub(super) fn event_budget(
    ctx: &Ctx,
    raw: &RawIncident,
    ov: &Overrides,
    scenario: &Scenario,
) -> Result<(), IncidentError> {
    let budget = ov
        .max_events
        .or(raw.limits.as_ref().and_then(|l| l.max_events))
        .unwrap_or(DEFAULT_MAX_EVENTS);
    let estimate =
        estimate_events(scenario).saturating_add(super::budgets::replica_events(scenario));
    if estimate > budget {
        return Err(ctx.err(
            loc(&raw.duration),
            format!(
                "this replay would process about {} events, over the budget of {}: shorten `duration`, lower the rates, or raise the budget with `limits: {{max_events: {}}}` in the file or `--max-events {}` on the command line",
                thousands(estimate),
                thousands(budget),
                suggested(estimate),
                suggested(estimate)
            ),
        ));
    }
    Ok(())
}

/// A budget to suggest for `estimate`: the next million up, or the estimate itself
/// where that would overflow.
fn suggested(estimate: u64) -> u64 {
    estimate
        .checked_next_multiple_of(1_000_000)
        .unwrap_or(estimate)
}
