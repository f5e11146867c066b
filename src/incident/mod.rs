//! The incident file format: YAML in, a validated [`Scenario`] out.
//!
//! Only this module knows the YAML library. Raw serde types mirror the file
//! ([`raw`]), values carry their units ([`units`]), and [`lower`] turns the raw file
//! into model types, checking everything the type system cannot: references, duplicate
//! names, timeline bounds, the event budget. Every error names the file, the line and
//! the column, and says what would be right.

mod error;
mod lower;
mod point;
mod promql;
mod raw;
mod raw_caches;
mod raw_jobs;
mod raw_queries;
mod raw_resilience;
mod raw_rules;
mod raw_timeline;
pub mod rules_file;
mod schema;
mod units;
mod variants;

pub use error::{IncidentError, IncidentWarning};
pub use lower::{rule_sample_reads, MAX_ALERT_SAMPLE_READS};
pub use point::{PointBase, PointError, Setting};
pub use schema::schema_json;

use crate::engine::Nanos;
use crate::model::spec::Scenario;

/// Largest incident file accepted, bytes. Real incident files are a few KiB.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Most variants a file may declare: `compare` keeps each one's full results for its
/// chart, so their number bounds its memory.
pub const MAX_VARIANTS: usize = 32;

/// Default cap on the requests a replay may send, counting each retry and each call
/// between services (`limits.max_requests`): each may hold a handler, about 130 bytes,
/// until it ends, so 10 million keep a replay's memory within its bound.
pub const DEFAULT_MAX_REQUESTS: u64 = 10_000_000;

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

/// A named what-if: the base file with a few overrides, validated like it.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Name, unique in the file.
    pub name: String,
    /// What the variant changes, for people.
    pub description: String,
    /// The system and timeline with the overrides applied (same seed as the base).
    pub scenario: Scenario,
}

/// An incident file: the base replay and its variants.
#[derive(Debug, Clone)]
pub struct Incident {
    /// The file as written.
    pub baseline: Scenario,
    /// Its variants, in file order.
    pub variants: Vec<Variant>,
    /// What is valid but does not do what it says, the base file's first, then each
    /// variant's own (named after it; those the base file has already are not
    /// repeated).
    pub warnings: Vec<IncidentWarning>,
}

/// Parse and validate the text of an incident file, variants included. `file` is how
/// errors name it.
pub fn parse(file: &str, text: &str, overrides: &Overrides) -> Result<Scenario, IncidentError> {
    parse_incident(file, text, overrides).map(|i| i.baseline)
}

/// Parse and validate an incident file with its variants.
pub fn parse_incident(
    file: &str,
    text: &str,
    overrides: &Overrides,
) -> Result<Incident, IncidentError> {
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
    let raw = read_raw(file, text)?;
    let mut warnings = Vec::new();
    let baseline = lower::lower(raw.clone(), file, text, overrides, &mut warnings)?;
    // A variant lowers the whole file again: the base file's own warnings recur.
    let base_count = warnings.len();
    let mut variants: Vec<Variant> = Vec::new();
    if let Some(extra) = raw.variants.get(MAX_VARIANTS) {
        let l = extra.name.referenced;
        return Err(IncidentError::at(
            file,
            text,
            l.line(),
            l.column(),
            format!(
                "{} variants: a file may declare at most {MAX_VARIANTS}; put the others in a copy of the file",
                raw.variants.len()
            ),
        ));
    }
    for v in &raw.variants {
        let name = &v.name.value;
        let at = |l: serde_saphyr::Location, message: String| {
            IncidentError::at(file, text, l.line(), l.column(), message)
        };
        let valid = !name.is_empty()
            && name.len() <= 64
            && name != "baseline"
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(at(
                v.name.referenced,
                format!("`{name}` cannot name a variant: use 1 to 64 letters, digits, `-` or `_`, and not `baseline`"),
            ));
        }
        if variants.iter().any(|x| x.name == *name) {
            return Err(at(
                v.name.referenced,
                format!("two variants are named `{name}`"),
            ));
        }
        let mut changed = raw.clone();
        variants::apply_variant(&mut changed, v, file, text)?;
        let mut own = Vec::new();
        let scenario =
            lower::lower(changed, file, text, overrides, &mut own).map_err(|mut e| {
                e.message = format!("variant `{name}`: {}", e.message);
                e
            })?;
        for mut w in own {
            if !warnings[..base_count].contains(&w) {
                w.0.message = format!("variant `{name}`: {}", w.0.message);
                warnings.push(w);
            }
        }
        variants.push(Variant {
            name: name.clone(),
            description: v.description.clone().unwrap_or_default(),
            scenario,
        });
    }
    Ok(Incident {
        baseline,
        variants,
        warnings,
    })
}

/// How every YAML text of an incident is read: the file, and values given on the
/// command line (a sweep's `--vary`, see [`Setting::from_yaml`]).
fn reader_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        // YAML 1.2's booleans only: `off`, `on`, `yes` and `no` stay words, so that
        // `proxy_next_upstream: [off]` means nginx's `off` wherever it is written (a
        // variant's untyped value included) and `no` is never a silent `false`.
        strict_booleans: true,
        budget: serde_saphyr::budget! {
            max_depth: 64,
            flow_nesting_limit: 32,
            max_aliases: 256,
            max_anchors: 256,
            max_recorded_anchor_events: 20_000,
            max_nodes: 200_000,
            max_documents: 1,
        },
    }
}

/// The raw file, as the YAML reader reads it (no check beyond the types).
fn read_raw(file: &str, text: &str) -> Result<raw::RawIncident, IncidentError> {
    serde_saphyr::from_str_with_options(text, reader_options())
        .map_err(|e| IncidentError::from_yaml(file, text, &e))
}
