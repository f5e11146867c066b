//! The query steps as written (serde types that mirror the YAML, as in `raw`, which
//! re-exports them): a handler's `query: <pool>` or `query: {pool, latency}`, a job
//! iteration's `query: {}` or `query: {latency}`. `latency` gives a statement of its
//! own time (`SELECT pg_sleep(0.2)`); without it the step is the database's query.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::raw::RawLatency;

/// A job's query: the database's own latency unless `latency` gives the statement's.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawJobQuery {
    #[schemars(with = "Option<RawLatency>")]
    pub latency: Option<Spanned<RawLatency>>,
}

/// A handler's query step: the name of one of the service's pools (the database's
/// query), or `{pool, latency}`.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(untagged)]
pub enum RawQueryStep {
    /// `query: orders-db`.
    Pool(String),
    /// `query: {pool: orders-db, latency: {constant: 200ms}}`.
    Statement(RawHandlerQuery),
}

/// A handler's query written in full: its pool, and the statement's own time if it
/// has one.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHandlerQuery {
    #[schemars(with = "String")]
    pub pool: Spanned<String>,
    #[schemars(with = "Option<RawLatency>")]
    pub latency: Option<Spanned<RawLatency>>,
}

// By hand rather than `#[serde(untagged)]`: serde's untagged enums buffer the value,
// which loses the places `Spanned` records and turns every mistake inside the map into
// "did not match any variant". Here a map is read by `RawHandlerQuery`'s own rules,
// and its errors are located where they are.
impl<'de> Deserialize<'de> for RawQueryStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QueryVisitor;

        impl<'de> Visitor<'de> for QueryVisitor {
            type Value = RawQueryStep;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a pool's name, or {pool, latency}")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawQueryStep::Pool(v.to_string()))
            }

            // A plain scalar that reads as a number is still a name, as it is wherever
            // a name is expected.
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(RawQueryStep::Pool(v.to_string()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RawQueryStep::Pool(v.to_string()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawHandlerQuery::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawQueryStep::Statement)
            }
        }

        deserializer.deserialize_any(QueryVisitor)
    }
}
