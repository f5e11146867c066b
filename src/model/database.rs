//! Databases: `max_connections` and query latency (times the current slow-down).

use crate::engine::{Nanos, SimRng};

use super::dist::Latency;
use super::world::World;

pub(super) struct DatabaseRt {
    pub(super) connections: u32,
    pub(super) factor: f64,
    pub(super) rng: SimRng,
}

impl World {
    pub(super) fn query_time(&mut self, r: usize, pool: usize) -> Nanos {
        let rep = &self.replicas[r];
        let db = self.services[rep.service].versions[rep.version].pools[pool].database;
        let latency: &Latency = &self.scenario.databases[db].latency;
        let dbrt = &mut self.databases[db];
        let d = latency.sample(&mut dbrt.rng);
        if dbrt.factor == 1.0 {
            d
        } else {
            Nanos::from_secs_f64(d.as_secs_f64() * dbrt.factor)
        }
    }
}
