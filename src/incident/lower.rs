//! Lowering: the raw file becomes a [`Scenario`], or an error at the user's line.
//!
//! Profile defaults live here, in one place each, with the real component's value:
//! nginx (`proxy_*_timeout` 60 s, `proxy_next_upstream error timeout`, `max_fails` 1,
//! `fail_timeout` 10 s), Go `database/sql` (`MaxOpenConns` unlimited, `MaxIdleConns` 2,
//! random hand-over), HikariCP (`maximumPoolSize` 10, `connectionTimeout` 30 s, FIFO),
//! PostgreSQL (`max_connections` 100), Linux (`somaxconn` 4096), Kubernetes back-off.

use std::collections::BTreeMap;

use serde_saphyr::{Location, Spanned};

use crate::engine::Nanos;
use crate::human::thousands;
use crate::outcome::alerts::AlertRule;
use crate::model::dist::Latency;
use crate::model::outcome::STATUSES;
use crate::model::spec::{
    Action, Arrivals, Backoff, Change, ClientSpec, DatabaseSpec, Fairness, GatewaySpec,
    HandlerSpec, JobContext, JobSpec, MemorySpec, Method, NextUpstream, PoolProfile, PoolSpec,
    ReleaseMode, RestartSpec, Scenario, ServiceSpec, Step, Target, TimelineEntry, WaitContext,
};
use crate::model::{estimate_events, metric_columns, topology};

use super::raw::*;
use super::{IncidentError, Overrides, DEFAULT_MAX_EVENTS};

/// nginx `proxy_connect_timeout` / `proxy_read_timeout` default.
const NGINX_PROXY_TIMEOUT: Nanos = Nanos::from_secs(60);
/// nginx `fail_timeout` default.
const NGINX_FAIL_TIMEOUT: Nanos = Nanos::from_secs(10);
/// Linux `net.core.somaxconn` on kernels since 5.4: the cap on a listen backlog, and
/// what Go passes to listen().
const LINUX_SOMAXCONN: u32 = 4096;
/// Go `database/sql` `defaultMaxIdleConns`.
const GO_SQL_MAX_IDLE: u32 = 2;
/// HikariCP `maximumPoolSize` default.
const HIKARI_POOL_SIZE: u32 = 10;
/// HikariCP `connectionTimeout` default.
const HIKARI_CONNECTION_TIMEOUT: Nanos = Nanos::from_secs(30);
/// PostgreSQL `max_connections` default.
const POSTGRES_MAX_CONNECTIONS: u32 = 100;
/// Time from process start to ready when the file does not say: a Go binary starts in
/// well under a second, and the first readiness probe succeeds within seconds.
const DEFAULT_STARTUP: Nanos = Nanos::from_secs(5);

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, loc: Location, message: String) -> IncidentError {
        IncidentError::at(self.file, self.text, loc.line(), loc.column(), message)
    }
}

fn loc<T>(s: &Spanned<T>) -> Location {
    s.referenced
}

/// Check the spelling of every component name, then that no name is used twice. The
/// duplicate is reported where it appears second in the file, whatever its kind.
fn check_names(ctx: &Ctx, raw: &RawIncident) -> Result<(), IncidentError> {
    let mut all: Vec<(&'static str, &Spanned<String>)> = Vec::new();
    all.extend(raw.clients.iter().map(|c| ("client", &c.name)));
    all.extend(raw.gateways.iter().map(|g| ("gateway", &g.name)));
    for s in &raw.services {
        all.push(("service", &s.name));
        all.extend(s.pools.iter().map(|p| ("pool", &p.name)));
        all.extend(s.jobs.iter().map(|j| ("job", &j.name)));
    }
    all.extend(raw.databases.iter().map(|d| ("database", &d.name)));
    all.sort_by_key(|(_, n)| (n.referenced.line(), n.referenced.column()));
    let mut seen: BTreeMap<&str, (&'static str, u64)> = BTreeMap::new();
    for (kind, name) in all {
        check_name(ctx, name)?;
        if let Some((other, line)) = seen.get(name.value.as_str()) {
            return Err(ctx.err(
                loc(name),
                format!(
                    "duplicate name `{}`: the {other} on line {line} already has it; every component needs its own name",
                    name.value
                ),
            ));
        }
        seen.insert(&name.value, (kind, name.referenced.line()));
    }
    Ok(())
}

fn check_name(ctx: &Ctx, name: &Spanned<String>) -> Result<(), IncidentError> {
    {
        let n = &name.value;
        let valid = !n.is_empty()
            && n.len() <= 64
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(ctx.err(
                loc(name),
                format!(
                    "`{n}` is not a valid name: use 1 to 64 letters, digits, `-` or `_` (names become CSV column prefixes)"
                ),
            ));
        }
        Ok(())
    }
}

fn find(
    ctx: &Ctx,
    what: &str,
    names: &[String],
    r: &Spanned<String>,
) -> Result<usize, IncidentError> {
    names.iter().position(|n| *n == r.value).ok_or_else(|| {
        let known = if names.is_empty() {
            format!("there are no {what}s in this file")
        } else {
            format!("known {what}s: {}", names.join(", "))
        };
        ctx.err(loc(r), format!("unknown {what} `{}`: {known}", r.value))
    })
}

fn latency(ctx: &Ctx, raw: &Spanned<RawLatency>) -> Result<Latency, IncidentError> {
    latency_at(ctx, loc(raw), &raw.value)
}

fn latency_at(ctx: &Ctx, at: Location, raw: &RawLatency) -> Result<Latency, IncidentError> {
    Ok(match raw {
        RawLatency::Constant(d) => Latency::Constant(d.0),
        RawLatency::Exponential { mean } => Latency::Exponential {
            mean_s: mean.0.as_secs_f64(),
        },
        RawLatency::Uniform { min, max } => {
            if min.0 > max.0 {
                return Err(ctx.err(
                    at,
                    format!("uniform latency has min {} above max {}", min.0, max.0),
                ));
            }
            Latency::Uniform {
                min_s: min.0.as_secs_f64(),
                max_s: max.0.as_secs_f64(),
            }
        }
        RawLatency::Lognormal { p50, p99 } => {
            if p99.0 <= p50.0 {
                return Err(ctx.err(
                    at,
                    format!(
                        "lognormal latency needs p99 above p50 (got p50 {} and p99 {})",
                        p50.0, p99.0
                    ),
                ));
            }
            Latency::lognormal_from_p50_p99(p50.0.as_secs_f64(), p99.0.as_secs_f64())
        }
        RawLatency::Empirical(points) => {
            let pts: Vec<(f64, f64)> = points
                .iter()
                .map(|(q, d)| (q.0, d.0.as_secs_f64()))
                .collect();
            let ok = pts.len() >= 2
                && pts.first().is_some_and(|p| p.0 == 0.0)
                && pts.last().is_some_and(|p| p.0 == 1.0)
                && pts.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1 >= w[0].1);
            if !ok {
                return Err(ctx.err(
                    at,
                    "an empirical latency is a list of [quantile, duration] pairs from quantile 0 to quantile 1, both increasing, e.g. [[0, 1ms], [0.5, 4ms], [0.99, 30ms], [1, 80ms]]".into(),
                ));
            }
            Latency::Empirical { points: pts }
        }
    })
}

fn context(c: Option<RawContext>) -> WaitContext {
    match c {
        Some(RawContext::Background) => WaitContext::Background,
        Some(RawContext::Request) | None => WaitContext::Request,
    }
}

fn release(r: RawRelease) -> ReleaseMode {
    match r {
        RawRelease::PerIteration => ReleaseMode::PerIteration,
        RawRelease::AtFunctionReturn => ReleaseMode::AtFunctionReturn,
        RawRelease::LastOnly => ReleaseMode::LastOnly,
    }
}

fn job_context(c: &RawJobContext) -> JobContext {
    match c {
        RawJobContext::Background => JobContext::Background,
        RawJobContext::Timeout(t) => JobContext::Timeout(t.0),
    }
}

/// Validate `raw` into a scenario.
pub fn lower(
    raw: RawIncident,
    file: &str,
    text: &str,
    ov: &Overrides,
) -> Result<Scenario, IncidentError> {
    let ctx = Ctx { file, text };
    check_names(&ctx, &raw)?;
    let name = raw.name.value.clone();
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(ctx.err(loc(&raw.name), format!("`{name}` cannot be an incident name: it names the output folder, so no slashes and no leading dot")));
    }
    let file_duration = raw.duration.value.0;
    let duration = ov.duration.unwrap_or(file_duration);
    let resolution = raw.resolution.as_ref().map_or(Nanos::SECOND, |r| r.value.0);
    if resolution > duration {
        let at = raw.resolution.as_ref().map_or(loc(&raw.duration), loc);
        return Err(ctx.err(
            at,
            format!("resolution {resolution} is longer than the duration {duration}"),
        ));
    }
    if duration.0 / resolution.0 > 10_000_000 {
        let at = raw.resolution.as_ref().map_or(loc(&raw.duration), loc);
        return Err(ctx.err(at, format!("{duration} at a resolution of {resolution} is more than 10 million rows: choose a coarser resolution")));
    }

    // Databases.
    let mut databases = Vec::new();
    for d in &raw.databases {
        databases.push(DatabaseSpec {
            name: d.name.value.clone(),
            latency: latency(&ctx, &d.latency)?,
            max_connections: d.max_connections.map_or(POSTGRES_MAX_CONNECTIONS, |c| c.0),
        });
    }
    let db_names: Vec<String> = databases.iter().map(|d| d.name.clone()).collect();

    // Services with their pools and jobs. Calls may name any service, so the names
    // are known before the first one is lowered.
    let service_names: Vec<String> = raw.services.iter().map(|s| s.name.value.clone()).collect();
    let mut services = Vec::new();
    for s in &raw.services {
        let mut pools = Vec::new();
        for p in &s.pools {
            let database = find(&ctx, "database", &db_names, &p.database)?;
            let pool = match p.profile {
                RawPoolProfile::GoSql => PoolSpec {
                    name: p.name.value.clone(),
                    profile: PoolProfile::GoSql,
                    database,
                    max_open: p.max_open.and_then(|l| l.0),
                    max_idle: p.max_idle.unwrap_or(GO_SQL_MAX_IDLE),
                    acquire_timeout: p.acquire_timeout.map(|t| t.0),
                    fairness: Fairness::Random,
                },
                RawPoolProfile::Hikari => {
                    let size = match p.max_open {
                        None => HIKARI_POOL_SIZE,
                        Some(l) => l.0.ok_or_else(|| {
                            ctx.err(loc(&p.name), "a hikari pool has a fixed maximumPoolSize: `max_open: unlimited` is not possible".into())
                        })?,
                    };
                    PoolSpec {
                        name: p.name.value.clone(),
                        profile: PoolProfile::Hikari,
                        database,
                        max_open: Some(size),
                        // HikariCP keeps its connections (fixed-size pool, minimumIdle = max).
                        max_idle: p.max_idle.unwrap_or(size),
                        acquire_timeout: Some(
                            p.acquire_timeout.map_or(HIKARI_CONNECTION_TIMEOUT, |t| t.0),
                        ),
                        fairness: Fairness::Fifo,
                    }
                }
            };
            pools.push(pool);
        }
        let pool_names: Vec<String> = pools.iter().map(|p| p.name.clone()).collect();
        let mut steps = Vec::new();
        for step in &s.handler.steps.value {
            steps.push(match step {
                RawStep::Work(l) => Step::Work(latency(&ctx, l)?),
                RawStep::Query(p) => Step::Query {
                    pool: find(&ctx, &format!("pool of service {}", s.name.value), &pool_names, p)?,
                },
                RawStep::Call(c) => Step::Call {
                    service: find(&ctx, "service", &service_names, &c.service)?,
                    timeout: c.timeout.map(|t| t.0),
                    error_status: match &c.error_status {
                        None => 500,
                        Some(st) if [500, 502, 503, 504].contains(&st.value) => st.value,
                        Some(st) => {
                            return Err(ctx.err(loc(st), format!("error_status {} is not one a failed call turns into: use 500, 502, 503 or 504", st.value)))
                        }
                    },
                },
            });
        }
        if steps.is_empty() {
            return Err(ctx.err(
                loc(&s.handler.steps),
                "a handler needs at least one step (`work` or `query`)".into(),
            ));
        }
        let mut jobs = Vec::new();
        for j in &s.jobs {
            jobs.push(JobSpec {
                name: j.name.value.clone(),
                pool: find(
                    &ctx,
                    &format!("pool of service {}", s.name.value),
                    &pool_names,
                    &j.pool,
                )?,
                every: j.every.0,
                first_run: j.first_run.map_or(j.every.0, |d| d.0),
                iterations: j.iterations.0,
                release: release(j.release),
                context: j
                    .context
                    .as_ref()
                    .map_or(JobContext::Background, job_context),
            });
        }
        let memory = match &s.memory {
            None => None,
            Some(m) => {
                if m.baseline.mib >= m.limit.value.mib {
                    return Err(ctx.err(
                        loc(&m.limit),
                        format!(
                            "the memory limit ({:.0} MiB) must be above the baseline ({:.0} MiB)",
                            m.limit.value.mib, m.baseline.mib
                        ),
                    ));
                }
                Some(MemorySpec {
                    baseline_mib: m.baseline.mib,
                    per_request_mib: m.per_request.mib,
                    limit_mib: m.limit.value.mib,
                })
            }
        };
        let restart = RestartSpec {
            startup: s
                .restart
                .as_ref()
                .and_then(|r| r.startup)
                .map_or(DEFAULT_STARTUP, |d| d.0),
            backoff: match s.restart.as_ref().and_then(|r| r.backoff.as_ref()) {
                Some(RawBackoff::Fixed(d)) => Backoff::Fixed(d.0),
                Some(RawBackoff::Kubernetes) | None => Backoff::Kubernetes {
                    initial: Nanos::from_secs(10),
                    max: Nanos::from_secs(300),
                    reset_after: Nanos::from_secs(600),
                },
            },
        };
        services.push(ServiceSpec {
            name: s.name.value.clone(),
            replicas: s.replicas.map_or(1, |c| c.0),
            workers: s.workers.and_then(|w| w.0),
            backlog: s
                .backlog
                .map_or(LINUX_SOMAXCONN, |b| b.0.min(LINUX_SOMAXCONN)),
            abort_on_overflow: s.tcp_abort_on_overflow.unwrap_or(false),
            handler: HandlerSpec {
                context: context(s.handler.context),
                steps,
            },
            memory,
            restart,
            pools,
            jobs,
        });
    }
    check_call_cycles(&ctx, &raw, &services)?;

    // Gateways.
    let mut gateways = Vec::new();
    for g in &raw.gateways {
        let mut upstream = Vec::new();
        for u in &g.upstream.value {
            let idx = find(&ctx, "service", &service_names, u)?;
            if upstream.contains(&idx) {
                return Err(ctx.err(
                    loc(u),
                    format!("service `{}` is listed twice in this upstream", u.value),
                ));
            }
            upstream.push(idx);
        }
        if upstream.is_empty() {
            return Err(ctx.err(
                loc(&g.upstream),
                "an upstream needs at least one service".into(),
            ));
        }
        let next_upstream = match &g.proxy_next_upstream {
            None => NextUpstream::NGINX_DEFAULT,
            Some(list) => {
                if list.value.contains(&RawNextUpstream::Off) {
                    if list.value.len() > 1 {
                        return Err(ctx.err(
                            loc(list),
                            "`off` cannot be combined with other proxy_next_upstream conditions"
                                .into(),
                        ));
                    }
                    NextUpstream::OFF
                } else {
                    let has = |c| list.value.contains(&c);
                    NextUpstream {
                        // nginx treats an invalid header like an error for retries.
                        error: has(RawNextUpstream::Error) || has(RawNextUpstream::InvalidHeader),
                        timeout: has(RawNextUpstream::Timeout),
                        http_500: has(RawNextUpstream::Http500),
                        http_502: has(RawNextUpstream::Http502),
                        http_503: has(RawNextUpstream::Http503),
                        http_504: has(RawNextUpstream::Http504),
                        non_idempotent: has(RawNextUpstream::NonIdempotent),
                    }
                }
            }
        };
        // nginx is the one gateway profile so far; its defaults are the constants above.
        match g.profile.unwrap_or(RawGatewayProfile::Nginx) {
            RawGatewayProfile::Nginx => {}
        }
        gateways.push(GatewaySpec {
            name: g.name.value.clone(),
            upstream,
            connect_timeout: g.proxy_connect_timeout.map_or(NGINX_PROXY_TIMEOUT, |t| t.0),
            read_timeout: g.proxy_read_timeout.map_or(NGINX_PROXY_TIMEOUT, |t| t.0),
            next_upstream,
            next_upstream_tries: g.proxy_next_upstream_tries.unwrap_or(0),
            max_fails: g.max_fails.unwrap_or(1),
            fail_timeout: g.fail_timeout.map_or(NGINX_FAIL_TIMEOUT, |t| t.0),
        });
    }
    let gateway_names: Vec<String> = gateways.iter().map(|g| g.name.clone()).collect();

    // Clients.
    let mut clients = Vec::new();
    for c in &raw.clients {
        let target = if let Some(i) = gateway_names.iter().position(|n| *n == c.to.value) {
            Target::Gateway(i)
        } else if let Some(i) = service_names.iter().position(|n| *n == c.to.value) {
            Target::Service(i)
        } else {
            let mut known: Vec<String> = gateway_names.clone();
            known.extend(service_names.iter().cloned());
            return Err(ctx.err(
                loc(&c.to),
                format!(
                    "unknown gateway or service `{}`: known: {}",
                    c.to.value,
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        };
        if c.rate.value.per_s <= 0.0 {
            return Err(ctx.err(
                loc(&c.rate),
                "a client's rate must be more than zero (a timeline `set_rate` can stop it later)"
                    .into(),
            ));
        }
        clients.push(ClientSpec {
            name: c.name.value.clone(),
            target,
            rate_per_s: c.rate.value.per_s,
            arrivals: match c.arrivals {
                Some(RawArrivals::Constant) => Arrivals::Constant,
                Some(RawArrivals::Poisson) | None => Arrivals::Poisson,
            },
            timeout: c.timeout.map(|t| t.0),
            method: match c.method {
                Some(RawMethod::Post | RawMethod::Patch | RawMethod::Lock) => Method::NonIdempotent,
                _ => Method::Idempotent,
            },
        });
    }
    let client_names: Vec<String> = clients.iter().map(|c| c.name.clone()).collect();

    // Timeline.
    let mut timeline = Vec::new();
    for e in &raw.timeline {
        let at = e.at.value.0;
        if at > file_duration {
            return Err(ctx.err(
                loc(&e.at),
                format!("this action at {at} lies outside the replay, which lasts {file_duration}"),
            ));
        }
        let count = [
            e.set_rate.is_some(),
            e.deploy.is_some(),
            e.rollback.is_some(),
            e.kill.is_some(),
            e.slow_database.is_some(),
            e.scale.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if count != 1 {
            return Err(ctx.err(
                loc(&e.at),
                format!("a timeline entry needs exactly one action (set_rate, deploy, rollback, kill, slow_database, scale); this one has {count}"),
            ));
        }
        let action = if let Some(r) = &e.set_rate {
            Action::SetRate {
                client: find(&ctx, "client", &client_names, &r.client)?,
                rate_per_s: r.rate.per_s,
            }
        } else if let Some(d) = &e.deploy {
            let service = find(&ctx, "service", &service_names, &d.service)?;
            Action::Deploy {
                service,
                changes: deploy_changes(&ctx, &services[service], d)?,
            }
        } else if let Some(r) = &e.rollback {
            Action::Rollback {
                service: find(&ctx, "service", &service_names, r)?,
            }
        } else if let Some(k) = &e.kill {
            Action::Kill {
                service: find(&ctx, "service", &service_names, &k.service)?,
                replica: k.replica.unwrap_or(0) as usize,
            }
        } else if let Some(sd) = &e.slow_database {
            Action::SlowDatabase {
                database: find(&ctx, "database", &db_names, &sd.database)?,
                factor: sd.factor.0,
            }
        } else if let Some(sc) = &e.scale {
            Action::Scale {
                service: find(&ctx, "service", &service_names, &sc.service)?,
                replicas: sc.replicas.0,
            }
        } else {
            unreachable!("exactly one action was checked above")
        };
        // A replay shortened on the command line simply does not reach later entries.
        if at <= duration {
            timeline.push(TimelineEntry {
                at,
                action,
                note: e.note.clone(),
                label: e.label.clone(),
                id: e.id.as_ref().map(|i| i.value.clone()),
            });
        }
    }
    // Stable: entries at the same instant keep the file's order.
    timeline.sort_by_key(|e| e.at);

    let scenario = Scenario {
        name,
        title: raw.title.clone().unwrap_or_else(|| raw.name.value.clone()),
        description: raw.description.clone().unwrap_or_default(),
        seed: ov.seed.or(raw.seed).unwrap_or(1),
        duration,
        resolution,
        clients,
        gateways,
        services,
        databases,
        timeline,
        alerts: Vec::new(),
    };
    let alerts = lower_alerts(&ctx, &raw, &scenario)?;
    let scenario = Scenario { alerts, ..scenario };
    if topology::has_cycle(&scenario) {
        return Err(ctx.err(
            loc(&raw.name),
            "the call graph has a cycle: a request could come back to a component it passed".into(),
        ));
    }
    let budget = ov
        .max_events
        .or(raw.limits.as_ref().and_then(|l| l.max_events))
        .unwrap_or(DEFAULT_MAX_EVENTS);
    let estimate = estimate_events(&scenario);
    if estimate > budget {
        return Err(ctx.err(
            loc(&raw.duration),
            format!(
                "this replay would process about {} events, over the budget of {}: shorten `duration`, lower the rates, or raise the budget with `limits: {{max_events: {}}}` in the file or `--max-events {}` on the command line",
                thousands(estimate),
                thousands(budget),
                estimate.next_multiple_of(1_000_000),
                estimate.next_multiple_of(1_000_000)
            ),
        ));
    }
    Ok(scenario)
}

fn deploy_changes(
    ctx: &Ctx,
    svc: &ServiceSpec,
    d: &RawDeploy,
) -> Result<Vec<Change>, IncidentError> {
    let mut changes = Vec::new();
    let job_names: Vec<String> = svc.jobs.iter().map(|j| j.name.clone()).collect();
    let pool_names: Vec<String> = svc.pools.iter().map(|p| p.name.clone()).collect();
    if let Some(jobs) = &d.jobs {
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
        }
    }
    if let Some(pools) = &d.pools {
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
                    return Err(
                        ctx.err(loc(pools), "a hikari pool cannot be made unlimited".into())
                    );
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
    }
    if let Some(h) = &d.handler {
        if let Some(c) = h.value.context {
            changes.push(Change::HandlerContext(context(Some(c))));
        }
        for (step_no, lat) in &h.value.work {
            let idx = (*step_no as usize).checked_sub(1);
            match idx.and_then(|i| svc.handler.steps.get(i).map(|s| (i, s))) {
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
    if changes.is_empty() {
        return Err(ctx.err(
            loc(&d.service),
            "this deploy changes nothing: give jobs, pools, handler or memory_limit".into(),
        ));
    }
    Ok(changes)
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Reject loops of service-to-service calls, at the call that closes the loop.
fn check_call_cycles(
    ctx: &Ctx,
    raw: &RawIncident,
    services: &[ServiceSpec],
) -> Result<(), IncidentError> {
    let calls: Vec<Vec<usize>> = services
        .iter()
        .map(|s| {
            s.handler
                .steps
                .iter()
                .filter_map(|st| match st {
                    Step::Call { service, .. } => Some(*service),
                    _ => None,
                })
                .collect()
        })
        .collect();
    let Some(cycle) = topology::call_cycle(&calls) else {
        return Ok(());
    };
    let (from, to) = (cycle[cycle.len() - 2], cycle[cycle.len() - 1]);
    let path: Vec<&str> = cycle.iter().map(|&i| services[i].name.as_str()).collect();
    let site = raw.services[from]
        .handler
        .steps
        .value
        .iter()
        .find_map(|st| match st {
            RawStep::Call(c) if c.service.value == services[to].name => Some(loc(&c.service)),
            _ => None,
        })
        .unwrap_or_else(|| loc(&raw.services[from].name));
    Err(ctx.err(
        site,
        format!("this call closes a cycle in the call graph ({}): a request would come back to a service it passed", path.join(" -> ")),
    ))
}

/// Prometheus's default `evaluation_interval`.
const PROMETHEUS_EVALUATION_INTERVAL: Nanos = Nanos::from_secs(60);

/// Parse and check the alert rules against the metrics the replay will produce.
fn lower_alerts(
    ctx: &Ctx,
    raw: &RawIncident,
    scenario: &Scenario,
) -> Result<Vec<AlertRule>, IncidentError> {
    let columns = metric_columns(scenario);
    let gateways: Vec<&str> = scenario.gateways.iter().map(|g| g.name.as_str()).collect();
    // Derived metrics: all 5xx, and all responses, of a gateway.
    let resolve = |name: &str| -> Result<Vec<String>, String> {
        if columns.iter().any(|c| c == name) {
            return Ok(vec![name.to_string()]);
        }
        if let Some((component, metric)) = name.rsplit_once('.') {
            if gateways.contains(&component) {
                let pick = |f: &dyn Fn(u16) -> bool| -> Vec<String> {
                    STATUSES
                        .iter()
                        .filter(|s| f(**s))
                        .map(|s| format!("{component}.status_{s}"))
                        .collect()
                };
                match metric {
                    "status_5xx" => return Ok(pick(&|s| s >= 500)),
                    "responses" => return Ok(pick(&|_| true)),
                    _ => {}
                }
            }
            let same: Vec<&str> = columns
                .iter()
                .filter_map(|c| c.strip_prefix(&format!("{component}.")))
                .collect();
            if !same.is_empty() {
                let mut known = same.join(", ");
                if gateways.contains(&component) {
                    known.push_str(", status_5xx, responses");
                }
                return Err(format!(
                    "`{component}` has no metric `{metric}` (its metrics: {known})"
                ));
            }
        }
        Err(format!("unknown metric `{name}`: metrics are `<component>.<metric>` as in timeseries.csv, e.g. {}", columns.iter().take(3).cloned().collect::<Vec<_>>().join(", ")))
    };
    let mut rules: Vec<AlertRule> = Vec::new();
    for a in &raw.alerts {
        if rules.iter().any(|r| r.name == a.name.value) {
            return Err(ctx.err(
                loc(&a.name),
                format!("two alert rules are named `{}`", a.name.value),
            ));
        }
        let (expr, cmp, threshold) =
            super::promql::parse_rule(&a.expr.value, &resolve).map_err(|e| {
                let l = loc(&a.expr);
                // The reader points at the scalar; a quoted scalar's text starts one later.
                let quoted = ctx
                    .text
                    .lines()
                    .nth(l.line().saturating_sub(1) as usize)
                    .and_then(|line| line.chars().nth(l.column().saturating_sub(1) as usize))
                    .is_some_and(|c| c == '"' || c == '\'');
                let column = l.column() + e.offset as u64 + u64::from(quoted);
                IncidentError::at(
                    ctx.file,
                    ctx.text,
                    l.line(),
                    column,
                    format!("in alert `{}`: {}", a.name.value, e.message),
                )
            })?;
        rules.push(AlertRule {
            name: a.name.value.clone(),
            text: a.expr.value.clone(),
            expr,
            cmp,
            threshold,
            hold: a.hold.map_or(Nanos::ZERO, |d| d.0),
            interval: a
                .evaluation_interval
                .map_or(PROMETHEUS_EVALUATION_INTERVAL, |d| d.0),
        });
    }
    Ok(rules)
}
