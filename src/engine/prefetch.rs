//! A hint to the processor's caches: start fetching the line that holds a value the
//! model will read soon, without waiting for it.
//!
//! Under overload most events are timers firing on requests nobody has touched for
//! seconds, spread over tens of megabytes: each would stall on a miss to memory, one
//! after the other. The timers of a lane fire in order, so the run loop knows which
//! requests come next and lets the model fetch their lines ahead ([`super::Model::prefetch`]);
//! the misses then overlap with the work of the events before them.

/// Start loading the cache line holding `value` into every level of the cache. Only
/// a hint: it changes no state the program sees, so a run is the same with or without
/// it (it is a no-op on processors other than x86-64).
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` (SSE, which every x86-64 processor has) reads nothing into a
    // register, cannot fault, and is given the address of a live reference.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
