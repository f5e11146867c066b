//! A hint to the processor's caches: start fetching the line that holds a value the
//! model will read soon, without waiting for it.
//!
//! Under overload most events are timers firing on requests nobody has touched for
//! seconds, spread over tens of megabytes: each would stall on a miss to memory, one
//! after the other. The timers of a lane fire in order, so the run loop knows which
//! requests come next and lets the model fetch their lines ahead ([`super::Model::prefetch`]);
//! the misses then overlap with the work of the events before them.

/// Start loading the cache lines holding `value` (every line it spans: a request's
/// slot is two, a timer table's entry may straddle two) into every level of the cache.
/// Only a hint: it changes no state the program sees, so a run is the same with or
/// without it (it is a no-op on processors other than x86-64).
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = (value as *const T).cast::<i8>();
        let offset = start as usize % LINE;
        // The lines from the one holding the first byte to the one holding the last.
        let lines = (offset + std::mem::size_of::<T>().max(1)).div_ceil(LINE);
        let first_line = start.wrapping_sub(offset);
        for i in 0..lines {
            // SAFETY: `prefetcht0` (SSE, which every x86-64 processor has) reads
            // nothing into a register and cannot fault; the address is the start of a
            // line that holds part of the live reference's value.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(first_line.wrapping_add(i * LINE));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// The cache line's size on x86-64 processors.
#[cfg(target_arch = "x86_64")]
const LINE: usize = 64;
