//! The gateway's admission (`limit_req`, then `limit_conn`, in the order nginx's
//! preaccess phase runs them): a request is passed on to the upstream, delayed, or
//! answered at once with the limit's status. The rules are `admission.rs`.

use crate::engine::{Key, Scheduler};

use super::super::admission::Admit;
use super::super::event::*;
use super::super::world::World;

impl World {
    /// A request arrives at gateway `g`: admit it, delay it or answer it.
    pub(in crate::model) fn gateway_accept(
        &mut self,
        req: Key,
        g: usize,
        sched: &mut Scheduler<Event>,
    ) {
        let now = sched.now();
        if let Some(spec) = self.scenario.gateways[g].limit_req {
            let gw = &mut self.gateways[g];
            match gw.limit_req.arrive(&spec, now) {
                Admit::Pass => {}
                Admit::Reject => {
                    gw.totals.limit_req_rejected += 1;
                    self.finish_gateway(req, spec.status, sched);
                    return;
                }
                Admit::Delay(d) => {
                    gw.totals.limit_req_delayed += 1;
                    let Some(q) = self.requests.get_mut(req) else {
                        return;
                    };
                    q.delayed = true;
                    let attempt = q.exchange.attempts;
                    sched.after(d, Event::Gateway(GatewayEvent::Admit { req, attempt }));
                    return;
                }
            }
        }
        self.limit_conn_then_proxy(req, g, sched);
    }

    /// A request delayed by `limit_req` goes on, if its client still waits for it.
    pub(in crate::model) fn on_admit(
        &mut self,
        req: Key,
        attempt: u16,
        sched: &mut Scheduler<Event>,
    ) {
        let Some(q) = self.requests.get_mut(req) else {
            return;
        };
        if q.exchange.attempts != attempt || !q.delayed {
            return;
        }
        q.delayed = false;
        let Some(g) = q.gateway else {
            return;
        };
        self.limit_conn_then_proxy(req, g as usize, sched);
    }

    fn limit_conn_then_proxy(&mut self, req: Key, g: usize, sched: &mut Scheduler<Event>) {
        if let Some(spec) = self.scenario.gateways[g].limit_conn {
            let gw = &mut self.gateways[g];
            if gw.conns >= spec.limit {
                gw.totals.limit_conn_rejected += 1;
                self.finish_gateway(req, spec.status, sched);
                return;
            }
            gw.conns += 1;
            if let Some(q) = self.requests.get_mut(req) {
                q.holds_conn = true;
            }
        }
        self.gateway_try(req, sched);
    }

    /// The gateway is done with `req` (answered, or its client left): its `limit_conn`
    /// count is released.
    pub(in crate::model) fn release_conn(&mut self, req: Key, sched: &mut Scheduler<Event>) {
        if let Some(g) = self.envoy_gateway_of(req) {
            self.envoy_request_done(req, g, sched);
            return;
        }
        let Some(q) = self.requests.get_mut(req) else {
            return;
        };
        if !std::mem::take(&mut q.holds_conn) {
            return;
        }
        if let Some(g) = q.gateway {
            let gw = &mut self.gateways[g as usize];
            gw.conns = gw.conns.saturating_sub(1);
        }
    }
}
