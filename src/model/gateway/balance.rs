//! Load-balancing policies other than nginx's round-robin ([`super::nginx`]), as pure
//! state machines over peers that are replica indices, with the shape of
//! [`RoundRobin`]: `set_peers`, `select`, and hooks for what happened to an attempt.
//! Every peer has weight 1 (the file format has no weights), which the rules below use.
//!
//! nginx 1.22.1 (`release-1.22.1`), all balancers sharing the round-robin peer state
//! ([`PassiveHealth`]: `max_fails`, `fail_timeout`, effective weights) and the
//! `tried` exclusion of `ngx_http_upstream_round_robin.c`:
//! - [`LeastConn`], `least_conn` (`ngx_http_upstream_least_conn_module.c`,
//!   `ngx_http_upstream_get_least_conn_peer`): among the peers neither tried by this
//!   request nor marked failed, the fewest `conns`; when several tie, smooth weighted
//!   round-robin among the tied ones only (each adds its effective weight to its current
//!   weight, the highest wins, the first in the list on a tie, and gives back the total);
//!   a peer alone at the minimum wins with no weight touched.
//! - [`NginxRandom`], `random` and `random two least_conn`
//!   (`ngx_http_upstream_random_module.c`, `ngx_http_upstream_get_random_peer`,
//!   `ngx_http_upstream_get_random2_peer`, `ngx_http_upstream_peek_random_peer`): uniform
//!   draws over every listed peer, redrawn while the draw is tried or marked; `two`
//!   keeps the first acceptable draw, redraws until a second, different, acceptable one,
//!   and takes the one with fewer `conns` (the second on a tie). Every redraw, and
//!   under `two` the first acceptable draw too, counts against a budget of 20 per
//!   *request* (`rp->tries`, zeroed in `ngx_http_upstream_init_random_peer` only);
//!   past it, and for a single server, the round-robin of the same peers decides.
//!
//! Envoy (`source/extensions/load_balancing_policies/`, equal weights, one priority, no
//! zone-aware routing; health, panic mode and outlier detection decide the host list
//! and are not modelled here):
//! - [`EnvoyRoundRobin`] (`round_robin/round_robin_lb.h`, `unweightedHostPick`):
//!   `hosts[rr_index++ % n]`, the index starting at a random 64-bit `seed_`
//!   (`EdfLoadBalancerBase`'s constructor) and kept when the hosts change
//!   (`refreshHostSource` inserts, never overwrites).
//! - [`EnvoyLeastRequest`] (`least_request/least_request_lb.cc`,
//!   `unweightedHostPickNChoices`): `choice_count` (default 2) uniform draws with
//!   replacement; a later draw replaces the candidate only with strictly fewer active
//!   requests, so a tie keeps the first.
//! - [`EnvoyRandom`] (`random/random_lb.cc`, `peekOrChoose`): `hosts[random % n]`.
//! - For all three, `LoadBalancerBase::chooseHost` (`common/load_balancer_impl.cc`):
//!   a host the retry's host predicate rejects (`previous_hosts`: already tried) is
//!   redrawn, up to `host_selection_retry_max_attempts` more times (default 1), then the
//!   last draw is used anyway. The router asks only on retries
//!   (`shouldSelectAnotherHost`, `router.h`). Envoy never answers "no host" because of
//!   earlier tries; only an empty host list does (503 UH).
//!
//! Every selection costs O(log peers + tries) or less, whatever the number of peers:
//! round-robin and random draws are O(1) (plus the `tried` checks); `least_conn` keeps
//! its eligible peers in an ordered set by (conns, current weight, position) with
//! per-`conns` round counters, so a tie among hundreds of idle peers is resolved
//! without visiting them.

use std::cmp::Reverse;
use std::collections::{BTreeSet, VecDeque};

use super::nginx::RoundRobin;
use crate::engine::{Nanos, SimRng};

/// Whole seconds of simulated time, as `ngx_time()` sees it.
pub(super) fn seconds(now: Nanos) -> i64 {
    (now.0 / 1_000_000_000) as i64
}

/// How many tries an nginx request gets: one per peer (`peer.tries`), capped by
/// `proxy_next_upstream_tries` (0: no cap); one alone is never retried.
pub(super) fn nginx_tries(peers: usize, next_upstream_tries: u32) -> u32 {
    let n = u32::try_from(peers).unwrap_or(u32::MAX);
    if n <= 1 {
        n
    } else if next_upstream_tries > 0 {
        n.min(next_upstream_tries)
    } else {
        n
    }
}

// ---------------------------------------------------------------------------------
// nginx: the peer state every balancer shares.

/// `checked` and `accessed` start in the distant past, as nginx's zeroed peers do
/// (`ngx_time()` counts from 1970).
const LONG_AGO_S: i64 = -(1 << 40);

#[derive(Debug, Clone)]
struct Health {
    fails: u32,
    accessed_s: i64,
    checked_s: i64,
    /// effective_weight is 0 (a failure under `max_fails 1`) instead of 1.
    weight_lowered: bool,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            fails: 0,
            accessed_s: LONG_AGO_S,
            checked_s: LONG_AGO_S,
            weight_lowered: false,
        }
    }
}

/// nginx's passive health checks: the `fails`, `accessed`, `checked` and
/// `effective_weight` of `ngx_http_upstream_rr_peer_t`, as every get-peer function
/// reads them and `ngx_http_upstream_free_round_robin_peer` writes them, for the
/// round-robin, least_conn and random balancers alike. Each balancer keeps its own
/// index of the peers it may choose; this state tells it when a peer leaves that
/// index (marked failed) or may rejoin it (its `fail_timeout` passed, or a probe
/// succeeded). Shared rather than copied so that the rules exist once.
///
/// - a peer is marked when `max_fails > 0`, `fails >= max_fails` and
///   `now - checked <= fail_timeout` (whole seconds);
/// - a failure: `fails++`, `accessed = checked = now`, effective weight lowered by
///   `weight / max_fails` (with weight 1: to 0 under `max_fails 1` only);
/// - a success resets `fails` only when `accessed < checked`;
/// - choosing a peer whose `fail_timeout` has passed sets `checked = now`.
#[derive(Debug, Clone)]
pub(super) struct PassiveHealth {
    max_fails: u32,
    fail_timeout_s: i64,
    /// Per replica index.
    peers: Vec<Health>,
    /// Peers marked failed, in order of `checked` (non-decreasing): each may be
    /// considered again once `now - checked > fail_timeout`. Stale entries (the peer
    /// was marked again since) are skipped.
    marked: VecDeque<(i64, usize)>,
}

/// What counting a failure did.
#[derive(Debug, Clone, Copy)]
pub(super) struct Counted {
    /// The effective weight went from 1 to 0.
    pub(super) weight_lowered: bool,
    /// The peer is marked failed now: its balancer must stop considering it.
    pub(super) marked: bool,
}

impl PassiveHealth {
    pub(super) fn new(max_fails: u32, fail_timeout: Nanos) -> PassiveHealth {
        PassiveHealth {
            max_fails,
            // nginx reads fail_timeout in whole seconds.
            fail_timeout_s: seconds(fail_timeout),
            peers: Vec::new(),
            marked: VecDeque::new(),
        }
    }

    fn health_mut(&mut self, r: usize) -> &mut Health {
        if self.peers.len() <= r {
            self.peers.resize(r + 1, Health::default());
        }
        &mut self.peers[r]
    }

    /// `max_fails` failures and `fail_timeout` not passed since `checked`.
    pub(super) fn is_marked(&self, r: usize, now_s: i64) -> bool {
        self.peers.get(r).is_some_and(|p| {
            self.max_fails > 0
                && p.fails >= self.max_fails
                && now_s.saturating_sub(p.checked_s) <= self.fail_timeout_s
        })
    }

    /// The effective weight of `r` is 0.
    pub(super) fn weight_lowered(&self, r: usize) -> bool {
        self.peers.get(r).is_some_and(|p| p.weight_lowered)
    }

    /// `effective_weight++` toward the weight, done for every peer considered in a
    /// smooth weighted round.
    pub(super) fn restore_weight(&mut self, r: usize) {
        if let Some(p) = self.peers.get_mut(r) {
            p.weight_lowered = false;
        }
    }

    /// `r` was chosen: its `checked` moves to now when `fail_timeout` has passed (the
    /// probe). True when it is marked still (a probe under way): its balancer must stop
    /// considering it until the next `fail_timeout` has passed.
    pub(super) fn picked(&mut self, r: usize, now_s: i64) -> bool {
        let fail_timeout_s = self.fail_timeout_s;
        let p = self.health_mut(r);
        if now_s.saturating_sub(p.checked_s) > fail_timeout_s {
            p.checked_s = now_s;
        }
        let checked = p.checked_s;
        let marked = self.is_marked(r, now_s);
        if marked {
            self.marked.push_back((checked, r));
        }
        marked
    }

    /// The attempt on `r` failed (`NGX_PEER_FAILED`).
    pub(super) fn failed(&mut self, r: usize, now_s: i64) -> Counted {
        let max_fails = self.max_fails;
        let p = self.health_mut(r);
        p.fails = p.fails.saturating_add(1);
        p.accessed_s = now_s;
        p.checked_s = now_s;
        // effective_weight -= weight / max_fails: with weight 1, only max_fails 1 bites.
        let weight_lowered = max_fails == 1 && !p.weight_lowered;
        if weight_lowered {
            p.weight_lowered = true;
        }
        let marked = max_fails > 0 && p.fails >= max_fails;
        if marked {
            self.marked.push_back((now_s, r));
        }
        Counted {
            weight_lowered,
            marked,
        }
    }

    /// The attempt on `r` ended without failing. True when that reset its `fails` (a
    /// successful probe): its balancer may consider it again.
    pub(super) fn succeeded(&mut self, r: usize) -> bool {
        let p = self.health_mut(r);
        let reset = p.accessed_s < p.checked_s;
        if reset {
            p.fails = 0;
        }
        reset
    }

    /// The next marked peer whose `fail_timeout` has passed by `now_s`, if any; its
    /// balancer considers it again (when it is listed and not considered already).
    pub(super) fn next_awake(&mut self, now_s: i64) -> Option<usize> {
        while let Some(&(checked, r)) = self.marked.front() {
            if now_s.saturating_sub(checked) <= self.fail_timeout_s {
                return None;
            }
            self.marked.pop_front();
            // Stale: marked again since (a later entry follows).
            if self.peers.get(r).is_some_and(|p| p.checked_s == checked) {
                return Some(r);
            }
        }
        None
    }

    /// The listed peers changed: only their marks are waited on from now on. The
    /// caller considers every listed peer that `is_marked` denies.
    pub(super) fn relist(&mut self, listed: &[usize], now_s: i64) {
        self.marked.clear();
        let mut marked: Vec<(i64, usize)> = listed
            .iter()
            .filter(|&&r| self.is_marked(r, now_s))
            .map(|&r| (self.peers[r].checked_s, r))
            .collect();
        marked.sort_unstable();
        self.marked.extend(marked);
    }
}

// ---------------------------------------------------------------------------------
// nginx least_conn.

#[derive(Debug, Clone, Default)]
struct LeastConnPeer {
    /// Attempts under way on this peer (`conns`).
    conns: u32,
    /// For a ranked peer, current_weight = `base` + its conns level's `rounds`; for any
    /// other, `base` holds its current_weight, frozen.
    base: i64,
    /// Position in the configured list, None when not listed.
    position: Option<u32>,
    /// Considered in selections (listed and not marked failed).
    ranked: bool,
}

/// The ranked peers with one number of `conns`.
#[derive(Debug, Clone, Copy, Default)]
struct Level {
    /// How many.
    ranked: usize,
    /// Tie-break rounds this level took part in: each added 1 to the current weight of
    /// every peer in it.
    rounds: i64,
}

/// nginx's `least_conn` state of one upstream group. Peers are replica indices.
#[derive(Debug, Clone)]
pub(in crate::model) struct LeastConn {
    health: PassiveHealth,
    /// Listed peers in configuration order.
    peers: Vec<usize>,
    /// Per replica index, listed or not (state survives leaving and rejoining).
    state: Vec<LeastConnPeer>,
    /// Ranked peers by (conns, current weight descending, position).
    ranked: BTreeSet<(u32, Reverse<i64>, u32)>,
    /// Per conns value.
    levels: Vec<Level>,
    /// Ranked peers whose effective weight is 0, by (conns, position).
    lowered: BTreeSet<(u32, u32)>,
}

impl LeastConn {
    /// An upstream group with no peers yet.
    pub(in crate::model) fn new(max_fails: u32, fail_timeout: Nanos) -> LeastConn {
        LeastConn {
            health: PassiveHealth::new(max_fails, fail_timeout),
            peers: Vec::new(),
            state: Vec::new(),
            ranked: BTreeSet::new(),
            levels: Vec::new(),
            lowered: BTreeSet::new(),
        }
    }

    /// How many tries a request gets, as with round-robin (`least_conn` initialises
    /// its requests with `ngx_http_upstream_init_round_robin_peer`).
    pub(in crate::model) fn tries(&self, next_upstream_tries: u32) -> u32 {
        nginx_tries(self.peers.len(), next_upstream_tries)
    }

    fn single(&self) -> bool {
        self.peers.len() == 1
    }

    fn peer_mut(&mut self, r: usize) -> &mut LeastConnPeer {
        if self.state.len() <= r {
            self.state.resize(r + 1, LeastConnPeer::default());
        }
        &mut self.state[r]
    }

    fn level_mut(&mut self, conns: u32) -> &mut Level {
        let i = conns as usize;
        if self.levels.len() <= i {
            self.levels.resize(i + 1, Level::default());
        }
        &mut self.levels[i]
    }

    fn is_ranked(&self, r: usize) -> bool {
        self.state.get(r).is_some_and(|p| p.ranked)
    }

    fn rank(&mut self, r: usize) {
        let lowered = self.health.weight_lowered(r);
        let p = self.peer_mut(r);
        let (Some(pos), false) = (p.position, p.ranked) else {
            return;
        };
        let conns = p.conns;
        let level = self.level_mut(conns);
        level.ranked += 1;
        let rounds = level.rounds;
        let p = &mut self.state[r];
        p.ranked = true;
        p.base -= rounds;
        self.ranked.insert((conns, Reverse(p.base), pos));
        if lowered {
            self.lowered.insert((conns, pos));
        }
    }

    fn unrank(&mut self, r: usize) {
        let Some(p) = self.state.get_mut(r) else {
            return;
        };
        let (Some(pos), true) = (p.position, p.ranked) else {
            return;
        };
        p.ranked = false;
        let (conns, base) = (p.conns, p.base);
        self.ranked.remove(&(conns, Reverse(base), pos));
        self.lowered.remove(&(conns, pos));
        let level = self.level_mut(conns);
        level.ranked -= 1;
        let rounds = level.rounds;
        self.state[r].base += rounds;
    }

    /// Move a ranked peer's current weight by `delta`.
    fn shift(&mut self, r: usize, delta: i64) {
        let p = &mut self.state[r];
        let Some(pos) = p.position else {
            return;
        };
        self.ranked.remove(&(p.conns, Reverse(p.base), pos));
        p.base += delta;
        self.ranked.insert((p.conns, Reverse(p.base), pos));
    }

    fn wake(&mut self, now_s: i64) {
        while let Some(r) = self.health.next_awake(now_s) {
            self.rank(r);
        }
    }

    /// Replace the listed peers (endpoints changed), keeping each peer's state.
    pub(in crate::model) fn set_peers(&mut self, peers: Vec<usize>, now: Nanos) {
        let now_s = seconds(now);
        for r in std::mem::take(&mut self.peers) {
            self.unrank(r);
            self.state[r].position = None;
        }
        for (i, &r) in peers.iter().enumerate() {
            self.peer_mut(r).position = Some(i as u32);
        }
        self.health.relist(&peers, now_s);
        self.peers = peers;
        for i in 0..self.peers.len() {
            let r = self.peers[i];
            if !self.health.is_marked(r, now_s) {
                self.rank(r);
            }
        }
    }

    /// Choose the peer for a request that already tried `tried`, or None: "no live
    /// upstreams". The caller then reports `started(peer)`: nginx counts the
    /// connection as it chooses the peer.
    pub(in crate::model) fn select(&mut self, tried: &[usize], now: Nanos) -> Option<usize> {
        if self.single() {
            // peers->single: ngx_http_upstream_get_round_robin_peer, which checks only
            // `down`; a single server is never retried.
            let only = self.peers[0];
            return (!tried.contains(&only)).then_some(only);
        }
        let now_s = seconds(now);
        self.wake(now_s);
        // Tried peers neither compete nor take part in the tie-break round: out of the
        // index for the time of this selection.
        let mut skipped = Vec::new();
        for &r in tried {
            if self.is_ranked(r) {
                self.unrank(r);
                skipped.push(r);
            }
        }
        let chosen = self.least();
        for r in skipped {
            self.rank(r);
        }
        let winner = chosen?;
        if self.health.picked(winner, now_s) {
            self.unrank(winner);
        }
        Some(winner)
    }

    /// The ranked peer with the fewest conns; on a tie, smooth weighted round-robin
    /// among the tied peers.
    fn least(&mut self) -> Option<usize> {
        let &(conns, _, pos) = self.ranked.first()?;
        let tied = self.level_mut(conns).ranked;
        if tied == 1 {
            // Not `many`: no weight is touched (`best->current_weight -= 0`).
            return self.peers.get(pos as usize).copied();
        }
        // Every tied peer adds its effective weight: 1, through the level's counter;
        // the lowered ones add 0 and get their weight back.
        self.level_mut(conns).rounds += 1;
        let mut total = tied as i64;
        let restored: Vec<u32> = self
            .lowered
            .range((conns, 0)..=(conns, u32::MAX))
            .map(|&(_, p)| p)
            .collect();
        for p in restored {
            self.lowered.remove(&(conns, p));
            let r = self.peers[p as usize];
            self.shift(r, -1);
            self.health.restore_weight(r);
            total -= 1;
        }
        // Still at `conns`: the highest current weight, the first listed on a tie.
        let &(_, _, best) = self.ranked.first()?;
        let winner = *self.peers.get(best as usize)?;
        self.shift(winner, -total);
        Some(winner)
    }

    /// An attempt on `r` begins (`conns++`).
    pub(in crate::model) fn started(&mut self, r: usize) {
        let ranked = self.is_ranked(r);
        self.unrank(r);
        let p = self.peer_mut(r);
        p.conns = p.conns.saturating_add(1);
        if ranked {
            self.rank(r);
        }
    }

    /// An attempt on `r` ended, whichever way (`conns--` in
    /// `ngx_http_upstream_free_round_robin_peer`).
    pub(in crate::model) fn finished(&mut self, r: usize) {
        let ranked = self.is_ranked(r);
        self.unrank(r);
        let p = self.peer_mut(r);
        p.conns = p.conns.saturating_sub(1);
        if ranked {
            self.rank(r);
        }
    }

    /// The attempt on `r` failed (error or timeout): `NGX_PEER_FAILED`.
    pub(in crate::model) fn failed(&mut self, r: usize, now: Nanos) {
        if self.single() && self.peers[0] == r {
            return;
        }
        let counted = self.health.failed(r, seconds(now));
        if self.is_ranked(r) {
            // Out, and back in unless marked: `rank` files a lowered weight.
            self.unrank(r);
            if !counted.marked {
                self.rank(r);
            }
        }
    }

    /// The attempt on `r` ended without failing (any answer, or the client left).
    pub(in crate::model) fn succeeded(&mut self, r: usize) {
        if self.single() && self.peers[0] == r {
            return;
        }
        if self.health.succeeded(r) {
            self.rank(r);
        }
    }
}

// ---------------------------------------------------------------------------------
// nginx random, random two least_conn.

/// Failed draws a request may make before round-robin decides (`rp->tries > 20`).
const RANDOM_DRAWS: u32 = 20;

/// nginx's `random` (or `random two least_conn`, when `two`) state of one upstream
/// group. Peers are replica indices.
#[derive(Debug, Clone)]
pub(in crate::model) struct NginxRandom {
    /// The same peers under round-robin: their marks, their weights, and the choice
    /// once a request has used its draws.
    rr: RoundRobin,
    two: bool,
    /// Attempts under way per replica index (`conns`), which `two` compares.
    conns: Vec<u32>,
}

impl NginxRandom {
    /// An upstream group with no peers yet; `two`: `random two [least_conn]`.
    pub(in crate::model) fn new(two: bool, max_fails: u32, fail_timeout: Nanos) -> NginxRandom {
        NginxRandom {
            rr: RoundRobin::new(max_fails, fail_timeout),
            two,
            conns: Vec::new(),
        }
    }

    /// How many tries a request gets, as with round-robin.
    pub(in crate::model) fn tries(&self, next_upstream_tries: u32) -> u32 {
        self.rr.tries(next_upstream_tries)
    }

    /// Replace the listed peers (endpoints changed), keeping each peer's state.
    pub(in crate::model) fn set_peers(&mut self, peers: Vec<usize>, now: Nanos) {
        self.rr.set_peers(peers, now);
    }

    fn conns(&self, r: usize) -> u32 {
        self.conns.get(r).copied().unwrap_or(0)
    }

    /// Choose the peer for a request that already tried `tried`, or None: "no live
    /// upstreams". `draws` is the request's count of failed draws (`rp->tries`): 0
    /// for a new request, kept by the caller across the request's tries. The caller
    /// then reports `started(peer)`.
    pub(in crate::model) fn select(
        &mut self,
        tried: &[usize],
        draws: &mut u32,
        now: Nanos,
        rng: &mut SimRng,
    ) -> Option<usize> {
        let n = self.rr.peers().len();
        if *draws > RANDOM_DRAWS || n <= 1 {
            return self.rr.select(tried, now);
        }
        let now_s = seconds(now);
        // Keep the round-robin index current (and its queue of marks short).
        self.rr.wake(now_s);
        let mut first: Option<usize> = None;
        let chosen = loop {
            let r = self.rr.peers()[rng.below(n)];
            let acceptable = first != Some(r) && !tried.contains(&r) && self.rr.available(r, now_s);
            if acceptable {
                match first {
                    None if self.two => first = Some(r),
                    None => break r,
                    // Fewer conns wins; a tie goes to this, the second, draw.
                    Some(f) => break if self.conns(r) > self.conns(f) { f } else { r },
                }
            }
            *draws += 1;
            if *draws > RANDOM_DRAWS {
                return self.rr.select(tried, now);
            }
        };
        self.rr.picked(chosen, now_s);
        Some(chosen)
    }

    /// An attempt on `r` begins (`conns++`).
    pub(in crate::model) fn started(&mut self, r: usize) {
        if self.conns.len() <= r {
            self.conns.resize(r + 1, 0);
        }
        self.conns[r] = self.conns[r].saturating_add(1);
    }

    /// An attempt on `r` ended, whichever way (`conns--`).
    pub(in crate::model) fn finished(&mut self, r: usize) {
        if let Some(c) = self.conns.get_mut(r) {
            *c = c.saturating_sub(1);
        }
    }

    /// The attempt on `r` failed (error or timeout): `NGX_PEER_FAILED`.
    pub(in crate::model) fn failed(&mut self, r: usize, now: Nanos) {
        self.rr.failed(r, now);
    }

    /// The attempt on `r` ended without failing.
    pub(in crate::model) fn succeeded(&mut self, r: usize) {
        self.rr.succeeded(r);
    }
}

// ---------------------------------------------------------------------------------
// Envoy.

/// `LoadBalancerBase::chooseHost`: draw with `once`; while the draw is a host this
/// request tried and `reselects` remain, draw again; the last draw stands.
fn choose_host(
    tried: &[usize],
    reselects: u32,
    mut once: impl FnMut() -> Option<usize>,
) -> Option<usize> {
    let mut host = None;
    for _ in 0..=reselects {
        host = once();
        match host {
            Some(h) if tried.contains(&h) => continue,
            _ => return host,
        }
    }
    host
}

/// Envoy's `round_robin` with equal weights. Hosts are replica indices.
#[derive(Debug, Clone)]
pub(in crate::model) struct EnvoyRoundRobin {
    hosts: Vec<usize>,
    /// `rr_index`: starts at the load balancer's random `seed_`, wraps at 2^64.
    index: u64,
}

impl EnvoyRoundRobin {
    /// A load balancer with no hosts yet; its starting index is one draw from `rng`, as
    /// Envoy seeds each worker's load balancer with `random()`.
    pub(in crate::model) fn new(rng: &mut SimRng) -> EnvoyRoundRobin {
        EnvoyRoundRobin {
            hosts: Vec::new(),
            index: rng.next_u64(),
        }
    }

    /// Replace the hosts to choose from (healthy ones, or all in panic mode); the index
    /// carries on.
    pub(in crate::model) fn set_peers(&mut self, hosts: Vec<usize>) {
        self.hosts = hosts;
    }

    /// Choose a host, or None when there is none (503 UH). `tried`: the hosts a retry
    /// should avoid (`previous_hosts` predicate; empty without one, and on a first
    /// attempt); `reselects`: `host_selection_retry_max_attempts` (default 1).
    pub(in crate::model) fn select(&mut self, tried: &[usize], reselects: u32) -> Option<usize> {
        let hosts = &self.hosts;
        let index = &mut self.index;
        choose_host(tried, reselects, || {
            let n = hosts.len() as u64;
            if n == 0 {
                return None;
            }
            let h = hosts[(*index % n) as usize];
            *index = index.wrapping_add(1);
            Some(h)
        })
    }
}

/// Envoy's `least_request` with equal weights, `N_CHOICES` selection. Hosts are
/// replica indices.
#[derive(Debug, Clone)]
pub(in crate::model) struct EnvoyLeastRequest {
    hosts: Vec<usize>,
    choice_count: u32,
    /// `rq_active` per replica index.
    active: Vec<u32>,
}

impl EnvoyLeastRequest {
    /// A load balancer with no hosts yet, drawing `choice_count` hosts per pick (Envoy's
    /// default 2; its configuration refuses fewer than 2).
    pub(in crate::model) fn new(choice_count: u32) -> EnvoyLeastRequest {
        EnvoyLeastRequest {
            hosts: Vec::new(),
            choice_count: choice_count.max(1),
            active: Vec::new(),
        }
    }

    /// Replace the hosts to choose from.
    pub(in crate::model) fn set_peers(&mut self, hosts: Vec<usize>) {
        self.hosts = hosts;
    }

    fn active(&self, r: usize) -> u32 {
        self.active.get(r).copied().unwrap_or(0)
    }

    /// Choose a host, or None when there is none; `tried` and `reselects` as for
    /// [`EnvoyRoundRobin::select`].
    pub(in crate::model) fn select(
        &self,
        tried: &[usize],
        reselects: u32,
        rng: &mut SimRng,
    ) -> Option<usize> {
        let this = self;
        choose_host(tried, reselects, || {
            let n = this.hosts.len();
            if n == 0 {
                return None;
            }
            let mut candidate = this.hosts[rng.below(n)];
            for _ in 1..this.choice_count {
                let sampled = this.hosts[rng.below(n)];
                // Strictly fewer: a tie keeps the earlier draw.
                if this.active(sampled) < this.active(candidate) {
                    candidate = sampled;
                }
            }
            Some(candidate)
        })
    }

    /// A request on `r` becomes active (`rq_active++`: attached to an upstream
    /// connection; requests pending a connection do not count).
    pub(in crate::model) fn started(&mut self, r: usize) {
        if self.active.len() <= r {
            self.active.resize(r + 1, 0);
        }
        self.active[r] = self.active[r].saturating_add(1);
    }

    /// A request on `r` ended, whichever way (`rq_active--`).
    pub(in crate::model) fn finished(&mut self, r: usize) {
        if let Some(a) = self.active.get_mut(r) {
            *a = a.saturating_sub(1);
        }
    }
}

/// Envoy's `random`. Hosts are replica indices.
#[derive(Debug, Clone, Default)]
pub(in crate::model) struct EnvoyRandom {
    hosts: Vec<usize>,
}

impl EnvoyRandom {
    /// A load balancer with no hosts yet.
    pub(in crate::model) fn new() -> EnvoyRandom {
        EnvoyRandom::default()
    }

    /// Replace the hosts to choose from.
    pub(in crate::model) fn set_peers(&mut self, hosts: Vec<usize>) {
        self.hosts = hosts;
    }

    /// Choose a host, or None when there is none; `tried` and `reselects` as for
    /// [`EnvoyRoundRobin::select`].
    pub(in crate::model) fn select(
        &self,
        tried: &[usize],
        reselects: u32,
        rng: &mut SimRng,
    ) -> Option<usize> {
        let hosts = &self.hosts;
        choose_host(tried, reselects, || {
            (!hosts.is_empty()).then(|| hosts[rng.below(hosts.len())])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: usize = 0;
    const B: usize = 1;
    const C: usize = 2;

    fn at(s: f64) -> Nanos {
        Nanos::from_secs_f64(s)
    }

    /// `count` of `n` trials is within four standard errors of share `p`.
    fn assert_share(count: usize, n: usize, p: f64, what: &str) {
        let share = count as f64 / n as f64;
        let se = (p * (1.0 - p) / n as f64).sqrt();
        assert!(
            (share - p).abs() <= 4.0 * se,
            "{what}: share {share:.4}, expected {p:.4} +- {:.4}",
            4.0 * se
        );
    }

    // -----------------------------------------------------------------------------
    // The nginx C loops, transcribed literally (O(peers) per selection): the reference
    // the indexed balancers must agree with, choice for choice.

    #[derive(Clone)]
    struct RefPeer {
        current_weight: i64,
        effective_weight: i64,
        fails: u32,
        accessed: i64,
        checked: i64,
        conns: i64,
    }

    impl Default for RefPeer {
        fn default() -> Self {
            RefPeer {
                current_weight: 0,
                effective_weight: 1,
                fails: 0,
                accessed: LONG_AGO_S,
                checked: LONG_AGO_S,
                conns: 0,
            }
        }
    }

    struct Reference {
        least_conn: bool,
        max_fails: u32,
        fail_timeout: i64,
        list: Vec<usize>,
        peer: Vec<RefPeer>,
    }

    impl Reference {
        fn new(least_conn: bool, max_fails: u32, fail_timeout_s: u64, replicas: usize) -> Self {
            Reference {
                least_conn,
                max_fails,
                fail_timeout: fail_timeout_s as i64,
                list: Vec::new(),
                peer: vec![RefPeer::default(); replicas],
            }
        }

        fn skip(&self, r: usize, tried: &[usize], now: i64) -> bool {
            let p = &self.peer[r];
            tried.contains(&r)
                || (self.max_fails > 0
                    && p.fails >= self.max_fails
                    && now - p.checked <= self.fail_timeout)
        }

        /// `ngx_http_upstream_get_peer` (round robin).
        fn get_rr(&mut self, tried: &[usize], now: i64) -> Option<usize> {
            let mut best: Option<usize> = None;
            let mut total = 0;
            for &r in &self.list.clone() {
                if self.skip(r, tried, now) {
                    continue;
                }
                let p = &mut self.peer[r];
                p.current_weight += p.effective_weight;
                total += p.effective_weight;
                if p.effective_weight < 1 {
                    p.effective_weight += 1;
                }
                let current = p.current_weight;
                if best.is_none_or(|b| current > self.peer[b].current_weight) {
                    best = Some(r);
                }
            }
            let best = best?;
            self.peer[best].current_weight -= total;
            Some(best)
        }

        /// `ngx_http_upstream_get_least_conn_peer`.
        fn get_least_conn(&mut self, tried: &[usize], now: i64) -> Option<usize> {
            let list = self.list.clone();
            let (mut best, mut many, mut p) = (None::<usize>, false, 0);
            for (i, &r) in list.iter().enumerate() {
                if self.skip(r, tried, now) {
                    continue;
                }
                match best {
                    Some(b) if self.peer[r].conns > self.peer[b].conns => {}
                    Some(b) if self.peer[r].conns == self.peer[b].conns => many = true,
                    _ => (best, many, p) = (Some(r), false, i),
                }
            }
            let mut best = best?;
            let mut total = 0;
            if many {
                let conns = self.peer[best].conns;
                for &r in &list[p..] {
                    if self.skip(r, tried, now) || self.peer[r].conns != conns {
                        continue;
                    }
                    let q = &mut self.peer[r];
                    q.current_weight += q.effective_weight;
                    total += q.effective_weight;
                    if q.effective_weight < 1 {
                        q.effective_weight += 1;
                    }
                    if q.current_weight > self.peer[best].current_weight {
                        best = r;
                    }
                }
            }
            self.peer[best].current_weight -= total;
            Some(best)
        }

        fn select(&mut self, tried: &[usize], now: Nanos) -> Option<usize> {
            if self.list.len() == 1 {
                let only = self.list[0];
                return (!tried.contains(&only)).then_some(only);
            }
            let now = seconds(now);
            let best = if self.least_conn {
                self.get_least_conn(tried, now)
            } else {
                self.get_rr(tried, now)
            }?;
            let p = &mut self.peer[best];
            if now - p.checked > self.fail_timeout {
                p.checked = now;
            }
            Some(best)
        }

        /// `ngx_http_upstream_free_round_robin_peer`, less `conns--`.
        fn free(&mut self, r: usize, failed: bool, now: Nanos) {
            if self.list == [r] {
                return;
            }
            let now = seconds(now);
            let max_fails = self.max_fails;
            let p = &mut self.peer[r];
            if failed {
                p.fails += 1;
                p.accessed = now;
                p.checked = now;
                if max_fails > 0 {
                    p.effective_weight -= 1 / i64::from(max_fails);
                }
                p.effective_weight = p.effective_weight.max(0);
            } else if p.accessed < p.checked {
                p.fails = 0;
            }
        }
    }

    /// One interface over the balancers under test and the reference.
    trait Group {
        fn set_peers(&mut self, peers: Vec<usize>, now: Nanos);
        fn tries(&self) -> u32;
        fn select(&mut self, tried: &[usize], now: Nanos) -> Option<usize>;
        fn started(&mut self, r: usize);
        fn finished(&mut self, r: usize);
        fn failed(&mut self, r: usize, now: Nanos);
        fn succeeded(&mut self, r: usize);
    }

    impl Group for Reference {
        fn set_peers(&mut self, peers: Vec<usize>, _now: Nanos) {
            self.list = peers;
        }
        fn tries(&self) -> u32 {
            nginx_tries(self.list.len(), 0)
        }
        fn select(&mut self, tried: &[usize], now: Nanos) -> Option<usize> {
            Reference::select(self, tried, now)
        }
        fn started(&mut self, r: usize) {
            self.peer[r].conns += 1;
        }
        fn finished(&mut self, r: usize) {
            self.peer[r].conns -= 1;
        }
        fn failed(&mut self, r: usize, now: Nanos) {
            self.free(r, true, now);
        }
        fn succeeded(&mut self, r: usize) {
            self.free(r, false, Nanos::ZERO);
        }
    }

    impl Group for RoundRobin {
        fn set_peers(&mut self, peers: Vec<usize>, now: Nanos) {
            RoundRobin::set_peers(self, peers, now);
        }
        fn tries(&self) -> u32 {
            RoundRobin::tries(self, 0)
        }
        fn select(&mut self, tried: &[usize], now: Nanos) -> Option<usize> {
            RoundRobin::select(self, tried, now)
        }
        fn started(&mut self, _: usize) {}
        fn finished(&mut self, _: usize) {}
        fn failed(&mut self, r: usize, now: Nanos) {
            RoundRobin::failed(self, r, now);
        }
        fn succeeded(&mut self, r: usize) {
            RoundRobin::succeeded(self, r);
        }
    }

    impl Group for LeastConn {
        fn set_peers(&mut self, peers: Vec<usize>, now: Nanos) {
            LeastConn::set_peers(self, peers, now);
        }
        fn tries(&self) -> u32 {
            LeastConn::tries(self, 0)
        }
        fn select(&mut self, tried: &[usize], now: Nanos) -> Option<usize> {
            LeastConn::select(self, tried, now)
        }
        fn started(&mut self, r: usize) {
            LeastConn::started(self, r);
        }
        fn finished(&mut self, r: usize) {
            LeastConn::finished(self, r);
        }
        fn failed(&mut self, r: usize, now: Nanos) {
            LeastConn::failed(self, r, now);
        }
        fn succeeded(&mut self, r: usize) {
            LeastConn::succeeded(self, r);
        }
    }

    /// Drive two groups through one random history of endpoint changes, requests
    /// (tried in turn while attempts fail at once), attempts left under way and ended
    /// later; every choice must agree. Returns how many choices were compared.
    fn lockstep(x: &mut impl Group, y: &mut impl Group, seed: u64, steps: usize) -> usize {
        const REPLICAS: usize = 7;
        let mut rng = SimRng::stream(seed, "balance lockstep");
        let mut now = Nanos::ZERO;
        let mut under_way: Vec<usize> = Vec::new();
        let mut compared = 0;
        x.set_peers((0..5).collect(), now);
        y.set_peers((0..5).collect(), now);
        for step in 0..steps {
            now += Nanos::from_millis(300 * rng.below(4) as u64);
            match rng.below(20) {
                0 => {
                    let mut peers: Vec<usize> =
                        (0..REPLICAS).filter(|_| rng.below(5) < 3).collect();
                    if peers.is_empty() {
                        peers.push(rng.below(REPLICAS));
                    }
                    let turn = rng.below(peers.len());
                    peers.rotate_left(turn);
                    x.set_peers(peers.clone(), now);
                    y.set_peers(peers, now);
                }
                1..=6 if !under_way.is_empty() => {
                    let r = under_way.swap_remove(rng.below(under_way.len()));
                    x.finished(r);
                    y.finished(r);
                    if rng.below(3) == 0 {
                        x.failed(r, now);
                        y.failed(r, now);
                    } else {
                        x.succeeded(r);
                        y.succeeded(r);
                    }
                }
                _ => {
                    let tries = x.tries();
                    assert_eq!(tries, y.tries());
                    let mut tried = Vec::new();
                    loop {
                        let got = x.select(&tried, now);
                        assert_eq!(got, y.select(&tried, now), "seed {seed}, step {step}");
                        compared += 1;
                        let Some(r) = got else { break };
                        x.started(r);
                        y.started(r);
                        tried.push(r);
                        match rng.below(4) {
                            0 => {
                                x.finished(r);
                                y.finished(r);
                                x.failed(r, now);
                                y.failed(r, now);
                                if tried.len() as u32 >= tries {
                                    break;
                                }
                            }
                            1 => {
                                x.finished(r);
                                y.finished(r);
                                x.succeeded(r);
                                y.succeeded(r);
                                break;
                            }
                            _ => {
                                under_way.push(r);
                                break;
                            }
                        }
                    }
                }
            }
        }
        compared
    }

    const CONFIGS: [(u32, u64); 6] = [(1, 10), (1, 1), (1, 0), (2, 2), (3, 1), (0, 10)];

    #[test]
    fn round_robin_matches_the_nginx_loop_choice_for_choice() {
        // Pins the indexed round-robin (and the passive health it shares with the other
        // balancers) to ngx_http_upstream_get_peer / free_round_robin_peer.
        for (i, (max_fails, fail_timeout)) in CONFIGS.into_iter().enumerate() {
            for seed in 0..4 {
                let mut rr = RoundRobin::new(max_fails, Nanos::from_secs(fail_timeout));
                let mut reference = Reference::new(false, max_fails, fail_timeout, 7);
                let n = lockstep(&mut rr, &mut reference, 10 * i as u64 + seed, 3_000);
                assert!(n > 2_000, "{n} choices compared");
            }
        }
    }

    #[test]
    fn least_conn_matches_the_nginx_loop_choice_for_choice() {
        // ngx_http_upstream_get_least_conn_peer, attempts under way included.
        for (i, (max_fails, fail_timeout)) in CONFIGS.into_iter().enumerate() {
            for seed in 0..4 {
                let mut lc = LeastConn::new(max_fails, Nanos::from_secs(fail_timeout));
                let mut reference = Reference::new(true, max_fails, fail_timeout, 7);
                let n = lockstep(&mut lc, &mut reference, 100 + 10 * i as u64 + seed, 3_000);
                assert!(n > 2_000, "{n} choices compared");
            }
        }
    }

    // -----------------------------------------------------------------------------
    // least_conn, worked out by hand.

    fn least_conn(n: usize) -> LeastConn {
        let mut lc = LeastConn::new(1, Nanos::from_secs(10));
        lc.set_peers((0..n).collect(), Nanos::ZERO);
        lc
    }

    /// Choose and start an attempt.
    fn open(lc: &mut LeastConn, now: Nanos) -> Option<usize> {
        let p = lc.select(&[], now)?;
        lc.started(p);
        Some(p)
    }

    #[test]
    fn least_conn_breaks_ties_by_smooth_round_robin_among_the_tied_only() {
        // current weights (A, B, C), attempts never finishing:
        // 1. all at 0 conns: +1 each (1, 1, 1), A wins: (-2, 1, 1)
        // 2. B, C at 0: (2, 2) -> B: (-2, 0, 2)
        // 3. C alone at 0: no weight touched -> C
        // 4. all at 1: (-1, 1, 3) -> C: (-1, 1, 0)
        // 5. A, B at 1: (0, 2) -> B: (0, 0, 0)
        // 6. A alone at 1 -> A
        // 7. all at 2: (1, 1, 1) -> A
        // (The first peer with the fewest conns would be A at step 4 and 5.)
        let mut lc = least_conn(3);
        let picks: Vec<_> = (0..7).map(|_| open(&mut lc, at(0.0))).collect();
        let want = [A, B, C, C, B, A, A];
        assert_eq!(picks, want.map(Some));
        // conns now (3, 2, 2): B and C tie, current weights (-2, 0, 0) -> B, then C.
        assert_eq!(open(&mut lc, at(0.0)), Some(B));
        assert_eq!(open(&mut lc, at(0.0)), Some(C));
        // Finishing frees: C back to 2 conns is the fewest alone.
        lc.finished(C);
        assert_eq!(lc.select(&[], at(0.0)), Some(C));
    }

    /// One request with attempts over at once: tries peers until one answers
    /// (`refusing` fail) or tries run out; None in place of a peer for "no live
    /// upstreams".
    fn request(lc: &mut LeastConn, now: Nanos, refusing: &[usize]) -> Vec<Option<usize>> {
        let tries = lc.tries(0);
        let mut tried = Vec::new();
        let mut out = Vec::new();
        loop {
            let Some(p) = lc.select(&tried, now) else {
                out.push(None);
                return out;
            };
            lc.started(p);
            tried.push(p);
            out.push(Some(p));
            lc.finished(p);
            if refusing.contains(&p) {
                lc.failed(p, now);
                if tried.len() as u32 >= tries {
                    return out;
                }
            } else {
                lc.succeeded(p);
                return out;
            }
        }
    }

    #[test]
    fn least_conn_skips_tried_and_failed_peers_and_probes_once_per_fail_timeout() {
        // Every attempt is over before the next begins, so all peers tie at 0 conns and
        // the tie-break is round-robin over the peers neither tried nor marked. B
        // refuses; max_fails 1, fail_timeout 10 s. Current weights (A, B, C):
        // [A]: (1,1,1) -> A (-2,1,1); [B, C]: (-1,2,2) -> B (-1,-1,2), B fails (weight
        // 0, marked), retry without B: (0,_,3) -> C (0,_,1); then A and C alternate
        // from (0, 1): C, A, C, A, C, A.
        let mut lc = least_conn(3);
        let s = Some;
        let got: Vec<_> = (0..8).map(|_| request(&mut lc, at(0.0), &[B])).collect();
        assert_eq!(
            got,
            vec![
                vec![s(A)],
                vec![s(B), s(C)],
                vec![s(C)],
                vec![s(A)],
                vec![s(C)],
                vec![s(A)],
                vec![s(C)],
                vec![s(A)],
            ]
        );
        // Whole seconds: 10.9 s is within fail_timeout still.
        assert_eq!(request(&mut lc.clone(), at(10.9), &[B]), vec![s(C)]);
        // From second 11, B takes part again with weight 0 then 1, current weight -1:
        // (A, B, C) = (0, -1, 1) -> (1,-1,2) C, (2,0,-1) A, (-1,1,0) C, (0,2,-2) B.
        let got: Vec<_> = (0..4).map(|_| request(&mut lc, at(11.2), &[B])).collect();
        assert_eq!(
            got,
            vec![vec![s(C)], vec![s(A)], vec![s(C)], vec![s(B), s(A)]]
        );
        // Failed again at 11: skipped until second 22.
        assert_eq!(request(&mut lc, at(21.5), &[B]), vec![s(C)]);
    }

    #[test]
    fn least_conn_answers_no_live_upstreams_when_every_peer_is_tried_or_marked() {
        let mut lc = least_conn(2);
        assert_eq!(request(&mut lc, at(0.0), &[A, B]), vec![Some(A), Some(B)]);
        assert_eq!(request(&mut lc, at(5.0), &[A, B]), vec![None]);
        // A peer with attempts under way is chosen when it is the only one left.
        let mut lc = least_conn(2);
        assert_eq!(open(&mut lc, at(0.0)), Some(A));
        assert_eq!(lc.select(&[B], at(0.0)), Some(A));
    }

    #[test]
    fn least_conn_single_server_is_never_marked_nor_retried() {
        let mut lc = least_conn(1);
        assert_eq!(lc.tries(0), 1);
        for i in 0..5 {
            assert_eq!(request(&mut lc, at(f64::from(i)), &[A]), vec![Some(A)]);
        }
    }

    #[test]
    fn least_conn_with_a_thousand_idle_peers_fills_them_in_list_order() {
        // A tie among hundreds of peers is one round of the level's counter, not a
        // visit to each: 1,000 peers, each choice O(log peers).
        let n = 1_000;
        let mut lc = least_conn(n);
        let picks: Vec<_> = (0..n).map(|_| open(&mut lc, at(0.0))).collect();
        assert_eq!(picks, (0..n).map(Some).collect::<Vec<_>>());
        // All at 1 conn; the one freed first is the fewest.
        lc.finished(500);
        assert_eq!(open(&mut lc, at(0.0)), Some(500));
        for r in 0..n {
            lc.finished(r);
        }
        assert_eq!(lc.ranked.len(), n);
        assert!(lc.ranked.iter().all(|&(conns, _, _)| conns == 0));
        assert_eq!(lc.levels[0].ranked, n);
    }

    // -----------------------------------------------------------------------------
    // nginx random.

    fn random(two: bool, n: usize, max_fails: u32) -> NginxRandom {
        let mut nr = NginxRandom::new(two, max_fails, Nanos::from_secs(10));
        nr.set_peers((0..n).collect(), Nanos::ZERO);
        nr
    }

    #[test]
    fn random_is_uniform_over_peers_neither_tried_nor_marked() {
        let mut nr = random(false, 5, 1);
        nr.failed(1, at(0.0));
        let mut rng = SimRng::stream(1, "random uniform");
        let trials = 30_000;
        let mut counts = [0usize; 5];
        for _ in 0..trials {
            let mut draws = 0;
            let Some(p) = nr.select(&[3], &mut draws, at(1.0), &mut rng) else {
                panic!("a peer is available");
            };
            counts[p] += 1;
        }
        assert_eq!((counts[1], counts[3]), (0, 0), "marked, tried");
        for p in [0, 2, 4] {
            assert_share(counts[p], trials, 1.0 / 3.0, &format!("peer {p}"));
        }
    }

    #[test]
    fn random_falls_back_to_round_robin_on_the_21st_failed_draw() {
        // 1,000 peers, all but #700 marked: a draw finds it one time in 1,000. The
        // draws are replayed on a copy of the stream: the first hit before 21 misses
        // wins, else round-robin picks it after exactly 21.
        let n = 1_000;
        for seed in 0..20 {
            let mut nr = random(false, n, 1);
            for r in (0..n).filter(|&r| r != 700) {
                nr.failed(r, at(0.0));
            }
            let mut rng = SimRng::stream(seed, "random fallback");
            let mut replay = rng.clone();
            let mut want_draws = 0;
            while want_draws <= RANDOM_DRAWS && replay.below(n) != 700 {
                want_draws += 1;
            }
            let mut draws = 0;
            assert_eq!(nr.select(&[], &mut draws, at(1.0), &mut rng), Some(700));
            assert_eq!(draws, want_draws, "seed {seed}");
            assert_eq!(
                rng.next_u64(),
                replay.next_u64(),
                "draws consumed, seed {seed}"
            );
        }
        // Once past the budget, the request's later tries draw nothing.
        let mut nr = random(false, 3, 1);
        let mut rng = SimRng::stream(0, "random fallback");
        let before = rng.clone().next_u64();
        let mut draws = 21;
        assert_eq!(nr.select(&[], &mut draws, at(0.0), &mut rng), Some(A));
        assert_eq!(nr.select(&[A], &mut draws, at(0.0), &mut rng), Some(B));
        assert_eq!(rng.next_u64(), before);
    }

    #[test]
    fn random_two_takes_fewer_conns_and_the_second_draw_on_a_tie() {
        // Replayed draws: the first, then redraws (each counted) until a different peer.
        for (conns_a, conns_b) in [(0, 0), (1, 0), (0, 1), (3, 3)] {
            let mut nr = random(true, 2, 1);
            for _ in 0..conns_a {
                nr.started(A);
            }
            for _ in 0..conns_b {
                nr.started(B);
            }
            let mut rng = SimRng::stream(conns_a * 10 + conns_b, "random two");
            for _ in 0..50 {
                let mut replay = rng.clone();
                let first = replay.below(2);
                let mut want_draws = 1;
                let mut second = replay.below(2);
                while second == first {
                    want_draws += 1;
                    second = replay.below(2);
                }
                let conns = |p: usize| if p == A { conns_a } else { conns_b };
                let want = if conns(second) > conns(first) {
                    first
                } else {
                    second
                };
                let mut draws = 0;
                if want_draws > RANDOM_DRAWS {
                    continue; // 2^-20: not met with these seeds
                }
                assert_eq!(nr.select(&[], &mut draws, at(0.0), &mut rng), Some(want));
                assert_eq!(draws, want_draws);
            }
        }
    }

    #[test]
    fn random_two_least_conn_shares() {
        // conns (2, 0, 1): a pair is two different peers, uniformly; A never wins, B
        // wins whenever drawn (2/3), C otherwise (1/3).
        let mut nr = random(true, 3, 1);
        for p in [A, A, C] {
            nr.started(p);
        }
        let mut rng = SimRng::stream(2, "random two shares");
        let trials = 30_000;
        let mut counts = [0usize; 3];
        for _ in 0..trials {
            let mut draws = 0;
            if let Some(p) = nr.select(&[], &mut draws, at(0.0), &mut rng) {
                counts[p] += 1;
            }
        }
        assert_eq!(counts[A], 0);
        assert_share(counts[B], trials, 2.0 / 3.0, "B");
        assert_share(counts[C], trials, 1.0 / 3.0, "C");
    }

    #[test]
    fn random_two_with_one_candidate_spends_its_draws_then_round_robin_picks_it() {
        // A tried: B is the first acceptable draw (counted), every later draw is A or B
        // again (counted), so after 21 draws round-robin chooses B.
        let mut nr = random(true, 2, 1);
        let mut rng = SimRng::stream(3, "random two alone");
        let mut replay = rng.clone();
        let mut draws = 0;
        assert_eq!(nr.select(&[A], &mut draws, at(0.0), &mut rng), Some(B));
        assert_eq!(draws, 21);
        for _ in 0..21 {
            replay.below(2);
        }
        assert_eq!(rng.next_u64(), replay.next_u64());
    }

    #[test]
    fn random_two_draw_budget_spans_the_whole_request() {
        // 30 peers never marked (max_fails 0), every try fails: each choice spends at
        // least one draw, so by the 21st try round-robin decides, and it goes down the
        // untried peers in list order (their current weights are all equal: the
        // random choices never touched them).
        let n = 30;
        let mut nr = random(true, n, 0);
        let mut rng = SimRng::stream(4, "random budget");
        let mut draws = 0;
        let mut tried: Vec<usize> = Vec::new();
        let mut switched = None;
        for k in 0..n {
            let Some(p) = nr.select(&tried, &mut draws, at(0.0), &mut rng) else {
                panic!("try {k}: a peer is untried");
            };
            assert!(!tried.contains(&p));
            if switched.is_none() && draws > RANDOM_DRAWS {
                switched = Some(k);
            }
            tried.push(p);
            nr.failed(p, at(0.0));
        }
        let Some(k) = switched else {
            panic!("never switched");
        };
        assert!(k <= 20, "switched at try {k}");
        let mut untried: Vec<usize> = (0..n).filter(|p| !tried[..k].contains(p)).collect();
        untried.sort_unstable();
        assert_eq!(tried[k..], untried[..]);
    }

    #[test]
    fn random_single_server_is_never_marked_nor_retried() {
        let mut nr = random(true, 1, 1);
        let mut rng = SimRng::stream(5, "random single");
        for i in 0..5 {
            let mut draws = 0;
            assert_eq!(
                nr.select(&[], &mut draws, at(f64::from(i)), &mut rng),
                Some(A)
            );
            nr.failed(A, at(f64::from(i)));
            assert_eq!(
                nr.select(&[A], &mut draws, at(f64::from(i)), &mut rng),
                None
            );
        }
    }

    #[test]
    fn random_marks_and_probes_as_round_robin_does() {
        // B fails at 0: never drawn within fail_timeout; from second 11 it gets one
        // probe, then is skipped again while the probe is under way.
        let mut nr = random(false, 3, 1);
        let mut rng = SimRng::stream(6, "random probe");
        nr.failed(B, at(0.0));
        let mut draws;
        for _ in 0..200 {
            draws = 0;
            assert_ne!(nr.select(&[], &mut draws, at(10.5), &mut rng), Some(B));
        }
        let mut probes = 0;
        for _ in 0..200 {
            draws = 0;
            if nr.select(&[], &mut draws, at(11.0), &mut rng) == Some(B) {
                probes += 1;
            }
        }
        assert_eq!(probes, 1);
        // The probe succeeds: B is back.
        nr.succeeded(B);
        let mut seen_b = false;
        for _ in 0..200 {
            draws = 0;
            seen_b |= nr.select(&[], &mut draws, at(11.0), &mut rng) == Some(B);
        }
        assert!(seen_b);
    }

    // -----------------------------------------------------------------------------
    // Envoy.

    #[test]
    fn envoy_round_robin_rotates_from_a_random_start_and_keeps_its_index() {
        let mut rng = SimRng::stream(7, "envoy rr");
        let seed = rng.clone().next_u64();
        let mut lb = EnvoyRoundRobin::new(&mut rng);
        let hosts = [10, 11, 12];
        lb.set_peers(hosts.to_vec());
        let picks: Vec<_> = (0..7).map(|_| lb.select(&[], 1)).collect();
        let want: Vec<_> = (0..7u64)
            .map(|k| Some(hosts[(seed.wrapping_add(k) % 3) as usize]))
            .collect();
        assert_eq!(picks, want);
        // New hosts: the index carries on (7 picks made).
        let hosts = [10, 11, 12, 13];
        lb.set_peers(hosts.to_vec());
        let want = hosts[(seed.wrapping_add(7) % 4) as usize];
        assert_eq!(lb.select(&[], 1), Some(want));
        lb.set_peers(Vec::new());
        assert_eq!(lb.select(&[], 1), None);
    }

    #[test]
    fn envoy_reselects_a_tried_host_at_most_host_selection_retry_max_attempts_times() {
        // Start index 0 mod 3 for this stream is not assumed: read the next host first.
        let mut rng = SimRng::stream(8, "envoy reselect");
        let mut lb = EnvoyRoundRobin::new(&mut rng);
        lb.set_peers(vec![A, B, C]);
        let next = |lb: &EnvoyRoundRobin| lb.hosts[(lb.index % 3) as usize];
        let after = |h: usize| (h + 1) % 3;
        // The next host was tried: one reselection moves on.
        let h = next(&lb);
        assert_eq!(lb.select(&[h], 1), Some(after(h)));
        // The next two were tried: one reselection is not enough, the last draw stands.
        let h = next(&lb);
        assert_eq!(lb.select(&[h, after(h)], 1), Some(after(h)));
        // Two reselections are.
        let h = next(&lb);
        assert_eq!(lb.select(&[h, after(h)], 2), Some(after(after(h))));
        // No predicate (or a first attempt): whatever comes.
        let h = next(&lb);
        assert_eq!(lb.select(&[h], 0), Some(h));
        // Every host tried: still a host, never "none".
        assert!(lb.select(&[A, B, C], 5).is_some());
    }

    #[test]
    fn envoy_least_request_draws_two_with_replacement_and_a_tie_keeps_the_first() {
        let mut lb = EnvoyLeastRequest::new(2);
        lb.set_peers(vec![A, B, C]);
        for (p, k) in [(B, 1), (C, 2)] {
            for _ in 0..k {
                lb.started(p);
            }
        }
        let active = [0, 1, 2];
        let mut rng = SimRng::stream(9, "envoy least request");
        for _ in 0..200 {
            let mut replay = rng.clone();
            let first = replay.below(3);
            let second = replay.below(3);
            let want = if active[second] < active[first] {
                second
            } else {
                first
            };
            assert_eq!(lb.select(&[], 1, &mut rng), Some(want));
        }
        // All equal: always the first draw.
        let mut lb = EnvoyLeastRequest::new(2);
        lb.set_peers(vec![A, B, C]);
        for _ in 0..200 {
            let first = rng.clone().below(3);
            assert_eq!(lb.select(&[], 1, &mut rng), Some(first));
        }
    }

    #[test]
    fn envoy_least_request_shares() {
        // Active (0, 1, 2), two draws with replacement: A unless both miss it
        // (1 - (2/3)^2 = 5/9), B when both are in {B, C} and one is B (3/9), C 1/9.
        let mut lb = EnvoyLeastRequest::new(2);
        lb.set_peers(vec![A, B, C]);
        for p in [B, C, C] {
            lb.started(p);
        }
        let mut rng = SimRng::stream(10, "envoy least request shares");
        let trials = 30_000;
        let mut counts = [0usize; 3];
        for _ in 0..trials {
            if let Some(p) = lb.select(&[], 1, &mut rng) {
                counts[p] += 1;
            }
        }
        assert_share(counts[A], trials, 5.0 / 9.0, "A");
        assert_share(counts[B], trials, 3.0 / 9.0, "B");
        assert_share(counts[C], trials, 1.0 / 9.0, "C");
        // Requests ending bring C back to par: (0, 1, 0) -> C as often as A.
        lb.finished(C);
        lb.finished(C);
        let mut counts = [0usize; 3];
        for _ in 0..trials {
            if let Some(p) = lb.select(&[], 1, &mut rng) {
                counts[p] += 1;
            }
        }
        // A: first draw A (1/3) or first B and second A (1/9): 4/9; B: both B, 1/9.
        assert_share(counts[A], trials, 4.0 / 9.0, "A after");
        assert_share(counts[B], trials, 1.0 / 9.0, "B after");
        assert_share(counts[C], trials, 4.0 / 9.0, "C after");
    }

    #[test]
    fn envoy_random_is_uniform_and_reselects_tried_hosts() {
        let mut lb = EnvoyRandom::new();
        assert_eq!(lb.select(&[], 1, &mut SimRng::stream(0, "x")), None);
        lb.set_peers(vec![A, B, C, 3]);
        let mut rng = SimRng::stream(11, "envoy random");
        let trials = 30_000;
        let mut counts = [0usize; 4];
        for _ in 0..trials {
            if let Some(p) = lb.select(&[], 1, &mut rng) {
                counts[p] += 1;
            }
        }
        for (p, &c) in counts.iter().enumerate() {
            assert_share(c, trials, 0.25, &format!("host {p}"));
        }
        // A retry avoiding A: A only when both draws are A (1/16).
        let mut counts = [0usize; 4];
        for _ in 0..trials {
            if let Some(p) = lb.select(&[A], 1, &mut rng) {
                counts[p] += 1;
            }
        }
        assert_share(counts[A], trials, 1.0 / 16.0, "A avoided");
        assert_share(counts[B], trials, 5.0 / 16.0, "B");
    }
}
