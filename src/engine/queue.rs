//! The pending-event set: a 4-ary heap for events, plus FIFO lanes for cancellable
//! fixed-delay timers, all ordered by `(time, insertion sequence)`.
//!
//! Every push, to the heap or to a lane, takes the next number of one shared sequence
//! counter. The sequence number makes the order total, so events scheduled for the same
//! instant pop in the order they were scheduled, wherever they are stored, on every
//! platform and every run.
//!
//! Why lanes: a model sets a timeout on almost every request and, once the request ends,
//! no longer needs it. Left in a heap, dead timeouts (tens of seconds long, hundreds of
//! thousands of them under overload) make every sift walk a deep tree. But timeouts of
//! one delay are set at non-decreasing times (the clock never goes back), so each
//! distinct delay gets a FIFO lane (a deque in `(time, sequence)` order, stored in
//! fixed-size chunks so that its memory follows its entries) and a push
//! is O(1). A [`Timer`] handle names its lane, its sequence number and the index its
//! entry had in the lane; a cancel looks there, and if a compaction has since moved the
//! entry toward the front, finds it by binary search on the sequence number (a lane is
//! sorted by it); either way it marks the entry dead. So a cancel is O(1), or O(log n)
//! for the few timers that outlived a compaction. A timer sequenced before the lane's
//! front has fired or been dropped: cancelling it is O(1) and does nothing. Dead entries
//! are dropped when they reach their lane's front, and a lane more than half dead is
//! compacted, so memory follows the live timers. A winner tree over the lane fronts
//! gives the earliest lane in O(1) (O(log lanes) to update); `pop` takes the earlier of
//! it and the heap top.
//!
//! A timer whose delay finds no lane (more than [`MAX_LANES`] distinct delays), or that
//! would land before its lane's last entry (only possible when this queue is driven
//! directly with a clock that goes back), is kept in the heap instead (`heap.rs`: it
//! can still be cancelled, in O(log n); an event popped from the heap stays there
//! until the next push takes its place).
//!
//! Invariants kept after every operation, so that [`EventQueue::peek_time`] is exact:
//! no lane's front entry is dead, and the heap's top entry (the fired one aside) is not
//! a cancelled timer.

use std::num::NonZeroU32;

use super::chunked::ChunkedDeque;
use super::heap::EventHeap;
use super::lane::{Lane, LaneEntry};
use super::timer::{Timer, HEAP_CODE, IN_HEAP};
use super::Nanos;

/// Most distinct timer delays that get a lane of their own; further delays use the heap.
pub const MAX_LANES: usize = 64;

/// `(time, key)` where `key = 2 * seq + flag`: ordering by key is ordering by sequence
/// (sequence numbers are unique), and the low bit is free for a flag.
pub(super) type Pos = (Nanos, u64);

/// Key of an empty lane in the winner tree: after every real entry.
pub(super) const EMPTY: Pos = (Nanos::MAX, u64::MAX);

/// Cancelled entries a lane (or the heap) may hold beyond half its length: with it, a
/// store holds at most `2 * live + SLACK` entries, and tiny stores are never compacted.
pub(super) const SLACK: usize = 16;

/// The earliest pending event as [`EventQueue::peek_next`] found it: its time, and
/// its lane (None: the heap's top).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    /// When it is due.
    pub at: Nanos,
    lane: Option<usize>,
}

/// Entries of [`EventQueue`]'s `recent_lanes` (a power of two).
const RECENT_LANES: usize = 16;

/// Lane code of an unused `recent_lanes` entry (lane codes stay below `IN_HEAP`).
const NO_LANE: u32 = u32::MAX;

/// Events waiting to happen, earliest first, ties in insertion order.
pub struct EventQueue<E> {
    heap: EventHeap<E>,
    lanes: Vec<Lane<E>>,
    /// `(delay, lane index)`, sorted by delay.
    lane_of_delay: Vec<(Nanos, u32)>,
    /// The lanes of delays looked up lately, by a hash of the delay: a model sets its
    /// timers with a handful of delays, so a push seldom searches `lane_of_delay`.
    recent_lanes: [(Nanos, u32); RECENT_LANES],
    /// Front position of each lane (`EMPTY` if none), padded to `tree_leaves`.
    fronts: Vec<Pos>,
    /// Winner tree over `fronts`: node `i` holds the lane with the earliest front below
    /// it, leaves at `tree_leaves + lane`, the root at 1.
    tree: Vec<u32>,
    tree_leaves: usize,
    /// Most lanes this queue opens.
    max_lanes: usize,
    /// Pending events and live timers.
    live: usize,
    next_seq: u64,
}

impl<E: Copy> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::with_max_lanes(MAX_LANES)
    }

    /// An empty queue that opens at most `max_lanes` timer lanes (zero: every timer is
    /// kept in the heap). For tests and measurements; [`EventQueue::new`] opens
    /// [`MAX_LANES`].
    pub fn with_max_lanes(max_lanes: usize) -> Self {
        EventQueue {
            heap: EventHeap::new(),
            lanes: Vec::new(),
            lane_of_delay: Vec::new(),
            recent_lanes: [(Nanos::MAX, NO_LANE); RECENT_LANES],
            fronts: vec![EMPTY],
            tree: vec![0, 0],
            tree_leaves: 1,
            max_lanes,
            live: 0,
            next_seq: 0,
        }
    }

    #[inline]
    fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Add `event` at time `at`.
    #[inline]
    pub fn push(&mut self, at: Nanos, event: E) {
        let seq = self.take_seq();
        self.heap.push(at, seq, event);
        self.live += 1;
    }

    /// Add a cancellable timer firing `event` at `at`, set `delay` after the current
    /// time. Timers of equal `delay` share a FIFO lane, which requires that they come
    /// with non-decreasing `at` (true when `at = now + delay` and now never goes back);
    /// a timer that would break that order, or whose delay finds no free lane, is kept
    /// in the heap. Either way it pops in exact `(time, sequence)` order.
    pub fn push_timer(&mut self, at: Nanos, delay: Nanos, event: E) -> Timer {
        let seq = self.take_seq();
        self.live += 1;
        if let Some(lane) = self.lane_for(delay) {
            let l = &mut self.lanes[lane as usize];
            if l.entries.back().is_none_or(|b| b.at <= at) {
                // Wraps at 2^32: a lane never holds that many entries at once.
                let index = l.head.wrapping_add(l.entries.len() as u64) as u32;
                let was_empty = l.entries.is_empty();
                l.entries.push_back(LaneEntry {
                    at,
                    key: seq << 1,
                    event,
                });
                if was_empty {
                    self.set_front(lane as usize, (at, seq << 1));
                }
                return Timer::new(seq, NonZeroU32::MIN.saturating_add(lane), index);
            }
        }
        self.heap_timer(seq, at, event)
    }

    /// Add a cancellable timer firing `event` at `at`, kept in the heap: for delays
    /// that vary from one timer to the next, which would each take a lane of their own
    /// (and leave none for the fixed timeouts lanes are for).
    pub fn push_heap_timer(&mut self, at: Nanos, event: E) -> Timer {
        let seq = self.take_seq();
        self.live += 1;
        self.heap_timer(seq, at, event)
    }

    /// Keep timer `seq` in the heap.
    fn heap_timer(&mut self, seq: u64, at: Nanos, event: E) -> Timer {
        self.heap.push_timer(at, seq, event);
        Timer::new(seq, HEAP_CODE, 0)
    }

    /// The lane of `delay`, opening one if there is room.
    #[inline]
    fn lane_for(&mut self, delay: Nanos) -> Option<u32> {
        // Mixed first: delays are round numbers, alike in their low bits and, after a
        // mere multiplication, in their high ones.
        let slot = (super::mix64(delay.0) >> (64 - RECENT_LANES.ilog2())) as usize;
        let (recent, lane) = self.recent_lanes[slot];
        if recent == delay && lane != NO_LANE {
            return Some(lane);
        }
        let lane = self.search_lane(delay)?;
        self.recent_lanes[slot] = (delay, lane);
        Some(lane)
    }

    /// [`EventQueue::lane_for`] by the sorted list of lanes, opening one if there is
    /// room.
    fn search_lane(&mut self, delay: Nanos) -> Option<u32> {
        match self.lane_of_delay.binary_search_by_key(&delay, |&(d, _)| d) {
            Ok(i) => Some(self.lane_of_delay[i].1),
            Err(i) => {
                // Lane codes stay below `IN_HEAP`.
                if self.lanes.len() >= self.max_lanes.min(IN_HEAP as usize - 1) {
                    return None;
                }
                let lane = self.lanes.len();
                self.lanes.push(Lane {
                    entries: ChunkedDeque::new(),
                    head: 0,
                    dead: 0,
                });
                self.lane_of_delay.insert(i, (delay, lane as u32));
                if lane >= self.tree_leaves {
                    self.grow_tree();
                }
                Some(lane as u32)
            }
        }
    }

    /// Double the winner tree's leaves and rebuild it.
    fn grow_tree(&mut self) {
        let leaves = self.tree_leaves * 2;
        self.fronts.resize(leaves, EMPTY);
        self.tree = vec![0; 2 * leaves];
        self.tree_leaves = leaves;
        for lane in 0..leaves {
            self.tree[leaves + lane] = lane as u32;
        }
        for node in (1..leaves).rev() {
            self.tree[node] = self.winner(self.tree[2 * node], self.tree[2 * node + 1]);
        }
    }

    /// The lane of `a` and `b` whose front comes first (`a` on a tie: two empty
    /// lanes). Without a branch: which of two lanes fires first is a coin toss to the
    /// branch predictor, and a mispredicted match on every level of the tree cost
    /// more than the comparison.
    #[inline]
    fn winner(&self, a: u32, b: u32) -> u32 {
        let packed = |(at, key): Pos| (u128::from(at.0) << 64) | u128::from(key);
        let a_first = packed(self.fronts[a as usize]) <= packed(self.fronts[b as usize]);
        b ^ ((a ^ b) & 0u32.wrapping_sub(u32::from(a_first)))
    }

    /// Record lane `lane`'s new front and replay its matches up to the root.
    #[inline]
    fn set_front(&mut self, lane: usize, pos: Pos) {
        self.fronts[lane] = pos;
        let mut node = (self.tree_leaves + lane) / 2;
        while node >= 1 {
            self.tree[node] = self.winner(self.tree[2 * node], self.tree[2 * node + 1]);
            node /= 2;
        }
    }

    /// Cancel `timer`: it will not pop. Returns whether it was pending; a timer that
    /// already fired or was already cancelled (or a handle from another queue that
    /// matches nothing) is left alone.
    pub fn cancel(&mut self, timer: Timer) -> bool {
        let seq = timer.seq();
        if timer.lane() == IN_HEAP {
            let cancelled = self.heap.cancel(seq);
            self.live -= usize::from(cancelled);
            return cancelled;
        }
        let lane = (timer.lane() - 1) as usize;
        let Some(l) = self.lanes.get_mut(lane) else {
            return false;
        };
        // The front is live and the lane sorted by sequence: anything before it is gone.
        match l.entries.front() {
            Some(front) if front.key >> 1 <= seq => {}
            _ => return false,
        }
        let guess = timer.index.wrapping_sub(l.head as u32) as usize;
        let i = match l.entries.get(guess) {
            Some(e) if e.key >> 1 == seq => guess,
            // Moved by a compaction (or dropped by one: then not found).
            _ => match l.entries.binary_search_by_key(&seq, |e| e.key >> 1) {
                Ok(i) => i,
                Err(_) => return false,
            },
        };
        let Some(entry) = l.entries.get_mut(i) else {
            return false;
        };
        if entry.key & 1 == 1 {
            return false;
        }
        entry.key |= 1;
        l.dead += 1;
        self.live -= 1;
        if i == 0 {
            let front = l.tidy();
            self.set_front(lane, front);
        } else {
            // The front is live and stays the front (compaction keeps it first).
            l.compact_if_mostly_dead();
        }
        true
    }

    /// Start fetching the entry of pending `timer` into the cache, for a cancel to come
    /// (a hint: nothing changes; nothing for a timer kept in the heap).
    #[inline]
    pub fn prefetch_timer(&self, timer: Timer) {
        if timer.lane() == IN_HEAP {
            return;
        }
        let Some(l) = self.lanes.get((timer.lane() - 1) as usize) else {
            return;
        };
        let guess = timer.index.wrapping_sub(l.head as u32) as usize;
        if let Some(e) = l.entries.get(guess) {
            super::prefetch(e);
        }
    }

    /// Position of the earliest lane front.
    #[inline]
    fn lane_min(&self) -> (usize, Pos) {
        let lane = self.tree[1] as usize;
        (lane, self.fronts[lane])
    }

    /// Remove and return the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(Nanos, E)> {
        let next = self.peek_next()?;
        self.pop_next(next)
    }

    /// Where the earliest event is and when it is due, to be popped by
    /// [`EventQueue::pop_next`] without comparing the heap and the lanes again (the run
    /// loop looks at the time before it pops). Mutable: it removes the event that fired
    /// last from the heap if no push has taken its place.
    #[inline]
    pub fn peek_next(&mut self) -> Option<Next> {
        let (lane, lane_pos) = self.lane_min();
        match self.heap.peek() {
            Some(top) if top < lane_pos => Some(Next {
                at: top.0,
                lane: None,
            }),
            _ if lane_pos != EMPTY => Some(Next {
                at: lane_pos.0,
                lane: Some(lane),
            }),
            _ => None,
        }
    }

    /// Remove and return the earliest event, found by [`EventQueue::peek_next`] with
    /// nothing pushed, popped or cancelled since. The heap's case is a few
    /// instructions, inlined into the run loop; a lane's is a call.
    #[inline(always)]
    pub fn pop_next(&mut self, next: Next) -> Option<(Nanos, E)> {
        let Some(lane) = next.lane else {
            let fired = self.heap.fire_top()?;
            self.live -= 1;
            return Some(fired);
        };
        self.pop_lane(lane)
    }

    /// Remove and return the front of `lane`, the earliest event.
    #[inline(never)]
    fn pop_lane(&mut self, lane: usize) -> Option<(Nanos, E)> {
        let l = self.lanes.get_mut(lane)?;
        let entry = l.entries.pop_front()?;
        l.head += 1;
        let front = l.tidy();
        self.set_front(lane, front);
        self.live -= 1;
        Some((entry.at, entry.event))
    }

    /// When the event just popped at `next` came from a lane: the timer `ahead` places
    /// behind that lane's new front (cancelled or not), if there is one. Timers of a
    /// lane fire in order, so this one fires soon.
    #[inline]
    pub fn upcoming(&self, next: Next, ahead: usize) -> Option<&E> {
        let lane = self.lanes.get(next.lane?)?;
        lane.entries.get(ahead).map(|e| &e.event)
    }

    /// Start fetching the entry [`EventQueue::upcoming`] would give for `ahead`: a lane
    /// under overload holds megabytes of timers set a minute ago, long gone from the
    /// cache when they come to its front.
    #[inline]
    pub fn prefetch_upcoming(&self, next: Next, ahead: usize) {
        let later = next
            .lane
            .and_then(|l| self.lanes.get(l))
            .and_then(|l| l.entries.get(ahead));
        if let Some(entry) = later {
            super::prefetch(entry);
        }
    }

    /// Time of the earliest event, if any.
    #[inline]
    pub fn peek_time(&mut self) -> Option<Nanos> {
        self.peek_next().map(|n| n.at)
    }

    /// Number of queued events and live (not cancelled, not fired) timers.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Entries held in memory, cancelled ones not yet dropped included (for tests and
    /// diagnostics): at most `2 * live + SLACK` per lane and for the heap, where
    /// `SLACK` is 16.
    pub fn stored(&self) -> usize {
        self.heap.stored() + self.lanes.iter().map(|l| l.entries.len()).sum::<usize>()
    }
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<E: Copy>(q: &mut EventQueue<E>) -> Vec<(u64, E)> {
        let mut out = Vec::new();
        while let Some((at, e)) = q.pop() {
            out.push((at.0, e));
        }
        out
    }

    #[test]
    fn heap_and_lanes_pop_in_time_then_sequence_order() {
        let mut q = EventQueue::new();
        q.push(Nanos(10), "h0");
        q.push_timer(Nanos(10), Nanos(7), "a0");
        q.push_timer(Nanos(10), Nanos(3), "b0");
        q.push(Nanos(5), "h1");
        q.push_timer(Nanos(10), Nanos(7), "a1");
        q.push(Nanos(10), "h2");
        q.push_timer(Nanos(12), Nanos(3), "b1");
        q.push_timer(Nanos(11), Nanos(7), "a2");
        q.push_timer(Nanos(10), Nanos(9), "c0");
        assert_eq!(q.len(), 9);
        assert_eq!(q.peek_time(), Some(Nanos(5)));
        assert_eq!(
            drain(&mut q),
            vec![
                (5, "h1"),
                (10, "h0"),
                (10, "a0"),
                (10, "b0"),
                (10, "a1"),
                (10, "h2"),
                (10, "c0"),
                (11, "a2"),
                (12, "b1"),
            ]
        );
        assert!(q.is_empty());
        assert_eq!(q.peek_time(), None);
    }

    #[test]
    fn cancel_before_fire_after_fire_and_twice() {
        let mut q = EventQueue::new();
        let t0 = q.push_timer(Nanos(5), Nanos(5), 0);
        let t1 = q.push_timer(Nanos(6), Nanos(5), 1);
        let t2 = q.push_timer(Nanos(7), Nanos(5), 2);
        q.push(Nanos(6), 9);
        assert!(q.cancel(t1));
        assert!(!q.cancel(t1), "second cancel is a no-op");
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop(), Some((Nanos(5), 0)));
        assert!(!q.cancel(t0), "cancelling a fired timer is a no-op");
        assert_eq!(q.len(), 2);
        // Cancelling the front moves the lane's front on: peek is exact.
        assert!(q.cancel(t2));
        assert_eq!(q.peek_time(), Some(Nanos(6)));
        assert_eq!(drain(&mut q), vec![(6, 9)]);
        assert_eq!(q.len(), 0);
        assert_eq!(q.stored(), 0);
    }

    #[test]
    fn handles_never_alias_later_timers() {
        let mut q = EventQueue::new();
        // Fired, then a later timer in the same lane.
        let old = q.push_timer(Nanos(1), Nanos(1), "old");
        assert_eq!(q.pop(), Some((Nanos(1), "old")));
        let new = q.push_timer(Nanos(2), Nanos(1), "new");
        assert_ne!(old, new);
        assert!(!q.cancel(old));
        // Cancelled and dropped from the front, then later timers.
        let gone = q.push_timer(Nanos(3), Nanos(1), "gone");
        let later = q.push_timer(Nanos(4), Nanos(1), "later");
        assert_eq!(q.pop(), Some((Nanos(2), "new")));
        assert!(q.cancel(gone));
        let next = q.push_timer(Nanos(5), Nanos(1), "next");
        assert!(!q.cancel(gone));
        // A handle whose index points at a live entry of another sequence (as after the
        // index wraps at 2^32) does not touch it.
        let lane = NonZeroU32::new(next.lane()).expect("a lane code");
        let forged = Timer::new(next.seq() + 1000, lane, next.index);
        assert!(!q.cancel(forged));
        assert!(q.cancel(later));
        assert_eq!(drain(&mut q), vec![(5, "next")]);
        assert!(!q.cancel(next));
        // Handles that name nothing are ignored.
        for t in [
            Timer::new(0, NonZeroU32::MIN.saturating_add(7), 0),
            Timer::new(99, NonZeroU32::MIN, 99),
            Timer::new(99, HEAP_CODE, 0),
        ] {
            assert!(!q.cancel(t));
        }
        assert!(std::mem::size_of::<Option<Timer>>() <= 12);
    }

    #[test]
    fn cancel_finds_timers_moved_by_a_compaction() {
        let mut q = EventQueue::new();
        let timers: Vec<Timer> = (0..100u64)
            .map(|i| q.push_timer(Nanos(10 + i), Nanos(10), i))
            .collect();
        // Kill 60 in the middle: the lane compacts and the last 39 move forward.
        for t in &timers[1..61] {
            assert!(q.cancel(*t));
        }
        assert!(q.stored() < 100);
        for t in &timers[1..61] {
            assert!(!q.cancel(*t), "gone for good");
        }
        for t in timers[61..].iter().step_by(2) {
            assert!(q.cancel(*t));
            assert!(!q.cancel(*t));
        }
        let want: Vec<(u64, u64)> = [0u64]
            .into_iter()
            .chain((62..100).step_by(2))
            .map(|i| (10 + i, i))
            .collect();
        assert_eq!(drain(&mut q), want);
    }

    #[test]
    fn heap_timers_take_no_lane_and_cancel() {
        let mut q = EventQueue::new();
        let heap: Vec<Timer> = (0..2 * MAX_LANES as u64)
            .map(|d| q.push_heap_timer(Nanos(100 + d), d))
            .collect();
        assert!(heap.iter().all(|t| t.lane() == IN_HEAP));
        // Every lane is still free for fixed timeouts.
        for d in 0..MAX_LANES as u64 {
            let t = q.push_timer(Nanos(1000 + d), Nanos(1000 + d), 1000 + d);
            assert_ne!(t.lane(), IN_HEAP);
        }
        for t in heap.iter().skip(1) {
            assert!(q.cancel(*t));
        }
        assert_eq!(q.pop(), Some((Nanos(100), 0)));
        assert_eq!(q.pop(), Some((Nanos(1000), 1000)));
    }

    #[test]
    fn timers_beyond_the_lane_cap_live_in_the_heap_and_cancel() {
        let mut q = EventQueue::new();
        for d in 0..MAX_LANES as u64 {
            let t = q.push_timer(Nanos(1000 + d), Nanos(1000 + d), d);
            assert_ne!(t.lane(), IN_HEAP);
        }
        let a = q.push_timer(Nanos(50), Nanos(5000), 100);
        let b = q.push_timer(Nanos(60), Nanos(5001), 101);
        let c = q.push_timer(Nanos(70), Nanos(5002), 102);
        assert_eq!(a.lane(), IN_HEAP);
        assert!(q.cancel(a));
        assert!(!q.cancel(a));
        assert_eq!(q.peek_time(), Some(Nanos(60)), "cancelled heap top is gone");
        assert_eq!(q.pop(), Some((Nanos(60), 101)));
        assert!(!q.cancel(b), "fired heap timer");
        assert!(q.cancel(c));
        let rest = drain(&mut q);
        assert_eq!(rest.len(), MAX_LANES);
        assert!(rest.iter().all(|&(_, e)| e < 100));
        assert_eq!(q.heap.live_timers(), 0);
    }

    #[test]
    fn a_timer_out_of_its_lanes_order_goes_to_the_heap() {
        let mut q = EventQueue::new();
        q.push_timer(Nanos(10), Nanos(5), "late");
        let t = q.push_timer(Nanos(4), Nanos(5), "early");
        assert_eq!(t.lane(), IN_HEAP);
        assert_eq!(drain(&mut q), vec![(4, "early"), (10, "late")]);
    }

    #[test]
    fn compaction_keeps_order_and_bounds_memory() {
        let mut q = EventQueue::new();
        let timers: Vec<Timer> = (0..1000u64)
            .map(|i| q.push_timer(Nanos(100 + i / 3), Nanos(100), i))
            .collect();
        for (i, t) in timers.iter().enumerate() {
            if i % 4 != 0 {
                assert!(q.cancel(*t));
            }
            assert!(
                q.stored() <= 2 * q.len() + SLACK,
                "{} > 2*{}",
                q.stored(),
                q.len()
            );
        }
        assert!(q.stored() < 1000 / 2);
        let got = drain(&mut q);
        let want: Vec<(u64, u64)> = (0..1000u64)
            .filter(|i| i % 4 == 0)
            .map(|i| (100 + i / 3, i))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn many_lanes_pick_the_earliest_front() {
        let mut q = EventQueue::new();
        // 40 lanes (tree grows several times), fronts set in scrambled order.
        let mut want = Vec::new();
        for i in 0..40u64 {
            let at = (i * 17) % 40;
            q.push_timer(Nanos(at), Nanos(1000 + i), i);
            want.push((at, i));
        }
        want.sort();
        assert_eq!(drain(&mut q), want);
    }

    /// A pop leaves the fired entry in the heap until a push takes its place (the
    /// heap does not grow) or the next peek removes it; order is unchanged either way,
    /// and a heap timer cancelled meanwhile is gone.
    #[test]
    fn a_push_takes_the_fired_entry_s_place() {
        let mut q = EventQueue::new();
        for t in [10u64, 20, 30] {
            q.push(Nanos(t), t);
        }
        assert_eq!(q.pop(), Some((Nanos(10), 10)));
        assert_eq!((q.heap.len(), q.stored(), q.len()), (3, 2, 2));
        q.push(Nanos(25), 25);
        assert_eq!((q.heap.len(), q.stored(), q.len()), (3, 3, 3));
        assert_eq!(q.pop(), Some((Nanos(20), 20)));
        let t = q.push_heap_timer(Nanos(22), 22);
        assert_eq!(q.pop(), Some((Nanos(22), 22)));
        assert!(!q.cancel(t), "a fired timer is no longer pending");
        let t = q.push_heap_timer(Nanos(24), 24);
        assert!(q.cancel(t), "a cancelled timer on top is dropped at once");
        assert_eq!((q.heap.len(), q.stored(), q.len()), (2, 2, 2));
        assert_eq!(q.peek_time(), Some(Nanos(25)));
        assert_eq!(drain(&mut q), vec![(25, 25), (30, 30)]);
        assert_eq!((q.heap.len(), q.stored()), (0, 0));
    }

    mod model_check {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Push(u64),
            Timeout(u64),
            /// A timer at an arbitrary time: may break its lane's order.
            TimerAt(u64, u64),
            Cancel(usize),
            Pop,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                2 => (0u64..20).prop_map(Op::Push),
                // Up to 80 distinct delays: more than the lane cap, so some timers
                // fall back to the heap. Small delays make ties frequent.
                3 => prop_oneof![0u64..4, 0u64..80].prop_map(Op::Timeout),
                1 => (0u64..40, 0u64..4).prop_map(|(at, d)| Op::TimerAt(at, d)),
                3 => any::<usize>().prop_map(Op::Cancel),
                3 => Just(Op::Pop),
            ]
        }

        proptest::proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]
            #[test]
            fn queue_matches_a_sorted_reference(
                max_lanes in prop_oneof![0usize..4, Just(MAX_LANES)],
                ops in proptest::collection::vec(op(), 1..400),
            ) {
                let mut q = EventQueue::with_max_lanes(max_lanes);
                // Reference: pending (at, seq, id), popped by the minimum (at, seq).
                let mut reference: Vec<(u64, u64, u64)> = Vec::new();
                let mut timers: Vec<(Timer, u64)> = Vec::new();
                let mut now = 0u64;
                let mut seq = 0u64;
                for op in ops {
                    match op {
                        Op::Push(dt) => {
                            q.push(Nanos(now + dt), seq);
                            reference.push((now + dt, seq, seq));
                            seq += 1;
                        }
                        Op::Timeout(delay) => {
                            let t = q.push_timer(Nanos(now + delay), Nanos(delay), seq);
                            reference.push((now + delay, seq, seq));
                            timers.push((t, seq));
                            seq += 1;
                        }
                        Op::TimerAt(at, delay) => {
                            let t = q.push_timer(Nanos(at), Nanos(delay), seq);
                            reference.push((at, seq, seq));
                            timers.push((t, seq));
                            seq += 1;
                        }
                        Op::Cancel(i) => {
                            if !timers.is_empty() {
                                let (t, id) = timers[i % timers.len()];
                                let was = reference.iter().position(|r| r.2 == id);
                                if let Some(p) = was {
                                    reference.remove(p);
                                }
                                prop_assert_eq!(q.cancel(t), was.is_some());
                            }
                        }
                        Op::Pop => {
                            let want = reference
                                .iter()
                                .enumerate()
                                .min_by_key(|(_, r)| (r.0, r.1))
                                .map(|(i, r)| (i, *r));
                            let got = q.pop();
                            match want {
                                Some((i, (at, _, id))) => {
                                    reference.remove(i);
                                    prop_assert_eq!(got, Some((Nanos(at), id)));
                                    now = now.max(at);
                                }
                                None => prop_assert_eq!(got, None),
                            }
                        }
                    }
                    prop_assert_eq!(q.len(), reference.len());
                    let want_peek = reference.iter().map(|r| (r.0, r.1)).min().map(|r| Nanos(r.0));
                    prop_assert_eq!(q.peek_time(), want_peek);
                    prop_assert!(q.stored() <= 2 * q.len() + SLACK * (q.lanes.len() + 1));
                }
                // Drain: the rest comes out in reference order.
                reference.sort();
                let rest: Vec<(u64, u64)> = reference.iter().map(|r| (r.0, r.2)).collect();
                prop_assert_eq!(drain(&mut q), rest);
            }
        }
    }
}
