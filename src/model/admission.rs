//! Admission at the gateway, as nginx's `limit_req` and `limit_conn` decide it: a
//! request is let through, delayed, or answered at once with the limit's status (503 by
//! default). The mechanism alone; the gateway calls it when a request arrives.
//!
//! Sources (nginx 1.22.1):
//! - `ngx_http_limit_req_module.c`: rates in milli-requests per second (`rate=Nr/s` is
//!   N x 1000, `Nr/m` is N x 1000 / 60 by integer division), `burst` and `delay` x 1000,
//!   `nodelay` an infinite delay threshold. `ngx_http_limit_req_lookup`: with `ms` the
//!   whole milliseconds since the key's `last`, `excess' = max(0, excess - rate x ms /
//!   1000 + 1000)`; rejected when `excess' > burst` (state untouched); else stored, and
//!   `last` moved only when `ms != 0`. A key's first request starts at excess 0 and
//!   passes. `ngx_http_limit_req_handler` / `_account`: delayed by `(excess' - delay) x
//!   1000 / rate` ms when `excess' > delay`. `limit_req_status` defaults to 503.
//! - `ngx_http_limit_conn_module.c`: requests being processed per key; rejected when
//!   the count is already at the limit, released when the request is finalized.
//!   `limit_conn_status` defaults to 503.
//!
//! The key: the whole gateway's traffic (as `limit_req_zone $server_name`): a client
//! component stands for many users, so per-address limits are out of reach.

use crate::engine::Nanos;

/// `limit_req` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitReqSpec {
    /// `rate`, in milli-requests per second.
    pub rate_milli: u64,
    /// `burst` x 1000.
    pub burst_milli: u64,
    /// `delay` x 1000 (`nodelay`: `u64::MAX`).
    pub delay_milli: u64,
    /// `limit_req_status`.
    pub status: u16,
}

/// What `limit_req` decides for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Passed at once.
    Pass,
    /// Passed after this delay.
    Delay(Nanos),
    /// Answered with the limit's status.
    Reject,
}

/// One `limit_req` zone's node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitReq {
    excess: u64,
    last_ms: Option<u64>,
}

impl LimitReq {
    /// A request arrives at `now`.
    pub fn arrive(&mut self, spec: &LimitReqSpec, now: Nanos) -> Admit {
        let now_ms = now.0 / 1_000_000;
        let Some(last) = self.last_ms else {
            // A new node: excess 0, passed unconditionally.
            self.last_ms = Some(now_ms);
            self.excess = 0;
            return Admit::Pass;
        };
        let ms = now_ms.saturating_sub(last);
        // Signed, as nginx computes it, then floored at zero.
        let leaked = i128::from(spec.rate_milli) * i128::from(ms) / 1000;
        let excess = (i128::from(self.excess) - leaked + 1000).max(0);
        let excess = u64::try_from(excess).unwrap_or(u64::MAX);
        if excess > spec.burst_milli {
            return Admit::Reject;
        }
        self.excess = excess;
        if ms != 0 {
            self.last_ms = Some(now_ms);
        }
        if spec.delay_milli == u64::MAX || excess <= spec.delay_milli {
            Admit::Pass
        } else {
            let delay_ms = (excess - spec.delay_milli) * 1000 / spec.rate_milli.max(1);
            Admit::Delay(Nanos::from_millis(delay_ms))
        }
    }
}

/// `limit_conn` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitConnSpec {
    /// Requests processed at once.
    pub limit: u32,
    /// `limit_conn_status`.
    pub status: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(rate_per_s: u64, burst: u64, delay: Option<u64>) -> LimitReqSpec {
        LimitReqSpec {
            rate_milli: rate_per_s * 1000,
            burst_milli: burst * 1000,
            delay_milli: delay.map_or(u64::MAX, |d| d * 1000),
            status: 503,
        }
    }

    fn ms(v: u64) -> Nanos {
        Nanos::from_millis(v)
    }

    /// 10 r/s, burst 5, nodelay: a burst of 8 requests in one millisecond: the first
    /// passes (new node, excess 0), the next 5 raise excess to 5000 and pass, the 7th and
    /// 8th (6000 > 5000) are rejected without changing the state. 100 ms later one
    /// request's worth has leaked: one more passes.
    #[test]
    fn limit_req_burst_and_nodelay() {
        let s = spec(10, 5, None);
        let mut l = LimitReq::default();
        let got: Vec<Admit> = (0..8).map(|_| l.arrive(&s, ms(1_000))).collect();
        assert_eq!(&got[..6], &[Admit::Pass; 6]);
        assert_eq!(&got[6..], &[Admit::Reject; 2]);
        assert_eq!(l.arrive(&s, ms(1_099)), Admit::Reject);
        assert_eq!(l.arrive(&s, ms(1_100)), Admit::Pass);
        assert_eq!(l.arrive(&s, ms(1_100)), Admit::Reject);
    }

    /// Without nodelay (delay 0): excess above 0 is delayed by excess / rate.
    #[test]
    fn limit_req_delays_without_nodelay() {
        let s = spec(2, 3, Some(0));
        let mut l = LimitReq::default();
        assert_eq!(l.arrive(&s, ms(0)), Admit::Pass);
        // excess 1000 at 2 r/s (2000 milli): 1000 x 1000 / 2000 = 500 ms.
        assert_eq!(l.arrive(&s, ms(0)), Admit::Delay(ms(500)));
        assert_eq!(l.arrive(&s, ms(0)), Admit::Delay(ms(1_000)));
        assert_eq!(l.arrive(&s, ms(0)), Admit::Delay(ms(1_500)));
        assert_eq!(l.arrive(&s, ms(0)), Admit::Reject);
        // 250 ms later: 500 milli leaked: 3000 - 500 + 1000 = 3500 > 3000: rejected.
        assert_eq!(l.arrive(&s, ms(250)), Admit::Reject);
        // 500 ms after the last accepted (at 0): 3000 - 1000 + 1000 = 3000: delayed 1.5 s.
        assert_eq!(l.arrive(&s, ms(500)), Admit::Delay(ms(1_500)));
    }

    /// `delay=N`: the first N excess requests pass at once, the rest up to burst wait.
    #[test]
    fn limit_req_two_stage() {
        let s = spec(1, 4, Some(2));
        let mut l = LimitReq::default();
        assert_eq!(l.arrive(&s, ms(0)), Admit::Pass);
        assert_eq!(l.arrive(&s, ms(0)), Admit::Pass);
        assert_eq!(l.arrive(&s, ms(0)), Admit::Pass);
        // excess 3000, delay 2000: (3000 - 2000) x 1000 / 1000 = 1000 ms.
        assert_eq!(l.arrive(&s, ms(0)), Admit::Delay(ms(1_000)));
        assert_eq!(l.arrive(&s, ms(0)), Admit::Delay(ms(2_000)));
        assert_eq!(l.arrive(&s, ms(0)), Admit::Reject);
    }
}
