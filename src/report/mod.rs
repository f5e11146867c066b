//! Turning a [`RunResult`] into what people and tools read: `timeseries.csv`,
//! `events.jsonl`, `summary.json`, `metrics.om`, `rules.yml`, the postmortem
//! (`report.md`, `report.html`), the charts, the comparison, and the terminal summary.
//!
//! Renderers return bytes or strings; they never open files (the app layer decides
//! where output goes). Output is a pure function of the result, so identical runs give
//! identical bytes; the one exception, the wall time, is passed in separately.

pub mod charts;
pub mod compare;
mod events;
pub mod html;
pub mod openmetrics;
mod postmortem;
mod rules;
mod summary;
mod terminal;
mod timeseries;

pub use events::events_jsonl;
pub use html::Document;
pub use openmetrics::metrics_om;
pub use postmortem::{key_moments, postmortem, Provenance};
pub use rules::rules_yml;
pub use summary::summary_json;
pub use terminal::terminal_summary;
pub use timeseries::timeseries_csv;

use crate::model::spec::Scenario;
use crate::outcome::RunResult;

/// The version written into every output, so a replay can be reproduced.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Seconds with millisecond precision, as written in every output.
pub fn seconds(ns: crate::engine::Nanos) -> f64 {
    (ns.0 / 1_000_000) as f64 / 1000.0
}

/// Inputs shared by the renderers.
pub struct Report<'a> {
    /// What was replayed.
    pub scenario: &'a Scenario,
    /// What came out.
    pub result: &'a RunResult,
}
