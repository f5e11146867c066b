//! The validated description of a system and its timeline, in plain types.
//!
//! The incident layer lowers a YAML file into these; the simulation reads only these.
//! Every reference is already an index, every value already checked (positive rates,
//! non-zero capacities, known targets), so the simulation never has to fail on input.

use crate::engine::Nanos;

pub use super::admission::{LimitConnSpec, LimitReqSpec};
pub use super::autoscaler::HpaSpec;
pub use super::breaker::BreakerSpec;
pub use super::cache::{
    CacheStart, KeyedCache, Popularity, Zipf, MAX_CACHE_KEYS, MAX_ZIPF_EXPONENT,
};
use super::dist::Latency;
pub use super::fds::FdSpec;
pub use super::probe::{ContainerProbeSpec, ProbeSpec};
pub use super::retry::{RetryBudget, RetryPolicy};
pub use super::runtime::RuntimeSpec;

mod gateway;
mod timeline;
pub use gateway::*;
pub use timeline::*;

/// Everything a replay needs.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short machine name, used for the output folder.
    pub name: String,
    /// Headline for reports.
    pub title: String,
    /// What happened, as a postmortem author would write it.
    pub description: String,
    /// URLs of the public reports the incident is built from.
    pub sources: Vec<String>,
    /// Seed of every random stream.
    pub seed: u64,
    /// Simulated time to replay.
    pub duration: Nanos,
    /// Width of one row of the time series.
    pub resolution: Nanos,
    /// Time between two scrapes of the exported metrics (`metrics.om`): a positive
    /// multiple of `resolution`.
    pub scrape_interval: Nanos,
    /// The wall-clock instant the replay's time 0 stands for, milliseconds since the
    /// Unix epoch (the timestamps of `metrics.om`).
    pub start_unix_ms: i64,
    /// Traffic sources.
    pub clients: Vec<ClientSpec>,
    /// Reverse proxies.
    pub gateways: Vec<GatewaySpec>,
    /// Application services.
    pub services: Vec<ServiceSpec>,
    /// Database servers.
    pub databases: Vec<DatabaseSpec>,
    /// Named routes (request classes) the services define, by global route id.
    pub routes: Vec<RouteSpec>,
    /// Caches that handlers' `cached` steps look up.
    pub caches: Vec<CacheSpec>,
    /// What happens when, in time order.
    pub timeline: Vec<TimelineEntry>,
    /// Alerting and recording rules evaluated over the replay's metrics: the file's
    /// `alerts:` first, then the groups of its `alerts_file`.
    pub rule_groups: Vec<crate::outcome::alerts::RuleGroup>,
    /// The `alerts_file` the file names, for the layer that reads files to load.
    pub alerts_file: Option<FileRef>,
}

/// A file an incident file names, with where it names it (for errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// The path as written, relative to the incident file.
    pub path: String,
    /// Line of the reference.
    pub line: u64,
    /// Column of the reference.
    pub column: u64,
}

impl Scenario {
    /// Every alerting rule, in group order.
    pub fn alert_rules(&self) -> impl Iterator<Item = &crate::outcome::alerts::AlertRule> {
        self.rule_groups.iter().flat_map(|g| g.alerts())
    }
}

/// A named route (request class, an endpoint such as `POST /v1/charges`), shared by
/// every service that defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Route name, as clients, gateways and calls address it.
    pub name: String,
    /// Its method class.
    pub method: Method,
}

/// A client's traffic to one route.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteShare {
    /// Global route id.
    pub route: usize,
    /// Share of the client's requests, in (0, 1]; the shares of a client sum to 1.
    pub share: f64,
}

/// Where a client or a gateway sends requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A gateway, by index.
    Gateway(usize),
    /// A service, by index: the client connects to a replica directly.
    Service(usize),
}

/// How a client spaces its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrivals {
    /// Exponential inter-arrival times (open-loop users).
    Poisson,
    /// Evenly spaced requests (a cron, a load generator).
    Constant,
}

/// HTTP method class, which decides whether nginx may retry after sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET, HEAD, PUT, DELETE, OPTIONS: retried on the next upstream.
    Idempotent,
    /// POST, PATCH, LOCK: not retried once sent unless `non_idempotent` is set.
    NonIdempotent,
}

/// An open-loop traffic source.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// Component name.
    pub name: String,
    /// Where requests go.
    pub target: Target,
    /// Requests per second at the start of the run.
    pub rate_per_s: f64,
    /// Inter-arrival law.
    pub arrivals: Arrivals,
    /// The client gives up after this long (nginx logs 499 if it was still working).
    pub timeout: Option<Nanos>,
    /// Method class of the requests.
    pub method: Method,
    /// Client retries (`attempts: 1` when none). `timeout` is per attempt.
    pub retry: RetryPolicy,
    /// Circuit breaker around each attempt, if any.
    pub breaker: Option<BreakerSpec>,
    /// Bulkhead: most attempts in flight at once (resilience4j `maxConcurrentCalls`).
    pub bulkhead: Option<u32>,
    /// How it picks a replica when it calls a service directly: round robin, or
    /// Envoy's `least_request` or `random` (a sidecar or client-side load balancer).
    pub lb_policy: EnvoyLbPolicy,
    /// How its requests split among routes (empty: no route, the services' only
    /// handler).
    pub routes: Vec<RouteShare>,
}

/// Whose context a handler's (or a job's) waits are bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitContext {
    /// `r.Context()`: cancelled when the caller disconnects.
    Request,
    /// `context.Background()`: never cancelled.
    Background,
}

/// One step of a request handler.
// Steps are stored once per service version, so a large `Call` costs nothing; boxing
// its policies would add a pointer chase to every call.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Step {
    /// CPU or other local work taking a sampled time.
    Work(Latency),
    /// The response's header goes out (unless an earlier `body` step sent it), then its
    /// body in `chunks` writes, each after a draw of `every`: a reader's read timeout
    /// restarts at the header and at every write. The steps after it run with the
    /// header sent; the handler's end is the body's end.
    Body {
        /// Writes of the body.
        chunks: u32,
        /// Time before each write.
        every: Latency,
    },
    /// A query through one of the service's pools (by index within the service):
    /// acquire a connection, run the statement at the pool's database, release.
    Query {
        /// Pool index within the service.
        pool: usize,
        /// What it runs there: the database's query, or a statement of its own time.
        statement: Statement,
    },
    /// An HTTP call to another service (round-robin over its ready replicas), with the
    /// HTTP client's timeout. A refused, failed or timed-out call makes the handler
    /// answer `error_status`.
    Call {
        /// Service index.
        service: usize,
        /// Client-side timeout of the call (Go `http.Client.Timeout`; none by default).
        timeout: Option<Nanos>,
        /// What the handler answers when the call fails.
        error_status: u16,
        /// The HTTP client's retries (`attempts: 1` when none); `timeout` is per attempt.
        retry: RetryPolicy,
        /// Circuit breaker around each attempt, if any.
        breaker: Option<BreakerSpec>,
        /// Bulkhead: most attempts in flight at once from one replica.
        bulkhead: Option<u32>,
        /// How it picks a replica of the service (round robin, or Envoy's
        /// `least_request` or `random`, as a sidecar would).
        lb_policy: EnvoyLbPolicy,
        /// The route it calls, if any (global route id).
        route: Option<usize>,
    },
    /// A lookup in a cache in front of the steps that follow it, up to `end`: on a hit
    /// (or a stale entry served) the handler goes on at `end`; on a miss it runs those
    /// steps and then stores the entry (cache-aside). Steps stay one flat list, so a
    /// handler's place in it is a plain index.
    Cached {
        /// Cache index.
        cache: usize,
        /// Index of the first step after the ones the cache is in front of.
        end: usize,
    },
    /// Open `fds` descriptors and never close them (they go with the process); the
    /// process exits when they do not fit under its limit (`fds.rs`).
    Leak {
        /// Descriptors leaked per run of the step.
        fds: u32,
    },
}

/// Where a cache's entries live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheScope {
    /// In each replica's process: one instance per replica, emptied when the process
    /// dies.
    Process,
    /// One instance for the whole system (Redis, memcached), kept across restarts.
    Shared,
}

/// What a cache decides a lookup by.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheModel {
    /// Entries per key, with a TTL: hits and misses follow from the lookups.
    Keyed(KeyedCache),
    /// A fixed probability that a lookup hits, with no entries (a cache's observed
    /// steady state).
    HitRatio(f64),
}

/// A cache in front of a dependency.
#[derive(Debug, Clone)]
pub struct CacheSpec {
    /// Component name.
    pub name: String,
    /// Entries and their rules, or a fixed hit ratio.
    pub model: CacheModel,
    /// Per process or shared.
    pub scope: CacheScope,
    /// How long a lookup takes before its answer is known.
    pub lookup: Latency,
}

/// What a service's request handlers do: every route's steps, one after another in
/// one list (so a step has one index whatever its route), and the routes.
#[derive(Debug, Clone)]
pub struct HandlerSpec {
    /// Steps of every route, each route's a contiguous run.
    pub steps: Vec<Step>,
    /// The routes, at least one; the first serves requests without a route of this
    /// service's (and kubelet probes use none).
    pub routes: Vec<ServiceRoute>,
}

impl HandlerSpec {
    /// The service's route for global route id `route` (its first route when it does
    /// not define that one), by index.
    pub fn route_index(&self, route: Option<usize>) -> usize {
        route
            .and_then(|id| self.routes.iter().position(|r| r.route == Some(id)))
            .unwrap_or(0)
    }

    /// Whether a worker admits a request of any route: one route, without a
    /// concurrency limit (no bulkhead to check).
    pub fn admits_every_route(&self) -> bool {
        self.routes.len() < 2
            && self
                .routes
                .first()
                .is_none_or(|x| x.concurrency_limit.is_none())
    }
}

impl ServiceRoute {
    /// The single unnamed route of a handler of `steps` steps.
    pub fn whole(steps: usize, context: WaitContext) -> ServiceRoute {
        ServiceRoute {
            route: None,
            first_step: 0,
            end_step: steps,
            context,
            reserved_workers: 0,
            concurrency_limit: None,
        }
    }
}

/// One route of a service: where its steps are, and its own limits.
#[derive(Debug, Clone)]
pub struct ServiceRoute {
    /// Global route id; None for a service's single unnamed handler.
    pub route: Option<usize>,
    /// Its first step in `HandlerSpec::steps`.
    pub first_step: usize,
    /// One past its last step; reaching it answers 200.
    pub end_step: usize,
    /// Context its waits are bound to.
    pub context: WaitContext,
    /// Workers of a thread pool held back for this route: other routes' requests are
    /// shed when taking a worker would leave fewer free (Stripe's reserved workers for
    /// critical requests).
    pub reserved_workers: u32,
    /// Most of this route's handlers in flight per replica; beyond it they are shed.
    pub concurrency_limit: Option<u32>,
}

/// Memory of one replica: baseline plus what each handler allocates, held while it is
/// in flight, and with a garbage-collected runtime until a collection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemorySpec {
    /// Resident memory of an idle process, outside any heap the runtime sizes, MiB.
    pub baseline_mib: f64,
    /// Memory each handler allocates when it starts (goroutine, buffers), MiB.
    pub per_request_mib: f64,
    /// Container limit; above it the kernel OOM-kills the process. MiB.
    pub limit_mib: f64,
    /// The runtime whose heap holds what handlers allocate.
    pub runtime: RuntimeSpec,
}

/// Delay before a crashed or killed process is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// Kubernetes CrashLoopBackOff: immediate first restart, then `initial` doubling to
    /// `max`, reset after `reset_after` of running.
    Kubernetes {
        /// First non-zero delay (10 s).
        initial: Nanos,
        /// Cap (5 min).
        max: Nanos,
        /// Running this long clears the back-off (10 min).
        reset_after: Nanos,
    },
    /// A plain supervisor restarting after a fixed delay.
    Fixed(Nanos),
}

/// How a service comes back after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartSpec {
    /// From process start to accepting connections (not ready meanwhile).
    pub startup: Nanos,
    /// Delay before the process is started again.
    pub backoff: Backoff,
}

/// Acquire order among waiters of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fairness {
    /// Go `database/sql`: a returned connection goes to a random waiter.
    Random,
    /// HikariCP: first come, first served.
    Fifo,
}

/// Which real pool a pool behaves like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolProfile {
    /// Go `database/sql`.
    GoSql,
    /// HikariCP.
    Hikari,
}

/// A connection pool inside each replica of a service.
#[derive(Debug, Clone)]
pub struct PoolSpec {
    /// Component name (metrics sum over replicas).
    pub name: String,
    /// Real pool it imitates.
    pub profile: PoolProfile,
    /// Database it connects to, by index.
    pub database: usize,
    /// Most connections open at once (`MaxOpenConns`, `maximumPoolSize`); None = unlimited.
    pub max_open: Option<u32>,
    /// Idle connections kept after release (`MaxIdleConns`).
    pub max_idle: u32,
    /// Longest wait for a connection before the handler fails with 500
    /// (`connectionTimeout`, or a Go context deadline); None = wait on the context.
    pub acquire_timeout: Option<Nanos>,
    /// Waiter order.
    pub fairness: Fairness,
}

/// A database server.
#[derive(Debug, Clone)]
pub struct DatabaseSpec {
    /// Component name.
    pub name: String,
    /// Time a query takes.
    pub latency: Latency,
    /// Server-wide connection limit; beyond it new connections are refused.
    pub max_connections: u32,
    /// Cores its queries share by processor sharing (`latency` is then a query's work
    /// on one core); None: every query takes its latency however many run.
    pub cpus: Option<f64>,
    /// PostgreSQL `statement_timeout`: a longer query is cancelled and its caller gets
    /// an error. None: off (PostgreSQL's default, 0).
    pub statement_timeout: Option<Nanos>,
    /// Work of starting a backend for a new connection, paid by the first query on it
    /// (on the database's cores when it has `cpus`).
    pub connection_setup: Nanos,
}

/// How a batch loop gives its connections back: the bug under study.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseMode {
    /// Closed inside the iteration: correct code.
    PerIteration,
    /// `defer conn.Close()` inside the loop: all held until the function returns.
    AtFunctionReturn,
    /// A deferred closure captures the loop variable: at return only the last connection
    /// is closed; the others leak until the process restarts.
    LastOnly,
}

/// Context of a batch job's waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobContext {
    /// `context.Background()`: waits forever.
    Background,
    /// `context.WithTimeout`: the run is abandoned (its function returns) at this age.
    Timeout(Nanos),
}

/// A batch loop inside each replica of a service.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Component name.
    pub name: String,
    /// Pool index within the service.
    pub pool: usize,
    /// Period between run starts.
    pub every: Nanos,
    /// Delay from process start to the first run.
    pub first_run: Nanos,
    /// Iterations per run; each takes a connection and runs `steps` on it.
    pub iterations: u32,
    /// What an iteration does while it holds its connection, in order (at least one,
    /// at most [`MAX_JOB_STEPS`]). A file without `steps` gets one database query.
    pub steps: Vec<JobStep>,
    /// How connections are given back.
    pub release: ReleaseMode,
    /// Context of its waits.
    pub context: JobContext,
}

/// Most steps one job iteration may have: a bound on what a file can ask for.
pub const MAX_JOB_STEPS: usize = 64;

/// What a query step (a handler's or a job iteration's) runs at the database. Either
/// way it holds a backend, counts among the running queries, and `statement_timeout`
/// cancels it.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// A query of the database's own latency law (times the `slow_database` factor),
    /// on its cores when it has `cpus`.
    Database,
    /// A statement whose time is its own (`SELECT pg_sleep(0.2)`, a lock wait): not on
    /// the database's cores, and not stretched by a `slow_database` factor.
    OwnTime(Latency),
}

/// One step of a batch job's iteration, run on the connection the iteration holds.
#[derive(Debug, Clone, PartialEq)]
pub enum JobStep {
    /// A statement on the connection.
    Query(Statement),
    /// Application time while holding the connection, with no query on the database:
    /// on the replica's cores (shared with its handlers) when the service has `cpus`.
    Work(Latency),
}

/// An application service with one or more replicas.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// Component name.
    pub name: String,
    /// Replicas at the start.
    pub replicas: u32,
    /// Concurrent handlers per replica (a thread pool); None = one goroutine per request.
    pub workers: Option<u32>,
    /// The listen backlog per replica, already capped at `somaxconn`: the accept queue
    /// holds `backlog` + 1 connections, as Linux's does.
    pub backlog: u32,
    /// `net.ipv4.tcp_abort_on_overflow`: refuse instead of dropping the handshake.
    pub abort_on_overflow: bool,
    /// What each request does.
    pub handler: HandlerSpec,
    /// Memory model; None = never OOM-killed.
    pub memory: Option<MemorySpec>,
    /// Descriptor limit, when it counts them (`fds:`, or a `leak` step); None = never.
    pub fds: Option<FdSpec>,
    /// How it comes back after a crash.
    pub restart: RestartSpec,
    /// Connection pools, one instance per replica.
    pub pools: Vec<PoolSpec>,
    /// Batch jobs, one instance per replica.
    pub jobs: Vec<JobSpec>,
    /// Kubernetes probes of each replica's container (none by default).
    pub probes: ContainerProbeSpec,
    /// What the probed health endpoint does (`work` and `query` steps).
    pub probe_steps: Vec<Step>,
    /// A HorizontalPodAutoscaler on the service, if any.
    pub autoscaler: Option<AutoscalerSpec>,
    /// Load shedding in each replica, if any.
    pub shed: Option<ShedSpec>,
    /// CPU limit of each replica in cores: its handlers' `work` steps share them by
    /// processor sharing. None: every step takes its time however many run.
    pub cpus: Option<f64>,
    /// Faults injected into its requests from the start, if any.
    pub faults: Option<FaultSpec>,
    /// How deploys, rollbacks and restarts replace its replicas unless the timeline
    /// entry says otherwise (a Deployment's `strategy`).
    pub strategy: DeployStrategy,
}

/// Faults injected into a service's requests before its handler runs (Envoy's HTTP
/// fault filter: a delay, then an abort), and connections reset.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultSpec {
    /// Answer this status to this share of requests (`abort`).
    pub abort: Option<(u16, f64)>,
    /// Hold this share of requests this long first (`delay`).
    pub delay: Option<(Nanos, f64)>,
    /// Reset the connection of this share of requests.
    pub reset: f64,
}

/// How a new version replaces a service's replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployStrategy {
    /// Kubernetes `RollingUpdate` with surge one and no unavailability: one new replica
    /// at a time, the old one stopped once the new one is ready.
    Rolling,
    /// Kubernetes `Recreate`, or a supervisor restarting the processes in place: every
    /// replica stops, then the new version starts in its place and serves once ready.
    Recreate,
}

/// A replica's own load shedding: what reaches a worker is answered at once with
/// `status` when the replica already has `concurrency_limit` handlers in flight, or
/// when it waited longer than `queue_timeout` for the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShedSpec {
    /// Most handlers in flight per replica.
    pub concurrency_limit: Option<u32>,
    /// Longest wait for a worker.
    pub queue_timeout: Option<Nanos>,
    /// What a shed request is answered.
    pub status: u16,
}

/// The per-pod metric an autoscaler reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpaMetric {
    /// Handlers in flight in the replica at the sync (a `Pods` metric such as an
    /// in-flight requests gauge).
    Inflight,
    /// Connections the replica accepted per second since the previous sync.
    RequestsPerSecond,
    /// CPU used since the previous sync, as a percentage of the replica's `cpus` (the
    /// `Resource` metric's `averageUtilization`, with the request equal to the limit).
    CpuUtilisation,
}

/// A HorizontalPodAutoscaler: the algorithm's settings and the metric it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoscalerSpec {
    /// The HPA object and controller settings.
    pub hpa: HpaSpec,
    /// Its metric.
    pub metric: HpaMetric,
}
