//! Counts by index that grow on demand: connections per upstream peer, requests active
//! per Envoy host, handlers in flight per route. An index never counted reads 0, and a
//! count never goes below 0.

/// A count per index.
#[derive(Debug, Clone, Default)]
pub(super) struct Tally(Vec<u32>);

impl Tally {
    /// The count of `i`.
    pub(super) fn get(&self, i: usize) -> u32 {
        self.0.get(i).copied().unwrap_or(0)
    }

    /// One more for `i`.
    pub(super) fn add(&mut self, i: usize) {
        if self.0.len() <= i {
            self.0.resize(i + 1, 0);
        }
        self.0[i] = self.0[i].saturating_add(1);
    }

    /// One fewer for `i`.
    pub(super) fn remove(&mut self, i: usize) {
        if let Some(c) = self.0.get_mut(i) {
            *c = c.saturating_sub(1);
        }
    }

    /// Every count back to 0.
    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn counts_grow_on_demand_and_never_go_negative() {
        let mut t = Tally::default();
        assert_eq!(t.get(5), 0);
        t.add(5);
        t.add(5);
        t.remove(5);
        t.remove(7);
        assert_eq!((t.get(5), t.get(7), t.get(0)), (1, 0, 0));
        t.remove(5);
        t.remove(5);
        assert_eq!(t.get(5), 0);
        t.add(2);
        t.clear();
        assert_eq!(t.get(2), 0);
    }
}
