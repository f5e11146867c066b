//! `rewind bench`: how fast rewind replays, as one JSON line per model.
//!
//! Models: the M/M/c reference queue (built in code, also used by the queueing tests),
//! an incident file (`--incident`, by default the bundled flagship), and the benchmark
//! models bundled in `bench/` and compiled into the binary: `overload.yaml` (a system
//! drowning under a 1,000x slower database) and `replicas-10.yaml` /
//! `replicas-1000.yaml` (the same load per replica on 10 and on 1,000 replicas).
//!
//! Every model is replayed `runs` times, the rounds interleaved (round 1 of every model,
//! then round 2, ...) so that a drift of the machine's speed hits a model and its
//! reference alike; the median wall time is reported. A model with a reference (the
//! overload model against M/M/c, 1,000 replicas against 10) reports the ratio of its
//! events per second to the reference's, both measured in this invocation.
//!
//! Peak RSS is the process's `VmHWM` from `/proc/self/status`, reset through
//! `/proc/self/clear_refs` before each replay (after handing free memory back to the
//! kernel), so it is the peak during that model's replays, the binary included. Where
//! the reset is not possible the value is the process's peak so far, and the line says
//! so.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use crate::app::{self, AppError};
use crate::engine::Nanos;
use crate::incident::{self, Overrides};
use crate::model;
use crate::model::dist::Latency;
use crate::model::retry::{RetryPolicy, RetryProfile};
use crate::model::spec::{
    Arrivals, Backoff, ClientSpec, DeployStrategy, HandlerSpec, Method, RestartSpec, Scenario,
    ServiceRoute, ServiceSpec, Step, Target, WaitContext,
};

/// The overload model, `bench/overload.yaml`.
const OVERLOAD_YAML: &str = include_str!("../bench/overload.yaml");
/// The many-replicas pair, `bench/replicas-10.yaml` and `bench/replicas-1000.yaml`.
const REPLICAS_10_YAML: &str = include_str!("../bench/replicas-10.yaml");
const REPLICAS_1000_YAML: &str = include_str!("../bench/replicas-1000.yaml");
/// The flagship incident, measured when `--incident` is not given.
const FLAGSHIP_YAML: &str = include_str!("../incidents/leaky-batch-loop.yaml");

/// Target: overload events/s at least this share of M/M/c events/s.
pub const OVERLOAD_TARGET: f64 = 0.5;
/// Target: 1,000-replica events/s at least this share of 10-replica events/s.
pub const REPLICAS_TARGET: f64 = 0.5;

/// What `rewind bench --model` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchModel {
    /// The M/M/c reference model.
    Mmc,
    /// An incident file (`--incident`, default the flagship).
    Incident,
    /// `bench/overload.yaml`, with M/M/c as its reference.
    Overload,
    /// `bench/replicas-10.yaml` and `bench/replicas-1000.yaml`, the first the second's
    /// reference.
    Replicas,
}

impl BenchModel {
    /// Every model, in the order `--model all` measures them.
    pub const ALL: [BenchModel; 4] = [
        BenchModel::Mmc,
        BenchModel::Incident,
        BenchModel::Overload,
        BenchModel::Replicas,
    ];
}

/// Options of `rewind bench`.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// What to measure (references are added as needed).
    pub models: Vec<BenchModel>,
    /// Simulated time of the M/M/c run.
    pub horizon: Nanos,
    /// Each incident model (incident, overload, replicas) replays this share of its
    /// file's duration (1 = all of it).
    pub scale: f64,
    /// Repetitions; the median is reported.
    pub runs: u32,
    /// Incident for the incident benchmark; None: the bundled flagship.
    pub incident: Option<PathBuf>,
}

/// The M/M/c model of the benchmark and of the queueing tests: Poisson arrivals at
/// `lambda_per_s` straight to one replica with `servers` workers, exponential work of
/// mean `mean_service_s`, a listen backlog of `backlog` (so `backlog` + 1 waiting
/// places, as Linux keeps; None = no practical bound), overflow refused.
pub fn mmc_scenario(
    lambda_per_s: f64,
    servers: u32,
    mean_service_s: f64,
    backlog: Option<u32>,
    horizon: Nanos,
    seed: u64,
) -> Scenario {
    Scenario {
        name: "mmc".into(),
        title: format!("M/M/{servers}"),
        description: String::new(),
        sources: Vec::new(),
        seed,
        duration: horizon,
        resolution: Nanos::from_secs(60),
        scrape_interval: Nanos::from_secs(60),
        start_unix_ms: 0,
        clients: vec![ClientSpec {
            name: "arrivals".into(),
            target: Target::Service(0),
            rate_per_s: lambda_per_s,
            arrivals: Arrivals::Poisson,
            timeout: None,
            method: Method::Idempotent,
            retry: RetryPolicy::profile(RetryProfile::None),
            breaker: None,
            bulkhead: None,
            lb_policy: model::spec::EnvoyLbPolicy::RoundRobin,
            routes: vec![],
        }],
        gateways: vec![],
        services: vec![ServiceSpec {
            name: "servers".into(),
            replicas: 1,
            workers: Some(servers),
            backlog: backlog.unwrap_or(u32::MAX),
            abort_on_overflow: true,
            handler: HandlerSpec {
                steps: vec![Step::Work(Latency::Exponential {
                    mean_s: mean_service_s,
                })],
                routes: vec![ServiceRoute::whole(1, WaitContext::Request)],
            },
            memory: None,
            fds: None,
            restart: RestartSpec {
                startup: Nanos::ZERO,
                backoff: Backoff::Fixed(Nanos::ZERO),
            },
            pools: vec![],
            jobs: vec![],
            probes: Default::default(),
            probe_steps: vec![],
            autoscaler: None,
            shed: None,
            cpus: None,
            faults: None,
            strategy: DeployStrategy::Rolling,
        }],
        databases: vec![],
        routes: vec![],
        caches: vec![],
        timeline: vec![],
        rule_groups: vec![],
        alerts_file: None,
    }
}

/// One measured model: its JSON label, where it came from, and what it replays.
struct Subject {
    label: String,
    model: &'static str,
    source: String,
    scenario: Scenario,
    /// Index of the subject this one is compared with, and the target ratio.
    reference: Option<(usize, f64)>,
}

/// The figures of one replay.
struct Sample {
    wall_s: f64,
    events: u64,
    customers: u64,
    simulated_s: f64,
    mean_wait_queue_s: f64,
    peak_live_entities: usize,
    peak_rss_kib: Option<u64>,
}

/// Parse a bundled model, replayed for `scale` times its file's duration.
fn bundled(file: &str, text: &str, scale: f64) -> Result<Scenario, AppError> {
    let full = incident::parse(file, text, &Overrides::default())?;
    scaled(full, scale, |ov| Ok(incident::parse(file, text, ov)?))
}

/// `full` as is, or re-lowered by `lower` with its duration scaled.
fn scaled(
    full: Scenario,
    scale: f64,
    lower: impl Fn(&Overrides) -> Result<Scenario, AppError>,
) -> Result<Scenario, AppError> {
    if scale == 1.0 {
        return Ok(full);
    }
    let duration = Nanos::from_secs_f64(full.duration.as_secs_f64() * scale);
    if duration < full.resolution {
        return Err(AppError::Usage(format!(
            "--scale {scale} makes {} last {duration}, less than its resolution {}",
            full.name, full.resolution
        )));
    }
    lower(&Overrides {
        duration: Some(duration),
        ..Overrides::default()
    })
}

/// The subjects `opts` asks for, references first, each once.
fn subjects(opts: &BenchOptions) -> Result<Vec<Subject>, AppError> {
    let mut out: Vec<Subject> = Vec::new();
    let want = |m: BenchModel| opts.models.contains(&m);
    let mut mmc = None;
    if want(BenchModel::Mmc) || want(BenchModel::Overload) {
        mmc = Some(out.len());
        let h = opts.horizon;
        out.push(Subject {
            label: "rewind_mmc".into(),
            model: "mmc",
            source: format!("M/M/c: lambda 90/s, c 10, mean service 0.1 s, {h}"),
            scenario: mmc_scenario(90.0, 10, 0.1, None, h, 42),
            reference: None,
        });
    }
    if want(BenchModel::Incident) {
        let (source, scenario) = match &opts.incident {
            Some(path) => {
                let full = app::load(path, &Overrides::default())?;
                let s = scaled(full, opts.scale, |ov| app::load(path, ov))?;
                (path.display().to_string(), s)
            }
            None => {
                let file = "incidents/leaky-batch-loop.yaml";
                (file.to_string(), bundled(file, FLAGSHIP_YAML, opts.scale)?)
            }
        };
        out.push(Subject {
            label: format!("rewind_{}", scenario.name),
            model: "incident",
            source,
            scenario,
            reference: None,
        });
    }
    if want(BenchModel::Overload) {
        let file = "bench/overload.yaml";
        let scenario = bundled(file, OVERLOAD_YAML, opts.scale)?;
        out.push(Subject {
            label: format!("rewind_{}", scenario.name),
            model: "overload",
            source: file.into(),
            scenario,
            reference: mmc.map(|i| (i, OVERLOAD_TARGET)),
        });
    }
    if want(BenchModel::Replicas) {
        let small = out.len();
        for (file, text, reference) in [
            ("bench/replicas-10.yaml", REPLICAS_10_YAML, None),
            (
                "bench/replicas-1000.yaml",
                REPLICAS_1000_YAML,
                Some((small, REPLICAS_TARGET)),
            ),
        ] {
            let scenario = bundled(file, text, opts.scale)?;
            out.push(Subject {
                label: format!("rewind_{}", scenario.name),
                model: "replicas",
                source: file.into(),
                scenario,
                reference,
            });
        }
    }
    Ok(out)
}

/// Replay `scenario` once and time it.
fn measure(scenario: &Scenario) -> Sample {
    release_free_memory();
    let rss_reset = reset_peak_rss();
    let scenario = scenario.clone();
    let started = Instant::now();
    let result = model::replay(scenario);
    let wall_s = started.elapsed().as_secs_f64();
    let peak_rss_kib = peak_rss_kib().filter(|_| rss_reset);
    let customers: u64 = result.clients.iter().map(|c| c.sent).sum();
    let mean_wait_queue_s = match result.services.first() {
        Some(svc) if svc.started > 0 => svc.queue_wait_sum_s / svc.started as f64,
        _ => 0.0,
    };
    Sample {
        wall_s,
        events: result.events,
        customers,
        simulated_s: result.duration.as_secs_f64(),
        mean_wait_queue_s,
        peak_live_entities: result.peak_live_entities,
        peak_rss_kib,
    }
}

/// `rewind bench`: one JSON line per model with the median of `runs` repetitions.
pub fn run(opts: &BenchOptions) -> Result<(), AppError> {
    if !(opts.scale > 0.0 && opts.scale.is_finite()) {
        return Err(AppError::Usage(format!(
            "--scale must be more than zero, not {}",
            opts.scale
        )));
    }
    let subjects = subjects(opts)?;
    let runs = opts.runs.max(1) as usize;
    let mut samples: Vec<Vec<Sample>> = subjects.iter().map(|_| Vec::new()).collect();
    for _ in 0..runs {
        for (i, s) in subjects.iter().enumerate() {
            samples[i].push(measure(&s.scenario));
        }
    }
    let rss_reset = samples.iter().flatten().all(|s| s.peak_rss_kib.is_some());
    let medians: Vec<f64> = samples.iter().map(|s| median_wall(s)).collect();
    for (i, s) in subjects.iter().enumerate() {
        let all = &samples[i];
        let wall = medians[i];
        let first = &all[0];
        let events_per_s = first.events as f64 / wall;
        let mut line = serde_json::json!({
            "label": s.label,
            "model": s.model,
            "source": s.source,
            "simulated_s": first.simulated_s,
            "events": first.events,
            "customers": first.customers,
            "sim_loop_wall_s": wall,
            "sim_loop_wall_min_s": all.iter().map(|x| x.wall_s).fold(f64::INFINITY, f64::min),
            "sim_loop_wall_max_s": all.iter().map(|x| x.wall_s).fold(0.0, f64::max),
            "events_per_s": events_per_s,
            "customers_per_s": first.customers as f64 / wall,
            "mean_wait_queue_s": first.mean_wait_queue_s,
            "peak_live_entities": first.peak_live_entities,
            "runs": runs,
        });
        let obj = line.as_object_mut().expect("a JSON object");
        if rss_reset {
            let peak = all.iter().filter_map(|x| x.peak_rss_kib).max();
            obj.insert("peak_rss_kib".into(), peak.into());
            obj.insert(
                "peak_rss_source".into(),
                "VmHWM, reset before each replay of this model".into(),
            );
        } else {
            obj.insert("peak_rss_kib".into(), peak_rss_kib().into());
            obj.insert(
                "peak_rss_source".into(),
                "VmHWM of the whole process so far (could not reset it)".into(),
            );
        }
        if let Some((r, target)) = s.reference {
            let reference = &subjects[r];
            let ref_events_per_s = samples[r][0].events as f64 / medians[r];
            let ratio = events_per_s / ref_events_per_s;
            obj.insert("reference".into(), reference.label.clone().into());
            obj.insert("reference_events_per_s".into(), ref_events_per_s.into());
            obj.insert("ratio_to_reference".into(), ratio.into());
            obj.insert("target_ratio".into(), target.into());
            obj.insert("target_met".into(), (ratio >= target).into());
        }
        app::write_stdout(&format!("{line}\n"))?;
    }
    Ok(())
}

fn median_wall(samples: &[Sample]) -> f64 {
    let mut walls: Vec<f64> = samples.iter().map(|s| s.wall_s).collect();
    walls.sort_by(f64::total_cmp);
    let n = walls.len();
    if n % 2 == 1 {
        walls[n / 2]
    } else {
        (walls[n / 2 - 1] + walls[n / 2]) / 2.0
    }
}

/// Hand the free memory the allocator keeps from earlier replays back to the kernel
/// (glibc's `malloc_trim`), so that a model's peak RSS does not start from what an
/// earlier, larger model left behind.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::os::raw::c_int;
    }
    // SAFETY: malloc_trim takes no pointers and only returns free pages to the kernel.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

/// Reset the process's peak RSS to its current RSS (Linux 4.0+); false if it cannot.
fn reset_peak_rss() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident memory of this process since start or the last reset, KiB (Linux;
/// None elsewhere).
fn peak_rss_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
