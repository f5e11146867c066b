//! nginx's `least_conn` balancer (`ngx_http_upstream_least_conn_module.c`,
//! `ngx_http_upstream_get_least_conn_peer`): among the peers neither tried by this
//! request nor marked failed, the fewest `conns`; ties broken by smooth weighted
//! round-robin among the tied peers only. Passive health is round-robin's
//! ([`super::balance::PassiveHealth`]). Checked choice for choice against nginx's C
//! loops, transcribed in the tests.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use super::balance::*;
use crate::engine::Nanos;

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

#[cfg(test)]
mod tests {
    use super::super::nginx::RoundRobin;
    use super::*;
    use crate::engine::SimRng;

    const A: usize = 0;
    const B: usize = 1;
    const C: usize = 2;

    fn at(s: f64) -> Nanos {
        Nanos::from_secs_f64(s)
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
}
