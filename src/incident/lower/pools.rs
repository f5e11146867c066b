//! Connection pools of a service and their profiles: Go `database/sql` (`MaxOpenConns`
//! unlimited, `MaxIdleConns` 2, no acquire timeout, random hand-over) and HikariCP
//! (`maximumPoolSize` 10, `connectionTimeout` 30 s, FIFO). A pool names its database.

use crate::engine::Nanos;
use crate::incident::raw::{RawPool, RawPoolProfile};
use crate::incident::IncidentError;
use crate::model::spec::{Fairness, PoolProfile, PoolSpec};

use super::{find, loc, Ctx};

/// Go `database/sql` `defaultMaxIdleConns`.
const GO_SQL_MAX_IDLE: u32 = 2;
/// HikariCP `maximumPoolSize` default.
const HIKARI_POOL_SIZE: u32 = 10;
/// HikariCP `connectionTimeout` default.
const HIKARI_CONNECTION_TIMEOUT: Nanos = Nanos::from_secs(30);

/// Lower the pools of one service, in file order.
pub(super) fn lower(
    ctx: &Ctx,
    raw: &[RawPool],
    db_names: &[String],
) -> Result<Vec<PoolSpec>, IncidentError> {
    let mut pools = Vec::new();
    for p in raw {
        let database = find(ctx, "database", db_names, &p.database)?;
        let pool = match p.profile {
            RawPoolProfile::GoSql => PoolSpec {
                name: p.name.value.clone(),
                profile: PoolProfile::GoSql,
                database,
                max_open: p.max_open.and_then(|l| l.0),
                max_idle: p.max_idle.unwrap_or(GO_SQL_MAX_IDLE),
                acquire_timeout: p.acquire_timeout.map(|t| t.0),
                fairness: Fairness::Random,
            },
            RawPoolProfile::Hikari => {
                let size = match p.max_open {
                    None => HIKARI_POOL_SIZE,
                    Some(l) => l.0.ok_or_else(|| {
                        ctx.err(loc(&p.name), "a hikari pool has a fixed maximumPoolSize: `max_open: unlimited` is not possible".into())
                    })?,
                };
                PoolSpec {
                    name: p.name.value.clone(),
                    profile: PoolProfile::Hikari,
                    database,
                    max_open: Some(size),
                    // HikariCP keeps its connections (fixed-size pool, minimumIdle = max).
                    max_idle: p.max_idle.unwrap_or(size),
                    acquire_timeout: Some(
                        p.acquire_timeout.map_or(HIKARI_CONNECTION_TIMEOUT, |t| t.0),
                    ),
                    fairness: Fairness::Fifo,
                }
            }
        };
        pools.push(pool);
    }
    Ok(pools)
}
