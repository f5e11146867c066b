//! Envoy's load balancers (equal weights, one priority): `round_robin`,
//! `least_request` (power of two choices) and `random`, with `chooseHost`'s reselection
//! of a host a retry already tried. Sources are in [`super::balance`]'s documentation.

use crate::engine::SimRng;
use crate::model::rotation::Rotation;
use crate::model::tally::Tally;

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
    index: Rotation,
}

impl EnvoyRoundRobin {
    /// A load balancer with no hosts yet; its starting index is one draw from `rng`, as
    /// Envoy seeds each worker's load balancer with `random()`.
    pub(in crate::model) fn new(rng: &mut SimRng) -> EnvoyRoundRobin {
        EnvoyRoundRobin {
            hosts: Vec::new(),
            index: Rotation::starting_at(rng.next_u64()),
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
        choose_host(tried, reselects, || index.pick_from(hosts))
    }
}

/// Envoy's `least_request` with equal weights, `N_CHOICES` selection. Hosts are
/// replica indices.
#[derive(Debug, Clone)]
pub(in crate::model) struct EnvoyLeastRequest {
    hosts: Vec<usize>,
    choice_count: u32,
    /// `rq_active` per replica index.
    active: Tally,
}

impl EnvoyLeastRequest {
    /// A load balancer with no hosts yet, drawing `choice_count` hosts per pick (Envoy's
    /// default 2; its configuration refuses fewer than 2).
    pub(in crate::model) fn new(choice_count: u32) -> EnvoyLeastRequest {
        EnvoyLeastRequest {
            hosts: Vec::new(),
            choice_count: choice_count.max(1),
            active: Tally::default(),
        }
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
        choose_host(tried, reselects, || {
            least_request_choice(&self.hosts, &self.active, self.choice_count, rng)
        })
    }

    /// A request on `r` becomes active (`rq_active++`: attached to an upstream
    /// connection; requests pending a connection do not count).
    pub(in crate::model) fn started(&mut self, r: usize) {
        self.active.add(r);
    }

    /// A request on `r` ended, whichever way (`rq_active--`).
    pub(in crate::model) fn finished(&mut self, r: usize) {
        self.active.remove(r);
    }
}

/// One draw of Envoy's `least_request` over `hosts`: `choice_count` hosts drawn with
/// replacement, the one with the fewest `active` requests (strictly fewer: a tie keeps
/// the earlier draw); None when there is no host. Shared by the gateway and by callers
/// that balance themselves (`lb_policy` on a client or a call step).
pub(in crate::model) fn least_request_choice(
    hosts: &[usize],
    active: &Tally,
    choice_count: u32,
    rng: &mut SimRng,
) -> Option<usize> {
    let n = hosts.len();
    if n == 0 {
        return None;
    }
    let mut candidate = hosts[rng.below(n)];
    for _ in 1..choice_count {
        let sampled = hosts[rng.below(n)];
        if active.get(sampled) < active.get(candidate) {
            candidate = sampled;
        }
    }
    Some(candidate)
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
        let next = |lb: &EnvoyRoundRobin| lb.hosts[(lb.index.count() % 3) as usize];
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
