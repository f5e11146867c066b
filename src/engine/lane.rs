//! One FIFO lane of the [`super::EventQueue`]: the timers of one delay, in
//! `(time, sequence)` order, in fixed-size chunks, cancelled entries marked and dropped.

use super::chunked::ChunkedDeque;
use super::queue::{Pos, EMPTY, SLACK};
use super::Nanos;

/// A lane entry. The flag bit of `key` is set once the timer is cancelled.
#[derive(Clone, Copy)]
pub(super) struct LaneEntry<E> {
    pub(super) at: Nanos,
    pub(super) key: u64,
    pub(super) event: E,
}

/// Timers of one delay, in `(time, sequence)` order.
pub(super) struct Lane<E> {
    pub(super) entries: ChunkedDeque<LaneEntry<E>>,
    /// Entries ever removed from the front: `entries[i]` has index `head + i`.
    pub(super) head: u64,
    /// Entries marked cancelled but not yet removed.
    pub(super) dead: usize,
}

impl<E: Copy> Lane<E> {
    /// Drop cancelled entries from the front and, when more than half of the lane (and
    /// more than [`SLACK`] entries) is dead, every other cancelled entry too (order
    /// kept), giving memory back when the lane has shrunk a lot. Returns the front's
    /// position.
    pub(super) fn tidy(&mut self) -> Pos {
        let front = loop {
            match self.entries.front() {
                None => break EMPTY,
                Some(e) if e.key & 1 == 0 => break (e.at, e.key),
                Some(_) => {
                    self.entries.pop_front();
                    self.head += 1;
                    self.dead -= 1;
                }
            }
        };
        self.compact_if_mostly_dead();
        front
    }

    /// When more than half of the lane (and more than [`SLACK`] entries) is dead, drop
    /// every cancelled entry (order kept), giving memory back. Enough after a cancel
    /// behind a live front: the front stays as it was, and reading it again would fetch
    /// a line written a whole timeout ago.
    #[inline]
    pub(super) fn compact_if_mostly_dead(&mut self) {
        if self.dead > SLACK && 2 * self.dead > self.entries.len() {
            // Frees the chunks the dead entries leave.
            self.entries.retain(|e| e.key & 1 == 0);
            self.dead = 0;
        }
    }
}
