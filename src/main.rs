//! The `rewind` binary: parse the command line, run the job, print the error, pick the
//! exit code (0 success, 2 bad input or arguments, 1 anything else).

use std::process::ExitCode;

use clap::Parser;

use rewind::app::{self, AppError};
use rewind::cli::{Cli, Job};

fn main() -> ExitCode {
    // clap exits with 2 on bad arguments and 0 for --help / --version.
    let cli = Cli::parse();
    let result = match cli.into_job() {
        Job::Replay(opts) => app::replay(&opts),
        Job::Compare(opts) => app::compare(&opts),
        Job::Check(file) => app::check(&file),
        Job::Graph(file) => app::graph(&file),
        Job::Bench(opts) => app::bench(&opts),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            match err {
                AppError::Incident(_) | AppError::Usage(_) => ExitCode::from(2),
                AppError::Io { .. } => ExitCode::from(1),
            }
        }
    }
}
