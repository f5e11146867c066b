//! The kubelet's probes of each replica: when they are sent, the HTTP request each is
//! (through the listener, the accept queue and a worker, like any request, so a
//! saturated server fails them), and what their results do: a liveness or startup
//! failure restarts the container (with the restart back-off), readiness takes the
//! replica out of the Service's endpoints and puts it back. The rules are `probe.rs`;
//! this module is their wiring.
//!
//! A service with a readiness or startup probe receives traffic only once its probes
//! say it is ready (without one, once it listens). Replicas running when the replay
//! starts are started and ready already.

use crate::engine::{Nanos, Scheduler};

use super::event::*;
use super::probe::{ContainerProbes, ProbeKind, ProbeOutcome, ProbeTransition};
use super::replica::ReplicaState;
use super::request::*;
use super::retry::AttemptOutcome;
use super::world::World;

/// A replica's probes and what they decided.
pub(super) struct ReplicaProbes {
    pub(super) probes: ContainerProbes,
    /// The probes say ready (readiness passed, or startup passed without readiness).
    pub(super) ready: bool,
    /// The instant a probe event of each kind is scheduled for, to schedule no twins.
    due: [Option<Nanos>; 3],
}

fn kind_index(kind: ProbeKind) -> usize {
    match kind {
        ProbeKind::Startup => 0,
        ProbeKind::Liveness => 1,
        ProbeKind::Readiness => 2,
    }
}

impl World {
    /// Probes for a new replica of a service that has any (created when the pod is).
    pub(super) fn new_probes(&self, s: usize, version: usize, now: Nanos) -> Option<ReplicaProbes> {
        let spec = &self.services[s].versions[version].probes;
        if spec.startup.is_none() && spec.liveness.is_none() && spec.readiness.is_none() {
            return None;
        }
        Some(ReplicaProbes {
            probes: ContainerProbes::new(spec, now),
            ready: false,
            due: [None; 3],
        })
    }

    /// Whether replica `r` waits for its probes to receive traffic.
    pub(super) fn gated_by_probes(&self, r: usize) -> bool {
        let spec = &self.spec_of(r).probes;
        spec.readiness.is_some() || spec.startup.is_some()
    }

    /// Whether the probes let replica `r` into the endpoints.
    pub(super) fn probes_allow(&self, r: usize) -> bool {
        !self.gated_by_probes(r) || self.replicas[r].probes.as_ref().is_some_and(|p| p.ready)
    }

    /// A replica that was running before the replay: its container started and every
    /// gating probe passed.
    pub(super) fn probes_primed(&mut self, r: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(p) = self.replicas[r].probes.as_mut() else {
            return;
        };
        p.probes.container_started(now);
        for kind in [ProbeKind::Startup, ProbeKind::Readiness] {
            if p.probes.spec(kind).is_some() {
                p.probes.probe_sent(kind, now);
                p.probes.record(kind, now, ProbeOutcome::Success);
            }
        }
        p.ready = true;
        self.schedule_probes(r, sched);
    }

    /// Replica `r`'s process started.
    pub(super) fn probes_container_started(&mut self, r: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(p) = self.replicas[r].probes.as_mut() else {
            return;
        };
        if let Some(t) = p.probes.container_started(now) {
            self.apply_probe_transition(r, t, sched);
        }
        self.schedule_probes(r, sched);
    }

    /// Replica `r`'s process stopped (crashed, killed, terminated).
    pub(super) fn probes_container_stopped(&mut self, r: usize, sched: &mut Scheduler<Event>) {
        let Some(p) = self.replicas[r].probes.as_mut() else {
            return;
        };
        if let Some(t) = p.probes.container_stopped() {
            self.apply_probe_transition(r, t, sched);
        }
    }

    /// Schedule the next probe of each kind, unless one is scheduled for that instant.
    fn schedule_probes(&mut self, r: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let incarnation = self.replicas[r].incarnation;
        let Some(p) = self.replicas[r].probes.as_mut() else {
            return;
        };
        for kind in ProbeKind::ALL {
            let Some(at) = p.probes.next_probe(kind, now) else {
                continue;
            };
            let i = kind_index(kind);
            if p.due[i] == Some(at) {
                continue;
            }
            p.due[i] = Some(at);
            sched.at(
                at,
                Event::Replica(ReplicaEvent::Probe {
                    replica: r as u32,
                    incarnation,
                    kind: i as u8,
                }),
            );
        }
    }

    /// A probe of replica `r` may be due: send it if it still is.
    pub(super) fn on_probe_due(&mut self, r: usize, kind: u8, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(kind) = ProbeKind::ALL.get(usize::from(kind)).copied() else {
            return;
        };
        if self.replicas[r].state == ReplicaState::Terminated {
            return;
        }
        let Some(p) = self.replicas[r].probes.as_mut() else {
            return;
        };
        let i = kind_index(kind);
        if p.due[i] == Some(now) {
            p.due[i] = None;
        }
        if p.probes.next_probe(kind, now) != Some(now) {
            // Overtaken (the container restarted, a probe is in flight): reschedule.
            self.schedule_probes(r, sched);
            return;
        }
        let Some(timeout) = p.probes.spec(kind).map(|s| s.timeout) else {
            return;
        };
        p.probes.probe_sent(kind, now);
        let req = self.requests.insert(Request::new(
            Caller::Probe {
                replica: r as u32,
                kind: i as u8,
            },
            Site::Probe,
            None,
            now,
        ));
        let timer = sched.timeout(timeout, Event::Client(ClientEvent::GiveUp { req }));
        if let Some(t) = self.timers_of(req) {
            t.give_up = Some(timer);
        }
        self.connect_direct(req, Some(r), sched);
    }

    /// The probe request `req` ended with `outcome`: count it, act on what it decided.
    pub(super) fn probe_answered(
        &mut self,
        replica: u32,
        kind: u8,
        outcome: AttemptOutcome,
        sched: &mut Scheduler<Event>,
    ) {
        let now = sched.now();
        let r = replica as usize;
        let Some(kind) = ProbeKind::ALL.get(usize::from(kind)).copied() else {
            return;
        };
        let result = match outcome {
            AttemptOutcome::Status(s) if (200..400).contains(&s) => ProbeOutcome::Success,
            AttemptOutcome::Timeout => ProbeOutcome::Timeout,
            _ => ProbeOutcome::Failure,
        };
        let Some(p) = self.replicas.get_mut(r).and_then(|rep| rep.probes.as_mut()) else {
            return;
        };
        if let Some(t) = p.probes.record(kind, now, result) {
            self.apply_probe_transition(r, t, sched);
        }
        self.schedule_probes(r, sched);
    }

    fn apply_probe_transition(
        &mut self,
        r: usize,
        t: ProbeTransition,
        sched: &mut Scheduler<Event>,
    ) {
        let now = sched.now();
        let set_ready = |world: &mut World, ready: bool| {
            if let Some(p) = world.replicas[r].probes.as_mut() {
                p.ready = ready;
            }
        };
        match t {
            ProbeTransition::Ready | ProbeTransition::Started { ready: true } => {
                set_ready(self, true);
                self.note_replica(
                    now,
                    "probe_ready",
                    r,
                    "readiness probe passed: in the Service's endpoints".into(),
                );
                if self.replicas[r].state == ReplicaState::Ready {
                    self.enter_service(r, sched);
                }
            }
            ProbeTransition::Started { ready: false } => {}
            ProbeTransition::NotReady => {
                set_ready(self, false);
                if self.replicas[r].state == ReplicaState::Ready {
                    let spec = self.spec_of(r).probes.readiness;
                    let n = spec.map_or(0, |s| s.failure_threshold);
                    self.note_replica(
                        now,
                        "probe_unready",
                        r,
                        format!("readiness probe failed {n} times in a row: out of the Service's endpoints"),
                    );
                }
                self.refresh_peers(now);
            }
            ProbeTransition::Restart(kind) => {
                let spec = self.replicas[r]
                    .probes
                    .as_ref()
                    .and_then(|p| p.probes.spec(kind).copied());
                let why = match spec {
                    Some(s) => format!(
                        "{} probe failed {} times in a row (every {}, timeout {}): container restarted",
                        kind.name(),
                        s.failure_threshold,
                        s.period,
                        s.timeout
                    ),
                    None => format!("{} probe failed: container restarted", kind.name()),
                };
                let what = match kind {
                    ProbeKind::Startup => "startup_probe_restart",
                    _ => "liveness_restart",
                };
                self.crash(r, what, why, sched);
            }
        }
    }
}
