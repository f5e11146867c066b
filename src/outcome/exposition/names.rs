//! The exported names: every metric family with its type and help, and how each
//! `timeseries.csv` column becomes a labelled series of one of them.
//!
//! Names follow Prometheus's conventions (<https://prometheus.io/docs/practices/naming/>):
//! `rewind_<kind>_<what>_<unit>`, base units (seconds, bytes), `_total` on counters, and
//! one family per thing counted, so that `sum()` over a family never adds a thing to
//! itself: per-route series have families of their own, apart from the gateway's or
//! the service's totals.

use std::collections::BTreeMap;

use super::MetricType;
use crate::outcome::STATUSES;

/// What kind of component a name belongs to: a column's first part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentKind {
    /// A traffic source.
    Client,
    /// A reverse proxy (nginx, Envoy).
    Gateway,
    /// An application service.
    Service,
    /// A connection pool (summed over the replicas of its service).
    Pool,
    /// A batch job.
    Job,
    /// A database server.
    Database,
    /// A cache (summed over its instances).
    Cache,
}

/// What the export needs to know of the system beyond the time series: the kind of
/// each component name, and the services' memory limits.
#[derive(Debug, Clone, Default)]
pub struct Components {
    kinds: BTreeMap<String, ComponentKind>,
    /// Each service's container memory limit, bytes, in file order (services with a
    /// memory model).
    pub memory_limits_bytes: Vec<(String, f64)>,
}

impl Components {
    /// Name `name` as a component of kind `kind` (names are unique in a system).
    pub fn add(&mut self, name: &str, kind: ComponentKind) {
        self.kinds.insert(name.to_string(), kind);
    }

    /// The kind of the component named `name`.
    pub fn kind(&self, name: &str) -> Option<ComponentKind> {
        self.kinds.get(name).copied()
    }
}

/// One metric family's definition.
pub(super) struct FamilyDef {
    pub(super) name: &'static str,
    pub(super) kind: MetricType,
    pub(super) help: &'static str,
}

const fn def(name: &'static str, kind: MetricType, help: &'static str) -> FamilyDef {
    FamilyDef { name, kind, help }
}

use MetricType::{Counter, Gauge, Histogram};

/// The response-time histogram's family.
pub(super) const RESPONSE_DURATION: &str = "rewind_gateway_response_duration_seconds";
/// The memory limit's family (from the file, not a column).
pub(super) const MEMORY_LIMIT: &str = "rewind_service_memory_limit_bytes";

/// Every family, in the order `metrics.om` writes them.
pub(super) const FAMILIES: &[FamilyDef] = &[
    def("rewind_client_requests", Counter, "New requests a client sent: the offered load, retries not counted."),
    def("rewind_client_requests_finished", Counter, "Requests a client saw end, by outcome: ok (goodput) or failed."),
    def("rewind_client_attempts", Counter, "Attempts a client sent, first attempts and retries."),
    def("rewind_client_retries", Counter, "Retries a client sent."),
    def("rewind_client_attempts_rejected", Counter, "Attempts a client's circuit breaker or bulkhead refused (never sent)."),
    def("rewind_client_breaker_open", Gauge, "1 while a client's circuit breaker is open, as of its last call."),
    def("rewind_client_breaker_half_open", Gauge, "1 while a client's circuit breaker is half-open (letting its trial calls through), as of its last call."),
    def("rewind_gateway_requests", Counter, "Requests a gateway received."),
    def("rewind_gateway_responses", Counter, "Responses a gateway finished, by status."),
    def("rewind_gateway_response_flags", Counter, "Responses of an Envoy gateway by response flag (one response can carry two, as UT,UO)."),
    def("rewind_gateway_retries_overflowed", Counter, "Retries an Envoy gateway's retry circuit breaker (max_retries or the retry budget) refused: Envoy's upstream_rq_retry_overflow."),
    def("rewind_gateway_responses_truncated", Counter, "200s whose body broke off after the header (counted among the 200s, as nginx logs them)."),
    def(RESPONSE_DURATION, Histogram, "Response times at a gateway, by status, cumulative over the replay."),
    def("rewind_gateway_interval_response_duration_seconds", Gauge, "Quantiles of the response times of the last time-series interval before the scrape (all statuses)."),
    def("rewind_gateway_interval_response_duration_mean_seconds", Gauge, "Exact mean response time of the last time-series interval before the scrape (all statuses)."),
    def("rewind_gateway_interval_ok_response_duration_seconds", Gauge, "Quantiles of the response times of the 200s of the last time-series interval before the scrape."),
    def("rewind_gateway_interval_ok_response_duration_mean_seconds", Gauge, "Exact mean response time of the 200s of the last time-series interval before the scrape."),
    def("rewind_gateway_interval_header_duration_seconds", Gauge, "Quantiles of the times to the response header (arrival at the gateway to the upstream's header) of the last time-series interval before the scrape; in a system with body steps."),
    def("rewind_gateway_interval_header_duration_mean_seconds", Gauge, "Exact mean time to the response header of the last time-series interval before the scrape; in a system with body steps."),
    def("rewind_gateway_route_requests", Counter, "Requests a gateway received for one route."),
    def("rewind_gateway_route_responses", Counter, "Responses a gateway finished for one route, by status."),
    def("rewind_gateway_route_responses_truncated", Counter, "200s of one route whose body broke off after the header (counted among the route's 200s)."),
    def("rewind_gateway_route_interval_response_duration_seconds", Gauge, "Quantiles of one route's response times over the last time-series interval before the scrape."),
    def("rewind_gateway_route_interval_response_duration_mean_seconds", Gauge, "Exact mean of one route's response times over the last time-series interval before the scrape."),
    def("rewind_service_handlers_in_flight", Gauge, "Handlers running or blocked, over a service's replicas."),
    def("rewind_service_accept_queue_connections", Gauge, "Connections waiting in the accept queues of a service's replicas."),
    def("rewind_service_memory_bytes", Gauge, "Resident memory of a service's highest replica."),
    def(MEMORY_LIMIT, Gauge, "A service's container memory limit, as the file sets it."),
    def("rewind_service_replicas_up", Gauge, "Replicas of a service that are ready."),
    def("rewind_service_restarts", Counter, "Process restarts of a service's replicas."),
    def("rewind_service_endpoints", Gauge, "Endpoints of a service: the replicas its gateways and callers can reach."),
    def("rewind_service_cpu_utilisation_ratio", Gauge, "Cores a service's work used over the last interval, as a fraction of its limit, averaged over running replicas."),
    def("rewind_service_route_handlers_in_flight", Gauge, "Handlers of one route running or blocked, over a service's replicas."),
    def("rewind_service_route_answers", Counter, "Answers of one route's handlers, by outcome: ok or error."),
    def("rewind_service_route_requests_shed", Counter, "Requests of one route a service shed."),
    def("rewind_pool_connections_in_use", Gauge, "Connections of a pool in use, over the replicas."),
    def("rewind_pool_connections_idle", Gauge, "Idle connections of a pool, over the replicas."),
    def("rewind_pool_waiters", Gauge, "Callers waiting for a connection of a pool, over the replicas."),
    def("rewind_pool_connections_max_open", Gauge, "The pool size: max_open over the replicas that run."),
    def("rewind_pool_connections_leaked", Gauge, "Connections of a pool leaked (never returned), over the replicas."),
    def("rewind_job_replicas_running", Gauge, "Replicas in a run of a batch job."),
    def("rewind_database_connections", Gauge, "Connections open to a database."),
    def("rewind_database_queries_running", Gauge, "Queries a database is running."),
    def("rewind_database_cpu_utilisation_ratio", Gauge, "Cores a database's queries used over the last interval, as a fraction of its limit."),
    def("rewind_cache_lookups", Counter, "Cache lookups, by result: hit (fresh), stale (served within serve_stale) or miss."),
    def("rewind_cache_misses_coalesced", Counter, "Misses that waited for another's fill (single-flight)."),
    def("rewind_cache_fills", Counter, "Entries stored in a cache."),
    def("rewind_cache_fills_in_flight", Gauge, "Fills of a cache in flight."),
    def("rewind_call_attempts", Counter, "Attempts of a service's calls to a target, first attempts and retries."),
    def("rewind_call_retries", Counter, "Retries of a service's calls to a target."),
    def("rewind_call_failures", Counter, "Calls of a service to a target that failed in the end."),
    def("rewind_call_attempts_rejected", Counter, "Attempts of a service's calls to a target that a circuit breaker or bulkhead refused."),
    def("rewind_call_breakers_open", Gauge, "Replicas of a service whose breaker on calls to a target is open."),
    def("rewind_call_breakers_half_open", Gauge, "Replicas of a service whose breaker on calls to a target is half-open."),
];

/// Index of a family in [`FAMILIES`].
pub(super) fn family_index(name: &str) -> Option<usize> {
    FAMILIES.iter().position(|f| f.name == name)
}

/// How a column's values become a series' samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Read {
    /// A count over each interval: the counter is their running sum.
    Count,
    /// Already cumulative (`restarts`): the counter is the value at the row's end.
    Cumulative,
    /// A gauge read at the row's end, times this factor (ms to seconds, MiB to bytes).
    Gauge(f64),
}

/// One column as exported: its family, its labels (sorted by name) and how to read it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ColumnMetric {
    pub(super) family: usize,
    pub(super) labels: Vec<(String, String)>,
    pub(super) read: Read,
}

const MS: Read = Read::Gauge(1e-3);
const MIB: Read = Read::Gauge(1024.0 * 1024.0);
const PLAIN: Read = Read::Gauge(1.0);

/// A column's quantile label: `p50_ms` is the 0.5 quantile.
fn quantile(metric: &str) -> Option<&'static str> {
    match metric {
        "p50_ms" => Some("0.5"),
        "p95_ms" => Some("0.95"),
        "p99_ms" => Some("0.99"),
        _ => None,
    }
}

/// A tracked status from `status_504`.
fn status(metric: &str) -> Option<String> {
    let code: u16 = metric.strip_prefix("status_")?.parse().ok()?;
    STATUSES.contains(&code).then(|| code.to_string())
}

/// How the column `column` (`<component>.<metric>`, `<component>.<route>.<metric>`,
/// `<service>.calls.<target>.<metric>`) is exported; None for a name that is no
/// column of this system.
pub(super) fn column_metric(components: &Components, column: &str) -> Option<ColumnMetric> {
    use ComponentKind::*;
    let parts: Vec<&str> = column.split('.').collect();
    let component = *parts.first()?;
    let kind = components.kind(component)?;
    let m = |family: &str, read: Read, extra: &[(&str, &str)]| {
        let mut labels = vec![("component".to_string(), component.to_string())];
        labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        labels.sort();
        Some(ColumnMetric {
            family: family_index(family)?,
            labels,
            read,
        })
    };
    let count = Read::Count;
    match (kind, &parts[1..]) {
        (Client, [metric]) => match *metric {
            "sent" => m("rewind_client_requests", count, &[]),
            "ok" => m(
                "rewind_client_requests_finished",
                count,
                &[("outcome", "ok")],
            ),
            "failed" => m(
                "rewind_client_requests_finished",
                count,
                &[("outcome", "failed")],
            ),
            "attempts" => m("rewind_client_attempts", count, &[]),
            "retries" => m("rewind_client_retries", count, &[]),
            "rejected" => m("rewind_client_attempts_rejected", count, &[]),
            "breaker_open" => m("rewind_client_breaker_open", PLAIN, &[]),
            "breaker_half_open" => m("rewind_client_breaker_half_open", PLAIN, &[]),
            _ => None,
        },
        (Gateway, [metric]) => {
            if let Some(s) = status(metric) {
                return m("rewind_gateway_responses", count, &[("status", &s)]);
            }
            if let Some(flag) = metric.strip_prefix("flag_") {
                return m("rewind_gateway_response_flags", count, &[("flag", flag)]);
            }
            match *metric {
                "requests" => m("rewind_gateway_requests", count, &[]),
                "truncated" => m("rewind_gateway_responses_truncated", count, &[]),
                "retry_overflow" => m("rewind_gateway_retries_overflowed", count, &[]),
                _ => {
                    let (family, metric) = if let Some(rest) = metric.strip_prefix("ok_") {
                        ("rewind_gateway_interval_ok_response_duration", rest)
                    } else if let Some(rest) = metric.strip_prefix("header_") {
                        ("rewind_gateway_interval_header_duration", rest)
                    } else {
                        ("rewind_gateway_interval_response_duration", *metric)
                    };
                    match metric {
                        "mean_ms" => m(&format!("{family}_mean_seconds"), MS, &[]),
                        q => m(
                            &format!("{family}_seconds"),
                            MS,
                            &[("quantile", quantile(q)?)],
                        ),
                    }
                }
            }
        }
        (Gateway, [route, metric]) => {
            let route = ("route", *route);
            if let Some(s) = status(metric) {
                return m(
                    "rewind_gateway_route_responses",
                    count,
                    &[route, ("status", &s)],
                );
            }
            match *metric {
                "requests" => m("rewind_gateway_route_requests", count, &[route]),
                "truncated" => m("rewind_gateway_route_responses_truncated", count, &[route]),
                "mean_ms" => m(
                    "rewind_gateway_route_interval_response_duration_mean_seconds",
                    MS,
                    &[route],
                ),
                q => m(
                    "rewind_gateway_route_interval_response_duration_seconds",
                    MS,
                    &[route, ("quantile", quantile(q)?)],
                ),
            }
        }
        (Service, [metric]) => match *metric {
            "inflight" => m("rewind_service_handlers_in_flight", PLAIN, &[]),
            "queued" => m("rewind_service_accept_queue_connections", PLAIN, &[]),
            "memory_mib" => m("rewind_service_memory_bytes", MIB, &[]),
            "replicas_up" => m("rewind_service_replicas_up", PLAIN, &[]),
            "restarts" => m("rewind_service_restarts", Read::Cumulative, &[]),
            "endpoints" => m("rewind_service_endpoints", PLAIN, &[]),
            "cpu_utilisation" => m("rewind_service_cpu_utilisation_ratio", PLAIN, &[]),
            // `process_open_fds` of the highest replica, as client libraries name it.
            "fds" => m("rewind_service_open_fds", PLAIN, &[]),
            _ => None,
        },
        (Service, [route, metric]) => {
            let route = ("route", *route);
            match *metric {
                "inflight" => m("rewind_service_route_handlers_in_flight", PLAIN, &[route]),
                "ok" => m(
                    "rewind_service_route_answers",
                    count,
                    &[route, ("outcome", "ok")],
                ),
                "errors" => m(
                    "rewind_service_route_answers",
                    count,
                    &[route, ("outcome", "error")],
                ),
                "shed" => m("rewind_service_route_requests_shed", count, &[route]),
                _ => None,
            }
        }
        (Service, ["calls", target, metric]) => {
            let target = ("target", *target);
            match *metric {
                "attempts" => m("rewind_call_attempts", count, &[target]),
                "retries" => m("rewind_call_retries", count, &[target]),
                "failed" => m("rewind_call_failures", count, &[target]),
                "rejected" => m("rewind_call_attempts_rejected", count, &[target]),
                "breaker_open" => m("rewind_call_breakers_open", PLAIN, &[target]),
                "breaker_half_open" => m("rewind_call_breakers_half_open", PLAIN, &[target]),
                _ => None,
            }
        }
        (Pool, [metric]) => match *metric {
            "in_use" => m("rewind_pool_connections_in_use", PLAIN, &[]),
            "idle" => m("rewind_pool_connections_idle", PLAIN, &[]),
            "waiting" => m("rewind_pool_waiters", PLAIN, &[]),
            "max_open" => m("rewind_pool_connections_max_open", PLAIN, &[]),
            "leaked" => m("rewind_pool_connections_leaked", PLAIN, &[]),
            _ => None,
        },
        (Job, ["running"]) => m("rewind_job_replicas_running", PLAIN, &[]),
        (Database, [metric]) => match *metric {
            "connections" => m("rewind_database_connections", PLAIN, &[]),
            "running_queries" => m("rewind_database_queries_running", PLAIN, &[]),
            "cpu_utilisation" => m("rewind_database_cpu_utilisation_ratio", PLAIN, &[]),
            _ => None,
        },
        (Cache, [metric]) => match *metric {
            "hits" => m("rewind_cache_lookups", count, &[("result", "hit")]),
            "stale" => m("rewind_cache_lookups", count, &[("result", "stale")]),
            "misses" => m("rewind_cache_lookups", count, &[("result", "miss")]),
            "coalesced" => m("rewind_cache_misses_coalesced", count, &[]),
            "fills" => m("rewind_cache_fills", count, &[]),
            "filling" => m("rewind_cache_fills_in_flight", PLAIN, &[]),
            _ => None,
        },
        _ => None,
    }
}

/// The sample name a series of family `f` carries (a counter's ends in `_total`).
pub(super) fn sample_name(f: &FamilyDef) -> String {
    match f.kind {
        MetricType::Counter => format!("{}_total", f.name),
        _ => f.name.to_string(),
    }
}

/// `name{label="value",...}` with label values escaped as the text formats require.
pub(super) fn selector_text(name: &str, labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v)))
        .collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// A label value escaped as OpenMetrics and PromQL both read it: backslash, double
/// quote and line feed.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}
