//! The caller's side of an exchange: a client's, or the HTTP client of a handler's
//! `call` step. Each attempt asks the caller's circuit breaker, is sent, and ends with
//! an outcome; the caller's retrier then retries it after a back-off or gives up, and
//! the final answer goes to whoever waits (the client's counters, or the handler that
//! made the call). The rules are `retry.rs` and `breaker.rs`; this module is their
//! wiring to requests.
//!
//! A retrier and a breaker are per instance: one per client, and one per call step in
//! each replica process (a restarted process starts with a full retry quota and a closed
//! breaker, as a new SDK client would). The timeout of a client or a call is per attempt:
//! each attempt gets its own (an SDK's attempt timeout, Go's `http.Client.Timeout`
//! around each try); Hystrix's execution timeout shortens it when the breaker is Hystrix.
//! A breaker guards each attempt, and an attempt it refuses fails at once and is not
//! retried.

use super::routes::route_id;
use crate::engine::{Key, Nanos, Scheduler, SimRng};

use super::breaker::{Breaker, BreakerSpec, BreakerState};
use super::client::ClientRt;
use super::event::*;
use super::gateway::least_request_choice;
use super::replica::Replica;
use super::request::*;
use super::retry::{AttemptOutcome, RetryPolicy, RetryState, RetryTotals, Verdict};
use super::service::ServiceRt;
use super::spec::{EnvoyLbPolicy, Method, Step, Target};
use super::tally::Tally;
use super::world::World;
use crate::outcome::CallerCounts;

/// The live retrier and breaker of one caller instance, and its own load balancer
/// when it calls a service directly with `lb_policy` `least_request` or `random`.
pub(super) struct CallerRt {
    pub(super) retry: RetryState,
    pub(super) breaker: Option<Breaker>,
    /// Its attempts in flight per replica: what `least_request` compares (a sidecar's
    /// `rq_active` per host, counted by this caller alone).
    pub(super) in_flight: Tally,
    /// Its balancer's draws (None while it balances round robin).
    pub(super) lb_rng: Option<SimRng>,
}

impl CallerRt {
    pub(super) fn new(
        retry: &RetryPolicy,
        breaker: Option<&BreakerSpec>,
        lb_rng: Option<SimRng>,
    ) -> CallerRt {
        CallerRt {
            retry: RetryState::new(retry),
            breaker: breaker.map(Breaker::new),
            in_flight: Tally::default(),
            lb_rng,
        }
    }

    /// Pick a replica of `endpoints` by `policy` (not round robin: the rotations of
    /// clients and called services decide those) and count the attempt in flight to it.
    fn balance(&mut self, policy: EnvoyLbPolicy, endpoints: &[usize]) -> Option<usize> {
        let rng = self.lb_rng.as_mut()?;
        let pick = match policy {
            // Envoy's default choice_count.
            EnvoyLbPolicy::LeastRequest => least_request_choice(endpoints, &self.in_flight, 2, rng),
            EnvoyLbPolicy::Random | EnvoyLbPolicy::RoundRobin => {
                (!endpoints.is_empty()).then(|| endpoints[rng.below(endpoints.len())])
            }
        }?;
        self.in_flight.add(pick);
        Some(pick)
    }

    /// An attempt to `replica` is over: one fewer in flight for the caller's own
    /// balancer (a round-robin caller counts nothing).
    fn attempt_left(&mut self, replica: usize) {
        if self.lb_rng.is_some() {
            self.in_flight.remove(replica);
        }
    }
}

/// Counts of a caller over the run and over the current interval (they outlive the
/// processes of a call step: kept per client and per service and step).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CallerTotals {
    pub(super) retry: RetryTotals,
    pub(super) rejected: u64,
    pub(super) bulkhead_rejected: u64,
    pub(super) breaker_opened: u64,
    pub(super) ok: u64,
    pub(super) failed: u64,
    pub(super) interval_attempts: u64,
    pub(super) interval_retries: u64,
    pub(super) interval_failed: u64,
    pub(super) interval_rejected: u64,
}

impl CallerTotals {
    /// The run's counts, for the outcome.
    pub(super) fn counts(&self) -> CallerCounts {
        CallerCounts {
            attempts: self.retry.attempts,
            retries: self.retry.retries,
            retries_exhausted: self.retry.exhausted,
            retries_denied_quota: self.retry.denied_quota,
            retries_denied_throttled: self.retry.denied_throttled,
            retries_denied_budget: self.retry.denied_budget,
            breaker_rejected: self.rejected - self.bulkhead_rejected,
            bulkhead_rejected: self.bulkhead_rejected,
            breaker_opened: self.breaker_opened,
            ok: self.ok,
            failed: self.failed,
        }
    }

    /// The exchange is over, answered or failed (counted here, where the caller's parts
    /// are at hand, rather than looked up again when the request ends).
    fn exchange_ended(&mut self, success: bool) {
        if success {
            self.ok += 1;
        } else {
            self.failed += 1;
            self.interval_failed += 1;
        }
    }

    /// Start the next interval.
    pub(super) fn clear_interval(&mut self) {
        self.interval_attempts = 0;
        self.interval_retries = 0;
        self.interval_failed = 0;
        self.interval_rejected = 0;
    }
}

/// Which caller instance a request belongs to.
type Instance = Site;

/// One caller instance's configuration and live state, borrowed together (from
/// disjoint fields of the world) for one decision, without copying the policies.
struct Parts<'a> {
    retry: &'a RetryPolicy,
    breaker: Option<&'a BreakerSpec>,
    bulkhead: Option<u32>,
    timeout: Option<Nanos>,
    idempotent: bool,
    rt: &'a mut CallerRt,
    totals: &'a mut CallerTotals,
    rng: &'a mut SimRng,
}

/// Borrow the parts of caller instance `who`; None if it has none (a call whose
/// handler's step is no call, which cannot happen for a live request). Inlined: it
/// runs twice per attempt, and a client's parts are a few field borrows.
#[inline]
fn parts<'a>(
    clients: &'a mut [ClientRt],
    replicas: &'a mut [Replica],
    services: &'a mut [ServiceRt],
    who: Instance,
) -> Option<Parts<'a>> {
    match who {
        Instance::Client(c) => {
            let c = c as usize;
            let client = clients.get_mut(c)?;
            Some(Parts {
                retry: &client.retry_policy,
                breaker: client.breaker_spec.as_ref(),
                bulkhead: client.bulkhead,
                timeout: client.timeout,
                idempotent: client.idempotent,
                rt: &mut client.caller,
                totals: &mut client.caller_totals,
                rng: &mut client.rng,
            })
        }
        Instance::Probe => None,
        Instance::Call { replica, step } => call_parts(replicas, services, replica, step),
    }
}

/// [`parts`] of a call step's caller in one replica process (kept out of line: the
/// step's lookup is the larger part and only calls need it).
#[inline(never)]
fn call_parts<'a>(
    replicas: &'a mut [Replica],
    services: &'a mut [ServiceRt],
    replica: u32,
    step: u32,
) -> Option<Parts<'a>> {
    let step = step as usize;
    let rep = replicas.get_mut(replica as usize)?;
    let svc = services.get_mut(rep.service)?;
    let Some(Step::Call {
        retry,
        breaker,
        timeout,
        bulkhead,
        ..
    }) = rep.spec.handler.steps.get(step)
    else {
        return None;
    };
    if svc.call_totals.len() <= step {
        svc.call_totals.resize(step + 1, CallerTotals::default());
    }
    Some(Parts {
        retry,
        breaker: breaker.as_ref(),
        bulkhead: *bulkhead,
        timeout: *timeout,
        idempotent: true,
        rt: rep.callers.get_mut(step)?.as_mut()?,
        totals: &mut svc.call_totals[step],
        rng: &mut svc.rng,
    })
}

impl World {
    fn parts(&mut self, who: Instance) -> Option<Parts<'_>> {
        parts(
            &mut self.clients,
            &mut self.replicas,
            &mut self.services,
            who,
        )
    }

    /// Record a breaker's transition as an occurrence, at the instant it happened (a
    /// Hystrix breaker trips at a health snapshot, before the call that finds it open).
    fn note_breaker(&mut self, who: Instance, state: BreakerState, now: Nanos) {
        let mut at = now;
        if state == BreakerState::Open {
            if let Some(p) = self.parts(who) {
                p.totals.breaker_opened += 1;
                at = p.rt.breaker.as_ref().map_or(now, |b| b.opened_at());
            }
        }
        let (component, detail) = match who {
            Instance::Probe => return,
            Instance::Client(c) => {
                let c = c as usize;
                (
                    self.scenario.clients[c].name.clone(),
                    format!(
                        "circuit breaker of client {}",
                        self.scenario.clients[c].name
                    ),
                )
            }
            Instance::Call { replica, step } => {
                let rep = &self.replicas[replica as usize];
                let svc = &self.scenario.services[rep.service];
                let target = match self
                    .spec_of(replica as usize)
                    .handler
                    .steps
                    .get(step as usize)
                {
                    Some(Step::Call { service, .. }) => {
                        self.scenario.services[*service].name.clone()
                    }
                    _ => String::new(),
                };
                (
                    svc.name.clone(),
                    format!(
                        "circuit breaker of {}-{} on its calls to {target}",
                        svc.name, rep.ordinal
                    ),
                )
            }
        };
        let what = match state {
            BreakerState::Open => "opened: calls fail at once",
            BreakerState::HalfOpen => "half-open: trial calls let through",
            BreakerState::Closed => "closed: calls flow again",
        };
        self.note(
            at,
            state.event_kind(),
            &component,
            format!("{detail} {what}"),
        );
    }

    /// Send the next attempt of `req` (its first, or a retry): ask the breaker, count it,
    /// arm its timeout, and hand it to the gateway or connect it to a replica.
    pub(super) fn begin_attempt(&mut self, req: Key, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(q) = self.requests.get_mut(req) else {
            return;
        };
        let who = q.site;
        let Some(p) = parts(
            &mut self.clients,
            &mut self.replicas,
            &mut self.services,
            who,
        ) else {
            return;
        };
        let mut entered = None;
        // A full bulkhead fails the call at once (BulkheadFullException), before the
        // breaker is asked: a half-open breaker's trial permit is never spent on a call
        // that does not run.
        let mut allowed = true;
        if p.bulkhead.is_some_and(|max| p.rt.retry.active >= max) {
            allowed = false;
            p.totals.bulkhead_rejected += 1;
        } else if let (Some(spec), Some(breaker)) = (p.breaker, p.rt.breaker.as_mut()) {
            (allowed, entered) = breaker.permit(spec, now);
        }
        let timeout = match (p.timeout, p.breaker.and_then(|b| b.call_timeout())) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let ReqPhase::Connecting { .. } = std::mem::replace(&mut q.phase, ReqPhase::Idle) {
            self.request_timers.end_handshake(req, sched);
        }
        if allowed {
            let retrying = q.exchange.retrying;
            p.rt.retry.attempt_sent(&mut q.exchange);
            p.totals.interval_attempts += 1;
            p.totals.interval_retries += u64::from(retrying);
            p.totals.retry.sent(retrying);
            q.arrived = now;
            q.tried.clear();
            q.tries = 0;
            q.draws = 0;
            q.holds_conn = false;
        } else {
            p.totals.interval_rejected += 1;
            p.totals.rejected += 1;
            p.totals.exchange_ended(false);
            // A retry refused before it was sent gives its place in the budget back.
            if std::mem::take(&mut q.exchange.retrying) {
                p.rt.retry.active_retries = p.rt.retry.active_retries.saturating_sub(1);
            }
        }
        if let Some(state) = entered {
            self.note_breaker(who, state, now);
        }
        if !allowed {
            self.exchange_over(req, who, AttemptOutcome::Rejected, false, sched);
            return;
        }
        if let Some(t) = timeout {
            let timer = sched.timeout(t, Event::Client(ClientEvent::GiveUp { req }));
            if let Some(old) = self.timers_of(req).and_then(|t| t.give_up.replace(timer)) {
                sched.cancel(old);
            }
        }
        self.send_attempt(req, who, sched);
    }

    /// Send the attempt of `req` on its way: to the caller's gateway, or to a replica
    /// of the service it calls, picked by its balancer.
    fn send_attempt(&mut self, req: Key, who: Instance, sched: &mut Scheduler<Event>) {
        match who {
            // Probes are sent by the kubelet's own path, never through here.
            Instance::Probe => {}
            Instance::Client(c) => match self.scenario.clients[c as usize].target {
                Target::Service(s)
                    if self.scenario.clients[c as usize].lb_policy != EnvoyLbPolicy::RoundRobin =>
                {
                    let policy = self.scenario.clients[c as usize].lb_policy;
                    let pick = self.clients[c as usize]
                        .caller
                        .balance(policy, &self.services[s].endpoints);
                    self.connect_direct(req, pick, sched);
                }
                Target::Gateway(g) => {
                    let route = self.requests.get(req).and_then(|q| route_id(q.route));
                    let gw = &mut self.gateways[g];
                    gw.interval_requests += 1;
                    gw.totals.requests += 1;
                    if let Some(rt) = route.and_then(|id| gw.routes.get_mut(id)) {
                        rt.requests += 1;
                    }
                    self.gateway_accept(req, g, sched);
                }
                Target::Service(s) => {
                    let endpoints = &self.services[s].endpoints;
                    let pick = self.clients[c as usize].rr.pick_from(endpoints);
                    self.connect_direct(req, pick, sched);
                }
            },
            Instance::Call { replica, step } => {
                let Some(Step::Call {
                    service, lb_policy, ..
                }) = self
                    .spec_of(replica as usize)
                    .handler
                    .steps
                    .get(step as usize)
                else {
                    return;
                };
                let (target, policy) = (*service, *lb_policy);
                let pick = if policy == EnvoyLbPolicy::RoundRobin {
                    let svc = &mut self.services[target];
                    svc.call_rr.pick_from(&svc.endpoints)
                } else {
                    let caller = self.replicas[replica as usize]
                        .callers
                        .get_mut(step as usize)
                        .and_then(|c| c.as_mut());
                    caller.and_then(|c| c.balance(policy, &self.services[target].endpoints))
                };
                self.connect_direct(req, pick, sched);
            }
        }
    }

    /// The current attempt of `req` ended with `outcome` (the gateway, the listener and
    /// the handler have done their part): let the breaker count it, then retry after a
    /// back-off or end the exchange.
    pub(super) fn attempt_ended(
        &mut self,
        req: Key,
        outcome: AttemptOutcome,
        sched: &mut Scheduler<Event>,
    ) {
        let now = sched.now();
        let Some(q) = self.requests.get_mut(req) else {
            return;
        };
        q.delayed = false;
        // Live (just found): the slot's timers are this request's.
        self.request_timers.end_attempt(req, q, true, sched);
        let who = q.site;
        let Some(p) = parts(
            &mut self.clients,
            &mut self.replicas,
            &mut self.services,
            who,
        ) else {
            self.exchange_over(req, who, outcome, outcome.is_success(), sched);
            return;
        };
        let success = outcome.is_success();
        p.rt.retry.attempt_over(&mut q.exchange);
        if q.gateway.is_none() {
            // A direct attempt's replica is the last it tried.
            if let Some(&r) = q.tried.last() {
                p.rt.attempt_left(r);
            }
        }
        let mut entered = None;
        if let (Some(spec), Some(breaker)) = (p.breaker, p.rt.breaker.as_mut()) {
            let took = now.saturating_sub(q.arrived);
            entered = breaker.record(spec, now, !success, took);
        }
        let verdict = if success {
            p.rt.retry.succeeded(p.retry, &q.exchange);
            None
        } else {
            // A route's method decides over the caller's.
            let idempotent = route_id(q.route)
                .and_then(|id| self.scenario.routes.get(id))
                .map_or(p.idempotent, |r| r.method == Method::Idempotent);
            let v =
                p.rt.retry
                    .failed(p.retry, &mut q.exchange, outcome, idempotent, p.rng);
            if let Verdict::GiveUp(why) = v {
                p.totals.retry.not_retried(why);
            }
            Some(v)
        };
        if !matches!(verdict, Some(Verdict::Retry(_))) {
            p.totals.exchange_ended(success);
        }
        if let Some(state) = entered {
            self.note_breaker(who, state, now);
        }
        match verdict {
            Some(Verdict::Retry(wait)) => {
                sched.after(wait, Event::Client(ClientEvent::Retry { req }));
            }
            _ => self.exchange_over(req, who, outcome, success, sched),
        }
    }

    /// A request ends without an outcome because its caller is gone (a cancelled or
    /// killed handler): give its retrier back the attempt or the retry it counted.
    pub(super) fn exchange_dropped(&mut self, request: &Ended) {
        let mut exchange = request.exchange;
        let in_attempt = request.phase != ReqPhase::Idle;
        // The replica of the attempt in flight, for the caller's own balancer.
        let replica = match request.phase {
            ReqPhase::Connecting { replica, .. } => Some(replica as usize),
            ReqPhase::Sent { handler } => self.handlers.get(handler).map(|h| h.replica),
            ReqPhase::Idle => None,
        };
        if let Some(p) = self.parts(request.site) {
            if let Some(r) = replica {
                p.rt.attempt_left(r);
            }
            if in_attempt {
                p.rt.retry.attempt_over(&mut exchange);
            } else if exchange.retrying {
                p.rt.retry.active_retries = p.rt.retry.active_retries.saturating_sub(1);
            }
        }
    }

    /// A retry's back-off is over: send the next attempt, unless the exchange ended.
    pub(super) fn on_retry_due(&mut self, req: Key, sched: &mut Scheduler<Event>) {
        if self
            .requests
            .get(req)
            .is_some_and(|q| q.phase == ReqPhase::Idle && q.exchange.retrying)
        {
            self.begin_attempt(req, sched);
        }
    }

    /// The exchange is over with `outcome` (already counted in the caller's totals;
    /// `success`: [`AttemptOutcome::is_success`], worked out once by the caller): the
    /// request ends and its caller learns it. Always inlined: nearly every exchange
    /// ends through `attempt_ended`, and the call's entry and exit cost more than a
    /// direct exchange's work here.
    #[inline(always)]
    fn exchange_over(
        &mut self,
        req: Key,
        who: Instance,
        outcome: AttemptOutcome,
        success: bool,
        sched: &mut Scheduler<Event>,
    ) {
        let now = sched.now();
        let Some(request) = self.take_request(req, sched) else {
            return;
        };
        match (who, request.caller) {
            (Instance::Client(c), _) => {
                let client = &mut self.clients[c as usize];
                if success {
                    client.totals.ok += 1;
                    client.interval_ok += 1;
                    client.latency.add(now.saturating_sub(request.first_sent));
                } else {
                    client.totals.failed += 1;
                    client.interval_failed += 1;
                    match outcome {
                        AttemptOutcome::Timeout => client.totals.gave_up += 1,
                        AttemptOutcome::ConnectFailure => client.totals.refused += 1,
                        _ => {}
                    }
                }
            }
            (Instance::Probe, Caller::Probe { replica, kind }) => {
                self.probe_answered(replica, kind, outcome, sched);
            }
            (Instance::Call { .. }, Caller::Handler(parent)) => {
                if success {
                    if let Some(hd) = self.handlers.get_mut(parent) {
                        if hd.phase == (super::handler::HandlerPhase::Calling { req }) {
                            hd.step += 1;
                            self.advance(parent, sched);
                        }
                    }
                } else {
                    self.call_failed(parent, req, sched);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The caller's own `least_request`: two draws with replacement over replicas 0 and
    /// 1, the one with fewer of its attempts in flight; with 3 in flight to 0 and none to
    /// 1 it picks 0 only when both draws are 0: a quarter of the time. `random` picks
    /// each half the time. Each pick counts one more attempt in flight to it.
    #[test]
    fn a_caller_balances_by_its_own_attempts_in_flight() {
        let none = RetryPolicy::profile(crate::model::retry::RetryProfile::None);
        let n = 20_000;
        for (policy, share) in [
            (EnvoyLbPolicy::LeastRequest, 0.25),
            (EnvoyLbPolicy::Random, 0.5),
        ] {
            let mut c = CallerRt::new(&none, None, Some(SimRng::stream(7, "lb test")));
            for _ in 0..3 {
                c.in_flight.add(0);
            }
            let mut zeros = 0;
            for _ in 0..n {
                let pick = c.balance(policy, &[0, 1]).expect("a replica");
                assert_eq!(c.in_flight.get(pick), 1 + 3 * u32::from(pick == 0));
                c.in_flight.remove(pick);
                zeros += usize::from(pick == 0);
            }
            let got = zeros as f64 / f64::from(n);
            let se = (share * (1.0 - share) / f64::from(n)).sqrt();
            assert!((got - share).abs() <= 4.0 * se, "{policy:?}: {got}");
            assert_eq!(c.balance(policy, &[]), None, "no endpoint");
        }
    }
}
