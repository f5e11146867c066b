//! The incident file format: YAML in, a validated [`Scenario`] out.
//!
//! Only this module knows the YAML library. Raw serde types mirror the file
//! ([`raw`]), values carry their units ([`units`]), and [`lower`] turns the raw file
//! into model types, checking everything the type system cannot: references, duplicate
//! names, timeline bounds, the event budget. Every error names the file, the line and
//! the column, and says what would be right.

mod error;
mod lower;
mod promql;
mod raw;
mod units;

pub use error::IncidentError;

use crate::engine::Nanos;
use crate::model::spec::Scenario;

/// Largest incident file accepted, bytes. Real incident files are a few KiB.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Default cap on the estimated number of events of one replay.
pub const DEFAULT_MAX_EVENTS: u64 = 300_000_000;

/// Values given on the command line that take precedence over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Replaces `seed`.
    pub seed: Option<u64>,
    /// Replaces `duration`.
    pub duration: Option<Nanos>,
    /// Replaces `limits.max_events`.
    pub max_events: Option<u64>,
}

/// Parse and validate the text of an incident file. `file` is how errors name it.
pub fn parse(file: &str, text: &str, overrides: &Overrides) -> Result<Scenario, IncidentError> {
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(IncidentError::whole_file(
            file,
            format!(
                "the file is {} bytes, over the limit of {MAX_FILE_BYTES} bytes for an incident file",
                text.len()
            ),
        ));
    }
    if text.trim().is_empty() {
        return Err(IncidentError::whole_file(
            file,
            "the file is empty: an incident needs at least `name` and `duration`".into(),
        ));
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 64,
            flow_nesting_limit: 32,
            max_aliases: 256,
            max_anchors: 256,
            max_recorded_anchor_events: 20_000,
            max_nodes: 200_000,
            max_documents: 1,
        },
    };
    let raw: raw::RawIncident = serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| IncidentError::from_yaml(file, text, &e))?;
    lower::lower(raw, file, text, overrides)
}
