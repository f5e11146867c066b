//! The `rewind` binary: parse the command line, run the job, print the error, pick the
//! exit code (0 success, also when a reader closed standard output early; 2 bad input
//! or arguments, including an output folder that is not rewind's to replace; 1
//! anything else; 130, 143 or 129 on SIGINT, SIGTERM or SIGHUP during a replay).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use rewind::app::{self, AppError};
use rewind::cli::{Cli, Job};
use rewind::outdir::OutDirError;

fn main() -> ExitCode {
    // clap exits with 2 on bad arguments and 0 for --help / --version.
    let cli = Cli::parse();
    let result = match cli.into_job() {
        Job::Replay(opts) => app::replay(&opts),
        Job::Compare(opts) => app::compare(&opts),
        Job::Calibrate(opts) => app::calibrate(&opts),
        Job::Sweep(opts) => app::sweep(&opts),
        Job::Merge(opts) => app::merge(&opts),
        Job::Check(file, quiet) => app::check(&file, quiet),
        Job::Graph(file) => app::graph(&file),
        Job::Schema => app::schema(),
        Job::Bench(opts) => app::bench(&opts),
    };
    match result {
        Ok(()) | Err(AppError::StdoutClosed) => ExitCode::SUCCESS,
        Err(err) => {
            // Nothing more can be said when standard error itself fails.
            let _ = writeln!(std::io::stderr(), "error: {err}");
            match err {
                AppError::Incident(_)
                | AppError::Usage(_)
                | AppError::Output(OutDirError::Refused(_)) => ExitCode::from(2),
                AppError::Io { .. } | AppError::Output(_) | AppError::StdoutClosed => {
                    ExitCode::from(1)
                }
            }
        }
    }
}
