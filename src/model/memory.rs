//! Memory of each replica and what a handler's allocation does to it: the plain model
//! (baseline plus a share per handler in flight) or a runtime's heap (`runtime.rs`:
//! Go's garbage waiting for its collection, a JVM's committed heap). Over the
//! container's limit the kernel OOM-kills the process; a JVM's full heap is instead an
//! `OutOfMemoryError` in the handler, which answers 500, or ends the process with
//! `-XX:+ExitOnOutOfMemoryError`.

use crate::engine::{Key, Scheduler};

use super::event::*;
use super::runtime::{RuntimeSpec, MIB};
use super::spec::MemorySpec;
use super::world::World;

/// MiB as the file gives them, in whole bytes (units are KiB and up, so exact).
fn bytes(mib: f64) -> u64 {
    (mib * MIB as f64).round() as u64
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

impl World {
    /// Handler `h`, just started on replica `r` (counted in flight), allocates its
    /// share. Returns false when it does not run on: a JVM threw `OutOfMemoryError`
    /// (the handler answered 500, or the process exits), or the process went over its
    /// limit and was OOM-killed. Always inlined: for a service without a memory model
    /// (most) it is one check, where the call cost more than the rest.
    #[inline(always)]
    pub(super) fn handler_allocates(
        &mut self,
        h: Key,
        r: usize,
        sched: &mut Scheduler<Event>,
    ) -> bool {
        self.spec_of(r).memory.is_none() || self.allocate_share(h, r, sched)
    }

    /// [`World::handler_allocates`] for a service with a memory model.
    fn allocate_share(&mut self, h: Key, r: usize, sched: &mut Scheduler<Event>) -> bool {
        let Some(m) = self.spec_of(r).memory else {
            return true;
        };
        let s = self.replicas[r].service;
        let alloc = self.replicas[r].heap.allocate(
            &m.runtime,
            bytes(m.baseline_mib),
            bytes(m.per_request_mib),
        );
        if alloc.collected {
            self.services[s].totals.gc_cycles += 1;
        }
        if alloc.out_of_memory_error {
            self.out_of_memory_error(h, r, &m, sched);
            return false;
        }
        if let Some(hd) = self.handlers.get_mut(h) {
            hd.allocated = true;
        }
        let Some((mem, limit)) = self.memory_mib(r) else {
            return true;
        };
        let totals = &mut self.services[s].totals;
        totals.peak_memory_mib = totals.peak_memory_mib.max(mem);
        if mem <= limit {
            return true;
        }
        let inflight = self.replicas[r].inflight;
        let heap = &self.replicas[r].heap;
        let held = match m.runtime {
            RuntimeSpec::Plain => String::new(),
            RuntimeSpec::Go { .. } => format!(
                " (Go heap: {:.1} MiB live, {:.1} MiB garbage)",
                mib(heap.live()),
                mib(heap.garbage())
            ),
            RuntimeSpec::Jvm { max_heap, .. } => format!(
                " (JVM heap: {:.1} MiB committed, -Xmx {:.0} MiB)",
                mib(heap.resident(&m.runtime)),
                mib(max_heap)
            ),
        };
        self.crash(
            r,
            "oom_kill",
            format!(
                "OOM-killed: {mem:.1} MiB, over the {limit:.0} MiB limit, with {inflight} handler{} in flight{held}",
                crate::human::plural_s(u64::from(inflight))
            ),
            sched,
        );
        false
    }

    /// The JVM could not fit handler `h`'s allocation: `OutOfMemoryError` in its thread.
    /// The servlet container answers 500 and the process runs on; with
    /// `-XX:+ExitOnOutOfMemoryError` the process exits and is restarted.
    fn out_of_memory_error(
        &mut self,
        h: Key,
        r: usize,
        m: &MemorySpec,
        sched: &mut Scheduler<Event>,
    ) {
        let now = sched.now();
        let s = self.replicas[r].service;
        self.services[s].totals.out_of_memory_errors += 1;
        let RuntimeSpec::Jvm {
            max_heap,
            exit_on_oom,
        } = m.runtime
        else {
            return;
        };
        let live = mib(self.replicas[r].heap.live());
        let xmx = mib(max_heap);
        if exit_on_oom {
            self.crash(
                r,
                "oome_exit",
                format!("java.lang.OutOfMemoryError: Java heap space ({live:.1} MiB live, -Xmx {xmx:.0} MiB); -XX:+ExitOnOutOfMemoryError: the process exits"),
                sched,
            );
            return;
        }
        // One event per process: the rest are counted in the totals.
        if self.replicas[r].heap.out_of_memory_errors() == 1 {
            self.note_replica(
                now,
                "out_of_memory_error",
                r,
                format!("java.lang.OutOfMemoryError: Java heap space ({live:.1} MiB live, -Xmx {xmx:.0} MiB): requests answered 500, the process runs on"),
            );
        }
        self.end_handler(h, Some(500), sched);
    }

    /// A handler that allocated on replica `r` ended: its share is freed (plain) or
    /// becomes garbage.
    pub(super) fn handler_frees(&mut self, r: usize) {
        let Some(m) = self.spec_of(r).memory else {
            return;
        };
        self.replicas[r]
            .heap
            .free(&m.runtime, bytes(m.per_request_mib));
    }

    /// Replica `r`'s resident memory and its limit, MiB, if its service has a memory
    /// model: the baseline plus the handlers' share in flight (plain), or plus the heap.
    pub(super) fn memory_mib(&self, r: usize) -> Option<(f64, f64)> {
        let m = self.spec_of(r).memory?;
        let rep = &self.replicas[r];
        let mem = match m.runtime {
            RuntimeSpec::Plain => m.baseline_mib + m.per_request_mib * f64::from(rep.inflight),
            rt => m.baseline_mib + mib(rep.heap.resident(&rt)),
        };
        Some((mem, m.limit_mib))
    }
}
