//! The timeline: operators' and deploys' actions at set times (rate changes, deploys,
//! rollbacks and restarts, kills, a slower database, scaling), applied and described.

use std::sync::Arc;

use crate::engine::{Nanos, Scheduler};

use super::breaker::Breaker;
use super::event::*;
use super::replica::*;
use super::retry::RetryState;
use super::spec::{
    Action, BreakerSpec, Change, DeployStrategy, EnvoyLimits, FaultSpec, JobContext, LimitConnSpec,
    LimitReqSpec, ReleaseMode, RetryPolicy, RouteShare, Scenario, ServiceSpec, ShedSpec, Step,
    WaitContext,
};
use super::world::World;

impl World {
    pub(super) fn on_timeline(&mut self, index: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let entry = self.scenario.timeline[index].clone();
        let (component, mut detail) = self.describe_action(&entry.action);
        if let Some(n) = &entry.note {
            detail = format!("{detail}: {n}");
        }
        self.note(now, "timeline", &component, detail);
        if let Some(last) = self.occurrences.last_mut() {
            last.label = Some(
                entry
                    .label
                    .clone()
                    .unwrap_or_else(|| short_label(&entry.action)),
            );
        }
        match entry.action {
            Action::SetRate { client, rate_per_s } => {
                let c = &mut self.clients[client];
                c.set_rate(rate_per_s);
                c.generation += 1;
                self.schedule_arrival(client, sched);
            }
            Action::Deploy {
                service,
                changes,
                strategy,
            } => {
                let svc = &self.services[service];
                let mut next = ServiceSpec::clone(&svc.versions[svc.current]);
                for change in &changes {
                    apply_change(&mut next, change);
                }
                self.new_revision(service, next, strategy, sched);
            }
            Action::Rollback { service, strategy } => {
                let svc = &mut self.services[service];
                if let Some(prev) = svc.history.pop() {
                    svc.current = prev;
                    self.roll_out(service, strategy, sched);
                }
            }
            Action::Restart { service, strategy } => {
                // `kubectl rollout restart` makes a new revision identical to the
                // current one (a changed annotation) and rolls it out like a deploy: a
                // rollback after it goes back to the same settings.
                let svc = &self.services[service];
                let same = ServiceSpec::clone(&svc.versions[svc.current]);
                self.new_revision(service, same, strategy, sched);
            }
            Action::Kill { service, replica } => self.kill_replica(service, replica, sched),
            Action::SlowDatabase { database, factor } => {
                self.databases[database].factor = factor;
            }
            Action::SetClient {
                client,
                retry,
                breaker,
                timeout,
                routes,
                bulkhead,
            } => {
                let c = &mut self.clients[client];
                if let Some(split) = routes {
                    c.routes = split;
                }
                if bulkhead.is_some() {
                    c.bulkhead = bulkhead;
                }
                if let Some(policy) = retry {
                    c.retry_policy = policy;
                    c.caller.retry = RetryState::new(&policy);
                }
                if let Some(spec) = breaker {
                    c.breaker_spec = spec;
                    c.caller.breaker = spec.as_ref().map(Breaker::new);
                }
                if let Some(t) = timeout {
                    c.timeout = t;
                }
            }
            Action::Scale { service, replicas } => self.scale_to(service, replicas, sched),
            Action::SetFaults { service, faults } => self.services[service].faults = faults,
            Action::FlushCache { cache } => self.flush_cache(cache),
            Action::SetGateway {
                gateway,
                limit_req,
                limit_conn,
                envoy_retry,
                envoy_limits,
            } => self.set_gateway(
                gateway,
                limit_req,
                limit_conn,
                envoy_retry,
                envoy_limits,
                sched,
            ),
            Action::SetAutoscaler {
                service,
                min_replicas,
                max_replicas,
                target,
                enabled,
            } => self.set_autoscaler(service, min_replicas, max_replicas, target, enabled),
        }
    }

    /// Roll out `spec` as service `service`'s new revision (a rollback goes back to
    /// the current one).
    fn new_revision(
        &mut self,
        service: usize,
        spec: ServiceSpec,
        strategy: DeployStrategy,
        sched: &mut Scheduler<Event>,
    ) {
        let svc = &mut self.services[service];
        svc.history.push(svc.current);
        svc.versions.push(Arc::new(spec));
        svc.current = svc.versions.len() - 1;
        self.roll_out(service, strategy, sched);
    }

    /// Kill the `replica`-th of service `service`'s replicas still alive, if any.
    fn kill_replica(&mut self, service: usize, replica: usize, sched: &mut Scheduler<Event>) {
        let live: Vec<usize> = self.services[service]
            .replicas
            .iter()
            .copied()
            .filter(|&r| self.replicas[r].state != ReplicaState::Terminated)
            .collect();
        if let Some(&r) = live.get(replica) {
            self.crash(r, "kill", "process killed (timeline)".into(), sched);
        }
    }

    /// Change a gateway's `limit_req`, `limit_conn`, and an Envoy's retry policy and
    /// circuit breakers, for the requests in flight too.
    fn set_gateway(
        &mut self,
        gateway: usize,
        limit_req: Option<LimitReqSpec>,
        limit_conn: Option<u32>,
        envoy_retry: Option<(RetryPolicy, Option<Nanos>)>,
        envoy_limits: Option<EnvoyLimits>,
        sched: &mut Scheduler<Event>,
    ) {
        let spec = &mut self.scenario.gateways[gateway];
        if limit_req.is_some() {
            spec.limit_req = limit_req;
        }
        if let Some(limit) = limit_conn {
            let status = spec.limit_conn.map_or(503, |l| l.status);
            spec.limit_conn = Some(LimitConnSpec { limit, status });
        }
        if let Some(e) = spec.envoy.as_mut() {
            // Envoy reads both at each try and retry decision: the requests in
            // flight follow the new settings from now on.
            if let Some((policy, per_try)) = envoy_retry {
                let budget = e.retry.budget;
                e.retry = policy;
                e.retry.budget = budget;
                spec.read_timeout = per_try;
            }
            if let Some(l) = envoy_limits {
                e.max_connections = l.max_connections;
                e.max_pending_requests = l.max_pending_requests;
                e.max_requests = l.max_requests;
                e.retry.budget = Some(l.retry_budget);
            }
        }
        if envoy_limits.is_some() {
            // Raised limits let waiting requests go now, not at the next try that
            // ends.
            self.envoy_limits_changed(gateway, sched);
        }
    }

    pub(super) fn describe_action(&self, action: &Action) -> (String, String) {
        let s = &self.scenario;
        match action {
            Action::SetRate { client, rate_per_s } => (
                s.clients[*client].name.clone(),
                format!("rate set to {rate_per_s}/s"),
            ),
            Action::Deploy {
                service,
                changes,
                strategy,
            } => {
                let spec = &self.services[*service].versions[self.services[*service].current];
                let parts: Vec<String> = changes.iter().map(|c| describe_change(spec, c)).collect();
                (
                    s.services[*service].name.clone(),
                    format!("deploy{} ({})", by_strategy(*strategy), parts.join(", ")),
                )
            }
            Action::Rollback { service, strategy } => (
                s.services[*service].name.clone(),
                format!("rollback to the previous version{}", by_strategy(*strategy)),
            ),
            Action::Restart { service, strategy } => (
                s.services[*service].name.clone(),
                match strategy {
                    DeployStrategy::Rolling => {
                        "rollout restart: every replica replaced, one at a time".into()
                    }
                    DeployStrategy::Recreate => {
                        "restart by recreate: every replica stops, then starts again".into()
                    }
                },
            ),
            Action::Kill { service, replica } => (
                s.services[*service].name.clone(),
                format!("kill replica {replica}"),
            ),
            Action::SlowDatabase { database, factor } => (
                s.databases[*database].name.clone(),
                format!("database latency x{factor}"),
            ),
            Action::Scale { service, replicas } => (
                s.services[*service].name.clone(),
                format!("scale to {replicas} replicas"),
            ),
            Action::SetFaults { service, faults } => (
                s.services[*service].name.clone(),
                describe_faults(faults.as_ref()),
            ),
            Action::FlushCache { cache } => (
                s.caches[*cache].name.clone(),
                "cache flushed: every entry is gone".into(),
            ),
            Action::SetGateway {
                gateway,
                limit_req,
                limit_conn,
                envoy_retry,
                envoy_limits,
            } => (
                s.gateways[*gateway].name.clone(),
                format!(
                    "limits changed ({})",
                    gateway_changes(*limit_req, *limit_conn, *envoy_retry, *envoy_limits)
                        .join(", ")
                ),
            ),
            Action::SetAutoscaler {
                service,
                min_replicas,
                max_replicas,
                target,
                enabled,
            } => {
                let mut parts = Vec::new();
                if let Some(m) = min_replicas {
                    parts.push(format!("min {m}"));
                }
                if let Some(m) = max_replicas {
                    parts.push(format!("max {m}"));
                }
                if let Some(t) = target {
                    parts.push(format!("target {t}"));
                }
                if let Some(e) = enabled {
                    parts.push(if *e { "on" } else { "off" }.to_string());
                }
                (
                    s.services[*service].name.clone(),
                    format!("autoscaler changed ({})", parts.join(", ")),
                )
            }
            Action::SetClient {
                client,
                retry,
                breaker,
                timeout,
                routes,
                bulkhead,
            } => (
                s.clients[*client].name.clone(),
                format!(
                    "client reconfigured ({})",
                    client_changes(
                        s,
                        retry.as_ref(),
                        breaker.as_ref(),
                        timeout.as_ref(),
                        routes.as_deref(),
                        *bulkhead,
                    )
                    .join(", ")
                ),
            ),
        }
    }
}

/// What a `set_gateway` changes, for the event log: Envoy's retry policy and circuit
/// breakers, nginx's `limit_req` and `limit_conn`.
fn gateway_changes(
    limit_req: Option<LimitReqSpec>,
    limit_conn: Option<u32>,
    envoy_retry: Option<(RetryPolicy, Option<Nanos>)>,
    envoy_limits: Option<EnvoyLimits>,
) -> Vec<String> {
    let mut parts = Vec::new();
    if let Some((p, per_try)) = envoy_retry {
        let mut text = format!("retry_policy num_retries {}", p.attempts - 1);
        if let Some(t) = per_try {
            text.push_str(&format!(" per_try_timeout {t}"));
        }
        parts.push(text);
    }
    if let Some(l) = envoy_limits {
        let retries = if l.retry_budget.percent > 0.0 {
            format!(
                "retry_budget {}% min {}",
                l.retry_budget.percent, l.retry_budget.min_concurrency
            )
        } else {
            format!("max_retries {}", l.retry_budget.min_concurrency)
        };
        parts.push(format!(
            "circuit_breakers max_connections {} max_pending_requests {} max_requests {} {retries}",
            l.max_connections, l.max_pending_requests, l.max_requests
        ));
    }
    if let Some(l) = limit_req {
        parts.push(format!(
            "limit_req {}/s burst {}",
            l.rate_milli as f64 / 1000.0,
            l.burst_milli / 1000
        ));
    }
    if let Some(c) = limit_conn {
        parts.push(format!("limit_conn {c}"));
    }
    parts
}

/// What a `set_client` changes, for the event log: its retry policy and breaker,
/// timeout, split among routes (named in `s`) and bulkhead.
fn client_changes(
    s: &Scenario,
    retry: Option<&RetryPolicy>,
    breaker: Option<&Option<BreakerSpec>>,
    timeout: Option<&Option<Nanos>>,
    routes: Option<&[RouteShare]>,
    bulkhead: Option<u32>,
) -> Vec<String> {
    let mut parts = describe_policies(retry, breaker);
    if let Some(t) = timeout {
        parts.push(match t {
            Some(t) => format!("timeout {t}"),
            None => "no timeout".into(),
        });
    }
    if let Some(split) = routes {
        let shares: Vec<String> = split
            .iter()
            // Shares are stored normalised: print them as written (to 1e-6 of a
            // percent), without the float's last-digit noise.
            .map(|r| {
                let percent = (r.share * 1e8).round() / 1e6;
                format!("{} {percent}%", s.routes[r.route].name)
            })
            .collect();
        parts.push(format!("routes {}", shares.join(", ")));
    }
    if let Some(b) = bulkhead {
        parts.push(format!("bulkhead {b}"));
    }
    parts
}

/// How a rollout goes, for the event log: nothing for the usual rolling update (so the
/// words of a plain deploy stay as they were), " by recreate" otherwise.
fn by_strategy(strategy: DeployStrategy) -> &'static str {
    match strategy {
        DeployStrategy::Rolling => "",
        DeployStrategy::Recreate => " by recreate",
    }
}

pub(super) fn apply_change(spec: &mut ServiceSpec, change: &Change) {
    match change {
        Change::JobRelease { job, release } => spec.jobs[*job].release = *release,
        Change::JobIterations { job, iterations } => spec.jobs[*job].iterations = *iterations,
        Change::JobContext { job, context } => spec.jobs[*job].context = *context,
        Change::JobSteps { job, steps } => spec.jobs[*job].steps = steps.clone(),
        Change::PoolMaxOpen { pool, max_open } => spec.pools[*pool].max_open = *max_open,
        Change::PoolAcquireTimeout { pool, timeout } => {
            spec.pools[*pool].acquire_timeout = *timeout
        }
        Change::StepLatency { step, latency } => {
            if let Some(Step::Work(l)) = spec.handler.steps.get_mut(*step) {
                *l = latency.clone();
            }
        }
        Change::HandlerContext { route, context } => {
            if let Some(r) = spec.handler.routes.get_mut(*route) {
                r.context = *context;
            }
        }
        Change::MemoryLimit(limit) => {
            if let Some(m) = spec.memory.as_mut() {
                m.limit_mib = *limit;
            }
        }
        Change::Shed {
            concurrency_limit,
            queue_timeout,
            status,
        } => {
            let shed = spec.shed.get_or_insert(ShedSpec {
                concurrency_limit: None,
                queue_timeout: None,
                status: 503,
            });
            if concurrency_limit.is_some() {
                shed.concurrency_limit = *concurrency_limit;
            }
            if queue_timeout.is_some() {
                shed.queue_timeout = *queue_timeout;
            }
            if let Some(st) = status {
                shed.status = *st;
            }
        }
        Change::CallPolicy {
            step,
            retry,
            breaker,
        } => {
            if let Some(Step::Call {
                retry: r,
                breaker: b,
                ..
            }) = spec.handler.steps.get_mut(*step)
            {
                if let Some(policy) = retry {
                    *r = *policy;
                }
                if let Some(spec) = breaker {
                    *b = *spec;
                }
            }
        }
    }
}

/// What a change of retry policy and breaker sets, in a few words each.
fn describe_policies(
    retry: Option<&RetryPolicy>,
    breaker: Option<&Option<BreakerSpec>>,
) -> Vec<String> {
    let mut parts = Vec::new();
    if let Some(p) = retry {
        parts.push(describe_retry(p));
    }
    if let Some(b) = breaker {
        parts.push(describe_breaker(b.as_ref()));
    }
    parts
}

/// A retry policy in a few words, for the event log.
fn describe_retry(p: &RetryPolicy) -> String {
    if p.attempts <= 1 {
        "no retries".into()
    } else {
        let mut s = format!(
            "{} attempts, back-off {} to {}",
            p.attempts, p.backoff.base, p.backoff.max
        );
        if p.quota.is_some() {
            s.push_str(", retry quota");
        }
        if p.throttling.is_some() {
            s.push_str(", retry throttling");
        }
        if p.budget.is_some() {
            s.push_str(", retry budget");
        }
        s
    }
}

/// A breaker in a few words, for the event log.
fn describe_breaker(b: Option<&BreakerSpec>) -> String {
    match b {
        None => "no circuit breaker".into(),
        Some(BreakerSpec::Resilience4j(_)) => "resilience4j circuit breaker".into(),
        Some(BreakerSpec::Hystrix(_)) => "hystrix circuit breaker".into(),
    }
}

/// A few words naming a timeline action, for chart markers.
pub(super) fn short_label(action: &Action) -> String {
    match action {
        Action::SetRate { rate_per_s, .. } => format!("rate {rate_per_s}/s"),
        Action::Deploy { .. } => "deploy".into(),
        Action::Rollback { .. } => "rollback".into(),
        Action::Restart { .. } => "restart".into(),
        Action::Kill { .. } => "kill".into(),
        Action::SlowDatabase { factor, .. } => format!("database x{factor}"),
        Action::Scale { replicas, .. } => format!("scale to {replicas}"),
        Action::FlushCache { .. } => "cache flush".into(),
        Action::SetClient { .. } => "client config".into(),
        Action::SetAutoscaler {
            enabled: Some(false),
            ..
        } => "autoscaler off".into(),
        Action::SetAutoscaler { .. } => "autoscaler change".into(),
        Action::SetGateway { .. } => "limits changed".into(),
        Action::SetFaults { faults: None, .. } => "faults off".into(),
        Action::SetFaults { .. } => "faults on".into(),
    }
}

/// What a set of injected faults does, in words.
fn describe_faults(f: Option<&FaultSpec>) -> String {
    let Some(f) = f else {
        return "faults off".into();
    };
    let mut parts = Vec::new();
    if let Some((d, share)) = f.delay {
        parts.push(format!("{d} delay for {}% of requests", share * 100.0));
    }
    if let Some((status, share)) = f.abort {
        parts.push(format!("{status} for {}%", share * 100.0));
    }
    if f.reset > 0.0 {
        parts.push(format!("resets for {}%", f.reset * 100.0));
    }
    format!("faults injected: {}", parts.join(", "))
}

pub(super) fn release_name(r: ReleaseMode) -> &'static str {
    match r {
        ReleaseMode::PerIteration => "per_iteration",
        ReleaseMode::AtFunctionReturn => "at_function_return",
        ReleaseMode::LastOnly => "last_only",
    }
}

pub(super) fn describe_change(spec: &ServiceSpec, change: &Change) -> String {
    match change {
        Change::JobRelease { job, release } => {
            format!(
                "job {} releases {}",
                spec.jobs[*job].name,
                release_name(*release)
            )
        }
        Change::JobIterations { job, iterations } => {
            format!("job {} runs {iterations} iterations", spec.jobs[*job].name)
        }
        Change::JobSteps { job, steps } => {
            let plural = crate::human::plural_s(steps.len() as u64);
            format!(
                "job {} runs {} step{plural} per iteration",
                spec.jobs[*job].name,
                steps.len()
            )
        }
        Change::JobContext { job, context } => match context {
            JobContext::Background => {
                format!("job {} on a background context", spec.jobs[*job].name)
            }
            JobContext::Timeout(t) => format!("job {} times out after {t}", spec.jobs[*job].name),
        },
        Change::PoolMaxOpen { pool, max_open } => match max_open {
            Some(m) => format!("pool {} max_open {m}", spec.pools[*pool].name),
            None => format!("pool {} unlimited", spec.pools[*pool].name),
        },
        Change::PoolAcquireTimeout { pool, timeout } => match timeout {
            Some(t) => format!("pool {} acquire timeout {t}", spec.pools[*pool].name),
            None => format!("pool {} without acquire timeout", spec.pools[*pool].name),
        },
        Change::StepLatency { step, .. } => format!("handler step {} latency changed", step + 1),
        Change::HandlerContext { context, .. } => match context {
            WaitContext::Request => "handlers bound to the request context".into(),
            WaitContext::Background => "handlers on a background context".into(),
        },
        Change::MemoryLimit(l) => format!("memory limit {l:.0} MiB"),
        Change::Shed {
            concurrency_limit,
            queue_timeout,
            status,
        } => {
            let mut parts = Vec::new();
            if let Some(c) = concurrency_limit {
                parts.push(format!("concurrency limit {c}"));
            }
            if let Some(t) = queue_timeout {
                parts.push(format!("queue timeout {t}"));
            }
            if let Some(st) = status {
                parts.push(format!("shed status {st}"));
            }
            format!("shedding: {}", parts.join(", "))
        }
        Change::CallPolicy {
            step,
            retry,
            breaker,
        } => {
            let parts = describe_policies(retry.as_ref(), breaker.as_ref());
            format!("call (step {}): {}", step + 1, parts.join(", "))
        }
    }
}
