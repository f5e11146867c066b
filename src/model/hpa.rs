//! The HorizontalPodAutoscaler of a service, wired: every sync period it reads each
//! replica's metric, asks the algorithm (`autoscaler.rs`) for a replica count and
//! scales the service to it (new replicas start and become ready as any other; removed
//! ones are terminated, newest first, as a scale-down does).
//!
//! Which replicas count (`groupPods`): a listening replica reports its metric; a
//! starting or crashed one (its container not serving) reports none (missing); a
//! terminated one is gone. The in-flight metric is read at the sync instant (a gauge a
//! metrics pipeline would scrape); the request rate is the replica's accepted
//! connections since the previous sync over the sync period.

use crate::engine::Scheduler;

use super::autoscaler::{Hpa, PodMetric};
use super::event::*;
use super::replica::ReplicaState;
use super::spec::{AutoscalerSpec, HpaMetric};
use super::world::World;

/// A service's autoscaler as it runs.
pub(super) struct HpaRt {
    pub(super) spec: AutoscalerSpec,
    pub(super) hpa: Hpa,
    pub(super) enabled: bool,
    /// Each replica's accepted total at the previous sync (by replica index).
    accepted_before: Vec<u64>,
}

impl HpaRt {
    pub(super) fn new(spec: AutoscalerSpec) -> HpaRt {
        HpaRt {
            spec,
            hpa: Hpa::new(),
            enabled: true,
            accepted_before: Vec::new(),
        }
    }
}

impl World {
    /// Schedule the first sync of every autoscaler.
    pub(super) fn start_autoscalers(&mut self, sched: &mut Scheduler<Event>) {
        for s in 0..self.services.len() {
            if let Some(h) = &self.services[s].hpa {
                sched.after(h.spec.hpa.sync_period, Event::Hpa { service: s as u32 });
            }
        }
    }

    /// One sync of service `s`'s autoscaler.
    pub(super) fn on_hpa_sync(&mut self, s: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let svc = &mut self.services[s];
        let Some(h) = svc.hpa.as_mut() else {
            return;
        };
        let period = h.spec.hpa.sync_period;
        sched.after(period, Event::Hpa { service: s as u32 });
        if !h.enabled {
            return;
        }
        let mut pods = Vec::with_capacity(svc.replicas.len());
        let replicas = svc.replicas.clone();
        let metric = h.spec.metric;
        let cpu: Vec<f64> = replicas
            .iter()
            .map(|&r| match metric {
                HpaMetric::CpuUtilisation => self.replica_cpu_percent(r, now, period),
                _ => 0.0,
            })
            .collect();
        let svc = &mut self.services[s];
        let Some(h) = svc.hpa.as_mut() else {
            return;
        };
        for (i, &r) in replicas.iter().enumerate() {
            let rep = &self.replicas[r];
            if h.accepted_before.len() <= r {
                h.accepted_before.resize(r + 1, 0);
            }
            let before = std::mem::replace(&mut h.accepted_before[r], rep.accepted);
            pods.push(match rep.state {
                ReplicaState::Ready => PodMetric::Value(match h.spec.metric {
                    HpaMetric::Inflight => f64::from(rep.inflight),
                    HpaMetric::RequestsPerSecond => {
                        rep.accepted.saturating_sub(before) as f64 / period.as_secs_f64().max(1e-9)
                    }
                    HpaMetric::CpuUtilisation => cpu[i],
                }),
                ReplicaState::Starting | ReplicaState::Down => PodMetric::Missing,
                ReplicaState::Terminated => continue,
            });
        }
        let current = svc.replicas.len() as u32;
        let decision = h.hpa.sync(&h.spec.hpa, now, current, &pods);
        if decision.desired == current {
            return;
        }
        let detail = match decision.proposal {
            Some(p) => format!(
                "autoscaler: {current} -> {} replicas ({} per replica {:.2}, target {})",
                decision.desired,
                match h.spec.metric {
                    HpaMetric::Inflight => "in-flight",
                    HpaMetric::RequestsPerSecond => "requests/s",
                    HpaMetric::CpuUtilisation => "CPU %",
                },
                p.average,
                h.spec.hpa.target_average_value
            ),
            None => format!(
                "autoscaler: {current} -> {} replicas (bounds {} to {})",
                decision.desired, h.spec.hpa.min_replicas, h.spec.hpa.max_replicas
            ),
        };
        let name = self.scenario.services[s].name.clone();
        self.note(now, "autoscaled", &name, detail);
        self.scale_to(s, decision.desired, sched);
    }

    /// An operator changes service `s`'s autoscaler.
    pub(super) fn set_autoscaler(
        &mut self,
        s: usize,
        min_replicas: Option<u32>,
        max_replicas: Option<u32>,
        target: Option<f64>,
        enabled: Option<bool>,
    ) {
        let Some(h) = self.services[s].hpa.as_mut() else {
            return;
        };
        if let Some(m) = min_replicas {
            h.spec.hpa.min_replicas = m;
        }
        if let Some(m) = max_replicas {
            h.spec.hpa.max_replicas = m;
        }
        if let Some(t) = target {
            h.spec.hpa.target_average_value = t;
        }
        if let Some(e) = enabled {
            h.enabled = e;
        }
    }
}
