//! Overrides given on the command line (a sweep's points): the same paths as a
//! variant's `set:` (`orders-db.max_open`, `timeline.fix.at`), applied to the raw file
//! by [`super::variants::apply`] and lowered again, so a point is validated exactly as
//! a variant is. The value is YAML, read as a variant's is (`40`, `50m`,
//! `{profile: none}`).
//!
//! What a point gets wrong is said in its own words: a value that is not YAML or does
//! not fit its field names the flag (`--vary web.rate=fast: ...`); an error the
//! lowering finds names the file and the point (`FILE: sweep point web.rate=0/s: ...`),
//! at the file's line when it concerns the file's own text.

use serde_json::Value;
use serde_saphyr::{Location, Spanned};

use super::raw::RawIncident;
use super::{lower, read_raw, reader_options, IncidentError, Overrides};
use crate::model::spec::Scenario;

/// An incident file read once, valid, to which points are applied.
#[derive(Debug, Clone)]
pub struct PointBase {
    file: String,
    text: String,
    raw: RawIncident,
    overrides: Overrides,
}

impl PointBase {
    /// Read and validate `text` (named `file` in errors) with the command line's
    /// `overrides`; its variants are validated too, as by every command.
    pub fn parse(file: &str, text: &str, overrides: &Overrides) -> Result<Self, IncidentError> {
        super::parse_incident(file, text, overrides)?;
        Ok(PointBase {
            file: file.to_string(),
            text: text.to_string(),
            raw: read_raw(file, text)?,
            overrides: overrides.clone(),
        })
    }

    /// The scenario with `set` applied: `(path, value as YAML text)` in order.
    pub fn point(&self, set: &[(String, String)]) -> Result<Scenario, IncidentError> {
        let mut changed = self.raw.clone();
        for (path, text) in set {
            let flag = format!("--vary {path}={text}");
            let value: Value = serde_saphyr::from_str_with_options(text, reader_options())
                .map_err(|e| {
                    IncidentError::whole_file(
                        &flag,
                        format!("`{text}` is not a YAML value: {}", first_line(&e)),
                    )
                })?;
            // A value from the command line has no place in the file.
            let value = Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN);
            super::variants::apply(&mut changed, path, &value)
                .map_err(|m| IncidentError::whole_file(&flag, m))?;
        }
        let mut warnings = Vec::new();
        lower::lower(
            changed,
            &self.file,
            &self.text,
            &self.overrides,
            &mut warnings,
        )
        .map_err(|mut e| {
            let point: Vec<String> = set.iter().map(|(p, v)| format!("{p}={v}")).collect();
            e.message = format!("sweep point {}: {}", point.join(", "), e.message);
            e
        })
    }
}

/// The reader's message without its location (a flag's value has only one line).
fn first_line(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    text.lines().next().unwrap_or_default().to_string()
}
