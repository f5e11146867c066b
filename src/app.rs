//! One function per subcommand (`calibrate`'s in `app/calibrate.rs`). The only layer
//! that reads or writes files.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use thiserror::Error;

use crate::engine::Nanos;
use crate::incident::{self, IncidentError, Overrides};
use crate::model::spec::Scenario;
use crate::model::{self, topology};
use crate::outcome::alerts::RuleGroup;
use crate::outdir::{OutDirError, OutputDir};
use crate::progress::Progress;
use crate::report::{self, Report};

mod calibrate;
pub use calibrate::{calibrate, CalibrateOptions};

/// Why a subcommand failed.
#[derive(Debug, Error)]
pub enum AppError {
    /// The incident file is invalid (exit code 2).
    #[error("{0}")]
    Incident(#[from] IncidentError),
    /// The arguments are wrong (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// Reading or writing failed (exit code 1).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The output folder is not rewind's to replace (exit code 2), or is busy, or could
    /// not be written (exit code 1).
    #[error(transparent)]
    Output(#[from] OutDirError),
    /// Standard output was closed by its reader (`| head`): stop quietly (exit code 0).
    #[error("standard output closed")]
    StdoutClosed,
}

/// Write `text` to standard output. A reader that has gone (`| head`) ends the command
/// quietly; any other failure (a full disk) is an error, never a panic.
pub fn write_stdout(text: &str) -> Result<(), AppError> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(AppError::StdoutClosed),
        Err(source) => Err(AppError::Io {
            context: "writing to standard output".into(),
            source,
        }),
    }
}

/// Options of `rewind replay`.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Incident file.
    pub file: PathBuf,
    /// One of the file's variants instead of the baseline.
    pub variant: Option<String>,
    /// Seed, duration and event budget over the file's.
    pub overrides: Overrides,
    /// Output folder (default `output/<stem>`).
    pub out: Option<PathBuf>,
    /// No progress bar and no terminal summary.
    pub quiet: bool,
    /// Skip the PNG/SVG charts.
    pub no_charts: bool,
    /// A Prometheus rules file given on the command line.
    pub alerts_file: Option<PathBuf>,
}

/// Read and validate an incident file (the base replay).
pub fn load(file: &Path, overrides: &Overrides) -> Result<Scenario, AppError> {
    load_incident(file, overrides).map(|i| i.baseline)
}

/// Read and validate an incident file with its variants.
pub fn load_incident(file: &Path, overrides: &Overrides) -> Result<incident::Incident, AppError> {
    let text = read_incident_text(file)?;
    incident_of_text(file, &text, overrides)
}

/// Validate `text`, the incident file `file` as [`read_incident_text`] read it, with
/// its variants and the rules of its `alerts_file`.
pub fn incident_of_text(
    file: &Path,
    text: &str,
    overrides: &Overrides,
) -> Result<incident::Incident, AppError> {
    let label = file.display().to_string();
    let mut parsed = incident::parse_incident(&label, text, overrides)?;
    if let Some(r) = parsed.baseline.alerts_file.clone() {
        let path = file.parent().unwrap_or(Path::new(".")).join(&r.path);
        let (groups, warnings) = read_rules_file(&path).map_err(|e| match e {
            // The file it names could not be read: say so where it is named.
            AppError::Usage(m) | AppError::Io { context: m, .. } => AppError::Incident(
                IncidentError::at(&label, text, r.line, r.column, format!("alerts_file: {m}")),
            ),
            other => other,
        })?;
        add_rule_groups(&mut parsed, &groups, &path.display().to_string())?;
        parsed.warnings.extend(warnings);
    }
    Ok(parsed)
}

/// The text of an incident file: a file, within the size limit, in UTF-8.
pub fn read_incident_text(file: &Path) -> Result<String, AppError> {
    let label = file.display().to_string();
    let cannot_read = |source: io::Error| {
        if source.kind() == io::ErrorKind::NotFound {
            // A path that names nothing is a bad argument.
            AppError::Usage(format!("cannot read incident file {label}: {source}"))
        } else {
            AppError::Io {
                context: format!("cannot read incident file {label}"),
                source,
            }
        }
    };
    let meta = fs::metadata(file).map_err(cannot_read)?;
    if !meta.is_file() {
        return Err(AppError::Usage(format!("{label} is not a file")));
    }
    if meta.len() > incident::MAX_FILE_BYTES {
        return Err(IncidentError::whole_file(
            &label,
            format!(
                "the file is {} bytes, over the limit of {} bytes for an incident file",
                meta.len(),
                incident::MAX_FILE_BYTES
            ),
        )
        .into());
    }
    let bytes = fs::read(file).map_err(cannot_read)?;
    String::from_utf8(bytes)
        .map_err(|_| IncidentError::whole_file(&label, "the file is not UTF-8 text".into()).into())
}

/// Add a rules file's groups to a replay and each of its variants, within the
/// budget of samples the rules may read.
pub fn add_rule_groups(
    incident: &mut incident::Incident,
    groups: &[RuleGroup],
    rules_label: &str,
) -> Result<(), AppError> {
    let scenarios = std::iter::once(&mut incident.baseline)
        .chain(incident.variants.iter_mut().map(|v| &mut v.scenario));
    for s in scenarios {
        s.rule_groups.extend_from_slice(groups);
        let reads = incident::rule_sample_reads(s);
        if reads > incident::MAX_ALERT_SAMPLE_READS {
            return Err(IncidentError::whole_file(
                rules_label,
                format!(
                    "evaluated over a replay of {}, these rules would read {} samples per series, more than {}: evaluate less often or use shorter windows",
                    s.duration,
                    crate::human::thousands(reads),
                    crate::human::thousands(incident::MAX_ALERT_SAMPLE_READS)
                ),
            )
            .into());
        }
    }
    Ok(())
}

/// The rules file `--alerts-file` names, added to a replay and its variants; its
/// warnings on standard error unless `quiet`.
fn add_command_line_rules(
    incident: &mut incident::Incident,
    path: Option<&Path>,
    quiet: bool,
) -> Result<(), AppError> {
    let Some(path) = path else {
        return Ok(());
    };
    let (groups, warnings) = read_rules_file(path)?;
    add_rule_groups(incident, &groups, &path.display().to_string())?;
    if !quiet {
        for w in warnings {
            // Nothing to do when standard error itself fails.
            let _ = writeln!(io::stderr(), "{w}");
        }
    }
    Ok(())
}

/// Read and check a Prometheus rules file; with the warnings about it.
pub fn read_rules_file(
    path: &Path,
) -> Result<(Vec<RuleGroup>, Vec<incident::IncidentWarning>), AppError> {
    let label = path.display().to_string();
    let meta = fs::metadata(path)
        .map_err(|source| AppError::Usage(format!("cannot read rules file {label}: {source}")))?;
    if !meta.is_file() {
        return Err(AppError::Usage(format!("{label} is not a file")));
    }
    if meta.len() > incident::rules_file::MAX_RULES_FILE_BYTES as u64 {
        return Err(IncidentError::whole_file(
            &label,
            format!(
                "the rules file is {} bytes, over the limit of {}",
                meta.len(),
                incident::rules_file::MAX_RULES_FILE_BYTES
            ),
        )
        .into());
    }
    let bytes = fs::read(path).map_err(|source| AppError::Io {
        context: format!("cannot read rules file {label}"),
        source,
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| IncidentError::whole_file(&label, "the file is not UTF-8 text".into()))?;
    let mut warnings = Vec::new();
    let groups = incident::rules_file::parse(&label, &text, &mut warnings)?;
    Ok((groups, warnings))
}

/// Everything a replay writes, rendered in memory first so that nothing is half-written.
pub struct Rendered {
    /// `timeseries.csv`.
    pub timeseries_csv: Vec<u8>,
    /// `events.jsonl`.
    pub events_jsonl: String,
    /// `summary.json`.
    pub summary_json: String,
    /// `metrics.om`.
    pub metrics_om: String,
}

/// Render the outputs of a run (`wall_s` None leaves the wall time out).
pub fn render(
    scenario: &Scenario,
    result: &crate::outcome::RunResult,
    wall_s: Option<f64>,
) -> Result<Rendered, AppError> {
    let rep = Report { scenario, result };
    Ok(Rendered {
        timeseries_csv: report::timeseries_csv(&result.series).map_err(|e| AppError::Io {
            context: "rendering timeseries.csv".into(),
            source: std::io::Error::other(e.to_string()),
        })?,
        events_jsonl: report::events_jsonl(&result.occurrences),
        summary_json: report::summary_json(&rep, wall_s),
        metrics_om: report::metrics_om(scenario, result),
    })
}

/// `rewind replay`.
pub fn replay(opts: &ReplayOptions) -> Result<(), AppError> {
    let mut incident = load_incident(&opts.file, &opts.overrides)?;
    add_command_line_rules(&mut incident, opts.alerts_file.as_deref(), opts.quiet)?;
    let out = variant_out(&opts.file, &incident.baseline, opts.variant.as_deref());
    let scenario = match &opts.variant {
        None => incident.baseline,
        Some(name) => {
            let mut scenario = find_variant(&incident, name, &opts.file)?.scenario.clone();
            scenario.title = format!("{} [variant {name}]", scenario.title);
            scenario
        }
    };
    let out = opts.out.clone().unwrap_or(out);
    // Claimed before the replay, so a folder that cannot be written fails at once.
    let claim = OutputDir::claim(&out, None, &opts.file)?;
    let progress = Progress::on_stderr(opts.quiet);
    // Named like the default output folder: the file's stem, and the variant.
    let label = default_out(&opts.file, &scenario)
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let label = match &opts.variant {
        Some(v) => format!("{label}-{v}"),
        None => label,
    };
    let mut bar = progress.replay(&label, scenario.duration);
    let started = Instant::now();
    let result = model::replay_watched(scenario.clone(), |now, events| bar.watch(now, events));
    let wall_s = started.elapsed().as_secs_f64();
    bar.finish(scenario.duration, result.events);
    progress.clear();
    let rendered = render(&scenario, &result, Some(wall_s))?;
    let charts = if opts.no_charts {
        Vec::new()
    } else {
        report::charts::render_charts(&Report {
            scenario: &scenario,
            result: &result,
        })
        .map_err(|e| AppError::Io {
            context: "rendering charts".into(),
            source: std::io::Error::other(e.to_string()),
        })?
    };
    let mut files: Vec<(&str, &[u8])> = vec![
        ("timeseries.csv", &rendered.timeseries_csv),
        ("events.jsonl", rendered.events_jsonl.as_bytes()),
        ("summary.json", rendered.summary_json.as_bytes()),
        ("metrics.om", rendered.metrics_om.as_bytes()),
    ];
    files.extend(charts.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    // report.md and report.html: one document, two renderings.
    let postmortem = report::postmortem(
        &Report {
            scenario: &scenario,
            result: &result,
        },
        &report::Provenance {
            file: &opts.file.display().to_string(),
        },
        !opts.no_charts,
    );
    let report_md = postmortem.markdown();
    let report_html = report::html::page(&postmortem, &charts);
    files.push(("report.md", report_md.as_bytes()));
    files.push(("report.html", report_html.as_bytes()));
    let rules = report::rules_yml(&scenario);
    if !scenario.rule_groups.is_empty() {
        files.push(("rules.yml", rules.as_bytes()));
    }
    claim.commit(&files, &["compare", "calibration"])?;
    if !opts.quiet {
        let rep = Report {
            scenario: &scenario,
            result: &result,
        };
        write_stdout(&report::terminal_summary(
            &rep,
            &out.display().to_string(),
            !opts.no_charts,
        ))?;
    }
    Ok(())
}

/// `output/<file stem>`.
fn default_out(file: &Path, scenario: &Scenario) -> PathBuf {
    let stem = file.file_stem().map_or_else(
        || scenario.name.clone(),
        |s| s.to_string_lossy().into_owned(),
    );
    Path::new("output").join(stem)
}

/// The seeds of `runs` replays of one system (at least one): `first`, then the next
/// ones. Every variant, point or candidate gets the same list: common random numbers.
pub(crate) fn seeds_from(first: u64, runs: u32) -> Vec<u64> {
    (0..u64::from(runs.max(1)))
        .map(|k| first.wrapping_add(k))
        .collect()
}

/// The default output folder of a replay of `variant` (None: the file as written):
/// the file's, with `-<variant>` after it.
fn variant_out(file: &Path, baseline: &Scenario, variant: Option<&str>) -> PathBuf {
    let out = default_out(file, baseline);
    match variant {
        None => out,
        Some(name) => {
            let mut out = out.into_os_string();
            out.push(format!("-{name}"));
            PathBuf::from(out)
        }
    }
}

/// Variant `name` of `incident` (read from `file`), or the error that lists its
/// variants.
fn find_variant<'a>(
    incident: &'a incident::Incident,
    name: &str,
    file: &Path,
) -> Result<&'a incident::Variant, AppError> {
    incident
        .variants
        .iter()
        .find(|v| v.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = incident.variants.iter().map(|v| v.name.as_str()).collect();
            AppError::Usage(format!(
                "no variant `{name}` in {} (its variants: {})",
                file.display(),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ))
        })
}

/// Options of `rewind compare`.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Incident file.
    pub file: PathBuf,
    /// Variants to compare (empty: all of the file's).
    pub variants: Vec<String>,
    /// Seeds per variant: the file's seed and the next `runs - 1`.
    pub runs: u32,
    /// Output folder of the incident (the comparison goes into `compare/` below it).
    pub out: Option<PathBuf>,
    /// Seed (the first seed), duration and event budget over the file's.
    pub overrides: Overrides,
    /// No progress bars, and nothing printed on success.
    pub quiet: bool,
    /// Skip the chart.
    pub no_charts: bool,
    /// A Prometheus rules file given on the command line.
    pub alerts_file: Option<PathBuf>,
}

/// Run `jobs` on every core; results in job order (each replay is deterministic, so
/// the order of completion changes nothing).
fn parallel<T: Send, R: Send>(jobs: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    use std::sync::Mutex;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let queue = Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..cores {
            scope.spawn(|| loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some((i, job)) = next else { break };
                let r = work(job);
                if let Ok(mut res) = results.lock() {
                    res.push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// `rewind compare`.
pub fn compare(opts: &CompareOptions) -> Result<(), AppError> {
    use report::compare::{compare_csv, comparison};
    let mut incident = load_incident(&opts.file, &opts.overrides)?;
    add_command_line_rules(&mut incident, opts.alerts_file.as_deref(), opts.quiet)?;
    if incident.variants.is_empty() {
        return Err(AppError::Usage(format!(
            "{} declares no variants: add `variants:` to compare what-ifs (see the README)",
            opts.file.display()
        )));
    }
    let chosen: Vec<&incident::Variant> = if opts.variants.is_empty() {
        incident.variants.iter().collect()
    } else {
        opts.variants
            .iter()
            .map(|name| find_variant(&incident, name, &opts.file))
            .collect::<Result<_, _>>()?
    };
    let folder = opts
        .out
        .clone()
        .unwrap_or_else(|| default_out(&opts.file, &incident.baseline));
    let claim = OutputDir::claim(&folder, Some("compare"), &opts.file)?;
    let seeds = seeds_from(incident.baseline.seed, opts.runs);
    let mut scenarios: Vec<(String, String, &Scenario)> = vec![(
        "baseline".into(),
        "the incident as it happened".into(),
        &incident.baseline,
    )];
    scenarios.extend(
        chosen
            .iter()
            .map(|v| (v.name.clone(), v.description.clone(), &v.scenario)),
    );
    let (rows, first_runs) = replay_variants(&scenarios, &seeds, opts.quiet);
    let csv = compare_csv(&rows).map_err(|e| AppError::Io {
        context: "rendering compare.csv".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let doc = comparison(&incident.baseline.title, &rows, &seeds, !opts.no_charts);
    let md = doc.markdown();
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("compare.csv".into(), csv),
        ("compare.md".into(), md.clone().into_bytes()),
    ];
    if !opts.no_charts {
        let named: Vec<(&str, &crate::outcome::RunResult)> = first_runs
            .iter()
            .map(|(r, res)| (rows[*r].name.as_str(), res))
            .collect();
        let base_report = Report {
            scenario: &incident.baseline,
            result: &first_runs[0].1,
        };
        let (png, svg) =
            report::charts::render_compare(&base_report, &named).map_err(|e| AppError::Io {
                context: "rendering compare.png".into(),
                source: std::io::Error::other(e.to_string()),
            })?;
        files.push(("compare.png".into(), png));
        files.push(("compare.svg".into(), svg));
    }
    let html = report::html::page(&doc, &files);
    files.push(("compare.html".into(), html.into_bytes()));
    let out = claim.target().to_path_buf();
    claim.commit(&files, &[])?;
    if !opts.quiet {
        let mut text: String = md
            .lines()
            .filter(|l| l.starts_with('|'))
            .map(|l| format!("{l}\n"))
            .collect();
        text.push_str(&format!(
            "wrote {}/: compare.md, compare.html, compare.csv{}\n",
            out.display(),
            if opts.no_charts {
                ""
            } else {
                ", compare.png, compare.svg"
            }
        ));
        write_stdout(&text)?;
    }
    Ok(())
}

/// Replay each of `scenarios` (name, description, system) with each of `seeds`, on
/// every core: a row of figures per scenario, and the full results of each one's
/// first seed, in the scenarios' order (for the chart).
fn replay_variants(
    scenarios: &[(String, String, &Scenario)],
    seeds: &[u64],
    quiet: bool,
) -> (
    Vec<report::compare::Row>,
    Vec<(usize, crate::outcome::RunResult)>,
) {
    use report::compare::{Figures, Row};
    let runs = seeds.len();
    let jobs: Vec<(usize, usize)> = (0..scenarios.len())
        .flat_map(|r| (0..runs).map(move |k| (r, k)))
        .collect();
    let total = jobs.iter().fold(Nanos::ZERO, |sum, &(r, _)| {
        sum.saturating_add(scenarios[r].2.duration)
    });
    let progress = Progress::on_stderr(quiet).with_overall("compare", jobs.len(), total);
    // Each replay's bar is named after its variant (and its seed's rank, with --runs),
    // padded so that the bars line up.
    let width = scenarios
        .iter()
        .map(|(name, _, _)| name.len())
        .max()
        .unwrap_or(0);
    let outcomes = parallel(jobs.clone(), |(r, k)| {
        let mut s = scenarios[r].2.clone();
        s.seed = seeds[k];
        let name = &scenarios[r].0;
        let label = if runs > 1 {
            format!("{name:width$} #{}", k + 1)
        } else {
            format!("{name:width$}")
        };
        let length = s.duration;
        let mut bar = progress.replay(&label, length);
        let result = model::replay_watched(s, |now, events| bar.watch(now, events));
        bar.finish(length, result.events);
        let figures = Figures::of(&result);
        // Only the first seed's full results are kept, for the chart.
        (figures, (k == 0).then_some(result))
    });
    let mut rows: Vec<Row> = scenarios
        .iter()
        .map(|(name, description, _)| Row {
            name: name.clone(),
            description: description.clone(),
            runs: Vec::new(),
        })
        .collect();
    let mut first_runs = Vec::new();
    for ((r, _), (figures, full)) in jobs.into_iter().zip(outcomes) {
        rows[r].runs.push(figures);
        if let Some(full) = full {
            first_runs.push((r, full));
        }
    }
    first_runs.sort_by_key(|(r, _)| *r);
    progress.clear();
    (rows, first_runs)
}

/// `rewind check`: validate, say so on stdout (unless `quiet`), and print each warning
/// (a valid value that does not do what it says) on stderr; warnings do not fail the
/// check.
pub fn check(file: &Path, quiet: bool) -> Result<(), AppError> {
    let incident = load_incident(file, &Overrides::default())?;
    for w in &incident.warnings {
        // Nothing to do when standard error itself fails.
        let _ = writeln!(io::stderr(), "{w}");
    }
    let s = &incident.baseline;
    let variants: Vec<&str> = incident.variants.iter().map(|v| v.name.as_str()).collect();
    // "1 client", "2 clients"; caches are named only when the file has some.
    let count =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = vec![
        count(s.clients.len(), "client", "clients"),
        count(s.gateways.len(), "gateway", "gateways"),
        count(s.services.len(), "service", "services"),
        count(s.databases.len(), "database", "databases"),
    ];
    if !s.caches.is_empty() {
        parts.push(count(s.caches.len(), "cache", "caches"));
    }
    parts.push(count(
        s.timeline.len(),
        "timeline entry",
        "timeline entries",
    ));
    parts.push(count(s.alert_rules().count(), "alert rule", "alert rules"));
    let mut text = format!(
        "{}: ok ({}, {} simulated)\n",
        file.display(),
        parts.join(", "),
        s.duration
    );
    if !variants.is_empty() {
        text.push_str(&format!("variants: {}\n", variants.join(", ")));
    }
    if quiet {
        return Ok(());
    }
    write_stdout(&text)
}

/// `rewind schema`: the incident file's JSON Schema, for editors.
pub fn schema() -> Result<(), AppError> {
    write_stdout(&incident::schema_json())
}

/// `rewind graph`.
pub fn graph(file: &Path) -> Result<(), AppError> {
    let s = load(file, &Overrides::default())?;
    write_stdout(&topology::to_dot(&s))
}

/// The M/M/c model of the benchmark, also used by the queueing tests.
pub use crate::bench::mmc_scenario;

/// `rewind bench`: see [`crate::bench`].
pub fn bench(opts: &crate::bench::BenchOptions) -> Result<(), AppError> {
    crate::bench::run(opts)
}

/// `rewind sweep`: see [`crate::sweep`].
pub fn sweep(opts: &crate::sweep::SweepOptions) -> Result<(), AppError> {
    crate::sweep::run(opts)
}

/// `rewind merge`: see [`crate::sweep::merge`].
pub fn merge(opts: &crate::sweep::MergeOptions) -> Result<(), AppError> {
    crate::sweep::merge::merge(opts)
}
