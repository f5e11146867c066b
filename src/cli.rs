//! Command-line types (clap) and their conversion into the app's plain options.
//! Nothing below this layer sees clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::app::{CalibrateOptions, CompareOptions, ReplayOptions};
use crate::bench::{BenchModel, BenchOptions};
use crate::calibrate::fit;
use crate::engine::Nanos;
use crate::incident::Overrides;

/// Most seeds `compare --runs` replays per variant: each is a whole replay of every
/// variant, and 100 already narrows a 95% interval tenfold from 1.
pub const MAX_COMPARE_RUNS: i64 = 100;

/// Replay production incidents as deterministic discrete-event simulations.
#[derive(Debug, Parser)]
#[command(
    name = "rewind",
    version,
    about,
    long_about = None,
    after_help = "Examples:\n  rewind replay incidents/leaky-batch-loop.yaml\n  rewind replay incidents/leaky-batch-loop.yaml --seed 7 --out runs/seed-7\n  rewind replay incidents/retry-storm.yaml --variant retry-budget\n  rewind check my-incident.yaml\n  rewind graph incidents/defer-in-loop.yaml | dot -Tpng > topology.png\n  rewind schema > rewind.schema.json"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Print nothing but errors and warnings: no progress bar, and no summary or
    /// `ok` line on success (`replay`, `compare`, `check`); what `graph`, `schema`
    /// and `bench` are run for is still printed.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay an incident file and write timeseries.csv, events.jsonl and summary.json.
    Replay {
        /// The incident file (YAML).
        file: PathBuf,
        /// Replay one of the file's variants instead of the baseline (default output
        /// folder: output/<file stem>-<variant>).
        #[arg(long, value_name = "NAME")]
        variant: Option<String>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Replay the baseline and the file's variants with the same seeds, and write
    /// compare/ (compare.md, compare.csv, compare.png) in the output folder.
    Compare {
        /// The incident file (YAML), with `variants:`.
        file: PathBuf,
        /// Variants to compare, comma-separated (default: all).
        #[arg(long, value_delimiter = ',', value_name = "A,B")]
        variants: Vec<String>,
        /// Seeds per variant (the file's seed and the next ones), 1 to 100; with 2 or
        /// more, means with 95% intervals and a statement when a difference is within
        /// noise.
        #[arg(long, default_value_t = 1, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=MAX_COMPARE_RUNS))]
        runs: u32,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Replay an incident and score it against what was observed (a CSV, or Prometheus
    /// range-query JSON): MAPE, correlation, bias and a grade per mapped metric, onset
    /// errors, overlay charts; with --fit, search unknown settings first. Writes
    /// calibration/ (calibration.json, calibration.md, overlay-*.png, timeseries.csv)
    /// in the output folder.
    #[command(
        // Its --duration's help has always said it without an example.
        mut_arg("duration", |a| a.help("Simulated time to replay (default: the file's `duration`)")),
        after_help = "Examples:\n  rewind calibrate incidents/observed/S2.yaml --observed incidents/observed/S2.csv --gauges-at start --map s504=edge.status_504 --map in_use=orders-db.in_use\n  rewind calibrate FILE --observed q.json --map 'nginx_responses{status=\"504\"}=edge.status_504' --fit orders-db.max_open=10..40"
    )]
    Calibrate {
        /// The incident file (YAML).
        file: PathBuf,
        /// An observed file: CSV (first column the time: seconds since the replay's
        /// start, or RFC 3339) or the JSON of Prometheus's /api/v1/query_range. Repeatable.
        #[arg(long, value_name = "FILE", required = true)]
        observed: Vec<PathBuf>,
        /// METRIC=COLUMN: an observed column (or series, `name{label="v"}`) and the
        /// timeseries.csv column it is compared with. Repeatable.
        #[arg(long = "map", value_name = "METRIC=COLUMN", required = true)]
        maps: Vec<String>,
        /// PATH=LO..HI: a setting (a variant path) to search within a range, e.g.
        /// `orders-db.max_open=10..40`. Repeatable (at most 4).
        #[arg(long = "fit", value_name = "PATH=LO..HI")]
        fits: Vec<String>,
        /// Most candidates the fit replays (each with every seed of --runs).
        #[arg(long, default_value_t = fit::DEFAULT_BUDGET, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=fit::MAX_BUDGET as i64))]
        budget: u32,
        /// Seeds each fit candidate is replayed with (the same for every candidate).
        #[arg(long, default_value_t = 1, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=fit::MAX_RUNS as i64))]
        runs: u32,
        /// When a CSV's gauge columns were read: at the `end` of the row's interval (as
        /// timeseries.csv), or at its `start` (a scrape written with its second).
        #[arg(long, value_enum, default_value_t = GaugesAt::End)]
        gauges_at: GaugesAt,
        /// Calibrate one of the file's variants instead of the baseline.
        #[arg(long, value_name = "NAME")]
        variant: Option<String>,
        /// Seed of every random stream (default: the file's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// The incident's output folder (default: output/<file stem>); calibration/ is
        /// written inside it.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[command(flatten)]
        length: RunLengthArgs,
        /// Do not draw the overlay charts.
        #[arg(long)]
        no_charts: bool,
    },
    /// Replay a grid of overrides (the paths a variant sets) x seeds on every core,
    /// resumable, and write sweep.csv and, over two parameters, the tipping-point
    /// map (sweep.png, sweep.svg).
    #[command(after_help = SWEEP_HELP)]
    Sweep {
        /// The incident file (YAML).
        file: PathBuf,
        /// A path a variant can set and its values: a comma list of YAML values
        /// (`10,20,40`; `{attempts: 2},{attempts: 4}`) or ranges LOW..HIGH:STEP
        /// (`10..40:5`, `600/s..1000/s:100`, `10m..12m:30s`), high included when a
        /// step lands on it. Once per path; the grid is every combination, at most
        /// 1,000 points.
        #[arg(long = "vary", value_name = "PATH=VALUES", required = true,
              value_parser = crate::sweep::grid::parse_vary)]
        vary: Vec<crate::sweep::grid::Axis>,
        /// Seeds per point (the file's seed and the next ones), 1 to 100; with 2 or
        /// more, means with 95% intervals.
        #[arg(long, default_value_t = 1, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::sweep::MAX_RUNS)))]
        runs: u32,
        /// Run only the points k with k mod N = I (I from 0), into a folder of its
        /// own; join the shards' folders with `rewind merge`.
        #[arg(long, value_name = "I/N", value_parser = crate::sweep::grid::parse_shard)]
        shard: Option<crate::sweep::grid::Shard>,
        /// Seed of the first run (default: the file's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// The sweep's folder (default: output/<file stem>-sweep, a shard's
        /// output/<file stem>-sweep-shard-I). Kept and added to: finished points stay,
        /// and a run with the same file and flags resumes.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[command(flatten)]
        length: RunLengthArgs,
        /// Do not draw the heatmap.
        #[arg(long)]
        no_charts: bool,
    },
    /// Join the folders of a sweep's shards into one sweep folder: sweep.csv and the
    /// map, the same bytes as a sweep on one machine.
    Merge {
        /// The shards' folders (every point of the grid must be in one of them).
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// The merged sweep's folder (default: output/<file stem>-sweep), replaced
        /// whole.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Do not draw the heatmap.
        #[arg(long)]
        no_charts: bool,
    },
    /// Validate an incident file; exit 0 when it is valid, 2 when it is not.
    Check {
        /// The incident file (YAML).
        file: PathBuf,
    },
    /// Print the topology of an incident as Graphviz DOT.
    Graph {
        /// The incident file (YAML).
        file: PathBuf,
    },
    /// Print the incident file's JSON Schema, for completion and checks in editors
    /// (`# yaml-language-server: $schema=rewind.schema.json` as a file's first line).
    #[command(after_help = "Example:\n  rewind schema > rewind.schema.json")]
    Schema,
    /// Measure simulation speed and memory: one JSON line per model with events,
    /// customers (requests), loop wall time, events/s, customers/s and peak RSS; the
    /// overload and 1,000-replica lines add their ratio to a reference measured in the
    /// same invocation (see BENCHMARKS.md).
    #[command(
        after_help = "Examples:\n  rewind bench\n  rewind bench --model mmc --horizon 100000s --runs 5\n  rewind bench --model overload --runs 3\n  rewind bench --model incident --incident incidents/defer-in-loop.yaml\n  rewind bench --model all --runs 1 --horizon 1000s --scale 0.02   # a smoke run"
    )]
    Bench {
        /// Which model to measure. `overload` also measures M/M/c, its reference;
        /// `replicas` measures bench/replicas-10.yaml and bench/replicas-1000.yaml.
        #[arg(long, value_enum, default_value_t = BenchModelArg::All)]
        model: BenchModelArg,
        /// Simulated time of the M/M/c run.
        #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "100000s")]
        horizon: Nanos,
        /// Replay each incident model (incident, overload, replicas) for this share of
        /// its file's duration, e.g. 0.05 for a quick run.
        #[arg(long, value_name = "F", default_value_t = 1.0)]
        scale: f64,
        /// Repetitions, interleaved across models (the median is reported).
        #[arg(long, default_value_t = 3, value_name = "N")]
        runs: u32,
        /// Incident file for the incident benchmark (default: the bundled
        /// incidents/leaky-batch-loop.yaml).
        #[arg(long, value_name = "FILE")]
        incident: Option<PathBuf>,
    },
}

const SWEEP_HELP: &str = "Examples:\n  rewind sweep incidents/retry-storm.yaml --vary checkout-api.workers=16..24:2 --vary timeline.spike-ends.at=10m10s,10m30s,11m --runs 3\n  rewind sweep FILE --vary web.retry='{profile: none}','{attempts: 4}' --runs 5\n  rewind sweep FILE --vary ... --shard 0/4 --out shards/0   # on each of 4 machines\n  rewind merge shards/0 shards/1 shards/2 shards/3 --out swept";

/// Flags shared by the commands that replay an incident.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Seed of every random stream (default: the file's `seed`; `compare`: the first).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output folder (default: output/<file stem>). Replaced whole, in one step, once
    /// the run is done; refused if it is not rewind's (non-empty without a
    /// .rewind-output file, a file, or holding the incident file). `compare` writes
    /// compare/ inside it.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub length: RunLengthArgs,
    /// Do not draw the PNG/SVG charts.
    #[arg(long)]
    pub no_charts: bool,
    /// A Prometheus rules file to evaluate over the replay too (your team's own
    /// rules), beside the file's `alerts` and `alerts_file`.
    #[arg(long, value_name = "FILE")]
    pub alerts_file: Option<PathBuf>,
}

/// How far every replay of a command runs, over the file's `duration` and
/// `limits.max_events`: the same flags, meaning the same, for every command that
/// replays.
#[derive(Debug, Args)]
pub struct RunLengthArgs {
    /// Simulated time to replay, e.g. `30m` (default: the file's `duration`).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub duration: Option<Nanos>,
    /// Refuse runs estimated to need more events than this.
    #[arg(long, value_name = "N")]
    pub max_events: Option<u64>,
}

impl RunLengthArgs {
    /// These flags and a `--seed` as the overrides every replay of the command gets.
    pub fn overrides(&self, seed: Option<u64>) -> Overrides {
        Overrides {
            seed,
            duration: self.duration,
            max_events: self.max_events,
        }
    }
}

/// When a CSV's gauge columns were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GaugesAt {
    /// At the end of the row's interval, as timeseries.csv.
    End,
    /// At its start.
    Start,
}

/// Models `rewind bench` can measure.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BenchModelArg {
    /// M/M/c: lambda 90/s, c 10, mean service 0.1 s.
    Mmc,
    /// The incident file given by --incident.
    Incident,
    /// bench/overload.yaml (1,500 requests/s, 40 replicas, a 1,000x slower database),
    /// against M/M/c.
    Overload,
    /// bench/replicas-1000.yaml against bench/replicas-10.yaml.
    Replicas,
    /// All of them.
    All,
}

fn parse_duration(s: &str) -> Result<Nanos, String> {
    crate::human::parse_positive_duration(s)
}

/// What the app should do, in plain types.
pub enum Job {
    /// `rewind replay`.
    Replay(ReplayOptions),
    /// `rewind compare`.
    Compare(CompareOptions),
    /// `rewind calibrate`.
    Calibrate(CalibrateOptions),
    /// `rewind sweep`.
    Sweep(crate::sweep::SweepOptions),
    /// `rewind merge`.
    Merge(crate::sweep::MergeOptions),
    /// `rewind check`, quiet or not.
    Check(PathBuf, bool),
    /// `rewind graph`.
    Graph(PathBuf),
    /// `rewind schema`.
    Schema,
    /// `rewind bench`.
    Bench(BenchOptions),
}

impl Cli {
    /// Lower the parsed command line into the app's options.
    pub fn into_job(self) -> Job {
        match self.command {
            Command::Replay { file, variant, run } => Job::Replay(ReplayOptions {
                file,
                variant,
                overrides: run.length.overrides(run.seed),
                out: run.out,
                quiet: self.quiet,
                no_charts: run.no_charts,
                alerts_file: run.alerts_file,
            }),
            Command::Compare {
                file,
                variants,
                runs,
                run,
            } => Job::Compare(CompareOptions {
                file,
                variants,
                runs,
                out: run.out,
                overrides: run.length.overrides(run.seed),
                quiet: self.quiet,
                no_charts: run.no_charts,
                alerts_file: run.alerts_file,
            }),
            Command::Calibrate {
                file,
                observed,
                maps,
                fits,
                budget,
                runs,
                gauges_at,
                variant,
                seed,
                out,
                length,
                no_charts,
            } => Job::Calibrate(CalibrateOptions {
                file,
                observed,
                maps,
                fits,
                budget,
                runs,
                gauges_at_start: gauges_at == GaugesAt::Start,
                variant,
                overrides: length.overrides(seed),
                out,
                quiet: self.quiet,
                no_charts,
            }),
            Command::Sweep {
                file,
                vary,
                runs,
                shard,
                seed,
                out,
                length,
                no_charts,
            } => Job::Sweep(crate::sweep::SweepOptions {
                file,
                vary,
                runs,
                overrides: length.overrides(seed),
                out,
                shard,
                no_charts,
                quiet: self.quiet,
            }),
            Command::Merge {
                dirs,
                out,
                no_charts,
            } => Job::Merge(crate::sweep::MergeOptions {
                dirs,
                out,
                no_charts,
                quiet: self.quiet,
            }),
            Command::Check { file } => Job::Check(file, self.quiet),
            Command::Graph { file } => Job::Graph(file),
            Command::Schema => Job::Schema,
            Command::Bench {
                model,
                horizon,
                scale,
                runs,
                incident,
            } => Job::Bench(BenchOptions {
                models: match model {
                    BenchModelArg::Mmc => vec![BenchModel::Mmc],
                    BenchModelArg::Incident => vec![BenchModel::Incident],
                    BenchModelArg::Overload => vec![BenchModel::Overload],
                    BenchModelArg::Replicas => vec![BenchModel::Replicas],
                    BenchModelArg::All => BenchModel::ALL.to_vec(),
                },
                horizon,
                scale,
                runs: runs.max(1),
                incident,
            }),
        }
    }
}
