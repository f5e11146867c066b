//! `summary.json`: the run's totals, for tools and for comparing runs.

use serde_json::{json, Map, Value};

use super::{seconds, Report, VERSION};
use crate::engine::Nanos;
use crate::outcome::alerts::AlertOutcome;
use crate::outcome::{
    CacheTotals, CallTotals, ClientTotals, GatewayTotals, ServiceTotals, STATUSES,
};

fn opt_s(t: Option<crate::engine::Nanos>) -> Value {
    t.map_or(Value::Null, |t| json!(seconds(t)))
}

fn retries_denied(c: &crate::outcome::CallerCounts) -> Value {
    json!({
        "quota": c.retries_denied_quota,
        "throttled": c.retries_denied_throttled,
        "budget": c.retries_denied_budget,
    })
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// One gateway's totals: requests, statuses, retries, limits, latencies and, for an
/// Envoy, its response flags.
fn gateway_json(g: &GatewayTotals) -> Value {
    let statuses: Map<String, Value> = STATUSES
        .iter()
        .enumerate()
        .map(|(i, c)| (c.to_string(), json!(g.by_status[i])))
        .collect();
    let flags = g.envoy_flags.map_or(Value::Null, |f| {
        json!({
            "UF": f.uf,
            "UH": f.uh,
            "UO": f.uo,
            "UT": f.ut,
            "UC": f.uc,
            "URX": f.urx,
            "retry_overflow": f.retry_overflow,
            "ejections": f.ejections,
        })
    });
    let mut gateway = json!({
        "name": g.name,
        "response_flags": flags,
        "requests": g.requests,
        "responses": statuses,
        "retries": g.retries,
        "no_live_upstreams": g.no_live_upstreams,
        "truncated": g.truncated,
        "limit_req_rejected": g.limit_req_rejected,
        "limit_req_delayed": g.limit_req_delayed,
        "limit_conn_rejected": g.limit_conn_rejected,
        "last_5xx_s": opt_s(g.last_5xx),
        "p50_ms": g.p50_ms,
        "p99_ms": g.p99_ms,
        "mean_ms": g.mean_ms.map(round3),
        "ok_p50_ms": g.ok_p50_ms,
        "ok_p99_ms": g.ok_p99_ms,
        "ok_mean_ms": g.ok_mean_ms.map(round3),
    });
    // Only a system with `body` steps times headers apart from responses.
    if let (Some(h), Some(obj)) = (g.header, gateway.as_object_mut()) {
        obj.insert("header_p50_ms".into(), json!(h.p50_ms));
        obj.insert("header_p99_ms".into(), json!(h.p99_ms));
        obj.insert("header_mean_ms".into(), json!(h.mean_ms.map(round3)));
    }
    gateway
}

/// One client's totals: what it sent, what came back, and its retrier and breaker.
fn client_json(c: &ClientTotals) -> Value {
    json!({
        "name": c.name,
        "sent": c.sent,
        "ok": c.ok,
        "failed": c.failed,
        "refused": c.refused,
        "gave_up": c.gave_up,
        "mean_latency_ms": if c.ok > 0 { json!(round3(c.latency_sum_s / c.ok as f64 * 1000.0)) } else { Value::Null },
        "attempts": c.caller.attempts,
        "retries": c.caller.retries,
        "retries_exhausted": c.caller.retries_exhausted,
        "retries_denied": retries_denied(&c.caller),
        "breaker_rejected": c.caller.breaker_rejected,
        "bulkhead_rejected": c.caller.bulkhead_rejected,
        "breaker_opened": c.caller.breaker_opened,
    })
}

/// One `call` step's totals, over the replicas of its service.
fn call_json(c: &CallTotals) -> Value {
    json!({
        "service": c.service,
        "step": c.step,
        "target": c.target,
        "ok": c.counts.ok,
        "failed": c.counts.failed,
        "attempts": c.counts.attempts,
        "retries": c.counts.retries,
        "retries_exhausted": c.counts.retries_exhausted,
        "retries_denied": retries_denied(&c.counts),
        "breaker_rejected": c.counts.breaker_rejected,
        "bulkhead_rejected": c.counts.bulkhead_rejected,
        "breaker_opened": c.counts.breaker_opened,
    })
}

/// One service's totals over its replicas (`duration`: the run's, for the mean in the
/// system).
fn service_json(sv: &ServiceTotals, duration: Nanos) -> Value {
    json!({
        "name": sv.name,
        "accepted": sv.accepted,
        "refused": sv.refused,
        "dropped_syn": sv.dropped_syn,
        "ok": sv.ok,
        "errors": sv.errors,
        "unanswered": sv.unanswered,
        "shed": sv.shed,
        "oom_kills": sv.oom_kills,
        "fd_crashes": sv.fd_crashes,
        "leaked_fds": sv.leaked_fds,
        "peak_fds": sv.peak_fds,
        "restarts": sv.restarts,
        "peak_inflight": sv.peak_inflight,
        "peak_memory_mib": round3(sv.peak_memory_mib),
        "cpu_core_s": round3(sv.cpu_core_s),
        "faults_injected": sv.faults_injected,
        "gc_cycles": sv.gc_cycles,
        "out_of_memory_errors": sv.out_of_memory_errors,
        "mean_in_system": round3(sv.in_system_area_s / duration.as_secs_f64().max(1e-9)),
        "started": sv.started,
        "waited": sv.waited,
        "queue_wait_s": round3(sv.queue_wait_sum_s),
        "mean_queue_wait_ms": if sv.started > 0 { json!(round3(sv.queue_wait_sum_s / sv.started as f64 * 1000.0)) } else { Value::Null },
    })
}

/// One cache's lookups, fills and hit ratio.
fn cache_json(c: &CacheTotals) -> Value {
    // Lookups served from the cache, fresh or stale.
    let hit_ratio = if c.lookups > 0 {
        json!(round3((c.hits + c.stale) as f64 / c.lookups as f64))
    } else {
        Value::Null
    };
    json!({
        "name": c.name,
        "scope": if c.shared { "shared" } else { "process" },
        "lookups": c.lookups,
        "hits": c.hits,
        "stale": c.stale,
        "misses": c.misses,
        "coalesced": c.coalesced,
        "fills": c.fills,
        "fill_errors": c.fill_errors,
        "emptied": c.emptied,
        "peak_filling": c.peak_filling,
        "hit_ratio": hit_ratio,
    })
}

/// One alert rule: when it was pending, firing and resolved, and how long after the
/// first user-visible error (`first_error`) it fired.
fn alert_json(a: &AlertOutcome, first_error: Option<Nanos>) -> Value {
    json!({
        "name": a.name,
        "expr": a.text,
        "for_s": seconds(a.hold),
        "evaluation_interval_s": seconds(a.interval),
        "first_pending_s": opt_s(a.first_pending),
        "first_firing_s": opt_s(a.first_firing),
        "first_resolved_s": opt_s(a.first_resolved),
        "firings": a.firings,
        "time_to_detect_s": match (first_error, a.first_firing) {
            (Some(e), Some(f)) => json!(seconds(f.saturating_sub(e))),
            _ => Value::Null,
        },
        "firing": a.spans.iter().map(|s| json!({
            "labels": s.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<String, Value>>(),
            "from_s": seconds(s.from),
            "to_s": opt_s(s.to),
        })).collect::<Vec<Value>>(),
        "error": a.error,
    })
}

/// The summary as pretty JSON. `wall_s` is the only value that differs between two
/// identical runs; pass `None` to leave it out (for byte-for-byte comparisons).
pub fn summary_json(report: &Report, wall_s: Option<f64>) -> String {
    let r = report.result;
    let s = report.scenario;
    let mut by_status = Map::new();
    let mut first = Map::new();
    for (i, code) in STATUSES.iter().enumerate() {
        let n: u64 = r.gateways.iter().map(|g| g.by_status[i]).sum();
        by_status.insert(code.to_string(), json!(n));
        if *code != 200 {
            let t = r.gateways.iter().filter_map(|g| g.first[i]).min();
            first.insert(code.to_string(), opt_s(t));
        }
    }
    let requests: u64 = r.clients.iter().map(|c| c.sent).sum();
    let gateways: Vec<Value> = r.gateways.iter().map(gateway_json).collect();
    let clients: Vec<Value> = r.clients.iter().map(client_json).collect();
    let calls: Vec<Value> = r.calls.iter().map(call_json).collect();
    let services: Vec<Value> = r
        .services
        .iter()
        .map(|sv| service_json(sv, r.duration))
        .collect();
    let pools: Vec<Value> = r
        .pools
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "peak_waiting": p.peak_waiting,
                "wait_count": p.wait_count,
                "wait_duration_s": round3(p.wait_sum_s),
                "timeouts": p.timeouts,
                "refused": p.refused,
                "leaked": p.leaked,
                "exhaustions": p.exhaustions,
            })
        })
        .collect();
    let databases: Vec<Value> = r
        .databases
        .iter()
        .map(|d| {
            json!({
                "name": d.name,
                "queries": d.queries,
                "statement_timeouts": d.statement_timeouts,
                "peak_running": d.peak_running,
                "cpu_core_s": round3(d.busy_core_s),
            })
        })
        .collect();
    let caches: Vec<Value> = r.caches.iter().map(cache_json).collect();
    let first_error = r.first_user_visible_error();
    let alerts: Vec<Value> = r
        .alerts
        .iter()
        .map(|a| alert_json(a, first_error))
        .collect();
    let regimes: Vec<Value> = r
        .regimes
        .spans
        .iter()
        .map(|span| {
            json!({
                "from_s": seconds(span.from),
                "to_s": seconds(span.to),
                "regime": span.regime.name(),
                "goodput_share": span.goodput_share.map(round3),
                "ok_mean_ms": span.ok_mean_ms.map(round3),
                "peak_backlog": span.peak_backlog,
            })
        })
        .collect();
    let baseline = r.regimes.baseline.as_ref().map_or(Value::Null, |b| {
        json!({
            "from_s": seconds(b.from),
            "to_s": seconds(b.to),
            "goodput_share": round3(b.goodput_share),
            "ok_mean_ms": b.ok_mean_ms.map(round3),
        })
    });
    let timeline: Vec<Value> = s
        .timeline
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let recovered = r.regimes.recovered_after.get(i).copied().flatten();
            json!({
                "at_s": seconds(e.at),
                "id": e.id,
                "label": e.label,
                "role": e.role.map(|role| role.name()),
                "recovered_after_s": opt_s(recovered),
            })
        })
        .collect();
    let mut v = json!({
        "incident": s.name,
        "title": s.title,
        "sources": s.sources,
        "seed": s.seed,
        "rewind_version": VERSION,
        "duration_s": seconds(r.duration),
        "requests": requests,
        "responses": by_status,
        "first_status_s": first,
        "peak_pool_waiting": r.pools.iter().map(|p| p.peak_waiting).max().unwrap_or(0),
        "oom_kills": r.services.iter().map(|s| s.oom_kills).sum::<u64>(),
        "fd_crashes": r.services.iter().map(|s| s.fd_crashes).sum::<u64>(),
        "restarts": r.services.iter().map(|s| s.restarts).sum::<u64>(),
        "events": r.events,
        "gateways": gateways,
        "clients": clients,
        "calls": calls,
        "services": services,
        "pools": pools,
        "databases": databases,
        "caches": caches,
        "first_user_visible_error_s": opt_s(first_error),
        "alerts": alerts,
        "regimes": regimes,
        "regime_baseline": baseline,
        "timeline": timeline,
    });
    if let Some(w) = wall_s {
        v["wall_s"] = json!(round3(w));
    }
    let mut out = serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".into());
    out.push('\n');
    out
}
