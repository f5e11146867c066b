//! Garbage-collected runtimes: the heap of one process as the Go runtime and a JVM size
//! it. A handler allocates its share when it starts; when it ends that share becomes
//! garbage, which stays in the heap (and in the process's resident memory) until a
//! collection. The mechanism alone, in bytes: [`RuntimeSpec`] (what the file says) and
//! [`Heap`] (one process's heap); `memory.rs` wires it to handlers and replicas.
//!
//! - **Go** ("A Guide to the Go Garbage Collector", go.dev/doc/gc-guide; the pacer in
//!   `runtime/mgcpacer.go`). The heap goal is the heap marked live by the last
//!   collection plus `GOGC`% of it (`gcPercentHeapGoal = heapMarked + heapMarked *
//!   GOGC / 100`), never below the heap minimum, 4 MiB x GOGC/100
//!   (`defaultHeapMinimum`), which is also the goal before the first collection. The
//!   guide's goal adds GC roots (goroutine stacks, globals) to the marked heap; here
//!   they are part of the baseline, outside the heap. With `GOMEMLIMIT` (Go 1.19+) the
//!   goal is at most the limit minus the memory outside the heap, less 3% of that
//!   (at least 1 MiB) of headroom, and never below the marked heap
//!   (`memoryLimitHeapGoal`). `GOGC=off` leaves only the limit. The real collector
//!   runs concurrently, triggered early enough to finish as the heap reaches its goal;
//!   here it collects at once, at the allocation that would take the heap past the
//!   goal, so the heap peaks at the goal. What the allocation adds is live when the
//!   cycle marks (Go allocates black during a cycle). A heap whose live part alone is
//!   over a limit-derived goal collects at every allocation (the real runtime's CPU
//!   limiter, which caps the GC at half the CPU, is not modelled: there is no CPU).
//! - **JVM** with a fixed maximum heap (`-Xmx`). The heap commits memory as it fills
//!   and does not give it back, and it collects when it is full: a churning service's
//!   heap grows to `-Xmx` (the collectors size the heap up rather than collect more
//!   often), one whose handlers pile up commits what they hold. An allocation that
//!   does not fit after a full collection throws `OutOfMemoryError` ("Java heap
//!   space") in that thread, and the process runs on unless it was started with
//!   `-XX:+ExitOnOutOfMemoryError`.
//! - **Plain**: no heap: memory follows the handlers in flight (the model rewind had
//!   first), so nothing here.

/// Bytes in a mebibyte.
pub const MIB: u64 = 1 << 20;

/// Go's heap minimum at `GOGC=100` (`defaultHeapMinimum`, 4 MiB), scaled by GOGC/100.
pub const GO_DEFAULT_HEAP_MINIMUM: u64 = 4 << 20;

/// Headroom the Go pacer keeps under a memory-limit goal, in percent of the goal
/// (`memoryLimitHeapGoalHeadroomPercent`).
pub const GO_MEMORY_LIMIT_HEADROOM_PERCENT: u64 = 3;

/// Least such headroom (`memoryLimitMinHeapGoalHeadroom`, 1 MiB).
pub const GO_MEMORY_LIMIT_MIN_HEADROOM: u64 = 1 << 20;

/// Which runtime manages a service's memory, and its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeSpec {
    /// No garbage collector in the model: a handler's memory is freed when it ends.
    Plain,
    /// The Go runtime.
    Go {
        /// `GOGC`, percent (100 by default); None is `GOGC=off`.
        gogc: Option<u32>,
        /// `GOMEMLIMIT`, bytes; None when unset.
        memory_limit: Option<u64>,
    },
    /// A JVM.
    Jvm {
        /// `-Xmx`, bytes.
        max_heap: u64,
        /// `-XX:+ExitOnOutOfMemoryError`: the first OutOfMemoryError ends the process.
        exit_on_oom: bool,
    },
}

/// What one allocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allocation {
    /// A collection ran first.
    pub collected: bool,
    /// It did not fit: the JVM threw `OutOfMemoryError`, and nothing was allocated.
    pub out_of_memory_error: bool,
}

/// One process's heap, in bytes. A new process starts with an empty one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heap {
    /// Reachable: what the handlers in flight allocated.
    live: u64,
    /// Unreachable, not yet collected: what finished handlers allocated.
    garbage: u64,
    /// The live heap the last collection marked (Go's `heapMarked`); 0 before one.
    marked: u64,
    /// JVM: heap committed so far (its high-water mark, never given back).
    committed: u64,
    /// OutOfMemoryErrors thrown in this process.
    out_of_memory_errors: u64,
}

impl Heap {
    /// Allocate `bytes` for a handler that starts, collecting first if the runtime
    /// would. `non_heap` is what the process holds outside the heap (the baseline).
    pub fn allocate(&mut self, rt: &RuntimeSpec, non_heap: u64, bytes: u64) -> Allocation {
        let in_use = self.live.saturating_add(self.garbage);
        match *rt {
            RuntimeSpec::Plain => Allocation::default(),
            RuntimeSpec::Go { gogc, memory_limit } => {
                let goal = go_heap_goal(self.marked, gogc, memory_limit, non_heap);
                let collected = in_use.saturating_add(bytes) > goal;
                if collected {
                    self.garbage = 0;
                }
                self.live = self.live.saturating_add(bytes);
                if collected {
                    self.marked = self.live;
                }
                Allocation {
                    collected,
                    out_of_memory_error: false,
                }
            }
            RuntimeSpec::Jvm { max_heap, .. } => {
                let collected = in_use.saturating_add(bytes) > max_heap;
                if collected {
                    self.garbage = 0;
                }
                if self.live.saturating_add(bytes) > max_heap {
                    self.out_of_memory_errors += 1;
                    return Allocation {
                        collected,
                        out_of_memory_error: true,
                    };
                }
                self.live += bytes;
                self.committed = self.committed.max(self.live + self.garbage);
                Allocation {
                    collected,
                    out_of_memory_error: false,
                }
            }
        }
    }

    /// A handler that allocated `bytes` ends: they become garbage.
    pub fn free(&mut self, rt: &RuntimeSpec, bytes: u64) {
        if *rt == RuntimeSpec::Plain {
            return;
        }
        let bytes = bytes.min(self.live);
        self.live -= bytes;
        self.garbage += bytes;
    }

    /// The heap's share of the process's resident memory: what the Go heap holds
    /// (live and garbage), or what the JVM has committed.
    pub fn resident(&self, rt: &RuntimeSpec) -> u64 {
        match rt {
            RuntimeSpec::Plain => 0,
            RuntimeSpec::Go { .. } => self.live + self.garbage,
            RuntimeSpec::Jvm { .. } => self.committed,
        }
    }

    /// Live bytes.
    pub fn live(&self) -> u64 {
        self.live
    }

    /// Garbage bytes.
    pub fn garbage(&self) -> u64 {
        self.garbage
    }

    /// OutOfMemoryErrors this process has thrown.
    pub fn out_of_memory_errors(&self) -> u64 {
        self.out_of_memory_errors
    }
}

/// Go's heap goal after a collection that marked `marked` bytes live: the GOGC goal
/// (with its minimum), capped by the memory limit's.
pub fn go_heap_goal(
    marked: u64,
    gogc: Option<u32>,
    memory_limit: Option<u64>,
    non_heap: u64,
) -> u64 {
    let gc_percent_goal = match gogc {
        None => u64::MAX,
        Some(percent) => {
            let percent = u64::from(percent);
            let goal = marked.saturating_add(marked.saturating_mul(percent) / 100);
            goal.max(GO_DEFAULT_HEAP_MINIMUM.saturating_mul(percent) / 100)
        }
    };
    let limit_goal = memory_limit.map_or(u64::MAX, |limit| {
        go_memory_limit_goal(limit, non_heap, marked)
    });
    gc_percent_goal.min(limit_goal)
}

/// `memoryLimitHeapGoal`: the limit less the memory outside the heap, less the
/// headroom, never below the marked heap. (The pacer also subtracts what the process
/// is over the limit by; with the heap at or under its goal that only matters once the
/// goal is the marked heap already.)
fn go_memory_limit_goal(limit: u64, non_heap: u64, marked: u64) -> u64 {
    if non_heap >= limit {
        // Outside the heap alone is over the limit: collect continuously.
        return marked;
    }
    let goal = limit - non_heap;
    let headroom =
        (goal / 100 * GO_MEMORY_LIMIT_HEADROOM_PERCENT).max(GO_MEMORY_LIMIT_MIN_HEADROOM);
    let goal = if goal < headroom || goal - headroom < headroom {
        headroom
    } else {
        goal - headroom
    };
    goal.max(marked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(gogc: Option<u32>, memory_limit: Option<u64>) -> RuntimeSpec {
        RuntimeSpec::Go { gogc, memory_limit }
    }

    /// Allocate and free `bytes` once: a handler that comes and goes.
    fn churn(h: &mut Heap, rt: &RuntimeSpec, bytes: u64) -> Allocation {
        let a = h.allocate(rt, 0, bytes);
        h.free(rt, bytes);
        a
    }

    /// GOGC=100: the first goal is the 4 MiB heap minimum. Four 1 MiB handlers come
    /// and go (4 MiB in the heap, at the goal); the fifth would pass it, so a
    /// collection frees the four first. GOGC=50 halves the minimum.
    #[test]
    fn the_first_collection_comes_at_the_heap_minimum() {
        let rt = go(Some(100), None);
        let mut h = Heap::default();
        for _ in 0..4 {
            assert!(!churn(&mut h, &rt, MIB).collected);
        }
        assert_eq!(h.resident(&rt), 4 * MIB);
        assert!(churn(&mut h, &rt, MIB).collected);
        assert_eq!(h.resident(&rt), MIB);

        let rt = go(Some(50), None);
        let mut h = Heap::default();
        assert!(!churn(&mut h, &rt, MIB).collected);
        assert!(!churn(&mut h, &rt, MIB).collected);
        assert!(churn(&mut h, &rt, MIB).collected);
    }

    /// 100 handlers of 1 MiB in flight, one finishing and one starting per step. After
    /// a collection that marks 100 MiB the goal is 200 MiB. Step k frees one (99 MiB
    /// live, k MiB garbage) and allocates one: 100 + k MiB, which passes the goal at
    /// k = 101. So the heap climbs from 100 to exactly 200 MiB and a cycle is 101 steps.
    #[test]
    fn a_churning_heap_peaks_at_twice_the_live_heap() {
        let rt = go(Some(100), None);
        let mut h = Heap::default();
        for _ in 0..100 {
            h.allocate(&rt, 0, MIB);
        }
        let mut peak = 0;
        let mut collections = Vec::new();
        for step in 1..=1000u64 {
            h.free(&rt, MIB);
            if h.allocate(&rt, 0, MIB).collected {
                collections.push(step);
            }
            if collections.len() >= 2 {
                peak = peak.max(h.resident(&rt));
            }
            assert_eq!(h.live(), 100 * MIB);
        }
        assert_eq!(peak, 200 * MIB);
        let gaps: Vec<u64> = collections.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps[1..].iter().all(|&g| g == 101), "{gaps:?}");
    }

    /// Handlers that never end leave no garbage: collections free nothing, and the heap
    /// is what they hold.
    #[test]
    fn a_heap_that_only_grows_holds_what_it_holds() {
        let rt = go(Some(100), None);
        let mut h = Heap::default();
        let mut collections = 0;
        for n in 1..=300u64 {
            collections += u32::from(h.allocate(&rt, 0, MIB).collected);
            assert_eq!(h.resident(&rt), n * MIB);
        }
        // From the 4 MiB minimum, each collection marks what is live, and the goal is
        // twice that: collections at 5, 11, 23, 47, 95 and 191 MiB.
        assert_eq!(collections, 6);
    }

    /// `GOGC=off` never collects: the garbage stays.
    #[test]
    fn gogc_off_never_collects() {
        let rt = go(None, None);
        let mut h = Heap::default();
        for _ in 0..1000 {
            assert!(!churn(&mut h, &rt, MIB).collected);
        }
        assert_eq!(h.resident(&rt), 1000 * MIB);
    }

    /// GOMEMLIMIT 200 MiB with 25 MiB outside the heap: 175 MiB, less 3% (5.25 MiB).
    /// A small limit keeps 1 MiB of headroom; a limit under the non-heap memory, or a
    /// goal under the live heap, gives the marked heap.
    #[test]
    fn the_memory_limit_caps_the_goal() {
        assert_eq!(
            go_heap_goal(125 * MIB, Some(100), Some(200 * MIB), 25 * MIB),
            175 * MIB - 5 * MIB - MIB / 4
        );
        assert_eq!(
            go_heap_goal(0, Some(100), Some(30 * MIB), 0),
            4 * MIB,
            "the heap minimum is below the limit's goal"
        );
        assert_eq!(go_heap_goal(0, None, Some(30 * MIB), 0), 29 * MIB);
        assert_eq!(
            go_heap_goal(7 * MIB, Some(100), Some(20 * MIB), 30 * MIB),
            7 * MIB
        );
        assert_eq!(
            go_heap_goal(180 * MIB, Some(100), Some(200 * MIB), 25 * MIB),
            180 * MIB
        );
        // Under GOGC=off the limit alone decides: a goal of 64 MiB less 3%, about
        // 62.1 MiB, so 1 MiB handlers that come and go fill the heap to 62 MiB.
        let goal = 64 * MIB - 64 * MIB / 100 * 3;
        assert_eq!(go_heap_goal(0, None, Some(64 * MIB), 0), goal);
        let rt = go(None, Some(64 * MIB));
        let mut h = Heap::default();
        let mut peak = 0;
        for _ in 0..1000 {
            churn(&mut h, &rt, MIB);
            peak = peak.max(h.resident(&rt));
        }
        assert_eq!(peak, 62 * MIB);
    }

    /// A JVM collects only when its heap is full, so churn fills it to -Xmx and the
    /// committed heap stays there; an allocation that does not fit after a full
    /// collection is an OutOfMemoryError and allocates nothing.
    #[test]
    fn a_jvm_fills_its_heap_then_throws_out_of_memory_error() {
        let rt = RuntimeSpec::Jvm {
            max_heap: 64 * MIB,
            exit_on_oom: false,
        };
        let mut h = Heap::default();
        for _ in 0..64 {
            assert!(!churn(&mut h, &rt, MIB).collected);
        }
        assert_eq!(h.resident(&rt), 64 * MIB);
        assert!(churn(&mut h, &rt, MIB).collected);
        assert_eq!(h.resident(&rt), 64 * MIB, "committed memory is kept");

        let mut h = Heap::default();
        for _ in 0..64 {
            assert!(!h.allocate(&rt, 0, MIB).out_of_memory_error);
        }
        let a = h.allocate(&rt, 0, MIB);
        assert!(a.out_of_memory_error);
        assert_eq!(h.live(), 64 * MIB);
        assert_eq!(h.out_of_memory_errors(), 1);
        // One finishes: the next fits after a collection.
        h.free(&rt, MIB);
        let a = h.allocate(&rt, 0, MIB);
        assert!(a.collected && !a.out_of_memory_error);
    }
}
