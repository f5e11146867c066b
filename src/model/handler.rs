//! Handlers: the server side of a request on one replica. Runs its steps in order
//! (work, a query or statement through a pool, call another service), waits on the request or a
//! background context, and answers its caller if it still has one.

use crate::engine::{Key, Nanos, Scheduler, Timer};

use super::caching::Fill;
use super::database::{Querier, QueryOutcome};
use super::event::*;
use super::pool::*;
use super::request::*;
use super::retry::AttemptOutcome;
use super::routes::NO_ROUTE;
use super::spec::{Step, WaitContext};
use super::world::World;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HandlerPhase {
    Queued,
    Working,
    Waiting {
        pool: usize,
        wait: u16,
    },
    Querying {
        pool: usize,
    },
    Calling {
        req: Key,
    },
    /// Waiting for a cache lookup's round trip (`end`: the step after the cached ones).
    Looking {
        cache: u32,
        end: u32,
    },
    /// Writing a response body: `left` writes to go, the next one pending.
    Writing {
        left: u32,
    },
    /// Waiting for another handler's fill of `key` (single-flight).
    Coalesced {
        cache: u32,
        key: u32,
    },
}

pub(super) struct Handler {
    pub(super) replica: usize,
    pub(super) origin: Option<(Key, u16)>,
    pub(super) step: usize,
    pub(super) phase: HandlerPhase,
    pub(super) waits: u16,
    pub(super) connected: Nanos,
    pub(super) cancelled: bool,
    /// Serving a kubelet probe: runs the health endpoint's steps.
    pub(super) probe: bool,
    /// Its route, by index among the service's routes.
    pub(super) route: u16,
    /// The pending acquire timeout, cancelled when the wait ends otherwise.
    pub(super) acquire_timer: Option<Timer>,
    /// Holds its allocation in the replica's memory (from its start, unless the JVM
    /// refused it with an OutOfMemoryError).
    pub(super) allocated: bool,
    /// Between a cache miss and its fill: what it will store.
    pub(super) fill: Option<Fill>,
    /// A cache's background refresh of a stale entry: no caller, no worker, not one of
    /// the service's requests; it ends once it has stored the entry.
    pub(super) refresh: bool,
}

impl World {
    /// Route a handler event to its rule.
    pub(super) fn on_handler_event(&mut self, e: HandlerEvent, sched: &mut Scheduler<Event>) {
        match e {
            HandlerEvent::StepDone { handler } => self.on_step_done(handler, sched),
            HandlerEvent::FaultDelayOver { handler } => self.on_fault_delay_over(handler, sched),
            HandlerEvent::CpuDone { replica } => self.on_replica_cpu_done(replica as usize, sched),
            HandlerEvent::AcquireTimeout { handler, wait } => {
                self.on_acquire_timeout(handler, wait, sched)
            }
            HandlerEvent::CacheAnswered { handler } => self.on_cache_answered(handler, sched),
            HandlerEvent::ChunkWritten { handler } => self.on_chunk_written(handler, sched),
        }
    }

    /// Handler `h` gets a worker and starts its first step. Always inlined into the
    /// listener's two callers (a connection accepted at once, or from the queue).
    #[inline(always)]
    pub(super) fn start_handler(&mut self, h: Key, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(handler) = self.handlers.get_mut(h) else {
            return;
        };
        let r = handler.replica;
        let queued_for = now.saturating_sub(handler.connected);
        handler.phase = HandlerPhase::Working;
        if !handler.probe {
            let route = handler.route;
            self.replicas[r].route_inflight.add(usize::from(route));
        }
        let rep = &mut self.replicas[r];
        rep.busy_workers += 1;
        rep.inflight += 1;
        let inflight = u64::from(rep.inflight);
        let s = rep.service;
        let svc = &mut self.services[s];
        svc.queue_wait.add(queued_for);
        let totals = &mut svc.totals;
        totals.started += 1;
        if queued_for > Nanos::ZERO {
            totals.waited += 1;
        }
        totals.peak_inflight = totals.peak_inflight.max(inflight);
        self.peak_live = self
            .peak_live
            .max(self.requests.len() + self.handlers.len());
        if self.handler_allocates(h, r, sched) && self.inject_fault(h, s, sched) {
            self.advance(h, sched);
        }
    }

    /// Run the handler's current step, or answer when there are none left.
    pub(super) fn advance(&mut self, h: Key, sched: &mut Scheduler<Event>) {
        self.run_step(h, 0, sched);
    }

    /// [`World::advance`] once the handler has moved on `skip` steps (a step that is
    /// done moves it on one: the handler is looked up once for both).
    fn run_step(&mut self, h: Key, skip: usize, sched: &mut Scheduler<Event>) {
        let Some(handler) = self.handlers.get_mut(h) else {
            return;
        };
        handler.step += skip;
        if handler.cancelled {
            self.end_handler(h, None, sched);
            return;
        }
        let r = handler.replica;
        let step = handler.step;
        if handler.fill.is_some_and(|f| f.end as usize == step) {
            self.cache_fill(h, sched);
            return;
        }
        let rep = &self.replicas[r];
        let s = rep.service;
        let svc = &mut self.services[s];
        let spec = &*rep.spec;
        let (steps, end) = if handler.probe {
            (&spec.probe_steps, spec.probe_steps.len())
        } else {
            let end = spec
                .handler
                .routes
                .get(usize::from(handler.route))
                .map_or(spec.handler.steps.len(), |x| x.end_step);
            (&spec.handler.steps, end)
        };
        match steps.get(step).filter(|_| step < end) {
            None => self.end_handler(h, Some(200), sched),
            Some(Step::Body { chunks, every }) => {
                let (chunks, first) = (*chunks, every.sample(&mut svc.rng));
                self.begin_body(h, chunks, first, sched);
            }
            Some(Step::Work(latency)) => {
                let d = latency.sample(&mut svc.rng);
                handler.phase = HandlerPhase::Working;
                self.start_work(h, r, d, sched);
            }
            Some(Step::Query { pool, .. }) => {
                let pool = *pool;
                let timeout = spec.pools[pool].acquire_timeout;
                match self.acquire(r, pool, Waiter::Handler(h), sched.now()) {
                    Acquire::Granted => self.begin_query(h, r, pool, false, sched),
                    Acquire::Opened => self.begin_query(h, r, pool, true, sched),
                    Acquire::Wait => {
                        if let Some(hd) = self.handlers.get_mut(h) {
                            hd.waits = hd.waits.wrapping_add(1);
                            let wait = hd.waits;
                            hd.phase = HandlerPhase::Waiting { pool, wait };
                            if let Some(t) = timeout {
                                let timer = sched.timeout(
                                    t,
                                    Event::Handler(HandlerEvent::AcquireTimeout {
                                        handler: h,
                                        wait,
                                    }),
                                );
                                hd.acquire_timer = Some(timer);
                            }
                        }
                    }
                    Acquire::Refused => self.end_handler(h, Some(500), sched),
                }
            }
            Some(Step::Call { route, .. }) => {
                let now = sched.now();
                let replica = r as u32;
                let mut request = Request::new(
                    Caller::Handler(h),
                    Site::Call {
                        replica,
                        step: step as u32,
                    },
                    None,
                    now,
                );
                request.route = route.map_or(NO_ROUTE, |id| id as u16);
                let req = self.requests.insert(request);
                if let Some(hd) = self.handlers.get_mut(h) {
                    hd.phase = HandlerPhase::Calling { req };
                }
                self.begin_attempt(req, sched);
            }
            Some(Step::Leak { fds }) => {
                let n = *fds;
                if let Some(hd) = self.handlers.get_mut(h) {
                    hd.phase = HandlerPhase::Working;
                }
                self.leak_fds(h, r, n, sched);
            }
            Some(Step::Cached { cache, end }) => {
                let (cache, end) = (*cache, *end);
                self.cache_lookup(h, cache, end, sched);
            }
        }
    }

    /// A handler's outgoing call failed (refused, error status, or timed out): the
    /// handler answers its step's error status.
    pub(super) fn call_failed(&mut self, h: Key, req: Key, sched: &mut Scheduler<Event>) {
        let Some(hd) = self.handlers.get(h) else {
            return;
        };
        if hd.phase != (HandlerPhase::Calling { req }) {
            return;
        }
        let rep = &self.replicas[hd.replica];
        let spec = &*rep.spec;
        let status = match spec.handler.steps.get(hd.step) {
            Some(Step::Call { error_status, .. }) => *error_status,
            _ => 500,
        };
        self.end_handler(h, Some(status), sched);
    }

    /// Hang up an outgoing call nobody waits for any more (its caller was cancelled or
    /// killed): the callee sees its caller disconnect.
    pub(super) fn abandon_call(&mut self, req: Key, sched: &mut Scheduler<Event>) {
        if let Some(request) = self.take_request(req, sched) {
            self.exchange_dropped(&request);
            if let ReqPhase::Sent { handler } = request.phase {
                self.caller_disconnected(handler, sched);
            }
        }
    }

    /// Handler `h` holds a connection of `pool` (`fresh`: newly opened): its query
    /// step's statement starts, by the path a job iteration's takes.
    pub(super) fn begin_query(
        &mut self,
        h: Key,
        r: usize,
        pool: usize,
        fresh: bool,
        sched: &mut Scheduler<Event>,
    ) {
        let Some(hd) = self.handlers.get_mut(h) else {
            return;
        };
        hd.phase = HandlerPhase::Querying { pool };
        if let Some(timer) = hd.acquire_timer.take() {
            sched.cancel(timer);
        }
        let (step, probe) = (hd.step, hd.probe);
        let rep = &self.replicas[r];
        let svc = &mut self.services[rep.service];
        let spec = &*rep.spec;
        let steps = if probe {
            &spec.probe_steps
        } else {
            &spec.handler.steps
        };
        // A statement's own time is drawn from the service's stream, as `work` is.
        let own_time = match steps.get(step) {
            Some(Step::Query { statement, .. }) => statement.own_time(&mut svc.rng),
            _ => None,
        };
        let db = spec.pools[pool].database;
        self.submit_statement(db, Querier::Handler(h), fresh, own_time, sched);
    }

    pub(super) fn on_step_done(&mut self, h: Key, sched: &mut Scheduler<Event>) {
        self.run_step(h, 1, sched);
    }

    /// The handler's query is over: the connection goes back to the pool, and the
    /// handler goes on, or answers 500 when the database cancelled the query (Go's
    /// `database/sql` and JDBC both return the server's error to the handler).
    pub(super) fn handler_query_over(
        &mut self,
        h: Key,
        outcome: QueryOutcome,
        sched: &mut Scheduler<Event>,
    ) {
        let Some(hd) = self.handlers.get_mut(h) else {
            return;
        };
        let HandlerPhase::Querying { pool } = hd.phase else {
            return;
        };
        hd.step += 1;
        let r = hd.replica;
        self.release(r, pool, sched);
        match outcome {
            QueryOutcome::Done => self.advance(h, sched),
            QueryOutcome::TimedOut => self.end_handler(h, Some(500), sched),
        }
    }

    pub(super) fn on_acquire_timeout(&mut self, h: Key, wait: u16, sched: &mut Scheduler<Event>) {
        let Some(hd) = self.handlers.get(h) else {
            return;
        };
        if let HandlerPhase::Waiting { pool, wait: w } = hd.phase {
            if w == wait {
                let r = hd.replica;
                self.remove_waiter(r, pool, Waiter::Handler(h), sched.now());
                let s = self.replicas[r].service;
                self.pools[s][pool].totals.timeouts += 1;
                // database/sql returns context.DeadlineExceeded, HikariCP
                // SQLTransientConnectionException: either way the handler answers 500.
                self.end_handler(h, Some(500), sched);
            }
        }
    }

    /// The caller closed the connection (gateway timeout, client gave up). A handler
    /// whose waits are bound to the request context stops at its next wait; one on a
    /// background context carries on with nobody to answer.
    pub(super) fn caller_disconnected(&mut self, h: Key, sched: &mut Scheduler<Event>) {
        let Some(hd) = self.handlers.get_mut(h) else {
            return;
        };
        hd.origin = None;
        let r = hd.replica;
        let rep = &self.replicas[r];
        let context = rep
            .spec
            .handler
            .routes
            .get(usize::from(hd.route))
            .map_or(WaitContext::Request, |x| x.context);
        if context == WaitContext::Request {
            hd.cancelled = true;
            match hd.phase {
                HandlerPhase::Waiting { pool, .. } => {
                    self.remove_waiter(r, pool, Waiter::Handler(h), sched.now());
                    self.end_handler(h, None, sched);
                }
                HandlerPhase::Calling { req } => {
                    // Go cancels the outgoing request with the context.
                    self.end_handler(h, None, sched);
                    self.abandon_call(req, sched);
                }
                // A wait for another's fill ends with the context (singleflight's
                // `DoChan` read in a select with `ctx.Done()`).
                HandlerPhase::Coalesced { .. } => self.end_handler(h, None, sched),
                _ => {}
            }
        }
    }

    /// A handler ends, answering `status` to its caller if it still has one.
    pub(super) fn end_handler(
        &mut self,
        h: Key,
        status: Option<u16>,
        sched: &mut Scheduler<Event>,
    ) {
        let now = sched.now();
        let Some(hd) = self.handlers.remove(h) else {
            return;
        };
        if let Some(timer) = hd.acquire_timer {
            sched.cancel(timer);
        }
        let r = hd.replica;
        if let Some(f) = hd.fill {
            self.fill_failed(r, f, status, sched);
        }
        if hd.refresh {
            return;
        }
        let s = self.replicas[r].service;
        self.leave_system(s, now);
        if let (Some(code), Some(_), false) = (status, hd.origin, hd.probe) {
            self.route_answered(s, hd.route, code);
        }
        let svc = &mut self.services[s];
        let totals = &mut svc.totals;
        match (status, hd.origin) {
            (Some(code), Some(_)) => {
                if code < 300 {
                    totals.ok += 1;
                } else {
                    totals.errors += 1;
                }
                svc.response_time.add(now.saturating_sub(hd.connected));
            }
            _ => totals.unanswered += 1,
        }
        if hd.allocated {
            self.handler_frees(r);
        }
        if hd.phase != HandlerPhase::Queued {
            if !hd.probe {
                self.replicas[r]
                    .route_inflight
                    .remove(usize::from(hd.route));
            }
            let rep = &mut self.replicas[r];
            rep.inflight -= 1;
            rep.busy_workers -= 1;
            // A worker is free: the next queued connection is accepted once this event
            // is done (iteratively, see `handle`), never by recursion.
            if !rep.accept_queue.is_empty() {
                self.pending_accepts.push(r);
            }
        }
        if let (Some(code), Some((req, attempt))) = (status, hd.origin) {
            let Some(request) = self.requests.get(req) else {
                return;
            };
            if request.attempt != attempt {
                return;
            }
            if code != 200 && request.header_sent() {
                // It failed after its 200 header went out: it can only close the
                // connection, and the body stops short.
                self.upstream_failed(req, attempt, Failure::Error, true, sched);
                return;
            }
            if let Some(g) = request.gateway {
                let g = g as usize;
                if self.gateways[g].envoy.is_some() {
                    self.envoy_response(req, code, sched);
                    return;
                }
                self.nginx_answered(req, g, code, sched);
            } else {
                self.attempt_ended(req, AttemptOutcome::Status(code), sched);
            }
        }
    }
}
