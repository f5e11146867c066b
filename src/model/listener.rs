//! A replica's listener: the TCP handshake against the accept queue (SYN dropped and
//! retransmitted when it is full, or refused with `tcp_abort_on_overflow`), workers
//! taking connections off the queue, and the service's time-weighted occupancy. The
//! queue holds `backlog` + 1 connections, as Linux's does ([`acceptq_is_full`]).

use crate::engine::{Key, Nanos, Scheduler};

use super::event::*;
use super::handler::*;
use super::replica::*;
use super::request::*;
use super::routes::route_id;
use super::world::World;

/// Linux SYN retransmission intervals (initial RTO 1 s, doubling; `tcp_syn_retries` 6).
pub(super) const SYN_RETRY_INTERVALS_S: [u64; 6] = [1, 2, 4, 8, 16, 32];

/// Linux's `sk_acceptq_is_full` (include/net/sock.h): `sk_ack_backlog >
/// sk_max_ack_backlog`. The comparison is strict, so a connection is still queued when
/// `backlog` are waiting: the queue holds `backlog` + 1, and a backlog of 0 holds one.
/// The handshake checks it before queueing (`tcp_conn_request`, and again in
/// `tcp_v4_syn_recv_sock`).
pub(super) fn acceptq_is_full(queued: usize, backlog: u32) -> bool {
    queued as u64 > u64::from(backlog)
}

/// What became of a connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Connect {
    /// A handler has it (running or in the accept queue).
    Accepted,
    /// The handshake was dropped; a retransmission or a timeout will decide.
    Pending,
    /// Refused at once: the caller counts the failure and decides what next.
    Refused,
    /// The request ended meanwhile.
    Gone,
}

impl World {
    /// Route a listener event to its rule.
    pub(super) fn on_listener_event(&mut self, e: ListenerEvent, sched: &mut Scheduler<Event>) {
        match e {
            ListenerEvent::SynRetry { req, retry } => self.on_syn_retry(req, retry, sched),
        }
    }

    /// Open a connection for `req` to replica `r`: accepted (handler started or queued),
    /// refused (no listener, or a full queue with `tcp_abort_on_overflow`), or pending
    /// (the handshake was dropped on a full accept queue and will be retransmitted).
    /// A refusal is the caller's to handle: the gateway tries its next peer in a loop.
    pub(super) fn connect(&mut self, req: Key, r: usize, sched: &mut Scheduler<Event>) -> Connect {
        let now = sched.now();
        let Some(request) = self.requests.get(req) else {
            return Connect::Gone;
        };
        let attempt = request.attempt;
        let gateway = request.gateway;
        let req_route = request.route;
        let probe = matches!(request.caller, Caller::Probe { .. });
        let rep = &self.replicas[r];
        let s = rep.service;
        if rep.state != ReplicaState::Ready {
            self.services[s].totals.refused += 1;
            return Connect::Refused;
        }
        let spec = &*rep.spec;
        let free_worker = spec.workers.is_none_or(|w| rep.busy_workers < w);
        let queue_room = !acceptq_is_full(rep.accept_queue.len(), spec.backlog);
        let abort_on_overflow = spec.abort_on_overflow;
        if !free_worker && !queue_room {
            if abort_on_overflow {
                self.services[s].totals.refused += 1;
                return Connect::Refused;
            } else {
                self.services[s].totals.dropped_syn += 1;
                let connecting = matches!(request.phase, ReqPhase::Connecting { .. });
                let retransmission = match self.request_timers.handshake(req) {
                    // Already connecting: its retransmission timer stays as it is.
                    Some(h) if connecting => h.retransmission,
                    _ => {
                        if let Some(g) = gateway {
                            let t = self.scenario.gateways[g as usize].connect_timeout;
                            let timer = sched.timeout(
                                t,
                                Event::Gateway(GatewayEvent::ConnectTimeout { req, attempt }),
                            );
                            self.set_attempt_timer(req, timer, sched);
                        }
                        sched.timeout(
                            Nanos::from_secs(SYN_RETRY_INTERVALS_S[0]),
                            Event::Listener(ListenerEvent::SynRetry { req, retry: 0 }),
                        )
                    }
                };
                self.request_timers.set_handshake(
                    req,
                    Handshake {
                        replica: r as u32,
                        retransmission,
                    },
                );
                if let Some(q) = self.requests.get_mut(req) {
                    q.phase = ReqPhase::Connecting { replica: r as u32 };
                }
            }
            return Connect::Pending;
        }
        self.services[s].totals.accepted += 1;
        self.replicas[r].accepted += 1;
        self.enter_system(s, now);
        let routes = &self.spec_of(r).handler;
        let route = routes.route_index(route_id(req_route));
        let first_step = if probe {
            0
        } else {
            routes.routes[route].first_step
        };
        let handler = self.handlers.insert(Handler {
            replica: r,
            origin: Some((req, attempt)),
            step: first_step,
            phase: HandlerPhase::Queued,
            waits: 0,
            connected: now,
            cancelled: false,
            probe,
            route: route as u16,
            acquire_timer: None,
            allocated: false,
            fill: None,
            refresh: false,
        });
        if let Some(q) = self.requests.get_mut(req) {
            if let ReqPhase::Connecting { .. } =
                std::mem::replace(&mut q.phase, ReqPhase::Sent { handler })
            {
                self.request_timers.end_handshake(req, sched);
            }
        }
        if let Some(t) = gateway.and_then(|g| self.gateway_read_timeout(g as usize, req_route)) {
            let timer = sched.timeout(
                t,
                Event::Gateway(GatewayEvent::ReadTimeout { req, attempt }),
            );
            self.set_attempt_timer(req, timer, sched);
        }
        if free_worker {
            if self.admit_at_worker(handler, r, sched) {
                self.start_handler(handler, sched);
            }
        } else {
            self.replicas[r].accept_queue.push_back(handler);
        }
        Connect::Accepted
    }

    /// A dropped handshake's retransmission fires. It is the pending one of a live
    /// request's handshake in progress ([`RequestTimers`]' invariant: any other was
    /// cancelled), so the request itself is read only when the handshake ends here;
    /// dropped again, only the replica and the handshake's 16 bytes are.
    pub(super) fn on_syn_retry(&mut self, req: Key, retry: u8, sched: &mut Scheduler<Event>) {
        let Some(handshake) = self.request_timers.handshake(req) else {
            return;
        };
        #[cfg(test)]
        assert!(
            self.requests.get(req).is_some_and(|q| q.phase
                == ReqPhase::Connecting {
                    replica: handshake.replica
                }),
            "a retransmission fired for a request not connecting to its replica"
        );
        let replica = handshake.replica as usize;
        let rep = &self.replicas[replica];
        let s = rep.service;
        if rep.state != ReplicaState::Ready {
            // The process died while the handshake was pending: now it is refused.
            self.services[s].totals.refused += 1;
            self.handshake_failed(req, Failure::Error, sched);
            return;
        }
        let spec = &*rep.spec;
        let free = spec.workers.is_none_or(|w| rep.busy_workers < w)
            || !acceptq_is_full(rep.accept_queue.len(), spec.backlog);
        if free {
            // Room now, so the connection is accepted.
            if self.connect(req, replica, sched) == Connect::Refused {
                self.handshake_failed(req, Failure::Error, sched);
            }
            return;
        }
        self.services[s].totals.dropped_syn += 1;
        let next = usize::from(retry) + 1;
        if next < SYN_RETRY_INTERVALS_S.len() {
            // The retransmission that fired is replaced by the next.
            let retransmission = sched.timeout(
                Nanos::from_secs(SYN_RETRY_INTERVALS_S[next]),
                Event::Listener(ListenerEvent::SynRetry {
                    req,
                    retry: next as u8,
                }),
            );
            self.request_timers.set_handshake(
                req,
                Handshake {
                    retransmission,
                    ..handshake
                },
            );
        } else {
            // tcp_syn_retries exhausted: the connect fails with ETIMEDOUT.
            self.handshake_failed(req, Failure::Timeout, sched);
        }
    }

    /// The handshake in progress of `req`'s current attempt failed: the caller (or its
    /// gateway) decides what next.
    fn handshake_failed(&mut self, req: Key, failure: Failure, sched: &mut Scheduler<Event>) {
        if let Some(attempt) = self.requests.get(req).map(|q| q.attempt) {
            self.upstream_failed(req, attempt, failure, false, sched);
        }
    }

    /// A worker of replica `r` is free: take the next live connection off its accept
    /// queue. Connections whose caller left while queued are read, found closed, and
    /// dropped without occupying the worker.
    pub(super) fn accept_next(&mut self, r: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        loop {
            let rep = &self.replicas[r];
            if rep.state != ReplicaState::Ready {
                return;
            }
            let workers = rep.spec.workers;
            if workers.is_some_and(|w| rep.busy_workers >= w) {
                return;
            }
            let Some(next) = self.replicas[r].accept_queue.pop_front() else {
                return;
            };
            let cancelled = self.handlers.get(next).is_none_or(|h| h.cancelled);
            if cancelled {
                if self.handlers.remove(next).is_some() {
                    let s = self.replicas[r].service;
                    self.services[s].totals.unanswered += 1;
                    self.leave_system(s, now);
                }
                continue;
            }
            if !self.admit_at_worker(next, r, sched) {
                continue;
            }
            self.start_handler(next, sched);
            return;
        }
    }

    /// A worker of replica `r` picks up handler `h`'s connection: shed it (answer the
    /// service's shed status at once, without work) when the replica is at its
    /// concurrency limit or the connection waited past the queue timeout. Returns
    /// whether it may start.
    #[inline]
    fn admit_at_worker(&mut self, h: Key, r: usize, sched: &mut Scheduler<Event>) -> bool {
        let spec = self.spec_of(r);
        // Nothing to shed on and no route bulkhead: the common case, decided without
        // looking the handler up.
        (spec.shed.is_none() && spec.handler.admits_every_route())
            || self.admit_under_limits(h, sched)
    }

    /// [`World::admit_at_worker`] for a replica that sheds or has route bulkheads.
    #[inline(never)]
    fn admit_under_limits(&mut self, h: Key, sched: &mut Scheduler<Event>) -> bool {
        let now = sched.now();
        let Some(hd) = self.handlers.get(h) else {
            return false;
        };
        let r = hd.replica;
        let waited = now.saturating_sub(hd.connected);
        if !self.route_admits(h, sched) {
            return false;
        }
        let Some(shed) = self.spec_of(r).shed else {
            return true;
        };
        let over_limit = shed
            .concurrency_limit
            .is_some_and(|limit| self.replicas[r].inflight >= limit);
        let too_late = shed.queue_timeout.is_some_and(|t| waited > t);
        if !over_limit && !too_late {
            return true;
        }
        let s = self.replicas[r].service;
        self.services[s].totals.shed += 1;
        self.end_handler(h, Some(shed.status), sched);
        false
    }

    pub(super) fn enter_system(&mut self, s: usize, now: Nanos) {
        self.touch_in_system(s, now, 1);
    }

    pub(super) fn leave_system(&mut self, s: usize, now: Nanos) {
        self.touch_in_system(s, now, -1);
    }

    pub(super) fn touch_in_system(&mut self, s: usize, now: Nanos, delta: i32) {
        let svc = &mut self.services[s];
        svc.in_system_area
            .add_times(now.saturating_sub(svc.in_system_since), svc.in_system);
        svc.in_system_since = now;
        svc.in_system = svc.in_system.saturating_add_signed(delta);
    }
}

#[cfg(test)]
mod tests {
    use super::acceptq_is_full;
    use crate::engine::{self, Nanos, Scheduler};
    use crate::incident::{self, Overrides};
    use crate::model::request::ReqPhase;
    use crate::model::world::World;

    /// A retransmission that fires is trusted to be its live request's handshake in
    /// progress (it reads no request to check), so every way out of `Connecting` must
    /// take the handshake's entry. Checked every 5 s through the bench's overload model
    /// (handshakes dropped by the thousand, retransmitted, accepted, timed out by nginx
    /// and abandoned by their clients) and the five bundled incidents whose listeners
    /// drop handshakes in their first 15 minutes (one behind an Envoy gateway).
    #[test]
    fn a_request_has_a_handshake_entry_exactly_while_it_connects() {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut files = vec![format!("{root}/bench/overload.yaml")];
        for name in [
            "envoy-retry-amplification",
            "retry-storm",
            "scale-out-exhausts-postgres",
            "shakespeare-2015-10-sonnet",
            "stripe-2015-10-index-drop",
        ] {
            files.push(format!("{root}/incidents/{name}.yaml"));
        }
        for file in &files {
            let mut most_connecting = 0;
            let text = std::fs::read_to_string(file).expect("a bundled file");
            let overrides = Overrides {
                duration: Some(Nanos::from_secs(15 * 60)),
                ..Overrides::default()
            };
            let scenario = incident::parse(file, &text, &overrides).expect("valid");
            let end = scenario.duration;
            let mut world = World::new(scenario);
            let mut sched = Scheduler::new();
            world.start(&mut sched);
            let mut at = Nanos::ZERO;
            while at < end {
                at = at.saturating_add(Nanos::from_secs(5)).min(end);
                engine::run(&mut world, &mut sched, at);
                let mut connecting = 0;
                for key in world.requests.keys() {
                    let phase = world.requests.get(key).map(|q| q.phase);
                    let is_connecting = matches!(phase, Some(ReqPhase::Connecting { .. }));
                    connecting += usize::from(is_connecting);
                    assert_eq!(
                        world.request_timers.handshake(key).is_some(),
                        is_connecting,
                        "{file}: request {key:?} at {at}: {phase:?}"
                    );
                }
                // No slot without a connecting request holds one either.
                assert_eq!(
                    world.request_timers.handshakes_held(),
                    connecting,
                    "{file} at {at}"
                );
                most_connecting = most_connecting.max(connecting);
            }
            assert!(most_connecting > 0, "{file}: no handshake was ever dropped");
        }
    }

    #[test]
    fn a_listener_holds_its_backlog_plus_one() {
        assert!(!acceptq_is_full(0, 0), "backlog 0 still queues one");
        assert!(acceptq_is_full(1, 0));
        assert!(!acceptq_is_full(128, 128));
        assert!(acceptq_is_full(129, 128));
        assert!(!acceptq_is_full(u32::MAX as usize, u32::MAX), "no overflow");
    }
}
