//! nginx's upstream round-robin balancer, as `ngx_http_upstream_round_robin.c` of nginx
//! 1.22 has it (`ngx_http_upstream_get_peer`, `ngx_http_upstream_free_round_robin_peer`):
//!
//! - smooth weighted round-robin over the peers in configuration order: every peer
//!   considered in a selection adds its effective weight to its current weight, the
//!   highest current weight wins (the first in the list on a tie: the comparison is a
//!   strict `>`), and the winner gives back the total of the weights considered;
//! - a peer is not considered when this request already tried it, or when it has
//!   `max_fails` failures and `now - checked <= fail_timeout`, in whole seconds of
//!   `ngx_time()`;
//! - a failure counts (`fails++`, `accessed = checked = now`) and lowers the effective
//!   weight by `weight / max_fails` (integer division); a success resets `fails` only
//!   when `accessed < checked`, i.e. a selection moved `checked` on since the failure;
//! - selecting a peer whose `fail_timeout` has passed sets `checked = now`, so a failed
//!   peer gets one probe per `fail_timeout`;
//! - when no peer can be considered the balancer answers nothing ("no live upstreams",
//!   a 502 by the caller). Since nginx 1.11.5 nothing is reset then: the peers stay
//!   marked until their `fail_timeout` has passed.
//! - One server alone (`peers->single`) is never marked and never retried.
//!
//! Every server has weight 1 (the `server` directive's default; the file format has no
//! weights yet), so an effective weight is 1, or 0 right after a failure under
//! `max_fails 1`, until the peer is next considered. That lets selection stay exact and
//! cheap: every peer considered in a round gains the same 1, so current weights are kept
//! relative to a round counter, and the considered peers sit in a ring sorted as
//! `ngx_http_upstream_get_peer` ranks them (current weight descending, list position
//! ascending). The winner is the first in the ring that this request has not tried;
//! having given back the total, it almost always sorts last again, so with healthy
//! peers a selection is a pop at the front and a push at the back: the plain rotation
//! that smooth weighted round-robin is over equal weights. Anything else (a tried peer
//! or a lowered weight gaining nothing, a peer leaving or rejoining) is a binary search
//! and a move of the entries between there and the nearer end of the ring. Failed
//! peers are not in the ring at all: they wait in a queue ordered by when they may be
//! considered, so however many are marked, a selection costs O(tries) in the common
//! case and O(log peers + tries) plus that move otherwise.
//!
//! The failure accounting (`fails`, `accessed`, `checked`, effective weights, the queue
//! of marked peers) is the peer state every nginx balancer shares; it lives in
//! [`super::balance::PassiveHealth`], with `least_conn` and `random`, which reuse it.

use std::cmp::Ordering;
use std::collections::VecDeque;

use super::balance::{nginx_tries, seconds, PassiveHealth};
use crate::engine::Nanos;

#[derive(Debug, Clone, Default)]
struct Peer {
    /// For a ranked peer, current_weight = `base` + the round counter; for any other,
    /// `base` holds its current_weight, frozen (nginx leaves skipped peers alone).
    base: i64,
    /// Position in the configured list, None when not listed.
    position: Option<u32>,
    /// Considered in selections (listed and not marked failed).
    ranked: bool,
}

/// A considered peer's place in `ngx_http_upstream_get_peer`'s ranking: the higher
/// current weight first, and on a tie the earlier in the list (nginx replaces `best`
/// only on a strictly greater `current_weight`, walking the list in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rank {
    /// current_weight less the round counter ([`Peer::base`]).
    base: i64,
    /// Position in the configured list.
    position: u32,
}

impl Ord for Rank {
    fn cmp(&self, other: &Rank) -> Ordering {
        other
            .base
            .cmp(&self.base)
            .then(self.position.cmp(&other.position))
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Rank) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The round-robin state of one upstream group. Peers are replica indices.
#[derive(Debug, Clone)]
pub(in crate::model) struct RoundRobin {
    /// `fails`, `checked`, `accessed`, effective weights and the marked peers: shared
    /// with the other nginx balancers ([`PassiveHealth`]).
    health: PassiveHealth,
    /// Listed peers in configuration order.
    peers: Vec<usize>,
    /// Per replica index, listed or not (state survives leaving and rejoining).
    state: Vec<Peer>,
    /// The ranked (considered) peers, sorted by [`Rank`]: the next winner first.
    ranked: VecDeque<Rank>,
    /// Selections made: every ranked peer's current weight has grown by one per round.
    rounds: i64,
    /// Ranked peers whose effective weight is 0.
    lowered: Vec<usize>,
}

impl RoundRobin {
    /// An upstream group with no peers yet.
    pub(in crate::model) fn new(max_fails: u32, fail_timeout: Nanos) -> RoundRobin {
        RoundRobin {
            health: PassiveHealth::new(max_fails, fail_timeout),
            peers: Vec::new(),
            state: Vec::new(),
            ranked: VecDeque::new(),
            rounds: 0,
            lowered: Vec::new(),
        }
    }

    /// How many tries a request gets: one per peer (`peer.tries`), capped by
    /// `proxy_next_upstream_tries` (0: no cap); one alone is never retried.
    pub(in crate::model) fn tries(&self, next_upstream_tries: u32) -> u32 {
        nginx_tries(self.peers.len(), next_upstream_tries)
    }

    fn single(&self) -> bool {
        self.peers.len() == 1
    }

    fn peer_mut(&mut self, r: usize) -> &mut Peer {
        if self.state.len() <= r {
            self.state.resize(r + 1, Peer::default());
        }
        &mut self.state[r]
    }

    fn is_ranked(&self, r: usize) -> bool {
        self.state.get(r).is_some_and(|p| p.ranked)
    }

    /// The place of a ranked peer in the ring.
    fn rank_of(&self, r: usize) -> Option<Rank> {
        let p = self.state.get(r).filter(|p| p.ranked)?;
        Some(Rank {
            base: p.base,
            position: p.position?,
        })
    }

    /// Put `rank` in its place. A peer that has just given back the total nearly always
    /// goes last, so the back is looked at before searching.
    fn insert(&mut self, rank: Rank) {
        match self.ranked.back() {
            Some(&last) if last > rank => {
                let at = self.ranked.partition_point(|&x| x < rank);
                self.ranked.insert(at, rank);
            }
            _ => self.ranked.push_back(rank),
        }
    }

    /// Take `rank` out of the ring.
    fn remove(&mut self, rank: Rank) {
        if let Ok(at) = self.ranked.binary_search(&rank) {
            self.ranked.remove(at);
        }
    }

    fn rank(&mut self, r: usize) {
        if let Some(rank) = self.enter_ring(r) {
            self.insert(rank);
        }
    }

    /// Mark listed, unranked `r` as ranked (its current weight now follows the round
    /// counter) and return its place, for the caller to put in the ring; None if it is
    /// not listed or already ranked.
    fn enter_ring(&mut self, r: usize) -> Option<Rank> {
        let rounds = self.rounds;
        let p = self.peer_mut(r);
        let position = p.position?;
        if p.ranked {
            return None;
        }
        p.ranked = true;
        p.base -= rounds;
        let rank = Rank {
            base: p.base,
            position,
        };
        if self.health.weight_lowered(r) {
            self.lowered.push(r);
        }
        Some(rank)
    }

    fn unrank(&mut self, r: usize) {
        let Some(rank) = self.rank_of(r) else {
            return;
        };
        self.remove(rank);
        self.freeze(r);
    }

    /// `r` is out of the ring: its current weight stops following the round counter.
    fn freeze(&mut self, r: usize) {
        let p = &mut self.state[r];
        p.ranked = false;
        p.base += self.rounds;
        if !self.lowered.is_empty() {
            self.lowered.retain(|&x| x != r);
        }
    }

    /// Move a ranked peer's current weight by `delta` (never positive: a peer that
    /// gains nothing in a round falls behind those that gain).
    fn shift(&mut self, r: usize, delta: i64) {
        let Some(rank) = self.rank_of(r) else {
            return;
        };
        self.remove(rank);
        self.state[r].base += delta;
        self.insert(Rank {
            base: rank.base + delta,
            ..rank
        });
    }

    /// Peers whose `fail_timeout` has passed are considered again.
    pub(super) fn wake(&mut self, now_s: i64) {
        // `rank` skips a peer that is back already or no longer listed.
        while let Some(r) = self.health.next_awake(now_s) {
            self.rank(r);
        }
    }

    /// Replace the listed peers (endpoints changed), keeping each peer's state.
    pub(in crate::model) fn set_peers(&mut self, peers: Vec<usize>, now: Nanos) {
        let now_s = seconds(now);
        // Every ranked peer is listed: freeze them all and empty the ring at once.
        self.lowered.clear();
        for r in std::mem::take(&mut self.peers) {
            if self.state[r].ranked {
                self.freeze(r);
            }
            self.state[r].position = None;
        }
        self.ranked.clear();
        for (i, &r) in peers.iter().enumerate() {
            self.peer_mut(r).position = Some(i as u32);
        }
        self.health.relist(&peers, now_s);
        self.peers = peers;
        // Sorted once, rather than inserted one by one.
        let mut ranked = Vec::with_capacity(self.peers.len());
        for i in 0..self.peers.len() {
            let r = self.peers[i];
            if !self.health.is_marked(r, now_s) {
                ranked.extend(self.enter_ring(r));
            }
        }
        ranked.sort_unstable();
        self.ranked = ranked.into();
    }

    /// Choose the peer for a request that already tried `tried`, or None: "no live
    /// upstreams" (`ngx_http_upstream_get_peer`).
    pub(in crate::model) fn select(&mut self, tried: &[usize], now: Nanos) -> Option<usize> {
        if self.single() {
            // peers->single: only the `down` flag is checked, never max_fails.
            let only = self.peers[0];
            return (!tried.contains(&only)).then_some(only);
        }
        let now_s = seconds(now);
        self.wake(now_s);
        let skipped = tried.iter().filter(|&&r| self.is_ranked(r)).count();
        let considered = self.ranked.len() - skipped;
        if considered == 0 {
            return None;
        }
        // Every considered peer adds its effective weight: 1 for all, through the round
        // counter; the tried ones did not, and the lowered ones added 0 (and get 1 back).
        self.rounds += 1;
        if skipped > 0 {
            for &r in tried {
                self.shift(r, -1);
            }
        }
        let mut total = considered as i64;
        let mut i = 0;
        while i < self.lowered.len() {
            let r = self.lowered[i];
            if tried.contains(&r) {
                i += 1;
            } else {
                self.lowered.swap_remove(i);
                self.shift(r, -1);
                self.health.restore_weight(r);
                total -= 1;
            }
        }
        // best: the first in ranking order that this request has not tried.
        let mut best = if skipped == 0 {
            self.ranked.pop_front()?
        } else {
            let at = self
                .ranked
                .iter()
                .position(|x| !tried.contains(&self.peers[x.position as usize]))?;
            self.ranked.remove(at)?
        };
        let winner = self.peers[best.position as usize];
        // best->current_weight -= total
        best.base -= total;
        self.state[winner].base = best.base;
        if self.health.picked(winner, now_s) {
            // A probe under way: out of the ring until its fail_timeout passes again.
            self.freeze(winner);
        } else {
            self.insert(best);
        }
        Some(winner)
    }

    /// The listed peers, in configuration order (the random balancer draws from them).
    pub(super) fn peers(&self) -> &[usize] {
        &self.peers
    }

    /// `r` may be chosen: not marked failed (`max_fails` within `fail_timeout`).
    pub(super) fn available(&self, r: usize, now_s: i64) -> bool {
        !self.health.is_marked(r, now_s)
    }

    /// `r` was chosen (by this balancer or another over the same peers): a peer whose
    /// `fail_timeout` has passed gets `checked = now`, and a peer let through for its
    /// probe is skipped again until the probe is over and its fail_timeout has passed
    /// once more.
    pub(super) fn picked(&mut self, r: usize, now_s: i64) {
        if self.health.picked(r, now_s) {
            self.unrank(r);
        }
    }

    /// The attempt on `r` failed (error or timeout): `NGX_PEER_FAILED`.
    pub(in crate::model) fn failed(&mut self, r: usize, now: Nanos) {
        if self.single() && self.peers[0] == r {
            return;
        }
        let counted = self.health.failed(r, seconds(now));
        if self.is_ranked(r) {
            if counted.marked {
                self.unrank(r);
            } else if counted.weight_lowered {
                self.lowered.push(r);
            }
        }
    }

    /// The attempt on `r` ended without failing (any answer, or the client left).
    pub(in crate::model) fn succeeded(&mut self, r: usize) {
        if self.single() && self.peers[0] == r {
            return;
        }
        if self.health.succeeded(r) {
            // Back from a successful probe (`rank` skips a ranked or unlisted peer).
            self.rank(r);
        }
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

    fn group(n: usize) -> RoundRobin {
        let mut rr = RoundRobin::new(1, Nanos::from_secs(10));
        rr.set_peers((0..n).collect(), Nanos::ZERO);
        rr
    }

    /// One request: tries peers until one answers (`refusing` fail at once) or tries
    /// run out; returns the peers tried, or None in place of a peer for "no live
    /// upstreams".
    fn request(rr: &mut RoundRobin, now: Nanos, refusing: &[usize]) -> Vec<Option<usize>> {
        let tries = rr.tries(0);
        let mut tried = Vec::new();
        let mut out = Vec::new();
        loop {
            let Some(p) = rr.select(&tried, now) else {
                out.push(None);
                return out;
            };
            tried.push(p);
            out.push(Some(p));
            if refusing.contains(&p) {
                rr.failed(p, now);
                if tried.len() as u32 >= tries {
                    return out;
                }
            } else {
                rr.succeeded(p);
                return out;
            }
        }
    }

    #[test]
    fn healthy_equal_peers_rotate_in_list_order() {
        let mut rr = group(3);
        let picks: Vec<_> = (0..7).map(|_| request(&mut rr, at(0.0), &[])).collect();
        let want: Vec<_> = [A, B, C, A, B, C, A]
            .iter()
            .map(|&p| vec![Some(p)])
            .collect();
        assert_eq!(picks, want);
    }

    #[test]
    fn a_refusing_peer_is_retried_elsewhere_then_probed_once_per_fail_timeout() {
        // Worked out from ngx_http_upstream_get_peer / free_round_robin_peer (1.22.1):
        // B refuses; max_fails 1, fail_timeout 10 s.
        let mut rr = group(3);
        let s = |p: usize| Some(p);
        let mut got = Vec::new();
        for _ in 0..8 {
            got.push(request(&mut rr, at(0.0), &[B]));
        }
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
        // 10.9 s later is still within fail_timeout in whole seconds (10 - 0 <= 10).
        assert_eq!(request(&mut rr.clone(), at(10.9), &[B]), vec![s(C)]);
        // From second 11, B is considered again: it loses three rounds (its weight was
        // lowered to 0 and its current weight left behind), then gets its one probe.
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(request(&mut rr, at(11.2), &[B]));
        }
        assert_eq!(
            got,
            vec![vec![s(C)], vec![s(A)], vec![s(C)], vec![s(B), s(A)]]
        );
        // Failed again at 11: skipped until second 22.
        assert_eq!(request(&mut rr, at(21.5), &[B]), vec![s(C)]);
    }

    #[test]
    fn lowered_and_left_behind_weights_order_the_picks_after_failures() {
        // Worked out from ngx_http_upstream_get_peer / free_round_robin_peer (1.22.1),
        // four peers, max_fails 1, fail_timeout 1 s. Current weights (A, B, C, D) after
        // each choice; a failure sets the effective weight to 0 and freezes the current
        // weight while the peer is marked.
        const D: usize = 3;
        let mut rr = RoundRobin::new(1, Nanos::from_secs(1));
        rr.set_peers(vec![A, B, C, D], Nanos::ZERO);
        let s = |p: usize| Some(p);
        // Second 0: A then B refuse, C answers: (-3, -1, 1, 3), A and B marked. Then D
        // and C alone: (-3, -1, 2, 2), (-3, -1, 1, 3).
        assert_eq!(request(&mut rr, at(0.0), &[A, B]), vec![s(A), s(B), s(C)]);
        assert_eq!(request(&mut rr, at(0.0), &[]), vec![s(D)]);
        assert_eq!(request(&mut rr, at(0.0), &[]), vec![s(C)]);
        // Second 1: D refuses and is marked; C, considered alone, gives back 1 each time.
        assert_eq!(request(&mut rr, at(1.0), &[D]), vec![s(D), s(C)]);
        assert_eq!(request(&mut rr, at(1.0), &[]), vec![s(C)]);
        // Second 2: A and B are back, effective weight 0 for one round, left behind at
        // -3 and -1; D is still marked. C gains alone and gives back 1: (-3, -1, 2, _);
        // then all three gain 1: C (-2, 0, 0, _); B before C on the tie: (-1, -2, 1, _),
        // its probe answers; C (0, -1, -1, _).
        let got: Vec<_> = (0..4).map(|_| request(&mut rr, at(2.0), &[])).collect();
        assert_eq!(got, vec![vec![s(C)], vec![s(C)], vec![s(B)], vec![s(C)]]);
        // Second 3: D is back with effective weight 0 at 2, still the highest: D gives
        // back 3 (1, 0, 0, -1); then A, whose probe this is, and the plain rotation.
        let got: Vec<_> = (0..6).map(|_| request(&mut rr, at(3.0), &[])[0]).collect();
        assert_eq!(got, vec![s(D), s(A), s(B), s(C), s(D), s(A)]);
    }

    #[test]
    fn all_peers_failed_means_no_live_upstreams_until_fail_timeout_passes() {
        // 1.22 no longer resets the marks when every peer is down (changed in 1.11.5).
        let mut rr = group(2);
        let both = [A, B];
        assert_eq!(request(&mut rr, at(0.0), &both), vec![Some(A), Some(B)]);
        for i in 1..=21 {
            let t = 0.5 * f64::from(i);
            assert_eq!(request(&mut rr, at(t), &both), vec![None], "at {t} s");
        }
        // Second 11: both are probed again (B first: its current weight is higher).
        assert_eq!(request(&mut rr, at(11.0), &both), vec![Some(B), Some(A)]);
        assert_eq!(request(&mut rr, at(11.5), &both), vec![None]);
    }

    #[test]
    fn a_successful_probe_brings_the_peer_back() {
        let mut rr = group(3);
        for _ in 0..3 {
            request(&mut rr, at(0.0), &[B]);
        }
        let picks: Vec<_> = (0..6).map(|_| request(&mut rr, at(11.0), &[])[0]).collect();
        assert_eq!(
            picks,
            vec![Some(A), Some(C), Some(A), Some(B), Some(C), Some(A)]
        );
        // Back in the rotation for good.
        let picks: Vec<_> = (0..3).map(|_| request(&mut rr, at(12.0), &[])[0]).collect();
        assert_eq!(picks, vec![Some(B), Some(C), Some(A)]);
    }

    #[test]
    fn a_single_server_is_never_marked_nor_retried() {
        let mut rr = group(1);
        assert_eq!(rr.tries(0), 1);
        for i in 0..5 {
            assert_eq!(request(&mut rr, at(f64::from(i)), &[A]), vec![Some(A)]);
        }
    }

    #[test]
    fn selection_cost_does_not_grow_with_marked_peers() {
        // 2,000 peers of which all but the last refuse: after one sweep, requests go
        // straight to the live one (a loop over peers would visit 1,999 each time).
        let n = 2_000;
        let mut rr = RoundRobin::new(1, Nanos::from_secs(10));
        rr.set_peers((0..n).collect(), Nanos::ZERO);
        let mut tried = Vec::new();
        while let Some(p) = rr.select(&tried, Nanos::ZERO) {
            tried.push(p);
            if p == n - 1 {
                rr.succeeded(p);
                break;
            }
            rr.failed(p, Nanos::ZERO);
        }
        assert_eq!(tried.len(), n);
        for _ in 0..1000 {
            assert_eq!(rr.select(&[], at(1.0)), Some(n - 1));
            rr.succeeded(n - 1);
        }
        assert_eq!(rr.ranked.len(), 1);
    }
}
