//! The simulation proper: the state of every component and the rules that move it.
//!
//! Requests flow client -> (gateway ->) replica -> handler steps -> pool -> database.
//! A client-side *request* and a server-side *handler* are separate entities: a handler
//! outlives the request when the caller gave up but the handler's waits are not bound to
//! the request context, which is exactly how blocked goroutines pile up in the incident
//! this tool was started from.
//!
//! Timers are never removed from the queue. Each timer event carries the key (slab
//! generation) and attempt number it was set for; a timer that finds them changed has
//! been overtaken and does nothing.

use std::collections::VecDeque;

use hdrhistogram::Histogram;

use crate::engine::{self, Key, Model, Nanos, Scheduler, SimRng, Slab};

use super::alerts;
use super::dist::Latency;
use super::outcome::{
    status_index, ClientTotals, GatewayTotals, Occurrence, PoolTotals, RunResult, Series,
    ServiceTotals, STATUSES,
};
use super::spec::{
    Action, Arrivals, Backoff, Change, Fairness, JobContext, Method, PoolProfile, ReleaseMode,
    Scenario, ServiceSpec, Step, Target, WaitContext,
};

/// Why a replica whose Hikari pool got no connection at all exits at start.
const HIKARI_INIT_FAILED: &str =
    "process exited at start: HikariPool initialization failed, the database refused its first connection";

/// Linux SYN retransmission intervals (initial RTO 1 s, doubling; `tcp_syn_retries` 6).
const SYN_RETRY_INTERVALS_S: [u64; 6] = [1, 2, 4, 8, 16, 32];

/// Everything that can happen. Kept small: it is copied through the heap on every event.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// End of a metrics interval.
    Tick,
    /// A client sends its next request.
    Arrival { client: u32, generation: u32 },
    /// A client, or a handler's HTTP client on a call, stops waiting.
    ClientGiveUp { req: Key },
    /// The gateway's connect timer expires.
    ConnectTimeout { req: Key, attempt: u32 },
    /// A dropped handshake is retransmitted.
    SynRetry { req: Key, attempt: u32, retry: u8 },
    /// The gateway's read timer expires.
    ReadTimeout { req: Key, attempt: u32 },
    /// A handler's work step ends.
    StepDone { handler: Key },
    /// A handler's query ends.
    QueryDone { handler: Key },
    /// A handler's wait for a connection reaches the acquire timeout.
    AcquireTimeout { handler: Key, wait: u32 },
    /// A job's schedule comes round.
    JobDue {
        replica: u32,
        incarnation: u32,
        job: u16,
    },
    /// A job's query ends.
    JobQueryDone {
        replica: u32,
        incarnation: u32,
        job: u16,
    },
    /// A job run's context deadline passes.
    JobDeadline {
        replica: u32,
        incarnation: u32,
        job: u16,
        run: u32,
    },
    /// A crashed process is started again (after the back-off).
    ReplicaStart { replica: u32, incarnation: u32 },
    /// A started process begins accepting connections.
    ReplicaReady { replica: u32, incarnation: u32 },
    /// A timeline entry.
    Timeline { index: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplicaState {
    /// Process started, not yet listening.
    Starting,
    /// Accepting connections.
    Ready,
    /// Dead, waiting to be restarted.
    Down,
    /// Removed for good (scaled down, replaced by a rollout).
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiter {
    Handler(Key),
    Job(u16),
}

struct PoolState {
    open: u32,
    idle: u32,
    leaked: u32,
    waiters: VecDeque<(Waiter, Nanos)>,
    exhausted: bool,
    /// When callers first had to wait, in the current exhaustion.
    exhausted_since: Nanos,
    /// When the last waiter left (got a connection, timed out, or was cancelled).
    drained_at: Nanos,
}

impl PoolState {
    fn new() -> Self {
        PoolState {
            open: 0,
            idle: 0,
            leaked: 0,
            waiters: VecDeque::new(),
            exhausted: false,
            exhausted_since: Nanos::ZERO,
            drained_at: Nanos::ZERO,
        }
    }
    fn in_use(&self) -> u32 {
        self.open - self.idle
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobPhase {
    Idle,
    Acquiring,
    Querying,
}

struct JobState {
    running: bool,
    run: u32,
    iteration: u32,
    held: u32,
    phase: JobPhase,
    deadline_passed: bool,
    due_while_running: bool,
    stuck_reported: bool,
}

impl JobState {
    fn new() -> Self {
        JobState {
            running: false,
            run: 0,
            iteration: 0,
            held: 0,
            phase: JobPhase::Idle,
            deadline_passed: false,
            due_while_running: false,
            stuck_reported: false,
        }
    }
}

struct Replica {
    service: usize,
    ordinal: u32,
    version: usize,
    state: ReplicaState,
    incarnation: u32,
    started_at: Nanos,
    restarts_in_row: u32,
    inflight: u32,
    busy_workers: u32,
    accept_queue: VecDeque<Key>,
    pools: Vec<PoolState>,
    jobs: Vec<JobState>,
    /// For a rollout: the old replica this one replaces once ready.
    replaces: Option<usize>,
    /// Being replaced by a rollout already.
    being_replaced: bool,
    /// Has been ready at least once, so it is among the endpoints callers are sent to.
    /// A replica restarting in place stays listed (and refuses connections); a new one
    /// of a rollout or a scale-up receives nothing until it is first ready.
    joined: bool,
}

struct ServiceRt {
    versions: Vec<ServiceSpec>,
    current: usize,
    history: Vec<usize>,
    replicas: Vec<usize>,
    next_ordinal: u32,
    rng: SimRng,
    /// Round-robin position for calls made to this service.
    call_rr: usize,
    totals: ServiceTotals,
    in_system: u64,
    in_system_since: Nanos,
}

struct GatewayRt {
    peers: Vec<usize>,
    rr: usize,
    health: Vec<(u32, Nanos)>,
    interval_requests: u64,
    interval_status: [u64; 6],
    interval_hist: Histogram<u64>,
    total_hist: Histogram<u64>,
    totals: GatewayTotals,
}

struct ClientRt {
    rate_per_s: f64,
    generation: u32,
    rng: SimRng,
    rr: usize,
    interval_sent: u64,
    interval_ok: u64,
    interval_failed: u64,
    totals: ClientTotals,
}

struct DatabaseRt {
    connections: u32,
    factor: f64,
    rng: SimRng,
}

struct PoolRt {
    rng: SimRng,
    totals: PoolTotals,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReqPhase {
    /// Handshake dropped; waiting for a retransmission or the connect timeout.
    Connecting { replica: usize },
    /// Connected; the request is with a handler (queued or running).
    Sent { handler: Key },
    /// Between attempts.
    Idle,
}

/// Who is waiting for a request's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// A client, by index.
    Client(u32),
    /// A handler making a `call` step.
    Handler(Key),
}

struct Request {
    caller: Caller,
    gateway: Option<u32>,
    arrived: Nanos,
    attempt: u32,
    /// Servers tried so far, in order; its length is the number of tries.
    tried: Vec<usize>,
    phase: ReqPhase,
    last_failure: Option<u16>,
}

impl Request {
    /// A request that has not tried any server yet.
    fn new(caller: Caller, gateway: Option<u32>, arrived: Nanos) -> Request {
        Request {
            caller,
            gateway,
            arrived,
            attempt: 0,
            tried: Vec::new(),
            phase: ReqPhase::Idle,
            last_failure: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HandlerPhase {
    Queued,
    Working,
    Waiting { pool: usize, wait: u32 },
    Querying { pool: usize },
    Calling { req: Key },
}

struct Handler {
    replica: usize,
    origin: Option<(Key, u32)>,
    step: usize,
    phase: HandlerPhase,
    waits: u32,
    connected: Nanos,
    cancelled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Error,
    Timeout,
}

/// The simulated world. Build it with [`World::new`], run it with [`replay`].
pub struct World {
    scenario: Scenario,
    clients: Vec<ClientRt>,
    gateways: Vec<GatewayRt>,
    services: Vec<ServiceRt>,
    pools: Vec<Vec<PoolRt>>,
    databases: Vec<DatabaseRt>,
    replicas: Vec<Replica>,
    requests: Slab<Request>,
    handlers: Slab<Handler>,
    series: Series,
    occurrences: Vec<Occurrence>,
    peak_live: usize,
    pending_accepts: Vec<usize>,
}

fn new_histogram() -> Histogram<u64> {
    // Microseconds from 1 us to 1 day at 3 significant figures; values beyond saturate.
    Histogram::new_with_bounds(1, 86_400_000_000, 3).expect("constant histogram bounds are valid")
}

/// Rough count of the events a scenario will need: arrivals and their timers, handler
/// steps, job iterations and metric ticks. Used to refuse runs that would take hours.
pub fn estimate_events(s: &Scenario) -> u64 {
    let duration_s = s.duration.as_secs_f64();
    let mut total = duration_s / s.resolution.as_secs_f64().max(1e-9);
    for (i, c) in s.clients.iter().enumerate() {
        // Integrate the rate over the timeline's rate changes.
        let mut rate = c.rate_per_s;
        let mut from = 0.0;
        let mut requests = 0.0;
        for e in &s.timeline {
            if let Action::SetRate { client, rate_per_s } = e.action {
                if client == i {
                    let t = e.at.as_secs_f64().min(duration_s);
                    requests += rate * (t - from).max(0.0);
                    from = t;
                    rate = rate_per_s;
                }
            }
        }
        requests += rate * (duration_s - from).max(0.0);
        let steps = match c.target {
            Target::Gateway(g) => {
                s.gateways[g]
                    .upstream
                    .iter()
                    .map(|&sv| handler_events(s, sv, 0))
                    .max()
                    .unwrap_or(0)
                    + 1
            }
            Target::Service(sv) => handler_events(s, sv, 0),
        };
        let timers = usize::from(c.timeout.is_some());
        total += requests * (1 + steps + timers) as f64;
    }
    for sv in &s.services {
        for j in &sv.jobs {
            let runs = duration_s / j.every.as_secs_f64().max(1e-9);
            total += runs * f64::from(sv.replicas) * (1.0 + 2.0 * f64::from(j.iterations));
        }
    }
    total as u64
}

/// Events one request causes in service `sv`: one per step, plus what its calls cause.
/// `depth` stops the count on a cyclic graph (which validation rejects anyway).
fn handler_events(s: &Scenario, sv: usize, depth: u32) -> usize {
    if depth > 32 {
        return 0;
    }
    s.services[sv]
        .handler
        .steps
        .iter()
        .map(|step| match step {
            Step::Call { service, .. } => 2 + handler_events(s, *service, depth + 1),
            _ => 1,
        })
        .sum()
}

/// Replay `scenario` to its end and return what happened.
pub fn replay(scenario: Scenario) -> RunResult {
    let scenario_alerts = scenario.alerts.clone();
    let mut world = World::new(scenario);
    let mut sched = Scheduler::new();
    world.start(&mut sched);
    let end = world.scenario.duration;
    let stats = engine::run(&mut world, &mut sched, end);
    let mut result = world.finish(stats.events);
    let (alert_events, outcomes) = alerts::evaluate(&scenario_alerts, &result.series, end);
    result.occurrences.extend(alert_events);
    // Stable: at equal times, simulation occurrences come before alert evaluations.
    result.occurrences.sort_by_key(|o| o.at);
    result.alerts = outcomes;
    result
}

impl World {
    /// A world in its initial state, from a validated scenario.
    pub fn new(scenario: Scenario) -> World {
        let seed = scenario.seed;
        let clients = scenario
            .clients
            .iter()
            .map(|c| ClientRt {
                rate_per_s: c.rate_per_s,
                generation: 0,
                rng: SimRng::stream(seed, &format!("client:{}", c.name)),
                rr: 0,
                interval_sent: 0,
                interval_ok: 0,
                interval_failed: 0,
                totals: ClientTotals {
                    name: c.name.clone(),
                    ..Default::default()
                },
            })
            .collect();
        let gateways = scenario
            .gateways
            .iter()
            .map(|g| GatewayRt {
                peers: Vec::new(),
                rr: 0,
                health: Vec::new(),
                interval_requests: 0,
                interval_status: [0; 6],
                interval_hist: new_histogram(),
                total_hist: new_histogram(),
                totals: GatewayTotals {
                    name: g.name.clone(),
                    ..Default::default()
                },
            })
            .collect();
        let services = scenario
            .services
            .iter()
            .map(|s| ServiceRt {
                versions: vec![s.clone()],
                current: 0,
                history: Vec::new(),
                replicas: Vec::new(),
                next_ordinal: 0,
                rng: SimRng::stream(seed, &format!("service:{}", s.name)),
                call_rr: 0,
                totals: ServiceTotals {
                    name: s.name.clone(),
                    ..Default::default()
                },
                in_system: 0,
                in_system_since: Nanos::ZERO,
            })
            .collect();
        let pools = scenario
            .services
            .iter()
            .map(|s| {
                s.pools
                    .iter()
                    .map(|p| PoolRt {
                        rng: SimRng::stream(seed, &format!("pool:{}", p.name)),
                        totals: PoolTotals {
                            name: p.name.clone(),
                            ..Default::default()
                        },
                    })
                    .collect()
            })
            .collect();
        let databases = scenario
            .databases
            .iter()
            .map(|d| DatabaseRt {
                connections: 0,
                factor: 1.0,
                rng: SimRng::stream(seed, &format!("database:{}", d.name)),
            })
            .collect();
        let series = Series {
            resolution: scenario.resolution,
            columns: metric_columns(&scenario),
            values: Vec::new(),
        };
        World {
            scenario,
            clients,
            gateways,
            services,
            pools,
            databases,
            replicas: Vec::new(),
            requests: Slab::new(),
            handlers: Slab::new(),
            series,
            occurrences: Vec::new(),
            peak_live: 0,
            pending_accepts: Vec::new(),
        }
    }

    /// Bring up the initial replicas and schedule the first arrivals, ticks and timeline.
    pub fn start(&mut self, sched: &mut Scheduler<Event>) {
        for s in 0..self.services.len() {
            for _ in 0..self.scenario.services[s].replicas {
                let r = self.add_replica(s, Nanos::ZERO);
                // Processes that were running before the incident started are ready at 0.
                self.replicas[r].state = ReplicaState::Ready;
                self.replicas[r].joined = true;
                self.schedule_jobs(r, sched);
                if !self.fill_pools(r, Nanos::ZERO) {
                    self.crash(r, "crash", HIKARI_INIT_FAILED.into(), sched);
                }
            }
        }
        self.refresh_peers();
        for c in 0..self.clients.len() {
            self.schedule_arrival(c, sched);
        }
        for (i, e) in self.scenario.timeline.iter().enumerate() {
            sched.at(e.at, Event::Timeline { index: i as u32 });
        }
        sched.at(self.scenario.resolution, Event::Tick);
    }

    /// Close the books: totals, percentiles, and the time integral up to the end.
    pub fn finish(mut self, events: u64) -> RunResult {
        let end = self.scenario.duration;
        for s in 0..self.services.len() {
            self.touch_in_system(s, end, 0);
        }
        for request in self.requests.values() {
            if let Caller::Client(c) = request.caller {
                self.clients[c as usize].totals.in_flight_at_end += 1;
            }
            if let Some(g) = request.gateway {
                self.gateways[g as usize].totals.in_flight_at_end += 1;
            }
        }
        for g in &mut self.gateways {
            if !g.total_hist.is_empty() {
                g.totals.p50_ms = Some(g.total_hist.value_at_quantile(0.5) as f64 / 1000.0);
                g.totals.p99_ms = Some(g.total_hist.value_at_quantile(0.99) as f64 / 1000.0);
            }
        }
        let mut occurrences = self.occurrences;
        occurrences.sort_by_key(|o| o.at);
        RunResult {
            series: self.series,
            occurrences,
            events,
            duration: end,
            gateways: self.gateways.into_iter().map(|g| g.totals).collect(),
            clients: self.clients.into_iter().map(|c| c.totals).collect(),
            services: self.services.into_iter().map(|s| s.totals).collect(),
            pools: self.pools.into_iter().flatten().map(|p| p.totals).collect(),
            peak_live_entities: self.peak_live,
            alerts: Vec::new(),
        }
    }

    fn note(&mut self, at: Nanos, kind: &'static str, component: &str, detail: String) {
        self.occurrences.push(Occurrence {
            at,
            kind,
            component: component.to_string(),
            detail,
            status: None,
            replica: None,
            label: None,
        });
    }

    fn note_replica(&mut self, at: Nanos, kind: &'static str, r: usize, detail: String) {
        let rep = &self.replicas[r];
        let name = self.scenario.services[rep.service].name.clone();
        let ordinal = rep.ordinal;
        self.occurrences.push(Occurrence {
            at,
            kind,
            component: name,
            detail,
            status: None,
            replica: Some(ordinal),
            label: None,
        });
    }

    // ----- replicas -------------------------------------------------------------------

    fn add_replica(&mut self, s: usize, now: Nanos) -> usize {
        let svc = &mut self.services[s];
        let spec = &svc.versions[svc.current];
        let r = self.replicas.len();
        self.replicas.push(Replica {
            service: s,
            ordinal: svc.next_ordinal,
            version: svc.current,
            state: ReplicaState::Starting,
            incarnation: 0,
            started_at: now,
            restarts_in_row: 0,
            inflight: 0,
            busy_workers: 0,
            accept_queue: VecDeque::new(),
            pools: spec.pools.iter().map(|_| PoolState::new()).collect(),
            jobs: spec.jobs.iter().map(|_| JobState::new()).collect(),
            replaces: None,
            being_replaced: false,
            joined: false,
        });
        svc.next_ordinal += 1;
        svc.replicas.push(r);
        r
    }

    fn spec_of(&self, r: usize) -> &ServiceSpec {
        let rep = &self.replicas[r];
        &self.services[rep.service].versions[rep.version]
    }

    fn refresh_peers(&mut self) {
        for g in 0..self.gateways.len() {
            let mut peers = Vec::new();
            for &s in &self.scenario.gateways[g].upstream {
                peers.extend(
                    self.services[s]
                        .replicas
                        .iter()
                        .copied()
                        .filter(|&r| self.replicas[r].joined),
                );
            }
            let gw = &mut self.gateways[g];
            gw.peers = peers;
            if gw.health.len() < self.replicas.len() {
                gw.health.resize(self.replicas.len(), (0, Nanos::ZERO));
            }
        }
    }

    fn schedule_jobs(&mut self, r: usize, sched: &mut Scheduler<Event>) {
        let inc = self.replicas[r].incarnation;
        let firsts: Vec<Nanos> = self.spec_of(r).jobs.iter().map(|j| j.first_run).collect();
        for (j, first) in firsts.into_iter().enumerate() {
            sched.after(
                first,
                Event::JobDue {
                    replica: r as u32,
                    incarnation: inc,
                    job: j as u16,
                },
            );
        }
    }

    /// Throw away everything a process held: handlers (their callers see a reset),
    /// queued connections, pools (the database gets its connections back, leaks end),
    /// jobs. Used by OOM kills, kills, and terminations.
    fn wipe_replica(&mut self, r: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let keys: Vec<Key> = self
            .handlers
            .keys()
            .into_iter()
            .filter(|&k| self.handlers.get(k).is_some_and(|h| h.replica == r))
            .collect();
        for k in keys {
            if let Some(h) = self.handlers.remove(k) {
                let s = self.replicas[r].service;
                self.services[s].totals.unanswered += 1;
                self.leave_system(s, now);
                if let HandlerPhase::Calling { req } = h.phase {
                    self.abandon_call(req, sched);
                }
                if let Some((req, attempt)) = h.origin {
                    self.upstream_reset(req, attempt, sched);
                }
            }
        }
        let s = self.replicas[r].service;
        let version = self.replicas[r].version;
        let rep = &mut self.replicas[r];
        rep.accept_queue.clear();
        rep.inflight = 0;
        rep.busy_workers = 0;
        rep.incarnation += 1;
        for (p, pool) in rep.pools.iter_mut().enumerate() {
            let db = self.services[s].versions[version].pools[p].database;
            self.databases[db].connections -= pool.open;
            *pool = PoolState::new();
        }
        for job in rep.jobs.iter_mut() {
            *job = JobState::new();
        }
    }

    fn crash(&mut self, r: usize, kind: &'static str, why: String, sched: &mut Scheduler<Event>) {
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
        self.wipe_replica(r, sched);
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
            Event::ReplicaStart {
                replica: r as u32,
                incarnation: rep.incarnation,
            },
        );
    }

    fn terminate(&mut self, r: usize, why: String, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        self.note_replica(now, "terminated", r, why);
        self.replicas[r].state = ReplicaState::Terminated;
        self.replicas[r].joined = false;
        let s = self.replicas[r].service;
        self.services[s].replicas.retain(|&x| x != r);
        self.refresh_peers();
        self.wipe_replica(r, sched);
    }

    fn on_replica_start(&mut self, r: usize, incarnation: u32, sched: &mut Scheduler<Event>) {
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

    fn begin_startup(&mut self, r: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let startup = self.spec_of(r).restart.startup;
        let rep = &mut self.replicas[r];
        rep.state = ReplicaState::Starting;
        rep.started_at = now;
        let inc = rep.incarnation;
        sched.after(
            startup,
            Event::ReplicaReady {
                replica: r as u32,
                incarnation: inc,
            },
        );
        self.schedule_jobs(r, sched);
        if !self.fill_pools(r, now) {
            self.crash(r, "crash", HIKARI_INIT_FAILED.into(), sched);
        }
    }

    /// HikariCP opens its whole pool when the process starts (`minimumIdle` defaults to
    /// `maximumPoolSize`): this is how a scale-out pushes a database past
    /// `max_connections` before any request arrives. Go's pool opens lazily. Returns
    /// false when a Hikari pool could not open a single connection: with the default
    /// `initializationFailTimeout` (1 ms) the application then fails to start.
    fn fill_pools(&mut self, r: usize, now: Nanos) -> bool {
        let mut started = true;
        let s = self.replicas[r].service;
        let version = self.replicas[r].version;
        for p in 0..self.replicas[r].pools.len() {
            let spec = &self.services[s].versions[version].pools[p];
            if spec.profile != PoolProfile::Hikari {
                continue;
            }
            let size = spec.max_open.unwrap_or(0);
            let db = spec.database;
            let limit = self.scenario.databases[db].max_connections;
            let pool = &mut self.replicas[r].pools[p];
            let want = size.saturating_sub(pool.open);
            let room = limit.saturating_sub(self.databases[db].connections);
            let opened = want.min(room);
            pool.open += opened;
            pool.idle += opened;
            self.databases[db].connections += opened;
            let refused = want - opened;
            if size > 0 && pool.open == 0 {
                started = false;
            }
            if refused > 0 {
                let name = spec.name.clone();
                let db_name = self.scenario.databases[db].name.clone();
                self.pools[s][p].totals.refused += u64::from(refused);
                let ordinal = self.replicas[r].ordinal;
                self.note(
                    now,
                    "db_refused",
                    &name,
                    format!(
                        "{db_name} refused {refused} of the {size} connections replica {ordinal} opens at start: max_connections {limit} reached"
                    ),
                );
            }
        }
        started
    }

    fn on_replica_ready(&mut self, r: usize, incarnation: u32, sched: &mut Scheduler<Event>) {
        let rep = &mut self.replicas[r];
        if rep.incarnation != incarnation || rep.state != ReplicaState::Starting {
            return;
        }
        rep.state = ReplicaState::Ready;
        rep.joined = true;
        let replaces = rep.replaces.take();
        let s = rep.service;
        let now = sched.now();
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
        self.refresh_peers();
    }

    /// Surge one: start one new replica of the current version for one old replica; the
    /// old one stops once the new one is ready.
    fn continue_rollout(&mut self, s: usize, sched: &mut Scheduler<Event>) {
        let current = self.services[s].current;
        let next_old = self.services[s].replicas.iter().copied().find(|&r| {
            let rep = &self.replicas[r];
            rep.version != current && !rep.being_replaced && rep.replaces.is_none()
        });
        if let Some(old) = next_old {
            self.replicas[old].being_replaced = true;
            let now = sched.now();
            let new = self.add_replica(s, now);
            self.replicas[new].replaces = Some(old);
            self.begin_startup(new, sched);
            self.refresh_peers();
        }
    }

    // ----- memory ---------------------------------------------------------------------

    fn memory_mib(&self, r: usize) -> Option<(f64, f64)> {
        let m = self.spec_of(r).memory?;
        Some((
            m.baseline_mib + m.per_request_mib * f64::from(self.replicas[r].inflight),
            m.limit_mib,
        ))
    }

    // ----- clients --------------------------------------------------------------------

    fn schedule_arrival(&mut self, c: usize, sched: &mut Scheduler<Event>) {
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
            Event::Arrival {
                client: c as u32,
                generation: client.generation,
            },
        );
    }

    fn on_arrival(&mut self, c: usize, generation: u32, sched: &mut Scheduler<Event>) {
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
            sched.after(t, Event::ClientGiveUp { req });
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

    /// Round-robin over the replicas of service `s` that are in the endpoints, without
    /// allocating: this is the hot path of a client talking to a service directly.
    fn pick_endpoint(&self, s: usize, rr: &mut usize) -> Option<usize> {
        let listed = &self.services[s].replicas;
        let joined = |r: &usize| self.replicas[*r].joined;
        let n = listed.iter().filter(|r| joined(r)).count();
        if n == 0 {
            return None;
        }
        let pick = listed.iter().copied().filter(|r| joined(r)).nth(*rr % n);
        *rr = rr.wrapping_add(1);
        pick
    }

    /// Connect a direct request (a client's or a call's) to `replica`, or fail it at
    /// once when the service has no endpoint.
    fn connect_direct(&mut self, req: Key, replica: Option<usize>, sched: &mut Scheduler<Event>) {
        let Some(r) = replica else {
            self.finish_direct(req, None, sched);
            return;
        };
        if let Some(q) = self.requests.get_mut(req) {
            q.attempt = 1;
        }
        self.connect(req, r, sched);
    }

    fn on_client_give_up(&mut self, req: Key, sched: &mut Scheduler<Event>) {
        let Some(request) = self.requests.remove(req) else {
            return;
        };
        let now = sched.now();
        if let ReqPhase::Sent { handler } = request.phase {
            self.caller_disconnected(handler, sched);
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

    // ----- gateway --------------------------------------------------------------------

    fn gateway_try(&mut self, req: Key, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(request) = self.requests.get(req) else {
            return;
        };
        let g = request.gateway.map_or(0, |g| g as usize);
        let spec = &self.scenario.gateways[g];
        let gw = &self.gateways[g];
        let tries_limit = spec.next_upstream_tries;
        let tries = request.tried.len() as u32;
        if tries > 0 && tries_limit > 0 && tries >= tries_limit {
            let status = request.last_failure.unwrap_or(502);
            self.finish_gateway(req, status, sched);
            return;
        }
        let n = gw.peers.len();
        let single = n == 1;
        let mut chosen = None;
        for k in 0..n {
            let idx = (gw.rr + k) % n;
            let p = gw.peers[idx];
            if request.tried.contains(&p) {
                continue;
            }
            // Passive health: a server with max_fails failures within fail_timeout is
            // skipped until fail_timeout has passed. A single server is never skipped.
            let (fails, checked) = gw.health.get(p).copied().unwrap_or((0, Nanos::ZERO));
            if !single
                && spec.max_fails > 0
                && fails >= spec.max_fails
                && now.saturating_sub(checked) <= spec.fail_timeout
            {
                continue;
            }
            chosen = Some((idx, p));
            break;
        }
        let Some((idx, p)) = chosen else {
            let all_tried = gw.peers.iter().all(|p| request.tried.contains(p));
            if all_tried && request.last_failure.is_some() {
                // Every server was tried: the last failure's status stands.
                let status = request.last_failure.unwrap_or(502);
                self.finish_gateway(req, status, sched);
            } else {
                // "no live upstreams": nginx answers 502 and marks every server live
                // again for quick recovery (ngx_http_upstream_get_round_robin_peer).
                for &p in &self.gateways[g].peers.clone() {
                    if let Some(h) = self.gateways[g].health.get_mut(p) {
                        h.0 = 0;
                    }
                }
                self.finish_gateway(req, 502, sched);
            }
            return;
        };
        self.gateways[g].rr = idx + 1;
        let Some(request) = self.requests.get_mut(req) else {
            return;
        };
        if !request.tried.is_empty() {
            self.gateways[g].totals.retries += 1;
        }
        request.attempt += 1;
        request.tried.push(p);
        self.connect(req, p, sched);
    }

    /// Open a connection for `req` to replica `r`: accepted (handler started or queued),
    /// refused (no listener), or the handshake dropped on a full accept queue.
    fn connect(&mut self, req: Key, r: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(request) = self.requests.get(req) else {
            return;
        };
        let attempt = request.attempt;
        let gateway = request.gateway;
        let rep = &self.replicas[r];
        let s = rep.service;
        if rep.state != ReplicaState::Ready {
            self.services[s].totals.refused += 1;
            self.upstream_failed(req, attempt, Failure::Error, false, sched);
            return;
        }
        let spec = &self.services[s].versions[rep.version];
        let free_worker = spec.workers.is_none_or(|w| rep.busy_workers < w);
        let queue_room = (rep.accept_queue.len() as u64) < u64::from(spec.backlog);
        let abort_on_overflow = spec.abort_on_overflow;
        if !free_worker && !queue_room {
            if abort_on_overflow {
                self.services[s].totals.refused += 1;
                self.upstream_failed(req, attempt, Failure::Error, false, sched);
            } else {
                self.services[s].totals.dropped_syn += 1;
                let first = self
                    .requests
                    .get(req)
                    .is_some_and(|q| q.phase == ReqPhase::Idle);
                if let Some(q) = self.requests.get_mut(req) {
                    q.phase = ReqPhase::Connecting { replica: r };
                }
                if first {
                    if let Some(g) = gateway {
                        let t = self.scenario.gateways[g as usize].connect_timeout;
                        sched.after(t, Event::ConnectTimeout { req, attempt });
                    }
                    sched.after(
                        Nanos::from_secs(SYN_RETRY_INTERVALS_S[0]),
                        Event::SynRetry {
                            req,
                            attempt,
                            retry: 0,
                        },
                    );
                }
            }
            return;
        }
        self.services[s].totals.accepted += 1;
        self.enter_system(s, now);
        let handler = self.handlers.insert(Handler {
            replica: r,
            origin: Some((req, attempt)),
            step: 0,
            phase: HandlerPhase::Queued,
            waits: 0,
            connected: now,
            cancelled: false,
        });
        if let Some(q) = self.requests.get_mut(req) {
            q.phase = ReqPhase::Sent { handler };
        }
        if let Some(g) = gateway {
            let t = self.scenario.gateways[g as usize].read_timeout;
            sched.after(t, Event::ReadTimeout { req, attempt });
        }
        if free_worker {
            self.start_handler(handler, sched);
        } else {
            self.replicas[r].accept_queue.push_back(handler);
        }
    }

    fn on_syn_retry(&mut self, req: Key, attempt: u32, retry: u8, sched: &mut Scheduler<Event>) {
        let Some(request) = self.requests.get(req) else {
            return;
        };
        let ReqPhase::Connecting { replica } = request.phase else {
            return;
        };
        if request.attempt != attempt {
            return;
        }
        let rep = &self.replicas[replica];
        let s = rep.service;
        if rep.state != ReplicaState::Ready {
            // The process died while the handshake was pending: now it is refused.
            self.services[s].totals.refused += 1;
            self.upstream_failed(req, attempt, Failure::Error, false, sched);
            return;
        }
        let spec = &self.services[s].versions[rep.version];
        let free = spec.workers.is_none_or(|w| rep.busy_workers < w)
            || (rep.accept_queue.len() as u64) < u64::from(spec.backlog);
        if free {
            self.connect(req, replica, sched);
            return;
        }
        self.services[s].totals.dropped_syn += 1;
        let next = usize::from(retry) + 1;
        if next < SYN_RETRY_INTERVALS_S.len() {
            sched.after(
                Nanos::from_secs(SYN_RETRY_INTERVALS_S[next]),
                Event::SynRetry {
                    req,
                    attempt,
                    retry: next as u8,
                },
            );
        } else {
            // tcp_syn_retries exhausted: the connect fails with ETIMEDOUT.
            self.upstream_failed(req, attempt, Failure::Timeout, false, sched);
        }
    }

    fn on_connect_timeout(&mut self, req: Key, attempt: u32, sched: &mut Scheduler<Event>) {
        let Some(request) = self.requests.get(req) else {
            return;
        };
        if request.attempt == attempt && matches!(request.phase, ReqPhase::Connecting { .. }) {
            self.upstream_failed(req, attempt, Failure::Timeout, false, sched);
        }
    }

    fn on_read_timeout(&mut self, req: Key, attempt: u32, sched: &mut Scheduler<Event>) {
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
    fn upstream_reset(&mut self, req: Key, attempt: u32, sched: &mut Scheduler<Event>) {
        self.upstream_failed(req, attempt, Failure::Error, true, sched);
    }

    /// One upstream attempt failed. The gateway counts it against the peer and either
    /// tries the next peer or answers with the status of this (the last) failure.
    fn upstream_failed(
        &mut self,
        req: Key,
        attempt: u32,
        failure: Failure,
        sent: bool,
        sched: &mut Scheduler<Event>,
    ) {
        let now = sched.now();
        let Some(request) = self.requests.get_mut(req) else {
            return;
        };
        if request.attempt != attempt {
            return;
        }
        let peer = request.tried.last().copied();
        request.phase = ReqPhase::Idle;
        let Some(g) = request.gateway else {
            // A direct client sees the failure itself.
            self.finish_direct(req, None, sched);
            return;
        };
        let g = g as usize;
        let status = match failure {
            Failure::Error => 502,
            Failure::Timeout => 504,
        };
        request.last_failure = Some(status);
        let client_method = match request.caller {
            Caller::Client(c) => self.scenario.clients[c as usize].method,
            Caller::Handler(_) => Method::Idempotent,
        };
        let spec = &self.scenario.gateways[g];
        if let Some(p) = peer {
            if spec.max_fails > 0 {
                if let Some(h) = self.gateways[g].health.get_mut(p) {
                    h.0 += 1;
                    h.1 = now;
                }
            }
        }
        let nu = spec.next_upstream;
        let listed = match failure {
            Failure::Error => nu.error,
            Failure::Timeout => nu.timeout,
        };
        let may_resend = !sent || client_method == Method::Idempotent || nu.non_idempotent;
        if listed && may_resend {
            self.gateway_try(req, sched);
        } else {
            self.finish_gateway(req, status, sched);
        }
    }

    fn finish_gateway(&mut self, req: Key, status: u16, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(request) = self.requests.remove(req) else {
            return;
        };
        let g = request.gateway.map_or(0, |g| g as usize);
        self.record_gateway_response(g, status, now.saturating_sub(request.arrived), now);
        let Caller::Client(c) = request.caller else {
            return;
        };
        let client = &mut self.clients[c as usize];
        if status < 300 {
            client.totals.ok += 1;
            client.interval_ok += 1;
            client.totals.latency_sum_s += now.saturating_sub(request.arrived).as_secs_f64();
        } else {
            client.totals.failed += 1;
            client.interval_failed += 1;
        }
    }

    fn record_gateway_response(&mut self, g: usize, status: u16, latency: Nanos, now: Nanos) {
        let i = status_index(status);
        let gw = &mut self.gateways[g];
        gw.interval_status[i] += 1;
        gw.totals.by_status[i] += 1;
        let micros = (latency.0 / 1000).max(1);
        gw.interval_hist.saturating_record(micros);
        gw.total_hist.saturating_record(micros);
        if status >= 500 {
            gw.totals.last_5xx = Some(now);
        }
        if gw.totals.first[i].is_none() {
            gw.totals.first[i] = Some(now);
            if status != 200 {
                let name = self.scenario.gateways[g].name.clone();
                let detail = match status {
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

    /// A direct request ends: with a handler's status, or refused (None).
    fn finish_direct(&mut self, req: Key, status: Option<u16>, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(request) = self.requests.remove(req) else {
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

    // ----- handlers -------------------------------------------------------------------

    /// A worker of replica `r` is free: take the next live connection off its accept
    /// queue. Connections whose caller left while queued are read, found closed, and
    /// dropped without occupying the worker.
    fn accept_next(&mut self, r: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        loop {
            let rep = &self.replicas[r];
            if rep.state != ReplicaState::Ready {
                return;
            }
            let workers = self.services[rep.service].versions[rep.version].workers;
            if workers.is_some_and(|w| rep.busy_workers >= w) {
                return;
            }
            let Some(next) = self.replicas[r].accept_queue.pop_front() else {
                return;
            };
            let cancelled = self.handlers.get(next).is_none_or(|h| h.cancelled);
            if cancelled {
                if self.handlers.remove(next).is_some() {
                    let s = self.replicas[r].service;
                    self.services[s].totals.unanswered += 1;
                    self.leave_system(s, now);
                }
                continue;
            }
            self.start_handler(next, sched);
            return;
        }
    }

    fn enter_system(&mut self, s: usize, now: Nanos) {
        self.touch_in_system(s, now, 1);
    }

    fn leave_system(&mut self, s: usize, now: Nanos) {
        self.touch_in_system(s, now, -1);
    }

    fn touch_in_system(&mut self, s: usize, now: Nanos, delta: i64) {
        let svc = &mut self.services[s];
        let dt = now.saturating_sub(svc.in_system_since).as_secs_f64();
        svc.totals.in_system_area_s += dt * svc.in_system as f64;
        svc.in_system_since = now;
        svc.in_system = svc.in_system.saturating_add_signed(delta);
    }

    fn start_handler(&mut self, h: Key, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(handler) = self.handlers.get_mut(h) else {
            return;
        };
        let r = handler.replica;
        let queued_for = now.saturating_sub(handler.connected);
        handler.phase = HandlerPhase::Working;
        let rep = &mut self.replicas[r];
        rep.busy_workers += 1;
        rep.inflight += 1;
        let inflight = u64::from(rep.inflight);
        let s = rep.service;
        let totals = &mut self.services[s].totals;
        totals.started += 1;
        if queued_for > Nanos::ZERO {
            totals.waited += 1;
        }
        totals.queue_wait_sum_s += queued_for.as_secs_f64();
        totals.peak_inflight = totals.peak_inflight.max(inflight);
        self.peak_live = self
            .peak_live
            .max(self.requests.len() + self.handlers.len());
        if let Some((mem, limit)) = self.memory_mib(r) {
            let totals = &mut self.services[s].totals;
            totals.peak_memory_mib = totals.peak_memory_mib.max(mem);
            if mem > limit {
                self.crash(
                    r,
                    "oom_kill",
                    format!(
                        "OOM-killed: {mem:.1} MiB, over the {limit:.0} MiB limit, with {inflight} handlers in flight"
                    ),
                    sched,
                );
                return;
            }
        }
        self.advance(h, sched);
    }

    /// Run the handler's current step, or answer when there are none left.
    fn advance(&mut self, h: Key, sched: &mut Scheduler<Event>) {
        let Some(handler) = self.handlers.get(h) else {
            return;
        };
        if handler.cancelled {
            self.end_handler(h, None, sched);
            return;
        }
        let r = handler.replica;
        let step = handler.step;
        let rep = &self.replicas[r];
        let s = rep.service;
        let svc = &mut self.services[s];
        let spec = &svc.versions[rep.version];
        match spec.handler.steps.get(step) {
            None => self.end_handler(h, Some(200), sched),
            Some(Step::Work(latency)) => {
                let d = latency.sample(&mut svc.rng);
                if let Some(hd) = self.handlers.get_mut(h) {
                    hd.phase = HandlerPhase::Working;
                }
                sched.after(d, Event::StepDone { handler: h });
            }
            Some(Step::Query { pool }) => {
                let pool = *pool;
                let timeout = spec.pools[pool].acquire_timeout;
                match self.acquire(r, pool, Waiter::Handler(h), sched.now()) {
                    Acquire::Granted => self.begin_query(h, r, pool, sched),
                    Acquire::Wait => {
                        if let Some(hd) = self.handlers.get_mut(h) {
                            hd.waits += 1;
                            let wait = hd.waits;
                            hd.phase = HandlerPhase::Waiting { pool, wait };
                            if let Some(t) = timeout {
                                sched.after(t, Event::AcquireTimeout { handler: h, wait });
                            }
                        }
                    }
                    Acquire::Refused => self.end_handler(h, Some(500), sched),
                }
            }
            Some(Step::Call {
                service, timeout, ..
            }) => {
                let (target, timeout) = (*service, *timeout);
                let now = sched.now();
                let req = self
                    .requests
                    .insert(Request::new(Caller::Handler(h), None, now));
                if let Some(hd) = self.handlers.get_mut(h) {
                    hd.phase = HandlerPhase::Calling { req };
                }
                if let Some(t) = timeout {
                    sched.after(t, Event::ClientGiveUp { req });
                }
                let mut rr = self.services[target].call_rr;
                let pick = self.pick_endpoint(target, &mut rr);
                self.services[target].call_rr = rr;
                self.connect_direct(req, pick, sched);
            }
        }
    }

    /// A handler's outgoing call failed (refused, error status, or timed out): the
    /// handler answers its step's error status.
    fn call_failed(&mut self, h: Key, req: Key, sched: &mut Scheduler<Event>) {
        let Some(hd) = self.handlers.get(h) else {
            return;
        };
        if hd.phase != (HandlerPhase::Calling { req }) {
            return;
        }
        let rep = &self.replicas[hd.replica];
        let spec = &self.services[rep.service].versions[rep.version];
        let status = match spec.handler.steps.get(hd.step) {
            Some(Step::Call { error_status, .. }) => *error_status,
            _ => 500,
        };
        self.end_handler(h, Some(status), sched);
    }

    /// Hang up an outgoing call nobody waits for any more (its caller was cancelled or
    /// killed): the callee sees its caller disconnect.
    fn abandon_call(&mut self, req: Key, sched: &mut Scheduler<Event>) {
        if let Some(request) = self.requests.remove(req) {
            if let ReqPhase::Sent { handler } = request.phase {
                self.caller_disconnected(handler, sched);
            }
        }
    }

    fn begin_query(&mut self, h: Key, r: usize, pool: usize, sched: &mut Scheduler<Event>) {
        if let Some(hd) = self.handlers.get_mut(h) {
            hd.phase = HandlerPhase::Querying { pool };
        }
        let d = self.query_time(r, pool);
        sched.after(d, Event::QueryDone { handler: h });
    }

    fn query_time(&mut self, r: usize, pool: usize) -> Nanos {
        let rep = &self.replicas[r];
        let db = self.services[rep.service].versions[rep.version].pools[pool].database;
        let latency: &Latency = &self.scenario.databases[db].latency;
        let dbrt = &mut self.databases[db];
        let d = latency.sample(&mut dbrt.rng);
        if dbrt.factor == 1.0 {
            d
        } else {
            Nanos::from_secs_f64(d.as_secs_f64() * dbrt.factor)
        }
    }

    fn on_step_done(&mut self, h: Key, sched: &mut Scheduler<Event>) {
        if let Some(hd) = self.handlers.get_mut(h) {
            hd.step += 1;
            self.advance(h, sched);
        }
    }

    fn on_query_done(&mut self, h: Key, sched: &mut Scheduler<Event>) {
        let Some(hd) = self.handlers.get_mut(h) else {
            return;
        };
        let HandlerPhase::Querying { pool } = hd.phase else {
            return;
        };
        hd.step += 1;
        let r = hd.replica;
        self.release(r, pool, sched);
        self.advance(h, sched);
    }

    fn on_acquire_timeout(&mut self, h: Key, wait: u32, sched: &mut Scheduler<Event>) {
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
    fn caller_disconnected(&mut self, h: Key, sched: &mut Scheduler<Event>) {
        let Some(hd) = self.handlers.get_mut(h) else {
            return;
        };
        hd.origin = None;
        let r = hd.replica;
        let rep = &self.replicas[r];
        let context = self.services[rep.service].versions[rep.version]
            .handler
            .context;
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
                _ => {}
            }
        }
    }

    /// A handler ends, answering `status` to its caller if it still has one.
    fn end_handler(&mut self, h: Key, status: Option<u16>, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(hd) = self.handlers.remove(h) else {
            return;
        };
        let r = hd.replica;
        let s = self.replicas[r].service;
        self.leave_system(s, now);
        let totals = &mut self.services[s].totals;
        match (status, hd.origin) {
            (Some(code), Some(_)) => {
                if code < 300 {
                    totals.ok += 1;
                } else {
                    totals.errors += 1;
                }
                totals.response_sum_s += now.saturating_sub(hd.connected).as_secs_f64();
            }
            _ => totals.unanswered += 1,
        }
        if hd.phase != HandlerPhase::Queued {
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
            if let Some(g) = request.gateway {
                let g = g as usize;
                if let Some(p) = request.tried.last() {
                    if let Some(health) = self.gateways[g].health.get_mut(*p) {
                        health.0 = 0;
                    }
                }
                // An upstream 5xx not listed in proxy_next_upstream passes through.
                self.finish_gateway(req, code, sched);
            } else {
                self.finish_direct(req, Some(code), sched);
            }
        }
    }

    // ----- pools ----------------------------------------------------------------------

    fn acquire(&mut self, r: usize, p: usize, who: Waiter, now: Nanos) -> Acquire {
        let rep = &mut self.replicas[r];
        let s = rep.service;
        let spec = &self.services[s].versions[rep.version].pools[p];
        let pool = &mut rep.pools[p];
        if pool.idle > 0 {
            pool.idle -= 1;
            return Acquire::Granted;
        }
        if spec.max_open.is_none_or(|m| pool.open < m) {
            let db = &mut self.databases[spec.database];
            if db.connections < self.scenario.databases[spec.database].max_connections {
                db.connections += 1;
                pool.open += 1;
                return Acquire::Granted;
            }
            self.pools[s][p].totals.refused += 1;
            // database/sql returns the driver's error at once; HikariCP keeps the
            // borrower waiting (up to connectionTimeout) for a connection to free up.
            if spec.profile == PoolProfile::GoSql {
                return Acquire::Refused;
            }
        }
        pool.waiters.push_back((who, now));
        let waiting = pool.waiters.len() as u64;
        let newly_exhausted = !pool.exhausted;
        if newly_exhausted {
            pool.exhausted = true;
            pool.exhausted_since = now;
        }
        let ordinal = rep.ordinal;
        // The component is exhausted when its first replica's pool is; further replicas
        // running dry while it still is add no new occurrence.
        let component_newly_exhausted = newly_exhausted
            && !self.services[s]
                .replicas
                .iter()
                .any(|&x| x != r && self.replicas[x].pools.get(p).is_some_and(|q| q.exhausted));
        let pool = &self.replicas[r].pools[p];
        let in_use = pool.in_use();
        let size = spec.max_open.unwrap_or(in_use);
        let leaked = pool.leaked;
        let totals = &mut self.pools[s][p].totals;
        totals.wait_count += 1;
        if component_newly_exhausted {
            totals.exhaustions += 1;
            let name = spec.name.clone();
            let replicas = self.services[s].replicas.len();
            let mut detail = format!("pool exhausted: {in_use} of {size} connections in use");
            if replicas > 1 {
                detail.push_str(&format!(" in replica {ordinal}"));
            }
            let unopened = size.saturating_sub(pool.open);
            if unopened > 0 && spec.max_open.is_some() {
                detail.push_str(&format!(
                    " ({unopened} could not be opened: the database is full)"
                ));
            }
            if leaked > 0 {
                detail.push_str(&format!(", {leaked} of them leaked"));
            }
            detail.push_str("; callers now wait");
            self.note(now, "pool_exhausted", &name, detail);
        }
        let total_waiting: u64 = self.services[s]
            .replicas
            .iter()
            .map(|&x| {
                self.replicas[x]
                    .pools
                    .get(p)
                    .map_or(0, |q| q.waiters.len() as u64)
            })
            .sum::<u64>()
            .max(waiting);
        let totals = &mut self.pools[s][p].totals;
        totals.peak_waiting = totals.peak_waiting.max(total_waiting);
        Acquire::Wait
    }

    fn remove_waiter(&mut self, r: usize, p: usize, who: Waiter, now: Nanos) {
        let pool = &mut self.replicas[r].pools[p];
        if let Some(i) = pool.waiters.iter().position(|(w, _)| *w == who) {
            pool.waiters.remove(i);
            if pool.waiters.is_empty() {
                pool.drained_at = now;
            }
        }
    }

    /// A connection comes back: handed to a waiter, kept idle, or closed.
    fn release(&mut self, r: usize, p: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let rep = &mut self.replicas[r];
        let s = rep.service;
        let spec = &self.services[s].versions[rep.version].pools[p];
        let pool = &mut rep.pools[p];
        if !pool.waiters.is_empty() {
            let next = match spec.fairness {
                Fairness::Fifo => pool.waiters.pop_front(),
                // Order among the rest does not matter, so fill the hole from the back.
                Fairness::Random => {
                    let i = self.pools[s][p].rng.below(pool.waiters.len());
                    pool.waiters.swap_remove_back(i)
                }
            };
            let Some((who, since)) = next else {
                return;
            };
            if pool.waiters.is_empty() {
                pool.drained_at = now;
            }
            let totals = &mut self.pools[s][p].totals;
            totals.wait_sum_s += now.saturating_sub(since).as_secs_f64();
            match who {
                Waiter::Handler(h) => self.begin_query(h, r, p, sched),
                Waiter::Job(j) => self.job_begin_query(r, j as usize, sched),
            }
            return;
        }
        if pool.idle < spec.max_idle {
            pool.idle += 1;
        } else {
            pool.open -= 1;
            self.databases[spec.database].connections -= 1;
        }
    }

    // ----- jobs -----------------------------------------------------------------------

    fn on_job_due(&mut self, r: usize, inc: u32, j: usize, sched: &mut Scheduler<Event>) {
        let rep = &self.replicas[r];
        if rep.incarnation != inc
            || matches!(rep.state, ReplicaState::Down | ReplicaState::Terminated)
        {
            return;
        }
        let every = self.spec_of(r).jobs[j].every;
        sched.after(
            every,
            Event::JobDue {
                replica: r as u32,
                incarnation: inc,
                job: j as u16,
            },
        );
        let job = &mut self.replicas[r].jobs[j];
        if job.running {
            // A run that is still going delays the next one until it ends.
            job.due_while_running = true;
            if !job.stuck_reported && job.phase == JobPhase::Acquiring {
                job.stuck_reported = true;
                let name = self.spec_of(r).jobs[j].name.clone();
                let now = sched.now();
                self.note(
                    now,
                    "job_stuck",
                    &name,
                    "batch run still waiting for a connection when the next run was due".into(),
                );
            }
            return;
        }
        self.job_start_run(r, j, sched);
    }

    fn job_start_run(&mut self, r: usize, j: usize, sched: &mut Scheduler<Event>) {
        let inc = self.replicas[r].incarnation;
        let context = self.spec_of(r).jobs[j].context;
        let job = &mut self.replicas[r].jobs[j];
        job.running = true;
        job.run += 1;
        job.iteration = 0;
        job.held = 0;
        job.deadline_passed = false;
        job.due_while_running = false;
        job.stuck_reported = false;
        let run = job.run;
        if let JobContext::Timeout(t) = context {
            sched.after(
                t,
                Event::JobDeadline {
                    replica: r as u32,
                    incarnation: inc,
                    job: j as u16,
                    run,
                },
            );
        }
        self.job_next_iteration(r, j, sched);
    }

    fn job_next_iteration(&mut self, r: usize, j: usize, sched: &mut Scheduler<Event>) {
        let (iterations, pool) = {
            let spec = &self.spec_of(r).jobs[j];
            (spec.iterations, spec.pool)
        };
        if self.replicas[r].jobs[j].iteration >= iterations {
            self.job_end_run(r, j, sched);
            return;
        }
        match self.acquire(r, pool, Waiter::Job(j as u16), sched.now()) {
            Acquire::Granted => self.job_begin_query(r, j, sched),
            Acquire::Wait => self.replicas[r].jobs[j].phase = JobPhase::Acquiring,
            Acquire::Refused => self.job_end_run(r, j, sched),
        }
    }

    fn job_begin_query(&mut self, r: usize, j: usize, sched: &mut Scheduler<Event>) {
        let pool = self.spec_of(r).jobs[j].pool;
        let job = &mut self.replicas[r].jobs[j];
        job.phase = JobPhase::Querying;
        job.held += 1;
        let d = self.query_time(r, pool);
        let inc = self.replicas[r].incarnation;
        sched.after(
            d,
            Event::JobQueryDone {
                replica: r as u32,
                incarnation: inc,
                job: j as u16,
            },
        );
    }

    fn on_job_query_done(&mut self, r: usize, inc: u32, j: usize, sched: &mut Scheduler<Event>) {
        if self.replicas[r].incarnation != inc {
            return;
        }
        let (release, pool) = {
            let spec = &self.spec_of(r).jobs[j];
            (spec.release, spec.pool)
        };
        let job = &mut self.replicas[r].jobs[j];
        if job.phase != JobPhase::Querying {
            return;
        }
        job.phase = JobPhase::Idle;
        job.iteration += 1;
        let deadline_passed = job.deadline_passed;
        if release == ReleaseMode::PerIteration {
            job.held -= 1;
            self.release(r, pool, sched);
        }
        if deadline_passed {
            self.job_end_run(r, j, sched);
        } else {
            self.job_next_iteration(r, j, sched);
        }
    }

    fn on_job_deadline(
        &mut self,
        r: usize,
        inc: u32,
        j: usize,
        run: u32,
        sched: &mut Scheduler<Event>,
    ) {
        if self.replicas[r].incarnation != inc {
            return;
        }
        let pool = self.spec_of(r).jobs[j].pool;
        let job = &mut self.replicas[r].jobs[j];
        if !job.running || job.run != run {
            return;
        }
        match job.phase {
            JobPhase::Acquiring => {
                self.remove_waiter(r, pool, Waiter::Job(j as u16), sched.now());
                self.job_end_run(r, j, sched);
            }
            JobPhase::Querying => job.deadline_passed = true,
            JobPhase::Idle => self.job_end_run(r, j, sched),
        }
    }

    /// The batch function returns: its deferred closes run, per the release mode.
    fn job_end_run(&mut self, r: usize, j: usize, sched: &mut Scheduler<Event>) {
        let (release, pool) = {
            let spec = &self.spec_of(r).jobs[j];
            (spec.release, spec.pool)
        };
        let job = &mut self.replicas[r].jobs[j];
        let held = job.held;
        job.held = 0;
        job.running = false;
        job.phase = JobPhase::Idle;
        let again = job.due_while_running;
        let (to_release, to_leak) = match release {
            ReleaseMode::PerIteration => (held, 0),
            ReleaseMode::AtFunctionReturn => (held, 0),
            ReleaseMode::LastOnly => (held.min(1), held.saturating_sub(1)),
        };
        if to_leak > 0 {
            let s = self.replicas[r].service;
            self.replicas[r].pools[pool].leaked += to_leak;
            self.pools[s][pool].totals.leaked += u64::from(to_leak);
        }
        for _ in 0..to_release {
            self.release(r, pool, sched);
        }
        if again {
            self.job_start_run(r, j, sched);
        }
    }

    // ----- timeline -------------------------------------------------------------------

    fn on_timeline(&mut self, index: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let entry = self.scenario.timeline[index].clone();
        let (component, mut detail) = self.describe_action(&entry.action);
        if let Some(n) = &entry.note {
            detail = format!("{detail}: {n}");
        }
        self.note(now, "timeline", &component, detail);
        if let Some(last) = self.occurrences.last_mut() {
            last.label = Some(
                entry
                    .label
                    .clone()
                    .unwrap_or_else(|| short_label(&entry.action)),
            );
        }
        match entry.action {
            Action::SetRate { client, rate_per_s } => {
                let c = &mut self.clients[client];
                c.rate_per_s = rate_per_s;
                c.generation += 1;
                self.schedule_arrival(client, sched);
            }
            Action::Deploy { service, changes } => {
                let svc = &mut self.services[service];
                let mut next = svc.versions[svc.current].clone();
                for change in &changes {
                    apply_change(&mut next, change);
                }
                svc.history.push(svc.current);
                svc.versions.push(next);
                svc.current = svc.versions.len() - 1;
                self.continue_rollout(service, sched);
            }
            Action::Rollback { service } => {
                let svc = &mut self.services[service];
                if let Some(prev) = svc.history.pop() {
                    svc.current = prev;
                    self.continue_rollout(service, sched);
                }
            }
            Action::Kill { service, replica } => {
                let live: Vec<usize> = self.services[service]
                    .replicas
                    .iter()
                    .copied()
                    .filter(|&r| self.replicas[r].state != ReplicaState::Terminated)
                    .collect();
                if let Some(&r) = live.get(replica) {
                    self.crash(r, "kill", "process killed (timeline)".into(), sched);
                }
            }
            Action::SlowDatabase { database, factor } => {
                self.databases[database].factor = factor;
            }
            Action::Scale { service, replicas } => {
                let have = self.services[service].replicas.len();
                let want = replicas as usize;
                for _ in have..want {
                    let r = self.add_replica(service, now);
                    self.begin_startup(r, sched);
                }
                for _ in want..have {
                    if let Some(&r) = self.services[service].replicas.last() {
                        self.terminate(r, "scaled down".into(), sched);
                    }
                }
                self.refresh_peers();
            }
        }
    }

    fn describe_action(&self, action: &Action) -> (String, String) {
        let s = &self.scenario;
        match action {
            Action::SetRate { client, rate_per_s } => (
                s.clients[*client].name.clone(),
                format!("rate set to {rate_per_s}/s"),
            ),
            Action::Deploy { service, changes } => {
                let spec = &self.services[*service].versions[self.services[*service].current];
                let parts: Vec<String> = changes.iter().map(|c| describe_change(spec, c)).collect();
                (
                    s.services[*service].name.clone(),
                    format!("deploy ({})", parts.join(", ")),
                )
            }
            Action::Rollback { service } => (
                s.services[*service].name.clone(),
                "rollback to the previous version".into(),
            ),
            Action::Kill { service, replica } => (
                s.services[*service].name.clone(),
                format!("kill replica {replica}"),
            ),
            Action::SlowDatabase { database, factor } => (
                s.databases[*database].name.clone(),
                format!("database latency x{factor}"),
            ),
            Action::Scale { service, replicas } => (
                s.services[*service].name.clone(),
                format!("scale to {replicas} replicas"),
            ),
        }
    }

    // ----- metrics --------------------------------------------------------------------

    fn on_tick(&mut self, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let mut row = Vec::with_capacity(self.series.columns.len());
        for c in &mut self.clients {
            row.extend([
                c.interval_sent as f64,
                c.interval_ok as f64,
                c.interval_failed as f64,
            ]);
            c.interval_sent = 0;
            c.interval_ok = 0;
            c.interval_failed = 0;
        }
        for g in &mut self.gateways {
            row.push(g.interval_requests as f64);
            row.extend(g.interval_status.iter().map(|&v| v as f64));
            if g.interval_hist.is_empty() {
                row.extend([f64::NAN, f64::NAN, f64::NAN]);
            } else {
                for q in [0.5, 0.95, 0.99] {
                    row.push(g.interval_hist.value_at_quantile(q) as f64 / 1000.0);
                }
            }
            g.interval_requests = 0;
            g.interval_status = [0; 6];
            g.interval_hist.reset();
        }
        for s in 0..self.services.len() {
            let (mut inflight, mut queued, mut memory, mut up) = (0u64, 0u64, 0f64, 0u64);
            for &r in &self.services[s].replicas {
                let rep = &self.replicas[r];
                inflight += u64::from(rep.inflight);
                queued += rep.accept_queue.len() as u64;
                if rep.state == ReplicaState::Ready {
                    up += 1;
                }
                if rep.state != ReplicaState::Down {
                    if let Some((m, _)) = self.memory_mib(r) {
                        memory = memory.max(m);
                    }
                }
            }
            let restarts = self.services[s].totals.restarts as f64;
            row.extend([inflight as f64, queued as f64, memory, up as f64, restarts]);
            let npools = self.scenario.services[s].pools.len();
            for p in 0..npools {
                let (mut in_use, mut idle, mut waiting, mut max_open, mut leaked) =
                    (0u64, 0u64, 0u64, 0u64, 0u64);
                let mut recovered = true;
                let mut drained_at = Nanos::ZERO;
                let mut since = Nanos::MAX;
                for &r in &self.services[s].replicas {
                    let rep = &self.replicas[r];
                    if matches!(rep.state, ReplicaState::Terminated) {
                        continue;
                    }
                    let pool = &rep.pools[p];
                    in_use += u64::from(pool.in_use());
                    idle += u64::from(pool.idle);
                    waiting += pool.waiters.len() as u64;
                    leaked += u64::from(pool.leaked);
                    if rep.state != ReplicaState::Down {
                        max_open += u64::from(
                            self.services[s].versions[rep.version].pools[p]
                                .max_open
                                .unwrap_or(0),
                        );
                    }
                    if pool.exhausted {
                        drained_at = drained_at.max(pool.drained_at);
                        since = since.min(pool.exhausted_since);
                        if !pool.waiters.is_empty()
                            || now.saturating_sub(pool.drained_at) < self.scenario.resolution
                        {
                            recovered = false;
                        }
                    }
                }
                row.extend([
                    in_use as f64,
                    idle as f64,
                    waiting as f64,
                    max_open as f64,
                    leaked as f64,
                ]);
                // Recovered: a whole interval with nobody waiting (debounces flapping).
                let was_exhausted = self.services[s]
                    .replicas
                    .iter()
                    .any(|&r| self.replicas[r].pools[p].exhausted);
                if was_exhausted && recovered {
                    for &r in &self.services[s].replicas.clone() {
                        self.replicas[r].pools[p].exhausted = false;
                    }
                    let name = self.scenario.services[s].pools[p].name.clone();
                    self.note(
                        drained_at,
                        "pool_recovered",
                        &name,
                        format!(
                            "pool recovered after {} of callers waiting",
                            drained_at.saturating_sub(since)
                        ),
                    );
                }
            }
            let njobs = self.scenario.services[s].jobs.len();
            for j in 0..njobs {
                let running = self.services[s]
                    .replicas
                    .iter()
                    .filter(|&&r| self.replicas[r].jobs.get(j).is_some_and(|x| x.running))
                    .count();
                row.push(running as f64);
            }
        }
        for d in &self.databases {
            row.push(f64::from(d.connections));
        }
        self.series.values.extend(row);
        if now < self.scenario.duration {
            sched.after(self.scenario.resolution, Event::Tick);
        }
    }
}

enum Acquire {
    Granted,
    Wait,
    Refused,
}

/// Metric columns in a fixed order: components in file order, metrics in a fixed order.
pub fn metric_columns(s: &Scenario) -> Vec<String> {
    let mut cols = Vec::new();
    for c in &s.clients {
        for m in ["sent", "ok", "failed"] {
            cols.push(format!("{}.{m}", c.name));
        }
    }
    for g in &s.gateways {
        cols.push(format!("{}.requests", g.name));
        for st in STATUSES {
            cols.push(format!("{}.status_{st}", g.name));
        }
        for q in ["p50_ms", "p95_ms", "p99_ms"] {
            cols.push(format!("{}.{q}", g.name));
        }
    }
    for sv in &s.services {
        for m in [
            "inflight",
            "queued",
            "memory_mib",
            "replicas_up",
            "restarts",
        ] {
            cols.push(format!("{}.{m}", sv.name));
        }
        for p in &sv.pools {
            for m in ["in_use", "idle", "waiting", "max_open", "leaked"] {
                cols.push(format!("{}.{m}", p.name));
            }
        }
        for j in &sv.jobs {
            cols.push(format!("{}.running", j.name));
        }
    }
    for d in &s.databases {
        cols.push(format!("{}.connections", d.name));
    }
    cols
}

fn apply_change(spec: &mut ServiceSpec, change: &Change) {
    match change {
        Change::JobRelease { job, release } => spec.jobs[*job].release = *release,
        Change::JobIterations { job, iterations } => spec.jobs[*job].iterations = *iterations,
        Change::JobContext { job, context } => spec.jobs[*job].context = *context,
        Change::PoolMaxOpen { pool, max_open } => spec.pools[*pool].max_open = *max_open,
        Change::PoolAcquireTimeout { pool, timeout } => {
            spec.pools[*pool].acquire_timeout = *timeout
        }
        Change::StepLatency { step, latency } => {
            if let Some(Step::Work(l)) = spec.handler.steps.get_mut(*step) {
                *l = latency.clone();
            }
        }
        Change::HandlerContext(c) => spec.handler.context = *c,
        Change::MemoryLimit(limit) => {
            if let Some(m) = spec.memory.as_mut() {
                m.limit_mib = *limit;
            }
        }
    }
}

/// A few words naming a timeline action, for chart markers.
fn short_label(action: &Action) -> String {
    match action {
        Action::SetRate { rate_per_s, .. } => format!("rate {rate_per_s}/s"),
        Action::Deploy { .. } => "deploy".into(),
        Action::Rollback { .. } => "rollback".into(),
        Action::Kill { .. } => "kill".into(),
        Action::SlowDatabase { factor, .. } => format!("database x{factor}"),
        Action::Scale { replicas, .. } => format!("scale to {replicas}"),
    }
}

fn release_name(r: ReleaseMode) -> &'static str {
    match r {
        ReleaseMode::PerIteration => "per_iteration",
        ReleaseMode::AtFunctionReturn => "at_function_return",
        ReleaseMode::LastOnly => "last_only",
    }
}

fn describe_change(spec: &ServiceSpec, change: &Change) -> String {
    match change {
        Change::JobRelease { job, release } => {
            format!(
                "job {} releases {}",
                spec.jobs[*job].name,
                release_name(*release)
            )
        }
        Change::JobIterations { job, iterations } => {
            format!("job {} runs {iterations} iterations", spec.jobs[*job].name)
        }
        Change::JobContext { job, context } => match context {
            JobContext::Background => {
                format!("job {} on a background context", spec.jobs[*job].name)
            }
            JobContext::Timeout(t) => format!("job {} times out after {t}", spec.jobs[*job].name),
        },
        Change::PoolMaxOpen { pool, max_open } => match max_open {
            Some(m) => format!("pool {} max_open {m}", spec.pools[*pool].name),
            None => format!("pool {} unlimited", spec.pools[*pool].name),
        },
        Change::PoolAcquireTimeout { pool, timeout } => match timeout {
            Some(t) => format!("pool {} acquire timeout {t}", spec.pools[*pool].name),
            None => format!("pool {} without acquire timeout", spec.pools[*pool].name),
        },
        Change::StepLatency { step, .. } => format!("handler step {} latency changed", step + 1),
        Change::HandlerContext(c) => match c {
            WaitContext::Request => "handlers bound to the request context".into(),
            WaitContext::Background => "handlers on a background context".into(),
        },
        Change::MemoryLimit(l) => format!("memory limit {l:.0} MiB"),
    }
}

impl Model for World {
    type Event = Event;

    fn handle(&mut self, event: Event, sched: &mut Scheduler<Event>) {
        match event {
            Event::Tick => self.on_tick(sched),
            Event::Arrival { client, generation } => {
                self.on_arrival(client as usize, generation, sched)
            }
            Event::ClientGiveUp { req } => self.on_client_give_up(req, sched),
            Event::ConnectTimeout { req, attempt } => self.on_connect_timeout(req, attempt, sched),
            Event::SynRetry {
                req,
                attempt,
                retry,
            } => self.on_syn_retry(req, attempt, retry, sched),
            Event::ReadTimeout { req, attempt } => self.on_read_timeout(req, attempt, sched),
            Event::StepDone { handler } => self.on_step_done(handler, sched),
            Event::QueryDone { handler } => self.on_query_done(handler, sched),
            Event::AcquireTimeout { handler, wait } => {
                self.on_acquire_timeout(handler, wait, sched)
            }
            Event::JobDue {
                replica,
                incarnation,
                job,
            } => self.on_job_due(replica as usize, incarnation, job as usize, sched),
            Event::JobQueryDone {
                replica,
                incarnation,
                job,
            } => self.on_job_query_done(replica as usize, incarnation, job as usize, sched),
            Event::JobDeadline {
                replica,
                incarnation,
                job,
                run,
            } => self.on_job_deadline(replica as usize, incarnation, job as usize, run, sched),
            Event::ReplicaStart {
                replica,
                incarnation,
            } => self.on_replica_start(replica as usize, incarnation, sched),
            Event::ReplicaReady {
                replica,
                incarnation,
            } => self.on_replica_ready(replica as usize, incarnation, sched),
            Event::Timeline { index } => self.on_timeline(index as usize, sched),
        }
        while let Some(r) = self.pending_accepts.pop() {
            self.accept_next(r, sched);
        }
    }
}
