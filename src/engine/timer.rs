//! A handle on one pending timer of the [`super::EventQueue`], packed in 12 bytes: what
//! a model keeps to cancel a timeout it no longer needs.

use std::num::NonZeroU32;

/// Bits of a [`Timer`]'s `code` that hold its lane code.
pub(super) const LANE_BITS: u32 = 7;

/// Lane code of a [`Timer`] kept in the heap (lane `i` has code `i + 1`, below it).
pub(super) const IN_HEAP: u32 = (1 << LANE_BITS) - 1;

/// `IN_HEAP` as a handle's lane.
pub(super) const HEAP_CODE: NonZeroU32 = NonZeroU32::new(IN_HEAP).expect("IN_HEAP is not zero");

/// A handle on one pending timer, for [`super::EventQueue::cancel`]: the timer's sequence
/// number, lane and index in the lane, packed in 12 bytes (and so is an
/// `Option<Timer>`): a request keeps four of them beside it, and an overloaded replay
/// holds over 100,000 requests. A cancel acts only on the entry with the handle's
/// sequence number, and sequence numbers are never reused, so a handle never refers to
/// a later timer: cancelling a timer that already fired or was already cancelled does
/// nothing. A handle belongs to the queue that made it.
///
/// The sequence number is kept to 57 bits: a queue would have to take 2^57 pushes (a
/// century at a billion a second) before two handles could name the same number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timer {
    /// The sequence number's low 32 bits.
    pub(super) seq_low: u32,
    /// The lane code (never zero) in the low [`LANE_BITS`] bits, the sequence number's
    /// bits from 32 up above them.
    pub(super) code: NonZeroU32,
    /// The low 32 bits of the entry's index in its lane when it was pushed (see
    /// `Lane::head`): exact unless a compaction moved the entry since.
    pub(super) index: u32,
}

impl Timer {
    #[inline]
    pub(super) fn new(seq: u64, lane: NonZeroU32, index: u32) -> Timer {
        let high = ((seq >> 32) as u32) << LANE_BITS;
        Timer {
            seq_low: seq as u32,
            code: lane | high,
            index,
        }
    }

    /// The timer's sequence number (its low 57 bits).
    #[inline]
    pub(super) fn seq(self) -> u64 {
        (u64::from(self.code.get() >> LANE_BITS) << 32) | u64::from(self.seq_low)
    }

    /// Its lane code: lane index + 1, or `IN_HEAP`.
    #[inline]
    pub(super) fn lane(self) -> u32 {
        self.code.get() & IN_HEAP
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handle keeps the sequence number's 57 bits and the lane code apart.
    #[test]
    fn a_timer_handle_packs_its_sequence_and_lane() {
        let lane = NonZeroU32::new(3).expect("not zero");
        for seq in [0, 1, u64::from(u32::MAX), (1 << 40) + 5, (1 << 57) - 1] {
            let t = Timer::new(seq, lane, 9);
            assert_eq!((t.seq(), t.lane(), t.index), (seq, 3, 9));
            let h = Timer::new(seq, HEAP_CODE, 0);
            assert_eq!((h.seq(), h.lane()), (seq, IN_HEAP));
        }
    }
}
