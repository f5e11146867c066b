//! Services: replicas, workers, the listen backlog (capped at Linux `somaxconn`),
//! memory and OOM limit, restart timing (Kubernetes `CrashLoopBackOff`: 10 s doubling
//! to 5 min, reset after 10 min of running), and the parts each service owns, lowered
//! in this order: pools, handler, jobs.

use crate::engine::Nanos;
use crate::incident::raw::{RawBackoff, RawMemory, RawRestart, RawService};
use crate::incident::IncidentError;
use crate::model::spec::{Backoff, MemorySpec, RestartSpec, ServiceSpec, ShedSpec};

use super::{autoscaler, handlers, jobs, loc, pools, probes, Ctx};

/// Linux `net.core.somaxconn` on kernels since 5.4: the cap on a listen backlog, and
/// what Go passes to listen().
const LINUX_SOMAXCONN: u32 = 4096;
/// Time from process start to ready when the file does not say: a Go binary starts in
/// well under a second, and the first readiness probe succeeds within seconds.
const DEFAULT_STARTUP: Nanos = Nanos::from_secs(5);

/// Lower every service, in file order. `service_names` are all of them, for calls.
pub(super) fn lower(
    ctx: &Ctx,
    raw: &[RawService],
    service_names: &[String],
    db_names: &[String],
    cache_names: &[String],
) -> Result<Vec<ServiceSpec>, IncidentError> {
    let mut services = Vec::new();
    for s in raw {
        services.push(service(ctx, s, service_names, db_names, cache_names)?);
    }
    Ok(services)
}

fn service(
    ctx: &Ctx,
    s: &RawService,
    service_names: &[String],
    db_names: &[String],
    cache_names: &[String],
) -> Result<ServiceSpec, IncidentError> {
    let pools = pools::lower(ctx, &s.pools, db_names)?;
    let pool_names: Vec<String> = pools.iter().map(|p| p.name.clone()).collect();
    let names = handlers::StepNames {
        pools: &pool_names,
        services: service_names,
        caches: cache_names,
    };
    let handler = handlers::lower(ctx, &s.name.value, &s.handler, &names)?;
    let jobs = jobs::lower(ctx, &s.name.value, &s.jobs, &pool_names)?;
    let (probes, probe_steps) = probes::lower(
        ctx,
        &s.name.value,
        s.probes.as_ref(),
        &pool_names,
        service_names,
    )?;
    let memory = match &s.memory {
        None => None,
        Some(m) => Some(memory(ctx, m)?),
    };
    Ok(ServiceSpec {
        name: s.name.value.clone(),
        replicas: s.replicas.map_or(1, |c| c.0),
        workers: s.workers.and_then(|w| w.0),
        backlog: s
            .backlog
            .map_or(LINUX_SOMAXCONN, |b| b.0.min(LINUX_SOMAXCONN)),
        abort_on_overflow: s.tcp_abort_on_overflow.unwrap_or(false),
        handler,
        memory,
        restart: restart(s.restart.as_ref()),
        pools,
        jobs,
        probes,
        probe_steps,
        shed: shed(ctx, s)?,
        autoscaler: s
            .autoscaler
            .as_ref()
            .map(|a| autoscaler::lower(ctx, a, s.cpus.is_some()))
            .transpose()?,
        cpus: s.cpus.map(|c| c.0),
    })
}

/// `concurrency_limit`, `queue_timeout` and `shed_status` (503 by default, the status
/// servers' load shedders answer).
fn shed(ctx: &Ctx, s: &RawService) -> Result<Option<ShedSpec>, IncidentError> {
    if s.concurrency_limit.is_none() && s.queue_timeout.is_none() {
        if let Some(st) = &s.shed_status {
            return Err(ctx.err(
                loc(st),
                "shed_status without concurrency_limit or queue_timeout".into(),
            ));
        }
        return Ok(None);
    }
    let status = match &s.shed_status {
        None => 503,
        Some(st) if [500, 502, 503, 504].contains(&st.value) => st.value,
        Some(st) => {
            return Err(ctx.err(
                loc(st),
                format!(
                    "shed_status {} is not one rewind tracks: use 500, 502, 503 or 504",
                    st.value
                ),
            ))
        }
    };
    Ok(Some(ShedSpec {
        concurrency_limit: s.concurrency_limit.map(|c| c.0),
        queue_timeout: s.queue_timeout.map(|t| t.0),
        status,
    }))
}

fn memory(ctx: &Ctx, m: &RawMemory) -> Result<MemorySpec, IncidentError> {
    if m.baseline.mib >= m.limit.value.mib {
        return Err(ctx.err(
            loc(&m.limit),
            format!(
                "the memory limit ({:.0} MiB) must be above the baseline ({:.0} MiB)",
                m.limit.value.mib, m.baseline.mib
            ),
        ));
    }
    Ok(MemorySpec {
        baseline_mib: m.baseline.mib,
        per_request_mib: m.per_request.mib,
        limit_mib: m.limit.value.mib,
    })
}

fn restart(r: Option<&RawRestart>) -> RestartSpec {
    RestartSpec {
        startup: r.and_then(|r| r.startup).map_or(DEFAULT_STARTUP, |d| d.0),
        backoff: match r.and_then(|r| r.backoff.as_ref()) {
            Some(RawBackoff::Fixed(d)) => Backoff::Fixed(d.0),
            Some(RawBackoff::Kubernetes) | None => Backoff::Kubernetes {
                initial: Nanos::from_secs(10),
                max: Nanos::from_secs(300),
                reset_after: Nanos::from_secs(600),
            },
        },
    }
}
