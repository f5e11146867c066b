//! Requests: the client side of one HTTP exchange (a client's, or a handler's call),
//! from the first try to the answer. The hand-off between callers and replicas.

use smallvec::SmallVec;

use crate::engine::{Key, Nanos, Scheduler, Timer};

use super::event::Event;
use super::retry::Exchange;
use super::world::World;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReqPhase {
    /// Handshake dropped; waiting for a retransmission or the connect timeout. The
    /// pending retransmission is not kept here but in [`RequestTimers`]' dense column
    /// of [`Handshake`]s (cancelled when the attempt ends first): an overloaded replica
    /// drops a handshake several times on a request nobody touches for a minute, and
    /// each retransmission then reads and writes 16 bytes in a table of a few
    /// megabytes instead of the request's line in tens of them.
    Connecting { replica: u32 },
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
    /// The kubelet probing a replica (`kind`: startup, liveness, readiness).
    Probe { replica: u32, kind: u8 },
}

/// Whose retrier and breaker an exchange uses: a client's, or a call step's in one
/// replica process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Site {
    /// A client, by index.
    Client(u32),
    /// A `call` step (by index) of the handler running on a replica.
    Call { replica: u32, step: u32 },
    /// A kubelet probe: no retrier, no breaker.
    Probe,
}

/// In declaration order (`repr(C)`), with what a timer firing on a request nobody has
/// touched for seconds reads first (a connect, read or give-up timeout, a handshake's
/// end: its gateway, phase, attempt and flags): behind the slab's generation they take
/// the first 40 bytes of its 128-byte slot, one cache line or two, where Rust's own
/// order spread them over three.
#[repr(C)]
pub(super) struct Request {
    pub(super) gateway: Option<u32>,
    pub(super) phase: ReqPhase,
    pub(super) attempt: u16,
    /// The attempt whose response header came (a `body` step): after it the reader
    /// cannot answer another status.
    pub(super) header_attempt: Option<u16>,
    /// Its route (global id), or `NO_ROUTE`.
    pub(super) route: u16,
    /// It has set a timer ([`World::timers_of`]): only then are its [`Timers`] looked
    /// at when an attempt or the request ends (most requests of a model without
    /// timeouts never set one, and their slot's timers are all None).
    pub(super) timed: bool,
    /// The request counts against the gateway's `limit_conn`.
    pub(super) holds_conn: bool,
    /// The current attempt waits out a `limit_req` delay.
    pub(super) delayed: bool,
    /// An Envoy gateway is retrying this request (it counts in the retry budget).
    pub(super) upstream_retry: bool,
    /// Tries the gateway allows this request (nginx's `peer.tries`), set at the first.
    pub(super) tries: u32,
    /// Random draws the gateway's balancer made for this request (nginx's `rp->tries`).
    pub(super) draws: u32,
    pub(super) caller: Caller,
    pub(super) site: Site,
    /// When the current attempt was sent (the gateway's latency is per attempt).
    pub(super) arrived: Nanos,
    /// When the first attempt was sent (the caller's latency).
    pub(super) first_sent: Nanos,
    /// The caller's retry bookkeeping across attempts.
    pub(super) exchange: Exchange,
    /// Servers tried so far, in order; its length is the number of tries. Nearly every
    /// request tries one or two, so they are kept inline: no allocation per request.
    pub(super) tried: SmallVec<[usize; 2]>,
}

/// A live request's pending timers, kept beside it ([`RequestTimers`]) rather than in
/// it: most requests never set one, and without them a request is small enough to be
/// moved into its slab slot without a `memcpy` call, and read in fewer cache lines.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Timers {
    /// The caller's timeout for the current attempt (client or call), cancelled when
    /// the attempt ends.
    pub(super) give_up: Option<Timer>,
    /// The current attempt's connect or read timeout (gateway), cancelled when the
    /// attempt ends. (The SYN retransmission of a handshake in progress is kept apart,
    /// in its [`Handshake`].)
    pub(super) attempt: Option<Timer>,
    /// An Envoy gateway's route timeout for this request.
    pub(super) route: Option<Timer>,
}

/// A handshake in progress: the replica it was dropped by and its pending SYN
/// retransmission. 16 bytes, aligned to 16, so that one never straddles two cache
/// lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(align(16))]
pub(super) struct Handshake {
    pub(super) replica: u32,
    pub(super) retransmission: Timer,
}

/// Every request's [`Timers`], and its [`Handshake`] in progress, by the slot of its
/// key in the requests' slab. Invariants: the timers of a slot without a live request
/// are all None ([`World::take_request`] takes those of a request marked `timed`, a
/// request that is not has never set one, and [`World::timers_of`] hands out only a
/// live request's), so a reused slot starts with none; a slot's handshake is Some
/// exactly while its request is in [`ReqPhase::Connecting`] (every way out of that
/// phase takes it and cancels its retransmission), so a retransmission that fires
/// belongs to the handshake in progress of a live request.
#[derive(Default)]
pub(super) struct RequestTimers {
    timers: Vec<Timers>,
    handshakes: Vec<Option<Handshake>>,
}

impl RequestTimers {
    /// The timers of slot `key.slot()` (grown on demand); the caller has checked that
    /// the key is live.
    #[inline]
    pub(super) fn at(&mut self, key: Key) -> &mut Timers {
        grown_to(&mut self.timers, key.slot())
    }

    /// Set the handshake of `key` (replacing the one whose retransmission fired, or
    /// none).
    #[inline]
    pub(super) fn set_handshake(&mut self, key: Key, handshake: Handshake) {
        *grown_to(&mut self.handshakes, key.slot()) = Some(handshake);
    }

    /// Start fetching the timers of `key` into the cache.
    #[inline]
    pub(super) fn prefetch_timers(&self, key: Key) {
        prefetch_slot(&self.timers, key);
    }

    /// The pending connect or read timeout of `key`'s slot, if any.
    #[inline]
    pub(super) fn attempt_timer(&self, key: Key) -> Option<Timer> {
        self.timers.get(key.slot()).and_then(|t| t.attempt)
    }

    /// Start fetching the handshake of `key` into the cache.
    #[inline]
    pub(super) fn prefetch_handshake(&self, key: Key) {
        prefetch_slot(&self.handshakes, key);
    }

    /// The handshake of `key` in progress, if any.
    #[inline]
    pub(super) fn handshake(&self, key: Key) -> Option<Handshake> {
        self.handshakes.get(key.slot()).copied().flatten()
    }

    /// How many slots hold a handshake (for tests of the invariant).
    #[cfg(test)]
    pub(super) fn handshakes_held(&self) -> usize {
        self.handshakes.iter().flatten().count()
    }

    /// The handshake of `key` is over (its request leaves [`ReqPhase::Connecting`]):
    /// cancel its pending retransmission (nothing happens if it is the one firing).
    #[inline]
    pub(super) fn end_handshake(&mut self, key: Key, sched: &mut Scheduler<Event>) {
        if let Some(h) = self.handshakes.get_mut(key.slot()).and_then(Option::take) {
            sched.cancel(h.retransmission);
        }
    }

    /// Cancel the timers `take` takes from the slot of live request `key`; nothing to
    /// do for a request that never set one (`timed` false). Always inlined: that
    /// check is all most requests need, and a call would cost more.
    #[inline(always)]
    pub(super) fn cancel<const N: usize>(
        &mut self,
        key: Key,
        timed: bool,
        sched: &mut Scheduler<Event>,
        take: impl FnOnce(&mut Timers) -> [Option<Timer>; N],
    ) {
        if timed {
            for timer in take(self.at(key)).into_iter().flatten() {
                sched.cancel(timer);
            }
        }
    }

    /// The current attempt of live request `q` (key `req`) is over: it is idle, and the
    /// attempt's timers (its connect or read timeout, its handshake's SYN
    /// retransmission) are cancelled; with `give_up`, the caller's timeout too. Always
    /// inlined: two callers, and a call costs as much as its common case (no timers).
    #[inline(always)]
    pub(super) fn end_attempt(
        &mut self,
        req: Key,
        q: &mut Request,
        give_up: bool,
        sched: &mut Scheduler<Event>,
    ) {
        if let ReqPhase::Connecting { .. } = std::mem::replace(&mut q.phase, ReqPhase::Idle) {
            self.end_handshake(req, sched);
        }
        self.cancel(req, q.timed, sched, |t| {
            [t.attempt.take(), t.give_up.take_if(|_| give_up)]
        });
    }
}

/// Start fetching the entry of `key`'s slot in `column` into the cache.
#[inline]
fn prefetch_slot<T>(column: &[T], key: Key) {
    if let Some(entry) = column.get(key.slot()) {
        crate::engine::prefetch(entry);
    }
}

/// Entry `i` of `column`, grown with defaults to hold it.
#[inline]
fn grown_to<T: Default + Clone>(column: &mut Vec<T>, i: usize) -> &mut T {
    if column.len() <= i {
        column.resize(i + 1, T::default());
    }
    &mut column[i]
}

impl Request {
    /// Whether the current attempt has had its response header.
    pub(super) fn header_sent(&self) -> bool {
        self.header_attempt == Some(self.attempt)
    }

    /// A request that has not tried any server yet.
    pub(super) fn new(caller: Caller, site: Site, gateway: Option<u32>, arrived: Nanos) -> Request {
        Request {
            caller,
            site,
            gateway,
            arrived,
            first_sent: arrived,
            exchange: Exchange::default(),
            attempt: 0,
            tried: SmallVec::new(),
            tries: 0,
            draws: 0,
            holds_conn: false,
            delayed: false,
            upstream_retry: false,
            header_attempt: None,
            route: super::routes::NO_ROUTE,
            phase: ReqPhase::Idle,
            timed: false,
        }
    }
}

/// What is left to know of a request once it has ended.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ended {
    pub(super) caller: Caller,
    pub(super) site: Site,
    pub(super) phase: ReqPhase,
    pub(super) first_sent: Nanos,
    pub(super) exchange: Exchange,
}

impl World {
    /// End request `req`: take it out of the live requests and cancel its timers.
    /// Always inlined into its two callers: what is left of the request is then kept in
    /// registers rather than returned through memory.
    #[inline(always)]
    pub(super) fn take_request(&mut self, req: Key, sched: &mut Scheduler<Event>) -> Option<Ended> {
        let (ended, timed) = self.requests.remove_with(req, |q| {
            let ended = Ended {
                caller: q.caller,
                site: q.site,
                phase: q.phase,
                first_sent: q.first_sent,
                exchange: q.exchange,
            };
            (ended, q.timed)
        })?;
        if let ReqPhase::Connecting { .. } = ended.phase {
            self.request_timers.end_handshake(req, sched);
        }
        // The key was live: its slot's timers are this request's.
        self.request_timers.cancel(req, timed, sched, |t| {
            let t = std::mem::take(t);
            [t.give_up, t.attempt, t.route]
        });
        Some(ended)
    }

    /// The timers of `req`, if it is live, to set or take one (the request is marked
    /// `timed` from then on).
    #[inline]
    pub(super) fn timers_of(&mut self, req: Key) -> Option<&mut Timers> {
        self.requests.get_mut(req)?.timed = true;
        Some(self.request_timers.at(req))
    }

    /// Set the timer of the current attempt of `req`, replacing (cancelling) the one
    /// it had.
    pub(super) fn set_attempt_timer(
        &mut self,
        req: Key,
        timer: Timer,
        sched: &mut Scheduler<Event>,
    ) {
        if let Some(old) = self.timers_of(req).and_then(|t| t.attempt.replace(timer)) {
            sched.cancel(old);
        }
    }

    /// The current attempt of `req` is over at the gateway ([`RequestTimers::end_attempt`],
    /// the caller's timeout kept). Returns the request, or None if it has ended.
    pub(super) fn end_attempt(
        &mut self,
        req: Key,
        sched: &mut Scheduler<Event>,
    ) -> Option<&mut Request> {
        let q = self.requests.get_mut(req)?;
        self.request_timers.end_attempt(req, q, false, sched);
        Some(q)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    Error,
    Timeout,
}

#[cfg(test)]
mod tests {
    /// A request is alive from the first try to the answer: an overloaded replay holds
    /// over 100,000 of them, so its size is the replay's memory. Servers tried are kept
    /// inline (two without allocating), not in a `Vec` of their own.
    ///
    /// Its timers beside it count too: 120 bytes for the request (with the slab's
    /// generation, a slot of two cache lines), 36 for the timers and 16 for a
    /// handshake in progress, 172 in all.
    #[test]
    fn a_request_stays_small() {
        let size = std::mem::size_of::<super::Request>();
        assert!(size <= 120, "Request grew to {size} bytes");
        let timers = std::mem::size_of::<super::Timers>();
        let handshake = std::mem::size_of::<Option<super::Handshake>>();
        assert_eq!(handshake, 16, "a handshake no longer fits a 16-byte cell");
        assert!(
            size + timers + handshake <= 172,
            "Request and its timers grew to {size} + {timers} + {handshake} bytes"
        );
    }
}
