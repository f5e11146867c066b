//! Connection pools, per replica: Go `database/sql` (lazy, random hand-over, refused
//! at once when the database is full) and HikariCP (opened at start, FIFO hand-over,
//! borrowers wait `connectionTimeout`). Exhaustion and recovery are reported here.

use std::collections::VecDeque;

use crate::engine::{Key, Nanos, NanosSum, Scheduler, SimRng};

use super::event::*;
use super::spec::{Fairness, PoolProfile};
use super::world::World;
use crate::outcome::PoolTotals;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Waiter {
    Handler(Key),
    Job(u16),
}

pub(super) struct PoolState {
    pub(super) open: u32,
    pub(super) idle: u32,
    pub(super) leaked: u32,
    pub(super) waiters: VecDeque<(Waiter, Nanos)>,
    pub(super) exhausted: bool,
    /// When callers first had to wait, in the current exhaustion.
    pub(super) exhausted_since: Nanos,
    /// When the last waiter left (got a connection, timed out, or was cancelled).
    pub(super) drained_at: Nanos,
    /// The database refused this pool's last attempt to open a connection.
    pub(super) refusing: bool,
}

impl PoolState {
    pub(super) fn new() -> Self {
        PoolState {
            open: 0,
            idle: 0,
            leaked: 0,
            waiters: VecDeque::new(),
            exhausted: false,
            exhausted_since: Nanos::ZERO,
            drained_at: Nanos::ZERO,
            refusing: false,
        }
    }
    pub(super) fn in_use(&self) -> u32 {
        self.open - self.idle
    }
}

pub(super) struct PoolRt {
    pub(super) rng: SimRng,
    /// The sum of the waits for a connection (the totals' seconds, read at the end).
    pub(super) wait: NanosSum,
    pub(super) totals: PoolTotals,
}

impl PoolRt {
    /// The pool named `name` (shared by a service's replicas) at the start, its
    /// stream from the run's `seed`.
    pub(super) fn new(name: &str, seed: u64) -> PoolRt {
        PoolRt {
            rng: SimRng::stream(seed, &format!("pool:{name}")),
            wait: NanosSum::default(),
            totals: PoolTotals {
                name: name.to_owned(),
                ..Default::default()
            },
        }
    }
}

pub(super) enum Acquire {
    /// An idle connection.
    Granted,
    /// A connection opened for this caller: its first query starts the backend.
    Opened,
    Wait,
    Refused,
}

impl World {
    /// The first refusal of a pool's opens, once per episode: when no other replica's
    /// pool of the same component is being refused already. (A Hikari pool's refusals
    /// at start are noted by `fill_pools`, which also starts its episode.)
    fn note_refusal(&mut self, r: usize, p: usize, limit: u32, now: Nanos) {
        let s = self.replicas[r].service;
        let others_refused = self.services[s]
            .replicas
            .iter()
            .any(|&x| x != r && self.replicas[x].pools.get(p).is_some_and(|q| q.refusing));
        if others_refused {
            return;
        }
        let spec = &self.replicas[r].spec.pools[p];
        let name = spec.name.clone();
        let db_name = self.scenario.databases[spec.database].name.clone();
        let then = match spec.profile {
            PoolProfile::GoSql => "database/sql returns the error to its caller",
            PoolProfile::Hikari => {
                "HikariCP keeps the borrower waiting for a connection to free up"
            }
        };
        self.note(
            now,
            "db_refused",
            &name,
            format!("{db_name} refused a new connection: max_connections {limit} reached; {then}"),
        );
    }

    pub(super) fn acquire(&mut self, r: usize, p: usize, who: Waiter, now: Nanos) -> Acquire {
        let rep = &mut self.replicas[r];
        let s = rep.service;
        let spec = &self.services[s].versions[rep.version].pools[p];
        let pool = &mut rep.pools[p];
        if pool.idle > 0 {
            pool.idle -= 1;
            return Acquire::Granted;
        }
        // The database's max_connections when it refused this caller a new connection,
        // the first time in a run of refusals: noted once the caller is queued.
        let mut refused_by = None;
        if spec.max_open.is_none_or(|m| pool.open < m) {
            let db = &mut self.databases[spec.database];
            let limit = self.scenario.databases[spec.database].max_connections;
            if db.connections < limit {
                db.connections += 1;
                pool.open += 1;
                pool.refusing = false;
                return Acquire::Opened;
            }
            self.pools[s][p].totals.refused += 1;
            let first_refusal = !pool.refusing;
            pool.refusing = true;
            // database/sql returns the driver's error at once; HikariCP keeps the
            // borrower waiting (up to connectionTimeout) for a connection to free up.
            if spec.profile == PoolProfile::GoSql {
                if first_refusal {
                    self.note_refusal(r, p, limit, now);
                }
                return Acquire::Refused;
            }
            refused_by = first_refusal.then_some(limit);
        }
        pool.waiters.push_back((who, now));
        let waiting = pool.waiters.len() as u64;
        let newly_exhausted = !pool.exhausted;
        if newly_exhausted {
            pool.exhausted = true;
            pool.exhausted_since = now;
        }
        let ordinal = rep.ordinal;
        // The component is exhausted when its first replica's pool is; further replicas
        // running dry while it still is add no new occurrence.
        let component_newly_exhausted = newly_exhausted
            && !self.services[s]
                .replicas
                .iter()
                .any(|&x| x != r && self.replicas[x].pools.get(p).is_some_and(|q| q.exhausted));
        let pool = &self.replicas[r].pools[p];
        let in_use = pool.in_use();
        let size = spec.max_open.unwrap_or(in_use);
        let leaked = pool.leaked;
        let totals = &mut self.pools[s][p].totals;
        totals.wait_count += 1;
        if component_newly_exhausted {
            totals.exhaustions += 1;
            let name = spec.name.clone();
            let replicas = self.services[s].replicas.len();
            let mut detail = format!("pool exhausted: {in_use} of {size} connections in use");
            if replicas > 1 {
                detail.push_str(&format!(" in replica {ordinal}"));
            }
            let unopened = size.saturating_sub(pool.open);
            if unopened > 0 && spec.max_open.is_some() {
                detail.push_str(&format!(
                    " ({unopened} could not be opened: the database is full)"
                ));
            }
            if leaked > 0 {
                detail.push_str(&format!(", {leaked} of them leaked"));
            }
            detail.push_str("; callers now wait");
            self.note(now, "pool_exhausted", &name, detail);
        }
        let total_waiting: u64 = self.services[s]
            .replicas
            .iter()
            .map(|&x| {
                self.replicas[x]
                    .pools
                    .get(p)
                    .map_or(0, |q| q.waiters.len() as u64)
            })
            .sum::<u64>()
            .max(waiting);
        let totals = &mut self.pools[s][p].totals;
        totals.peak_waiting = totals.peak_waiting.max(total_waiting);
        if let Some(limit) = refused_by {
            self.note_refusal(r, p, limit, now);
        }
        Acquire::Wait
    }

    pub(super) fn remove_waiter(&mut self, r: usize, p: usize, who: Waiter, now: Nanos) {
        let pool = &mut self.replicas[r].pools[p];
        if let Some(i) = pool.waiters.iter().position(|(w, _)| *w == who) {
            pool.waiters.remove(i);
            if pool.waiters.is_empty() {
                pool.drained_at = now;
            }
        }
    }

    /// A connection comes back: handed to a waiter, kept idle, or closed.
    pub(super) fn release(&mut self, r: usize, p: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let rep = &mut self.replicas[r];
        let s = rep.service;
        let spec = &rep.spec.pools[p];
        let pool = &mut rep.pools[p];
        if !pool.waiters.is_empty() {
            let next = match spec.fairness {
                Fairness::Fifo => pool.waiters.pop_front(),
                // Order among the rest does not matter, so fill the hole from the back.
                Fairness::Random => {
                    let i = self.pools[s][p].rng.below(pool.waiters.len());
                    pool.waiters.swap_remove_back(i)
                }
            };
            let Some((who, since)) = next else {
                return;
            };
            if pool.waiters.is_empty() {
                pool.drained_at = now;
            }
            self.pools[s][p].wait.add(now.saturating_sub(since));
            match who {
                Waiter::Handler(h) => self.begin_query(h, r, p, false, sched),
                Waiter::Job(j) => self.job_connected(r, j as usize, false, sched),
            }
            return;
        }
        if pool.idle < spec.max_idle {
            pool.idle += 1;
        } else {
            pool.open -= 1;
            self.databases[spec.database].connections -= 1;
        }
    }

    /// HikariCP opens its whole pool when the process starts (`minimumIdle` defaults to
    /// `maximumPoolSize`): this is how a scale-out pushes a database past
    /// `max_connections` before any request arrives. Go's pool opens lazily. Returns
    /// false when a Hikari pool could not open a single connection: with the default
    /// `initializationFailTimeout` (1 ms) the application then fails to start.
    /// `new_backends`: the database starts a backend per connection (false for
    /// processes that were already connected when the replay begins).
    pub(super) fn fill_pools(
        &mut self,
        r: usize,
        new_backends: bool,
        sched: &mut Scheduler<Event>,
    ) -> bool {
        let now = sched.now();
        let mut started = true;
        let s = self.replicas[r].service;
        let version = self.replicas[r].version;
        for p in 0..self.replicas[r].pools.len() {
            let spec = &self.services[s].versions[version].pools[p];
            if spec.profile != PoolProfile::Hikari {
                continue;
            }
            let size = spec.max_open.unwrap_or(0);
            let db = spec.database;
            let limit = self.scenario.databases[db].max_connections;
            let pool = &mut self.replicas[r].pools[p];
            let want = size.saturating_sub(pool.open);
            let room = limit.saturating_sub(self.databases[db].connections);
            let opened = want.min(room);
            pool.open += opened;
            pool.idle += opened;
            self.databases[db].connections += opened;
            let refused = want - opened;
            // This note starts the pool's run of refusals: a borrower refused a new
            // connection later in it adds no second one.
            if refused > 0 {
                pool.refusing = true;
            }
            if size > 0 && pool.open == 0 {
                started = false;
            }
            if new_backends {
                self.backend_setup(db, opened, sched);
            }
            let spec = &self.services[s].versions[version].pools[p];
            if refused > 0 {
                let name = spec.name.clone();
                let db_name = self.scenario.databases[db].name.clone();
                self.pools[s][p].totals.refused += u64::from(refused);
                let ordinal = self.replicas[r].ordinal;
                self.note(
                    now,
                    "db_refused",
                    &name,
                    format!(
                        "{db_name} refused {refused} of the {size} connections replica {ordinal} opens at start: max_connections {limit} reached"
                    ),
                );
            }
        }
        started
    }
}
