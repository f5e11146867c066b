//! Budgets: a bound on everything a file can ask for, so that whatever `check` accepts
//! replays in bounded memory and in time bounded by its event estimate. Each bound is
//! refused at the line that asks too much, with what the bound is; README.md's
//! "Budgets" lists them with their defaults. The event budget itself is checked in
//! [`super::checks`], with the events estimated here added to the model's estimate.

use crate::engine::Nanos;
use crate::human::{exact_duration, thousands};
use crate::incident::raw::RawIncident;
use crate::incident::{IncidentError, Overrides, DEFAULT_MAX_REQUESTS};
use crate::model::metric_columns;
use crate::model::spec::{Action, Backoff, PoolProfile, Scenario, Step, Target};
use crate::outcome::alerts::Rule;
use crate::outcome::exposition::{scrape_count, HISTOGRAM_SERIES_PER_GATEWAY};
use crate::outcome::promql::samples_per_evaluation;

use super::{loc, Ctx, Extent};

/// The longest replay, 30 days: an incident is hours, a slow leak days.
pub(super) const MAX_DURATION: Nanos = Nanos::from_secs(30 * 24 * 3600);

/// Most time-series rows (`duration` / `resolution`).
pub(super) const MAX_ROWS: u64 = 10_000_000;

/// Most time-series values (rows times columns): the series is held whole until it is
/// written, 8 bytes a value.
pub(super) const MAX_SERIES_VALUES: u64 = 50_000_000;

/// Most replicas one service may run: at the start, after a `scale`, or under its
/// autoscaler's `max_replicas`.
pub(super) const MAX_REPLICAS: u32 = 10_000;

/// Most replicas all services together may run (each service at its most, plus the
/// one a rolling update adds).
pub(super) const MAX_TOTAL_REPLICAS: u64 = 20_000;

/// Most samples alert rules may read per selected series over a replay: each
/// evaluation reads every scrape in each of its rule's windows.
pub const MAX_ALERT_SAMPLE_READS: u64 = 1_000_000_000;

/// Longest `title`, in characters (a headline).
const MAX_TITLE_CHARS: usize = 200;
/// Longest `description`, or a variant's.
const MAX_DESCRIPTION_CHARS: usize = 20_000;
/// Longest timeline `label` (a chart marker).
const MAX_LABEL_CHARS: usize = 100;
/// Longest alert name or timeline `id`, as a component's name.
const MAX_NAME_CHARS: usize = 64;
/// Longest timeline `note`.
const MAX_NOTE_CHARS: usize = 1_000;

/// How long the replay lasts and how finely it is sampled, within the budgets. A
/// `--duration` from the command line is named as such, not blamed on a line.
pub(super) fn extent(
    ctx: &Ctx,
    raw: &RawIncident,
    ov: &Overrides,
) -> Result<Extent, IncidentError> {
    let file_duration = raw.duration.value.0;
    let duration = ov.duration.unwrap_or(file_duration);
    let resolution = raw.resolution.as_ref().map_or(Nanos::SECOND, |r| r.value.0);
    let max = exact_duration(MAX_DURATION);
    if file_duration > MAX_DURATION {
        return Err(ctx.err(
            loc(&raw.duration),
            format!(
                "this replay lasts {}; a replay may last at most {max} (30 days)",
                exact_duration(file_duration)
            ),
        ));
    }
    // What the user asked for, in their words, and where.
    let asked = match ov.duration {
        Some(d) => format!("--duration {}", exact_duration(d)),
        None => format!("the duration {}", exact_duration(duration)),
    };
    let whole_or_at = |at, message: String| match ov.duration {
        Some(_) => IncidentError::whole_file(ctx.file, message),
        None => ctx.err(at, message),
    };
    if duration > MAX_DURATION {
        return Err(whole_or_at(
            loc(&raw.duration),
            format!("{asked} is too long: a replay may last at most {max} (30 days)"),
        ));
    }
    let res_at = raw.resolution.as_ref().map_or(loc(&raw.duration), loc);
    let res_line = match &raw.resolution {
        Some(r) => format!(" (line {})", r.referenced.line()),
        None => " (the default)".into(),
    };
    if resolution > duration {
        return Err(whole_or_at(
            res_at,
            format!(
                "{asked} is shorter than the resolution, {}{res_line}: a replay needs at least one time-series row",
                exact_duration(resolution)
            ),
        ));
    }
    let rows = duration.0 / resolution.0;
    if rows > MAX_ROWS {
        return Err(whole_or_at(
            res_at,
            format!(
                "{asked} at a resolution of {}{res_line} is {} rows, more than the {} a replay may have: choose a coarser resolution",
                exact_duration(resolution),
                thousands(rows),
                thousands(MAX_ROWS)
            ),
        ));
    }
    Ok(Extent {
        file_duration,
        duration,
        resolution,
    })
}

/// The most replicas service `sv` may run at or before `until` (all its life with
/// `Nanos::MAX`): its `replicas`, each `scale` target, its autoscaler's maximum.
fn most_replicas(scenario: &Scenario, sv: usize, until: Nanos) -> u64 {
    let s = &scenario.services[sv];
    let mut most = u64::from(s.replicas);
    if let Some(a) = &s.autoscaler {
        most = most.max(u64::from(a.hpa.max_replicas));
    }
    for e in scenario.timeline.iter().filter(|e| e.at <= until) {
        match e.action {
            Action::Scale { service, replicas } if service == sv => {
                most = most.max(u64::from(replicas));
            }
            Action::SetAutoscaler {
                service,
                max_replicas: Some(max),
                ..
            } if service == sv => most = most.max(u64::from(max)),
            _ => {}
        }
    }
    most
}

/// Each service's replicas and `scale` targets within [`MAX_REPLICAS`], all of them
/// within [`MAX_TOTAL_REPLICAS`], and no `kill` of a replica that cannot exist.
pub(super) fn replicas(
    ctx: &Ctx,
    raw: &RawIncident,
    scenario: &Scenario,
) -> Result<(), IncidentError> {
    let too_many = |n: u32| {
        format!("{n} replicas is more than a service may run here: at most {MAX_REPLICAS}")
    };
    for rs in &raw.services {
        if let Some(r) = rs.replicas.as_ref().filter(|r| r.value.0 > MAX_REPLICAS) {
            return Err(ctx.err(loc(r), too_many(r.value.0)));
        }
    }
    for e in &raw.timeline {
        if let Some(sc) = e
            .scale
            .as_ref()
            .filter(|sc| sc.replicas.value.0 > MAX_REPLICAS)
        {
            return Err(ctx.err(loc(&sc.replicas), too_many(sc.replicas.value.0)));
        }
    }
    let mut total = 0u64;
    for (sv, rs) in raw.services.iter().enumerate() {
        // A rolling update runs one replica more while it lasts.
        total += most_replicas(scenario, sv, Nanos::MAX) + 1;
        if total > MAX_TOTAL_REPLICAS {
            return Err(ctx.err(
                loc(&rs.name),
                format!(
                    "with this service the system may run {} replicas, counting each service at its most and one more for a rolling update; all services together may run at most {}",
                    thousands(total),
                    thousands(MAX_TOTAL_REPLICAS)
                ),
            ));
        }
    }
    for e in &raw.timeline {
        let (Some(k), Some(replica)) = (&e.kill, e.kill.as_ref().and_then(|k| k.replica.as_ref()))
        else {
            continue;
        };
        let Some(sv) = scenario
            .services
            .iter()
            .position(|s| s.name == k.service.value)
        else {
            continue;
        };
        let most = most_replicas(scenario, sv, e.at.value.0);
        if u64::from(replica.value) >= most {
            return Err(ctx.err(
                loc(replica),
                format!(
                    "`{}` runs at most {most} replica{} by {} (numbered from 0): there is no replica {} to kill",
                    k.service.value,
                    crate::human::plural_s(most),
                    exact_duration(e.at.value.0),
                    replica.value
                ),
            ));
        }
    }
    Ok(())
}

/// A restart that takes no time at all: a process that fails at start would restart
/// endlessly at one instant, and the replay would never leave it.
pub(super) fn restart_loops(
    ctx: &Ctx,
    raw: &RawIncident,
    scenario: &Scenario,
) -> Result<(), IncidentError> {
    for (s, rs) in scenario.services.iter().zip(&raw.services) {
        let instant = matches!(s.restart.backoff, Backoff::Fixed(d) if d == Nanos::ZERO);
        if s.restart.startup == Nanos::ZERO && instant {
            return Err(ctx.err(
                loc(&rs.name),
                format!(
                    "`{}` restarts with `startup: 0s` and a `fixed: 0s` back-off: a process that fails at start would restart endlessly at one instant; give the start-up or the back-off a duration",
                    s.name
                ),
            ));
        }
    }
    Ok(())
}

/// Alert rules evaluated no more often than the series is sampled, in whole
/// milliseconds as Prometheus counts time, and reading within
/// [`MAX_ALERT_SAMPLE_READS`] over the replay.
pub(super) fn alerts(
    ctx: &Ctx,
    raw: &RawIncident,
    scenario: &Scenario,
) -> Result<(), IncidentError> {
    let resolution = scenario.resolution;
    for ra in &raw.alerts {
        let Some(iv) = &ra.evaluation_interval else {
            continue;
        };
        let interval = iv.value.0;
        if interval < resolution {
            return Err(ctx.err(
                loc(iv),
                format!(
                    "an evaluation every {} is finer than the time series it reads, one row every {}: evaluate at least one resolution apart",
                    exact_duration(interval),
                    exact_duration(resolution)
                ),
            ));
        }
        if interval.0 % 1_000_000 != 0 {
            return Err(ctx.err(
                loc(iv),
                "Prometheus evaluates in whole milliseconds: use an interval such as 30s or 1m"
                    .into(),
            ));
        }
    }
    let reads = rule_sample_reads(scenario);
    if reads > MAX_ALERT_SAMPLE_READS {
        let at = raw
            .alerts
            .first()
            .map_or_else(|| loc(&raw.name), |a| loc(&a.expr));
        return Err(ctx.err(
            at,
            format!(
                "evaluated over the replay, the alert rules would read {} samples per series, more than {}: evaluate less often or use shorter windows",
                thousands(reads),
                thousands(MAX_ALERT_SAMPLE_READS)
            ),
        ));
    }
    Ok(())
}

/// Samples per selected series all rules read over the replay.
pub fn rule_sample_reads(scenario: &Scenario) -> u64 {
    let scrape_ms = scenario.scrape_interval.0 / 1_000_000;
    let mut reads = 0u64;
    for g in &scenario.rule_groups {
        let step_ms = (g.interval.0 / 1_000_000).max(1);
        let evaluations = scenario.duration.0 / g.interval.0.max(1) + 1;
        for r in &g.rules {
            let expr = match r {
                Rule::Alert(a) => &a.expr,
                Rule::Record(r) => &r.expr,
            };
            reads = reads.saturating_add(
                evaluations.saturating_mul(samples_per_evaluation(expr, scrape_ms, step_ms)),
            );
        }
    }
    reads
}

/// The whole time series within [`MAX_SERIES_VALUES`].
pub(super) fn series(
    ctx: &Ctx,
    raw: &RawIncident,
    scenario: &Scenario,
) -> Result<(), IncidentError> {
    let rows = scenario.duration.0 / scenario.resolution.0;
    let columns = metric_columns(scenario).len() as u64;
    let values = rows.saturating_mul(columns);
    if values > MAX_SERIES_VALUES {
        let at = raw.resolution.as_ref().map_or(loc(&raw.duration), loc);
        return Err(ctx.err(
            at,
            format!(
                "{} rows of {} columns is {} time-series values, more than the {} a replay may hold: choose a coarser resolution",
                thousands(rows),
                thousands(columns),
                thousands(values),
                thousands(MAX_SERIES_VALUES)
            ),
        ));
    }
    Ok(())
}

/// Most samples `metrics.om` may hold (scrapes times series): about 100 bytes a line,
/// so at most a gigabyte of text, held whole until it is written.
pub(super) const MAX_EXPORTED_SAMPLES: u64 = 10_000_000;

/// The samples of the OpenMetrics export: a scrape at 0 and at every
/// `scrape_interval`, each reading one series per time-series column, one per
/// service's memory limit and every series of each gateway's response-time histogram.
pub(super) fn exported_samples(
    ctx: &Ctx,
    raw: &RawIncident,
    scenario: &Scenario,
) -> Result<(), IncidentError> {
    let rows = scenario.duration.0 / scenario.resolution.0;
    let scrapes = scrape_count(rows, scenario.resolution, scenario.scrape_interval);
    let limits = scenario
        .services
        .iter()
        .filter(|s| s.memory.is_some())
        .count();
    let series = (metric_columns(scenario).len() + limits) as u64
        + (scenario.gateways.len() * HISTOGRAM_SERIES_PER_GATEWAY) as u64;
    let samples = scrapes.saturating_mul(series);
    if samples > MAX_EXPORTED_SAMPLES {
        let (at, which) = match &raw.scrape_interval {
            Some(s) => (loc(s), String::new()),
            None => (loc(&raw.duration), " (the default)".to_string()),
        };
        return Err(ctx.err(
            at,
            format!(
                "{} scrapes at a scrape interval of {}{which} of {} series is {} samples for metrics.om, more than the {} an export may hold: choose a longer `scrape_interval`",
                thousands(scrapes),
                exact_duration(scenario.scrape_interval),
                thousands(series),
                thousands(samples),
                thousands(MAX_EXPORTED_SAMPLES)
            ),
        ));
    }
    Ok(())
}

/// Calls one request to each service makes, counting each attempt of a call step that
/// retries and the calls of those calls. The call graph has no loop and chains at most
/// `MAX_CALL_DEPTH` deep (both checked before), so the recursion is shallow, and each
/// service is counted once.
fn calls_per_request(scenario: &Scenario) -> Vec<f64> {
    fn count(scenario: &Scenario, sv: usize, depth: usize, known: &mut [Option<f64>]) -> f64 {
        if let Some(n) = known[sv] {
            return n;
        }
        if depth > scenario.services.len() {
            return 0.0;
        }
        let mut n = 0.0;
        for st in &scenario.services[sv].handler.steps {
            if let Step::Call { service, retry, .. } = st {
                let attempts = f64::from(retry.attempts.max(1));
                n += attempts * (1.0 + count(scenario, *service, depth + 1, known));
            }
        }
        known[sv] = Some(n);
        n
    }
    let mut known = vec![None; scenario.services.len()];
    (0..scenario.services.len())
        .map(|sv| count(scenario, sv, 0, &mut known))
        .collect()
}

/// The requests the clients send over the replay (their rates integrated over the
/// timeline's changes), each counted with its retries (at the most attempts its client
/// ever allows) and the calls it makes between services: each attempt may leave a
/// handler running after its caller gave up.
fn requests(scenario: &Scenario) -> f64 {
    let calls = calls_per_request(scenario);
    let duration_s = scenario.duration.as_secs_f64();
    let mut total = 0.0;
    for (i, c) in scenario.clients.iter().enumerate() {
        let mut rate = c.rate_per_s;
        let mut from = 0.0;
        let mut sent = 0.0;
        let mut attempts = c.retry.attempts.max(1);
        for e in &scenario.timeline {
            match &e.action {
                Action::SetRate { client, rate_per_s } if *client == i => {
                    let t = e.at.as_secs_f64().min(duration_s);
                    sent += rate * (t - from).max(0.0);
                    from = t;
                    rate = *rate_per_s;
                }
                Action::SetClient {
                    client,
                    retry: Some(r),
                    ..
                } if *client == i => attempts = attempts.max(r.attempts),
                _ => {}
            }
        }
        sent += rate * (duration_s - from).max(0.0);
        let per_request = match c.target {
            Target::Gateway(g) => scenario.gateways[g]
                .upstream
                .iter()
                .map(|&sv| calls[sv])
                .fold(0.0, f64::max),
            Target::Service(sv) => calls[sv],
        };
        total += sent * f64::from(attempts) * (1.0 + per_request);
    }
    total
}

/// Requests within the budget: the file's `limits.max_requests`, else the default.
/// Each request alive holds its state until it ends, so their number bounds memory.
pub(super) fn request_budget(
    ctx: &Ctx,
    raw: &RawIncident,
    scenario: &Scenario,
) -> Result<(), IncidentError> {
    let budget = raw
        .limits
        .as_ref()
        .and_then(|l| l.max_requests)
        .unwrap_or(DEFAULT_MAX_REQUESTS);
    let estimate = requests(scenario);
    if estimate > budget as f64 {
        let estimate = estimate as u64;
        return Err(ctx.err(
            loc(&raw.duration),
            format!(
                "this replay would send about {} requests (counting each retry and each call between services), over the budget of {}: shorten `duration`, lower the rates, or raise the budget with `limits: {{max_requests: {}}}`",
                thousands(estimate),
                thousands(budget),
                estimate.checked_next_multiple_of(1_000_000).unwrap_or(estimate)
            ),
        ));
    }
    Ok(())
}

/// Events the model's estimate leaves out, which grow with replicas and restarts rather
/// than with requests: closing each time-series row reads every replica; each replica
/// may crash-loop as fast as its restart allows (each cycle a crash, a restart, a
/// start-up, and a HikariCP pool opening every connection); probes and autoscaler syncs
/// run on their periods; each alert rule is evaluated on its interval.
pub(super) fn replica_events(scenario: &Scenario) -> u64 {
    let duration = scenario.duration.as_secs_f64();
    let rows = duration / scenario.resolution.as_secs_f64();
    let mut total = 0.0;
    for (sv, s) in scenario.services.iter().enumerate() {
        let replicas = (most_replicas(scenario, sv, Nanos::MAX) + 1) as f64;
        let backoff = match s.restart.backoff {
            Backoff::Fixed(d) => d,
            Backoff::Kubernetes { initial, .. } => initial,
        };
        let cycle = (s.restart.startup.0.saturating_add(backoff.0)).max(1) as f64 / 1e9;
        let opened: f64 = s
            .pools
            .iter()
            .filter(|p| matches!(p.profile, PoolProfile::Hikari))
            .map(|p| f64::from(p.max_open.unwrap_or(0)))
            .sum();
        let mut per_replica = rows + (duration / cycle + 1.0) * (4.0 + opened);
        for probe in [&s.probes.startup, &s.probes.liveness, &s.probes.readiness]
            .into_iter()
            .flatten()
        {
            // The probe's request, its handler's step, its answer and its timeout.
            per_replica += 4.0 * duration / probe.period.as_secs_f64().max(1e-9);
        }
        total += replicas * per_replica;
        if let Some(a) = &s.autoscaler {
            total += replicas * duration / a.hpa.sync_period.as_secs_f64().max(1e-9);
        }
    }
    for g in &scenario.rule_groups {
        total += duration / g.interval.as_secs_f64().max(1e-9);
    }
    total as u64
}

/// Text within its length: titles, descriptions, chart labels and notes end up in
/// every report and chart.
pub(super) fn texts(ctx: &Ctx, raw: &RawIncident) -> Result<(), IncidentError> {
    let check = |text: Option<&String>, max: usize, what: &str, at| {
        let chars = text.map_or(0, |t| t.chars().count());
        if chars > max {
            return Err(ctx.err(
                at,
                format!("{what} is {chars} characters long; it may have at most {max}"),
            ));
        }
        Ok(())
    };
    // A text is pointed at where it is written.
    let spanned = |text: &Option<serde_saphyr::Spanned<String>>, max: usize, what: &str| {
        text.as_ref()
            .map_or(Ok(()), |t| check(Some(&t.value), max, what, loc(t)))
    };
    spanned(&raw.title, MAX_TITLE_CHARS, "the title")?;
    spanned(&raw.description, MAX_DESCRIPTION_CHARS, "the description")?;
    for e in &raw.timeline {
        spanned(&e.label, MAX_LABEL_CHARS, "this entry's label")?;
        spanned(&e.note, MAX_NOTE_CHARS, "this entry's note")?;
    }
    for e in &raw.timeline {
        if let Some(id) = &e.id {
            check(Some(&id.value), MAX_NAME_CHARS, "this id", loc(id))?;
        }
    }
    for a in &raw.alerts {
        check(
            Some(&a.name.value),
            MAX_NAME_CHARS,
            "this alert's name",
            loc(&a.name),
        )?;
    }
    for v in &raw.variants {
        check(
            v.description.as_ref(),
            MAX_DESCRIPTION_CHARS,
            "this variant's description",
            loc(&v.name),
        )?;
    }
    Ok(())
}
