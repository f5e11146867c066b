//! Requests: the client side of one HTTP exchange (a client's, or a handler's call),
//! from the first try to the answer. The hand-off between callers and replicas.

use crate::engine::{Key, Nanos, Scheduler, Timer};

use super::event::Event;
use super::world::World;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReqPhase {
    /// Handshake dropped; waiting for a retransmission or the connect timeout.
    Connecting { replica: usize },
    /// Connected; the request is with a handler (queued or running).
    Sent { handler: Key },
    /// Between attempts.
    Idle,
}

/// Who is waiting for a request's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Caller {
    /// A client, by index.
    Client(u32),
    /// A handler making a `call` step.
    Handler(Key),
}

pub(super) struct Request {
    pub(super) caller: Caller,
    pub(super) gateway: Option<u32>,
    pub(super) arrived: Nanos,
    pub(super) attempt: u16,
    /// Servers tried so far, in order; its length is the number of tries.
    pub(super) tried: Vec<usize>,
    /// Tries the gateway allows this request (nginx's `peer.tries`), set at the first.
    pub(super) tries: u32,
    pub(super) phase: ReqPhase,
    pub(super) last_failure: Option<u16>,
    /// The caller's timeout (client or call), cancelled when the request ends.
    pub(super) give_up_timer: Option<Timer>,
    /// The current attempt's connect or read timeout (gateway), cancelled when the
    /// attempt ends.
    pub(super) attempt_timer: Option<Timer>,
    /// The next SYN retransmission of a handshake the listener dropped.
    pub(super) syn_timer: Option<Timer>,
}

impl Request {
    /// A request that has not tried any server yet.
    pub(super) fn new(caller: Caller, gateway: Option<u32>, arrived: Nanos) -> Request {
        Request {
            caller,
            gateway,
            arrived,
            attempt: 0,
            tried: Vec::new(),
            tries: 0,
            phase: ReqPhase::Idle,
            last_failure: None,
            give_up_timer: None,
            attempt_timer: None,
            syn_timer: None,
        }
    }
}

impl World {
    /// End request `req`: take it out of the live requests and cancel its timers.
    pub(super) fn take_request(
        &mut self,
        req: Key,
        sched: &mut Scheduler<Event>,
    ) -> Option<Request> {
        let request = self.requests.remove(req)?;
        let timers = [
            request.give_up_timer,
            request.attempt_timer,
            request.syn_timer,
        ];
        for timer in timers.into_iter().flatten() {
            sched.cancel(timer);
        }
        Some(request)
    }

    /// Set the timer of the current attempt of `req`, replacing (cancelling) the one
    /// it had.
    pub(super) fn set_attempt_timer(
        &mut self,
        req: Key,
        timer: Timer,
        sched: &mut Scheduler<Event>,
    ) {
        if let Some(old) = self
            .requests
            .get_mut(req)
            .and_then(|q| q.attempt_timer.replace(timer))
        {
            sched.cancel(old);
        }
    }

    /// Set the next SYN retransmission of `req`'s handshake.
    pub(super) fn set_syn_timer(&mut self, req: Key, timer: Timer, sched: &mut Scheduler<Event>) {
        if let Some(old) = self
            .requests
            .get_mut(req)
            .and_then(|q| q.syn_timer.replace(timer))
        {
            sched.cancel(old);
        }
    }

    /// The current attempt of `req` is over: its timers will not be needed.
    pub(super) fn clear_attempt_timer(&mut self, req: Key, sched: &mut Scheduler<Event>) {
        let Some(q) = self.requests.get_mut(req) else {
            return;
        };
        for timer in [q.attempt_timer.take(), q.syn_timer.take()]
            .into_iter()
            .flatten()
        {
            sched.cancel(timer);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    Error,
    Timeout,
}
