//! Rollouts: how a new version of a service (a deploy, a rollback, a restart) replaces
//! its replicas, by the strategy of its Deployment.
//!
//! - `rolling`: Kubernetes `RollingUpdate` with `maxSurge: 1, maxUnavailable: 0`. One
//!   new replica starts for one old one; the old one stops once the new one is ready,
//!   then the next goes. Capacity never drops below the replica count.
//! - `recreate`: every replica's process stops (its in-flight requests are reset), then
//!   a process of the new version starts in its place and serves once it is ready, its
//!   `startup` later. The replica stays what callers are sent to, so they see what they
//!   see of a crashed replica restarting. Without a readiness or startup probe it stays
//!   listed and refuses connections (nginx 502, Envoy 503 UF) for exactly its start-up
//!   time: a supervisor restarting the process in place, or a Kubernetes `Recreate`
//!   Deployment without a readiness probe (such a pod counts as ready once its container
//!   runs, before the process listens). With a readiness or startup probe it leaves the
//!   endpoints until the probe passes: Kubernetes `Recreate` as the endpoints show it,
//!   empty (nginx "no live upstreams" 502, Envoy 503 UH). The seconds between the old
//!   pods' deletion and the new pods' creation (scheduling, image pull) count as zero.
//!
//! A restart (`kubectl rollout restart`) is a new revision identical to the current
//! one, rolled out like a deploy, so it follows the same strategy.

use crate::engine::Scheduler;

use super::event::*;
use super::replica::{fresh_callers, ReplicaState};
use super::spec::DeployStrategy;
use super::world::World;

impl World {
    /// Replace the replicas of service `s` that do not run its current version, by
    /// `strategy`.
    pub(super) fn roll_out(
        &mut self,
        s: usize,
        strategy: DeployStrategy,
        sched: &mut Scheduler<Event>,
    ) {
        match strategy {
            DeployStrategy::Rolling => self.continue_rollout(s, sched),
            DeployStrategy::Recreate => self.recreate(s, sched),
        }
    }

    /// Surge one: start one new replica of the current version for one old replica; the
    /// old one stops once the new one is ready (see `enter_service`), which calls this
    /// again for the next.
    pub(super) fn continue_rollout(&mut self, s: usize, sched: &mut Scheduler<Event>) {
        let current = self.services[s].current;
        let next_old = self.services[s].replicas.iter().copied().find(|&r| {
            let rep = &self.replicas[r];
            rep.version != current && !rep.being_replaced && rep.replaces.is_none()
        });
        if let Some(old) = next_old {
            self.replicas[old].being_replaced = true;
            let now = sched.now();
            let new = self.add_replica(s, now);
            self.replicas[new].replaces = Some(old);
            self.begin_startup(new, sched);
            self.refresh_peers(sched.now());
        }
    }

    /// Recreate: every replica of `s` stops, then the current version starts in its
    /// place (a new process: fresh pools, breakers, heap and probes, no back-off).
    fn recreate(&mut self, s: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        // `Recreate` scales every old ReplicaSet to zero first: a surge replica of an
        // unfinished rolling update goes, and the one it was to replace is recreated
        // with the rest, so the service keeps its replica count.
        let surge: Vec<usize> = self.services[s]
            .replicas
            .iter()
            .copied()
            .filter(|&r| self.replicas[r].replaces.is_some())
            .collect();
        for r in surge {
            if let Some(old) = self.replicas[r].replaces.take() {
                self.replicas[old].being_replaced = false;
            }
            self.terminate(r, "stopped before it was ready (recreate)".into(), sched);
        }
        let replicas = self.services[s].replicas.clone();
        // Every process stops before any is wiped, so a reset request the gateway
        // retries cannot land on a peer about to stop; and every pool gives its
        // connections back before a new process opens its own.
        for &r in &replicas {
            self.note_replica(
                now,
                "stopped",
                r,
                "process stopped (recreate): a new process starts in its place".into(),
            );
            let rep = &mut self.replicas[r];
            rep.state = ReplicaState::Down;
            // Its pending events (a restart after a crash, readiness, jobs) are stale.
            rep.incarnation += 1;
            self.probes_container_stopped(r, sched);
        }
        for &r in &replicas {
            self.wipe_replica(r, sched);
        }
        let current = self.services[s].current;
        for &r in &replicas {
            // A new pod: its probes tick from now.
            let probes = self.new_probes(s, current, now);
            let spec = &self.services[s].versions[current];
            let callers = fresh_callers(spec, self.scenario.seed, r);
            let rep = &mut self.replicas[r];
            rep.run(current, spec);
            rep.callers = callers;
            rep.probes = probes;
            rep.restarts_in_row = 0;
            rep.being_replaced = false;
            self.begin_startup(r, sched);
        }
        self.refresh_peers(now);
    }
}
