//! Values given on the command line for variant paths: a sweep's points (`rewind sweep
//! --vary`) and a fit's candidates (`rewind calibrate --fit`). The paths are those of a
//! variant's `set:` (`orders-db.max_open`, `timeline.fix.at`); the values are applied
//! to the raw file by [`super::variants::apply`] and the file is lowered again, so a
//! point is validated exactly as a variant is. The file is read and validated once
//! ([`PointBase`]); each point starts from a copy of its raw form.
//!
//! What a point gets wrong is said by the command that gave it, in its own words
//! ([`PointError::said`]): a sweep names the flag (`--vary web.rate=fast: ...`) and
//! the point (`FILE: sweep point web.rate=0/s: ...`), a fit the file and the values
//! (`FILE: with api.memory.per_request = "300KiB": ...`), at the file's line when the
//! error concerns the file's own text.

use serde_json::Value;
use serde_saphyr::{Location, Spanned};

use super::raw::RawIncident;
use super::{lower, read_raw, reader_options, IncidentError, Overrides};
use crate::model::spec::Scenario;

/// A value given on the command line for a variant path: `orders-db.max_open` = 25.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The path, as a variant's `set:` writes it.
    pub path: String,
    /// The value, as YAML would have given it.
    pub value: Value,
}

impl Setting {
    /// `path` set to `text` read as YAML, as a variant's value is (`40`, `50m`,
    /// `{profile: none}`); the error says why `text` is not a YAML value.
    pub fn from_yaml(path: &str, text: &str) -> Result<Setting, String> {
        let value: Value = serde_saphyr::from_str_with_options(text, reader_options())
            .map_err(|e| format!("`{text}` is not a YAML value: {}", first_line(&e)))?;
        Ok(Setting {
            path: path.to_string(),
            value,
        })
    }
}

/// An incident file read once, valid, to which points are applied: the baseline, or
/// one of its variants.
#[derive(Debug, Clone)]
pub struct PointBase {
    file: String,
    text: String,
    raw: RawIncident,
    overrides: Overrides,
}

/// What is wrong with a point, for its command to say in its own words.
#[derive(Debug, Clone, PartialEq)]
pub enum PointError {
    /// The setting at `index` names no field, or its value does not fit the field.
    Misfit {
        /// Which of the point's settings.
        index: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The file with the point's settings is refused, as a variant would be: the
    /// lowering's error, at the file's line where it concerns the file's own text.
    Refused(IncidentError),
}

impl PointError {
    /// The error as its command says it: `misfit` turns a setting that does not fit
    /// (its index and what is wrong) into an error naming it as the user gave it;
    /// `point` names the point before a refusal's message.
    pub fn said(
        self,
        misfit: impl FnOnce(usize, String) -> IncidentError,
        point: &str,
    ) -> IncidentError {
        match self {
            PointError::Misfit { index, message } => misfit(index, message),
            PointError::Refused(mut e) => {
                e.message = format!("{point}: {}", e.message);
                e
            }
        }
    }
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

    /// The base with the variant `name`'s overrides applied: points are then set over
    /// them.
    pub fn with_variant(mut self, name: &str) -> Result<Self, IncidentError> {
        let Some(v) = self
            .raw
            .variants
            .iter()
            .find(|v| v.name.value == name)
            .cloned()
        else {
            return Err(IncidentError::whole_file(
                &self.file,
                format!("no variant `{name}` in the file"),
            ));
        };
        super::variants::apply_variant(&mut self.raw, &v, &self.file, &self.text)?;
        Ok(self)
    }

    /// The scenario with `settings` applied, in order.
    pub fn point(&self, settings: &[Setting]) -> Result<Scenario, PointError> {
        let mut changed = self.raw.clone();
        for (index, s) in settings.iter().enumerate() {
            // A value from the command line has no place in the file.
            let value = Spanned::new(s.value.clone(), Location::UNKNOWN, Location::UNKNOWN);
            super::variants::apply(&mut changed, &s.path, &value)
                .map_err(|message| PointError::Misfit { index, message })?;
        }
        let mut warnings = Vec::new();
        lower::lower(
            changed,
            &self.file,
            &self.text,
            &self.overrides,
            &mut warnings,
        )
        .map_err(PointError::Refused)
    }
}

/// The reader's message without its location (a flag's value has only one line).
fn first_line(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    text.lines().next().unwrap_or_default().to_string()
}
