//! The discrete-event core: simulated time, the pending-event queue, seeded random
//! streams, a generational slab, and the run loop.
//!
//! The engine knows nothing of services, pools or gateways. A model plugs in through
//! [`Model`]: the engine pops the earliest event and hands it to the model together with
//! a [`Scheduler`] through which the model schedules further events. Time is an integer
//! count of nanoseconds and ties pop in insertion order (one sequence counter for every
//! push), so a run is reproducible bit for bit from its seed.
//!
//! The queue ([`EventQueue`]) is a 4-ary heap (`dary_heap`: half the depth of a binary heap,
//! its four children side by side in memory) for ordinary events plus one FIFO lane per
//! distinct timer delay for cancellable timers ([`Scheduler::timeout`],
//! [`Scheduler::cancel`]). Timeouts are set on nearly every request and are nearly
//! always cancelled; in lanes a push and a cancel are O(1), and a cancelled timer is
//! never delivered and soon dropped (memory follows the live timers), where a heap
//! would sift past every dead timeout until it came due. See `queue.rs` for the design.
//!
//! [`run_sampled`] adds exact interval boundaries: [`Model::boundary`] is called at every
//! multiple of a period, before any event at or after that instant, so that metric rows
//! are the half-open intervals `[t, t + every)`.

mod chunked;
mod heap;
mod lane;
mod prefetch;
mod queue;
mod rng;
mod slab;
mod time;
mod timer;

pub use prefetch::prefetch;
pub use queue::{EventQueue, Next, MAX_LANES};
pub use rng::{mix64, SimRng};
pub use slab::{Key, Slab};
pub use time::{Nanos, NanosSum};
pub use timer::Timer;

/// What a simulated world must provide to be driven by [`run`].
pub trait Model {
    /// The model's own event type; the engine only orders and delivers it. `Copy`:
    /// events are small values, copied out of the queue as they fire.
    type Event: Copy;

    /// Handle one event at simulated time `sched.now()`.
    fn handle(&mut self, event: Self::Event, sched: &mut Scheduler<Self::Event>);

    /// The interval boundary at `at` (a multiple of the period given to
    /// [`run_sampled`]; `sched.now() == at`): every event before `at` has been handled and
    /// none at or after it. Events scheduled from here at `at` itself come after this
    /// call. Not called by [`run`]. The default does nothing.
    fn boundary(&mut self, at: Nanos, sched: &mut Scheduler<Self::Event>) {
        let _ = (at, sched);
    }

    /// Timer `event` will fire soon ([`PREFETCH_FAR`] timers of one lane from now):
    /// start fetching what it will read ([`prefetch`]), so that its cache misses
    /// overlap with the work of the events before it. A hint: it must change nothing.
    /// Called by [`run_sampled`]. The default does nothing.
    fn prefetch(&self, event: &Self::Event) {
        let _ = event;
    }

    /// Timer `event`, which [`Model::prefetch`] was shown, will fire sooner
    /// ([`PREFETCH_NEAR`] timers from now): what that fetched is likely in the cache
    /// by now, so it may be read to fetch what it leads to, such as the queue entries
    /// of the timers the event will cancel ([`EventQueue::prefetch_timer`]). A hint:
    /// it must change nothing. The default does nothing.
    fn prefetch_cancels(&self, event: &Self::Event, queue: &EventQueue<Self::Event>) {
        let _ = (event, queue);
    }
}

/// How far ahead in a timer lane [`run_sampled`] shows the model the timer whose
/// state it should start fetching ([`Model::prefetch`]): enough events that a line
/// fetched from memory has arrived when it is read, few enough that it is still in
/// the cache.
pub const PREFETCH_FAR: usize = 16;

/// How far ahead [`run_sampled`] shows the model the timer whose state, fetched
/// [`PREFETCH_FAR`] timers earlier, leads to more to fetch ([`Model::prefetch_cancels`]).
pub const PREFETCH_NEAR: usize = 8;

/// How far ahead in a lane [`run_sampled`] fetches the lane's own entries, so that they
/// are in the cache when the model is shown them.
const LANE_FETCH_AHEAD: usize = 4 * PREFETCH_FAR;

/// The model's handle on the clock and the pending-event queue.
pub struct Scheduler<E> {
    now: Nanos,
    queue: EventQueue<E>,
}

impl<E: Copy> Scheduler<E> {
    /// A scheduler at time zero with an empty queue.
    pub fn new() -> Self {
        Scheduler {
            now: Nanos::ZERO,
            queue: EventQueue::new(),
        }
    }

    /// The current simulated time.
    #[inline]
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// Schedule `event` to happen `delay` from now.
    #[inline]
    pub fn after(&mut self, delay: Nanos, event: E) {
        self.queue.push(self.now.saturating_add(delay), event);
    }

    /// Schedule `event` at the absolute time `at` (never earlier than now).
    #[inline]
    pub fn at(&mut self, at: Nanos, event: E) {
        self.queue.push(at.max(self.now), event);
    }

    /// Schedule `event` `delay` from now, like [`Scheduler::after`], and return a handle
    /// that can [`cancel`](Scheduler::cancel) it. Meant for timeouts that usually do not
    /// fire: a cancelled timer is never delivered, never counted, and stops costing
    /// anything. Cheapest when the model uses few distinct delays (up to [`MAX_LANES`]
    /// get a lane each).
    #[inline]
    pub fn timeout(&mut self, delay: Nanos, event: E) -> Timer {
        let at = self.now.saturating_add(delay);
        self.queue.push_timer(at, delay, event)
    }

    /// Schedule `event` `delay` from now and return a handle that can
    /// [`cancel`](Scheduler::cancel) it, like [`Scheduler::timeout`], for a delay that
    /// differs from one timer to the next (the next completion on a set of cores): it
    /// is kept in the heap and takes no lane.
    #[inline]
    pub fn cancellable_after(&mut self, delay: Nanos, event: E) -> Timer {
        let at = self.now.saturating_add(delay);
        self.queue.push_heap_timer(at, event)
    }

    /// Cancel a timer set by [`Scheduler::timeout`] or [`Scheduler::cancellable_after`]. Returns whether it was still
    /// pending; cancelling a timer that already fired or was already cancelled does
    /// nothing (a handle never refers to a later timer).
    #[inline]
    pub fn cancel(&mut self, timer: Timer) -> bool {
        self.queue.cancel(timer)
    }

    /// Events and live timers waiting.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }
}

impl<E: Copy> Default for Scheduler<E> {
    fn default() -> Self {
        Self::new()
    }
}

/// Totals of one run of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunStats {
    /// Events popped and handed to the model.
    pub events: u64,
}

/// Drive `model` until the queue is empty or the next event lies beyond `end`.
///
/// Events at exactly `end` are still handled, so an interval that closes at `end` is
/// complete. Cancelled timers are neither delivered nor counted.
pub fn run<M: Model>(model: &mut M, sched: &mut Scheduler<M::Event>, end: Nanos) -> RunStats {
    let mut events = 0u64;
    while let Some(at) = sched.queue.peek_time() {
        if at > end || !deliver(model, sched) {
            break;
        }
        events += 1;
    }
    RunStats { events }
}

/// Pop the earliest event, move the clock to it and hand it to the model; false when
/// nothing is pending.
#[inline]
fn deliver<M: Model>(model: &mut M, sched: &mut Scheduler<M::Event>) -> bool {
    let Some((at, event)) = sched.queue.pop() else {
        return false;
    };
    sched.now = at;
    model.handle(event, sched);
    true
}

/// Drive `model` over `[now, end)` with an interval boundary every `every`.
///
/// Metric rows are the half-open intervals `[t, t + every)`. For every `t = k * every`
/// with `now < t <= end` (for a fresh scheduler: `k >= 1`), [`Model::boundary`] is called with `sched.now() == t`
/// after every event before `t` and before any event at or after `t` (including events
/// the boundary call itself schedules at `t`). Boundaries are delivered even when no
/// event is pending; they are not counted in [`RunStats::events`].
///
/// Events before `end` are handled. Events at exactly `end` or later are not: they
/// belong to the interval starting at `end`, which this run does not cover; they stay in
/// the queue. So when `end` is a multiple of `every` the last call is the boundary at
/// `end`, closing the row `[end - every, end)`; otherwise the events of the partial
/// interval after the last boundary are handled and the caller closes that row itself.
/// An `every` of zero means no boundaries. On return `sched.now()` is the time of the
/// last event or boundary delivered.
pub fn run_sampled<M: Model>(
    model: &mut M,
    sched: &mut Scheduler<M::Event>,
    end: Nanos,
    every: Nanos,
) -> RunStats {
    // A watcher that does nothing compiles away: this is the loop as if it had none.
    run_sampled_watched(model, sched, end, every, |_, _| {})
}

/// How many events [`run_sampled_watched`] handles between two calls of its watcher: a
/// power of two, so the check is a mask, and enough that a watcher costs nothing
/// measurable (a few hundred calls a second at the loop's speed).
pub const WATCH_EVERY: u64 = 1 << 16;

/// [`run_sampled`] that also calls `watch(now, events handled so far)` after every
/// [`WATCH_EVERY`] events: for a progress display, which sees the clock and the count
/// and nothing of the model, so the run is the same with or without it.
pub fn run_sampled_watched<M: Model>(
    model: &mut M,
    sched: &mut Scheduler<M::Event>,
    end: Nanos,
    every: Nanos,
    mut watch: impl FnMut(Nanos, u64),
) -> RunStats {
    let mut events = 0u64;
    // The first multiple of `every` after now (`every` itself on a fresh scheduler).
    let mut next_boundary = (sched.now.0 / every.0.max(1))
        .checked_add(1)
        .and_then(|k| k.checked_mul(every.0))
        .filter(|_| every != Nanos::ZERO)
        .map(Nanos);
    loop {
        let next_event = sched.queue.peek_next();
        if let Some(b) = next_boundary.filter(|&b| b <= end) {
            if next_event.is_none_or(|n| n.at >= b) {
                sched.now = b;
                model.boundary(b, sched);
                next_boundary = b.0.checked_add(every.0).map(Nanos);
                continue;
            }
        }
        let Some(next) = next_event.filter(|n| n.at < end) else {
            break;
        };
        // Popped where the peek found it: the heap and the lanes are compared once.
        let Some((at, event)) = sched.queue.pop_next(next) else {
            break;
        };
        sched.queue.prefetch_upcoming(next, LANE_FETCH_AHEAD);
        if let Some(far) = sched.queue.upcoming(next, PREFETCH_FAR) {
            model.prefetch(far);
        }
        if let Some(near) = sched.queue.upcoming(next, PREFETCH_NEAR) {
            model.prefetch_cancels(near, &sched.queue);
        }
        sched.now = at;
        model.handle(event, sched);
        events += 1;
        if events & (WATCH_EVERY - 1) == 0 {
            watch(sched.now, events);
        }
    }
    RunStats { events }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Recorder(Vec<(u64, u32)>);
    impl Model for Recorder {
        type Event = u32;
        fn handle(&mut self, event: u32, sched: &mut Scheduler<u32>) {
            self.0.push((sched.now().0, event));
            if event == 1 {
                sched.after(Nanos(5), 10);
                sched.after(Nanos(5), 11);
            }
        }
    }

    #[test]
    fn ties_pop_in_insertion_order_and_end_is_inclusive() {
        let mut sched = Scheduler::new();
        sched.at(Nanos(3), 2);
        sched.at(Nanos(0), 1);
        sched.at(Nanos(3), 3);
        sched.at(Nanos(9), 4);
        let mut model = Recorder(Vec::new());
        let stats = run(&mut model, &mut sched, Nanos(5));
        assert_eq!(model.0, vec![(0, 1), (3, 2), (3, 3), (5, 10), (5, 11)]);
        assert_eq!(stats.events, 5);
    }

    /// Event `n < 30` sets timer `100 + n`, all of one delay (one lane); it records the
    /// timers it is shown ahead (the hints take `&self`, hence the cells) and the timers
    /// that fire.
    #[derive(Default)]
    struct Lookahead {
        far: std::cell::RefCell<Vec<u32>>,
        near: std::cell::RefCell<Vec<u32>>,
        fired: Vec<u32>,
    }
    impl Model for Lookahead {
        type Event = u32;
        fn handle(&mut self, event: u32, sched: &mut Scheduler<u32>) {
            if event < 30 {
                sched.timeout(Nanos(1_000), 100 + event);
            } else {
                self.fired.push(event);
            }
        }
        fn prefetch(&self, event: &u32) {
            self.far.borrow_mut().push(*event);
        }
        fn prefetch_cancels(&self, event: &u32, queue: &EventQueue<u32>) {
            assert!(
                queue.len() > PREFETCH_NEAR,
                "the queue as it is after the pop"
            );
            self.near.borrow_mut().push(*event);
        }
    }

    #[test]
    fn the_model_is_shown_the_timers_sixteen_and_eight_ahead_in_the_lane_that_fired() {
        let mut sched = Scheduler::new();
        for n in 0..30 {
            sched.at(Nanos(u64::from(n)), n);
        }
        let mut model = Lookahead::default();
        run_sampled(&mut model, &mut sched, Nanos(10_000), Nanos(100_000));
        assert_eq!(model.fired, (100..130).collect::<Vec<_>>());
        // Events from the heap show nothing. After timer 100 pops, 101 is the lane's
        // front, 117 sixteen behind it and 109 eight; after 112, 129 is the last
        // sixteen behind the front, and after 120 the last eight behind it.
        assert_eq!(model.far.into_inner(), (117..130).collect::<Vec<_>>());
        assert_eq!(model.near.into_inner(), (109..130).collect::<Vec<_>>());
    }

    /// Records events and boundaries; event 1 sets a timeout (event 50) and event 2
    /// cancels it; a boundary at 10 schedules event 7 at its own instant.
    #[derive(Default)]
    struct Sampler {
        log: Vec<(&'static str, u64, u32)>,
        timer: Option<Timer>,
    }
    impl Model for Sampler {
        type Event = u32;
        fn handle(&mut self, event: u32, sched: &mut Scheduler<u32>) {
            self.log.push(("e", sched.now().0, event));
            match event {
                1 => self.timer = Some(sched.timeout(Nanos(30), 50)),
                2 => {
                    if let Some(t) = self.timer.take() {
                        sched.cancel(t);
                    }
                }
                _ => {}
            }
        }
        fn boundary(&mut self, at: Nanos, sched: &mut Scheduler<u32>) {
            assert_eq!(sched.now(), at);
            assert!(self.log.len() < 1000, "runaway boundaries");
            self.log.push(("b", at.0, 0));
            if at == Nanos(10) {
                sched.at(at, 7);
            }
        }
    }

    #[test]
    fn boundaries_come_before_events_at_their_instant() {
        let mut sched = Scheduler::new();
        sched.at(Nanos(4), 3);
        sched.at(Nanos(5), 4);
        sched.at(Nanos(9), 5);
        sched.at(Nanos(10), 6);
        sched.at(Nanos(19), 8);
        sched.at(Nanos(20), 9);
        sched.at(Nanos(21), 10);
        let mut m = Sampler::default();
        let stats = run_sampled(&mut m, &mut sched, Nanos(20), Nanos(5));
        assert_eq!(
            m.log,
            vec![
                ("e", 4, 3),
                ("b", 5, 0),
                ("e", 5, 4),
                ("e", 9, 5),
                ("b", 10, 0),
                ("e", 10, 6),
                ("e", 10, 7),
                ("b", 15, 0),
                ("e", 19, 8),
                ("b", 20, 0),
            ]
        );
        // Events at exactly `end` (and later) are not handled and stay queued.
        assert_eq!(stats.events, 6);
        assert_eq!(sched.pending(), 2);
        assert_eq!(sched.now(), Nanos(20));
        // Running on resumes in the row starting at 20: no boundary is repeated.
        m.log.clear();
        let stats = run_sampled(&mut m, &mut sched, Nanos(30), Nanos(5));
        assert_eq!(
            m.log,
            vec![("e", 20, 9), ("e", 21, 10), ("b", 25, 0), ("b", 30, 0)]
        );
        assert_eq!(stats.events, 2);
    }

    #[test]
    fn boundaries_reach_end_without_events_and_stop_before_a_partial_row() {
        let mut sched = Scheduler::new();
        sched.at(Nanos(13), 1);
        let mut m = Sampler::default();
        let stats = run_sampled(&mut m, &mut sched, Nanos(17), Nanos(5));
        let boundaries: Vec<u64> = m.log.iter().filter(|l| l.0 == "b").map(|l| l.1).collect();
        assert_eq!(boundaries, vec![5, 10, 15]);
        // Event 7 (scheduled by the boundary at 10) and event 1; the timeout set at 13
        // (due 43) is beyond the end.
        assert_eq!(stats.events, 2);

        let mut sched = Scheduler::new();
        let mut m = Sampler::default();
        run_sampled(&mut m, &mut sched, Nanos(12), Nanos::ZERO);
        assert!(m.log.is_empty(), "a zero period means no boundaries");

        let mut sched = Scheduler::<u32>::new();
        let mut m = Sampler::default();
        run_sampled(&mut m, &mut sched, Nanos::MAX, Nanos(u64::MAX / 2 + 1));
        assert_eq!(
            m.log,
            vec![("b", u64::MAX / 2 + 1, 0)],
            "no overflow at the end of time"
        );
    }

    #[test]
    fn cancelled_timeouts_are_never_delivered_nor_counted() {
        let mut sched = Scheduler::new();
        sched.at(Nanos(1), 1); // sets the timeout, due at 31
        sched.at(Nanos(2), 2); // cancels it
        sched.at(Nanos(3), 1); // sets another, due at 33
        let mut m = Sampler::default();
        let stats = run(&mut m, &mut sched, Nanos(100));
        assert_eq!(
            m.log,
            vec![("e", 1, 1), ("e", 2, 2), ("e", 3, 1), ("e", 33, 50)]
        );
        assert_eq!(stats.events, 4);
        assert_eq!(sched.pending(), 0);
    }
}
