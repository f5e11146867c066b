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

use std::collections::VecDeque;

use super::nginx::RoundRobin;
use crate::engine::{Nanos, SimRng};
use crate::model::tally::Tally;

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
pub(super) const LONG_AGO_S: i64 = -(1 << 40);

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
    conns: Tally,
}

impl NginxRandom {
    /// An upstream group with no peers yet; `two`: `random two [least_conn]`.
    pub(in crate::model) fn new(two: bool, max_fails: u32, fail_timeout: Nanos) -> NginxRandom {
        NginxRandom {
            rr: RoundRobin::new(max_fails, fail_timeout),
            two,
            conns: Tally::default(),
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
                    Some(f) => {
                        break if self.conns.get(r) > self.conns.get(f) {
                            f
                        } else {
                            r
                        }
                    }
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
        self.conns.add(r);
    }

    /// An attempt on `r` ended, whichever way (`conns--`).
    pub(in crate::model) fn finished(&mut self, r: usize) {
        self.conns.remove(r);
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
}
