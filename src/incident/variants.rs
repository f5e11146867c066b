//! Variants: named what-ifs over the base file ("pool of 40", "fix at 50m").
//!
//! An override addresses a field by the component's name, which is unique in a file:
//! `orders-db.max_open: 40`, `orders-api.handler.context: request`,
//! `timeline.fix.at: 50m`. It is applied to the raw file, and the result is lowered
//! again, so a variant is validated exactly like the base file; its errors name the
//! variant and point at the override's line.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::raw::*;
use super::IncidentError;

/// The fields a variant can set, per kind of component, for error messages.
const CLIENT_FIELDS: &str = "rate, timeout, arrivals, method, retry, breaker, bulkhead, lb_policy";
const GATEWAY_FIELDS: &str = "timeout, connect_timeout, retry_policy, lb_policy, circuit_breakers, outlier_detection, balancer, limit_req, limit_req_status, limit_conn, limit_conn_status, proxy_connect_timeout, proxy_read_timeout, proxy_next_upstream, proxy_next_upstream_tries, max_fails, fail_timeout";
const SERVICE_FIELDS: &str = "replicas, workers, backlog, somaxconn, tcp_abort_on_overflow, handler.context, memory.limit, memory.baseline, memory.per_request, memory.runtime, memory.gogc, memory.gomemlimit, memory.xmx, memory.exit_on_oom, restart.startup, probes, calls.<service>.retry, calls.<service>.breaker, calls.<service>.timeout, calls.<service>.bulkhead, calls.<service>.lb_policy, autoscaler, concurrency_limit, queue_timeout, shed_status, strategy, routes.<route>.reserved_workers, routes.<route>.concurrency_limit, fds.limit, fds.baseline, leak.fds";
const POOL_FIELDS: &str = "max_open, max_idle, acquire_timeout, profile";
const JOB_FIELDS: &str = "every, first_run, iterations, release, context, steps";
const DATABASE_FIELDS: &str = "max_connections, latency, cpus, statement_timeout, connection_setup";
const CACHE_FIELDS: &str = "ttl, keys, popularity, hit_ratio, single_flight, invalidate_on_error, serve_stale, scope, lookup, start";

fn value<T: DeserializeOwned>(v: &Spanned<Value>) -> Result<T, String> {
    serde_json::from_value(v.value.clone()).map_err(|e| e.to_string())
}

fn spanned<T: DeserializeOwned>(v: &Spanned<Value>) -> Result<Spanned<T>, String> {
    Ok(Spanned::new(value(v)?, v.referenced, v.defined))
}

fn unknown(kind: &str, name: &str, field: &str, allowed: &str) -> String {
    format!("{kind} `{name}` has no field `{field}` a variant can set (it can set: {allowed})")
}

/// `routes.<route>.<field>` of a service: one route's bulkheads.
fn set_route(s: &mut RawService, path: &str, v: &Spanned<Value>) -> Result<(), String> {
    let service = &s.name.value;
    let Some((name, field)) = path.split_once('.') else {
        return Err(format!(
            "write `{service}.routes.<route>.reserved_workers` (or `.concurrency_limit`)"
        ));
    };
    let mut routes = s.routes.iter_mut().flat_map(|rs| rs.value.iter_mut());
    let Some(r) = routes.find(|r| r.name.value == name) else {
        return Err(format!("service `{service}` has no route `{name}`"));
    };
    match field {
        "reserved_workers" => r.reserved_workers = Some(spanned(v)?),
        "concurrency_limit" => r.concurrency_limit = Some(value(v)?),
        _ => {
            return Err(format!(
                "route `{name}` of `{service}` has no field `{field}` a variant can set (it can set: reserved_workers, concurrency_limit)"
            ))
        }
    }
    Ok(())
}

/// `calls.<service>.<field>` of a service: every `call` step to that service.
fn set_call(s: &mut RawService, path: &str, v: &Spanned<Value>) -> Result<(), String> {
    let Some((target, field)) = path.rsplit_once('.') else {
        return Err(format!(
            "write `{}.calls.<service>.retry` (or `.breaker`, `.timeout`)",
            s.name.value
        ));
    };
    let mut found = false;
    for list in s.step_lists_mut() {
        found |= set_calls_in(&mut list.value, target, field, v)?;
    }
    if found {
        Ok(())
    } else {
        Err(format!(
            "service `{}` has no `call` step to `{target}`",
            s.name.value
        ))
    }
}

/// Set `field` of every `call` step to `target` among `steps`, those in `cached`
/// blocks included; whether there was one.
fn set_calls_in(
    steps: &mut [RawStep],
    target: &str,
    field: &str,
    v: &Spanned<Value>,
) -> Result<bool, String> {
    let mut found = false;
    for step in steps {
        let c = match step {
            RawStep::Call(c) if c.service.value == target => c,
            RawStep::Cached(block) => {
                found |= set_calls_in(&mut block.steps.value, target, field, v)?;
                continue;
            }
            _ => continue,
        };
        found = true;
        match field {
            "retry" => c.retry = Some(spanned(v)?),
            "breaker" => c.breaker = Some(spanned(v)?),
            "timeout" => c.timeout = Some(value(v)?),
            "bulkhead" => c.bulkhead = Some(value(v)?),
            "lb_policy" => c.lb_policy = Some(value(v)?),
            _ => {
                return Err(format!(
                    "a call can set `retry`, `breaker`, `timeout`, `bulkhead` or `lb_policy`, not `{field}`"
                ))
            }
        }
    }
    Ok(found)
}

/// `leak.fds` of a service: every `leak` step's count (0 plugs the leak).
fn set_leaks(s: &mut RawService, v: &Spanned<Value>) -> Result<(), String> {
    let fds: Spanned<crate::incident::units::Whole> = spanned(v)?;
    let mut found = false;
    for list in s.step_lists_mut() {
        found |= set_leaks_in(&mut list.value, &fds);
    }
    let probe_steps = s.probes.as_mut().and_then(|p| p.handler.as_mut());
    if let Some(h) = probe_steps {
        found |= set_leaks_in(&mut h.steps.value, &fds);
    }
    if found {
        Ok(())
    } else {
        Err(format!("service `{}` has no `leak` step", s.name.value))
    }
}

/// Set the count of every `leak` step among `steps`, those in `cached` blocks
/// included; whether there was one.
fn set_leaks_in(steps: &mut [RawStep], fds: &Spanned<crate::incident::units::Whole>) -> bool {
    let mut found = false;
    for step in steps {
        match step {
            RawStep::Leak(l) => {
                l.value.fds = fds.clone();
                found = true;
            }
            RawStep::Cached(block) => found |= set_leaks_in(&mut block.steps.value, fds),
            _ => {}
        }
    }
    found
}

/// Apply every override of the variant `v` to `raw`, in order; an error names the
/// variant and points at the override's line of `text` (the file named `file`).
pub fn apply_variant(
    raw: &mut RawIncident,
    v: &RawVariant,
    file: &str,
    text: &str,
) -> Result<(), IncidentError> {
    let name = &v.name.value;
    for (path, value) in &v.set {
        apply(raw, path, value).map_err(|m| {
            let l = value.referenced;
            IncidentError::at(
                file,
                text,
                l.line(),
                l.column(),
                format!("variant `{name}`: {path}: {m}"),
            )
        })?;
    }
    Ok(())
}

/// Apply one override to `raw`; the error is a message (the caller locates it).
pub fn apply(raw: &mut RawIncident, path: &str, v: &Spanned<Value>) -> Result<(), String> {
    let Some((head, field)) = path.split_once('.') else {
        return Err(format!(
            "`{path}` is not `<component>.<field>` or `timeline.<id>.at`"
        ));
    };
    if head == "timeline" {
        return set_timeline(raw, path, field, v);
    }
    if let Some(c) = raw.clients.iter_mut().find(|c| c.name.value == head) {
        return set_client(c, field, v);
    }
    if let Some(g) = raw.gateways.iter_mut().find(|g| g.name.value == head) {
        return set_gateway(g, field, v);
    }
    if let Some(d) = raw.databases.iter_mut().find(|d| d.name.value == head) {
        return set_database(d, field, v);
    }
    if let Some(c) = raw.caches.iter_mut().find(|c| c.name.value == head) {
        return set_cache(c, field, v);
    }
    for s in &mut raw.services {
        if s.name.value == head {
            return set_service(s, field, v);
        }
        if let Some(p) = s.pools.iter_mut().find(|p| p.name.value == head) {
            return set_pool(p, field, v);
        }
        if let Some(j) = s.jobs.iter_mut().find(|j| j.name.value == head) {
            return set_job(j, field, v);
        }
    }
    Err(format!(
        "`{head}` is not a component of this file (nor `timeline`)"
    ))
}

/// `timeline.<id>.at` or `timeline.<id>.enabled` (`field`: what follows `timeline.`).
fn set_timeline(
    raw: &mut RawIncident,
    path: &str,
    field: &str,
    v: &Spanned<Value>,
) -> Result<(), String> {
    let Some((id, what)) = field.rsplit_once('.') else {
        return Err(format!(
            "`{path}`: write `timeline.<id>.at` or `timeline.<id>.enabled`"
        ));
    };
    let ids: Vec<String> = raw
        .timeline
        .iter()
        .filter_map(|e| e.id.as_ref().map(|i| i.value.clone()))
        .collect();
    let Some(idx) = raw
        .timeline
        .iter()
        .position(|e| e.id.as_ref().is_some_and(|i| i.value == id))
    else {
        return Err(format!(
            "no timeline entry has `id: {id}` (ids: {})",
            if ids.is_empty() {
                "none; give the entry an `id`".into()
            } else {
                ids.join(", ")
            }
        ));
    };
    match what {
        "at" => raw.timeline[idx].at = spanned(v)?,
        "enabled" => {
            if !value::<bool>(v)? {
                raw.timeline.remove(idx);
            }
        }
        _ => {
            return Err(format!(
                "timeline entries can set `at` or `enabled`, not `{what}`"
            ))
        }
    }
    Ok(())
}

/// `<client>.<field>`.
fn set_client(c: &mut RawClient, field: &str, v: &Spanned<Value>) -> Result<(), String> {
    match field {
        "rate" => c.rate = Some(spanned(v)?),
        "timeout" => c.timeout = Some(value(v)?),
        "arrivals" => c.arrivals = Some(value(v)?),
        "method" => c.method = Some(value(v)?),
        "retry" => c.retry = Some(spanned(v)?),
        "breaker" => c.breaker = Some(spanned(v)?),
        "bulkhead" => c.bulkhead = Some(value(v)?),
        "lb_policy" => c.lb_policy = Some(spanned(v)?),
        _ => return Err(unknown("client", &c.name.value, field, CLIENT_FIELDS)),
    }
    Ok(())
}

/// `<gateway>.<field>` (nginx or Envoy).
fn set_gateway(g: &mut RawGateway, field: &str, v: &Spanned<Value>) -> Result<(), String> {
    match field {
        "balancer" => g.balancer = Some(value(v)?),
        "timeout" => g.timeout = Some(spanned(v)?),
        "connect_timeout" => g.connect_timeout = Some(value(v)?),
        "retry_policy" => g.retry_policy = Some(spanned(v)?),
        "lb_policy" => g.lb_policy = Some(value(v)?),
        "circuit_breakers" => g.circuit_breakers = Some(value(v)?),
        "outlier_detection" => g.outlier_detection = Some(value(v)?),
        "limit_req" => g.limit_req = Some(spanned(v)?),
        "limit_req_status" => g.limit_req_status = Some(spanned(v)?),
        "limit_conn" => g.limit_conn = Some(value(v)?),
        "limit_conn_status" => g.limit_conn_status = Some(spanned(v)?),
        "proxy_connect_timeout" => g.proxy_connect_timeout = Some(value(v)?),
        "proxy_read_timeout" => g.proxy_read_timeout = Some(value(v)?),
        "proxy_next_upstream" => g.proxy_next_upstream = Some(spanned(v)?),
        "proxy_next_upstream_tries" => g.proxy_next_upstream_tries = Some(value(v)?),
        "max_fails" => g.max_fails = Some(value(v)?),
        "fail_timeout" => g.fail_timeout = Some(value(v)?),
        _ => return Err(unknown("gateway", &g.name.value, field, GATEWAY_FIELDS)),
    }
    Ok(())
}

/// `<database>.<field>`.
fn set_database(d: &mut RawDatabase, field: &str, v: &Spanned<Value>) -> Result<(), String> {
    match field {
        "max_connections" => d.max_connections = Some(value(v)?),
        "latency" => d.latency = spanned(v)?,
        "cpus" => d.cpus = Some(value(v)?),
        "statement_timeout" => d.statement_timeout = Some(value(v)?),
        "connection_setup" => d.connection_setup = Some(value(v)?),
        _ => return Err(unknown("database", &d.name.value, field, DATABASE_FIELDS)),
    }
    Ok(())
}

/// `<cache>.<field>`.
fn set_cache(c: &mut RawCache, field: &str, v: &Spanned<Value>) -> Result<(), String> {
    match field {
        "ttl" => c.ttl = Some(spanned(v)?),
        "keys" => c.keys = Some(spanned(v)?),
        "popularity" => c.popularity = Some(spanned(v)?),
        "hit_ratio" => c.hit_ratio = Some(spanned(v)?),
        "single_flight" => c.single_flight = Some(spanned(v)?),
        "invalidate_on_error" => c.invalidate_on_error = Some(spanned(v)?),
        "serve_stale" => c.serve_stale = Some(spanned(v)?),
        "scope" => c.scope = Some(value(v)?),
        "lookup" => c.lookup = Some(spanned(v)?),
        "start" => c.start = Some(spanned(v)?),
        _ => return Err(unknown("cache", &c.name.value, field, CACHE_FIELDS)),
    }
    Ok(())
}

/// `<service>.<field>`, nested fields (`memory.limit`, `calls.<service>.retry`, ...) included.
fn set_service(s: &mut RawService, field: &str, v: &Spanned<Value>) -> Result<(), String> {
    match field {
        "replicas" => s.replicas = Some(spanned(v)?),
        "workers" => s.workers = Some(value(v)?),
        "backlog" => s.backlog = Some(spanned(v)?),
        "somaxconn" => s.somaxconn = Some(spanned(v)?),
        "tcp_abort_on_overflow" => s.tcp_abort_on_overflow = Some(value(v)?),
        "handler.context" => {
            let c = value(v)?;
            if let Some(h) = s.handler.as_mut() {
                h.context = Some(c);
            }
            for r in s.routes.iter_mut().flat_map(|rs| rs.value.iter_mut()) {
                r.context = Some(c);
            }
        }
        "autoscaler" => s.autoscaler = Some(spanned(v)?),
        "probes" => s.probes = Some(value(v)?),
        "concurrency_limit" => s.concurrency_limit = Some(value(v)?),
        "queue_timeout" => s.queue_timeout = Some(value(v)?),
        "shed_status" => s.shed_status = Some(spanned(v)?),
        "strategy" => s.strategy = Some(value(v)?),
        "leak.fds" => set_leaks(s, v)?,
        "fds.limit" | "fds.baseline" => {
            let at = (v.referenced, v.defined);
            let f = s.fds.get_or_insert_with(|| {
                Spanned::new(
                    RawFds {
                        limit: None,
                        baseline: None,
                    },
                    at.0,
                    at.1,
                )
            });
            if field == "fds.limit" {
                f.value.limit = Some(spanned(v)?);
            } else {
                f.value.baseline = Some(spanned(v)?);
            }
        }
        f if f.starts_with("calls.") => set_call(s, &f["calls.".len()..], v)?,
        f if f.starts_with("routes.") => set_route(s, &f["routes.".len()..], v)?,
        "restart.startup" => {
            let r = s.restart.get_or_insert(RawRestart {
                startup: None,
                backoff: None,
            });
            r.startup = Some(value(v)?);
        }
        f if f.starts_with("memory.") => {
            let Some(m) = s.memory.as_mut() else {
                return Err(format!("service `{}` has no memory model to change: give it `memory:` in the base file", s.name.value));
            };
            match f {
                "memory.limit" => m.limit = spanned(v)?,
                "memory.baseline" => m.baseline = value(v)?,
                "memory.per_request" => m.per_request = value(v)?,
                "memory.runtime" => m.runtime = Some(spanned(v)?),
                "memory.gogc" => m.gogc = Some(spanned(v)?),
                "memory.gomemlimit" => m.gomemlimit = Some(spanned(v)?),
                "memory.xmx" => m.xmx = Some(spanned(v)?),
                "memory.exit_on_oom" => m.exit_on_oom = Some(spanned(v)?),
                _ => return Err(unknown("service", &s.name.value, field, SERVICE_FIELDS)),
            }
        }
        _ => return Err(unknown("service", &s.name.value, field, SERVICE_FIELDS)),
    }
    Ok(())
}

/// `<pool>.<field>` (a pool is named within its service, but unique in the file).
fn set_pool(p: &mut RawPool, field: &str, v: &Spanned<Value>) -> Result<(), String> {
    match field {
        "max_open" => p.max_open = Some(value(v)?),
        "max_idle" => p.max_idle = Some(value(v)?),
        "acquire_timeout" => p.acquire_timeout = Some(value(v)?),
        "profile" => p.profile = value(v)?,
        _ => return Err(unknown("pool", &p.name.value, field, POOL_FIELDS)),
    }
    Ok(())
}

/// `<job>.<field>`.
fn set_job(j: &mut RawJob, field: &str, v: &Spanned<Value>) -> Result<(), String> {
    match field {
        "every" => j.every = value(v)?,
        "first_run" => j.first_run = Some(value(v)?),
        "iterations" => j.iterations = value(v)?,
        "release" => j.release = value(v)?,
        "context" => j.context = Some(value(v)?),
        "steps" => j.steps = Some(spanned(v)?),
        _ => return Err(unknown("job", &j.name.value, field, JOB_FIELDS)),
    }
    Ok(())
}
