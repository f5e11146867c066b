//! rewind: replay production incidents as deterministic discrete-event simulations.
//!
//! Layers, each behind a wall (see ARCHITECTURE.md): [`engine`] (time, queue, random
//! streams), [`model`] (the simulated world), [`outcome`] (what a run produced, and the alert rules
//! evaluated over it), [`incident`] (the YAML format), [`report`]
//! (CSV, JSON, terminal summary), [`app`] (subcommands; the only layer touching files),
//! [`calibrate`] (a replay scored against observations, unknowns fitted),
//! [`outdir`] (the app's output folders: claimed, locked, swapped whole into place),
//! [`progress`] (the app's progress bars on a terminal) and [`sweep`] (`rewind sweep`
//! and `merge`: grids of overrides x seeds, resumable, sharded; a command's top layer
//! like `app`).

pub mod app;
pub mod bench;
pub mod calibrate;
pub mod cli;
pub mod engine;
pub mod human;
pub mod incident;
pub mod model;
pub mod outcome;
pub mod outdir;
pub mod progress;
pub mod report;
pub mod sweep;
