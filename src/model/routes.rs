//! Routes (request classes), wired: a client draws each request's route from its
//! split; a replica runs the route's steps with the route's wait context; a route's
//! bulkhead (reserved workers, a concurrency limit) sheds at the worker; the gateway's
//! `location` per route sets its read timeout; and the per-route counters that become
//! `<gateway>.<route>.*` and `<service>.<route>.*` columns.
//!
//! Reserved workers follow Stripe's worker-utilisation load shedder: a route that
//! reserves N workers can always get up to N, so another route's request may take a
//! worker only if as many stay free as the other routes' reserves still lack.

use crate::engine::{Key, Nanos, Scheduler};

use super::event::Event;
use super::metrics::IntervalLatency;
use super::spec::{Method, Scenario};
use super::world::World;
use crate::outcome::status_index;

/// A request that belongs to no route.
pub(super) const NO_ROUTE: u16 = u16::MAX;

/// Counters of one route at one gateway, for the current interval.
#[derive(Default)]
pub(super) struct GatewayRouteRt {
    /// Requests that arrived (as the gateway's own `requests`).
    pub(super) requests: u64,
    pub(super) status: [u64; crate::outcome::N_STATUSES],
    /// 200s among them whose body broke off after the header.
    pub(super) truncated: u64,
    pub(super) latency: IntervalLatency,
}

/// Counters of one route of a service, for the current interval.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ServiceRouteRt {
    pub(super) ok: u64,
    pub(super) errors: u64,
    pub(super) shed: u64,
}

/// The global route id of a request's route, if it has one.
pub(super) fn route_id(route: u16) -> Option<usize> {
    (route != NO_ROUTE).then_some(usize::from(route))
}

/// The method class of a request on `route` from a caller whose own is `fallback`.
pub(super) fn method_of(scenario: &Scenario, route: u16, fallback: Method) -> Method {
    route_id(route)
        .and_then(|id| scenario.routes.get(id))
        .map_or(fallback, |r| r.method)
}

impl World {
    /// The route of client `c`'s next request, drawn from its split.
    pub(super) fn draw_route(&mut self, c: usize) -> u16 {
        let client = &mut self.clients[c];
        let routes = &client.routes;
        match routes.len() {
            0 => NO_ROUTE,
            1 => routes[0].route as u16,
            _ => {
                let u = client.route_rng.uniform_open01();
                let mut acc = 0.0;
                for r in routes {
                    acc += r.share;
                    if u < acc {
                        return r.route as u16;
                    }
                }
                routes[routes.len() - 1].route as u16
            }
        }
    }

    /// The gateway's read timeout for a request on `route` (its route's `location`
    /// when it has one).
    pub(super) fn gateway_read_timeout(&self, g: usize, route: u16) -> Option<Nanos> {
        let spec = &self.scenario.gateways[g];
        route_id(route)
            .and_then(|id| spec.route_read_timeouts.iter().find(|(r, _)| *r == id))
            .map_or(spec.read_timeout, |(_, t)| *t)
    }

    /// Handler `h` is picked up by a worker: whether its route's bulkhead lets it run.
    /// Returns false when it shed the request (answered at once).
    pub(super) fn route_admits(&mut self, h: Key, sched: &mut Scheduler<Event>) -> bool {
        let Some(hd) = self.handlers.get(h) else {
            return false;
        };
        if hd.probe {
            return true;
        }
        let (r, route) = (hd.replica, usize::from(hd.route));
        let spec = self.spec_of(r);
        let routes = &spec.handler.routes;
        if spec.handler.admits_every_route() {
            return true;
        }
        let rep = &self.replicas[r];
        let busy = |q: usize| rep.route_inflight.get(q);
        let over_limit = routes
            .get(route)
            .and_then(|x| x.concurrency_limit)
            .is_some_and(|limit| busy(route) >= limit);
        let lacking: u32 = routes
            .iter()
            .enumerate()
            .filter(|(q, _)| *q != route)
            .map(|(q, x)| x.reserved_workers.saturating_sub(busy(q)))
            .sum();
        let starved = lacking > 0
            && spec.workers.is_some_and(|w| {
                // This request would take one of the free workers.
                w.saturating_sub(rep.busy_workers).saturating_sub(1) < lacking
            });
        if !over_limit && !starved {
            return true;
        }
        let status = spec.shed.map_or(503, |s| s.status);
        let s = rep.service;
        self.services[s].totals.shed += 1;
        if let Some(c) = self.services[s].route_counters.get_mut(route) {
            c.shed += 1;
        }
        self.end_handler(h, Some(status), sched);
        false
    }

    /// A handler of route `route` of service `s` answered `status`.
    pub(super) fn route_answered(&mut self, s: usize, route: u16, status: u16) {
        if let Some(c) = self.services[s].route_counters.get_mut(usize::from(route)) {
            if status < 300 {
                c.ok += 1;
            } else {
                c.errors += 1;
            }
        }
    }

    /// Gateway `g` answered a request on `route` (`truncated`: a 200 whose body broke
    /// off after the header).
    pub(super) fn record_route_response(
        &mut self,
        g: usize,
        route: u16,
        status: u16,
        latency: Nanos,
        truncated: bool,
    ) {
        let Some(id) = route_id(route) else {
            return;
        };
        let gw = &mut self.gateways[g];
        let Some(rt) = gw.routes.get_mut(id) else {
            return;
        };
        rt.status[status_index(status)] += 1;
        rt.truncated += u64::from(truncated);
        rt.latency.record_like(latency, gw.latency.histogram());
    }
}
