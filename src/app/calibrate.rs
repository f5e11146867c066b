//! `rewind calibrate`: read the observed files, check every flag before anything runs,
//! fit the unknowns (if any), replay, score, and write `calibration/` in the
//! incident's output folder.

use std::cell::Cell;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{
    find_variant, incident_of_text, parallel, read_incident_text, seeds_from, variant_out,
    write_stdout, AppError,
};
use crate::calibrate::fit::{self, Unknown};
use crate::calibrate::observed::{ObservedFile, MAX_OBSERVED_BYTES};
use crate::calibrate::report::{self as calreport, Calibration, FitReport};
use crate::calibrate::{self, align, onset, score, ColumnKind, Mapping, Target, MAX_MAPPINGS};
use crate::incident::{IncidentError, Overrides, PointBase, Setting};
use crate::model::spec::Scenario;
use crate::model::{self};
use crate::outcome::exposition;
use crate::outdir::OutputDir;
use crate::progress::Progress;
use crate::report::{self, Report};

/// Options of `rewind calibrate`.
#[derive(Debug, Clone)]
pub struct CalibrateOptions {
    /// Incident file.
    pub file: PathBuf,
    /// Observed files (CSV or Prometheus JSON).
    pub observed: Vec<PathBuf>,
    /// `METRIC=COLUMN`, as written.
    pub maps: Vec<String>,
    /// `PATH=LO..HI`, as written.
    pub fits: Vec<String>,
    /// Evaluations a fit may spend.
    pub budget: u32,
    /// Seeds per fit candidate.
    pub runs: u32,
    /// A CSV's gauges were read at its row's start.
    pub gauges_at_start: bool,
    /// One of the file's variants instead of the baseline.
    pub variant: Option<String>,
    /// Seed, duration and event budget over the file's.
    pub overrides: Overrides,
    /// The incident's output folder (calibration/ goes inside).
    pub out: Option<PathBuf>,
    /// Print nothing on success.
    pub quiet: bool,
    /// Skip the overlay charts.
    pub no_charts: bool,
}

/// Read one observed file; a missing or unreadable one is a bad argument.
fn read_observed(
    path: &Path,
    scenario: &Scenario,
    gauges_at_start: bool,
) -> Result<ObservedFile, AppError> {
    let label = path.display().to_string();
    let usage = |why: String| AppError::Usage(format!("observed file {label}: {why}"));
    let meta = fs::metadata(path).map_err(|e| usage(e.to_string()))?;
    if !meta.is_file() {
        return Err(usage("not a file".into()));
    }
    if meta.len() > MAX_OBSERVED_BYTES {
        return Err(usage(format!(
            "{} bytes, over the limit of {MAX_OBSERVED_BYTES}: keep the incident's window and the mapped columns",
            meta.len()
        )));
    }
    let bytes = fs::read(path).map_err(|source| AppError::Io {
        context: format!("cannot read observed file {label}"),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| usage("not UTF-8 text".into()))?;
    ObservedFile::parse(&label, &text, scenario.start_unix_ms, gauges_at_start)
        .map_err(|e| AppError::Usage(e.to_string()))
}

/// The one observed series a mapping names, on the replay's rows.
fn target(
    mapping: &Mapping,
    files: &[ObservedFile],
    paths: &[PathBuf],
    scenario: &Scenario,
) -> Result<Target, AppError> {
    let mut found = Vec::new();
    for f in files {
        found.extend(
            f.matching(&mapping.matcher)
                .map_err(|e| AppError::Usage(e.to_string()))?,
        );
    }
    let map = format!("--map `{}={}`", mapping.metric, mapping.column);
    match found.len() {
        1 => {}
        0 => {
            let available: Vec<String> = files
                .iter()
                .zip(paths)
                .map(|(f, p)| {
                    let names = f.names();
                    let shown: Vec<&str> = names.iter().take(12).map(String::as_str).collect();
                    format!(
                        "{}: {}{}",
                        p.display(),
                        shown.join(", "),
                        if names.len() > 12 { ", ..." } else { "" }
                    )
                })
                .collect();
            return Err(AppError::Usage(format!(
                "{map}: no observed series is `{}` (there are {})",
                mapping.metric,
                available.join("; ")
            )));
        }
        n => {
            let names: Vec<String> = found.iter().take(5).map(|s| s.display_name()).collect();
            return Err(AppError::Usage(format!(
                "{map}: {n} observed series match `{}` ({}{}): add labels to choose one",
                mapping.metric,
                names.join(", "),
                if n > 5 { ", ..." } else { "" }
            )));
        }
    }
    let components = model::components(scenario);
    let count = exposition::is_count(&components, &mapping.column).unwrap_or(false);
    let kind = ColumnKind::of(&mapping.column, count);
    let res = scenario.resolution.0.max(1);
    let rows = scenario.duration.0.div_ceil(res) as usize;
    Ok(align(
        mapping,
        &found[0],
        kind,
        rows,
        scenario.resolution.as_secs_f64(),
    ))
}

/// A column that is not one of this replay's: say which are, for its component.
fn check_column(mapping: &str, column: &str, columns: &[String]) -> Result<(), AppError> {
    if columns.iter().any(|c| c == column) {
        return Ok(());
    }
    let component = column.split('.').next().unwrap_or("");
    let near: Vec<&str> = columns
        .iter()
        .filter(|c| c.split('.').next() == Some(component))
        .map(String::as_str)
        .collect();
    let hint = if near.is_empty() {
        let mut comps: Vec<&str> = columns.iter().filter_map(|c| c.split('.').next()).collect();
        comps.dedup();
        format!(
            "no component is `{component}`; the components: {}",
            comps.join(", ")
        )
    } else {
        format!("the columns of `{component}`: {}", near.join(", "))
    };
    Err(AppError::Usage(format!(
        "--map `{mapping}`: `{column}` is not a column of this replay's timeseries.csv ({hint})"
    )))
}

/// A fit's search: candidates set over the file (or its variant) read once, each
/// replayed with every seed on every core and scored against the targets.
struct Fitting<'a> {
    base: &'a PointBase,
    /// The incident file, as errors name it.
    label: &'a str,
    unknowns: &'a [Unknown],
    seeds: &'a [u64],
    targets: &'a [Target],
}

impl Fitting<'_> {
    /// Search within `budget` evaluations, with a progress bar on a terminal unless
    /// `quiet`; returns the scenario to score (the best candidate's, or `own` when
    /// the file's own values scored better), the fit, and the loss at `own`.
    fn search(
        &self,
        own: &Scenario,
        budget: u32,
        quiet: bool,
    ) -> Result<(Scenario, fit::Fit, f64), AppError> {
        // At most every candidate of the budget and the file's own values, each with
        // every seed (a search that converges replays fewer).
        let replays = (budget as usize + 1) * self.seeds.len();
        let total = own.duration.saturating_mul(replays as u64);
        let progress = Progress::on_stderr(quiet).with_overall("fit", replays, total);
        let width = budget.to_string().len();
        let evaluated = Cell::new(0usize);
        let evaluate = |candidates: &[Vec<f64>]| -> Result<Vec<f64>, AppError> {
            let named: Vec<(String, Scenario)> = candidates
                .iter()
                .map(|v| {
                    evaluated.set(evaluated.get() + 1);
                    let name = format!("candidate {:>width$}", evaluated.get());
                    Ok((
                        name,
                        candidate(self.base, self.label, &fit::settings(self.unknowns, v))?,
                    ))
                })
                .collect::<Result<_, AppError>>()?;
            Ok(self.losses(&named, &progress))
        };
        let found = fit::search(self.unknowns, budget, own.seed, &evaluate).map(|f| {
            let before = self.losses(&[("file's own values".into(), own.clone())], &progress);
            (f, before[0])
        });
        progress.clear();
        let (found, before) = found?;
        // The search starts from the ranges, not from the file's values: when none
        // of its candidates beats them, the file's values are the ones to score.
        let best = if before < found.best.loss {
            own.clone()
        } else {
            let best = fit::settings(self.unknowns, &found.best.values);
            candidate(self.base, self.label, &best)?
        };
        Ok((best, found, before))
    }

    /// The losses of named scenarios: every seed replayed (on every core, each under
    /// its bar), scored, averaged.
    fn losses(&self, named: &[(String, Scenario)], progress: &Progress) -> Vec<f64> {
        let seeds = self.seeds;
        let jobs: Vec<(usize, usize)> = (0..named.len())
            .flat_map(|i| (0..seeds.len()).map(move |k| (i, k)))
            .collect();
        let losses = parallel(jobs, |(i, k)| {
            let (name, scenario) = &named[i];
            let mut s = scenario.clone();
            s.seed = seeds[k];
            let label = if seeds.len() > 1 {
                format!("{name} #{}", k + 1)
            } else {
                name.clone()
            };
            let length = s.duration;
            let mut bar = progress.replay(&label, length);
            let result = model::replay_watched(s, |now, events| bar.watch(now, events));
            bar.finish(length, result.events);
            score::loss(&calibrate::scores(&result.series, self.targets))
        });
        losses
            .chunks(seeds.len())
            .map(|c| c.iter().sum::<f64>() / c.len() as f64)
            .collect()
    }
}

/// The file (or its variant) with a fit candidate's `settings` applied. A value that
/// does not fit its path: `FILE: \`PATH\` = VALUE: ...`; a file it makes invalid:
/// `FILE:LINE:COL: with PATH = VALUE, ...: ...`.
fn candidate(base: &PointBase, label: &str, settings: &[Setting]) -> Result<Scenario, AppError> {
    base.point(settings).map_err(|e| {
        let set: Vec<String> = settings
            .iter()
            .map(|s| format!("{} = {}", s.path, s.value))
            .collect();
        let misfit = |i: usize, m: String| {
            let s = &settings[i];
            IncidentError::whole_file(label, format!("`{}` = {}: {m}", s.path, s.value))
        };
        AppError::from(e.said(misfit, &format!("with {}", set.join(", "))))
    })
}

/// `rewind calibrate`.
pub fn calibrate(opts: &CalibrateOptions) -> Result<(), AppError> {
    let text = read_incident_text(&opts.file)?;
    let incident = incident_of_text(&opts.file, &text, &opts.overrides)?;
    let label = opts.file.display().to_string();
    let variant = opts.variant.as_deref();
    let scenario = match variant {
        None => incident.baseline.clone(),
        Some(name) => find_variant(&incident, name, &opts.file)?.scenario.clone(),
    };
    let mappings = mappings(&opts.maps, &model::metric_columns(&scenario))?;
    let unknowns = unknowns(&opts.fits)?;
    // What the fit's candidates are set over: the file read once, and the variant.
    let fit_base = if unknowns.is_empty() {
        None
    } else {
        let base = PointBase::parse(&label, &text, &opts.overrides)?;
        let base = match variant {
            Some(name) => base.with_variant(name)?,
            None => base,
        };
        // Both ends of every range must make a valid file: checked before anything runs.
        for end in [0.0, 1.0] {
            let values: Vec<f64> = unknowns.iter().map(|u| u.at(end)).collect();
            candidate(&base, &label, &fit::settings(&unknowns, &values))?;
        }
        Some(base)
    };
    let files: Vec<ObservedFile> = opts
        .observed
        .iter()
        .map(|p| read_observed(p, &scenario, opts.gauges_at_start))
        .collect::<Result<_, _>>()?;
    let targets: Vec<Target> = mappings
        .iter()
        .map(|m| target(m, &files, &opts.observed, &scenario))
        .collect::<Result<_, _>>()?;

    let mut folder = opts
        .out
        .clone()
        .unwrap_or_else(|| variant_out(&opts.file, &incident.baseline, variant));
    let claim = OutputDir::claim(&folder, Some("calibration"), &opts.file)?;
    folder = claim.target().to_path_buf();

    let seeds = seeds_from(scenario.seed, opts.runs);
    let (final_scenario, fitted) = match &fit_base {
        None => (scenario.clone(), None),
        Some(base) => {
            let fitting = Fitting {
                base,
                label: &label,
                unknowns: &unknowns,
                seeds: &seeds,
                targets: &targets,
            };
            let (best, found, before) = fitting.search(&scenario, opts.budget, opts.quiet)?;
            (best, Some((found, before)))
        }
    };
    let result = model::replay(final_scenario.clone());
    let scores = calibrate::scores(&result.series, &targets);
    let onsets = onset::onsets(&result.series, &targets);
    let loss = score::loss(&scores);

    let rep = Report {
        scenario: &final_scenario,
        result: &result,
    };
    let mut files_out = if opts.no_charts {
        Vec::new()
    } else {
        overlay_charts(&rep, &targets)?
    };
    let charts: Vec<String> = files_out.iter().map(|(name, _)| name.clone()).collect();
    let observed_names: Vec<String> = opts
        .observed
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let cal = Calibration {
        title: &final_scenario.title,
        file: &label,
        variant,
        seed: final_scenario.seed,
        resolution_s: final_scenario.resolution.as_secs_f64(),
        duration_s: final_scenario.duration.as_secs_f64(),
        observed: &observed_names,
        gauges_at_start: opts.gauges_at_start,
        targets: &targets,
        scores: &scores,
        onsets: &onsets,
        loss,
        fit: fitted.as_ref().map(|(f, before)| FitReport {
            unknowns: &unknowns,
            fit: f,
            seeds: &seeds,
            loss_before: *before,
        }),
        charts: &charts,
    };
    let timeseries = report::timeseries_csv(&result.series).map_err(|e| AppError::Io {
        context: "rendering timeseries.csv".into(),
        source: io::Error::other(e.to_string()),
    })?;
    files_out.push((
        "calibration.json".into(),
        calreport::calibration_json(&cal).into_bytes(),
    ));
    files_out.push((
        "calibration.md".into(),
        calreport::calibration_md(&cal).into_bytes(),
    ));
    files_out.push(("timeseries.csv".into(), timeseries));
    claim.commit(&files_out, &[])?;
    if !opts.quiet {
        write_stdout(&calreport::terminal(&cal, &folder.display().to_string()))?;
    }
    Ok(())
}

/// The `--map` arguments, each naming a column of the replay (`columns`).
fn mappings(maps: &[String], columns: &[String]) -> Result<Vec<Mapping>, AppError> {
    if maps.is_empty() {
        return Err(AppError::Usage(
            "calibrate needs at least one --map METRIC=COLUMN".into(),
        ));
    }
    if maps.len() > MAX_MAPPINGS {
        return Err(AppError::Usage(format!(
            "{} --maps: at most {MAX_MAPPINGS}",
            maps.len()
        )));
    }
    let mut mappings = Vec::new();
    for m in maps {
        let mapping = Mapping::parse(m).map_err(AppError::Usage)?;
        check_column(m, &mapping.column, columns)?;
        mappings.push(mapping);
    }
    Ok(mappings)
}

/// The `--fit` arguments, each path once.
fn unknowns(fits: &[String]) -> Result<Vec<Unknown>, AppError> {
    if fits.len() > fit::MAX_UNKNOWNS {
        return Err(AppError::Usage(format!(
            "{} --fits: at most {} unknowns at once",
            fits.len(),
            fit::MAX_UNKNOWNS
        )));
    }
    let mut unknowns: Vec<Unknown> = Vec::new();
    for f in fits {
        let u = Unknown::parse(f).map_err(AppError::Usage)?;
        if unknowns.iter().any(|x| x.path == u.path) {
            return Err(AppError::Usage(format!(
                "--fit `{}` is given twice",
                u.path
            )));
        }
        unknowns.push(u);
    }
    Ok(unknowns)
}

/// One chart per target, the replay's column over what was observed, named in order.
fn overlay_charts(rep: &Report, targets: &[Target]) -> Result<Vec<(String, Vec<u8>)>, AppError> {
    let mut charts = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let png = report::charts::render_overlay(
            rep,
            &t.mapping.column,
            &t.mapping.metric,
            &t.observed,
            t.kind == ColumnKind::Count,
        )
        .map_err(|e| AppError::Io {
            context: "rendering an overlay chart".into(),
            source: io::Error::other(e.to_string()),
        })?;
        let name = format!("overlay-{:02}-{}.png", i + 1, file_safe(&t.mapping.column));
        charts.push((name, png));
    }
    Ok(charts)
}

/// A column name as a file name: letters, digits, `.`, `_` and `-` kept.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
