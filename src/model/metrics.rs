//! Metrics: one time-series row per resolution interval, the column names, the
//! gateways' latency records, and the pool recovery it detects while sampling.

use hdrhistogram::Histogram;

use crate::engine::Nanos;

use super::breaker::BreakerState;
use super::replica::*;
use super::spec::{Scenario, ServiceSpec, Step};
use super::world::World;
use crate::outcome::exposition::{
    ComponentKind, Components, ResponseCounts, N_BUCKETS, RESPONSE_DURATION_BUCKETS_MS,
};
use crate::outcome::{ENVOY_FLAGS, N_STATUSES, STATUSES};

impl World {
    /// Close the interval that ends at `now`: append its row. Called by the engine at
    /// every boundary, before any event at `now`, so a row is `[now - resolution, now)`
    /// and an event at exactly `now` belongs to the next row.
    pub(super) fn close_interval(&mut self, now: Nanos) {
        let mut row = Vec::with_capacity(self.series.columns.len());
        self.close_client_interval(&mut row);
        self.close_gateway_interval(&mut row);
        for s in 0..self.services.len() {
            self.close_service_interval(s, now, &mut row);
        }
        for db in 0..self.databases.len() {
            let d = &self.databases[db];
            row.extend([f64::from(d.connections), d.queries.len() as f64]);
            row.extend(self.database_cpu_utilisation(db, now));
        }
        self.close_cache_interval(&mut row);
        self.series.values.extend(row);
        let every = self.scenario.scrape_interval.0;
        if every != 0 && now.0 % every == 0 {
            for g in &mut self.gateways {
                g.responses.scrape();
            }
        }
    }

    /// The clients' columns: sent, ok, failed, attempts, retries, rejected, breaker
    /// open and half-open.
    fn close_client_interval(&mut self, row: &mut Vec<f64>) {
        for c in &mut self.clients {
            let t = &mut c.caller_totals;
            let state = c.caller.breaker.as_ref().map(|b| b.state());
            let open = state == Some(BreakerState::Open);
            let half_open = state == Some(BreakerState::HalfOpen);
            row.extend([
                c.interval_sent as f64,
                c.interval_ok as f64,
                c.interval_failed as f64,
                t.interval_attempts as f64,
                t.interval_retries as f64,
                t.interval_rejected as f64,
                f64::from(u8::from(open)),
                f64::from(u8::from(half_open)),
            ]);
            c.interval_sent = 0;
            c.interval_ok = 0;
            c.interval_failed = 0;
            t.clear_interval();
        }
    }

    /// The gateways' columns: requests, statuses, truncated bodies, latencies (all,
    /// ok, header), Envoy's flags, then the same per route.
    fn close_gateway_interval(&mut self, row: &mut Vec<f64>) {
        for g in &mut self.gateways {
            row.push(g.interval_requests as f64);
            row.extend(g.interval_status.iter().map(|&v| v as f64));
            row.push(g.interval_truncated as f64);
            g.interval_truncated = 0;
            g.latency.close_interval(row);
            g.ok_latency.close_interval(row);
            if let Some(h) = &mut g.header_latency {
                h.close_interval(row);
            }
            if let Some(e) = g.envoy.as_mut() {
                e.close_interval(row);
            }
            g.interval_requests = 0;
            g.interval_status = [0; crate::outcome::N_STATUSES];
            for rt in &mut g.routes {
                row.push(rt.requests as f64);
                row.extend(rt.status.iter().map(|&v| v as f64));
                row.push(rt.truncated as f64);
                rt.latency.close_interval(row, g.latency.histogram());
                rt.requests = 0;
                rt.status = [0; crate::outcome::N_STATUSES];
                rt.truncated = 0;
            }
        }
    }

    /// Service `s`'s columns: its replicas (in flight, queued, memory, up, restarts,
    /// endpoints), CPU, descriptors, routes, pools, jobs and calls.
    fn close_service_interval(&mut self, s: usize, now: Nanos, row: &mut Vec<f64>) {
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
        let cpu = self.service_cpu_utilisation(s, now);
        let restarts = self.services[s].totals.restarts as f64;
        let endpoints = self.services[s].endpoints.len() as f64;
        row.extend([
            inflight as f64,
            queued as f64,
            memory,
            up as f64,
            restarts,
            endpoints,
        ]);
        row.extend(cpu);
        row.extend(self.service_open_fds(s));
        self.close_route_interval(s, row);
        for p in 0..self.scenario.services[s].pools.len() {
            self.close_pool_interval(s, p, now, row);
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
        self.close_call_interval(s, row);
    }

    /// Pool `p` of service `s`, summed over its replicas: in use, idle, waiting, the
    /// most it may open, leaked. Notes the pool's recovery: a whole interval with
    /// nobody waiting after it ran dry (debounces flapping).
    fn close_pool_interval(&mut self, s: usize, p: usize, now: Nanos, row: &mut Vec<f64>) {
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
                max_open += u64::from(rep.spec.pools[p].max_open.unwrap_or(0));
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
}

impl World {
    /// The route columns of service `s` (for named routes): handlers in flight (at the
    /// end of the interval), answers ok and in error, and requests shed.
    fn close_route_interval(&mut self, s: usize, row: &mut Vec<f64>) {
        let spec = &self.scenario.services[s];
        for (i, route) in spec.handler.routes.iter().enumerate() {
            if route.route.is_none() {
                continue;
            }
            let inflight: u32 = self.services[s]
                .replicas
                .iter()
                .map(|&r| self.replicas[r].route_inflight.get(i))
                .sum();
            let c = self.services[s]
                .route_counters
                .get_mut(i)
                .map(std::mem::take)
                .unwrap_or_default();
            row.extend([
                f64::from(inflight),
                c.ok as f64,
                c.errors as f64,
                c.shed as f64,
            ]);
        }
    }

    /// The call columns of service `s` (one group per called service), and the start
    /// of the next interval for its call counters.
    fn close_call_interval(&mut self, s: usize, row: &mut Vec<f64>) {
        let spec = &self.scenario.services[s];
        for target in call_targets(spec) {
            let mut sums = [0u64; 4];
            let (mut open, mut half_open) = (0u64, 0u64);
            for (step, st) in spec.handler.steps.iter().enumerate() {
                if !matches!(st, Step::Call { service, .. } if *service == target) {
                    continue;
                }
                if let Some(t) = self.services[s].call_totals.get_mut(step) {
                    sums[0] += t.interval_attempts;
                    sums[1] += t.interval_retries;
                    sums[2] += t.interval_failed;
                    sums[3] += t.interval_rejected;
                    t.clear_interval();
                }
                for &r in &self.services[s].replicas {
                    let rep = &self.replicas[r];
                    if matches!(rep.state, ReplicaState::Terminated) {
                        continue;
                    }
                    let state = rep
                        .callers
                        .get(step)
                        .and_then(|c| c.as_ref())
                        .and_then(|c| c.breaker.as_ref())
                        .map(|b| b.state());
                    open += u64::from(state == Some(BreakerState::Open));
                    half_open += u64::from(state == Some(BreakerState::HalfOpen));
                }
            }
            row.extend(sums.iter().map(|&v| v as f64));
            row.push(open as f64);
            row.push(half_open as f64);
        }
    }
}

/// The services a service calls, each once, in the order of its steps.
fn call_targets(spec: &ServiceSpec) -> Vec<usize> {
    let mut out = Vec::new();
    for st in &spec.handler.steps {
        if let Step::Call { service, .. } = st {
            if !out.contains(service) {
                out.push(*service);
            }
        }
    }
    out
}

/// Upper bounds of the response-time histogram's buckets, nanoseconds.
const BUCKET_BOUNDS_NS: [u64; RESPONSE_DURATION_BUCKETS_MS.len()] = {
    let mut ns = [0; RESPONSE_DURATION_BUCKETS_MS.len()];
    let mut i = 0;
    while i < ns.len() {
        ns[i] = RESPONSE_DURATION_BUCKETS_MS[i] * 1_000_000;
        i += 1;
    }
    ns
};

/// A gateway's responses per status and histogram bucket since the start, and a copy
/// at every scrape: what a Prometheus histogram in the gateway would have exposed.
pub(super) struct ResponseBuckets {
    counts: [[u64; N_BUCKETS]; N_STATUSES],
    /// Exact sums per status, nanoseconds.
    sum_ns: [u128; N_STATUSES],
    /// The counts at each scrape so far, the start's (nothing) first.
    scrapes: Vec<ResponseCounts>,
}

impl ResponseBuckets {
    /// Nothing recorded; the scrape at the start taken.
    pub(super) fn new() -> Self {
        ResponseBuckets {
            counts: [[0; N_BUCKETS]; N_STATUSES],
            sum_ns: [0; N_STATUSES],
            scrapes: vec![ResponseCounts::default()],
        }
    }

    /// Count one response of the status at `status_index` that took `latency`: a
    /// binary search over 17 bounds and two additions.
    #[inline]
    pub(super) fn record(&mut self, status_index: usize, latency: Nanos) {
        // `le` is "less than or equal": a response of exactly 60 s is in the 60 s bucket.
        let b = BUCKET_BOUNDS_NS.partition_point(|&bound| bound < latency.0);
        self.counts[status_index][b] += 1;
        self.sum_ns[status_index] += u128::from(latency.0);
    }

    /// Keep the counts as a scrape now would read them.
    fn scrape(&mut self) {
        let mut sum_s = [0.0; N_STATUSES];
        for (s, ns) in sum_s.iter_mut().zip(self.sum_ns) {
            *s = ns as f64 / 1e9;
        }
        self.scrapes.push(ResponseCounts {
            buckets: self.counts,
            sum_s,
        });
    }

    /// The counts at every scrape.
    pub(super) fn into_scrapes(self) -> Vec<ResponseCounts> {
        self.scrapes
    }
}

/// The percentiles each latency record reports per interval, with their column names.
const PERCENTILES: [(f64, &str); 3] = [(0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")];

/// The latencies of one set of a gateway's responses (all of them, or its successes):
/// the current interval's and the run's. Memory is bounded: the interval's values are
/// dropped when its row closes, and the run's are a fixed-size histogram and a sum.
pub(super) struct Latencies {
    interval: IntervalLatency,
    total: Histogram<u64>,
    /// Exact sum of every latency recorded over the run, nanoseconds.
    total_sum_ns: u128,
}

impl Latencies {
    /// Nothing recorded yet.
    pub(super) fn new() -> Self {
        Latencies {
            interval: IntervalLatency::default(),
            total: new_histogram(),
            total_sum_ns: 0,
        }
    }

    /// Record one response's latency.
    pub(super) fn record(&mut self, latency: Nanos) {
        // Values beyond the histogram's range saturate, in both percentile records
        // alike; the sums keep the exact value.
        let micros = self.interval.record_like(latency, &self.total);
        self.total.saturating_record(micros);
        self.total_sum_ns += u128::from(latency.0);
    }

    /// Append the interval's columns (p50, p95, p99, mean; NaN when nothing was
    /// recorded) and start the next interval.
    fn close_interval(&mut self, row: &mut Vec<f64>) {
        self.interval.close_interval(row, &self.total);
    }

    /// The run's histogram (what percentiles are reported at the precision of).
    pub(super) fn histogram(&self) -> &Histogram<u64> {
        &self.total
    }

    /// The run's `q` quantile, ms; None when nothing was recorded.
    pub(super) fn total_quantile_ms(&self, q: f64) -> Option<f64> {
        (!self.total.is_empty()).then(|| self.total.value_at_quantile(q) as f64 / 1000.0)
    }

    /// The run's mean, ms, from the exact sum; None when nothing was recorded.
    pub(super) fn total_mean_ms(&self) -> Option<f64> {
        let n = self.total.len();
        (n > 0).then(|| self.total_sum_ns as f64 / n as f64 / 1e6)
    }
}

/// The latencies of one interval, kept as values rather than in a histogram: closing
/// an interval then costs what the interval held, not a histogram's whole bucket array
/// (which dominated long replays at fine resolution).
#[derive(Default)]
pub(super) struct IntervalLatency {
    values_us: Vec<u64>,
    /// Exact sum of the interval's latencies, nanoseconds: the mean is not rounded to
    /// the histogram's precision.
    sum_ns: u128,
}

impl IntervalLatency {
    /// Append the interval's columns (p50, p95, p99 at the precision of `like`, and the
    /// mean; NaN when nothing was recorded) and start the next interval.
    pub(super) fn close_interval(&mut self, row: &mut Vec<f64>, like: &Histogram<u64>) {
        for (q, _) in PERCENTILES {
            let ms = self.quantile_us(q, like);
            row.push(ms.map_or(f64::NAN, |us| us as f64 / 1000.0));
        }
        row.push(self.mean_ms().unwrap_or(f64::NAN));
        self.clear();
    }

    /// Record one response's latency, in microseconds as a histogram like `like`
    /// keeps it (at least 1, saturating at its highest value) and exactly; returns
    /// the microseconds.
    pub(super) fn record_like(&mut self, latency: Nanos, like: &Histogram<u64>) -> u64 {
        let micros = (latency.0 / 1000).max(1).min(like.high());
        self.record(micros, latency);
        micros
    }

    /// Record one response's latency: `us` as the histogram keeps it, and exactly.
    fn record(&mut self, us: u64, exact: Nanos) {
        self.values_us.push(us);
        self.sum_ns += u128::from(exact.0);
    }

    /// The `q` quantile of the interval, exactly as `hdrhistogram` reports it from a
    /// histogram configured like `like`: the value of rank max(1, ceil(q n)), reported
    /// as the highest value equivalent to it at the histogram's precision. None when the
    /// interval saw no response.
    fn quantile_us(&mut self, q: f64, like: &Histogram<u64>) -> Option<u64> {
        let n = self.values_us.len();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        let (_, value, _) = self.values_us.select_nth_unstable(rank - 1);
        Some(like.highest_equivalent(*value))
    }

    /// The interval's mean latency, ms; None when it saw no response.
    fn mean_ms(&self) -> Option<f64> {
        let n = self.values_us.len();
        (n > 0).then(|| self.sum_ns as f64 / n as f64 / 1e6)
    }

    /// Start the next interval.
    fn clear(&mut self) {
        self.values_us.clear();
        self.sum_ns = 0;
    }
}

fn new_histogram() -> Histogram<u64> {
    // Microseconds from 1 us to 1 day at 3 significant figures; values beyond saturate.
    Histogram::new_with_bounds(1, 86_400_000_000, 3).expect("constant histogram bounds are valid")
}

/// Metric columns in a fixed order: components in file order, metrics in a fixed order.
pub fn metric_columns(s: &Scenario) -> Vec<String> {
    let mut cols = Vec::new();
    for c in &s.clients {
        for m in [
            "sent",
            "ok",
            "failed",
            "attempts",
            "retries",
            "rejected",
            "breaker_open",
            "breaker_half_open",
        ] {
            cols.push(format!("{}.{m}", c.name));
        }
    }
    for g in &s.gateways {
        cols.push(format!("{}.requests", g.name));
        for st in STATUSES {
            cols.push(format!("{}.status_{st}", g.name));
        }
        cols.push(format!("{}.truncated", g.name));
        // All responses, then successes (200) alone (fast failures pull the former
        // down), and the time to the response header when bodies stream.
        let header: &[&str] = if super::body::streams_bodies(s) {
            &["header_"]
        } else {
            &[]
        };
        for prefix in ["", "ok_"].iter().chain(header) {
            for (_, q) in PERCENTILES {
                cols.push(format!("{}.{prefix}{q}", g.name));
            }
            cols.push(format!("{}.{prefix}mean_ms", g.name));
        }
        if g.envoy.is_some() {
            for flag in ENVOY_FLAGS {
                cols.push(format!("{}.flag_{flag}", g.name));
            }
            cols.push(format!("{}.retry_overflow", g.name));
        }
        for r in &s.routes {
            cols.push(format!("{}.{}.requests", g.name, r.name));
            for st in STATUSES {
                cols.push(format!("{}.{}.status_{st}", g.name, r.name));
            }
            cols.push(format!("{}.{}.truncated", g.name, r.name));
            for (_, q) in PERCENTILES {
                cols.push(format!("{}.{}.{q}", g.name, r.name));
            }
            cols.push(format!("{}.{}.mean_ms", g.name, r.name));
        }
    }
    for sv in &s.services {
        for m in [
            "inflight",
            "queued",
            "memory_mib",
            "replicas_up",
            "restarts",
            "endpoints",
        ] {
            cols.push(format!("{}.{m}", sv.name));
        }
        if sv.cpus.is_some() {
            cols.push(format!("{}.cpu_utilisation", sv.name));
        }
        if sv.fds.is_some() {
            cols.push(format!("{}.fds", sv.name));
        }
        for route in sv.handler.routes.iter().filter_map(|r| r.route) {
            for m in ["inflight", "ok", "errors", "shed"] {
                cols.push(format!("{}.{}.{m}", sv.name, s.routes[route].name));
            }
        }
        for p in &sv.pools {
            for m in ["in_use", "idle", "waiting", "max_open", "leaked"] {
                cols.push(format!("{}.{m}", p.name));
            }
        }
        for j in &sv.jobs {
            cols.push(format!("{}.running", j.name));
        }
        for target in call_targets(sv) {
            for m in [
                "attempts",
                "retries",
                "failed",
                "rejected",
                "breaker_open",
                "breaker_half_open",
            ] {
                cols.push(format!("{}.calls.{}.{m}", sv.name, s.services[target].name));
            }
        }
    }
    for d in &s.databases {
        cols.push(format!("{}.connections", d.name));
        cols.push(format!("{}.running_queries", d.name));
        if d.cpus.is_some() {
            cols.push(format!("{}.cpu_utilisation", d.name));
        }
    }
    for c in &s.caches {
        for m in ["hits", "stale", "misses", "coalesced", "fills", "filling"] {
            cols.push(format!("{}.{m}", c.name));
        }
    }
    cols
}

/// What the export needs to know of a system: each component's kind, and the memory
/// limit of each service with a memory model (as the file sets it).
pub fn components(s: &Scenario) -> Components {
    let mut c = Components::default();
    for x in &s.clients {
        c.add(&x.name, ComponentKind::Client);
    }
    for x in &s.gateways {
        c.add(&x.name, ComponentKind::Gateway);
    }
    for sv in &s.services {
        c.add(&sv.name, ComponentKind::Service);
        for p in &sv.pools {
            c.add(&p.name, ComponentKind::Pool);
        }
        for j in &sv.jobs {
            c.add(&j.name, ComponentKind::Job);
        }
        if let Some(m) = &sv.memory {
            c.memory_limits_bytes
                .push((sv.name.clone(), m.limit_mib * 1024.0 * 1024.0));
        }
    }
    for x in &s.databases {
        c.add(&x.name, ComponentKind::Database);
    }
    for x in &s.caches {
        c.add(&x.name, ComponentKind::Cache);
    }
    c
}
