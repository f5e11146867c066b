//! What a replay produced: the time series, the notable occurrences, and totals.
//!
//! These are plain data for the report layer to write; nothing here knows a file format
//! or the model. The alert rules live here too ([`alerts`]): they observe the finished
//! series and never change the run.

pub mod alerts;
pub mod exposition;
pub mod promql;
pub mod regimes;

use crate::engine::Nanos;

/// The response statuses the gateway columns always carry, in column order: the
/// only ones the model answers (lowering refuses any other a file asks for).
pub const STATUSES: [u16; 7] = [200, 429, 499, 500, 502, 503, 504];

/// How many statuses are tracked.
pub const N_STATUSES: usize = STATUSES.len();

/// Column index of a status in [`STATUSES`] (504's for one it does not track, which
/// lowering never lets through).
pub fn status_index(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|&s| s == status)
        .unwrap_or(N_STATUSES - 1)
}

/// A table of one row per interval and one column per metric.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Width of one interval.
    pub resolution: Nanos,
    /// Column names, `<component>.<metric>`; `time_s` is implied as the first column.
    pub columns: Vec<String>,
    /// Row-major values; NaN means "no value in this interval" (no responses to take a
    /// percentile of), never zero.
    pub values: Vec<f64>,
}

impl Series {
    /// Number of complete rows.
    pub fn rows(&self) -> usize {
        if self.columns.is_empty() {
            0
        } else {
            self.values.len() / self.columns.len()
        }
    }

    /// The values of one row.
    pub fn row(&self, i: usize) -> &[f64] {
        let w = self.columns.len();
        &self.values[i * w..(i + 1) * w]
    }

    /// Start of row `i`, seconds.
    pub fn time_s(&self, i: usize) -> f64 {
        (self.resolution.0 as f64 * i as f64) / 1e9
    }

    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// All values of one column, by name.
    pub fn column_values(&self, name: &str) -> Option<Vec<f64>> {
        let c = self.column(name)?;
        Some((0..self.rows()).map(|r| self.row(r)[c]).collect())
    }
}

/// Something worth a line on the postmortem timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    /// When it happened.
    pub at: Nanos,
    /// What kind: `timeline`, `pool_exhausted`, `pool_recovered`, `db_refused`,
    /// `first_status`, `oom_kill`, `fd_exhausted`, `crash`, `kill`, `restart`, `ready`, `terminated`,
    /// `job_stuck`, `cache_emptied`, `alert_pending`, `alert_firing`, `alert_resolved`.
    pub kind: &'static str,
    /// Component it concerns.
    pub component: String,
    /// A sentence for people.
    pub detail: String,
    /// The status, for `first_status`.
    pub status: Option<u16>,
    /// Replica ordinal, where one is concerned.
    pub replica: Option<u32>,
    /// A few words for chart markers (timeline entries that have one).
    pub label: Option<String>,
}

/// Totals of one gateway.
#[derive(Debug, Clone, Default)]
pub struct GatewayTotals {
    /// Component name.
    pub name: String,
    /// Requests received.
    pub requests: u64,
    /// Responses per status, in [`STATUSES`] order.
    pub by_status: [u64; N_STATUSES],
    /// First response of each status.
    pub first: [Option<Nanos>; N_STATUSES],
    /// Last response of a 5xx.
    pub last_5xx: Option<Nanos>,
    /// Upstream attempts beyond the first (`proxy_next_upstream`).
    pub retries: u64,
    /// Requests answered 502 with no server tried: every untried server was marked
    /// failed (nginx logs "no live upstreams").
    pub no_live_upstreams: u64,
    /// Requests still in progress when the replay ended.
    pub in_flight_at_end: u64,
    /// 200s whose body broke off after the header (counted among the 200s, as nginx
    /// logs them): the upstream stalled past `proxy_read_timeout` between two reads,
    /// failed or died, or the client left.
    pub truncated: u64,
    /// Requests `limit_req` rejected.
    pub limit_req_rejected: u64,
    /// Requests `limit_req` delayed.
    pub limit_req_delayed: u64,
    /// Requests `limit_conn` rejected.
    pub limit_conn_rejected: u64,
    /// An Envoy gateway's failures by response flag.
    pub envoy_flags: Option<EnvoyFlags>,
    /// Median response time over the run, ms (every response, failures included).
    pub p50_ms: Option<f64>,
    /// 99th percentile over the run, ms.
    pub p99_ms: Option<f64>,
    /// Mean response time over the run, ms, exact (not at the histogram's precision).
    pub mean_ms: Option<f64>,
    /// Median response time of successes (200) alone, ms: fast failures (a 502 from a
    /// dead upstream) do not pull it down.
    pub ok_p50_ms: Option<f64>,
    /// 99th percentile of successes alone, ms.
    pub ok_p99_ms: Option<f64>,
    /// Mean response time of successes alone, ms, exact.
    pub ok_mean_ms: Option<f64>,
    /// Times to the response header over the run, in a system with `body` steps.
    pub header: Option<HeaderTimes>,
}

/// Times from a request's arrival at a gateway to the upstream response header it
/// forwarded (the time to the first byte), over the run: responses without a header
/// from an upstream (a refusal, a timeout before the header) are not among them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HeaderTimes {
    /// Median, ms; None when no header came.
    pub p50_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
    /// Mean, ms, exact.
    pub mean_ms: Option<f64>,
}

/// What a caller's retrier and breaker did over the run (a client's, or a call step's
/// summed over the replicas that made it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallerCounts {
    /// Attempts sent, first attempts and retries.
    pub attempts: u64,
    /// Retries sent.
    pub retries: u64,
    /// Failures not retried because every attempt was used.
    pub retries_exhausted: u64,
    /// Retries refused by the AWS retry quota.
    pub retries_denied_quota: u64,
    /// Retries refused by gRPC retry throttling.
    pub retries_denied_throttled: u64,
    /// Retries refused by Envoy's retry budget.
    pub retries_denied_budget: u64,
    /// Attempts a circuit breaker refused.
    pub breaker_rejected: u64,
    /// Attempts a full bulkhead refused.
    pub bulkhead_rejected: u64,
    /// Times a breaker opened.
    pub breaker_opened: u64,
    /// Exchanges that ended in success (calls only; a client's are in its totals).
    pub ok: u64,
    /// Exchanges that failed in the end (calls only).
    pub failed: u64,
}

/// Totals of one `call` step of a service.
#[derive(Debug, Clone, Default)]
pub struct CallTotals {
    /// The calling service.
    pub service: String,
    /// The step's number in the handler, from 1.
    pub step: usize,
    /// The called service.
    pub target: String,
    /// What its retriers and breakers did.
    pub counts: CallerCounts,
}

/// How an Envoy gateway's requests failed, by response flag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnvoyFlags {
    /// `UF`: upstream connection failure (503).
    pub uf: u64,
    /// `UH`: no healthy upstream host (503).
    pub uh: u64,
    /// `UO`: circuit breaker overflow (503).
    pub uo: u64,
    /// `UT`: upstream request timeout, route or per try (504).
    pub ut: u64,
    /// `UC`: upstream connection termination (503).
    pub uc: u64,
    /// `URX`: a retriable failure with `num_retries` used up (none left of 0 too).
    pub urx: u64,
    /// Retries the cluster's retry circuit breaker (`max_retries` or the retry
    /// budget) refused (Envoy's `upstream_rq_retry_overflow`): each such failure is
    /// answered with `UO` beside its own flag, so they are counted in `uo` too.
    pub retry_overflow: u64,
    /// Hosts ejected by outlier detection.
    pub ejections: u64,
}

/// The response flags rewind's Envoy sets, as its access log writes them, in the order
/// of the `<gateway>.flag_<FLAG>` columns and of [`EnvoyFlags::by_flag`].
pub const ENVOY_FLAGS: [&str; 6] = ["UF", "UH", "UO", "UT", "UC", "URX"];

impl EnvoyFlags {
    /// Responses carrying each of [`ENVOY_FLAGS`], in its order. One response can
    /// carry two (`UF,URX`, `UT,UO`), so these do not add up to the failures.
    pub fn by_flag(&self) -> [u64; ENVOY_FLAGS.len()] {
        [self.uf, self.uh, self.uo, self.ut, self.uc, self.urx]
    }
}

/// Totals of one client.
#[derive(Debug, Clone, Default)]
pub struct ClientTotals {
    /// Component name.
    pub name: String,
    /// Requests sent.
    pub sent: u64,
    /// Answered 2xx.
    pub ok: u64,
    /// Answered with an error status.
    pub failed: u64,
    /// Connection refused (direct connections only).
    pub refused: u64,
    /// Gave up at its own timeout.
    pub gave_up: u64,
    /// Sum of the response times of answered requests, seconds.
    pub latency_sum_s: f64,
    /// Requests still waiting for an answer when the replay ended.
    pub in_flight_at_end: u64,
    /// Retries and breaker.
    pub caller: CallerCounts,
}

/// Totals of one service, over all replicas.
#[derive(Debug, Clone, Default)]
pub struct ServiceTotals {
    /// Requests its replicas shed (concurrency limit or queue timeout).
    pub shed: u64,
    /// Component name.
    pub name: String,
    /// Connections that reached a listener (started or queued).
    pub accepted: u64,
    /// Connections refused (no listener, or overflow with abort_on_overflow).
    pub refused: u64,
    /// Handshakes dropped on a full accept queue.
    pub dropped_syn: u64,
    /// Handlers that answered 200.
    pub ok: u64,
    /// Handlers that answered 500.
    pub errors: u64,
    /// Handlers that ended without answering (cancelled, killed, abandoned).
    pub unanswered: u64,
    /// Sum over answered handlers of connection-to-answer time, seconds.
    pub response_sum_s: f64,
    /// Sum over started handlers of time spent in the accept queue, seconds.
    pub queue_wait_sum_s: f64,
    /// Handlers started.
    pub started: u64,
    /// Handlers that waited in the accept queue before starting.
    pub waited: u64,
    /// Time integral of connections in the system (queued + in flight), s.
    pub in_system_area_s: f64,
    /// OOM kills.
    pub oom_kills: u64,
    /// Process restarts.
    pub restarts: u64,
    /// Largest number of handlers in flight in one replica.
    pub peak_inflight: u64,
    /// Highest memory of one replica, MiB.
    pub peak_memory_mib: f64,
    /// Core-seconds its replicas' `work` used (services with `cpus`).
    pub cpu_core_s: f64,
    /// Requests an injected fault delayed, aborted or reset.
    pub faults_injected: u64,
    /// Garbage collections of its runtime (Go, JVM), over all replicas.
    pub gc_cycles: u64,
    /// Allocations a JVM refused with `OutOfMemoryError`, over all replicas.
    pub out_of_memory_errors: u64,
    /// Processes that exited on `EMFILE`, their descriptors exhausted.
    pub fd_crashes: u64,
    /// Descriptors `leak` steps left open, over the run and all replicas.
    pub leaked_fds: u64,
    /// Most descriptors open in one replica (services that count them).
    pub peak_fds: u64,
}

/// Totals of one pool, over all replicas.
#[derive(Debug, Clone, Default)]
pub struct PoolTotals {
    /// Component name.
    pub name: String,
    /// Most waiters at once (summed over replicas).
    pub peak_waiting: u64,
    /// Acquires that had to wait (`WaitCount`).
    pub wait_count: u64,
    /// Total time spent waiting by acquires that got a connection (`WaitDuration`), s.
    pub wait_sum_s: f64,
    /// Acquires that gave up at the acquire timeout.
    pub timeouts: u64,
    /// Acquires refused by the database.
    pub refused: u64,
    /// Connections leaked (never returned), over the run.
    pub leaked: u64,
    /// Times the pool ran dry.
    pub exhaustions: u64,
}

/// Totals of one database.
#[derive(Debug, Clone, Default)]
pub struct DatabaseTotals {
    /// Component name.
    pub name: String,
    /// Queries started.
    pub queries: u64,
    /// Queries cancelled by `statement_timeout`.
    pub statement_timeouts: u64,
    /// Most queries running at once.
    pub peak_running: u64,
    /// Core-seconds of work done (databases with `cpus`).
    pub busy_core_s: f64,
}

/// Totals of one cache, over its instances.
#[derive(Debug, Clone, Default)]
pub struct CacheTotals {
    /// Component name.
    pub name: String,
    /// One instance for the system (else one per replica process).
    pub shared: bool,
    /// Lookups.
    pub lookups: u64,
    /// Lookups that found a fresh entry.
    pub hits: u64,
    /// Lookups served a stale entry (within `serve_stale`).
    pub stale: u64,
    /// Lookups that found no entry to serve (those that waited included).
    pub misses: u64,
    /// Misses that waited for another's fill instead of filling (single-flight).
    pub coalesced: u64,
    /// Entries stored.
    pub fills: u64,
    /// Fills that never stored their entry (their handler failed, was cancelled or
    /// died).
    pub fill_errors: u64,
    /// Entries deleted by a failed fill (`invalidate_on_error`).
    pub invalidated: u64,
    /// Instances emptied while holding entries: a process that died, a flush.
    pub emptied: u64,
    /// Most fills in flight at once.
    pub peak_filling: u64,
}

/// Everything one replay produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Per-interval metrics.
    pub series: Series,
    /// Notable occurrences, in time order.
    pub occurrences: Vec<Occurrence>,
    /// Events the engine processed.
    pub events: u64,
    /// Simulated time covered.
    pub duration: Nanos,
    /// Per-gateway totals.
    pub gateways: Vec<GatewayTotals>,
    /// Per-client totals.
    pub clients: Vec<ClientTotals>,
    /// Per-call-step totals (retries and breakers of calls between services).
    pub calls: Vec<CallTotals>,
    /// Per-service totals.
    pub services: Vec<ServiceTotals>,
    /// Per-pool totals.
    pub pools: Vec<PoolTotals>,
    /// Per-database totals.
    pub databases: Vec<DatabaseTotals>,
    /// Per-cache totals.
    pub caches: Vec<CacheTotals>,
    /// Most requests and handlers alive at once (what memory use scales with).
    pub peak_live_entities: usize,
    /// What each alert rule did.
    pub alerts: Vec<alerts::AlertOutcome>,
    /// The regimes the replay went through, and each timeline entry's recovery.
    pub regimes: regimes::Regimes,
    /// The gateways' response-time histograms at every scrape (for `metrics.om`).
    pub scrapes: exposition::Scrapes,
}

impl RunResult {
    /// The first response at any gateway whose status satisfies `wanted`.
    fn first_status(&self, wanted: impl Fn(u16) -> bool) -> Option<(Nanos, u16)> {
        self.gateways
            .iter()
            .flat_map(|g| {
                STATUSES
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| wanted(**c))
                    .filter_map(|(i, c)| g.first[i].map(|t| (t, *c)))
            })
            .min()
    }

    /// The first 5xx answered at any gateway, and its status.
    pub fn first_5xx(&self) -> Option<(Nanos, u16)> {
        self.first_status(|c| c >= 500)
    }

    /// The last 5xx answered at any gateway.
    pub fn last_5xx(&self) -> Option<Nanos> {
        self.gateways.iter().filter_map(|g| g.last_5xx).max()
    }

    /// The first response a user saw fail: a 5xx or a 499 at any gateway.
    pub fn first_user_visible_error(&self) -> Option<Nanos> {
        self.first_status(|c| c >= 499).map(|(t, _)| t)
    }
}

impl GatewayTotals {
    /// (status, responses, share of all responses in percent) for each status seen.
    pub fn status_shares(&self) -> Vec<(u16, u64, f64)> {
        let total: u64 = self.by_status.iter().sum();
        STATUSES
            .iter()
            .zip(self.by_status)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| (*s, n, 100.0 * n as f64 / total.max(1) as f64))
            .collect()
    }
}
