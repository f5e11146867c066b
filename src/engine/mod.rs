//! The discrete-event core: simulated time, the pending-event queue, seeded random
//! streams, a generational slab, and the run loop.
//!
//! The engine knows nothing of services, pools or gateways. A model plugs in through
//! [`Model`]: the engine pops the earliest event and hands it to the model together with
//! a [`Scheduler`] through which the model schedules further events. Time is an integer
//! count of nanoseconds and ties pop in insertion order, so a run is reproducible bit
//! for bit from its seed.

mod queue;
mod rng;
mod slab;
mod time;

pub use queue::EventQueue;
pub use rng::SimRng;
pub use slab::{Key, Slab};
pub use time::Nanos;

/// What a simulated world must provide to be driven by [`run`].
pub trait Model {
    /// The model's own event type; the engine only orders and delivers it.
    type Event;

    /// Handle one event at simulated time `sched.now()`.
    fn handle(&mut self, event: Self::Event, sched: &mut Scheduler<Self::Event>);
}

/// The model's handle on the clock and the pending-event queue.
pub struct Scheduler<E> {
    now: Nanos,
    queue: EventQueue<E>,
}

impl<E> Scheduler<E> {
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
}

impl<E> Default for Scheduler<E> {
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
/// complete.
pub fn run<M: Model>(model: &mut M, sched: &mut Scheduler<M::Event>, end: Nanos) -> RunStats {
    let mut events = 0u64;
    while let Some(at) = sched.queue.peek_time() {
        if at > end {
            break;
        }
        let Some((at, event)) = sched.queue.pop() else {
            break;
        };
        sched.now = at;
        events += 1;
        model.handle(event, sched);
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
}
