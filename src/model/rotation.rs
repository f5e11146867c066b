//! A rotation over a list whose length may change: the `n`-th pick is index
//! `n mod len`, `len` the list's length at that pick. It is the round robin of a direct
//! caller over a service's endpoints and Envoy's `round_robin` (`rr_index`, from a
//! random start, wrapping at 2^64).
//!
//! While the length stays the same the index is carried from pick to pick, so a pick
//! divides only when the length has changed: a 64-bit division is one of the slowest
//! instructions on a request's path.

/// Picks made so far (from a starting count), and the index the next one takes.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Rotation {
    /// Picks made, from the starting count; wraps at 2^64.
    count: u64,
    /// The length of the last pick's list, and `count mod len`.
    len: usize,
    index: usize,
}

impl Rotation {
    /// A rotation whose first pick is `count mod len` (Envoy starts at a random one).
    pub(super) fn starting_at(count: u64) -> Rotation {
        Rotation {
            count,
            len: 0,
            index: 0,
        }
    }

    /// The index of the next pick in a list of `len > 0`.
    #[inline]
    pub(super) fn pick(&mut self, len: usize) -> usize {
        if len != self.len {
            self.resize(len);
        }
        let pick = self.index;
        self.count = self.count.wrapping_add(1);
        // The count wraps to 0 only after 2^64 picks; then so does the index.
        self.index = if self.count == 0 || pick + 1 == len {
            0
        } else {
            pick + 1
        };
        pick
    }

    /// The list's length changed to `len > 0`: the next pick is `count mod len`. Out
    /// of line, so that the division is not inlined with the pick into every caller.
    #[inline(never)]
    fn resize(&mut self, len: usize) {
        self.len = len;
        // Below `len`, which is a usize.
        self.index = (self.count % len as u64) as usize;
    }

    /// The next pick of `items`, or None when there are none. Always inlined: a
    /// direct caller picks once per attempt, and the call cost as much as the pick.
    #[inline(always)]
    pub(super) fn pick_from<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            return None;
        }
        items.get(self.pick(items.len())).copied()
    }

    /// The count the next pick takes (for tests).
    #[cfg(test)]
    pub(super) fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::Rotation;

    /// The carried index is the division's: pick `n` is `n % len` whatever the length
    /// did between picks (grew, shrank, came back to an earlier one), and across the
    /// count's wrap.
    #[test]
    fn a_rotation_picks_the_count_modulo_the_length() {
        let mut rr = Rotation::default();
        let mut draws = crate::engine::SimRng::stream(7, "round robin test");
        for n in 0..20_000usize {
            // Mostly the same length, now and then another one.
            let len = if draws.below(50) == 0 {
                1 + draws.below(7)
            } else {
                5
            };
            assert_eq!(rr.pick(len), n % len, "pick {n} of {len}");
        }
        let mut rr = Rotation::starting_at(u64::MAX - 1);
        assert_eq!(rr.pick(3), ((u64::MAX - 1) % 3) as usize);
        assert_eq!(rr.pick(3), (u64::MAX % 3) as usize);
        assert_eq!(rr.pick(3), 0, "the count wrapped to 0");
        assert_eq!(rr.pick(3), 1);
    }
}
