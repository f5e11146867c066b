//! Databases: their query latency and connection limit (PostgreSQL's default when the
//! file gives none). Databases are lowered first: pools and timeline entries refer to
//! them.

use crate::incident::raw::RawDatabase;
use crate::incident::IncidentError;
use crate::model::spec::DatabaseSpec;

use super::latency::latency;
use super::Ctx;

/// PostgreSQL `max_connections` default.
const POSTGRES_MAX_CONNECTIONS: u32 = 100;

pub(super) fn lower(ctx: &Ctx, raw: &[RawDatabase]) -> Result<Vec<DatabaseSpec>, IncidentError> {
    let mut databases = Vec::new();
    for d in raw {
        databases.push(DatabaseSpec {
            name: d.name.value.clone(),
            latency: latency(ctx, &d.latency)?,
            max_connections: d.max_connections.map_or(POSTGRES_MAX_CONNECTIONS, |c| c.0),
        });
    }
    Ok(databases)
}
