//! The nginx gateway: connect and read timeouts, `proxy_next_upstream` retries, and
//! the status it answers (502, 504, 499 or the upstream's). Which peer a try goes to,
//! and which peers are marked failed, is the balancer's ([`policy::Balancer`]:
//! [`nginx::RoundRobin`], or `least_conn` / `random` from [`balance`]).

mod balance;
mod envoy;
mod envoy_balance;
mod least_conn;
mod limits;
mod nginx;
mod policy;

pub(super) use envoy::EnvoyRt;
pub(super) use envoy_balance::least_request_choice;
pub(super) use policy::Balancer;

use crate::engine::{Key, Nanos, Scheduler, SimRng};

use super::event::*;
use super::listener::Connect;
use super::metrics::{Latencies, ResponseBuckets};
use super::request::*;
use super::retry::AttemptOutcome;
use super::routes::method_of;
use super::spec::{GatewaySpec, Method};
use super::world::World;
use crate::outcome::{status_index, GatewayTotals, Occurrence, N_STATUSES};

pub(super) struct GatewayRt {
    pub(super) balancer: Balancer,
    /// Draws of the `random` balancers.
    pub(super) rng: SimRng,
    pub(super) interval_requests: u64,
    pub(super) interval_status: [u64; N_STATUSES],
    /// 200s whose body broke off after the header, this interval.
    pub(super) interval_truncated: u64,
    /// Every response's latency.
    pub(super) latency: Latencies,
    /// Successes' (200) latency alone.
    pub(super) ok_latency: Latencies,
    /// Times to the response header, in a system that streams bodies.
    pub(super) header_latency: Option<Latencies>,
    /// Every response by status and histogram bucket, and their scrapes.
    pub(super) responses: ResponseBuckets,
    /// Per-route counters of the current interval, by global route id.
    pub(super) routes: Vec<crate::model::routes::GatewayRouteRt>,
    /// The `limit_req` node and the `limit_conn` count.
    pub(super) limit_req: crate::model::admission::LimitReq,
    pub(super) conns: u32,
    /// The Envoy cluster, for an Envoy gateway.
    pub(super) envoy: Option<EnvoyRt>,
    pub(super) totals: GatewayTotals,
}

impl GatewayRt {
    /// Gateway `spec` at the start, its stream from the run's `seed`; `header_times`:
    /// the system streams bodies, so the time to the header is kept apart; `routes`:
    /// how many routes the incident names.
    pub(super) fn new(spec: &GatewaySpec, seed: u64, header_times: bool, routes: usize) -> Self {
        let mut rng = SimRng::stream(seed, &format!("gateway:{}", spec.name));
        GatewayRt {
            envoy: spec.envoy.as_ref().map(|e| EnvoyRt::new(e, &mut rng)),
            balancer: Balancer::new(spec.balancer, spec.max_fails, spec.fail_timeout),
            rng,
            limit_req: Default::default(),
            conns: 0,
            interval_requests: 0,
            interval_status: [0; N_STATUSES],
            interval_truncated: 0,
            latency: Latencies::new(),
            ok_latency: Latencies::new(),
            header_latency: header_times.then(Latencies::new),
            responses: ResponseBuckets::new(),
            routes: (0..routes).map(|_| Default::default()).collect(),
            totals: GatewayTotals {
                name: spec.name.clone(),
                ..Default::default()
            },
        }
    }
}

/// What the gateway does after a failed attempt.
enum NextStep {
    /// Try the next peer.
    TryNext,
    /// Answer the client with this status.
    Answer(u16),
    /// Not a gateway request: the direct caller sees the failure.
    Direct(AttemptOutcome),
    /// The attempt was already over (a late timer).
    Stale,
}

impl World {
    /// Route a gateway event to its rule.
    pub(super) fn on_gateway_event(&mut self, e: GatewayEvent, sched: &mut Scheduler<Event>) {
        match e {
            GatewayEvent::ConnectTimeout { req, attempt } => {
                self.on_connect_timeout(req, attempt, sched)
            }
            GatewayEvent::ReadTimeout { req, attempt } => self.on_read_timeout(req, attempt, sched),
            GatewayEvent::Admit { req, attempt } => self.on_admit(req, attempt, sched),
            GatewayEvent::RouteTimeout { req } => self.on_route_timeout(req, sched),
            GatewayEvent::EnvoyRetry { req, attempt } => self.on_envoy_retry(req, attempt, sched),
            GatewayEvent::Dequeue { gateway } => self.on_envoy_dequeue(gateway as usize, sched),
            GatewayEvent::OutlierTick { gateway } => self.on_outlier_tick(gateway as usize, sched),
        }
    }

    /// Send `req` to the next peer, trying further peers while connections are refused
    /// at once (a loop: the number of peers never deepens the stack), or answer when
    /// no peer is left.
    pub(super) fn gateway_try(&mut self, req: Key, sched: &mut Scheduler<Event>) {
        if let Some(g) = self.envoy_gateway_of(req) {
            self.envoy_route(req, g, sched);
            return;
        }
        loop {
            let Some(p) = self.choose_peer(req, sched) else {
                return;
            };
            let Some(request) = self.requests.get_mut(req) else {
                return;
            };
            let g = request.gateway.map_or(0, |g| g as usize);
            if !request.tried.is_empty() {
                self.gateways[g].totals.retries += 1;
            }
            request.attempt = request.attempt.wrapping_add(1);
            request.tried.push(p);
            let attempt = request.attempt;
            if self.connect(req, p, sched) != Connect::Refused {
                return;
            }
            match self.upstream_failure(req, attempt, Failure::Error, false, sched) {
                NextStep::TryNext => continue,
                NextStep::Answer(status) => {
                    self.finish_gateway(req, status, sched);
                    return;
                }
                NextStep::Direct(outcome) => {
                    self.attempt_ended(req, outcome, sched);
                    return;
                }
                NextStep::Stale => return,
            }
        }
    }

    /// The peer for the next try of `req`, or None after answering it 502 when no peer
    /// can be tried ("no live upstreams": every untried peer is marked failed).
    fn choose_peer(&mut self, req: Key, sched: &mut Scheduler<Event>) -> Option<usize> {
        let now = sched.now();
        let request = self.requests.get_mut(req)?;
        let g = request.gateway.map_or(0, |g| g as usize);
        let gw = &mut self.gateways[g];
        if request.tried.is_empty() {
            request.tries = gw
                .balancer
                .tries(self.scenario.gateways[g].next_upstream_tries);
        }
        let chosen = gw
            .balancer
            .select(&request.tried, &mut request.draws, now, &mut gw.rng);
        if chosen.is_none() {
            gw.totals.no_live_upstreams += 1;
            self.finish_gateway(req, 502, sched);
        }
        chosen
    }

    pub(super) fn on_connect_timeout(
        &mut self,
        req: Key,
        attempt: u16,
        sched: &mut Scheduler<Event>,
    ) {
        let Some(request) = self.requests.get(req) else {
            return;
        };
        if request.attempt == attempt && matches!(request.phase, ReqPhase::Connecting { .. }) {
            self.upstream_failed(req, attempt, Failure::Timeout, false, sched);
        }
    }

    pub(super) fn on_read_timeout(&mut self, req: Key, attempt: u16, sched: &mut Scheduler<Event>) {
        let Some(request) = self.requests.get(req) else {
            return;
        };
        if request.attempt != attempt {
            return;
        }
        if let ReqPhase::Sent { handler } = request.phase {
            // nginx closes the upstream connection on a timeout.
            self.caller_disconnected(handler, sched);
            self.upstream_failed(req, attempt, Failure::Timeout, true, sched);
        }
    }

    /// The upstream connection of `req` was reset (the process died under it).
    pub(super) fn upstream_reset(&mut self, req: Key, attempt: u16, sched: &mut Scheduler<Event>) {
        self.upstream_failed(req, attempt, Failure::Error, true, sched);
    }

    /// One upstream attempt failed after it was under way (timeout, reset, a
    /// handshake that never completed): the gateway tries the next peer or answers.
    pub(super) fn upstream_failed(
        &mut self,
        req: Key,
        attempt: u16,
        failure: Failure,
        sent: bool,
        sched: &mut Scheduler<Event>,
    ) {
        let after_header = self
            .requests
            .get(req)
            .is_some_and(|q| q.attempt == attempt && q.gateway.is_some() && q.header_sent());
        if sent && after_header {
            // The upstream broke off after the header (a read timeout between two
            // reads of the body, a reset, the handler's error): there is no other
            // status to give and no other upstream to try.
            self.response_truncated(req, AttemptOutcome::Reset, sched);
            return;
        }
        if self.envoy_gateway_of(req).is_some() {
            let outcome = match (failure, sent) {
                (Failure::Timeout, true) => AttemptOutcome::Timeout,
                (Failure::Error, true) => AttemptOutcome::Reset,
                // A refused or timed-out connection: UF.
                (_, false) => AttemptOutcome::ConnectFailure,
            };
            self.envoy_try_failed(req, attempt, outcome, sched);
            return;
        }
        match self.upstream_failure(req, attempt, failure, sent, sched) {
            NextStep::TryNext => self.gateway_try(req, sched),
            NextStep::Answer(status) => self.finish_gateway(req, status, sched),
            NextStep::Direct(outcome) => self.attempt_ended(req, outcome, sched),
            NextStep::Stale => {}
        }
    }

    /// Count a failed attempt against its peer and decide what comes next
    /// (`ngx_http_upstream_next`): the next peer, when tries are left,
    /// `proxy_next_upstream` lists the failure and the request may be resent; otherwise
    /// an answer with this, the last failure's, status.
    fn upstream_failure(
        &mut self,
        req: Key,
        attempt: u16,
        failure: Failure,
        sent: bool,
        sched: &mut Scheduler<Event>,
    ) -> NextStep {
        let now = sched.now();
        match self.requests.get(req) {
            Some(request) if request.attempt == attempt => {}
            _ => return NextStep::Stale,
        }
        let Some(request) = self.end_attempt(req, sched) else {
            return NextStep::Stale;
        };
        let peer = request.tried.last().copied();
        let Some(g) = request.gateway else {
            // A direct client sees the failure itself.
            return NextStep::Direct(if sent {
                AttemptOutcome::Reset
            } else {
                AttemptOutcome::ConnectFailure
            });
        };
        let g = g as usize;
        let status = match failure {
            Failure::Error => 502,
            Failure::Timeout => 504,
        };
        let nu = self.scenario.gateways[g].next_upstream;
        let again = self
            .requests
            .get(req)
            .is_some_and(|q| self.may_try_again(q, g, sent));
        if let Some(p) = peer {
            self.gateways[g].balancer.failed(p, now);
        }
        let listed = match failure {
            Failure::Error => nu.error,
            Failure::Timeout => nu.timeout,
        };
        if listed && again {
            NextStep::TryNext
        } else {
            NextStep::Answer(status)
        }
    }

    /// Whether `req` may go to another server of gateway `g` after this try: a try is
    /// left, and the request was not sent yet, is idempotent, or `proxy_next_upstream`
    /// lists `non_idempotent` (nginx resends no POST, PATCH or LOCK it has sent).
    fn may_try_again(&self, request: &Request, g: usize, sent: bool) -> bool {
        let caller_method = match request.caller {
            Caller::Client(c) => self.scenario.clients[c as usize].method,
            Caller::Handler(_) | Caller::Probe { .. } => Method::Idempotent,
        };
        let method = method_of(&self.scenario, request.route, caller_method);
        let tries_left = (request.tried.len() as u32) < request.tries;
        tries_left
            && (!sent
                || method == Method::Idempotent
                || self.scenario.gateways[g].next_upstream.non_idempotent)
    }

    /// An upstream of nginx gateway `g` answered the current try of `req` with
    /// `code`. nginx tries the next server when `proxy_next_upstream` lists the status
    /// (`http_500`..`http_504`, `http_429`) and [`Self::may_try_again`], and counts the
    /// try as the server's failure (`max_fails`); otherwise the answer, a listed one on
    /// the last try included, passes through and the server counts a success
    /// (`ngx_http_upstream_test_next`, `ngx_http_upstream_next`).
    pub(super) fn nginx_answered(
        &mut self,
        req: Key,
        g: usize,
        code: u16,
        sched: &mut Scheduler<Event>,
    ) {
        let Some(request) = self.requests.get(req) else {
            return;
        };
        let peer = request.tried.last().copied();
        let next = self.scenario.gateways[g].next_upstream.lists_status(code)
            && self.may_try_again(request, g, true);
        if !next {
            if let Some(p) = peer {
                self.gateways[g].balancer.succeeded(p);
            }
            self.forward_answer(req, code, sched);
            return;
        }
        self.end_attempt(req, sched);
        if let Some(p) = peer {
            self.gateways[g].balancer.failed(p, sched.now());
        }
        self.gateway_try(req, sched);
    }

    /// The gateway answers the current attempt of `req` with `status`.
    pub(super) fn finish_gateway(&mut self, req: Key, status: u16, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(request) = self.requests.get(req) else {
            return;
        };
        let g = request.gateway.map_or(0, |g| g as usize);
        let latency = now.saturating_sub(request.arrived);
        let route = request.route;
        self.release_conn(req, sched);
        self.record_gateway_response(g, status, latency, now, false);
        self.record_route_response(g, route, status, latency, false);
        self.attempt_ended(req, AttemptOutcome::Status(status), sched);
    }

    /// The Envoy gateway `req` goes through, if it goes through one.
    pub(super) fn envoy_gateway_of(&self, req: Key) -> Option<usize> {
        let g = self.requests.get(req)?.gateway? as usize;
        self.gateways[g].envoy.is_some().then_some(g)
    }

    pub(super) fn record_gateway_response(
        &mut self,
        g: usize,
        status: u16,
        latency: Nanos,
        now: Nanos,
        truncated: bool,
    ) {
        let i = status_index(status);
        let gw = &mut self.gateways[g];
        gw.interval_status[i] += 1;
        gw.totals.by_status[i] += 1;
        gw.latency.record(latency);
        gw.responses.record(i, latency);
        if truncated {
            // Logged as the 200 it began as, but not a success: the client got less
            // than it asked for.
            gw.totals.truncated += 1;
            gw.interval_truncated += 1;
        } else if status == 200 {
            gw.ok_latency.record(latency);
        }
        if status >= 500 {
            gw.totals.last_5xx = Some(now);
        }
        if gw.totals.first[i].is_none() {
            gw.totals.first[i] = Some(now);
            if status != 200 {
                let name = self.scenario.gateways[g].name.clone();
                let detail = match status {
                    429 => "first 429: rejected by a rate or concurrency limit".to_string(),
                    499 => "first 499: a client gave up before the response".to_string(),
                    500 => "first 500 passed through from the upstream".to_string(),
                    502 => "first 502: upstream refused, reset, or no live upstream".to_string(),
                    503 => "first 503".to_string(),
                    _ => "first 504: upstream timed out".to_string(),
                };
                self.occurrences.push(Occurrence {
                    at: now,
                    kind: "first_status",
                    component: name,
                    detail,
                    status: Some(status),
                    replica: None,
                    label: None,
                });
            }
        }
    }
}
