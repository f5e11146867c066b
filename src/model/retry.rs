//! Client retries, as the real retriers decide them: which outcomes are retried, how
//! long to back off (Brooker's jitters), and what may refuse a retry (the attempt
//! limit, the AWS SDKs' retry quota, gRPC's retry throttling, Envoy's retry budget).
//!
//! This module is the mechanism alone: a [`RetryPolicy`] (what the file says), a
//! [`RetryState`] per retrier instance (one per client, one per call step in each
//! replica process: a restarted process starts with a full bucket, as a new SDK client
//! does) and an [`Exchange`] per logical request (its attempts so far). The wiring to
//! requests is `caller.rs`.
//!
//! Sources, for the profiles in [`RetryPolicy::profile`]:
//! - AWS SDKs, standard mode: botocore `botocore/retries/standard.py` and `quota.py`
//!   (`DEFAULT_MAX_ATTEMPTS = 3`, `_MAX_BACKOFF = 20`, `_BASE = 2`,
//!   `RetryQuota.INITIAL_CAPACITY = 500`, `_RETRY_COST = 5`, `_TIMEOUT_RETRY_REQUEST =
//!   10`, `_NO_RETRY_INCREMENT = 1`; `ExponentialBackoff.delay_amount`:
//!   `random() * min(2 ** (attempt - 1), 20)` s; `release_retry_quota` gives back the
//!   last retry's cost on a success after retries, 1 on a first-try success).
//!   aws-sdk-go-v2 `aws/retry/standard.go` agrees on 3, 20 s, 500, 5 and 10.
//! - gRPC: gRFC A6 "client retries" (retry policy; backoff
//!   `min(initialBackoff * multiplier^(n-1), maxBackoff) * U[0.8, 1.2)` since 2024-08;
//!   retry throttling: tokens start at `maxTokens`, -1 per retryable failure (floor 0),
//!   +`tokenRatio` per successful call, retries only while tokens > maxTokens / 2).
//!   gRPC has no default policy; the profile takes A6's example: 4 attempts, 0.1 s,
//!   1 s, x2, UNAVAILABLE, throttling 10 / 0.1. grpc-go `stream.go`
//!   (`csAttempt.shouldRetry`), `clientconn.go` (`retryThrottler`).
//! - Envoy: `route_components.proto` (`num_retries` default 1; `retry_back_off`
//!   base 25 ms, max 10x base), `backoff_strategy.cc` (`JitteredExponentialBackOffStrategy`:
//!   a uniform draw below an interval that doubles up to the max), `circuit_breaker.proto`
//!   `RetryBudget` (`budget_percent` 20, `min_retry_concurrency` 3) and
//!   `resource_manager_impl.h` (`RetryBudgetImpl`: retries allowed while active retries
//!   < max(floor(percent x active requests), min concurrency)).
//! - Jitter kinds: Marc Brooker, "Exponential Backoff And Jitter" (AWS Architecture
//!   Blog, 2015) and its simulator (`aws-samples/aws-arch-backoff-simulator`).

use crate::engine::{Nanos, SimRng};

/// How a back-off interval is randomised (Brooker's names, plus gRPC's spread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the exponential interval.
    None,
    /// Uniform in [0, interval).
    Full,
    /// Half the interval fixed, half uniform: [interval / 2, interval).
    Equal,
    /// `min(max, uniform(base, 3 x previous sleep))`, the previous sleep starting at base.
    Decorrelated,
    /// The interval times uniform [0.8, 1.2) (gRFC A6 since 2024).
    Grpc,
}

/// The wait before each retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first retry's interval (before jitter).
    pub base: Nanos,
    /// Cap on the interval.
    pub max: Nanos,
    /// Growth per retry: retry `k` (from 1) has interval `min(max, base x multiplier^(k-1))`.
    pub multiplier: f64,
    /// Randomisation.
    pub jitter: Jitter,
}

impl Backoff {
    /// The wait before retry number `k` (1 for the first retry); `previous` is the wait
    /// before the previous retry (used by decorrelated jitter, `base` before any).
    pub fn delay(&self, k: u32, previous: Nanos, rng: &mut SimRng) -> Nanos {
        let base = self.base.as_secs_f64();
        let max = self.max.as_secs_f64();
        // Exponent bounded: attempts are capped at validation, and powi saturates to inf.
        let exp = k.saturating_sub(1).min(1_000) as i32;
        let interval = (base * self.multiplier.powi(exp)).min(max);
        let secs = match self.jitter {
            Jitter::None => interval,
            Jitter::Full => interval * rng.uniform_open01(),
            Jitter::Equal => interval / 2.0 + interval / 2.0 * rng.uniform_open01(),
            Jitter::Decorrelated => {
                let high = (3.0 * previous.as_secs_f64()).max(base);
                (base + (high - base) * rng.uniform_open01()).min(max)
            }
            Jitter::Grpc => interval * (0.8 + 0.4 * rng.uniform_open01()),
        };
        Nanos::from_secs_f64(secs)
    }
}

/// How one attempt ended, as the retrier sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// An HTTP answer.
    Status(u16),
    /// The caller's own timeout for the attempt expired.
    Timeout,
    /// The connection could not be made (refused, no endpoint): nothing was sent.
    ConnectFailure,
    /// The connection broke after the request was sent (the process died).
    Reset,
    /// A circuit breaker refused the attempt before it was sent.
    Rejected,
}

impl AttemptOutcome {
    /// A success: a 2xx answer (or any status below 500 but not 429: an answer the
    /// caller does not retry and a breaker does not count).
    pub fn is_success(self) -> bool {
        matches!(self, AttemptOutcome::Status(s) if s < 500 && s != 429 && s != 499)
    }

    /// Whether the request reached the server (what decides retrying a POST).
    pub fn was_sent(self) -> bool {
        !matches!(
            self,
            AttemptOutcome::ConnectFailure | AttemptOutcome::Rejected
        )
    }
}

/// A set of HTTP statuses from 400 to 599, as a bitmap (so policies are `Copy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusSet([u128; 2]);

impl StatusSet {
    /// Lowest status a set can hold.
    pub const LOWEST: u16 = 400;
    /// Highest status a set can hold.
    pub const HIGHEST: u16 = 599;

    /// The statuses in `range` (clamped to 400-599).
    pub fn range(range: std::ops::RangeInclusive<u16>) -> StatusSet {
        let mut set = StatusSet::default();
        for s in range {
            set.insert(s);
        }
        set
    }

    /// Add `status`; false if it is outside 400-599.
    pub fn insert(&mut self, status: u16) -> bool {
        if !(Self::LOWEST..=Self::HIGHEST).contains(&status) {
            return false;
        }
        let bit = usize::from(status - Self::LOWEST);
        self.0[bit / 128] |= 1 << (bit % 128);
        true
    }

    /// Whether `status` is in the set.
    pub fn contains(&self, status: u16) -> bool {
        if !(Self::LOWEST..=Self::HIGHEST).contains(&status) {
            return false;
        }
        let bit = usize::from(status - Self::LOWEST);
        self.0[bit / 128] & (1 << (bit % 128)) != 0
    }
}

/// Which outcomes are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryOn {
    /// Statuses retried (`5xx` is 500-599, `gateway-error` 502-504).
    pub statuses: StatusSet,
    /// The attempt's own timeout.
    pub timeout: bool,
    /// Connection refused, no endpoint.
    pub connect_failure: bool,
    /// Connection reset after sending.
    pub reset: bool,
}

impl RetryOn {
    /// Whether `outcome` is retried by this rule.
    pub fn matches(&self, outcome: AttemptOutcome) -> bool {
        match outcome {
            AttemptOutcome::Status(s) => self.statuses.contains(s),
            AttemptOutcome::Timeout => self.timeout,
            AttemptOutcome::ConnectFailure => self.connect_failure,
            AttemptOutcome::Reset => self.reset,
            AttemptOutcome::Rejected => false,
        }
    }
}

/// The AWS SDKs' retry quota: a token bucket that a retry draws from and a success
/// refills; empty, the call fails without retrying. No refill with time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryQuota {
    /// Capacity, and the starting level.
    pub size: u32,
    /// Cost of a retry.
    pub cost: u32,
    /// Cost of a retry after a timeout.
    pub timeout_cost: u32,
    /// Given back by a call that succeeded at its first attempt.
    pub refund: u32,
}

/// gRPC retry throttling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryThrottling {
    /// `maxTokens`: capacity and starting level.
    pub max_tokens: f64,
    /// `tokenRatio`: added per successful call.
    pub token_ratio: f64,
}

/// Envoy's retry budget: concurrent retries limited to a share of active requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudget {
    /// `budget_percent`.
    pub percent: f64,
    /// `min_retry_concurrency`.
    pub min_concurrency: u32,
}

/// A retrier's configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1: never retry).
    pub attempts: u32,
    /// Which outcomes are retried.
    pub retry_on: RetryOn,
    /// Retry a non-idempotent request (POST, PATCH, LOCK) after it was sent.
    pub non_idempotent: bool,
    /// The wait before each retry.
    pub backoff: Backoff,
    /// AWS retry quota, if any.
    pub quota: Option<RetryQuota>,
    /// gRPC retry throttling, if any.
    pub throttling: Option<RetryThrottling>,
    /// Envoy retry budget, if any.
    pub budget: Option<RetryBudget>,
}

/// The named defaults a `retry:` block starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryProfile {
    /// No retries.
    None,
    /// AWS SDKs, standard mode (botocore's constants).
    AwsStandard,
    /// gRPC retry policy and throttling (gRFC A6's example).
    Grpc,
    /// Envoy's route retry policy with a retry budget.
    Envoy,
}

fn statuses(list: &[u16]) -> StatusSet {
    let mut set = StatusSet::default();
    for &s in list {
        set.insert(s);
    }
    set
}

impl RetryPolicy {
    /// The defaults of `profile`.
    pub fn profile(profile: RetryProfile) -> RetryPolicy {
        match profile {
            RetryProfile::None => RetryPolicy {
                attempts: 1,
                retry_on: RetryOn::default(),
                non_idempotent: false,
                backoff: Backoff {
                    base: Nanos::ZERO,
                    max: Nanos::ZERO,
                    multiplier: 1.0,
                    jitter: Jitter::None,
                },
                quota: None,
                throttling: None,
                budget: None,
            },
            RetryProfile::AwsStandard => RetryPolicy {
                // botocore standard.py: DEFAULT_MAX_ATTEMPTS = 3.
                attempts: 3,
                // TransientRetryableChecker: 500, 502, 503, 504; throttling codes
                // (HTTP 429 among them); connection errors and timeouts.
                retry_on: RetryOn {
                    statuses: statuses(&[429, 500, 502, 503, 504]),
                    timeout: true,
                    connect_failure: true,
                    reset: true,
                },
                // SDK operations are retried whatever their method (idempotency
                // tokens); an incident file can say otherwise.
                non_idempotent: true,
                // random() * min(2 ** (attempt - 1), 20) seconds: full jitter, 1 s x 2^k.
                backoff: Backoff {
                    base: Nanos::from_secs(1),
                    max: Nanos::from_secs(20),
                    multiplier: 2.0,
                    jitter: Jitter::Full,
                },
                // quota.py INITIAL_CAPACITY 500; standard.py _RETRY_COST 5,
                // _TIMEOUT_RETRY_REQUEST 10, _NO_RETRY_INCREMENT 1.
                quota: Some(RetryQuota {
                    size: 500,
                    cost: 5,
                    timeout_cost: 10,
                    refund: 1,
                }),
                throttling: None,
                budget: None,
            },
            RetryProfile::Grpc => RetryPolicy {
                // gRFC A6 example: maxAttempts 4, UNAVAILABLE (HTTP 429, 502, 503, 504
                // and a failed connection map to UNAVAILABLE; DEADLINE_EXCEEDED is not
                // in the example's list).
                attempts: 4,
                retry_on: RetryOn {
                    statuses: statuses(&[429, 502, 503, 504]),
                    timeout: false,
                    connect_failure: true,
                    reset: true,
                },
                non_idempotent: true,
                backoff: Backoff {
                    base: Nanos::from_millis(100),
                    max: Nanos::from_secs(1),
                    multiplier: 2.0,
                    jitter: Jitter::Grpc,
                },
                quota: None,
                throttling: Some(RetryThrottling {
                    max_tokens: 10.0,
                    token_ratio: 0.1,
                }),
                budget: None,
            },
            RetryProfile::Envoy => RetryPolicy {
                // num_retries 1: two attempts; retry_on 5xx covers 5xx answers, resets,
                // connect failures and per-try timeouts.
                attempts: 2,
                retry_on: RetryOn {
                    statuses: StatusSet::range(500..=599),
                    timeout: true,
                    connect_failure: true,
                    reset: true,
                },
                non_idempotent: true,
                // 25 ms base, max 10x base; each draw uniform below the doubling interval.
                backoff: Backoff {
                    base: Nanos::from_millis(25),
                    max: Nanos::from_millis(250),
                    multiplier: 2.0,
                    jitter: Jitter::Full,
                },
                quota: None,
                throttling: None,
                budget: Some(RetryBudget {
                    percent: 20.0,
                    min_concurrency: 3,
                }),
            },
        }
    }
}

/// Why a failed attempt was not retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRetry {
    /// The outcome is not in `retry_on` (or a sent POST without `non_idempotent`).
    NotRetryable,
    /// Every attempt is used.
    AttemptsExhausted,
    /// The AWS retry quota is empty.
    Quota,
    /// gRPC retry throttling.
    Throttled,
    /// Envoy's retry budget (or `max_retries`) is used up.
    Budget,
}

/// What the retrier decides after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the next attempt after this wait.
    Retry(Nanos),
    /// The failure is final.
    GiveUp(NoRetry),
}

/// One logical request's retry bookkeeping, carried from attempt to attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exchange {
    /// Attempts sent so far.
    pub attempts: u16,
    /// The wait before the latest retry (decorrelated jitter's memory).
    pub last_wait: Nanos,
    /// Quota tokens the latest retry took (refunded if it succeeds).
    pub last_cost: u32,
    /// The attempt in flight (or about to be sent) is a retry.
    pub retrying: bool,
}

/// Counts of a retrier (kept by whoever owns the retrier: they outlive a process).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryTotals {
    /// Attempts sent, first attempts and retries.
    pub attempts: u64,
    /// Retries sent.
    pub retries: u64,
    /// Failures not retried because the attempts were used up.
    pub exhausted: u64,
    /// Retries refused by the AWS retry quota.
    pub denied_quota: u64,
    /// Retries refused by gRPC retry throttling.
    pub denied_throttled: u64,
    /// Retries refused by Envoy's retry budget.
    pub denied_budget: u64,
}

impl RetryTotals {
    /// An attempt was sent; `retry` if it is a retry.
    pub fn sent(&mut self, retry: bool) {
        self.attempts += 1;
        self.retries += u64::from(retry);
    }

    /// A failure was not retried, for `why`.
    pub fn not_retried(&mut self, why: NoRetry) {
        match why {
            NoRetry::NotRetryable => {}
            NoRetry::AttemptsExhausted => self.exhausted += 1,
            NoRetry::Quota => self.denied_quota += 1,
            NoRetry::Throttled => self.denied_throttled += 1,
            NoRetry::Budget => self.denied_budget += 1,
        }
    }
}

/// The live state of one retrier instance (a client, or a call step in one process).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryState {
    /// AWS quota tokens left.
    pub quota_tokens: u32,
    /// gRPC throttling tokens.
    pub throttle_tokens: f64,
    /// Attempts in flight (Envoy's active requests).
    pub active: u32,
    /// Retries scheduled or in flight (Envoy's active retries).
    pub active_retries: u32,
}

impl RetryState {
    /// A fresh retrier (full bucket, full tokens) for `policy`.
    pub fn new(policy: &RetryPolicy) -> RetryState {
        RetryState {
            quota_tokens: policy.quota.map_or(0, |q| q.size),
            throttle_tokens: policy.throttling.map_or(0.0, |t| t.max_tokens),
            active: 0,
            active_retries: 0,
        }
    }

    /// An attempt of `exchange` is sent.
    pub fn attempt_sent(&mut self, exchange: &mut Exchange) {
        exchange.attempts = exchange.attempts.saturating_add(1);
        self.active += 1;
    }

    /// The attempt in flight of `exchange` is over (whatever its outcome); call before
    /// [`RetryState::succeeded`] or [`RetryState::failed`].
    pub fn attempt_over(&mut self, exchange: &mut Exchange) {
        self.active = self.active.saturating_sub(1);
        if exchange.retrying {
            self.active_retries = self.active_retries.saturating_sub(1);
            exchange.retrying = false;
        }
    }

    /// The logical request succeeded: refill the quota and the throttling tokens.
    pub fn succeeded(&mut self, policy: &RetryPolicy, exchange: &Exchange) {
        if let Some(q) = policy.quota {
            // botocore: the last retry's cost back after retries, else the increment.
            let back = if exchange.attempts > 1 {
                exchange.last_cost
            } else {
                q.refund
            };
            self.quota_tokens = self.quota_tokens.saturating_add(back).min(q.size);
        }
        if let Some(t) = policy.throttling {
            self.throttle_tokens = (self.throttle_tokens + t.token_ratio).min(t.max_tokens);
        }
    }

    /// An attempt of `exchange` failed with `outcome`: retry it (after the returned
    /// wait) or give up. `idempotent` is the request's method class. The checks run in
    /// the real retriers' order: retryable, then (gRPC) the token decrement, the attempt
    /// limit, the throttle, Envoy's budget, and last the AWS quota, which is only spent
    /// on a retry that happens.
    pub fn failed(
        &mut self,
        policy: &RetryPolicy,
        exchange: &mut Exchange,
        outcome: AttemptOutcome,
        idempotent: bool,
        rng: &mut SimRng,
    ) -> Verdict {
        let resend_ok = idempotent || policy.non_idempotent || !outcome.was_sent();
        if !policy.retry_on.matches(outcome) || !resend_ok {
            return Verdict::GiveUp(NoRetry::NotRetryable);
        }
        if let Some(t) = policy.throttling {
            // grpc-go retryThrottler.throttle(): decrement (floor 0) before the
            // attempt check, so an exhausted call's last failure counts too.
            self.throttle_tokens = (self.throttle_tokens - 1.0).max(0.0);
            if u32::from(exchange.attempts) >= policy.attempts {
                return Verdict::GiveUp(NoRetry::AttemptsExhausted);
            }
            if self.throttle_tokens <= t.max_tokens / 2.0 {
                return Verdict::GiveUp(NoRetry::Throttled);
            }
        }
        if u32::from(exchange.attempts) >= policy.attempts {
            return Verdict::GiveUp(NoRetry::AttemptsExhausted);
        }
        if let Some(b) = policy.budget {
            let share = (b.percent / 100.0 * f64::from(self.active)).floor() as u32;
            if self.active_retries >= share.max(b.min_concurrency) {
                return Verdict::GiveUp(NoRetry::Budget);
            }
        }
        if let Some(q) = policy.quota {
            let cost = if outcome == AttemptOutcome::Timeout {
                q.timeout_cost
            } else {
                q.cost
            };
            if self.quota_tokens < cost {
                return Verdict::GiveUp(NoRetry::Quota);
            }
            self.quota_tokens -= cost;
            exchange.last_cost = cost;
        }
        self.active_retries += 1;
        exchange.retrying = true;
        let k = u32::from(exchange.attempts);
        let previous = if exchange.attempts > 1 {
            exchange.last_wait
        } else {
            policy.backoff.base
        };
        let wait = policy.backoff.delay(k, previous, rng);
        exchange.last_wait = wait;
        Verdict::Retry(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng() -> SimRng {
        SimRng::stream(7, "retry-test")
    }

    fn backoff(jitter: Jitter) -> Backoff {
        Backoff {
            base: Nanos::from_millis(100),
            max: Nanos::from_secs(1),
            multiplier: 2.0,
            jitter,
        }
    }

    /// Each jitter kind stays within its bounds for retries 1..8, and its mean over many
    /// draws is the analytic mean within four standard errors.
    #[test]
    fn backoff_bounds_and_means_per_jitter() {
        let mut r = rng();
        let n = 20_000;
        for k in 1..=8u32 {
            let interval = (0.1 * 2f64.powi(k as i32 - 1)).min(1.0);
            for (jitter, low, high, mean, sd) in [
                (Jitter::None, interval, interval, interval, 0.0),
                (
                    Jitter::Full,
                    0.0,
                    interval,
                    interval / 2.0,
                    interval / 12f64.sqrt(),
                ),
                (
                    Jitter::Equal,
                    interval / 2.0,
                    interval,
                    0.75 * interval,
                    interval / 2.0 / 12f64.sqrt(),
                ),
                (
                    Jitter::Grpc,
                    0.8 * interval,
                    1.2 * interval,
                    interval,
                    0.4 * interval / 12f64.sqrt(),
                ),
            ] {
                let b = backoff(jitter);
                let mut sum = 0.0;
                for _ in 0..n {
                    let d = b.delay(k, Nanos::ZERO, &mut r).as_secs_f64();
                    assert!(
                        d >= low - 1e-9 && d <= high + 1e-9,
                        "{jitter:?} k={k}: {d} not in [{low}, {high}]"
                    );
                    sum += d;
                }
                let got = sum / n as f64;
                let tol = 4.0 * sd / (n as f64).sqrt() + 1e-9;
                assert!(
                    (got - mean).abs() <= tol,
                    "{jitter:?} k={k}: mean {got}, expected {mean} +- {tol}"
                );
            }
        }
    }

    /// Decorrelated: uniform between base and 3x the previous sleep, capped at max.
    #[test]
    fn jittered_waits_are_uniform_over_their_range() {
        // The shape, not only the mean: each jitter's waits are uniform over its range
        // (Brooker's definitions; gRFC A6), decorrelated's given the previous sleep.
        // Kolmogorov-Smirnov distance under 1.95 / sqrt(n), the 0.1% critical value.
        let (mut r, n) = (rng(), 20_000);
        let ks = |mut xs: Vec<f64>, low: f64, high: f64| -> f64 {
            xs.sort_by(f64::total_cmp);
            let at = |i: usize| i as f64 / xs.len() as f64;
            (0..xs.len())
                .map(|i| {
                    let f = ((xs[i] - low) / (high - low)).clamp(0.0, 1.0);
                    (f - at(i)).abs().max((f - at(i + 1)).abs())
                })
                .fold(0.0, f64::max)
        };
        let critical = 1.95 / f64::from(n).sqrt();
        for k in 1..=4u32 {
            let i = 0.1 * 2f64.powi(k as i32 - 1);
            for (jitter, low, high) in [
                (Jitter::Full, 0.0, i),
                (Jitter::Equal, i / 2.0, i),
                (Jitter::Grpc, 0.8 * i, 1.2 * i),
            ] {
                let b = backoff(jitter);
                let xs = (0..n).map(|_| b.delay(k, Nanos::ZERO, &mut r).as_secs_f64());
                let d = ks(xs.collect(), low, high);
                assert!(d < critical, "{jitter:?} k={k}: KS {d}");
            }
        }
        // After a sleep of 0.2 s: uniform in [base, 3 x 0.2 s) = [0.1, 0.6).
        let b = backoff(Jitter::Decorrelated);
        let xs = (0..n).map(|_| b.delay(3, Nanos::from_millis(200), &mut r).as_secs_f64());
        let d = ks(xs.collect(), 0.1, 0.6);
        assert!(d < critical, "decorrelated: KS {d}");
    }

    #[test]
    fn decorrelated_jitter_follows_the_previous_sleep() {
        let b = backoff(Jitter::Decorrelated);
        let mut r = rng();
        let mut previous = b.base;
        let n = 20_000;
        let mut sum_first = 0.0;
        for _ in 0..n {
            let d = b.delay(1, b.base, &mut r).as_secs_f64();
            assert!((0.1..=0.3 + 1e-9).contains(&d), "{d}");
            sum_first += d;
        }
        // U(0.1, 0.3): mean 0.2, sd 0.2 / sqrt(12).
        let tol = 4.0 * 0.2 / 12f64.sqrt() / (n as f64).sqrt();
        assert!((sum_first / n as f64 - 0.2).abs() <= tol);
        for k in 1..50 {
            let d = b.delay(k, previous, &mut r);
            let high = (3.0 * previous.as_secs_f64()).min(1.0);
            assert!(
                d >= b.base && d.as_secs_f64() <= high + 1e-9,
                "{d} > {high}"
            );
            previous = d;
        }
    }

    fn failed_once(
        st: &mut RetryState,
        p: &RetryPolicy,
        ex: &mut Exchange,
        outcome: AttemptOutcome,
    ) -> Verdict {
        st.attempt_sent(ex);
        st.attempt_over(ex);
        st.failed(p, ex, outcome, true, &mut rng())
    }

    /// AWS standard: 3 attempts; a retry costs 5 (10 after a timeout); a first-try
    /// success gives 1 back, a success after retries the last retry's cost; an empty
    /// bucket fails at once (botocore's arithmetic, worked by hand).
    #[test]
    fn aws_quota_arithmetic() {
        let p = RetryPolicy::profile(RetryProfile::AwsStandard);
        let mut st = RetryState::new(&p);
        assert_eq!(st.quota_tokens, 500);
        let mut ex = Exchange::default();
        assert!(matches!(
            failed_once(&mut st, &p, &mut ex, AttemptOutcome::Status(503)),
            Verdict::Retry(_)
        ));
        assert_eq!(st.quota_tokens, 495);
        assert!(matches!(
            failed_once(&mut st, &p, &mut ex, AttemptOutcome::Timeout),
            Verdict::Retry(_)
        ));
        assert_eq!(st.quota_tokens, 485);
        assert_eq!(
            failed_once(&mut st, &p, &mut ex, AttemptOutcome::Status(503)),
            Verdict::GiveUp(NoRetry::AttemptsExhausted)
        );
        assert_eq!(st.quota_tokens, 485);
        // A success after one retry refunds that retry's cost only.
        let mut ex = Exchange::default();
        failed_once(&mut st, &p, &mut ex, AttemptOutcome::Status(500));
        assert_eq!(st.quota_tokens, 480);
        st.attempt_sent(&mut ex);
        st.attempt_over(&mut ex);
        st.succeeded(&p, &ex);
        assert_eq!(st.quota_tokens, 485);
        // A first-try success gives 1, capped at the size.
        let mut ex = Exchange::default();
        st.attempt_sent(&mut ex);
        st.attempt_over(&mut ex);
        st.succeeded(&p, &ex);
        assert_eq!(st.quota_tokens, 486);
        // Drain: 97 retries of 5 leave 1 token; the next retry is refused.
        st.quota_tokens = 5;
        let mut ex = Exchange::default();
        assert!(matches!(
            failed_once(&mut st, &p, &mut ex, AttemptOutcome::Status(502)),
            Verdict::Retry(_)
        ));
        assert_eq!(st.quota_tokens, 0);
        let mut ex = Exchange::default();
        assert_eq!(
            failed_once(&mut st, &p, &mut ex, AttemptOutcome::Status(502)),
            Verdict::GiveUp(NoRetry::Quota)
        );
        // Not retryable: a 501, and a sent POST when non_idempotent is off.
        let mut ex = Exchange::default();
        assert_eq!(
            failed_once(&mut st, &p, &mut ex, AttemptOutcome::Status(501)),
            Verdict::GiveUp(NoRetry::NotRetryable)
        );
        let mut strict = p;
        strict.non_idempotent = false;
        let mut ex = Exchange::default();
        st.attempt_sent(&mut ex);
        st.attempt_over(&mut ex);
        assert_eq!(
            st.failed(
                &strict,
                &mut ex,
                AttemptOutcome::Status(503),
                false,
                &mut rng()
            ),
            Verdict::GiveUp(NoRetry::NotRetryable)
        );
    }

    /// gRPC throttling: 10 tokens, -1 per retryable failure, retry only while > 5;
    /// +0.1 per successful call.
    #[test]
    fn grpc_throttling_arithmetic() {
        let p = RetryPolicy::profile(RetryProfile::Grpc);
        let mut st = RetryState::new(&p);
        // Failures 1..4 leave 9, 8, 7, 6 tokens: retried. The 5th leaves 5: refused.
        for expect_tokens in [9.0, 8.0, 7.0, 6.0] {
            let mut ex = Exchange::default();
            assert!(matches!(
                failed_once(&mut st, &p, &mut ex, AttemptOutcome::Status(503)),
                Verdict::Retry(_)
            ));
            assert_eq!(st.throttle_tokens, expect_tokens);
        }
        let mut ex = Exchange::default();
        assert_eq!(
            failed_once(&mut st, &p, &mut ex, AttemptOutcome::Status(503)),
            Verdict::GiveUp(NoRetry::Throttled)
        );
        assert_eq!(st.throttle_tokens, 5.0);
        // Ten successful calls bring one token back: 6 > 5, retries allowed again.
        for _ in 0..10 {
            st.succeeded(&p, &Exchange::default());
        }
        assert!((st.throttle_tokens - 6.0).abs() < 1e-9);
        // A non-retryable failure takes no token.
        let mut ex = Exchange::default();
        failed_once(&mut st, &p, &mut ex, AttemptOutcome::Status(500));
        assert!((st.throttle_tokens - 6.0).abs() < 1e-9);
        // Tokens never go below zero.
        st.throttle_tokens = 0.5;
        let mut ex = Exchange::default();
        failed_once(&mut st, &p, &mut ex, AttemptOutcome::Status(503));
        assert_eq!(st.throttle_tokens, 0.0);
    }

    /// Envoy's budget: active retries < max(floor(20% x active), 3).
    #[test]
    fn envoy_budget_arithmetic() {
        let p = RetryPolicy::profile(RetryProfile::Envoy);
        let mut st = RetryState::new(&p);
        // 20 attempts in flight: floor(0.2 x 20) = 4 concurrent retries.
        st.active = 20;
        for i in 0..4 {
            let mut ex = Exchange {
                attempts: 1,
                ..Default::default()
            };
            assert!(
                matches!(
                    st.failed(&p, &mut ex, AttemptOutcome::Status(503), true, &mut rng()),
                    Verdict::Retry(_)
                ),
                "retry {i}"
            );
        }
        assert_eq!(st.active_retries, 4);
        let mut ex = Exchange {
            attempts: 1,
            ..Default::default()
        };
        assert_eq!(
            st.failed(&p, &mut ex, AttemptOutcome::Status(503), true, &mut rng()),
            Verdict::GiveUp(NoRetry::Budget)
        );
        // With few requests in flight the floor of 3 applies.
        st.active = 2;
        st.active_retries = 2;
        assert!(matches!(
            st.failed(&p, &mut ex, AttemptOutcome::Status(503), true, &mut rng()),
            Verdict::Retry(_)
        ));
        st.active_retries = 3;
        let mut ex = Exchange {
            attempts: 1,
            ..Default::default()
        };
        assert_eq!(
            st.failed(&p, &mut ex, AttemptOutcome::Status(503), true, &mut rng()),
            Verdict::GiveUp(NoRetry::Budget)
        );
        // num_retries 1: the second failure is final.
        let mut ex = Exchange {
            attempts: 2,
            ..Default::default()
        };
        st.active_retries = 0;
        assert_eq!(
            st.failed(&p, &mut ex, AttemptOutcome::Status(503), true, &mut rng()),
            Verdict::GiveUp(NoRetry::AttemptsExhausted)
        );
    }

    /// AWS backoff: retry k waits U[0, min(2^(k-1), 20)) s.
    #[test]
    fn aws_backoff_bounds() {
        let p = RetryPolicy::profile(RetryProfile::AwsStandard);
        let mut r = rng();
        for (k, cap) in [
            (1, 1.0),
            (2, 2.0),
            (3, 4.0),
            (5, 16.0),
            (6, 20.0),
            (9, 20.0),
        ] {
            let mut max_seen: f64 = 0.0;
            for _ in 0..2_000 {
                let d = p.backoff.delay(k, Nanos::ZERO, &mut r).as_secs_f64();
                assert!(d < cap, "k={k}: {d} >= {cap}");
                max_seen = max_seen.max(d);
            }
            assert!(
                max_seen > 0.95 * cap,
                "k={k}: draws should reach near {cap}"
            );
        }
    }
}
