//! Clients: open-loop arrivals (Poisson or constant), the client's timeout, and what
//! the client sees in the end (ok, failed, refused, gave up). A client talks to a
//! gateway or straight to a service's replicas (round-robin over the endpoints).

use crate::engine::{Key, Nanos, NanosSum, Scheduler, SimRng};

use super::caller::{CallerRt, CallerTotals};
use super::event::*;
use super::listener::Connect;
use super::request::*;
use super::retry::{AttemptOutcome, RetryPolicy};
use super::rotation::Rotation;
use super::spec::{Arrivals, BreakerSpec, ClientSpec, EnvoyLbPolicy, Method, RouteShare, Target};
use super::world::World;
use crate::outcome::ClientTotals;

pub(super) struct ClientRt {
    /// Its rate in force (the timeline can change it: [`ClientRt::set_rate`]).
    rate_per_s: f64,
    /// The mean gap between its arrivals, `1 / rate_per_s`: worked out when the rate
    /// is set, not on every arrival (a division is a long wait on the arrival's path).
    mean_gap_s: f64,
    /// Its arrivals' law (fixed for the run), kept beside the rate that each arrival
    /// reads anyway rather than looked up in the scenario.
    arrivals: Arrivals,
    /// Whether its method is idempotent (fixed for the run), for the retrier.
    pub(super) idempotent: bool,
    /// The retry policy, breaker and per-attempt timeout in force (the timeline can
    /// change them).
    pub(super) retry_policy: RetryPolicy,
    pub(super) breaker_spec: Option<BreakerSpec>,
    pub(super) bulkhead: Option<u32>,
    pub(super) timeout: Option<Nanos>,
    pub(super) caller: CallerRt,
    pub(super) caller_totals: CallerTotals,
    pub(super) generation: u32,
    pub(super) rng: SimRng,
    /// Draws of the route of each request (its own stream: a change of the split
    /// leaves the arrival times alone).
    pub(super) route_rng: SimRng,
    /// Its split among routes in force (the timeline can change it).
    pub(super) routes: Vec<RouteShare>,
    pub(super) rr: Rotation,
    pub(super) interval_sent: u64,
    pub(super) interval_ok: u64,
    pub(super) interval_failed: u64,
    /// The sum of its answered requests' latencies (the totals' seconds, read at the
    /// end).
    pub(super) latency: NanosSum,
    pub(super) totals: ClientTotals,
}

impl ClientRt {
    /// Client `spec` at the start: its own streams (arrivals, routes, and its
    /// balancer's when it draws) from the run's `seed`.
    pub(super) fn new(spec: &ClientSpec, seed: u64) -> ClientRt {
        let name = &spec.name;
        ClientRt {
            rate_per_s: spec.rate_per_s,
            mean_gap_s: 1.0 / spec.rate_per_s,
            arrivals: spec.arrivals,
            idempotent: spec.method == Method::Idempotent,
            retry_policy: spec.retry,
            breaker_spec: spec.breaker,
            bulkhead: spec.bulkhead,
            timeout: spec.timeout,
            caller: CallerRt::new(
                &spec.retry,
                spec.breaker.as_ref(),
                (spec.lb_policy != EnvoyLbPolicy::RoundRobin)
                    .then(|| SimRng::stream(seed, &format!("lb:{name}"))),
            ),
            caller_totals: CallerTotals::default(),
            generation: 0,
            rng: SimRng::stream(seed, &format!("client:{name}")),
            route_rng: SimRng::stream(seed, &format!("routes:{name}")),
            routes: spec.routes.clone(),
            rr: Rotation::default(),
            interval_sent: 0,
            interval_ok: 0,
            interval_failed: 0,
            latency: NanosSum::default(),
            totals: ClientTotals {
                name: name.clone(),
                ..Default::default()
            },
        }
    }

    /// Send at `rate_per_s` from now on.
    pub(super) fn set_rate(&mut self, rate_per_s: f64) {
        self.rate_per_s = rate_per_s;
        self.mean_gap_s = 1.0 / rate_per_s;
    }
}

impl World {
    /// Route a client event to its rule.
    pub(super) fn on_client_event(&mut self, e: ClientEvent, sched: &mut Scheduler<Event>) {
        match e {
            ClientEvent::Arrival { client, generation } => {
                self.on_arrival(client as usize, generation, sched)
            }
            ClientEvent::GiveUp { req } => self.on_client_give_up(req, sched),
            ClientEvent::Retry { req } => self.on_retry_due(req, sched),
        }
    }

    /// Schedule client `c`'s next arrival. Always inlined: every arrival schedules
    /// the next, and the call cost as much as the draw.
    #[inline(always)]
    pub(super) fn schedule_arrival(&mut self, c: usize, sched: &mut Scheduler<Event>) {
        let client = &mut self.clients[c];
        if client.rate_per_s <= 0.0 {
            return;
        }
        let mean_s = client.mean_gap_s;
        let gap = match client.arrivals {
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
        let gateway = match self.scenario.clients[c].target {
            Target::Gateway(g) => Some(g as u32),
            Target::Service(_) => None,
        };
        let client = &mut self.clients[c];
        client.interval_sent += 1;
        client.totals.sent += 1;
        let mut request = Request::new(
            Caller::Client(c as u32),
            Site::Client(c as u32),
            gateway,
            now,
        );
        request.route = self.draw_route(c);
        let req = self.requests.insert(request);
        self.peak_live = self
            .peak_live
            .max(self.requests.len() + self.handlers.len());
        self.begin_attempt(req, sched);
    }

    /// Connect a direct request (a client's or a call's) to `replica`, or fail the
    /// attempt at once when the service has no endpoint. Always inlined into its callers
    /// (a client's attempt, a call's, a probe's): it is a direct attempt's hand-off,
    /// smaller than a call's entry and exit.
    #[inline(always)]
    pub(super) fn connect_direct(
        &mut self,
        req: Key,
        replica: Option<usize>,
        sched: &mut Scheduler<Event>,
    ) {
        let Some(r) = replica else {
            self.attempt_ended(req, AttemptOutcome::ConnectFailure, sched);
            return;
        };
        let Some(q) = self.requests.get_mut(req) else {
            return;
        };
        q.attempt = q.attempt.wrapping_add(1);
        let attempt = q.attempt;
        // The attempt's replica: its caller's balancer counts it until it ends.
        q.tried.push(r);
        if self.connect(req, r, sched) == Connect::Refused {
            self.upstream_failed(req, attempt, Failure::Error, false, sched);
        }
    }

    /// The caller's timeout for the current attempt expired: hang up on the handler
    /// (nginx logs 499 if the attempt went through a gateway), then let the retrier
    /// decide.
    pub(super) fn on_client_give_up(&mut self, req: Key, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(request) = self.requests.get_mut(req) else {
            return;
        };
        // The timer fired: it is no longer pending.
        self.request_timers.at(req).give_up = None;
        if request.gateway.is_some() && request.header_sent() {
            // The header had gone out: nginx logs the 200, with the body cut short.
            self.response_truncated(req, AttemptOutcome::Timeout, sched);
            return;
        }
        let phase = request.phase;
        let gateway = request.gateway;
        let peer = request.tried.last().copied();
        let started = request.arrived;
        let route = request.route;
        if let ReqPhase::Sent { handler } = phase {
            self.caller_disconnected(handler, sched);
        }
        if let Some(g) = gateway {
            if let (Some(p), true) = (peer, phase != ReqPhase::Idle) {
                // nginx finalizes the upstream with state 0 when the client closes
                // (proxy_ignore_client_abort off): the peer is freed as not failed.
                self.gateways[g as usize].balancer.succeeded(p);
            }
            // nginx logs 499: the client closed the connection before the response.
            self.release_conn(req, sched);
            let latency = now.saturating_sub(started);
            self.record_gateway_response(g as usize, 499, latency, now, false);
            self.record_route_response(g as usize, route, 499, latency, false);
        }
        self.attempt_ended(req, AttemptOutcome::Timeout, sched);
    }
}
