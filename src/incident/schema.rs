//! The incident file's JSON Schema (`rewind schema`): what editors use for completion,
//! hover help and checks as one types (yaml-language-server, VS Code's YAML extension).
//!
//! The schema is derived from the raw serde types (`raw*.rs` derive `JsonSchema`), so
//! every field the file accepts is named, with its doc comment as help, and every
//! struct that denies unknown fields forbids them. The values that serde reads by hand
//! get their schemas here, written to accept what their visitors accept: durations,
//! rates and memory are strings with units, counts are whole numbers, and so on. The
//! schema checks the shape of a file and each value alone; what depends on more than
//! one value (a name that must exist, a timeline inside the duration, the event
//! budget) stays `rewind check`'s, with its line and column.
//!
//! Nothing here reads a file or runs a replay. `serde_saphyr::Spanned` is foreign to
//! this crate and to schemars, so the raw types name what a `Spanned<T>` field holds
//! with `#[schemars(with = "T")]`: a span is where a value was written, not a value.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Value};

use super::raw::{RawGogc, RawIncident, RawRetryOn, RawRollout, RawStrategy};
use super::units::{
    Cores, Count, Duration, Limit, Memory, Positive, PositiveDuration, Quantile, Rate, RouteWeight,
    Whole, MAX_CORES,
};

/// The schema of an incident file, as pretty JSON (JSON Schema draft 7, which every
/// YAML language server reads). The same bytes for the same build of rewind.
pub fn schema_json() -> String {
    let mut schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<RawIncident>();
    schema.insert("title".into(), json!("rewind incident file"));
    schema.insert(
        "$comment".into(),
        json!(format!(
            "Printed by `rewind schema` (rewind {}). It checks each field and value; \
             `rewind check FILE` checks the rest (names that must exist, the timeline \
             within the duration, the event budget).",
            env!("CARGO_PKG_VERSION")
        )),
    );
    let mut text = serde_json::to_string_pretty(&schema.to_value())
        .unwrap_or_else(|e| format!("{{\"$comment\": \"cannot print the schema: {e}\"}}"));
    text.push('\n');
    text
}

/// A decimal number as Rust's `f64` parser reads it, without a sign of its own (a
/// `+` is read; a `-` is refused by every value that uses it): `2`, `0.5`, `.5`, `1e3`.
const NUMBER: &str = r"\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?";

/// Whitespace as the duration grammar (jiff's friendly format) knows it.
const WS: &str = r"[ \t\n\f\r]";

/// A duration's units, largest first, with every label jiff reads for each (units of
/// hours or less: a duration is a fixed length of time).
const DURATION_UNITS: [&str; 6] = [
    "hours|hour|hrs|hr|h",
    "minutes|minute|mins|min|m",
    "seconds|second|secs|sec|s",
    "milliseconds|millisecond|millis|milli|msecs|msec|ms",
    "microseconds|microsecond|micros|micro|usecs|usec|µsecs|µsec|us|µs",
    "nanoseconds|nanosecond|nanos|nano|nsecs|nsec|ns",
];

/// The strings `human::parse_duration` accepts (jiff's `SignedDuration` parser, less
/// negative durations): units largest first, each at most once, a fraction only on
/// the last (`1h 30m`, `1.5s`, `2 minutes, 30 seconds`), or `HH:MM:SS[.f]`, or ISO 8601
/// (`PT1H30M`). Built from the grammar so that each part can be checked against it.
fn duration_pattern() -> String {
    let fraction = r"(?:[.,][0-9]{1,9})?";
    // `5h`, `5 hours`, then `, ` or spaces before the next unit.
    let part = |labels: &str| format!(r"[0-9]+{WS}*(?:{labels})(?:,{WS})?{WS}*");
    let last = |labels: &str| format!(r"[0-9]+{fraction}{WS}*(?:{labels})");
    let ordered = |units: &[&str], part: &dyn Fn(&str) -> String, last: &dyn Fn(&str) -> String| {
        (0..units.len())
            .map(|end| {
                let before: String = units[..end]
                    .iter()
                    .map(|u| format!("(?:{})?", part(u)))
                    .collect();
                format!("{before}{}", last(units[end]))
            })
            .collect::<Vec<_>>()
            .join("|")
    };
    let friendly = ordered(&DURATION_UNITS, &part, &last);
    let iso_units = ["[Hh]", "[Mm]", "[Ss]"];
    let iso = ordered(&iso_units, &|u: &str| format!("[0-9]+{u}"), &|u: &str| {
        format!("[0-9]+{fraction}{u}")
    });
    let hms = format!("[0-9]+:[0-9]+:[0-9]+{fraction}");
    format!(r"^\s*\+?(?:{friendly}|{hms}|[Pp][Tt](?:{iso}))\s*$")
}

/// A string schema with a pattern, a description, the message editors show when the
/// pattern does not match (`patternErrorMessage`, read by the YAML and JSON language
/// servers), and examples they offer.
fn pattern_schema(pattern: &str, description: &str, error: &str, examples: &[&str]) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": pattern,
        "description": description,
        "patternErrorMessage": error,
        "examples": examples,
    })
}

/// `impl JsonSchema` for a type whose schema is built by `$schema` under `$name`.
macro_rules! schema_by_hand {
    ($ty:ty, $name:literal, $schema:expr) => {
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

schema_by_hand!(
    Duration,
    "Duration",
    pattern_schema(
        &duration_pattern(),
        "A duration with its unit, zero or more: `250ms`, `30s`, `5m`, `1h 30m`.",
        "write a duration with its unit, e.g. 250ms, 30s, 5m or 1h 30m",
        &["30s", "250ms", "5m", "1h 30m"],
    )
);

schema_by_hand!(
    PositiveDuration,
    "PositiveDuration",
    pattern_schema(
        &duration_pattern(),
        "A duration with its unit, more than zero: `250ms`, `30s`, `5m`, `1h 30m`.",
        "write a duration with its unit, e.g. 250ms, 30s, 5m or 1h 30m",
        &["30s", "250ms", "5m", "1h 30m"],
    )
);

/// The per-unit-of-time part of a rate: `/s`, `/min`, `/h` and their longer names.
fn rate_body() -> String {
    format!(r"{NUMBER}\s*/\s*(?:s|sec|second|m|min|minute|h|hour)")
}

schema_by_hand!(
    Rate,
    "Rate",
    pattern_schema(
        &format!(r"^\s*{}\s*$", rate_body()),
        "Requests per unit of time: `200/s`, `90/min`, `3600/h`.",
        "write requests per unit of time, e.g. 200/s, 90/min or 3600/h",
        &["200/s", "90/min", "3600/h"],
    )
);

schema_by_hand!(
    RouteWeight,
    "RouteWeight",
    pattern_schema(
        &format!(r"^\s*(?:{NUMBER}\s*%|{})\s*$", rate_body()),
        "A route's traffic: a share of the client's requests (`90%`, more than 0% and \
         at most 100%) or a rate of its own (`90/s`).",
        "write a share such as 90% or a rate such as 90/s",
        &["90%", "10/s"],
    )
);

schema_by_hand!(
    Memory,
    "Memory",
    pattern_schema(
        r"^\s*(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?:KiB|MiB|GiB|kB|KB|MB|GB)\s*$",
        "An amount of memory, more than zero, with its unit: `256KiB`, `512MiB`, `1GiB` \
         (binary), or `kB`, `MB`, `GB` (decimal).",
        "write an amount of memory with its unit, e.g. 256KiB, 512MiB or 1GiB",
        &["512MiB", "1GiB", "256KiB"],
    )
);

schema_by_hand!(
    Count,
    "Count",
    json_schema!({
        "type": "integer",
        "minimum": 1,
        "maximum": u32::MAX,
        "description": "A whole number of at least 1.",
    })
);

schema_by_hand!(
    Whole,
    "Whole",
    json_schema!({
        "type": "integer",
        "minimum": 0,
        "maximum": u32::MAX,
        "description": "A whole number, 0 or more.",
    })
);

schema_by_hand!(
    Limit,
    "Limit",
    json_schema!({
        "description": "A whole number of at least 1, or `unlimited`.",
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": u32::MAX},
            {"const": "unlimited"},
        ],
    })
);

schema_by_hand!(
    Positive,
    "Positive",
    json_schema!({
        "type": "number",
        "exclusiveMinimum": 0,
        "description": "A number greater than zero.",
    })
);

schema_by_hand!(
    Quantile,
    "Quantile",
    json_schema!({
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "description": "A quantile, from 0 to 1.",
    })
);

schema_by_hand!(
    Cores,
    "Cores",
    json_schema!({
        "description": "CPUs as Kubernetes writes a CPU limit: cores (`2`, `0.5`) or \
                        millicores (`500m`); at least one millicore, at most 1024 cores.",
        "anyOf": [
            {"type": "number", "minimum": 0.001, "maximum": MAX_CORES},
            {
                "type": "string",
                "pattern": format!(r"^\s*{NUMBER}(?:\s*m)?\s*$"),
                "patternErrorMessage": "write cores (2, 0.5) or millicores (500m)",
            },
        ],
        "examples": [2, 0.5, "500m"],
    })
);

schema_by_hand!(
    RawRetryOn,
    "RetryOn",
    json_schema!({
        "description": "A failure to retry on: `5xx` (any 5xx answer), `gateway-error` \
                        (502, 503, 504), `timeout`, `connect-failure`, `reset`, or an \
                        HTTP status.",
        "anyOf": [
            {"enum": ["5xx", "gateway-error", "timeout", "connect-failure", "reset"]},
            {"type": "integer", "minimum": 0, "maximum": u16::MAX},
            {"type": "string", "pattern": r"^\+?[0-9]+$"},
        ],
    })
);

schema_by_hand!(
    RawGogc,
    "Gogc",
    json_schema!({
        "description": "Go's `GOGC`: a percentage (100 by default), or `off` (also \
                        `false`) to disable the collector.",
        "anyOf": [
            {"type": "integer", "minimum": 0, "maximum": u32::MAX},
            {"type": "string", "pattern": r"^\+?[0-9]+$"},
            {"enum": ["off", false]},
        ],
    })
);

impl JsonSchema for RawRollout {
    fn schema_name() -> Cow<'static, str> {
        "Rollout".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let strategy: Value = generator.subschema_for::<RawStrategy>().into();
        json_schema!({
            "description": "A service's name, or `{service: NAME, strategy: rolling|recreate}` \
                            (default: the service's strategy).",
            "anyOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "properties": {"service": {"type": "string"}, "strategy": strategy},
                    "required": ["service"],
                    "additionalProperties": false,
                },
            ],
        })
    }
}

/// Adds the lower-case spelling of each of an enum's words (`GET` and `get`), for the
/// enums whose serde variants take both (an alias, which schemars does not list).
pub(super) fn with_lower_case(schema: &mut Schema) {
    let Some(Value::Array(words)) = schema.get_mut("enum") else {
        return;
    };
    let lower: Vec<Value> = words
        .iter()
        .filter_map(Value::as_str)
        .map(|w| Value::String(w.to_lowercase()))
        .filter(|w| !words.contains(w))
        .collect();
    words.extend(lower);
}
