//! Injected faults, wired: before a replica's handler runs its steps, the service's
//! faults (if any are on) may reset the connection, hold the request for a fixed delay,
//! or answer an abort status without running it, each for its share of requests. The
//! order is Envoy's fault filter's: the delay first, then the abort; a reset ends the
//! request at once. Probes are not faulted (Envoy's filter sits on the traffic path).

use crate::engine::{Key, Scheduler};

use super::event::*;
use super::world::World;

impl World {
    /// Apply the faults of service `s` to its handler `h` as it starts. Returns whether
    /// it goes on to its steps now (false: it was ended, or is held by a delay that
    /// resumes it). Inlined: nearly every service injects none, and that answer costs
    /// one look at the service on every handler's start.
    #[inline]
    pub(super) fn inject_fault(&mut self, h: Key, s: usize, sched: &mut Scheduler<Event>) -> bool {
        self.services[s].faults.is_none() || self.inject_service_fault(h, sched)
    }

    /// [`World::inject_fault`] for a service with faults on.
    #[inline(never)]
    fn inject_service_fault(&mut self, h: Key, sched: &mut Scheduler<Event>) -> bool {
        let Some(hd) = self.handlers.get(h) else {
            return false;
        };
        if hd.probe {
            return true;
        }
        let s = self.replicas[hd.replica].service;
        let origin = hd.origin;
        let svc = &mut self.services[s];
        let Some(f) = svc.faults else {
            return true;
        };
        if f.reset > 0.0 && svc.fault_rng.uniform_open01() < f.reset {
            svc.totals.faults_injected += 1;
            self.end_handler(h, None, sched);
            if let Some((req, attempt)) = origin {
                self.upstream_reset(req, attempt, sched);
            }
            return false;
        }
        let svc = &mut self.services[s];
        if let Some((delay, share)) = f.delay {
            if svc.fault_rng.uniform_open01() < share {
                svc.totals.faults_injected += 1;
                sched.after(
                    delay,
                    Event::Handler(HandlerEvent::FaultDelayOver { handler: h }),
                );
                return false;
            }
        }
        self.fault_abort(h, sched)
    }

    /// A faulted request's delay is over: the abort may still apply, then the steps.
    pub(super) fn on_fault_delay_over(&mut self, h: Key, sched: &mut Scheduler<Event>) {
        if self.fault_abort(h, sched) {
            self.advance(h, sched);
        }
    }

    /// The abort fault: answer its status to its share of requests. Returns whether the
    /// handler goes on.
    fn fault_abort(&mut self, h: Key, sched: &mut Scheduler<Event>) -> bool {
        let Some(hd) = self.handlers.get(h) else {
            return false;
        };
        let s = self.replicas[hd.replica].service;
        let svc = &mut self.services[s];
        let Some((status, share)) = svc.faults.and_then(|f| f.abort) else {
            return true;
        };
        if svc.fault_rng.uniform_open01() < share {
            svc.totals.faults_injected += 1;
            self.end_handler(h, Some(status), sched);
            return false;
        }
        true
    }
}
