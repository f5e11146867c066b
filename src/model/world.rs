//! The world: the registry of every component's state and the dispatch of events to
//! the component that owns them. The rules live in one module per component kind
//! (`client`, `gateway`, `replica`, `listener`, `handler`, `pool`, `database`, `job`,
//! `timeline`, `metrics`); this file only builds the world, starts it, routes events
//! and closes the books.
//!
//! Requests flow client -> (gateway ->) replica -> handler steps -> pool -> database.
//! A client-side *request* and a server-side *handler* are separate entities: a handler
//! outlives the request when the caller gave up but the handler's waits are not bound to
//! the request context, which is exactly how blocked goroutines pile up in the incident
//! this tool was started from.
//!
//! Timeouts that usually do not fire (a client's, a gateway's read and connect
//! timeouts, a pool's acquire timeout) are cancelled when what they guard ends, so
//! they stop costing anything. Every timer event still carries the key (slab
//! generation) and attempt number it was set for; one that finds them changed has been
//! overtaken and does nothing.

use crate::engine::{self, Model, Nanos, Scheduler, Slab};

use super::body::streams_bodies;
use super::caching::CacheRt;
use super::client::ClientRt;
use super::database::DatabaseRt;
use super::event::*;
use super::gateway::GatewayRt;
use super::handler::Handler;
use super::metrics::{metric_columns, ResponseBuckets};
use super::pool::PoolRt;
use super::replica::{Replica, ReplicaState};
use super::request::{Caller, Request, RequestTimers};
use super::service::ServiceRt;
use super::spec::{Action, Scenario, Step, Target};
use crate::outcome::exposition::{GatewayScrapes, Scrapes};
use crate::outcome::{alerts, exposition, regimes};
use crate::outcome::{CallTotals, HeaderTimes, Occurrence, RunResult, Series};

/// The simulated world. Build it with [`World::new`], run it with [`replay`].
pub struct World {
    pub(super) scenario: Scenario,
    pub(super) clients: Vec<ClientRt>,
    pub(super) gateways: Vec<GatewayRt>,
    pub(super) services: Vec<ServiceRt>,
    pub(super) pools: Vec<Vec<PoolRt>>,
    pub(super) databases: Vec<DatabaseRt>,
    pub(super) caches: Vec<CacheRt>,
    pub(super) replicas: Vec<Replica>,
    pub(super) requests: Slab<Request>,
    /// The live requests' pending timers, beside them (see `request.rs`).
    pub(super) request_timers: RequestTimers,
    pub(super) handlers: Slab<Handler>,
    pub(super) series: Series,
    pub(super) occurrences: Vec<Occurrence>,
    pub(super) peak_live: usize,
    pub(super) pending_accepts: Vec<usize>,
    /// Replicas that died or were terminated during the current event, whose handlers,
    /// queue and pools are still to be wiped (by `settle`).
    pub(super) pending_wipes: Vec<usize>,
}

/// Rough count of the events a scenario will need: arrivals and their timers, handler
/// steps, job iterations and metric ticks. Used to refuse runs that would take hours.
pub fn estimate_events(s: &Scenario) -> u64 {
    let duration_s = s.duration.as_secs_f64();
    let mut total = duration_s / s.resolution.as_secs_f64().max(1e-9);
    let mut per_request = vec![None; s.services.len()];
    for (i, c) in s.clients.iter().enumerate() {
        // Integrate the rate over the timeline's rate changes.
        let mut rate = c.rate_per_s;
        let mut from = 0.0;
        let mut requests = 0.0;
        for e in &s.timeline {
            if let Action::SetRate { client, rate_per_s } = e.action {
                if client == i {
                    let t = e.at.as_secs_f64().min(duration_s);
                    requests += rate * (t - from).max(0.0);
                    from = t;
                    rate = rate_per_s;
                }
            }
        }
        requests += rate * (duration_s - from).max(0.0);
        let steps = match c.target {
            Target::Gateway(g) => s.gateways[g]
                .upstream
                .iter()
                .map(|&sv| handler_events(s, sv, 0, &mut per_request))
                .max()
                .unwrap_or(0)
                .saturating_add(1),
            Target::Service(sv) => handler_events(s, sv, 0, &mut per_request),
        };
        let timers = usize::from(c.timeout.is_some());
        total += requests * steps.saturating_add(1 + timers) as f64;
    }
    for sv in &s.services {
        for j in &sv.jobs {
            let runs = duration_s / j.every.as_secs_f64().max(1e-9);
            // A run's start, then per iteration its acquire and one event per step.
            let per_iteration = 1.0 + j.steps.len() as f64;
            total +=
                runs * f64::from(sv.replicas) * (1.0 + per_iteration * f64::from(j.iterations));
        }
    }
    total as u64
}

/// Events one request causes in service `sv`: one per step, plus what its calls cause.
/// `depth` stops the count on a cyclic graph (which validation rejects anyway); `known`
/// keeps each service's count once found, so that services calling the same service
/// many times over many levels are counted in linear time, not exponential.
fn handler_events(s: &Scenario, sv: usize, depth: u32, known: &mut [Option<usize>]) -> usize {
    if depth > 32 {
        return 0;
    }
    if let Some(n) = known[sv] {
        return n;
    }
    let mut n = 0usize;
    for step in &s.services[sv].handler.steps {
        n = n.saturating_add(match step {
            Step::Call { service, .. } => {
                2usize.saturating_add(handler_events(s, *service, depth + 1, known))
            }
            _ => 1,
        });
    }
    known[sv] = Some(n);
    n
}

/// Replay `scenario` to its end and return what happened.
pub fn replay(scenario: Scenario) -> RunResult {
    replay_watched(scenario, |_, _| {})
}

/// [`replay`], calling `watch(simulated time, events so far)` every
/// [`engine::WATCH_EVERY`] events (a progress display); the run is the same.
pub fn replay_watched(scenario: Scenario, watch: impl FnMut(Nanos, u64)) -> RunResult {
    let rule_groups = scenario.rule_groups.clone();
    let components = super::components(&scenario);
    let mut world = World::new(scenario);
    let mut sched = Scheduler::new();
    world.start(&mut sched);
    let end = world.scenario.duration;
    let every = world.scenario.resolution;
    let stats = engine::run_sampled_watched(&mut world, &mut sched, end, every, watch);
    let marks: Vec<regimes::Mark> = world
        .scenario
        .timeline
        .iter()
        .map(|e| regimes::Mark {
            at: e.at,
            role: e.role,
        })
        .collect();
    let mut result = world.finish(stats.events);
    // The regimes read the finished series by the names the totals carry.
    let sources = regimes::Sources {
        clients: result.clients.iter().map(|c| c.name.as_str()).collect(),
        gateways: result.gateways.iter().map(|g| g.name.as_str()).collect(),
        services: result.services.iter().map(|s| s.name.as_str()).collect(),
    };
    let regimes = regimes::classify(&result.series, &sources, &marks, end);
    result.regimes = regimes;
    // The rules read the metrics as Prometheus would have scraped them; without
    // rules there is nothing to scrape for.
    let mut store = if rule_groups.is_empty() {
        crate::outcome::promql::Store::default()
    } else {
        crate::outcome::promql::Store::from_exposition(exposition::expose(&components, &result))
    };
    let (alert_events, outcomes) = alerts::evaluate(&rule_groups, &mut store, end);
    result.occurrences.extend(alert_events);
    // Stable: at equal times, simulation occurrences come before alert evaluations.
    result.occurrences.sort_by_key(|o| o.at);
    result.alerts = outcomes;
    result
}

impl World {
    /// A world in its initial state, from a validated scenario.
    pub fn new(scenario: Scenario) -> World {
        let seed = scenario.seed;
        let clients = scenario
            .clients
            .iter()
            .map(|c| ClientRt::new(c, seed))
            .collect();
        let header_times = streams_bodies(&scenario);
        let gateways = scenario
            .gateways
            .iter()
            .map(|g| GatewayRt::new(g, seed, header_times, scenario.routes.len()))
            .collect();
        let services = scenario
            .services
            .iter()
            .map(|s| ServiceRt::new(s, seed))
            .collect();
        let pools = scenario
            .services
            .iter()
            .map(|s| s.pools.iter().map(|p| PoolRt::new(&p.name, seed)).collect())
            .collect();
        let databases = scenario
            .databases
            .iter()
            .map(|d| DatabaseRt::new(&d.name, d.cpus, seed))
            .collect();
        let caches = scenario
            .caches
            .iter()
            .enumerate()
            .map(|(i, c)| CacheRt::new(c, i, seed))
            .collect();
        let series = Series {
            resolution: scenario.resolution,
            columns: metric_columns(&scenario),
            values: Vec::new(),
        };
        World {
            scenario,
            clients,
            gateways,
            services,
            pools,
            databases,
            caches,
            replicas: Vec::new(),
            requests: Slab::new(),
            request_timers: RequestTimers::default(),
            handlers: Slab::new(),
            series,
            occurrences: Vec::new(),
            peak_live: 0,
            pending_accepts: Vec::new(),
            pending_wipes: Vec::new(),
        }
    }

    /// Bring up the initial replicas and schedule the first arrivals and the timeline
    /// (interval boundaries come from the engine: see `replay`).
    pub fn start(&mut self, sched: &mut Scheduler<Event>) {
        for s in 0..self.services.len() {
            for _ in 0..self.scenario.services[s].replicas {
                let r = self.add_replica(s, Nanos::ZERO);
                // Processes that were running before the incident started are ready at 0.
                self.replicas[r].state = ReplicaState::Ready;
                self.replicas[r].joined = true;
                self.warm_process_caches(r);
                self.probes_primed(r, sched);
                self.schedule_jobs(r, sched);
                if !self.fill_pools(r, false, sched) {
                    self.fail_start(r, sched);
                }
            }
        }
        self.refresh_peers(sched.now());
        for c in 0..self.clients.len() {
            self.schedule_arrival(c, sched);
        }
        self.start_autoscalers(sched);
        self.start_envoys(sched);
        for (i, e) in self.scenario.timeline.iter().enumerate() {
            sched.at(e.at, Event::Timeline { index: i as u32 });
        }
    }

    /// Close the books: totals, percentiles, and the time integral up to the end.
    pub fn finish(mut self, events: u64) -> RunResult {
        let end = self.scenario.duration;
        for s in 0..self.services.len() {
            self.touch_in_system(s, end, 0);
        }
        for request in self.requests.values() {
            if let Caller::Client(c) = request.caller {
                self.clients[c as usize].totals.in_flight_at_end += 1;
            }
            if let Some(g) = request.gateway {
                self.gateways[g as usize].totals.in_flight_at_end += 1;
            }
        }
        for g in &mut self.gateways {
            g.totals.envoy_flags = g.envoy.as_ref().map(|e| e.flags);
            g.totals.p50_ms = g.latency.total_quantile_ms(0.5);
            g.totals.p99_ms = g.latency.total_quantile_ms(0.99);
            g.totals.mean_ms = g.latency.total_mean_ms();
            g.totals.ok_p50_ms = g.ok_latency.total_quantile_ms(0.5);
            g.totals.ok_p99_ms = g.ok_latency.total_quantile_ms(0.99);
            g.totals.ok_mean_ms = g.ok_latency.total_mean_ms();
            g.totals.header = g.header_latency.as_ref().map(|h| HeaderTimes {
                p50_ms: h.total_quantile_ms(0.5),
                p99_ms: h.total_quantile_ms(0.99),
                mean_ms: h.total_mean_ms(),
            });
        }
        for svc in &mut self.services {
            svc.totals.in_system_area_s = svc.in_system_area.as_secs_f64();
            svc.totals.queue_wait_sum_s = svc.queue_wait.as_secs_f64();
            svc.totals.response_sum_s = svc.response_time.as_secs_f64();
        }
        for pool in self.pools.iter_mut().flatten() {
            pool.totals.wait_sum_s = pool.wait.as_secs_f64();
        }
        for c in &mut self.clients {
            c.totals.latency_sum_s = c.latency.as_secs_f64();
            c.totals.caller = c.caller_totals.counts();
        }
        let mut calls = Vec::new();
        for (s, svc) in self.scenario.services.iter().enumerate() {
            for (step, st) in svc.handler.steps.iter().enumerate() {
                if let Step::Call { service, .. } = st {
                    let counts = self.services[s]
                        .call_totals
                        .get(step)
                        .map(|t| t.counts())
                        .unwrap_or_default();
                    calls.push(CallTotals {
                        service: svc.name.clone(),
                        step: step + 1,
                        target: self.scenario.services[*service].name.clone(),
                        counts,
                    });
                }
            }
        }
        for r in 0..self.replicas.len() {
            if let Some(cpu) = &mut self.replicas[r].cpu {
                let busy = cpu.ps.busy_core_s(end);
                self.services[self.replicas[r].service].totals.cpu_core_s += busy;
            }
        }
        let databases = self
            .databases
            .into_iter()
            .map(|mut d| {
                if let Some(cpu) = &mut d.cpu {
                    d.totals.busy_core_s = cpu.ps.busy_core_s(end);
                }
                d.totals
            })
            .collect();
        let mut occurrences = self.occurrences;
        occurrences.sort_by_key(|o| o.at);
        let scrapes = Scrapes {
            interval: self.scenario.scrape_interval,
            gateways: self
                .scenario
                .gateways
                .iter()
                .zip(&mut self.gateways)
                .map(|(spec, g)| GatewayScrapes {
                    gateway: spec.name.clone(),
                    at: std::mem::replace(&mut g.responses, ResponseBuckets::new()).into_scrapes(),
                })
                .collect(),
        };
        RunResult {
            series: self.series,
            occurrences,
            events,
            duration: end,
            gateways: self.gateways.into_iter().map(|g| g.totals).collect(),
            clients: self.clients.into_iter().map(|c| c.totals).collect(),
            calls,
            services: self.services.into_iter().map(|s| s.totals).collect(),
            pools: self.pools.into_iter().flatten().map(|p| p.totals).collect(),
            databases,
            caches: self.caches.into_iter().map(|c| c.totals).collect(),
            peak_live_entities: self.peak_live,
            alerts: Vec::new(),
            regimes: Default::default(),
            scrapes,
        }
    }

    pub(super) fn note(&mut self, at: Nanos, kind: &'static str, component: &str, detail: String) {
        self.occurrences.push(Occurrence {
            at,
            kind,
            component: component.to_string(),
            detail,
            status: None,
            replica: None,
            label: None,
        });
    }

    pub(super) fn note_replica(&mut self, at: Nanos, kind: &'static str, r: usize, detail: String) {
        let rep = &self.replicas[r];
        let name = self.scenario.services[rep.service].name.clone();
        let ordinal = rep.ordinal;
        self.occurrences.push(Occurrence {
            at,
            kind,
            component: name,
            detail,
            status: None,
            replica: Some(ordinal),
            label: None,
        });
    }
}

impl World {
    /// Finish what an event set in motion, iteratively rather than by recursion from
    /// inside the rule that caused it: the processes that died give up what they held
    /// (their requests are reset, which may retry elsewhere), and workers that were
    /// freed take their next connection.
    pub(super) fn settle(&mut self, sched: &mut Scheduler<Event>) {
        loop {
            if let Some(r) = self.pending_wipes.pop() {
                self.wipe_replica(r, sched);
            } else if let Some(r) = self.pending_accepts.pop() {
                self.accept_next(r, sched);
            } else {
                return;
            }
        }
    }
}

impl Model for World {
    type Event = Event;

    fn boundary(&mut self, at: Nanos, _sched: &mut Scheduler<Event>) {
        self.close_interval(at);
    }

    fn handle(&mut self, event: Event, sched: &mut Scheduler<Event>) {
        match event {
            Event::Client(e) => self.on_client_event(e, sched),
            Event::Gateway(e) => self.on_gateway_event(e, sched),
            Event::Listener(e) => self.on_listener_event(e, sched),
            Event::Handler(e) => self.on_handler_event(e, sched),
            Event::Hpa { service } => self.on_hpa_sync(service as usize, sched),
            Event::Job(e) => self.on_job_event(e, sched),
            Event::Database(e) => self.on_database_event(e, sched),
            Event::Replica(e) => self.on_replica_event(e, sched),
            Event::Timeline { index } => self.on_timeline(index as usize, sched),
        }
        self.settle(sched);
    }

    /// The timers that fire on a request read its handshake's entry alone (a SYN
    /// retransmission), or the request and its timers (its caller's and its
    /// gateway's timeouts), and the handshake too when they may end one.
    #[inline]
    fn prefetch(&self, event: &Event) {
        match *event {
            Event::Listener(ListenerEvent::SynRetry { req, .. }) => {
                self.request_timers.prefetch_handshake(req)
            }
            Event::Client(ClientEvent::GiveUp { req })
            | Event::Gateway(GatewayEvent::ConnectTimeout { req, .. }) => {
                self.requests.prefetch(req);
                self.request_timers.prefetch_timers(req);
                self.request_timers.prefetch_handshake(req);
            }
            Event::Gateway(GatewayEvent::ReadTimeout { req, .. }) => {
                self.requests.prefetch(req);
                self.request_timers.prefetch_timers(req);
            }
            _ => {}
        }
    }

    /// A caller's give-up cancels the attempt's connect or read timeout and the
    /// handshake's retransmission; a connect timeout, the retransmission: timers set
    /// up to a minute earlier, whose lane entries are long out of the cache.
    #[inline]
    fn prefetch_cancels(&self, event: &Event, queue: &engine::EventQueue<Event>) {
        match *event {
            Event::Client(ClientEvent::GiveUp { req })
            | Event::Gateway(GatewayEvent::ConnectTimeout { req, .. }) => {
                if let Some(t) = self.request_timers.attempt_timer(req) {
                    queue.prefetch_timer(t);
                }
                if let Some(h) = self.request_timers.handshake(req) {
                    queue.prefetch_timer(h.retransmission);
                }
            }
            _ => {}
        }
    }
}
