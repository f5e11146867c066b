//! The Envoy gateway (`profile: envoy`): a route to one cluster, as Envoy's router and
//! cluster manager handle a request.
//!
//! - Circuit breakers: a request finds the cluster's upstream requests at
//!   min(`max_connections`, `max_requests`) (HTTP/1.1: one request per connection) and
//!   waits for one, at most `max_pending_requests` waiting; beyond: 503 `UO` at once.
//! - Host selection by `lb_policy` over the healthy hosts (those not ejected by outlier
//!   detection; all of them in panic mode, when fewer than 50% are healthy). None: 503
//!   `UH`. A retry redraws once if it lands on a host it tried (`previous_hosts`).
//! - The route `timeout` (15 s) covers every try and back-off: 504 `UT`. A
//!   `per_try_timeout` ends one try (504 `UT` if it is not retried). A refused or
//!   timed-out connection is 503 `UF`; a connection reset under the request 503 `UC`;
//!   a 5xx answer passes through unless retried.
//! - Retries (`retry_policy`): on the `retry_on` conditions, up to `num_retries`, after
//!   a back-off drawn uniformly below 25 ms x 2^(k-1) (capped at 250 ms), while the
//!   cluster's concurrent retries stay under `max_retries` (3) or the retry budget
//!   (20% of active and pending requests, 3 at least); otherwise the failure stands,
//!   flagged `URX` when `num_retries` was reached (0 included) or `UO` when the
//!   circuit breaker refused the retry, beside its own flag (`UT,UO`, `UF,URX`).
//! - Outlier detection (`consecutive_5xx`): a host whose 5th consecutive failure (a
//!   5xx, or a connect failure, timeout or reset, which Envoy counts as 5xx by default)
//!   comes is ejected at once for `base_ejection_time` x its ejection count (at most
//!   `max_ejection_time`), if fewer than `max_ejection_percent` of the hosts (rounded
//!   down) are ejected; ejections end at the next `interval` tick after their time.
//!
//! Sources: `router.cc` / `retry_state_impl.cc` (`shouldRetry`, `RetryStateImpl`),
//! `conn_pool_base.cc` (pending requests), `resource_manager_impl.h` (retry budget),
//! `outlier_detection_impl.cc` (`ejectHost`, `checkHostForUneject`), `load_balancer_impl.cc`
//! (`chooseHost`, panic threshold 50%), `stream_info` response flags.

use std::collections::VecDeque;

use crate::engine::{Key, Nanos, Scheduler, SimRng};

use super::super::event::*;
use super::super::request::*;
use super::super::retry::AttemptOutcome;
use super::super::spec::{EnvoyLbPolicy, EnvoySpec};
use super::super::world::World;
use super::envoy_balance::{EnvoyLeastRequest, EnvoyRandom, EnvoyRoundRobin};
use crate::outcome::{EnvoyFlags, ENVOY_FLAGS};

/// Redraws of a retry that lands on a host it tried (`host_selection_retry_max_attempts`
/// is 1 once a `previous_hosts` predicate is set; without one, 0).
const RESELECTS: u32 = 1;
/// `healthy_panic_threshold`: below 50% healthy hosts, balance over all of them.
const PANIC_THRESHOLD: f64 = 0.5;

enum Lb {
    RoundRobin(EnvoyRoundRobin),
    LeastRequest(EnvoyLeastRequest),
    Random(EnvoyRandom),
}

/// One Envoy gateway's cluster state.
pub(in crate::model) struct EnvoyRt {
    lb: Lb,
    /// Every host of the cluster (the endpoints), and which are ejected until when.
    hosts: Vec<usize>,
    ejected_until: Vec<Option<Nanos>>,
    times_ejected: Vec<u32>,
    consecutive_5xx: Vec<u32>,
    /// Upstream requests in flight.
    active: u32,
    /// Requests waiting for a connection.
    pending: VecDeque<Key>,
    /// Retries scheduled or in flight.
    active_retries: u32,
    pub(in crate::model) flags: EnvoyFlags,
    /// `flags` by flag, and the retries refused, when the last time-series row closed.
    flags_at_row: [u64; ENVOY_FLAGS.len() + 1],
}

fn grow<T: Clone>(v: &mut Vec<T>, i: usize, fill: T) {
    if v.len() <= i {
        v.resize(i + 1, fill);
    }
}

impl EnvoyRt {
    pub(in crate::model) fn new(spec: &EnvoySpec, rng: &mut SimRng) -> EnvoyRt {
        EnvoyRt {
            lb: match spec.lb_policy {
                EnvoyLbPolicy::RoundRobin => Lb::RoundRobin(EnvoyRoundRobin::new(rng)),
                // Envoy's default `choice_count` is 2.
                EnvoyLbPolicy::LeastRequest => Lb::LeastRequest(EnvoyLeastRequest::new(2)),
                EnvoyLbPolicy::Random => Lb::Random(EnvoyRandom::new()),
            },
            hosts: Vec::new(),
            ejected_until: Vec::new(),
            times_ejected: Vec::new(),
            consecutive_5xx: Vec::new(),
            active: 0,
            pending: VecDeque::new(),
            active_retries: 0,
            flags: EnvoyFlags::default(),
            flags_at_row: [0; ENVOY_FLAGS.len() + 1],
        }
    }

    /// Append the interval's responses by flag and its retries refused (the `flag_*`
    /// and `retry_overflow` columns) and start the next interval.
    pub(in crate::model) fn close_interval(&mut self, row: &mut Vec<f64>) {
        let mut now = [0; ENVOY_FLAGS.len() + 1];
        now[..ENVOY_FLAGS.len()].copy_from_slice(&self.flags.by_flag());
        now[ENVOY_FLAGS.len()] = self.flags.retry_overflow;
        row.extend(
            now.iter()
                .zip(self.flags_at_row)
                .map(|(n, last)| (n - last) as f64),
        );
        self.flags_at_row = now;
    }

    fn is_ejected(&self, h: usize) -> bool {
        self.ejected_until.get(h).copied().flatten().is_some()
    }

    /// Give the load balancer the hosts it may choose from.
    fn refresh(&mut self) {
        let healthy: Vec<usize> = self
            .hosts
            .iter()
            .copied()
            .filter(|&h| !self.is_ejected(h))
            .collect();
        let panic = (healthy.len() as f64) < PANIC_THRESHOLD * self.hosts.len() as f64;
        let chosen = if panic { self.hosts.clone() } else { healthy };
        match &mut self.lb {
            Lb::RoundRobin(b) => b.set_peers(chosen),
            Lb::LeastRequest(b) => b.set_peers(chosen),
            Lb::Random(b) => b.set_peers(chosen),
        }
    }

    fn select(&mut self, tried: &[usize], rng: &mut SimRng) -> Option<usize> {
        let reselects = if tried.is_empty() { 0 } else { RESELECTS };
        match &mut self.lb {
            Lb::RoundRobin(b) => b.select(tried, reselects),
            Lb::LeastRequest(b) => b.select(tried, reselects, rng),
            Lb::Random(b) => b.select(tried, reselects, rng),
        }
    }
}

impl World {
    fn envoy_spec(&self, g: usize) -> Option<&EnvoySpec> {
        self.scenario.gateways.get(g)?.envoy.as_ref()
    }

    /// The Envoy gateway `g`'s cluster has these hosts now.
    pub(in crate::model) fn envoy_set_hosts(&mut self, g: usize, hosts: Vec<usize>) {
        if let Some(e) = self.gateways[g].envoy.as_mut() {
            e.hosts = hosts;
            e.refresh();
        }
    }

    /// Schedule the outlier detection ticks of every Envoy gateway that has it.
    pub(in crate::model) fn start_envoys(&mut self, sched: &mut Scheduler<Event>) {
        for g in 0..self.gateways.len() {
            if let Some(o) = self.envoy_spec(g).and_then(|e| e.outlier_detection) {
                sched.after(
                    o.interval,
                    Event::Gateway(GatewayEvent::OutlierTick { gateway: g as u32 }),
                );
            }
        }
    }

    /// A downstream request reaches the Envoy route: start its route timeout, then try.
    pub(in crate::model) fn envoy_route(
        &mut self,
        req: Key,
        g: usize,
        sched: &mut Scheduler<Event>,
    ) {
        if let Some(t) = self.envoy_spec(g).and_then(|e| e.route_timeout) {
            let timer = sched.timeout(t, Event::Gateway(GatewayEvent::RouteTimeout { req }));
            if let Some(old) = self.timers_of(req).and_then(|t| t.route.replace(timer)) {
                sched.cancel(old);
            }
        }
        self.envoy_try(req, g, sched);
    }

    /// One try: through the circuit breakers, to a host, onto a connection.
    fn envoy_try(&mut self, req: Key, g: usize, sched: &mut Scheduler<Event>) {
        let Some(spec) = self.scenario.gateways[g].envoy.as_ref() else {
            return;
        };
        let limit = spec.max_connections.min(spec.max_requests);
        let max_pending = spec.max_pending_requests;
        let gw = &mut self.gateways[g];
        let Some(e) = gw.envoy.as_mut() else {
            return;
        };
        if e.active >= limit {
            if (e.pending.len() as u64) < u64::from(max_pending) {
                e.pending.push_back(req);
            } else {
                e.flags.uo += 1;
                self.finish_gateway(req, 503, sched);
            }
            return;
        }
        let Some(q) = self.requests.get_mut(req) else {
            return;
        };
        let Some(host) = e.select(&q.tried, &mut gw.rng) else {
            e.flags.uh += 1;
            self.finish_gateway(req, 503, sched);
            return;
        };
        e.active += 1;
        if let Lb::LeastRequest(b) = &mut e.lb {
            b.started(host);
        }
        q.holds_conn = true;
        if !q.tried.is_empty() {
            gw.totals.retries += 1;
        }
        q.attempt = q.attempt.wrapping_add(1);
        q.tried.push(host);
        let attempt = q.attempt;
        if self.connect(req, host, sched) == super::super::listener::Connect::Refused {
            self.envoy_try_failed(req, attempt, AttemptOutcome::ConnectFailure, sched);
        }
    }

    /// The try of `req` in flight is over: free its connection, let a pending request
    /// have it (by an event: never by recursion).
    fn envoy_try_over(&mut self, req: Key, g: usize, sched: &mut Scheduler<Event>) {
        let Some(q) = self.requests.get_mut(req) else {
            return;
        };
        if !std::mem::take(&mut q.holds_conn) {
            return;
        }
        let host = q.tried.last().copied();
        let retry = std::mem::take(&mut q.upstream_retry);
        let Some(e) = self.gateways[g].envoy.as_mut() else {
            return;
        };
        e.active = e.active.saturating_sub(1);
        if retry {
            e.active_retries = e.active_retries.saturating_sub(1);
        }
        if let (Lb::LeastRequest(b), Some(h)) = (&mut e.lb, host) {
            b.finished(h);
        }
        if !e.pending.is_empty() {
            sched.after(
                Nanos::ZERO,
                Event::Gateway(GatewayEvent::Dequeue { gateway: g as u32 }),
            );
        }
    }

    /// The timeline changed the cluster's circuit breakers: as many pending requests as
    /// the new limit leaves room for are let go (one `Dequeue` each, as a freed
    /// connection would).
    pub(in crate::model) fn envoy_limits_changed(
        &mut self,
        g: usize,
        sched: &mut Scheduler<Event>,
    ) {
        let Some(spec) = self.scenario.gateways[g].envoy.as_ref() else {
            return;
        };
        let limit = spec.max_connections.min(spec.max_requests);
        let Some(e) = self.gateways[g].envoy.as_ref() else {
            return;
        };
        let room = (limit.saturating_sub(e.active) as usize).min(e.pending.len());
        for _ in 0..room {
            sched.after(
                Nanos::ZERO,
                Event::Gateway(GatewayEvent::Dequeue { gateway: g as u32 }),
            );
        }
    }

    /// A connection is free: the oldest pending request that still waits takes it.
    pub(in crate::model) fn on_envoy_dequeue(&mut self, g: usize, sched: &mut Scheduler<Event>) {
        while let Some(req) = self.gateways[g]
            .envoy
            .as_mut()
            .and_then(|e| e.pending.pop_front())
        {
            if self.requests.get(req).is_some() {
                self.envoy_try(req, g, sched);
                return;
            }
        }
    }

    /// Count an outcome against host `h` for outlier detection; eject it at its
    /// `consecutive_5xx`-th failure in a row if the cap allows.
    fn envoy_outlier(&mut self, g: usize, h: usize, failed: bool, now: Nanos) {
        let Some(o) = self.envoy_spec(g).and_then(|e| e.outlier_detection) else {
            return;
        };
        let Some(e) = self.gateways[g].envoy.as_mut() else {
            return;
        };
        grow(&mut e.consecutive_5xx, h, 0);
        if !failed {
            e.consecutive_5xx[h] = 0;
            return;
        }
        e.consecutive_5xx[h] += 1;
        if e.consecutive_5xx[h] < o.consecutive_5xx || e.is_ejected(h) {
            return;
        }
        let ejected = e.hosts.iter().filter(|&&x| e.is_ejected(x)).count() as u64;
        let cap = e.hosts.len() as u64 * u64::from(o.max_ejection_percent) / 100;
        if ejected >= cap {
            return;
        }
        grow(&mut e.times_ejected, h, 0);
        grow(&mut e.ejected_until, h, None);
        e.times_ejected[h] += 1;
        e.consecutive_5xx[h] = 0;
        let time = o
            .base_ejection_time
            .saturating_mul(u64::from(e.times_ejected[h]))
            .min(o.max_ejection_time.max(o.base_ejection_time));
        e.ejected_until[h] = Some(now.saturating_add(time));
        e.flags.ejections += 1;
        e.refresh();
        let name = self.scenario.gateways[g].name.clone();
        let ordinal = self.replicas.get(h).map_or(0, |r| r.ordinal);
        let svc = self.replicas.get(h).map_or(String::new(), |r| {
            self.scenario.services[r.service].name.clone()
        });
        self.note(
            now,
            "outlier_ejected",
            &name,
            format!(
                "outlier detection ejected {svc}-{ordinal} for {time}: {} consecutive 5xx",
                o.consecutive_5xx
            ),
        );
    }

    /// An outlier detection interval: hosts whose ejection time is over come back.
    pub(in crate::model) fn on_outlier_tick(&mut self, g: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(o) = self.envoy_spec(g).and_then(|e| e.outlier_detection) else {
            return;
        };
        sched.after(
            o.interval,
            Event::Gateway(GatewayEvent::OutlierTick { gateway: g as u32 }),
        );
        let Some(e) = self.gateways[g].envoy.as_mut() else {
            return;
        };
        let mut changed = false;
        for until in e.ejected_until.iter_mut() {
            if until.is_some_and(|t| t <= now) {
                *until = None;
                changed = true;
            }
        }
        if changed {
            e.refresh();
        }
    }

    /// Whether the route retries this failed try, and if so, schedule it.
    fn envoy_retry(
        &mut self,
        req: Key,
        g: usize,
        outcome: AttemptOutcome,
        sched: &mut Scheduler<Event>,
    ) -> bool {
        let Some(spec) = self.scenario.gateways[g].envoy.as_ref() else {
            return false;
        };
        let policy = spec.retry;
        let Some(q) = self.requests.get_mut(req) else {
            return false;
        };
        if !policy.retry_on.matches(outcome) {
            return false;
        }
        let gw = &mut self.gateways[g];
        let Some(e) = gw.envoy.as_mut() else {
            return false;
        };
        // `RetryStateImpl::shouldRetry`: a retriable failure with no retry left is
        // `URX` (with `num_retries: 0` too); one whose retry the circuit breaker
        // refuses is `UO` (`NoOverflow`: the router sets `UpstreamOverflow`).
        if q.tried.len() as u32 >= policy.attempts {
            e.flags.urx += 1;
            return false;
        }
        if let Some(b) = policy.budget {
            let base = f64::from(e.active) + e.pending.len() as f64;
            let allowed = ((b.percent / 100.0 * base).floor() as u32).max(b.min_concurrency);
            if e.active_retries >= allowed {
                e.flags.uo += 1;
                e.flags.retry_overflow += 1;
                return false;
            }
        }
        e.active_retries += 1;
        q.upstream_retry = true;
        let k = q.tried.len() as u32;
        let wait = policy.backoff.delay(k, policy.backoff.base, &mut gw.rng);
        let attempt = q.attempt;
        sched.after(
            wait,
            Event::Gateway(GatewayEvent::EnvoyRetry { req, attempt }),
        );
        true
    }

    /// A retry's back-off is over.
    pub(in crate::model) fn on_envoy_retry(
        &mut self,
        req: Key,
        attempt: u16,
        sched: &mut Scheduler<Event>,
    ) {
        let Some(q) = self.requests.get_mut(req) else {
            return;
        };
        if q.attempt != attempt || !q.upstream_retry || q.holds_conn {
            return;
        }
        let Some(g) = q.gateway else {
            return;
        };
        // The retry holds its place in the budget until it ends (a retry waiting in the
        // pending queue too).
        self.envoy_try(req, g as usize, sched);
    }

    /// The try of `req` in flight ended, `failed` or not: its timers stop, its
    /// connection is freed, outlier detection counts it. Returns the gateway.
    fn envoy_end_try(
        &mut self,
        req: Key,
        failed: bool,
        sched: &mut Scheduler<Event>,
    ) -> Option<usize> {
        let now = sched.now();
        let q = self.requests.get(req)?;
        let g = q.gateway? as usize;
        let host = q.tried.last().copied();
        self.end_attempt(req, sched);
        self.envoy_try_over(req, g, sched);
        if let Some(h) = host {
            self.envoy_outlier(g, h, failed, now);
        }
        Some(g)
    }

    /// A try of `req` failed without an answer (connect failure or timeout, per-try
    /// timeout, reset): retry it or answer with the failure's status and flag.
    pub(in crate::model) fn envoy_try_failed(
        &mut self,
        req: Key,
        attempt: u16,
        outcome: AttemptOutcome,
        sched: &mut Scheduler<Event>,
    ) {
        match self.requests.get(req) {
            Some(q) if q.attempt == attempt && q.holds_conn => {}
            _ => return,
        }
        let Some(g) = self.envoy_end_try(req, true, sched) else {
            return;
        };
        if self.envoy_retry(req, g, outcome, sched) {
            return;
        }
        let Some(e) = self.gateways[g].envoy.as_mut() else {
            return;
        };
        let status = match outcome {
            AttemptOutcome::Timeout => {
                e.flags.ut += 1;
                504
            }
            AttemptOutcome::Reset => {
                e.flags.uc += 1;
                503
            }
            _ => {
                e.flags.uf += 1;
                503
            }
        };
        self.finish_gateway(req, status, sched);
    }

    /// The upstream answered `code` to the try of `req`: pass it on, or retry a 5xx the
    /// policy retries.
    pub(in crate::model) fn envoy_response(
        &mut self,
        req: Key,
        code: u16,
        sched: &mut Scheduler<Event>,
    ) {
        let Some(g) = self.envoy_end_try(req, code >= 500, sched) else {
            return;
        };
        if code >= 500 && self.envoy_retry(req, g, AttemptOutcome::Status(code), sched) {
            return;
        }
        self.forward_answer(req, code, sched);
    }

    /// The route timeout fired: the try in flight is abandoned, the answer is 504 `UT`.
    pub(in crate::model) fn on_route_timeout(&mut self, req: Key, sched: &mut Scheduler<Event>) {
        let Some(q) = self.requests.get_mut(req) else {
            return;
        };
        self.request_timers.at(req).route = None;
        let phase = q.phase;
        let Some(g) = q.gateway.map(|g| g as usize) else {
            return;
        };
        if let ReqPhase::Sent { handler } = phase {
            self.caller_disconnected(handler, sched);
        }
        if let Some(e) = self.gateways[g].envoy.as_mut() {
            e.flags.ut += 1;
        }
        if self.header_sent(req) {
            // The route timeout spans the body too: Envoy resets a stream whose header
            // it had sent, and logs the 200 it began.
            self.response_truncated(req, AttemptOutcome::Reset, sched);
            return;
        }
        self.finish_gateway(req, 504, sched);
    }

    /// The gateway is done with `req` (answered, or its client left): free what it
    /// holds at the Envoy (connection, pending place, retry budget, route timer).
    pub(in crate::model) fn envoy_request_done(
        &mut self,
        req: Key,
        g: usize,
        sched: &mut Scheduler<Event>,
    ) {
        if let Some(t) = self.timers_of(req).and_then(|t| t.route.take()) {
            sched.cancel(t);
        }
        let (holds, retry) = match self.requests.get(req) {
            Some(q) => (q.holds_conn, q.upstream_retry),
            None => return,
        };
        if holds {
            self.envoy_try_over(req, g, sched);
        } else if retry {
            if let Some(q) = self.requests.get_mut(req) {
                q.upstream_retry = false;
            }
            if let Some(e) = self.gateways[g].envoy.as_mut() {
                e.active_retries = e.active_retries.saturating_sub(1);
            }
        }
        if let Some(e) = self.gateways[g].envoy.as_mut() {
            if e.pending.contains(&req) {
                e.pending.retain(|&k| k != req);
            }
        }
    }
}
