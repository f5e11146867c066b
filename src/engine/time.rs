//! Integer simulated time. Floats never measure time inside the engine: sums of float
//! seconds drift and break the tie order that makes runs reproducible.

use std::ops::{Add, AddAssign, Sub};

/// A count of simulated nanoseconds: an instant since the start of the run, or a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Nanos(pub u64);

impl Nanos {
    /// Zero: the start of a run, or an empty span.
    pub const ZERO: Nanos = Nanos(0);
    /// The latest representable time, used as "never".
    pub const MAX: Nanos = Nanos(u64::MAX);
    /// One second.
    pub const SECOND: Nanos = Nanos(1_000_000_000);

    /// Whole seconds.
    pub const fn from_secs(s: u64) -> Nanos {
        Nanos(s.saturating_mul(1_000_000_000))
    }

    /// Whole milliseconds.
    pub const fn from_millis(ms: u64) -> Nanos {
        Nanos(ms.saturating_mul(1_000_000))
    }

    /// Seconds as a float, rounded to the nearest nanosecond; negative and NaN give zero,
    /// values too large saturate.
    ///
    /// Rounds half away from zero like `f64::round`, written out because `round` is a
    /// call into libm on baseline x86-64, and every sampled duration passes here
    /// (always inlined: a call's entry and exit cost about as much as the rounding).
    #[inline(always)]
    pub fn from_secs_f64(s: f64) -> Nanos {
        let ns = s * 1e9;
        // Below 2^63 ns (292 years) through the signed conversions, which x86-64 has as
        // single instructions; NaN fails both comparisons. Below 0.5 this gives 0.
        if (0.0..TWO_POW_63).contains(&ns) {
            let whole = ns as i64;
            let up = ns - whole as f64 >= 0.5;
            Nanos(whole as u64 + u64::from(up))
        } else {
            Self::from_ns_f64_beyond(ns)
        }
    }

    /// [`Nanos::from_secs_f64`] of `ns` nanoseconds negative, NaN or from 2^63 on.
    #[inline(never)]
    fn from_ns_f64_beyond(ns: f64) -> Nanos {
        if ns.is_nan() || ns < 0.5 {
            Nanos::ZERO
        } else if ns >= u64::MAX as f64 {
            Nanos::MAX
        } else {
            // Truncation and the fraction are both exact for a double below 2^64.
            let whole = ns as u64;
            let up = ns - whole as f64 >= 0.5;
            Nanos(whole + u64::from(up))
        }
    }

    /// This time in seconds, for reporting only.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// This time in milliseconds, for reporting only.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// Addition that stops at [`Nanos::MAX`].
    pub fn saturating_add(self, other: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(other.0))
    }

    /// Subtraction that stops at zero.
    pub fn saturating_sub(self, other: Nanos) -> Nanos {
        Nanos(self.0.saturating_sub(other.0))
    }

    /// Multiply a span by a whole factor, saturating.
    pub fn saturating_mul(self, k: u64) -> Nanos {
        Nanos(self.0.saturating_mul(k))
    }
}

/// A sum of spans (or of spans times a count), exact in integer nanoseconds and read
/// in seconds once, at the end: the metrics add a span or two per request, and a
/// float sum would divide by 10^9 each time (one of the slowest instructions) and
/// round each time. 128 bits: no run comes near overflowing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NanosSum(u128);

impl NanosSum {
    /// Add `span`.
    #[inline]
    pub fn add(&mut self, span: Nanos) {
        self.0 += u128::from(span.0);
    }

    /// Add `span` `times` times (an integral: a span times how many were in it).
    #[inline]
    pub fn add_times(&mut self, span: Nanos, times: u32) {
        self.0 += u128::from(span.0) * u128::from(times);
    }

    /// The sum in seconds.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

/// 2^63 as a double: below it a double converts to and from `i64` exactly as to `u64`.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

impl Add for Nanos {
    type Output = Nanos;
    fn add(self, rhs: Nanos) -> Nanos {
        self.saturating_add(rhs)
    }
}

impl AddAssign for Nanos {
    fn add_assign(&mut self, rhs: Nanos) {
        *self = self.saturating_add(rhs);
    }
}

impl Sub for Nanos {
    type Output = Nanos;
    fn sub(self, rhs: Nanos) -> Nanos {
        self.saturating_sub(rhs)
    }
}

impl std::fmt::Display for Nanos {
    /// Human form used in event details: `0.35ms`, `250ms`, `42.500s`, `1m 30s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0 / 1_000_000;
        if self.0 > 0 && ms == 0 {
            return write!(f, "{:.2}ms", self.0 as f64 / 1e6);
        }
        if ms < 1000 {
            return write!(f, "{ms}ms");
        }
        let s = ms / 1000;
        let frac = ms % 1000;
        if s < 60 {
            return if frac == 0 {
                write!(f, "{s}s")
            } else {
                write!(f, "{s}.{:03}s", frac)
            };
        }
        let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
        if h > 0 {
            write!(f, "{h}h {m:02}m {s:02}s")
        } else {
            write!(f, "{m}m {s:02}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_in_the_largest_sensible_unit() {
        assert_eq!(Nanos(350_000).to_string(), "0.35ms");
        assert_eq!(Nanos::from_millis(250).to_string(), "250ms");
        assert_eq!(Nanos::from_millis(42_500).to_string(), "42.500s");
        assert_eq!(Nanos::from_secs(90).to_string(), "1m 30s");
        assert_eq!(Nanos::from_secs(7_384).to_string(), "2h 03m 04s");
    }

    /// A sum of spans is exact in nanoseconds, weighted or not, past what a u64 holds,
    /// and reads in seconds as the exact total divided once.
    #[test]
    fn a_sum_of_spans_is_exact() {
        let mut sum = NanosSum::default();
        let mut exact = 0u128;
        let mut draws = crate::engine::SimRng::stream(7, "sum test");
        for i in 0..10_000u32 {
            let span = Nanos(draws.next_u64() >> 4);
            sum.add(span);
            sum.add_times(span, i);
            exact += u128::from(span.0) * (1 + u128::from(i));
        }
        assert!(
            exact > u128::from(u64::MAX),
            "the test passes a u64's range"
        );
        assert_eq!(sum, NanosSum(exact));
        assert_eq!(sum.as_secs_f64().to_bits(), (exact as f64 / 1e9).to_bits());
        let mut half = NanosSum::default();
        half.add_times(Nanos(1_500_000_000), 3);
        assert_eq!(half.as_secs_f64(), 4.5);
    }

    /// The written-out rounding agrees with `f64::round` everywhere, halves and the
    /// edges of the range included.
    #[test]
    fn from_secs_f64_rounds_like_f64_round() {
        let reference = |s: f64| {
            let ns = (s * 1e9).round();
            if ns.is_nan() || ns <= 0.0 {
                0
            } else if ns >= u64::MAX as f64 {
                u64::MAX
            } else {
                ns as u64
            }
        };
        let mut cases = vec![
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            0.4999999999e-9,
            0.5e-9,
            1.5e-9,
            2.5e-9,
            f64::from_bits(0.5f64.to_bits() - 1) / 1e9,
            (4_503_599_627_370_495.0 + 0.5) / 1e9,
            9.007_199_254_740_993e6,
            1.8446744073709552e10,
            1.844_674_407_370_955e10,
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(f64::from_bits(x).abs() % 1e7);
            cases.push((x >> 11) as f64 / (1u64 << 53) as f64 * 10.0);
            cases.push((x % 1_000_000) as f64 * 0.5e-9);
        }
        // Both sides of 2^63 ns, where the conversion changes.
        cases.extend([
            9.2e9,
            9.223_372_036_854_775e9,
            9.223_372_036_854_777e9,
            9.3e9,
        ]);
        for s in cases {
            assert_eq!(Nanos::from_secs_f64(s).0, reference(s), "{s:e} s");
        }
    }
}
