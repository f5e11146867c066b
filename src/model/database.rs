//! Databases: `max_connections`, and the queries they run. A query's latency is
//! sampled from the database's law (times the current slow-down); with `cpus` the
//! sample is the query's work on one core and running queries share the cores by
//! processor sharing (`processor.rs`), so latency grows with concurrency, as
//! PostgreSQL's backend processes do. `statement_timeout` cancels a query that runs
//! longer (PostgreSQL answers `ERROR: canceling statement due to statement timeout`,
//! SQLSTATE 57014); the caller gets the error and its connection stays usable. A new
//! connection's first query first pays `connection_setup` (the backend's fork). A query
//! step's statement (a handler's or a batch job's) may have its own time (`pg_sleep`):
//! it holds a backend and counts as running, but waits off the cores, whatever their
//! load or the slow-down.
//!
//! The database owns its running queries; it tells whoever asked (a handler, a batch
//! job, or nobody for the set-up work of a pool opened at start) when one is over.
//! Locks, plans and caches are out of scope: a query's work does not depend on others.

use crate::engine::{Key, Nanos, Scheduler, SimRng, Slab, Timer};
use crate::outcome::DatabaseTotals;

use super::cpu::CpuRt;
use super::event::*;
use super::spec::Statement;
use super::world::World;

/// Who waits for a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Querier {
    /// A request handler.
    Handler(Key),
    /// A batch job of a replica's process (`incarnation` makes a dead one's stale).
    Job {
        replica: u32,
        incarnation: u32,
        job: u16,
    },
    /// Nobody: the database's own work (backends of a pool opened at start).
    Backend,
}

/// How a query ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum QueryOutcome {
    /// Its rows came back.
    Done,
    /// Cancelled by `statement_timeout`: an error for the caller.
    TimedOut,
}

/// A query the database is running.
pub(super) struct RunningQuery {
    who: Querier,
    /// Its place among the database's cores, when it has `cpus`.
    slot: Option<super::processor::Slot>,
    /// Its statement timeout while it runs on the database's cores, to cancel when it
    /// finishes first.
    timer: Option<Timer>,
}

pub(super) struct DatabaseRt {
    pub(super) connections: u32,
    pub(super) factor: f64,
    pub(super) rng: SimRng,
    /// Queries running now.
    pub(super) queries: Slab<RunningQuery>,
    /// Its cores, when it has `cpus`.
    pub(super) cpu: Option<CpuRt<Key>>,
    pub(super) totals: DatabaseTotals,
}

impl DatabaseRt {
    pub(super) fn new(name: &str, cpus: Option<f64>, seed: u64) -> DatabaseRt {
        DatabaseRt {
            connections: 0,
            factor: 1.0,
            rng: SimRng::stream(seed, &format!("database:{name}")),
            queries: Slab::new(),
            cpu: cpus.map(|c| CpuRt::new(c, Nanos::ZERO)),
            totals: DatabaseTotals {
                name: name.to_string(),
                ..DatabaseTotals::default()
            },
        }
    }
}

impl Statement {
    /// The statement's own time, drawn from the caller's `rng`; None for the
    /// database's query (whose work the database draws).
    pub(super) fn own_time(&self, rng: &mut SimRng) -> Option<Nanos> {
        match self {
            Statement::Database => None,
            Statement::OwnTime(l) => Some(l.sample(rng)),
        }
    }
}

impl World {
    /// Route a database event to its rule.
    pub(super) fn on_database_event(&mut self, e: DatabaseEvent, sched: &mut Scheduler<Event>) {
        match e {
            DatabaseEvent::QueryDone { database, query } => {
                self.query_ended(database as usize, query, QueryOutcome::Done, sched)
            }
            DatabaseEvent::StatementTimeout { database, query } => {
                self.query_ended(database as usize, query, QueryOutcome::TimedOut, sched)
            }
            DatabaseEvent::CpuDone { database } => {
                self.on_database_cpu_done(database as usize, sched)
            }
        }
    }

    /// Start a query step's statement at database `db` for `who` (a handler's or a job
    /// iteration's: one path for both): the database's own query when `own_time` is
    /// None, else a statement of that time, drawn by the caller. `fresh`: the first on
    /// a new connection, which pays the backend's start first.
    pub(super) fn submit_statement(
        &mut self,
        db: usize,
        who: Querier,
        fresh: bool,
        own_time: Option<Nanos>,
        sched: &mut Scheduler<Event>,
    ) {
        match own_time {
            None => self.submit_query(db, who, fresh, sched),
            Some(t) => self.submit_own_time(db, who, fresh, t, sched),
        }
    }

    /// Start a query at database `db` for `who`; `fresh`: the first on a new
    /// connection, which pays the backend's start first.
    fn submit_query(&mut self, db: usize, who: Querier, fresh: bool, sched: &mut Scheduler<Event>) {
        let spec = &self.scenario.databases[db];
        let dbrt = &mut self.databases[db];
        let mut work = spec.latency.sample(&mut dbrt.rng);
        if dbrt.factor != 1.0 {
            work = Nanos::from_secs_f64(work.as_secs_f64() * dbrt.factor);
        }
        if fresh {
            work = work.saturating_add(spec.connection_setup);
        }
        let on_cores = dbrt.cpu.is_some();
        self.start_query(db, who, work, on_cores, sched);
    }

    /// Start a statement whose time is its own (`SELECT pg_sleep(0.2)`: the backend
    /// waits, it does not compute): it takes `time` however loaded the database is, off
    /// its cores, and is not stretched by a slow-down; it still holds a backend, counts
    /// among the running queries and is cancelled at `statement_timeout`. `fresh`: the
    /// backend's start comes first, as a wait too.
    fn submit_own_time(
        &mut self,
        db: usize,
        who: Querier,
        fresh: bool,
        time: Nanos,
        sched: &mut Scheduler<Event>,
    ) {
        let time = if fresh {
            time.saturating_add(self.scenario.databases[db].connection_setup)
        } else {
            time
        };
        self.start_query(db, who, time, false, sched);
    }

    /// Run a query of `work` for `who`: on the database's cores when `on_cores` (it
    /// then takes longer the more run), else for exactly that time.
    fn start_query(
        &mut self,
        db: usize,
        who: Querier,
        work: Nanos,
        on_cores: bool,
        sched: &mut Scheduler<Event>,
    ) {
        let now = sched.now();
        let limit = self.scenario.databases[db].statement_timeout;
        let dbrt = &mut self.databases[db];
        dbrt.totals.queries += 1;
        let q = dbrt.queries.insert(RunningQuery {
            who,
            slot: None,
            timer: None,
        });
        let running = dbrt.queries.len() as u64;
        dbrt.totals.peak_running = dbrt.totals.peak_running.max(running);
        let database = db as u32;
        let timer = match (&mut dbrt.cpu, limit) {
            (Some(cpu), limit) if on_cores => {
                let slot = cpu.ps.add(now, work, q);
                if let Some(rq) = dbrt.queries.get_mut(q) {
                    rq.slot = Some(slot);
                }
                limit.map(|limit| {
                    sched.timeout(
                        limit,
                        Event::Database(DatabaseEvent::StatementTimeout { database, query: q }),
                    )
                })
            }
            // Off the cores the query's end is known now, and nothing else ends it: one
            // plain event, never cancelled (no timer bookkeeping on every query).
            (_, Some(limit)) if work > limit => {
                let event = DatabaseEvent::StatementTimeout { database, query: q };
                sched.after(limit, Event::Database(event));
                None
            }
            _ => {
                sched.after(
                    work,
                    Event::Database(DatabaseEvent::QueryDone { database, query: q }),
                );
                None
            }
        };
        if let Some(rq) = dbrt.queries.get_mut(q) {
            rq.timer = timer;
        }
        if on_cores {
            if let Some(cpu) = &mut dbrt.cpu {
                cpu.reschedule(sched, Event::Database(DatabaseEvent::CpuDone { database }));
            }
        }
    }

    /// The work of starting `n` backends for a pool opened at start: nobody waits for
    /// it, but it loads the database's cores.
    pub(super) fn backend_setup(&mut self, db: usize, n: u32, sched: &mut Scheduler<Event>) {
        let spec = &self.scenario.databases[db];
        if spec.cpus.is_none() || spec.connection_setup == Nanos::ZERO {
            return;
        }
        let now = sched.now();
        let work = spec.connection_setup;
        let dbrt = &mut self.databases[db];
        for _ in 0..n {
            let q = dbrt.queries.insert(RunningQuery {
                who: Querier::Backend,
                slot: None,
                timer: None,
            });
            if let Some(cpu) = &mut dbrt.cpu {
                let slot = cpu.ps.add(now, work, q);
                if let Some(rq) = dbrt.queries.get_mut(q) {
                    rq.slot = Some(slot);
                }
            }
        }
        if let Some(cpu) = &mut dbrt.cpu {
            let database = db as u32;
            cpu.reschedule(sched, Event::Database(DatabaseEvent::CpuDone { database }));
        }
    }

    /// The query at the head of the database's cores is done.
    fn on_database_cpu_done(&mut self, db: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let database = db as u32;
        let Some(cpu) = &mut self.databases[db].cpu else {
            return;
        };
        cpu.timer = None;
        let finished = cpu.ps.finish_next(now);
        cpu.reschedule(sched, Event::Database(DatabaseEvent::CpuDone { database }));
        if let Some(q) = finished {
            if let Some(rq) = self.databases[db].queries.get_mut(q) {
                // Its rows are back: the statement timeout no longer applies.
                rq.slot = None;
            }
            self.query_ended(db, q, QueryOutcome::Done, sched);
        }
    }

    /// Query `q` is over: the database forgets it and tells whoever waits.
    fn query_ended(
        &mut self,
        db: usize,
        q: Key,
        outcome: QueryOutcome,
        sched: &mut Scheduler<Event>,
    ) {
        let now = sched.now();
        let dbrt = &mut self.databases[db];
        let Some(rq) = dbrt.queries.remove(q) else {
            return;
        };
        if let Some(timer) = rq.timer {
            sched.cancel(timer);
        }
        if let (Some(slot), Some(cpu)) = (rq.slot, &mut dbrt.cpu) {
            // Cancelled while running: its share of the cores goes to the others.
            cpu.ps.remove(now, slot);
            let database = db as u32;
            cpu.reschedule(sched, Event::Database(DatabaseEvent::CpuDone { database }));
        }
        if outcome == QueryOutcome::TimedOut {
            dbrt.totals.statement_timeouts += 1;
        }
        match rq.who {
            Querier::Handler(h) => self.handler_query_over(h, outcome, sched),
            Querier::Job {
                replica,
                incarnation,
                job,
            } => self.job_query_over(replica as usize, incarnation, job as usize, outcome, sched),
            Querier::Backend => {}
        }
    }
}
