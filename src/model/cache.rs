//! Caches, the mechanism: one cache instance's entries, their time to live, the
//! serve-stale window, and the fills in flight with the callers waiting for them. It
//! decides what a lookup finds; the wiring (`caching.rs`) runs the dependency on a
//! miss and stores what it returns. It knows nothing of handlers, replicas or events:
//! whoever waits for a fill is a `W`, and time is the instant it is given.
//!
//! The rules are cache-aside as application code writes it. A lookup draws a key from
//! the key space (uniform, or Zipf's law by rejection-inversion) and finds its entry
//! fresh (a hit), stale but within `serve_stale` of its expiry (served, and the first
//! such lookup starts the one background refresh, as stale-while-revalidate caches
//! do), or missing or too old (a miss: the caller fills it). A fill stores the entry
//! for `ttl` from the instant it is stored. Without single-flight every miss fills on
//! its own, so a hot key that expires while the dependency is slow sends a query per
//! request; with it the first miss owns the fill and the later ones wait for it (Go's
//! `singleflight.Group`, groupcache's loader), and when the owner fails they all get
//! its error, as `singleflight.Do` returns the one call's error to every caller.
//! With `invalidate_on_error` a fill that fails with an error deletes the key's entry,
//! even a fresh one another fill stored while it ran: the rule of a client that takes
//! an error for an invalid value (Facebook's outage of 23 September 2010), which keeps
//! a key missing as long as some of its fills fail.
//!
//! Memory follows the entries alive, not the key space: an entry is kept from its
//! fill until its usable life (`ttl` + `serve_stale`) is over, found by a queue of
//! fills in time order (every entry of a cache has the same life, so the queue's head
//! always expires first). The entries of a process that was already running when the
//! replay began are not stored at all: each key's expiry is derived from the key by
//! a hash, spread over one TTL (as if filled at random instants before the replay) or
//! all at once (filled together), until a fill replaces it or a flush empties the
//! cache.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crate::engine::{mix64, Nanos, SimRng};

/// Most keys one cache may have: an instance holds at most one entry per key.
pub const MAX_CACHE_KEYS: u32 = 10_000_000;

/// Largest Zipf exponent a file may give (beyond it one key takes every lookup).
pub const MAX_ZIPF_EXPONENT: f64 = 10.0;

/// How often each key is asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Popularity {
    /// Every key equally often.
    Uniform,
    /// Zipf's law: the key of rank k is asked for in proportion to k^-s.
    Zipf(Zipf),
}

/// Zipf's law over ranks 1..=n with exponent `s` > 0, drawn by rejection-inversion
/// (W. Hörmann and G. Derflinger, "Rejection-inversion to generate variates from
/// monotone discrete distributions", 1996; the construction of Apache Commons RNG's
/// `RejectionInversionZipfSampler`): O(1) time and memory whatever n, about one
/// uniform per draw, exact.
#[derive(Debug, Clone, PartialEq)]
pub struct Zipf {
    n: f64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    threshold: f64,
}

/// log(1 + x) / x, accurate near 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// (e^x - 1) / x, accurate near 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

impl Zipf {
    /// Ranks 1..=`n` (n >= 1) with exponent `s` in (0, [`MAX_ZIPF_EXPONENT`]].
    pub fn new(n: u32, s: f64) -> Zipf {
        let mut z = Zipf {
            n: f64::from(n.max(1)),
            s,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            threshold: 0.0,
        };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(z.n + 0.5);
        z.threshold = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// h(x) = x^-s, the density the sampler inverts.
    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    /// H(x), an integral of h: (x^(1-s) - 1) / (1 - s), or ln x when s = 1.
    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.s) * log_x) * log_x
    }

    /// The inverse of H.
    fn h_integral_inverse(&self, x: f64) -> f64 {
        // Rounding can take t just below -1, outside H's range.
        let t = (x * (1.0 - self.s)).max(-1.0);
        (helper1(t) * x).exp()
    }

    /// One rank in 1..=n.
    pub fn sample(&self, rng: &mut SimRng) -> u32 {
        loop {
            let u =
                self.h_integral_n + rng.uniform_open01() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.threshold || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u32;
            }
        }
    }
}

/// What the caches of the processes running when the replay begins hold (a process
/// started during the replay, or restarted, always begins with an empty cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStart {
    /// Every key, filled at random instants over the TTL before the replay: expiries
    /// are spread evenly, as in a cache that has been serving for a while.
    Steady,
    /// Every key, filled together at the start (a bulk pre-load): they all expire
    /// together one TTL later.
    Together,
    /// Nothing: every key misses first.
    Cold,
}

/// A cache with entries: its key space and the rules of its entries.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedCache {
    /// Distinct keys, 1..=[`MAX_CACHE_KEYS`].
    pub keys: u32,
    /// How often each key is asked for.
    pub popularity: Popularity,
    /// An entry is fresh for this long after its fill.
    pub ttl: Nanos,
    /// After its TTL an entry is still served, stale, for this long while one
    /// background refresh runs; None: an expired entry is a miss.
    pub serve_stale: Option<Nanos>,
    /// Concurrent misses of one key wait for the one fill in flight.
    pub single_flight: bool,
    /// A fill that fails with an error deletes the key's entry, even a fresh one
    /// another fill stored meanwhile: the caller takes the error for a bad value.
    pub invalidate_on_error: bool,
    /// What the processes running at the start hold.
    pub start: CacheStart,
}

impl KeyedCache {
    /// The key of one lookup, in 0..keys.
    pub fn draw_key(&self, rng: &mut SimRng) -> u32 {
        match &self.popularity {
            Popularity::Uniform => rng.below(self.keys as usize) as u32,
            Popularity::Zipf(z) => z.sample(rng) - 1,
        }
    }

    /// How long an entry may be served after its fill: the TTL and the stale window.
    fn usable(&self) -> Nanos {
        self.ttl
            .saturating_add(self.serve_stale.unwrap_or(Nanos::ZERO))
    }
}

/// What a lookup found, and so what its caller does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A fresh entry.
    Hit,
    /// An entry past its TTL, within the stale window: served. With `refresh` the
    /// caller starts the one background refresh and owns its fill.
    Stale {
        /// This lookup starts the refresh.
        refresh: bool,
    },
    /// No entry to serve: the caller runs the dependency and fills the entry. An
    /// `owner` is the fill others wait for (single-flight).
    Miss {
        /// Others wait for this fill.
        owner: bool,
    },
    /// No entry to serve and the fill in flight is awaited (single-flight).
    Wait,
}

/// The entries of a process that was running when the replay began, derived from
/// the key rather than stored.
#[derive(Debug, Clone, Copy)]
struct StartEntries {
    at: Nanos,
    together: bool,
    salt: u64,
}

/// One cache instance: a process's own, or the one a shared cache is.
#[derive(Debug)]
pub(super) struct CacheState<W> {
    start: Option<StartEntries>,
    /// Key -> end of its freshness, for keys filled since the start.
    // Never iterated: only looked up, so its order cannot reach an output.
    entries: HashMap<u32, Nanos>,
    /// Fills in time order, (key, end of freshness): the head's life ends first.
    expiry: VecDeque<(u32, Nanos)>,
    /// Keys whose fill is in flight (single-flight's, or a background refresh), with
    /// the callers waiting for it, in arrival order.
    flights: BTreeMap<u32, Vec<W>>,
    /// Keys whose start entry was invalidated (only while start entries last).
    // Never iterated, as `entries`.
    invalidated: HashSet<u32>,
}

impl<W> CacheState<W> {
    /// An empty instance.
    pub(super) fn cold() -> Self {
        CacheState {
            start: None,
            entries: HashMap::new(),
            expiry: VecDeque::new(),
            flights: BTreeMap::new(),
            invalidated: HashSet::new(),
        }
    }

    /// The instance of a process running when the replay begins at `at`: it holds
    /// what `start` says. `salt` makes two instances' spread expiries independent.
    pub(super) fn started(start: CacheStart, at: Nanos, salt: u64) -> Self {
        let mut c = Self::cold();
        c.start = match start {
            CacheStart::Cold => None,
            CacheStart::Steady | CacheStart::Together => Some(StartEntries {
                at,
                together: start == CacheStart::Together,
                salt,
            }),
        };
        c
    }

    /// Whether it holds anything (what a flush or a restart loses).
    pub(super) fn holds_entries(&self) -> bool {
        self.start.is_some() || !self.entries.is_empty()
    }

    /// End of the freshness of `key`'s start entry, if the instance has one.
    fn start_fresh_until(&self, c: &KeyedCache, key: u32) -> Option<Nanos> {
        let s = self.start?;
        let share = if s.together {
            1.0
        } else {
            // In (0, 1]: every start entry is fresh at the start.
            let h = mix64(s.salt ^ u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            ((h >> 11) as f64 + 1.0) / 9_007_199_254_740_992.0
        };
        Some(s.at.saturating_add(Nanos((c.ttl.0 as f64 * share) as u64)))
    }

    /// Forget the entries whose usable life is over by `now`.
    fn purge(&mut self, c: &KeyedCache, now: Nanos) {
        let stale = c.serve_stale.unwrap_or(Nanos::ZERO);
        while let Some(&(key, until)) = self.expiry.front() {
            if until.saturating_add(stale) > now {
                break;
            }
            self.expiry.pop_front();
            // A key filled again since keeps its newer entry.
            if self.entries.get(&key) == Some(&until) {
                self.entries.remove(&key);
            }
        }
        // Start entries all end within one usable life of the start.
        if let Some(s) = self.start {
            if now >= s.at.saturating_add(c.usable()) {
                self.start = None;
                self.invalidated.clear();
            }
        }
    }

    /// Look `key` up at `now`; `who` waits if the lookup is a [`Found::Wait`].
    pub(super) fn lookup(&mut self, c: &KeyedCache, now: Nanos, key: u32, who: W) -> Found {
        self.purge(c, now);
        let fresh_until = self.entries.get(&key).copied().or_else(|| {
            if self.invalidated.contains(&key) {
                None
            } else {
                self.start_fresh_until(c, key)
            }
        });
        let stale = c.serve_stale.unwrap_or(Nanos::ZERO);
        match fresh_until {
            Some(t) if now < t => Found::Hit,
            Some(t) if now < t.saturating_add(stale) => {
                let refresh = match self.flights.entry(key) {
                    Entry::Vacant(e) => {
                        e.insert(Vec::new());
                        true
                    }
                    Entry::Occupied(_) => false,
                };
                Found::Stale { refresh }
            }
            _ => {
                if !c.single_flight {
                    return Found::Miss { owner: false };
                }
                match self.flights.get_mut(&key) {
                    Some(waiters) => {
                        waiters.push(who);
                        Found::Wait
                    }
                    None => {
                        self.flights.insert(key, Vec::new());
                        Found::Miss { owner: true }
                    }
                }
            }
        }
    }

    /// Store `key`'s entry at `now`, fresh for the TTL. The owner of the key's fill in
    /// flight gets back the callers that waited for it.
    pub(super) fn fill(&mut self, c: &KeyedCache, now: Nanos, key: u32, owner: bool) -> Vec<W> {
        self.purge(c, now);
        let until = now.saturating_add(c.ttl);
        self.entries.insert(key, until);
        self.expiry.push_back((key, until));
        if owner {
            self.flights.remove(&key).unwrap_or_default()
        } else {
            Vec::new()
        }
    }

    /// The owner of `key`'s fill failed: the flight ends, and its waiters are returned
    /// (they get its error).
    pub(super) fn abandon(&mut self, key: u32) -> Vec<W> {
        self.flights.remove(&key).unwrap_or_default()
    }

    /// Delete `key`'s entry, fresh or not (a caller that took an error for a bad
    /// value); a fill in flight goes on and stores its entry when it ends.
    pub(super) fn invalidate(&mut self, key: u32) {
        self.entries.remove(&key);
        if self.start.is_some() {
            self.invalidated.insert(key);
        }
    }

    /// Empty the cache (an operator's flush): every entry goes; fills in flight go on
    /// and store their entries when they end.
    pub(super) fn flush(&mut self) {
        self.start = None;
        self.entries.clear();
        self.expiry.clear();
        self.invalidated.clear();
    }

    /// Entries stored since the start and not yet forgotten.
    #[cfg(test)]
    fn stored(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(keys: u32, ttl_s: u64, stale_s: Option<u64>, single_flight: bool) -> KeyedCache {
        KeyedCache {
            keys,
            popularity: Popularity::Uniform,
            ttl: Nanos::from_secs(ttl_s),
            serve_stale: stale_s.map(Nanos::from_secs),
            single_flight,
            invalidate_on_error: false,
            start: CacheStart::Cold,
        }
    }

    const fn s(x: u64) -> Nanos {
        Nanos::from_secs(x)
    }

    #[test]
    fn an_entry_is_fresh_for_its_ttl_then_misses() {
        let c = keyed(10, 60, None, false);
        let mut st: CacheState<u32> = CacheState::cold();
        assert_eq!(st.lookup(&c, s(0), 3, 0), Found::Miss { owner: false });
        assert!(st.fill(&c, s(1), 3, false).is_empty());
        assert_eq!(st.lookup(&c, s(60), 3, 0), Found::Hit);
        assert_eq!(st.lookup(&c, s(61), 3, 0), Found::Miss { owner: false });
        // The expired entry is forgotten: memory follows the entries alive.
        assert_eq!(st.stored(), 0);
    }

    #[test]
    fn single_flight_coalesces_misses_and_hands_back_the_waiters() {
        let c = keyed(10, 60, None, true);
        let mut st: CacheState<u32> = CacheState::cold();
        assert_eq!(st.lookup(&c, s(0), 1, 10), Found::Miss { owner: true });
        assert_eq!(st.lookup(&c, s(0), 1, 11), Found::Wait);
        assert_eq!(st.lookup(&c, s(0), 1, 12), Found::Wait);
        assert_eq!(st.lookup(&c, s(0), 2, 13), Found::Miss { owner: true });
        assert_eq!(st.fill(&c, s(1), 1, true), vec![11, 12]);
        assert_eq!(st.lookup(&c, s(2), 1, 14), Found::Hit);
        // A failed owner's waiters come back to get its error; the next miss fills.
        assert_eq!(st.lookup(&c, s(2), 2, 15), Found::Wait);
        assert_eq!(st.abandon(2), vec![15]);
        assert_eq!(st.lookup(&c, s(3), 2, 16), Found::Miss { owner: true });
    }

    #[test]
    fn serve_stale_serves_and_starts_one_refresh() {
        let c = keyed(10, 60, Some(30), false);
        let mut st: CacheState<u32> = CacheState::cold();
        st.fill(&c, s(0), 5, false);
        assert_eq!(st.lookup(&c, s(70), 5, 0), Found::Stale { refresh: true });
        assert_eq!(st.lookup(&c, s(71), 5, 0), Found::Stale { refresh: false });
        assert!(st.fill(&c, s(72), 5, true).is_empty());
        assert_eq!(st.lookup(&c, s(73), 5, 0), Found::Hit);
        // Past the stale window it is a miss.
        assert_eq!(
            st.lookup(&c, s(72 + 60 + 30), 5, 0),
            Found::Miss { owner: false }
        );
    }

    #[test]
    fn start_entries_spread_or_together_and_a_flush_empties() {
        let c = keyed(1000, 60, None, false);
        let mut together: CacheState<u32> = CacheState::started(CacheStart::Together, s(0), 7);
        assert!((0..1000).all(|k| together.lookup(&c, s(59), k, 0) == Found::Hit));
        assert!((0..1000).all(|k| together.lookup(&c, s(60), k, 0) != Found::Hit));
        let mut steady: CacheState<u32> = CacheState::started(CacheStart::Steady, s(0), 7);
        let fresh_at_30 = (0..1000)
            .filter(|&k| steady.lookup(&c, s(30), k, 0) == Found::Hit)
            .count();
        assert!((400..600).contains(&fresh_at_30), "{fresh_at_30}");
        steady.flush();
        assert!(!steady.holds_entries());
        assert_eq!(steady.lookup(&c, s(31), 1, 0), Found::Miss { owner: false });
    }

    #[test]
    fn invalidating_deletes_a_fresh_entry_and_a_start_entry() {
        let c = keyed(10, 60, None, false);
        let mut st: CacheState<u32> = CacheState::started(CacheStart::Together, s(0), 7);
        st.fill(&c, s(1), 3, false);
        assert_eq!(st.lookup(&c, s(2), 3, 0), Found::Hit);
        st.invalidate(3);
        assert_eq!(st.lookup(&c, s(2), 3, 0), Found::Miss { owner: false });
        // A key never filled since the start: its start entry goes.
        assert_eq!(st.lookup(&c, s(2), 4, 0), Found::Hit);
        st.invalidate(4);
        assert_eq!(st.lookup(&c, s(2), 4, 0), Found::Miss { owner: false });
        assert_eq!(st.lookup(&c, s(2), 5, 0), Found::Hit);
        // The next fill stores it again.
        st.fill(&c, s(3), 4, false);
        assert_eq!(st.lookup(&c, s(4), 4, 0), Found::Hit);
    }

    /// Zipf draws against the law's probabilities: for each rank, the count lies
    /// within 5 standard deviations of n p_k.
    #[test]
    fn zipf_draws_follow_the_law() {
        for (n, exponent) in [(10u32, 1.0f64), (50, 0.7), (5, 2.5), (1, 1.0)] {
            let z = Zipf::new(n, exponent);
            let mut rng = SimRng::stream(1, "zipf");
            let draws = 200_000u32;
            let mut counts = vec![0u32; n as usize];
            for _ in 0..draws {
                let k = z.sample(&mut rng);
                assert!((1..=n).contains(&k));
                counts[(k - 1) as usize] += 1;
            }
            let norm: f64 = (1..=n).map(|k| f64::from(k).powf(-exponent)).sum();
            for (i, &got) in counts.iter().enumerate() {
                let p = f64::from(i as u32 + 1).powf(-exponent) / norm;
                let mean = f64::from(draws) * p;
                let sd = (mean * (1.0 - p)).sqrt().max(1.0);
                assert!(
                    (f64::from(got) - mean).abs() <= 5.0 * sd,
                    "n {n} s {exponent} rank {}: {got} vs {mean:.0}",
                    i + 1
                );
            }
        }
    }
}
