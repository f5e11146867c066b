//! Caches, wired: a handler's `cached` step looks its cache up (after the lookup's
//! latency), goes on past the cached steps on a hit, runs them on a miss and stores
//! the entry when they are done (the mechanism is `cache.rs`). Also: where each
//! instance lives (one per replica process for a per-process cache, emptied when the
//! process dies; one for the system for a shared one), the background refresh of a
//! stale entry, what the waiters of a failed fill get, a flush, and the counts.
//!
//! A background refresh is a handler of its own on the replica that found the entry
//! stale: it runs the cached steps on a background context with nobody to answer,
//! and ends once it has stored the entry. Like a goroutine started for it, it takes no
//! worker and no memory share, and it is not a request of the service's totals.
//!
//! A fill's owner that fails (its steps end in an error, its request context is
//! cancelled, its process dies) ends its flight: the handlers that waited for it get
//! its error (500 when it had none to give), as every caller of Go's
//! `singleflight.Do` gets the one call's error.
//!
//! A fill that ends in an error (its handler answers 500 or more: a query refused,
//! timed out or cancelled at `statement_timeout`, a failed call) deletes its key's
//! entry in a cache with `invalidate_on_error`; a cancelled request or a dead process
//! is no error the code sees, and deletes nothing.

use crate::engine::{Key, Nanos, Scheduler, SimRng};
use crate::outcome::CacheTotals;

use super::cache::{CacheState, Found};
use super::event::*;
use super::handler::{Handler, HandlerPhase};
use super::replica::ReplicaState;
use super::spec::{CacheModel, CacheScope, ServiceSpec, Step};
use super::world::World;

/// A cache as it runs: its random stream (keys, hit-ratio draws), the instance of a
/// shared cache, and its counts.
pub(super) struct CacheRt {
    pub(super) rng: SimRng,
    /// The one instance of a shared cache with entries.
    pub(super) shared: Option<CacheState<Key>>,
    /// Fills in flight now, over every instance.
    pub(super) filling: u64,
    /// Counts of the interval being recorded.
    pub(super) interval: CacheCounts,
    pub(super) totals: CacheTotals,
}

/// What one interval's lookups found.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CacheCounts {
    pub(super) hits: u64,
    pub(super) stale: u64,
    pub(super) misses: u64,
    pub(super) coalesced: u64,
    pub(super) fills: u64,
}

/// A handler between its miss (or its refresh) and its fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fill {
    /// Cache index.
    pub(super) cache: u32,
    /// The key it fills.
    pub(super) key: u32,
    /// Others wait for this fill (single-flight, or the one refresh of a stale entry).
    pub(super) owner: bool,
    /// The step after the cached ones: reaching it stores the entry.
    pub(super) end: u32,
}

impl CacheRt {
    /// Cache `index` of the scenario at the start: a shared cache's one instance holds
    /// what its `start` says; per-process instances belong to the replicas.
    pub(super) fn new(spec: &super::spec::CacheSpec, index: usize, seed: u64) -> CacheRt {
        let shared = match (&spec.model, spec.scope) {
            // Salted apart from the replicas' instances (salted by replica index).
            (CacheModel::Keyed(k), CacheScope::Shared) => {
                Some(CacheState::started(k.start, Nanos::ZERO, !(index as u64)))
            }
            _ => None,
        };
        CacheRt {
            rng: SimRng::stream(seed, &format!("cache:{}", spec.name)),
            shared,
            filling: 0,
            interval: CacheCounts::default(),
            totals: CacheTotals {
                name: spec.name.clone(),
                shared: spec.scope == CacheScope::Shared,
                ..CacheTotals::default()
            },
        }
    }
}

/// The per-process caches a service's handler looks up, each once (by cache index).
fn process_caches_of(caches: &[super::spec::CacheSpec], spec: &ServiceSpec) -> Vec<usize> {
    let mut out = Vec::new();
    for step in &spec.handler.steps {
        if let Step::Cached { cache, .. } = step {
            let c = &caches[*cache];
            if c.scope == CacheScope::Process
                && matches!(c.model, CacheModel::Keyed(_))
                && !out.contains(cache)
            {
                out.push(*cache);
            }
        }
    }
    out
}

impl World {
    /// Empty caches for a new process of a service (by cache index; None for the
    /// caches it has no instance of).
    pub(super) fn new_process_caches(&self, spec: &ServiceSpec) -> Vec<Option<CacheState<Key>>> {
        let mut out: Vec<Option<CacheState<Key>>> =
            self.scenario.caches.iter().map(|_| None).collect();
        for c in process_caches_of(&self.scenario.caches, spec) {
            out[c] = Some(CacheState::cold());
        }
        out
    }

    /// Replica `r` was running before the replay began: its caches hold what their
    /// `start` says.
    pub(super) fn warm_process_caches(&mut self, r: usize) {
        let rep = &mut self.replicas[r];
        for (c, instance) in rep.caches.iter_mut().enumerate() {
            if let (Some(inst), CacheModel::Keyed(k)) = (instance, &self.scenario.caches[c].model) {
                *inst = CacheState::started(k.start, Nanos::ZERO, r as u64);
            }
        }
    }

    /// The process of replica `r` died: its caches are gone (noted when they held
    /// anything and the process will start again).
    pub(super) fn lose_process_caches(&mut self, r: usize, now: Nanos) {
        let restarting = self.replicas[r].state != ReplicaState::Terminated;
        for c in 0..self.scenario.caches.len() {
            let held = match &mut self.replicas[r].caches[c] {
                Some(inst) => {
                    let held = inst.holds_entries();
                    *inst = CacheState::cold();
                    held
                }
                None => false,
            };
            if held && restarting {
                self.caches[c].totals.emptied += 1;
                let name = &self.scenario.caches[c].name;
                let detail = format!(
                    "cache {name} lost with the process: the next process starts with it empty"
                );
                self.note_replica(now, "cache_emptied", r, detail);
            }
        }
    }

    /// Handler `h` reaches a `cached` step: the lookup, answered at once in-process or
    /// after its round trip.
    pub(super) fn cache_lookup(
        &mut self,
        h: Key,
        cache: usize,
        end: usize,
        sched: &mut Scheduler<Event>,
    ) {
        let latency = self.scenario.caches[cache]
            .lookup
            .sample(&mut self.caches[cache].rng);
        if latency == Nanos::ZERO {
            self.cache_answer(h, cache, end, sched);
            return;
        }
        if let Some(hd) = self.handlers.get_mut(h) {
            hd.phase = HandlerPhase::Looking {
                cache: cache as u32,
                end: end as u32,
            };
            sched.after(
                latency,
                Event::Handler(HandlerEvent::CacheAnswered { handler: h }),
            );
        }
    }

    /// Handler `h`'s lookup has come back.
    pub(super) fn on_cache_answered(&mut self, h: Key, sched: &mut Scheduler<Event>) {
        let Some(hd) = self.handlers.get(h) else {
            return;
        };
        let HandlerPhase::Looking { cache, end } = hd.phase else {
            return;
        };
        if hd.cancelled {
            // Its request context ended during the round trip.
            self.end_handler(h, None, sched);
            return;
        }
        self.cache_answer(h, cache as usize, end as usize, sched);
    }

    /// What handler `h`'s lookup in `cache` found, and what it does about it.
    fn cache_answer(&mut self, h: Key, cache: usize, end: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(hd) = self.handlers.get(h) else {
            return;
        };
        let (r, step) = (hd.replica, hd.step);
        let (found, key) = match &self.scenario.caches[cache].model {
            CacheModel::HitRatio(p) => {
                let hit = self.caches[cache].rng.uniform_open01() < *p;
                let found = if hit {
                    Found::Hit
                } else {
                    Found::Miss { owner: false }
                };
                (found, 0)
            }
            CacheModel::Keyed(k) => {
                let key = k.draw_key(&mut self.caches[cache].rng);
                let scope = self.scenario.caches[cache].scope;
                let instance = instance_of(&mut self.caches, &mut self.replicas, scope, cache, r);
                let found = match instance {
                    Some(inst) => inst.lookup(k, now, key, h),
                    None => Found::Miss { owner: false },
                };
                (found, key)
            }
        };
        let rt = &mut self.caches[cache];
        rt.totals.lookups += 1;
        match found {
            Found::Hit => {
                rt.totals.hits += 1;
                rt.interval.hits += 1;
                self.skip_to(h, end, sched);
            }
            Found::Stale { refresh } => {
                rt.totals.stale += 1;
                rt.interval.stale += 1;
                if refresh {
                    self.start_refresh(h, cache, key, step + 1, end, sched);
                }
                self.skip_to(h, end, sched);
            }
            Found::Miss { owner } => {
                rt.totals.misses += 1;
                rt.interval.misses += 1;
                self.begin_fill(cache);
                if let Some(hd) = self.handlers.get_mut(h) {
                    hd.fill = Some(Fill {
                        cache: cache as u32,
                        key,
                        owner,
                        end: end as u32,
                    });
                    hd.phase = HandlerPhase::Working;
                    hd.step += 1;
                }
                self.advance(h, sched);
            }
            Found::Wait => {
                rt.totals.misses += 1;
                rt.interval.misses += 1;
                rt.totals.coalesced += 1;
                rt.interval.coalesced += 1;
                if let Some(hd) = self.handlers.get_mut(h) {
                    hd.phase = HandlerPhase::Coalesced {
                        cache: cache as u32,
                        key,
                    };
                }
            }
        }
    }

    /// Handler `h` goes on at step `end`, past the cached steps.
    fn skip_to(&mut self, h: Key, end: usize, sched: &mut Scheduler<Event>) {
        if let Some(hd) = self.handlers.get_mut(h) {
            hd.phase = HandlerPhase::Working;
            hd.step = end;
        }
        self.advance(h, sched);
    }

    /// One more fill in flight for `cache`.
    fn begin_fill(&mut self, cache: usize) {
        let rt = &mut self.caches[cache];
        rt.filling += 1;
        rt.totals.peak_filling = rt.totals.peak_filling.max(rt.filling);
    }

    /// One fill fewer in flight (stored, failed, or its process died).
    fn end_fill(&mut self, cache: usize) {
        let rt = &mut self.caches[cache];
        rt.filling = rt.filling.saturating_sub(1);
    }

    /// The one background refresh of a stale entry, started by handler `stale`'s
    /// lookup: a handler of its own on the same replica and route, running steps
    /// `from..end` on a background context, owning the fill.
    fn start_refresh(
        &mut self,
        stale: Key,
        cache: usize,
        key: u32,
        from: usize,
        end: usize,
        sched: &mut Scheduler<Event>,
    ) {
        let Some((r, route)) = self.handlers.get(stale).map(|hd| (hd.replica, hd.route)) else {
            return;
        };
        self.begin_fill(cache);
        let refresh = self.handlers.insert(Handler {
            replica: r,
            origin: None,
            step: from,
            phase: HandlerPhase::Working,
            waits: 0,
            connected: sched.now(),
            cancelled: false,
            probe: false,
            route,
            acquire_timer: None,
            // A refresh runs the steps' work, not a request's: it allocates nothing.
            allocated: false,
            fill: Some(Fill {
                cache: cache as u32,
                key,
                owner: true,
                end: end as u32,
            }),
            refresh: true,
        });
        self.advance(refresh, sched);
    }

    /// Handler `h` has run the cached steps: it stores the entry, the handlers that
    /// waited for its fill go on past the cached steps, and so does `h` (a background
    /// refresh ends here).
    pub(super) fn cache_fill(&mut self, h: Key, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(hd) = self.handlers.get_mut(h) else {
            return;
        };
        let Some(f) = hd.fill.take() else {
            return;
        };
        let (r, refresh) = (hd.replica, hd.refresh);
        let cache = f.cache as usize;
        self.end_fill(cache);
        let rt = &mut self.caches[cache];
        rt.totals.fills += 1;
        rt.interval.fills += 1;
        let waiters = match &self.scenario.caches[cache].model {
            CacheModel::Keyed(k) => {
                let scope = self.scenario.caches[cache].scope;
                let instance = instance_of(&mut self.caches, &mut self.replicas, scope, cache, r);
                instance.map_or_else(Vec::new, |inst| inst.fill(k, now, f.key, f.owner))
            }
            CacheModel::HitRatio(_) => Vec::new(),
        };
        if refresh {
            self.handlers.remove(h);
        } else {
            self.advance(h, sched);
        }
        let waiting = HandlerPhase::Coalesced {
            cache: f.cache,
            key: f.key,
        };
        for w in waiters {
            // A waiter that left (its request context ended) is skipped.
            if self.handlers.get(w).is_some_and(|wd| wd.phase == waiting) {
                self.skip_to(w, f.end as usize, sched);
            }
        }
    }

    /// A handler on replica `r` ended before its fill `f` (`status`: what it answered,
    /// if anything): its flight ends and whoever waited for it gets its error.
    pub(super) fn fill_failed(
        &mut self,
        r: usize,
        f: Fill,
        status: Option<u16>,
        sched: &mut Scheduler<Event>,
    ) {
        let cache = f.cache as usize;
        self.end_fill(cache);
        self.caches[cache].totals.fill_errors += 1;
        let invalidates = status.is_some_and(|s| s >= 500)
            && matches!(&self.scenario.caches[cache].model, CacheModel::Keyed(k) if k.invalidate_on_error);
        let scope = self.scenario.caches[cache].scope;
        if invalidates {
            if let Some(inst) = instance_of(&mut self.caches, &mut self.replicas, scope, cache, r) {
                inst.invalidate(f.key);
                self.caches[cache].totals.invalidated += 1;
            }
        }
        if !f.owner {
            return;
        }
        let waiters = match instance_of(&mut self.caches, &mut self.replicas, scope, cache, r) {
            Some(inst) => inst.abandon(f.key),
            None => return,
        };
        let status = status.filter(|s| *s >= 500).unwrap_or(500);
        let waiting = HandlerPhase::Coalesced {
            cache: f.cache,
            key: f.key,
        };
        for w in waiters {
            if self.handlers.get(w).is_some_and(|wd| wd.phase == waiting) {
                self.end_handler(w, Some(status), sched);
            }
        }
    }

    /// Empty every instance of cache `c` (a timeline flush); those that held entries
    /// are counted.
    pub(super) fn flush_cache(&mut self, c: usize) {
        let mut emptied = 0;
        let shared = self.caches[c].shared.as_mut();
        let own = self
            .replicas
            .iter_mut()
            .filter(|rep| rep.state != ReplicaState::Terminated)
            .filter_map(|rep| rep.caches.get_mut(c).and_then(Option::as_mut));
        for inst in shared.into_iter().chain(own) {
            emptied += u64::from(inst.holds_entries());
            inst.flush();
        }
        self.caches[c].totals.emptied += emptied;
    }

    /// The cache columns of the interval that ends now, and the start of the next.
    pub(super) fn close_cache_interval(&mut self, row: &mut Vec<f64>) {
        for rt in &mut self.caches {
            let n = rt.interval;
            row.extend([
                n.hits as f64,
                n.stale as f64,
                n.misses as f64,
                n.coalesced as f64,
                n.fills as f64,
                rt.filling as f64,
            ]);
            rt.interval = CacheCounts::default();
        }
    }
}

/// The instance of cache `c` (of `scope`) replica `r` uses: the shared one, or its
/// process's. Takes the two fields alone, so that the caller may hold the scenario.
fn instance_of<'a>(
    caches: &'a mut [CacheRt],
    replicas: &'a mut [super::replica::Replica],
    scope: CacheScope,
    c: usize,
    r: usize,
) -> Option<&'a mut CacheState<Key>> {
    match scope {
        CacheScope::Shared => caches[c].shared.as_mut(),
        CacheScope::Process => replicas[r].caches.get_mut(c)?.as_mut(),
    }
}
