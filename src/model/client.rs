//! Clients: open-loop arrivals (Poisson or constant), the client's timeout, and what
//! the client sees in the end (ok, failed, refused, gave up). A client talks to a
//! gateway or straight to a service's replicas (round-robin over the endpoints).

use crate::engine::{Key, Nanos, Scheduler, SimRng};

use super::event::*;
use super::handler::*;
use super::listener::Connect;
use super::request::*;
use super::spec::{Arrivals, Target};
use super::world::World;
use crate::outcome::ClientTotals;

pub(super) struct ClientRt {
    pub(super) rate_per_s: f64,
    pub(super) generation: u32,
    pub(super) rng: SimRng,
    pub(super) rr: usize,
    pub(super) interval_sent: u64,
    pub(super) interval_ok: u64,
    pub(super) interval_failed: u64,
    pub(super) totals: ClientTotals,
}

impl World {
    /// Route a client event to its rule.
    pub(super) fn on_client_event(&mut self, e: ClientEvent, sched: &mut Scheduler<Event>) {
        match e {
            ClientEvent::Arrival { client, generation } => {
                self.on_arrival(client as usize, generation, sched)
            }
            ClientEvent::GiveUp { req } => self.on_client_give_up(req, sched),
        }
    }

    pub(super) fn schedule_arrival(&mut self, c: usize, sched: &mut Scheduler<Event>) {
        let client = &mut self.clients[c];
        if client.rate_per_s <= 0.0 {
            return;
        }
        let mean_s = 1.0 / client.rate_per_s;
        let gap = match self.scenario.clients[c].arrivals {
            Arrivals::Poisson => client.rng.exponential(mean_s),
            Arrivals::Constant => mean_s,
        };
        sched.after(
            Nanos::from_secs_f64(gap),
            Event::Client(ClientEvent::Arrival {
                client: c as u32,
                generation: client.generation,
            }),
        );
    }

    pub(super) fn on_arrival(&mut self, c: usize, generation: u32, sched: &mut Scheduler<Event>) {
        if self.clients[c].generation != generation {
            return;
        }
        self.schedule_arrival(c, sched);
        let now = sched.now();
        let spec = &self.scenario.clients[c];
        let (timeout, target) = (spec.timeout, spec.target);
        let client = &mut self.clients[c];
        client.interval_sent += 1;
        client.totals.sent += 1;
        let gateway = match target {
            Target::Gateway(g) => Some(g as u32),
            Target::Service(_) => None,
        };
        let req = self
            .requests
            .insert(Request::new(Caller::Client(c as u32), gateway, now));
        self.peak_live = self
            .peak_live
            .max(self.requests.len() + self.handlers.len());
        if let Some(t) = timeout {
            let timer = sched.timeout(t, Event::Client(ClientEvent::GiveUp { req }));
            if let Some(q) = self.requests.get_mut(req) {
                q.give_up_timer = Some(timer);
            }
        }
        match target {
            Target::Gateway(g) => {
                let gw = &mut self.gateways[g];
                gw.interval_requests += 1;
                gw.totals.requests += 1;
                self.gateway_try(req, sched);
            }
            Target::Service(s) => {
                let mut rr = self.clients[c].rr;
                let pick = self.pick_endpoint(s, &mut rr);
                self.clients[c].rr = rr;
                self.connect_direct(req, pick, sched);
            }
        }
    }

    /// Round-robin over the replicas of service `s` that are in the endpoints: constant
    /// time whatever the number of replicas (the endpoints are kept by `refresh_peers`).
    pub(super) fn pick_endpoint(&self, s: usize, rr: &mut usize) -> Option<usize> {
        let endpoints = &self.services[s].endpoints;
        if endpoints.is_empty() {
            return None;
        }
        let pick = endpoints[*rr % endpoints.len()];
        *rr = rr.wrapping_add(1);
        Some(pick)
    }

    /// Connect a direct request (a client's or a call's) to `replica`, or fail it at
    /// once when the service has no endpoint.
    pub(super) fn connect_direct(
        &mut self,
        req: Key,
        replica: Option<usize>,
        sched: &mut Scheduler<Event>,
    ) {
        let Some(r) = replica else {
            self.finish_direct(req, None, sched);
            return;
        };
        if let Some(q) = self.requests.get_mut(req) {
            q.attempt = 1;
        }
        if self.connect(req, r, sched) == Connect::Refused {
            self.upstream_failed(req, 1, Failure::Error, false, sched);
        }
    }

    pub(super) fn on_client_give_up(&mut self, req: Key, sched: &mut Scheduler<Event>) {
        let Some(request) = self.take_request(req, sched) else {
            return;
        };
        let now = sched.now();
        if let ReqPhase::Sent { handler } = request.phase {
            self.caller_disconnected(handler, sched);
        }
        if let (Some(g), Some(&p)) = (request.gateway, request.tried.last()) {
            if request.phase != ReqPhase::Idle {
                // nginx finalizes the upstream with state 0 when the client closes
                // (proxy_ignore_client_abort off): the peer is freed as not failed.
                self.gateways[g as usize].balancer.succeeded(p);
            }
        }
        let c = match request.caller {
            Caller::Client(c) => c as usize,
            Caller::Handler(parent) => {
                // The HTTP client's timeout: the call fails and the caller carries on.
                self.call_failed(parent, req, sched);
                return;
            }
        };
        let client = &mut self.clients[c];
        client.totals.gave_up += 1;
        client.interval_failed += 1;
        client.totals.failed += 1;
        if let Some(g) = request.gateway {
            // nginx logs 499: the client closed the connection before the response.
            self.record_gateway_response(g as usize, 499, now.saturating_sub(request.arrived), now);
        }
    }

    /// A direct request ends: with a handler's status, or refused (None).
    pub(super) fn finish_direct(
        &mut self,
        req: Key,
        status: Option<u16>,
        sched: &mut Scheduler<Event>,
    ) {
        let now = sched.now();
        let Some(request) = self.take_request(req, sched) else {
            return;
        };
        let c = match request.caller {
            Caller::Client(c) => c as usize,
            Caller::Handler(parent) => {
                if status.is_some_and(|s| s < 300) {
                    if let Some(hd) = self.handlers.get_mut(parent) {
                        if hd.phase == (HandlerPhase::Calling { req }) {
                            hd.step += 1;
                            self.advance(parent, sched);
                        }
                    }
                } else {
                    self.call_failed(parent, req, sched);
                }
                return;
            }
        };
        let client = &mut self.clients[c];
        match status {
            Some(s) if s < 300 => {
                client.totals.ok += 1;
                client.interval_ok += 1;
                client.totals.latency_sum_s += now.saturating_sub(request.arrived).as_secs_f64();
            }
            Some(_) => {
                client.totals.failed += 1;
                client.interval_failed += 1;
            }
            None => {
                client.totals.refused += 1;
                client.totals.failed += 1;
                client.interval_failed += 1;
            }
        }
    }
}
