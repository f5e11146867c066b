//! The [`super::EventQueue`]'s heap: events, and the cancellable timers no lane takes,
//! in one 4-ary heap (`dary_heap`) ordered by `(time, sequence)`.
//!
//! A timer kept here is cancelled in O(log n): its sequence number leaves an ordered
//! set of live heap timers, the entry is skipped when it surfaces, and the heap is
//! compacted when more than half of it is dead.
//!
//! An event popped from the heap is left in place, marked fired, while it is handled:
//! most events schedule another, and the first push then takes the fired entry's place
//! with one sift down, where a pop and a push would sift twice. Ranks are unique, so
//! the order of the pops is the same whatever the heap's shape. Anything else that
//! reads or changes the heap first removes the fired entry ([`EventHeap::settle`]).
//!
//! Invariant kept after every operation: the top entry (the fired one aside) is not a
//! cancelled timer.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use dary_heap::QuaternaryHeap;

use super::queue::{Pos, SLACK};
use super::Nanos;

/// A heap entry. The flag bit of its key is set for a cancellable timer, which is
/// live while its sequence number is in [`EventHeap`]'s `timers`.
///
/// `(at, key)` is kept as one inverted number, so that the heap (a max-heap) compares
/// entries with one two-word comparison and no shifting on every step of a sift: the
/// earliest `(at, key)` has the greatest rank.
struct Entry<E> {
    rank: u128,
    event: E,
}

impl<E> Entry<E> {
    #[inline]
    fn new(at: Nanos, key: u64, event: E) -> Self {
        Entry {
            rank: !((u128::from(at.0) << 64) | u128::from(key)),
            event,
        }
    }

    #[inline]
    fn at(&self) -> Nanos {
        Nanos((!self.rank >> 64) as u64)
    }

    #[inline]
    fn key(&self) -> u64 {
        !self.rank as u64
    }
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.rank == other.rank
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank.cmp(&other.rank)
    }
}

/// The heap of events and heap timers.
pub(super) struct EventHeap<E> {
    entries: QuaternaryHeap<Entry<E>>,
    /// Sequence numbers of the live cancellable timers kept in the heap.
    timers: BTreeSet<u64>,
    /// Cancelled timers still in the heap.
    dead: usize,
    /// The top is the event [`EventHeap::fire_top`] returned last, no longer pending:
    /// the next push takes its place.
    fired_top: bool,
}

impl<E: Copy> EventHeap<E> {
    pub(super) fn new() -> Self {
        EventHeap {
            entries: QuaternaryHeap::with_capacity(1024),
            timers: BTreeSet::new(),
            dead: 0,
            fired_top: false,
        }
    }

    /// Add event `seq`, due at `at`.
    #[inline]
    pub(super) fn push(&mut self, at: Nanos, seq: u64, event: E) {
        self.place(Entry::new(at, seq << 1, event));
    }

    /// Add cancellable timer `seq`, due at `at`.
    pub(super) fn push_timer(&mut self, at: Nanos, seq: u64, event: E) {
        self.timers.insert(seq);
        self.place(Entry::new(at, (seq << 1) | 1, event));
    }

    /// Put `entry` in the fired top's place if it is still there (one sift down),
    /// else at the bottom (sifted up).
    #[inline]
    fn place(&mut self, entry: Entry<E>) {
        if std::mem::take(&mut self.fired_top) {
            if let Some(mut top) = self.entries.peek_mut() {
                *top = entry;
            }
            // The fired entry's pop would have dropped the cancelled timers it
            // covered; they may surface now.
            self.tidy();
        } else {
            self.entries.push(entry);
        }
    }

    /// Cancel heap timer `seq`; whether it was pending.
    pub(super) fn cancel(&mut self, seq: u64) -> bool {
        if !self.timers.remove(&seq) {
            return false;
        }
        self.dead += 1;
        self.settle();
        self.tidy();
        true
    }

    /// The earliest pending entry's `(time, key)`, the fired top removed first.
    #[inline]
    pub(super) fn peek(&mut self) -> Option<Pos> {
        self.settle();
        self.entries.peek().map(|top| (top.at(), top.key()))
    }

    /// The earliest entry fires: return it, left in place and marked fired. Call right
    /// after [`EventHeap::peek`].
    #[inline(always)]
    pub(super) fn fire_top(&mut self) -> Option<(Nanos, E)> {
        debug_assert!(!self.fired_top, "peek removes the fired top");
        let top = self.entries.peek()?;
        let (at, key, event) = (top.at(), top.key(), top.event);
        if key & 1 == 1 {
            self.timer_fired(key >> 1);
        }
        self.fired_top = true;
        Some((at, event))
    }

    /// Heap timer `seq` fires: it is no longer pending.
    #[inline(never)]
    fn timer_fired(&mut self, seq: u64) {
        self.timers.remove(&seq);
    }

    /// Remove the fired top, if no push has taken its place.
    #[inline]
    fn settle(&mut self) {
        if std::mem::take(&mut self.fired_top) {
            self.entries.pop();
            self.tidy();
        }
    }

    /// Entries held, cancelled ones not yet dropped included (the fired top not).
    pub(super) fn stored(&self) -> usize {
        self.entries.len() - usize::from(self.fired_top)
    }

    /// Live heap timers (for tests).
    #[cfg(test)]
    pub(super) fn live_timers(&self) -> usize {
        self.timers.len()
    }

    /// Entries held, the fired top included (for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Drop cancelled timers from the top and, when more than half of the heap (and
    /// more than [`SLACK`] entries) is dead, from everywhere in it. The check is
    /// inlined into every pop; the work, rarely needed, is not.
    #[inline(always)]
    fn tidy(&mut self) {
        if self.dead != 0 {
            self.drop_dead_timers();
        }
    }

    #[inline(never)]
    fn drop_dead_timers(&mut self) {
        debug_assert!(!self.fired_top, "the fired top is not a cancelled timer");
        while let Some(top) = self.entries.peek() {
            if top.key() & 1 == 0 || self.timers.contains(&(top.key() >> 1)) {
                break;
            }
            self.entries.pop();
            self.dead -= 1;
        }
        if self.dead > SLACK && 2 * self.dead > self.entries.len() {
            let live = &self.timers;
            self.entries
                .retain(|e| e.key() & 1 == 0 || live.contains(&(e.key() >> 1)));
            self.dead = 0;
        }
    }
}
