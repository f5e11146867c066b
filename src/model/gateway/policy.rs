//! The balancing method of an nginx upstream group (the `upstream` block's
//! `least_conn` or `random [two least_conn]` directive, round-robin without one), behind
//! one interface for the gateway: choose a peer, then report how the attempt ended.

use crate::engine::{Nanos, SimRng};

use super::balance::NginxRandom;
use super::least_conn::LeastConn;
use super::nginx::RoundRobin;
use crate::model::spec::BalancerKind;

/// One upstream group's balancer.
#[derive(Debug, Clone)]
pub(in crate::model) enum Balancer {
    /// Smooth weighted round-robin (nginx's default).
    RoundRobin(RoundRobin),
    /// `least_conn`.
    LeastConn(LeastConn),
    /// `random` or `random two least_conn`.
    Random(NginxRandom),
}

impl Balancer {
    /// A balancer of `kind` with the group's `max_fails` and `fail_timeout`.
    pub(in crate::model) fn new(kind: BalancerKind, max_fails: u32, fail_timeout: Nanos) -> Self {
        match kind {
            BalancerKind::RoundRobin => {
                Balancer::RoundRobin(RoundRobin::new(max_fails, fail_timeout))
            }
            BalancerKind::LeastConn => Balancer::LeastConn(LeastConn::new(max_fails, fail_timeout)),
            BalancerKind::Random => {
                Balancer::Random(NginxRandom::new(false, max_fails, fail_timeout))
            }
            BalancerKind::RandomTwoLeastConn => {
                Balancer::Random(NginxRandom::new(true, max_fails, fail_timeout))
            }
        }
    }

    /// Tries a request gets (`peer.tries`, capped by `proxy_next_upstream_tries`).
    pub(in crate::model) fn tries(&self, next_upstream_tries: u32) -> u32 {
        match self {
            Balancer::RoundRobin(b) => b.tries(next_upstream_tries),
            Balancer::LeastConn(b) => b.tries(next_upstream_tries),
            Balancer::Random(b) => b.tries(next_upstream_tries),
        }
    }

    /// The group's servers changed (replicas joined or left).
    pub(in crate::model) fn set_peers(&mut self, peers: Vec<usize>, now: Nanos) {
        match self {
            Balancer::RoundRobin(b) => b.set_peers(peers, now),
            Balancer::LeastConn(b) => b.set_peers(peers, now),
            Balancer::Random(b) => b.set_peers(peers, now),
        }
    }

    /// The peer for a request that already tried `tried`, or None ("no live
    /// upstreams"); the chosen peer's attempt has begun. `draws` is the request's
    /// count of random draws, kept across its tries.
    pub(in crate::model) fn select(
        &mut self,
        tried: &[usize],
        draws: &mut u32,
        now: Nanos,
        rng: &mut SimRng,
    ) -> Option<usize> {
        match self {
            Balancer::RoundRobin(b) => b.select(tried, now),
            Balancer::LeastConn(b) => {
                let chosen = b.select(tried, now);
                if let Some(r) = chosen {
                    b.started(r);
                }
                chosen
            }
            Balancer::Random(b) => {
                let chosen = b.select(tried, draws, now, rng);
                if let Some(r) = chosen {
                    b.started(r);
                }
                chosen
            }
        }
    }

    /// The attempt on `r` failed (error or timeout): it counts against `max_fails`.
    pub(in crate::model) fn failed(&mut self, r: usize, now: Nanos) {
        match self {
            Balancer::RoundRobin(b) => b.failed(r, now),
            Balancer::LeastConn(b) => {
                b.failed(r, now);
                b.finished(r);
            }
            Balancer::Random(b) => {
                b.failed(r, now);
                b.finished(r);
            }
        }
    }

    /// The attempt on `r` ended without failing (answered, or the client left).
    pub(in crate::model) fn succeeded(&mut self, r: usize) {
        match self {
            Balancer::RoundRobin(b) => b.succeeded(r),
            Balancer::LeastConn(b) => {
                b.succeeded(r);
                b.finished(r);
            }
            Balancer::Random(b) => {
                b.succeeded(r);
                b.finished(r);
            }
        }
    }
}
