//! Services: replicas, workers, the listen backlog (capped at Linux `somaxconn`, with
//! a warning),
//! memory and OOM limit, file descriptors (`fds.rs`), restart timing (Kubernetes `CrashLoopBackOff`: 10 s doubling
//! to 5 min, reset after 10 min of running), and the parts each service owns, lowered
//! in this order: pools, handler, jobs.

use crate::engine::Nanos;
use crate::incident::raw::{
    RawBackoff, RawGogc, RawMemory, RawRestart, RawRuntime, RawService, RawStrategy,
};
use crate::incident::IncidentError;
use crate::model::runtime::MIB;
use crate::model::spec::{
    Backoff, DeployStrategy, MemorySpec, RestartSpec, RouteSpec, RuntimeSpec, ServiceSpec, ShedSpec,
};

use super::{autoscaler, faults, fds, handlers, jobs, loc, pools, probes, Ctx};

/// Linux `net.core.somaxconn` on kernels since 5.4 (128 before): listen() caps its
/// backlog at it (`__sys_listen`, net/socket.c: `if ((unsigned int)backlog >
/// somaxconn) backlog = somaxconn;`), and Go passes it as every listener's backlog.
const LINUX_SOMAXCONN: u32 = 4096;
/// Go's `GOGC` when the environment does not set it (`readGOGC`, runtime/mgcpacer.go).
const GO_DEFAULT_GOGC: u32 = 100;
/// Time from process start to ready when the file does not say: a Go binary starts in
/// well under a second, and the first readiness probe succeeds within seconds.
const DEFAULT_STARTUP: Nanos = Nanos::from_secs(5);

/// Lower every service, in file order. `service_names` are all of them, for calls.
pub(super) fn lower(
    ctx: &Ctx,
    raw: &[RawService],
    service_names: &[String],
    db_names: &[String],
    routes: &[RouteSpec],
    cache_names: &[String],
) -> Result<Vec<ServiceSpec>, IncidentError> {
    let mut services = Vec::new();
    for s in raw {
        services.push(service(
            ctx,
            s,
            service_names,
            db_names,
            routes,
            cache_names,
        )?);
    }
    Ok(services)
}

fn service(
    ctx: &Ctx,
    s: &RawService,
    service_names: &[String],
    db_names: &[String],
    routes: &[RouteSpec],
    cache_names: &[String],
) -> Result<ServiceSpec, IncidentError> {
    let pools = pools::lower(ctx, &s.pools, db_names)?;
    let pool_names: Vec<String> = pools.iter().map(|p| p.name.clone()).collect();
    let names = handlers::Names {
        pools: &pool_names,
        services: service_names,
        routes,
        caches: cache_names,
    };
    let handler = handlers::lower(ctx, s, &names)?;
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
    let fds = fds::budget(ctx, s.fds.as_ref(), &[&handler.steps, &probe_steps])?;
    Ok(ServiceSpec {
        name: s.name.value.clone(),
        replicas: s.replicas.as_ref().map_or(1, |c| c.value.0),
        workers: s.workers.and_then(|w| w.0),
        backlog: backlog(ctx, s),
        abort_on_overflow: s.tcp_abort_on_overflow.unwrap_or(false),
        handler,
        memory,
        fds,
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
        faults: match &s.faults {
            None => None,
            Some(f) => faults::lower(
                ctx,
                f.value.abort.as_ref(),
                f.value.delay.as_ref(),
                f.value.reset.as_ref(),
            )?,
        },
        strategy: strategy(s.strategy, DeployStrategy::Rolling),
    })
}

/// The backlog the kernel keeps: `backlog` as written, capped at `somaxconn` as
/// listen() caps it, with a warning rather than in silence. Unset, it is `somaxconn`,
/// what Go asks for. Zero is valid: the accept queue then holds one connection.
fn backlog(ctx: &Ctx, s: &RawService) -> u32 {
    let (somaxconn, whose) = match &s.somaxconn {
        Some(m) => (m.value.0, "as set"),
        None => (LINUX_SOMAXCONN, "Linux's default since 5.4"),
    };
    let Some(b) = &s.backlog else {
        return somaxconn;
    };
    if b.value.0 <= somaxconn {
        return b.value.0;
    }
    ctx.warn(
        loc(b),
        format!(
            "backlog {} is above somaxconn ({somaxconn}, {whose}): listen() caps it at {somaxconn}, so each replica of `{}` holds {} connections in its accept queue (the backlog + 1); set `somaxconn` to allow more",
            b.value.0,
            s.name.value,
            u64::from(somaxconn) + 1
        ),
    );
    somaxconn
}

/// A rollout's strategy as written, or `default` (a Deployment's default is
/// `RollingUpdate`; a timeline entry's, its service's).
pub(super) fn strategy(raw: Option<RawStrategy>, default: DeployStrategy) -> DeployStrategy {
    match raw {
        None => default,
        Some(RawStrategy::Rolling) => DeployStrategy::Rolling,
        Some(RawStrategy::Recreate) => DeployStrategy::Recreate,
    }
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
        Some(st) => super::tracked_error_status(ctx, "shed_status", st)?,
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
        runtime: runtime(ctx, m)?,
    })
}

/// The runtime and its settings; a setting of another runtime is an error at it.
fn runtime(ctx: &Ctx, m: &RawMemory) -> Result<RuntimeSpec, IncidentError> {
    let kind = m.runtime.as_ref().map_or(RawRuntime::Plain, |r| r.value);
    let name = match kind {
        RawRuntime::Plain => "plain",
        RawRuntime::Go => "go",
        RawRuntime::Jvm => "jvm",
    };
    let misplaced = |field: &str, owner: &str, at| {
        Err(ctx.err(
            at,
            format!("`{field}` is a setting of `runtime: {owner}`, and this service's runtime is {name}"),
        ))
    };
    if kind != RawRuntime::Go {
        if let Some(g) = &m.gogc {
            return misplaced("gogc", "go", loc(g));
        }
        if let Some(g) = &m.gomemlimit {
            return misplaced("gomemlimit", "go", loc(g));
        }
    }
    if kind != RawRuntime::Jvm {
        if let Some(x) = &m.xmx {
            return misplaced("xmx", "jvm", loc(x));
        }
        if let Some(x) = &m.exit_on_oom {
            return misplaced("exit_on_oom", "jvm", loc(x));
        }
    }
    let bytes = |mib: f64| (mib * MIB as f64).round() as u64;
    Ok(match kind {
        RawRuntime::Plain => RuntimeSpec::Plain,
        RawRuntime::Go => RuntimeSpec::Go {
            gogc: match m.gogc.as_ref().map(|g| g.value) {
                None => Some(GO_DEFAULT_GOGC),
                Some(RawGogc::Percent(p)) => Some(p),
                Some(RawGogc::Off) => None,
            },
            memory_limit: m.gomemlimit.as_ref().map(|l| bytes(l.value.mib)),
        },
        RawRuntime::Jvm => {
            let Some(xmx) = &m.xmx else {
                let at = m.runtime.as_ref().map_or(loc(&m.limit), loc);
                return Err(ctx.err(
                    at,
                    "`runtime: jvm` needs `xmx`, the heap's maximum size (-Xmx)".into(),
                ));
            };
            RuntimeSpec::Jvm {
                max_heap: bytes(xmx.value.mib),
                exit_on_oom: m.exit_on_oom.as_ref().is_some_and(|e| e.value),
            }
        }
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
