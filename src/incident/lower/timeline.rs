//! The timeline: when each action happens (within the file's duration), exactly one
//! action per entry, the components it names, and what a deploy changes (jobs, pools,
//! handler steps, memory limit). A replay shortened on the command line drops the
//! entries past its end; entries are sorted by time, stably.

use std::collections::BTreeMap;

use serde_saphyr::Spanned;

use crate::human::exact_duration;
use crate::incident::raw::{
    RawDeploy, RawFlushCache, RawHandlerChange, RawJobChange, RawPoolChange, RawRole, RawRollout,
    RawSetAutoscaler, RawSetClient, RawSetGateway, RawTimelineEntry, RawTimeoutChange,
};
use crate::incident::IncidentError;
use crate::model::spec::{
    Action, CacheModel, Change, DeployStrategy, PoolProfile, ServiceSpec, Step, Target,
    TimelineEntry,
};
use crate::outcome::regimes::Role;

use super::handlers::context;
use super::jobs::{job_context, release, steps as job_steps};
use super::latency::latency_at;
use super::resilience::{breaker, retry};
use super::services::strategy;
use super::{find, loc, Ctx, Extent};

/// The names an action may refer to.
pub(super) struct Known<'a> {
    pub(super) clients: &'a [String],
    /// The lowered clients (a new split is checked against what they send to).
    pub(super) client_specs: &'a [crate::model::spec::ClientSpec],
    pub(super) gateways: &'a [String],
    pub(super) gateway_specs: &'a [crate::model::spec::GatewaySpec],
    pub(super) services: &'a [String],
    pub(super) databases: &'a [String],
    pub(super) routes: &'a [crate::model::spec::RouteSpec],
    pub(super) caches: &'a [crate::model::spec::CacheSpec],
}

/// Lower the timeline; `services` are the lowered services deploys change.
pub(super) fn lower(
    ctx: &Ctx,
    raw: &[RawTimelineEntry],
    known: &Known,
    services: &[ServiceSpec],
    extent: &Extent,
) -> Result<Vec<TimelineEntry>, IncidentError> {
    let file_duration = extent.file_duration;
    let mut timeline = Vec::new();
    for e in raw {
        let at = e.at.value.0;
        if at > file_duration {
            return Err(ctx.err(
                loc(&e.at),
                format!(
                    "this action at {} lies outside the replay, which lasts {}",
                    exact_duration(at),
                    exact_duration(file_duration)
                ),
            ));
        }
        let action = action(ctx, e, known, services)?;
        // A replay shortened on the command line simply does not reach later entries.
        if at <= extent.duration {
            timeline.push(TimelineEntry {
                at,
                action,
                note: e.note.as_ref().map(|n| n.value.clone()),
                label: e.label.as_ref().map(|l| l.value.clone()),
                id: e.id.as_ref().map(|i| i.value.clone()),
                role: e.role.map(role),
            });
        }
    }
    // Stable: entries at the same instant keep the file's order.
    timeline.sort_by_key(|e| e.at);
    Ok(timeline)
}

fn role(r: RawRole) -> Role {
    match r {
        RawRole::Trigger => Role::Trigger,
        RawRole::TriggerEnd => Role::TriggerEnd,
        RawRole::Fix => Role::Fix,
    }
}

/// The one action of entry `e`.
fn action(
    ctx: &Ctx,
    e: &RawTimelineEntry,
    known: &Known,
    services: &[ServiceSpec],
) -> Result<Action, IncidentError> {
    let count = [
        e.set_rate.is_some(),
        e.deploy.is_some(),
        e.rollback.is_some(),
        e.restart.is_some(),
        e.kill.is_some(),
        e.slow_database.is_some(),
        e.scale.is_some(),
        e.set_client.is_some(),
        e.set_autoscaler.is_some(),
        e.set_gateway.is_some(),
        e.set_faults.is_some(),
        e.flush_cache.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if count != 1 {
        return Err(ctx.err(
            loc(&e.at),
            format!("a timeline entry needs exactly one action (set_rate, deploy, rollback, restart, kill, slow_database, scale, set_client, set_autoscaler, set_gateway, set_faults, flush_cache); this one has {count}"),
        ));
    }
    Ok(if let Some(r) = &e.set_rate {
        Action::SetRate {
            client: find(ctx, "client", known.clients, &r.client)?,
            rate_per_s: r.rate.per_s,
        }
    } else if let Some(d) = &e.deploy {
        let service = find(ctx, "service", known.services, &d.service)?;
        Action::Deploy {
            service,
            changes: deploy_changes(ctx, &services[service], d, known.routes)?,
            strategy: strategy(d.strategy, services[service].strategy),
        }
    } else if let Some(r) = &e.rollback {
        let (service, strategy) = rollout(ctx, known, services, r)?;
        Action::Rollback { service, strategy }
    } else if let Some(r) = &e.restart {
        let (service, strategy) = rollout(ctx, known, services, r)?;
        Action::Restart { service, strategy }
    } else if let Some(k) = &e.kill {
        Action::Kill {
            service: find(ctx, "service", known.services, &k.service)?,
            replica: k.replica.as_ref().map_or(0, |r| r.value as usize),
        }
    } else if let Some(sd) = &e.slow_database {
        Action::SlowDatabase {
            database: find(ctx, "database", known.databases, &sd.database)?,
            factor: sd.factor.0,
        }
    } else if let Some(f) = &e.flush_cache {
        flush_cache(ctx, known, f)?
    } else if let Some(sc) = &e.scale {
        Action::Scale {
            service: find(ctx, "service", known.services, &sc.service)?,
            replicas: sc.replicas.value.0,
        }
    } else if let Some(sg) = &e.set_gateway {
        set_gateway(ctx, known, sg)?
    } else if let Some(sf) = &e.set_faults {
        Action::SetFaults {
            service: find(ctx, "service", known.services, &sf.service)?,
            faults: super::faults::lower(
                ctx,
                sf.abort.as_ref(),
                sf.delay.as_ref(),
                sf.reset.as_ref(),
            )?,
        }
    } else if let Some(sa) = &e.set_autoscaler {
        set_autoscaler(ctx, known, services, sa)?
    } else if let Some(sc) = &e.set_client {
        set_client(ctx, known, services, sc)?
    } else {
        unreachable!("exactly one action was checked above")
    })
}

/// `flush_cache`: a cache with entries (not a fixed hit ratio).
fn flush_cache(ctx: &Ctx, known: &Known, f: &RawFlushCache) -> Result<Action, IncidentError> {
    let names: Vec<String> = known.caches.iter().map(|c| c.name.clone()).collect();
    let cache = find(ctx, "cache", &names, &f.cache)?;
    if matches!(known.caches[cache].model, CacheModel::HitRatio(_)) {
        return Err(ctx.err(
            loc(&f.cache),
            format!(
                "cache `{}` has a fixed hit_ratio and no entries to flush: give it `keys` and `ttl`",
                f.cache.value
            ),
        ));
    }
    Ok(Action::FlushCache { cache })
}

/// `set_gateway`: nginx limits for an nginx, retry policy or circuit breakers for an
/// Envoy, and something to change.
fn set_gateway(ctx: &Ctx, known: &Known, sg: &RawSetGateway) -> Result<Action, IncidentError> {
    let gateway = find(ctx, "gateway", known.gateways, &sg.gateway)?;
    let spec = &known.gateway_specs[gateway];
    let envoy = spec.envoy.is_some();
    let nginx_fields = sg.limit_req.is_some() || sg.limit_conn.is_some();
    let envoy_fields = sg.retry_policy.is_some() || sg.circuit_breakers.is_some();
    if envoy && nginx_fields {
        return Err(ctx.err(
            loc(&sg.gateway),
            format!(
                "gateway `{}` is an Envoy: set_gateway changes its retry_policy or circuit_breakers, not nginx limits",
                sg.gateway.value
            ),
        ));
    }
    if !envoy && envoy_fields {
        return Err(ctx.err(
            loc(&sg.gateway),
            format!(
                "gateway `{}` is nginx: retry_policy and circuit_breakers are an Envoy's (set limit_req or limit_conn)",
                sg.gateway.value
            ),
        ));
    }
    if !nginx_fields && !envoy_fields {
        return Err(ctx.err(
            loc(&sg.gateway),
            "this set_gateway changes nothing: give limit_req or limit_conn (nginx), retry_policy or circuit_breakers (Envoy)".into(),
        ));
    }
    // Rejections keep the status the gateway was configured with (503 by default).
    let status = spec.limit_req.map_or(503, |l| l.status);
    Ok(Action::SetGateway {
        gateway,
        limit_req: sg
            .limit_req
            .as_ref()
            .map(|l| super::gateways::limit_req_spec(ctx, l, status))
            .transpose()?,
        limit_conn: sg.limit_conn.map(|c| c.0),
        envoy_retry: sg
            .retry_policy
            .as_ref()
            .map(|rp| super::envoy::retry_policy(ctx, Some(rp)))
            .transpose()?,
        envoy_limits: sg
            .circuit_breakers
            .as_ref()
            .map(|cb| super::envoy::circuit_breakers(Some(cb))),
    })
}

/// `set_autoscaler`: a service that has one, with bounds that hold together.
fn set_autoscaler(
    ctx: &Ctx,
    known: &Known,
    services: &[ServiceSpec],
    sa: &RawSetAutoscaler,
) -> Result<Action, IncidentError> {
    let service = find(ctx, "service", known.services, &sa.service)?;
    let Some(current) = &services[service].autoscaler else {
        return Err(ctx.err(
            loc(&sa.service),
            format!(
                "service `{}` has no autoscaler to change: give it `autoscaler:` in the file",
                sa.service.value
            ),
        ));
    };
    let min = sa.min_replicas.map_or(current.hpa.min_replicas, |c| c.0);
    let max = sa.max_replicas.map_or(current.hpa.max_replicas, |c| c.0);
    if max > super::autoscaler::MAX_AUTOSCALED_REPLICAS || min > max {
        return Err(ctx.err(
            loc(&sa.service),
            format!("set_autoscaler: min_replicas {min} and max_replicas {max} must satisfy 1 <= min <= max <= {}", super::autoscaler::MAX_AUTOSCALED_REPLICAS),
        ));
    }
    Ok(Action::SetAutoscaler {
        service,
        min_replicas: sa.min_replicas.map(|c| c.0),
        max_replicas: sa.max_replicas.map(|c| c.0),
        target: sa.target.map(|t| t.0),
        enabled: sa.enabled,
    })
}

/// `set_client`: something to change, each part lowered as in a client's own spec.
fn set_client(
    ctx: &Ctx,
    known: &Known,
    services: &[ServiceSpec],
    sc: &RawSetClient,
) -> Result<Action, IncidentError> {
    if sc.retry.is_none()
        && sc.breaker.is_none()
        && sc.timeout.is_none()
        && sc.routes.is_none()
        && sc.bulkhead.is_none()
    {
        return Err(ctx.err(
            loc(&sc.client),
            "this set_client changes nothing: give retry, breaker, timeout, routes or bulkhead"
                .into(),
        ));
    }
    let client = find(ctx, "client", known.clients, &sc.client)?;
    Ok(Action::SetClient {
        client,
        routes: sc
            .routes
            .as_ref()
            .map(|r| client_routes(ctx, known, services, client, r))
            .transpose()?,
        retry: sc.retry.as_ref().map(|r| retry(ctx, r)).transpose()?,
        breaker: sc.breaker.as_ref().map(|b| breaker(ctx, b)).transpose()?,
        timeout: sc.timeout.map(|t| match t {
            RawTimeoutChange::Set(d) => Some(d.0),
            RawTimeoutChange::None(_) => None,
        }),
        bulkhead: super::resilience::bulkhead(sc.bulkhead.as_ref()),
    })
}

/// A client's new split among routes, checked against the services it sends to.
fn client_routes(
    ctx: &Ctx,
    known: &Known,
    services: &[ServiceSpec],
    client: usize,
    raw: &Spanned<BTreeMap<String, Spanned<crate::incident::units::RouteWeight>>>,
) -> Result<Vec<crate::model::spec::RouteShare>, IncidentError> {
    let c = &known.client_specs[client];
    let (to, served): (&str, Vec<&crate::model::spec::HandlerSpec>) = match c.target {
        Target::Gateway(g) => (
            &known.gateways[g],
            known.gateway_specs[g]
                .upstream
                .iter()
                .map(|&s| &services[s].handler)
                .collect(),
        ),
        Target::Service(s) => (&known.services[s], vec![&services[s].handler]),
    };
    super::routes::changed_split(ctx, raw, &c.name, to, known.routes, &served)
}

/// The service a `rollback` or `restart` names, and its strategy (the service's unless
/// the entry gives one).
fn rollout(
    ctx: &Ctx,
    known: &Known,
    services: &[ServiceSpec],
    r: &Spanned<RawRollout>,
) -> Result<(usize, DeployStrategy), IncidentError> {
    let name = Spanned::new(r.value.service.clone(), r.referenced, r.defined);
    let service = find(ctx, "service", known.services, &name)?;
    Ok((
        service,
        strategy(r.value.strategy, services[service].strategy),
    ))
}

/// What deploy `d` changes in `svc`, checked in the order jobs, pools, handler, memory.
fn deploy_changes(
    ctx: &Ctx,
    svc: &ServiceSpec,
    d: &RawDeploy,
    route_table: &[crate::model::spec::RouteSpec],
) -> Result<Vec<Change>, IncidentError> {
    let mut changes = Vec::new();
    if let Some(jobs) = &d.jobs {
        job_changes(ctx, svc, jobs, &mut changes)?;
    }
    if let Some(pools) = &d.pools {
        pool_changes(ctx, svc, pools, &mut changes)?;
    }
    if let Some(h) = &d.handler {
        handler_changes(ctx, svc, h, route_table, &mut changes)?;
    }
    if let Some(m) = d.memory_limit {
        if svc.memory.is_none() {
            return Err(ctx.err(
                loc(&d.service),
                format!(
                    "service `{}` has no memory model to change the limit of",
                    svc.name
                ),
            ));
        }
        changes.push(Change::MemoryLimit(m.mib));
    }
    if d.concurrency_limit.is_some() || d.queue_timeout.is_some() || d.shed_status.is_some() {
        changes.push(Change::Shed {
            concurrency_limit: d.concurrency_limit.map(|c| c.0),
            queue_timeout: d.queue_timeout.map(|t| t.0),
            status: d
                .shed_status
                .as_ref()
                .map(|st| super::tracked_error_status(ctx, "shed_status", st))
                .transpose()?,
        });
    }
    if changes.is_empty() {
        return Err(ctx.err(
            loc(&d.service),
            "this deploy changes nothing: give jobs, pools, handler, memory_limit, concurrency_limit, queue_timeout or shed_status (`restart` replaces the replicas unchanged)".into(),
        ));
    }
    Ok(changes)
}

fn job_changes(
    ctx: &Ctx,
    svc: &ServiceSpec,
    jobs: &Spanned<BTreeMap<String, RawJobChange>>,
    changes: &mut Vec<Change>,
) -> Result<(), IncidentError> {
    let job_names: Vec<String> = svc.jobs.iter().map(|j| j.name.clone()).collect();
    for (name, change) in &jobs.value {
        let job = job_names.iter().position(|n| n == name).ok_or_else(|| {
            ctx.err(
                loc(jobs),
                format!(
                    "service `{}` has no job `{name}` (its jobs: {})",
                    svc.name,
                    list(&job_names)
                ),
            )
        })?;
        if let Some(r) = change.release {
            changes.push(Change::JobRelease {
                job,
                release: release(r),
            });
        }
        if let Some(n) = change.iterations {
            changes.push(Change::JobIterations {
                job,
                iterations: n.0,
            });
        }
        if let Some(c) = &change.context {
            changes.push(Change::JobContext {
                job,
                context: job_context(c),
            });
        }
        if let Some(s) = &change.steps {
            changes.push(Change::JobSteps {
                job,
                steps: job_steps(ctx, s)?,
            });
        }
    }
    Ok(())
}

fn pool_changes(
    ctx: &Ctx,
    svc: &ServiceSpec,
    pools: &Spanned<BTreeMap<String, RawPoolChange>>,
    changes: &mut Vec<Change>,
) -> Result<(), IncidentError> {
    let pool_names: Vec<String> = svc.pools.iter().map(|p| p.name.clone()).collect();
    for (name, change) in &pools.value {
        let pool = pool_names.iter().position(|n| n == name).ok_or_else(|| {
            ctx.err(
                loc(pools),
                format!(
                    "service `{}` has no pool `{name}` (its pools: {})",
                    svc.name,
                    list(&pool_names)
                ),
            )
        })?;
        if let Some(m) = change.max_open {
            if svc.pools[pool].profile == PoolProfile::Hikari && m.0.is_none() {
                return Err(ctx.err(loc(pools), "a hikari pool cannot be made unlimited".into()));
            }
            changes.push(Change::PoolMaxOpen {
                pool,
                max_open: m.0,
            });
        }
        if let Some(t) = change.acquire_timeout {
            let timeout = match t {
                RawTimeoutChange::Set(d) => Some(d.0),
                RawTimeoutChange::None(_) => None,
            };
            changes.push(Change::PoolAcquireTimeout { pool, timeout });
        }
    }
    Ok(())
}

fn handler_changes(
    ctx: &Ctx,
    svc: &ServiceSpec,
    h: &Spanned<RawHandlerChange>,
    route_table: &[crate::model::spec::RouteSpec],
    changes: &mut Vec<Change>,
) -> Result<(), IncidentError> {
    let routes = &svc.handler.routes;
    // Steps are numbered within the route the change names (the first by default).
    let chosen = match &h.value.route {
        None => None,
        Some(name) => Some(
            routes
                .iter()
                .position(|r| {
                    r.route
                        .and_then(|id| route_table.get(id))
                        .is_some_and(|x| x.name == *name)
                })
                .ok_or_else(|| {
                    ctx.err(
                        loc(h),
                        format!("service `{}` has no route `{name}`", svc.name),
                    )
                })?,
        ),
    };
    if let Some(c) = h.value.context {
        let targets: Vec<usize> = match chosen {
            Some(r) => vec![r],
            None => (0..routes.len()).collect(),
        };
        for route in targets {
            changes.push(Change::HandlerContext {
                route,
                context: context(Some(c)),
            });
        }
    }
    let route = &routes[chosen.unwrap_or(0)];
    let step_at = |step_no: u32| -> Option<(usize, &Step)> {
        let i = route.first_step + (step_no as usize).checked_sub(1)?;
        (i < route.end_step).then(|| svc.handler.steps.get(i).map(|s| (i, s)))?
    };
    for (step_no, lat) in &h.value.work {
        match step_at(*step_no) {
            Some((i, Step::Work(_))) => changes.push(Change::StepLatency {
                step: i,
                latency: latency_at(ctx, loc(h), lat)?,
            }),
            _ => {
                return Err(ctx.err(
                    loc(h),
                    format!("step {step_no} of service `{}` is not a `work` step (steps are numbered from 1)", svc.name),
                ))
            }
        }
    }
    for (step_no, call) in &h.value.calls {
        match step_at(*step_no) {
            Some((i, Step::Call { .. })) => {
                if call.retry.is_none() && call.breaker.is_none() {
                    return Err(ctx.err(
                        loc(h),
                        format!("the change of call step {step_no} changes nothing: give retry or breaker"),
                    ));
                }
                changes.push(Change::CallPolicy {
                    step: i,
                    retry: call.retry.as_ref().map(|r| retry(ctx, r)).transpose()?,
                    breaker: call.breaker.as_ref().map(|b| breaker(ctx, b)).transpose()?,
                })
            }
            _ => {
                return Err(ctx.err(
                    loc(h),
                    format!("step {step_no} of service `{}` is not a `call` step (steps are numbered from 1)", svc.name),
                ))
            }
        }
    }
    Ok(())
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
