//! `rewind sweep`: a grid of overrides (the paths a variant sets) x seeds, replayed on
//! every core, each finished point kept as it finishes so that a run stopped half-way
//! resumes where it was; then `sweep.csv` (one row per point) and, over two
//! parameters, the tipping-point map. `--shard I/N` runs the points k with k mod N =
//! I; `rewind merge` ([`merge`]) joins the shards' folders into the same files.
//!
//! Like `app`, this is a command's top layer: it reads the incident file and writes
//! the sweep's folder (through [`store`], which claims it with
//! [`crate::outdir::InPlaceDir`]); the grid ([`grid`]), the records and their keys
//! ([`points`]) and the table ([`table`]) are plain data.

pub mod grid;
pub mod merge;
pub mod points;
pub mod store;
pub mod table;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::app::{read_incident_text, seeds_from, write_stdout, AppError};
use crate::engine::Nanos;
use crate::incident::{IncidentError, Overrides, PointBase, Setting};
use crate::model::spec::Scenario;
use crate::progress::Progress;
use grid::{Axis, Grid, Shard};
use points::{mark_name, recovery_mark, Manifest, PointRecord, SeedFigures};
use store::Store;

pub use merge::MergeOptions;

/// Most seeds per point.
pub const MAX_RUNS: u32 = 100;

/// Options of `rewind sweep`.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Incident file.
    pub file: PathBuf,
    /// The axes, in the order of the `--vary` flags.
    pub vary: Vec<Axis>,
    /// Seeds per point: the file's seed (or `seed`) and the next `runs - 1`.
    pub runs: u32,
    /// The first seed (instead of the file's), duration and event budget.
    pub overrides: Overrides,
    /// The sweep's folder (default `output/<stem>-sweep`, a shard's
    /// `output/<stem>-sweep-shard-I`).
    pub out: Option<PathBuf>,
    /// This run's share of the points.
    pub shard: Option<Shard>,
    /// No heatmap.
    pub no_charts: bool,
    /// No progress bar and nothing printed on success.
    pub quiet: bool,
}

/// One point of the grid, validated.
pub struct Point {
    /// Its index in the grid (the row of `sweep.csv`, from 0).
    pub index: usize,
    /// Its overrides, `(path, value)`.
    pub set: Vec<(String, String)>,
    /// The file with them applied.
    pub scenario: Scenario,
}

/// A validated sweep, before anything is written.
pub struct Plan {
    /// What the sweep is.
    pub manifest: Manifest,
    /// This run's points (all of them without a shard).
    pub points: Vec<Point>,
    /// Where it goes.
    pub folder: PathBuf,
}

/// Read the incident and validate every point of the grid (a shard too: a bad grid
/// fails on every machine, before any replay).
pub fn plan(opts: &SweepOptions) -> Result<Plan, AppError> {
    let grid = Grid::new(opts.vary.clone()).map_err(AppError::Usage)?;
    let runs = opts.runs.clamp(1, MAX_RUNS);
    let text = read_incident_text(&opts.file)?;
    let label = opts.file.display().to_string();
    let base = PointBase::parse(&label, &text, &opts.overrides)?;
    let baseline = point(&base, &[])?;
    let seeds = seeds_from(baseline.seed, runs);
    let stem = opts.file.file_stem().map_or_else(
        || baseline.name.clone(),
        |s| s.to_string_lossy().into_owned(),
    );
    let manifest = Manifest {
        rewind_version: env!("CARGO_PKG_VERSION").to_string(),
        incident: opts
            .file
            .file_name()
            .map_or_else(|| label.clone(), |n| n.to_string_lossy().into_owned()),
        title: baseline.title.clone(),
        incident_sha256: points::sha256_hex(&text),
        seeds,
        duration: opts.overrides.duration.map(crate::human::exact_duration),
        max_events: opts.overrides.max_events,
        vary: grid.axes.clone(),
        points: grid.points(),
        shard: opts.shard,
    };
    let mut points = Vec::new();
    for k in 0..grid.points() {
        let set = grid.set(k);
        let mut scenario = point(&base, &set)?;
        if opts.shard.is_none_or(|s| s.has(k)) {
            // The sweep reads no alert: leave their evaluation out of its replays.
            scenario.rule_groups.clear();
            points.push(Point {
                index: k,
                set,
                scenario,
            });
        }
    }
    let folder = opts.out.clone().unwrap_or_else(|| {
        let name = match opts.shard {
            None => format!("{stem}-sweep"),
            Some(s) => format!("{stem}-sweep-shard-{}", s.index),
        };
        Path::new("output").join(name)
    });
    Ok(Plan {
        manifest,
        points,
        folder,
    })
}

/// The file with a point's overrides, `(path, value as YAML text)`, applied. A value
/// that is not YAML or does not fit its path is said of its flag (`--vary
/// web.rate=fast: ...`), an error of the file so changed names the point (`FILE:
/// sweep point web.rate=0/s: ...`).
fn point(base: &PointBase, set: &[(String, String)]) -> Result<Scenario, IncidentError> {
    let flag = |(path, text): &(String, String)| format!("--vary {path}={text}");
    let settings: Vec<Setting> = set
        .iter()
        .map(|pt| {
            Setting::from_yaml(&pt.0, &pt.1).map_err(|m| IncidentError::whole_file(&flag(pt), m))
        })
        .collect::<Result<_, _>>()?;
    base.point(&settings).map_err(|e| {
        e.said(
            |i, m| IncidentError::whole_file(&flag(&set[i]), m),
            &format!("sweep point {}", point_text(set)),
        )
    })
}

/// A point's overrides as the user wrote them: `web.rate=50/s, timeline.fix.at=3h`.
fn point_text(set: &[(String, String)]) -> String {
    let each: Vec<String> = set.iter().map(|(p, v)| format!("{p}={v}")).collect();
    each.join(", ")
}

/// `rewind sweep`.
pub fn run(opts: &SweepOptions) -> Result<(), AppError> {
    let plan = plan(opts)?;
    let manifest = &plan.manifest;
    let store = Store::open(&plan.folder, &opts.file, manifest)?;
    let todo: Vec<&Point> = plan
        .points
        .iter()
        .filter(|p| store.finished(&manifest.key(&p.set)).is_none())
        .collect();
    let kept = plan.points.len() - todo.len();
    let seeds = &manifest.seeds;
    let jobs: Vec<(usize, usize)> = (0..todo.len())
        .flat_map(|p| (0..seeds.len()).map(move |s| (p, s)))
        .collect();
    let total = jobs.iter().fold(Nanos::ZERO, |sum, &(p, _)| {
        sum.saturating_add(todo[p].scenario.duration)
    });
    let progress = Progress::on_stderr(opts.quiet).with_overall("sweep", jobs.len(), total);
    let width = manifest.points.to_string().len();
    // Each point's figures, seed by seed, until its last seed is in.
    let pending: Mutex<Vec<Vec<Option<SeedFigures>>>> =
        Mutex::new(vec![vec![None; seeds.len()]; todo.len()]);
    let failure: Mutex<Option<AppError>> = Mutex::new(None);
    on_every_core(&jobs, |&(p, s)| {
        let Point {
            index: k,
            set,
            scenario,
        } = todo[p];
        let mut scenario = scenario.clone();
        scenario.seed = seeds[s];
        let label = format!("point {:>width$}/{} #{}", k + 1, manifest.points, s + 1);
        let length = scenario.duration;
        let mut bar = progress.replay(&label, length);
        let result =
            crate::model::replay_watched(scenario.clone(), |now, events| bar.watch(now, events));
        bar.finish(length, result.events);
        let figures = SeedFigures::of(&scenario, &result);
        let done = {
            let mut pending = pending.lock().unwrap_or_else(|p| p.into_inner());
            pending[p][s] = Some(figures);
            pending[p].iter().all(Option::is_some).then(|| {
                pending[p]
                    .iter_mut()
                    .filter_map(Option::take)
                    .collect::<Vec<_>>()
            })
        };
        let Some(runs) = done else { return true };
        let record = PointRecord {
            key: manifest.key(set),
            set: set.clone(),
            recovery_from: recovery_mark(&scenario).map(|i| mark_name(&scenario, i)),
            runs,
        };
        match store.save(&record) {
            Ok(()) => true,
            Err(e) => {
                let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
                f.get_or_insert(e);
                false
            }
        }
    });
    progress.clear();
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let ran = todo.len();
    let mut text = match manifest.shard {
        None => format!(
            "sweep of {}: {} x {}: ran {ran}, kept {kept} finished before\n",
            opts.file.display(),
            count(manifest.points, "point"),
            count(seeds.len(), "seed")
        ),
        Some(shard) => format!(
            "shard {shard} of the sweep of {}: {} of {} x {}: ran {ran}, kept {kept} finished before\n",
            opts.file.display(),
            plan.points.len(),
            count(manifest.points, "point"),
            count(seeds.len(), "seed")
        ),
    };
    let folder = plan.folder.display();
    if manifest.shard.is_some() {
        text.push_str(&format!(
            "wrote {folder}/: sweep.json, points/ (join the shards' folders with `rewind merge`)\n"
        ));
    } else {
        let records = finished_records(manifest, |key| Ok(store.finished(key)))?;
        let written = write_results(manifest, &records, opts.no_charts, |name, bytes| {
            store.write(name, bytes)
        })?;
        text.push_str(&format!(
            "wrote {folder}/: {}, sweep.json, points/\n",
            written.join(", ")
        ));
    }
    if !opts.quiet {
        write_stdout(&text)?;
    }
    Ok(())
}

/// `1 point`, `36 points`.
fn count(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// Run `work` on every job, on every core, jobs taken in order; a job returning false
/// stops the others from taking more.
fn on_every_core<T: Sync>(jobs: &[T], work: impl Fn(&T) -> bool + Sync) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..cores.min(jobs.len()) {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    if !work(job) {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
}

/// Every point of the grid, in order, from `find` (a key's record, if there is one);
/// the missing ones are an error naming them.
fn finished_records(
    manifest: &Manifest,
    mut find: impl FnMut(&str) -> Result<Option<PointRecord>, AppError>,
) -> Result<Vec<PointRecord>, AppError> {
    let grid = manifest.grid();
    let mut records = Vec::with_capacity(manifest.points);
    let mut missing = Vec::new();
    for k in 0..grid.points() {
        let set = grid.set(k);
        match find(&manifest.key(&set))? {
            Some(r) => records.push(r),
            None => missing.push((k, set)),
        }
    }
    let Some((k, set)) = missing.first() else {
        return Ok(records);
    };
    Err(AppError::Usage(format!(
        "{} of {} points are not finished, the first point {} ({}){}",
        missing.len(),
        manifest.points,
        k + 1,
        point_text(set),
        match manifest.shard {
            Some(s) => format!(
                ", which shard {}/{} runs: run the shards that are missing, or resume them, and give every shard's folder",
                k % s.count as usize,
                s.count
            ),
            None => ": resume the sweep with the same command".into(),
        }
    )))
}

/// Render `sweep.csv` and, over two parameters, `sweep.png` and `sweep.svg`, and hand
/// each to `write`; returns the names written.
fn write_results(
    manifest: &Manifest,
    records: &[PointRecord],
    no_charts: bool,
    mut write: impl FnMut(&str, &[u8]) -> Result<(), AppError>,
) -> Result<Vec<&'static str>, AppError> {
    let rows: Vec<table::Row> = records.iter().map(table::Row::of).collect();
    let csv = table::sweep_csv(manifest, &rows).map_err(|e| AppError::Io {
        context: "rendering sweep.csv".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    write("sweep.csv", &csv)?;
    let mut written = vec!["sweep.csv"];
    if no_charts {
        return Ok(written);
    }
    if let Some(map) = table::heatmap(manifest, &rows) {
        let (png, svg) = crate::report::charts::render_heatmap(&map).map_err(|e| AppError::Io {
            context: "rendering sweep.png".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        write("sweep.png", &png)?;
        write("sweep.svg", &svg)?;
        written.extend(["sweep.png", "sweep.svg"]);
    }
    Ok(written)
}
