//! A double-ended queue stored in fixed-size chunks, for the timer lanes.
//!
//! Why not a `VecDeque`: a lane grows to the number of timers pending in one timeout
//! (over 100,000 in an overloaded replay) and a `VecDeque` doubles its buffer when
//! full, so up to half of it is empty, and its ring touches every page of it. Here a
//! lane holds whole chunks of [`CHUNK`] entries: memory follows the entries, within
//! three chunks (the first one's popped part, the last one's unfilled part and one
//! spare), and growing never copies what is stored.
//!
//! Entries are pushed at the back and popped at the front only, so every chunk but the
//! first and the last is full; that keeps indexing O(1).

/// Entries per chunk (a power of two, so that locating an entry is a shift and a
/// mask): 512 timer entries (32 bytes each) are 16 KiB.
pub const CHUNK: usize = 512;

/// A FIFO with O(1) push at the back, pop at the front and indexing. Its entries are
/// `Copy` (events are): popping one copies it out and leaves the slot to be freed with
/// its chunk.
pub struct ChunkedDeque<T> {
    /// Invariant: every chunk but the last holds [`CHUNK`] entries, none more, and none
    /// is empty; the entries run from `head` in the first chunk to the end of the last.
    /// A `Vec`: dropping the first chunk shifts the others' headers (24 bytes each)
    /// once per [`CHUNK`] pops.
    chunks: Vec<Vec<T>>,
    /// Position of the front entry in the first chunk (< [`CHUNK`]).
    head: usize,
    len: usize,
    /// One emptied chunk kept for the next push, so that a lane whose length hovers
    /// around a chunk boundary does not allocate and free a chunk each time.
    spare: Option<Vec<T>>,
}

impl<T: Copy> ChunkedDeque<T> {
    /// An empty deque (allocates nothing).
    pub fn new() -> Self {
        ChunkedDeque {
            chunks: Vec::new(),
            head: 0,
            len: 0,
            spare: None,
        }
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds nothing.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entry `i`, counted from the front. Positions before `head` are never reached
    /// and positions past the last entry are outside the last chunk, so no count is
    /// checked.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        let p = self.head + i;
        self.chunks.get(p / CHUNK)?.get(p % CHUNK)
    }

    /// Mutable entry `i`, counted from the front.
    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        let p = self.head + i;
        self.chunks.get_mut(p / CHUNK)?.get_mut(p % CHUNK)
    }

    /// The first entry.
    #[inline]
    pub fn front(&self) -> Option<&T> {
        self.chunks.first()?.get(self.head)
    }

    /// The last entry.
    #[inline]
    pub fn back(&self) -> Option<&T> {
        self.chunks.last()?.last()
    }

    /// Add `value` at the back.
    #[inline]
    pub fn push_back(&mut self, value: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(value),
            _ => self.push_chunk(value),
        }
        self.len += 1;
    }

    /// Start a chunk with `value` (the spare, or a new one).
    #[inline(never)]
    fn push_chunk(&mut self, value: T) {
        let mut chunk = self
            .spare
            .take()
            .unwrap_or_else(|| Vec::with_capacity(CHUNK));
        chunk.push(value);
        self.chunks.push(chunk);
    }

    /// Remove and return the first entry.
    #[inline]
    pub fn pop_front(&mut self) -> Option<T> {
        let value = *self.front()?;
        self.len -= 1;
        self.head += 1;
        if self.head == CHUNK || self.len == 0 {
            self.drop_first_chunk();
        }
        Some(value)
    }

    /// The first chunk is used up (or the deque is empty: start afresh, so that a lane
    /// that empties and fills again reuses its chunk from the start): keep it as the
    /// spare.
    #[inline(never)]
    fn drop_first_chunk(&mut self) {
        if !self.chunks.is_empty() {
            let mut chunk = self.chunks.remove(0);
            chunk.clear();
            self.spare = Some(chunk);
        }
        self.head = 0;
    }

    /// Binary search of a deque sorted by `key`, as `slice::binary_search_by_key`.
    pub fn binary_search_by_key<K: Ord>(
        &self,
        wanted: &K,
        mut key: impl FnMut(&T) -> K,
    ) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let Some(entry) = self.get(mid) else {
                return Err(lo);
            };
            match key(entry).cmp(wanted) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// Keep only the entries `keep` accepts, in order, moved toward the front in
    /// place; the chunks they no longer need are freed (one is kept as the spare).
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let mut kept = 0;
        for i in 0..self.len {
            let Some(&value) = self.get(i) else { break };
            if keep(&value) {
                if let Some(slot) = self.get_mut(kept) {
                    *slot = value;
                }
                kept += 1;
            }
        }
        self.truncate(kept);
    }

    /// Keep the first `n` entries.
    fn truncate(&mut self, n: usize) {
        if n == 0 {
            if let Some(mut chunk) = std::mem::take(&mut self.chunks).pop() {
                chunk.clear();
                self.spare = Some(chunk);
            }
            self.head = 0;
            self.len = 0;
            return;
        }
        let last = self.head + n - 1;
        let chunks = last / CHUNK + 1;
        while self.chunks.len() > chunks {
            if let Some(mut chunk) = self.chunks.pop() {
                chunk.clear();
                self.spare = Some(chunk);
            }
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.truncate(last % CHUNK + 1);
        }
        self.len = n;
    }
}

impl<T: Copy> Default for ChunkedDeque<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Pushes, pops, lookups and retains against a `VecDeque` doing the same, across
    /// many chunk boundaries.
    #[test]
    fn behaves_as_a_vecdeque() {
        let mut ours = ChunkedDeque::new();
        let mut reference = VecDeque::new();
        let mut x: u64 = 7;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 10 {
                0..=4 => {
                    ours.push_back(step);
                    reference.push_back(step);
                }
                5..=7 => assert_eq!(ours.pop_front(), reference.pop_front()),
                8 => {
                    let i = (x / 10) as usize % (reference.len() + 2);
                    assert_eq!(ours.get(i), reference.get(i));
                    if let (Some(a), Some(b)) = (ours.get_mut(i), reference.get_mut(i)) {
                        *a += 1_000_000;
                        *b += 1_000_000;
                    }
                }
                _ if step % 97 == 0 => {
                    ours.retain(|v| v % 3 != 0);
                    reference.retain(|v| v % 3 != 0);
                }
                _ => {}
            }
            assert_eq!(ours.len(), reference.len());
            assert_eq!(ours.front(), reference.front());
            assert_eq!(ours.back(), reference.back());
        }
        let rest: Vec<u64> = std::iter::from_fn(|| ours.pop_front()).collect();
        assert_eq!(rest, Vec::from(reference));
        assert!(ours.is_empty());
    }

    /// Binary search finds every entry of a sorted deque spanning chunks, and the
    /// insertion point of what it does not hold.
    #[test]
    fn binary_search_across_chunks() {
        let mut q = ChunkedDeque::new();
        for v in 0..3 * CHUNK as u64 + 5 {
            q.push_back(2 * v);
        }
        for _ in 0..7 {
            q.pop_front();
        }
        for i in 0..q.len() {
            let v = *q.get(i).expect("in range");
            assert_eq!(q.binary_search_by_key(&v, |x| *x), Ok(i));
            assert_eq!(q.binary_search_by_key(&(v + 1), |x| *x), Err(i + 1));
        }
        assert_eq!(q.binary_search_by_key(&0, |x| *x), Err(0));
    }

    /// Memory follows the entries: a deque that held many and now holds few keeps at
    /// most its chunks plus the spare.
    #[test]
    fn chunks_follow_the_entries() {
        let mut q = ChunkedDeque::new();
        for v in 0..10 * CHUNK {
            q.push_back(v);
        }
        assert_eq!(q.chunks.len(), 10);
        for _ in 0..9 * CHUNK + 1 {
            q.pop_front();
        }
        assert_eq!(q.chunks.len(), 1);
        q.retain(|v| v % 2 == 0);
        // The 511 left run from an odd number: 255 of them are even.
        assert_eq!(q.len(), (CHUNK - 1) / 2);
        assert!(q.chunks.iter().all(|c| c.len() <= CHUNK));
        q.retain(|_| false);
        assert!(q.is_empty() && q.chunks.is_empty() && q.front().is_none());
        q.push_back(1);
        assert_eq!((q.front(), q.back(), q.len()), (Some(&1), Some(&1), 1));
    }
}
