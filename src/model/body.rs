//! Responses with a body: a handler's `body` step sends the response header and then
//! writes the body over time; the reader (nginx) restarts `proxy_read_timeout` at each
//! read, and a response that breaks off after its header is a truncated 200. In a
//! system with such steps, gateways time each response's header apart (the time to
//! the first byte).
//!
//! nginx, once it has sent the upstream's header to its client, cannot answer another
//! status: `ngx_http_upstream_finalize_request` turns an error after `header_sent`
//! into a plain close, so the access log keeps the 200 and a short body, the peer is
//! freed as not failed (state 0), and no other upstream is tried. The client got
//! less than it asked for (Go's `Body.Read` returns `unexpected EOF`): to it the
//! exchange failed, as a reset does.

use crate::engine::{Key, Nanos, Scheduler};

use super::event::*;
use super::handler::HandlerPhase;
use super::request::{ReqPhase, Request};
use super::retry::AttemptOutcome;
use super::spec::{Scenario, Step};
use super::world::World;

/// Whether any handler of the system streams a body: only then do gateways time the
/// response header apart from the response (without a `body` step the header and
/// the body come together, and the header's time is the response time).
pub(super) fn streams_bodies(s: &Scenario) -> bool {
    s.services.iter().any(|sv| {
        sv.handler
            .steps
            .iter()
            .any(|st| matches!(st, Step::Body { .. }))
    })
}

impl World {
    /// Handler `h` reaches a `body` step: its header goes out (once per response), and
    /// the first of `chunks` writes comes after `first`.
    pub(super) fn begin_body(
        &mut self,
        h: Key,
        chunks: u32,
        first: Nanos,
        sched: &mut Scheduler<Event>,
    ) {
        let Some(hd) = self.handlers.get_mut(h) else {
            return;
        };
        hd.phase = HandlerPhase::Writing { left: chunks };
        if let Some((req, attempt)) = hd.origin {
            if let Some(q) = self.requests.get_mut(req).filter(|q| q.attempt == attempt) {
                if q.header_attempt != Some(attempt) {
                    q.header_attempt = Some(attempt);
                    self.header_forwarded(req, sched.now());
                    self.upstream_read(req, sched);
                }
            }
        }
        sched.after(
            first,
            Event::Handler(HandlerEvent::ChunkWritten { handler: h }),
        );
    }

    /// One write of handler `h`'s body is out: the reader restarts its read timer, and
    /// the next write follows, or the step after the body.
    pub(super) fn on_chunk_written(&mut self, h: Key, sched: &mut Scheduler<Event>) {
        let Some(hd) = self.handlers.get(h) else {
            return;
        };
        if hd.cancelled {
            self.end_handler(h, None, sched);
            return;
        }
        let HandlerPhase::Writing { left } = hd.phase else {
            return;
        };
        let (r, step, origin) = (hd.replica, hd.step, hd.origin);
        if let Some((req, attempt)) = origin {
            if self.requests.get(req).is_some_and(|q| q.attempt == attempt) {
                self.upstream_read(req, sched);
            }
        }
        if left > 1 {
            let rep = &self.replicas[r];
            let svc = &mut self.services[rep.service];
            let Some(Step::Body { every, .. }) = rep.spec.handler.steps.get(step) else {
                return;
            };
            let next = every.sample(&mut svc.rng);
            if let Some(hd) = self.handlers.get_mut(h) {
                hd.phase = HandlerPhase::Writing { left: left - 1 };
            }
            sched.after(
                next,
                Event::Handler(HandlerEvent::ChunkWritten { handler: h }),
            );
        } else {
            if let Some(hd) = self.handlers.get_mut(h) {
                hd.phase = HandlerPhase::Working;
                hd.step += 1;
            }
            self.advance(h, sched);
        }
    }

    /// The reader of `req` got bytes of its response: an nginx gateway restarts
    /// `proxy_read_timeout`, which bounds the gap between two reads, not the response.
    /// An Envoy route's timeout spans the whole response and stays.
    fn upstream_read(&mut self, req: Key, sched: &mut Scheduler<Event>) {
        let Some(q) = self.requests.get(req) else {
            return;
        };
        let (Some(g), attempt, route) = (q.gateway, q.attempt, q.route) else {
            return;
        };
        let g = g as usize;
        if self.gateways[g].envoy.is_some() {
            return;
        }
        if let Some(t) = self.gateway_read_timeout(g, route) {
            let timer = sched.timeout(
                t,
                Event::Gateway(GatewayEvent::ReadTimeout { req, attempt }),
            );
            self.set_attempt_timer(req, timer, sched);
        }
    }

    /// A gateway forwards an upstream's answer, `code`, at the handler's end: without
    /// a `body` step before it, its header reaches the client now, with its body.
    pub(super) fn forward_answer(&mut self, req: Key, code: u16, sched: &mut Scheduler<Event>) {
        if !self.header_sent(req) {
            self.header_forwarded(req, sched.now());
        }
        self.finish_gateway(req, code, sched);
    }

    /// The gateway of `req` sends its client the upstream's response header at `now`:
    /// its time since the request arrived at the gateway (retries and a `limit_req`
    /// delay included) goes into the gateway's header times, when it keeps them.
    /// nginx's `$upstream_header_time` is the same time for a request its first try
    /// served, less the `limit_req` delay.
    fn header_forwarded(&mut self, req: Key, now: Nanos) {
        let Some(q) = self.requests.get(req) else {
            return;
        };
        let (Some(g), arrived) = (q.gateway, q.arrived) else {
            return;
        };
        if let Some(times) = &mut self.gateways[g as usize].header_latency {
            times.record(now.saturating_sub(arrived));
        }
    }

    /// Whether the current attempt of `req` has had its response header.
    pub(super) fn header_sent(&self, req: Key) -> bool {
        self.requests.get(req).is_some_and(Request::header_sent)
    }

    /// The response of `req` broke off after its header (the upstream timed out
    /// between reads, reset, or failed; or the client left): a gateway logs the 200 it
    /// had sent, counted as truncated, and frees the peer as not failed; the caller's
    /// attempt ends with `outcome` (a reset, or its own timeout).
    pub(super) fn response_truncated(
        &mut self,
        req: Key,
        outcome: AttemptOutcome,
        sched: &mut Scheduler<Event>,
    ) {
        let now = sched.now();
        let Some(q) = self.requests.get_mut(req) else {
            return;
        };
        let phase = std::mem::replace(&mut q.phase, ReqPhase::Idle);
        let (gateway, peer, started, route) =
            (q.gateway, q.tried.last().copied(), q.arrived, q.route);
        if let ReqPhase::Connecting { .. } = phase {
            // Not after a header, in fact; but every way out of a handshake ends it.
            self.request_timers.end_handshake(req, sched);
        }
        if let ReqPhase::Sent { handler } = phase {
            self.caller_disconnected(handler, sched);
        }
        if let Some(g) = gateway.map(|g| g as usize) {
            if let (Some(p), None) = (peer, &self.gateways[g].envoy) {
                self.gateways[g].balancer.succeeded(p);
            }
            self.release_conn(req, sched);
            let latency = now.saturating_sub(started);
            self.record_gateway_response(g, 200, latency, now, true);
            self.record_route_response(g, route, 200, latency, true);
        }
        self.attempt_ended(req, outcome, sched);
    }
}
