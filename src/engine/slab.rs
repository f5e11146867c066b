//! A generational slab: stable keys for live entities (requests, handlers) that are
//! reused once an entity ends, so memory stays flat however long the run.
//!
//! A key remembers the generation of its slot; events that still carry the key of an
//! entity that has ended (a timer that was never cancelled) find the generation changed
//! and are ignored. This is how timers are cancelled without searching the queue.

/// A handle on one slab entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    index: u32,
    generation: u32,
}

impl Key {
    /// The slot this key addresses, for tables kept beside the slab (indexed like it;
    /// the slab's own lookups say whether the key is still live).
    #[inline]
    pub fn slot(self) -> usize {
        self.index as usize
    }
}

/// The generation first (`repr(C)`): a lookup reads it, then the start of the value, so
/// a value that keeps its most read fields first is found in one or two cache lines.
#[repr(C)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Entities addressed by [`Key`], with slot reuse.
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    live: usize,
}

impl<T> Slab<T> {
    /// An empty slab.
    pub fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    /// Store `value` and return its key. Always inlined: a value built at the call site
    /// is then written straight into its slot, not built on the stack and copied in
    /// wider pieces than it was written in (loads that wait on those stores).
    #[inline(always)]
    pub fn insert(&mut self, value: T) -> Key {
        self.live += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.value = Some(value);
            Key {
                index,
                generation: slot.generation,
            }
        } else {
            let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
            self.slots.push(Slot {
                generation: 0,
                value: Some(value),
            });
            Key {
                index,
                generation: 0,
            }
        }
    }

    /// Start fetching the slot of `key` into the cache ([`super::prefetch`]).
    #[inline]
    pub fn prefetch(&self, key: Key) {
        if let Some(slot) = self.slots.get(key.index as usize) {
            super::prefetch(slot);
        }
    }

    /// The live entry for `key`, if it has not ended.
    #[inline]
    pub fn get(&self, key: Key) -> Option<&T> {
        let slot = self.slots.get(key.index as usize)?;
        if slot.generation == key.generation {
            slot.value.as_ref()
        } else {
            None
        }
    }

    /// Mutable access to the live entry for `key`.
    #[inline]
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation == key.generation {
            slot.value.as_mut()
        } else {
            None
        }
    }

    /// End the entry for `key`, returning it; its key (and every copy) becomes stale.
    #[inline]
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.index);
        self.live -= 1;
        Some(value)
    }

    /// End the entry for `key`, returning what `read` takes from it: the value is
    /// dropped in place rather than moved out (cheaper for a large entity).
    #[inline]
    pub fn remove_with<R>(&mut self, key: Key, read: impl FnOnce(&T) -> R) -> Option<R> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let out = read(slot.value.as_ref()?);
        slot.value = None;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.index);
        self.live -= 1;
        Some(out)
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no entry is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Slots ever allocated: the high-water mark of live entries.
    pub fn capacity_used(&self) -> usize {
        self.slots.len()
    }

    /// Keys of live entries, in slot order (deterministic).
    pub fn keys(&self) -> Vec<Key> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.value.is_some())
            .map(|(i, s)| Key {
                index: i as u32,
                generation: s.generation,
            })
            .collect()
    }

    /// Live entries in slot order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().filter_map(|s| s.value.as_ref())
    }
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_keys_find_nothing_after_reuse() {
        let mut slab = Slab::new();
        let a = slab.insert("a");
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b");
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.capacity_used(), 1);
    }
}
