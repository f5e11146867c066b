//! Replicas: a service's processes and their lives. Start-up, readiness (joining the
//! endpoints), crashes and OOM kills with Kubernetes restart back-off, kills and
//! terminations. How a rollout replaces them is `rollout.rs`.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::engine::{Key, Nanos, Scheduler, SimRng};

use super::cache::CacheState;
use super::caching::Fill;
use super::caller::CallerRt;
use super::cpu::{CpuRt, CpuUser};
use super::event::*;
use super::handler::*;
use super::job::*;
use super::kubelet::ReplicaProbes;
use super::pool::*;
use super::runtime::Heap;
use super::spec::{Backoff, EnvoyLbPolicy, ServiceSpec, Step};
use super::world::World;

/// Why a replica whose Hikari pool got no connection at all exits at start.
pub(super) const HIKARI_INIT_FAILED: &str =
    "process exited at start: HikariPool initialization failed, the database refused its first connection";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReplicaState {
    /// Process started, not yet listening.
    Starting,
    /// Accepting connections.
    Ready,
    /// Dead, waiting to be restarted.
    Down,
    /// Removed for good (scaled down, replaced by a rollout).
    Terminated,
}

pub(super) struct Replica {
    pub(super) service: usize,
    pub(super) ordinal: u32,
    /// The revision it runs, by index among its service's versions ([`Replica::run`]
    /// sets both).
    pub(super) version: usize,
    /// That revision's spec, held here: every step of a request reads it, and one
    /// pointer is one lookup where the service's list of versions is three.
    pub(super) spec: Arc<ServiceSpec>,
    pub(super) state: ReplicaState,
    pub(super) incarnation: u32,
    pub(super) started_at: Nanos,
    pub(super) restarts_in_row: u32,
    pub(super) inflight: u32,
    pub(super) busy_workers: u32,
    pub(super) accept_queue: VecDeque<Key>,
    pub(super) pools: Vec<PoolState>,
    pub(super) jobs: Vec<JobState>,
    /// The retrier and breaker of each `call` step (by step index; None for others).
    pub(super) callers: Vec<Option<CallerRt>>,
    /// Handlers in flight per route (by route index in the service).
    pub(super) route_inflight: super::tally::Tally,
    /// Its CPU limit's cores, if the service has one.
    pub(super) cpu: Option<CpuRt<CpuUser>>,
    /// Its process's instance of each per-process cache its handler looks up (by
    /// cache index; None for the others).
    pub(super) caches: Vec<Option<CacheState<Key>>>,
    /// Connections accepted over the replica's life (the autoscaler's request rate).
    pub(super) accepted: u64,
    /// The kubelet's probes of this replica, if its service has any.
    pub(super) probes: Option<ReplicaProbes>,
    /// For a rollout: the old replica this one replaces once ready.
    pub(super) replaces: Option<usize>,
    /// Being replaced by a rollout already.
    pub(super) being_replaced: bool,
    /// What the process's handlers allocated, as its runtime holds it.
    pub(super) heap: Heap,
    /// Descriptors its handlers' `leak` steps left open (`fds.rs`).
    pub(super) leaked_fds: u32,
    /// Has been ready at least once, so it is among the endpoints callers are sent to.
    /// A replica restarting in place stays listed (and refuses connections); a new one
    /// of a rollout or a scale-up receives nothing until it is first ready.
    pub(super) joined: bool,
}

impl Replica {
    /// Run revision `version`, whose spec is `spec`.
    pub(super) fn run(&mut self, version: usize, spec: &Arc<ServiceSpec>) {
        self.version = version;
        self.spec = Arc::clone(spec);
    }
}

/// The retrier and breaker of each `call` step of a new process in replica `r`, and
/// the call's own balancer draws when it does not balance round robin (a stream per
/// replica and step, so that replicas do not choose in step).
pub(super) fn fresh_callers(spec: &ServiceSpec, seed: u64, r: usize) -> Vec<Option<CallerRt>> {
    spec.handler
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| match step {
            Step::Call {
                retry,
                breaker,
                lb_policy,
                ..
            } => Some(CallerRt::new(
                retry,
                breaker.as_ref(),
                (*lb_policy != EnvoyLbPolicy::RoundRobin)
                    .then(|| SimRng::stream(seed, &format!("lb:{}:{r}:{i}", spec.name))),
            )),
            _ => None,
        })
        .collect()
}

impl World {
    /// Route a replica event to its rule.
    pub(super) fn on_replica_event(&mut self, e: ReplicaEvent, sched: &mut Scheduler<Event>) {
        match e {
            ReplicaEvent::Start {
                replica,
                incarnation,
            } => self.on_replica_start(replica as usize, incarnation, sched),
            ReplicaEvent::Ready {
                replica,
                incarnation,
            } => self.on_replica_ready(replica as usize, incarnation, sched),
            ReplicaEvent::Probe { replica, kind, .. } => {
                self.on_probe_due(replica as usize, kind, sched)
            }
        }
    }

    pub(super) fn add_replica(&mut self, s: usize, now: Nanos) -> usize {
        let probes = self.new_probes(s, self.services[s].current, now);
        let caches = self.new_process_caches(&self.services[s].versions[self.services[s].current]);
        let svc = &mut self.services[s];
        let spec = &svc.versions[svc.current];
        let r = self.replicas.len();
        self.replicas.push(Replica {
            service: s,
            ordinal: svc.next_ordinal,
            version: svc.current,
            spec: Arc::clone(&svc.versions[svc.current]),
            state: ReplicaState::Starting,
            incarnation: 0,
            started_at: now,
            restarts_in_row: 0,
            inflight: 0,
            busy_workers: 0,
            accept_queue: VecDeque::new(),
            pools: spec.pools.iter().map(|_| PoolState::new()).collect(),
            jobs: spec.jobs.iter().map(|_| JobState::new()).collect(),
            callers: fresh_callers(spec, self.scenario.seed, r),
            cpu: spec.cpus.map(|c| CpuRt::new(c, now)),
            route_inflight: Default::default(),
            caches,
            probes,
            accepted: 0,
            replaces: None,
            being_replaced: false,
            joined: false,
            heap: Heap::default(),
            leaked_fds: 0,
        });
        svc.next_ordinal += 1;
        svc.replicas.push(r);
        r
    }

    /// The spec of the revision replica `r` runs.
    #[inline]
    pub(super) fn spec_of(&self, r: usize) -> &ServiceSpec {
        &self.replicas[r].spec
    }

    /// Recompute who receives traffic after a replica joined or left: each service's
    /// endpoints and each gateway's peers.
    pub(super) fn refresh_peers(&mut self, now: Nanos) {
        for s in 0..self.services.len() {
            let svc = &self.services[s];
            let endpoints = svc
                .replicas
                .iter()
                .copied()
                .filter(|&r| self.replicas[r].joined && self.probes_allow(r))
                .collect();
            self.services[s].endpoints = endpoints;
        }
        for g in 0..self.gateways.len() {
            let mut peers = Vec::new();
            for &s in &self.scenario.gateways[g].upstream {
                peers.extend_from_slice(&self.services[s].endpoints);
            }
            if self.gateways[g].envoy.is_some() {
                self.envoy_set_hosts(g, peers);
            } else {
                self.gateways[g].balancer.set_peers(peers, now);
            }
        }
    }

    pub(super) fn schedule_jobs(&mut self, r: usize, sched: &mut Scheduler<Event>) {
        let inc = self.replicas[r].incarnation;
        let firsts: Vec<Nanos> = self.spec_of(r).jobs.iter().map(|j| j.first_run).collect();
        for (j, first) in firsts.into_iter().enumerate() {
            sched.after(
                first,
                Event::Job(JobEvent::Due {
                    replica: r as u32,
                    incarnation: inc,
                    job: j as u16,
                }),
            );
        }
    }

    /// Throw away everything a process held: handlers (their callers see a reset),
    /// queued connections, pools (the database gets its connections back, leaks end),
    /// jobs. Used by OOM kills, kills, and terminations.
    pub(super) fn wipe_replica(&mut self, r: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let keys: Vec<Key> = self
            .handlers
            .keys()
            .into_iter()
            .filter(|&k| self.handlers.get(k).is_some_and(|h| h.replica == r))
            .collect();
        // Fills whose owner dies here, failed once the process's caches are gone: a
        // shared cache's waiters elsewhere get the error; a per-process cache's flight
        // went with the process, and its waiters with their handlers.
        let mut lost_fills: Vec<Fill> = Vec::new();
        for k in keys {
            if let Some(h) = self.handlers.remove(k) {
                if let Some(f) = h.fill {
                    lost_fills.push(f);
                }
                if !h.refresh {
                    let s = self.replicas[r].service;
                    self.services[s].totals.unanswered += 1;
                    self.leave_system(s, now);
                }
                if let HandlerPhase::Calling { req } = h.phase {
                    self.abandon_call(req, sched);
                }
                if let Some((req, attempt)) = h.origin {
                    self.upstream_reset(req, attempt, sched);
                }
            }
        }
        self.lose_process_caches(r, now);
        for f in lost_fills {
            self.fill_failed(r, f, None, sched);
        }
        let rep = &mut self.replicas[r];
        rep.accept_queue.clear();
        rep.inflight = 0;
        rep.busy_workers = 0;
        rep.route_inflight.clear();
        rep.heap = Heap::default();
        // Exit closes every descriptor: a leak ends with its process.
        rep.leaked_fds = 0;
        for (p, pool) in rep.pools.iter_mut().enumerate() {
            let db = rep.spec.pools[p].database;
            self.databases[db].connections -= pool.open;
            *pool = PoolState::new();
        }
        for job in rep.jobs.iter_mut() {
            *job = JobState::new();
        }
        // A new process: a new HTTP client, a full retry quota, closed breakers.
        rep.callers = fresh_callers(&rep.spec, self.scenario.seed, r);
        self.clear_cpu(r, sched);
    }

    pub(super) fn crash(
        &mut self,
        r: usize,
        kind: &'static str,
        why: String,
        sched: &mut Scheduler<Event>,
    ) {
        let now = sched.now();
        if matches!(
            self.replicas[r].state,
            ReplicaState::Down | ReplicaState::Terminated
        ) {
            return;
        }
        self.note_replica(now, kind, r, why);
        if kind == "oom_kill" {
            let s = self.replicas[r].service;
            self.services[s].totals.oom_kills += 1;
        }
        // No listener from this instant: callers whose connections are reset below and
        // retry must not land on this process again.
        self.replicas[r].state = ReplicaState::Down;
        self.probes_container_stopped(r, sched);
        // Its events (jobs, readiness) are stale from now; what it held goes once this
        // event is done (see `World::settle`): a death that resets requests which kill
        // the next replica never deepens the stack.
        self.replicas[r].incarnation += 1;
        self.pending_wipes.push(r);
        let restart = self.spec_of(r).restart;
        let rep = &mut self.replicas[r];
        let delay = match restart.backoff {
            Backoff::Fixed(d) => d,
            Backoff::Kubernetes {
                initial,
                max,
                reset_after,
            } => {
                if now.saturating_sub(rep.started_at) >= reset_after {
                    rep.restarts_in_row = 0;
                }
                let n = rep.restarts_in_row;
                if n == 0 {
                    Nanos::ZERO
                } else {
                    let factor = 1u64.checked_shl(n - 1).unwrap_or(u64::MAX);
                    initial.saturating_mul(factor).min(max)
                }
            }
        };
        rep.restarts_in_row += 1;
        sched.after(
            delay,
            Event::Replica(ReplicaEvent::Start {
                replica: r as u32,
                incarnation: rep.incarnation,
            }),
        );
    }

    /// The process exits while starting (HikariCP got no connection): it held nothing
    /// but its pools, so they go back to the database at once, before the next
    /// replica starting in the same instant opens its own.
    pub(super) fn fail_start(&mut self, r: usize, sched: &mut Scheduler<Event>) {
        self.crash(r, "crash", HIKARI_INIT_FAILED.into(), sched);
        self.pending_wipes.retain(|&x| x != r);
        self.wipe_replica(r, sched);
    }

    pub(super) fn terminate(&mut self, r: usize, why: String, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        self.note_replica(now, "terminated", r, why);
        self.replicas[r].state = ReplicaState::Terminated;
        self.replicas[r].joined = false;
        self.probes_container_stopped(r, sched);
        let s = self.replicas[r].service;
        self.services[s].replicas.retain(|&x| x != r);
        self.refresh_peers(sched.now());
        self.replicas[r].incarnation += 1;
        // Wiped at once: its pool goes back to the database before a replacement
        // starting in the same instant opens its own. Deaths this causes are deferred.
        self.wipe_replica(r, sched);
    }

    pub(super) fn on_replica_start(
        &mut self,
        r: usize,
        incarnation: u32,
        sched: &mut Scheduler<Event>,
    ) {
        let rep = &self.replicas[r];
        if rep.incarnation != incarnation || rep.state != ReplicaState::Down {
            return;
        }
        let now = sched.now();
        let s = rep.service;
        self.services[s].totals.restarts += 1;
        let n = self.services[s].totals.restarts;
        self.note_replica(
            now,
            "restart",
            r,
            format!("process restarted (restart #{n})"),
        );
        self.begin_startup(r, sched);
    }

    pub(super) fn begin_startup(&mut self, r: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let startup = self.spec_of(r).restart.startup;
        let rep = &mut self.replicas[r];
        rep.state = ReplicaState::Starting;
        rep.started_at = now;
        let inc = rep.incarnation;
        self.probes_container_started(r, sched);
        sched.after(
            startup,
            Event::Replica(ReplicaEvent::Ready {
                replica: r as u32,
                incarnation: inc,
            }),
        );
        self.schedule_jobs(r, sched);
        if !self.fill_pools(r, true, sched) {
            self.fail_start(r, sched);
        }
    }

    pub(super) fn on_replica_ready(
        &mut self,
        r: usize,
        incarnation: u32,
        sched: &mut Scheduler<Event>,
    ) {
        let rep = &mut self.replicas[r];
        if rep.incarnation != incarnation || rep.state != ReplicaState::Starting {
            return;
        }
        rep.state = ReplicaState::Ready;
        let now = sched.now();
        if self.gated_by_probes(r) && !self.probes_allow(r) {
            // Listening; it receives traffic once its probes say it is ready.
            self.note_replica(
                now,
                "listening",
                r,
                "process listening: waiting for its readiness probe".into(),
            );
            return;
        }
        self.enter_service(r, sched);
    }

    /// Replica `r` is ready for traffic: it joins the endpoints, and the old replica it
    /// replaces in a rollout stops.
    pub(super) fn enter_service(&mut self, r: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let rep = &mut self.replicas[r];
        rep.joined = true;
        let replaces = rep.replaces.take();
        let s = rep.service;
        self.note_replica(
            now,
            "ready",
            r,
            "replica ready: accepting connections".into(),
        );
        if let Some(old) = replaces {
            let ord = self.replicas[r].ordinal;
            self.terminate(old, format!("replaced by replica {ord} (rollout)"), sched);
            self.continue_rollout(s, sched);
        }
        self.refresh_peers(sched.now());
    }

    /// Scale service `s` to `want` replicas: new ones start (ready after their
    /// start-up), the newest ones beyond `want` are terminated.
    pub(super) fn scale_to(&mut self, s: usize, want: u32, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let have = self.services[s].replicas.len();
        let want = want as usize;
        for _ in have..want {
            let r = self.add_replica(s, now);
            self.begin_startup(r, sched);
        }
        for _ in want..have {
            if let Some(&r) = self.services[s].replicas.last() {
                self.terminate(r, "scaled down".into(), sched);
            }
        }
        self.refresh_peers(now);
    }
}
