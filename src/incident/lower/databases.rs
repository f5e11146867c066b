//! Databases: their query latency, connection limit (PostgreSQL's default when the
//! file gives none), the cores their queries share, `statement_timeout` and the work of
//! starting a backend for a new connection. Databases are lowered first: pools and
//! timeline entries refer to them.

use crate::engine::Nanos;
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
            cpus: d.cpus.map(|c| c.0),
            // PostgreSQL: `statement_timeout` defaults to 0, which disables it
            // (runtime-config-client.html).
            statement_timeout: d
                .statement_timeout
                .map(|t| t.0)
                .filter(|t| *t > Nanos::ZERO),
            // Not a documented constant (a fork and, with TLS or SCRAM, more): off unless
            // the file measures it (`pgbench --connect` shows it).
            connection_setup: d.connection_setup.map_or(Nanos::ZERO, |t| t.0),
        });
    }
    Ok(databases)
}
