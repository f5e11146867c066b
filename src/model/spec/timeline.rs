//! The timeline: what changes when, and what a deploy changes in a service.

use super::*;

/// One change a deploy makes to a service.
#[derive(Debug, Clone)]
pub enum Change {
    /// A job's release mode (the bug, or its fix).
    JobRelease {
        /// Job index within the service.
        job: usize,
        /// New mode.
        release: ReleaseMode,
    },
    /// A job's iteration count.
    JobIterations {
        /// Job index within the service.
        job: usize,
        /// New count.
        iterations: u32,
    },
    /// A job's iteration steps.
    JobSteps {
        /// Job index within the service.
        job: usize,
        /// New steps.
        steps: Vec<JobStep>,
    },
    /// A job's context.
    JobContext {
        /// Job index within the service.
        job: usize,
        /// New context.
        context: JobContext,
    },
    /// A pool's size.
    PoolMaxOpen {
        /// Pool index within the service.
        pool: usize,
        /// New size (None = unlimited).
        max_open: Option<u32>,
    },
    /// A pool's acquire timeout.
    PoolAcquireTimeout {
        /// Pool index within the service.
        pool: usize,
        /// New timeout (None = none).
        timeout: Option<Nanos>,
    },
    /// The latency of one handler step (an index into every route's steps).
    StepLatency {
        /// Step index.
        step: usize,
        /// New latency.
        latency: Latency,
    },
    /// The wait context of a route's handlers (by index among the service's routes).
    HandlerContext {
        /// Route index within the service.
        route: usize,
        /// New context.
        context: WaitContext,
    },
    /// A call step's retries and breaker.
    CallPolicy {
        /// Step index.
        step: usize,
        /// New retry policy, if it changes.
        retry: Option<RetryPolicy>,
        /// New breaker (None inside: removed), if it changes.
        breaker: Option<Option<BreakerSpec>>,
    },
    /// The memory limit, MiB.
    MemoryLimit(f64),
    /// Shedding: each field given replaces the service's (a service without shedding
    /// starts from none and 503).
    Shed {
        /// New `concurrency_limit`, if it changes.
        concurrency_limit: Option<u32>,
        /// New `queue_timeout`, if it changes.
        queue_timeout: Option<Nanos>,
        /// New `shed_status`, if it changes.
        status: Option<u16>,
    },
}

/// An Envoy cluster's circuit-breaker thresholds (`circuit_breakers`), as a timeline
/// entry sets them all at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnvoyLimits {
    /// `max_connections`.
    pub max_connections: u32,
    /// `max_pending_requests`.
    pub max_pending_requests: u32,
    /// `max_requests`.
    pub max_requests: u32,
    /// The retry budget, or `max_retries` as a budget of 0% with that floor.
    pub retry_budget: RetryBudget,
}

/// Something that happens at a given time.
#[derive(Debug, Clone)]
pub enum Action {
    /// A client's rate changes (a spike, a drain).
    SetRate {
        /// Client index.
        client: usize,
        /// New rate.
        rate_per_s: f64,
    },
    /// A new version of a service rolls out by `strategy`.
    Deploy {
        /// Service index.
        service: usize,
        /// What the version changes.
        changes: Vec<Change>,
        /// How it replaces the replicas.
        strategy: DeployStrategy,
    },
    /// The previous version of a service rolls out again.
    Rollback {
        /// Service index.
        service: usize,
        /// How it replaces the replicas.
        strategy: DeployStrategy,
    },
    /// Every replica of a service is replaced by a new process of the same version
    /// (`kubectl rollout restart`: a new revision identical to the current one).
    Restart {
        /// Service index.
        service: usize,
        /// How it replaces the replicas (the service's strategy unless the entry says).
        strategy: DeployStrategy,
    },
    /// A replica's process is killed (it restarts with the back-off).
    Kill {
        /// Service index.
        service: usize,
        /// Replica ordinal among running replicas.
        replica: usize,
    },
    /// The database slows down by a factor (1 = normal again).
    SlowDatabase {
        /// Database index.
        database: usize,
        /// Latency multiplier.
        factor: f64,
    },
    /// A client's retry policy, breaker or timeout changes (a client release, a
    /// config push).
    SetClient {
        /// Client index.
        client: usize,
        /// New retry policy, if it changes.
        retry: Option<RetryPolicy>,
        /// New breaker (None inside: removed), if it changes.
        breaker: Option<Option<BreakerSpec>>,
        /// New per-attempt timeout (None inside: no timeout), if it changes.
        timeout: Option<Option<Nanos>>,
        /// New split among routes, if it changes.
        routes: Option<Vec<RouteShare>>,
        /// New bulkhead (`max_concurrent_calls`), if it changes.
        bulkhead: Option<u32>,
    },
    /// An nginx gateway's limits change (a limit raised during an incident).
    SetGateway {
        /// Gateway index.
        gateway: usize,
        /// New `limit_req`, if it changes.
        limit_req: Option<LimitReqSpec>,
        /// New `limit_conn`, if it changes.
        limit_conn: Option<u32>,
        /// An Envoy's new route retry policy (its retry budget kept) and per-try
        /// timeout, if they change.
        envoy_retry: Option<(RetryPolicy, Option<Nanos>)>,
        /// An Envoy's new cluster circuit breakers, if they change.
        envoy_limits: Option<EnvoyLimits>,
    },
    /// A service's autoscaler changes (bounds, target) or is switched off or on.
    SetAutoscaler {
        /// Service index.
        service: usize,
        /// New `minReplicas`, if it changes.
        min_replicas: Option<u32>,
        /// New `maxReplicas`, if it changes.
        max_replicas: Option<u32>,
        /// New target, if it changes.
        target: Option<f64>,
        /// Off (the operator deletes the HPA or pins the count) or on again.
        enabled: Option<bool>,
    },
    /// A service's injected faults change (None: off).
    SetFaults {
        /// Service index.
        service: usize,
        /// The faults from now on.
        faults: Option<FaultSpec>,
    },
    /// A cache is emptied (an operator's flush, a cache server restarted): every
    /// instance of it, in every replica for a per-process cache.
    FlushCache {
        /// Cache index.
        cache: usize,
    },
    /// The replica count changes.
    Scale {
        /// Service index.
        service: usize,
        /// New count.
        replicas: u32,
    },
}

/// One timeline entry.
#[derive(Debug, Clone)]
pub struct TimelineEntry {
    /// When.
    pub at: Nanos,
    /// What.
    pub action: Action,
    /// The author's note, shown in events and reports.
    pub note: Option<String>,
    /// A few words for chart markers (`bug ships`, `fix`).
    pub label: Option<String>,
    /// Name by which variants address this entry.
    pub id: Option<String>,
    /// What it means for the regimes: a trigger, the trigger's end, a fix.
    pub role: Option<crate::outcome::regimes::Role>,
}
