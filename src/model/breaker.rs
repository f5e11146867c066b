//! Circuit breakers, as resilience4j and Hystrix decide: which calls they let through,
//! how they count outcomes, when they open, half-open and close.
//!
//! The mechanism alone (the wiring to requests is `caller.rs`): a [`BreakerSpec`] (what
//! the file says) and a [`Breaker`] per breaker instance (one per client, one per call
//! step in each replica process). Every decision is made at the instant of a call or of
//! an outcome, from the clock alone, so a breaker needs no timer events.
//!
//! Sources:
//! - resilience4j `CircuitBreakerConfig.java` (defaults: failure rate 50 %, slow-call
//!   rate 100 %, slow call > 60 s, count window of 100, minimum 100 calls, 60 s open,
//!   10 calls half-open, no automatic transition), `CircuitBreakerMetrics.java`
//!   (thresholds checked after every recorded call once the minimum is reached, `>=`;
//!   slow is strictly longer than the threshold; a slow failure counts in both rates),
//!   `SlidingTimeWindowMetrics.java` (one bucket per epoch second),
//!   `CircuitBreakerStateMachine.java` (OPEN to HALF_OPEN on the first call strictly
//!   after the wait; half-open admits exactly the permitted calls and decides when they
//!   are recorded; a new closed state starts with empty metrics).
//! - Hystrix 1.5 `HystrixCommandProperties.java` (20 requests, 50 %, 5 s sleep window,
//!   10 s rolling window, 500 ms health snapshots, 1 s execution timeout),
//!   `HystrixCircuitBreaker.java` (trips when total >= volume and the truncated error
//!   percentage >= threshold, evaluated once per health snapshot; after the sleep
//!   window one trial call; its success closes and resets the counts, its failure
//!   re-opens). Timeouts count as failures.

use crate::engine::Nanos;

/// resilience4j's sliding window kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowType {
    /// The last N calls.
    CountBased,
    /// The calls of the last N seconds (one bucket per second).
    TimeBased,
}

/// A resilience4j `CircuitBreakerConfig`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resilience4j {
    /// `slidingWindowType`.
    pub sliding_window_type: WindowType,
    /// `slidingWindowSize`: calls, or seconds.
    pub sliding_window_size: u32,
    /// `minimumNumberOfCalls`.
    pub minimum_number_of_calls: u32,
    /// `failureRateThreshold`, percent.
    pub failure_rate_threshold: f64,
    /// `slowCallRateThreshold`, percent.
    pub slow_call_rate_threshold: f64,
    /// `slowCallDurationThreshold`.
    pub slow_call_duration_threshold: Nanos,
    /// `waitDurationInOpenState`.
    pub wait_duration_in_open_state: Nanos,
    /// `permittedNumberOfCallsInHalfOpenState`.
    pub permitted_number_of_calls_in_half_open_state: u32,
}

impl Default for Resilience4j {
    fn default() -> Self {
        Resilience4j {
            sliding_window_type: WindowType::CountBased,
            sliding_window_size: 100,
            minimum_number_of_calls: 100,
            failure_rate_threshold: 50.0,
            slow_call_rate_threshold: 100.0,
            slow_call_duration_threshold: Nanos::from_secs(60),
            wait_duration_in_open_state: Nanos::from_secs(60),
            permitted_number_of_calls_in_half_open_state: 10,
        }
    }
}

/// A Hystrix command's breaker properties.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hystrix {
    /// `circuitBreaker.requestVolumeThreshold`.
    pub request_volume_threshold: u32,
    /// `circuitBreaker.errorThresholdPercentage`.
    pub error_threshold_percentage: u32,
    /// `circuitBreaker.sleepWindowInMilliseconds`.
    pub sleep_window: Nanos,
    /// `metrics.rollingStats.timeInMilliseconds`.
    pub rolling_window: Nanos,
    /// `metrics.healthSnapshot.intervalInMilliseconds`.
    pub health_snapshot_interval: Nanos,
    /// `execution.isolation.thread.timeoutInMilliseconds`: the command's own timeout.
    pub execution_timeout: Nanos,
}

impl Default for Hystrix {
    fn default() -> Self {
        Hystrix {
            request_volume_threshold: 20,
            error_threshold_percentage: 50,
            sleep_window: Nanos::from_secs(5),
            rolling_window: Nanos::from_secs(10),
            health_snapshot_interval: Nanos::from_millis(500),
            execution_timeout: Nanos::from_secs(1),
        }
    }
}

/// Which breaker, with its configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BreakerSpec {
    /// resilience4j.
    Resilience4j(Resilience4j),
    /// Netflix Hystrix.
    Hystrix(Hystrix),
}

impl BreakerSpec {
    /// A timeout the breaker imposes on each call (Hystrix's execution timeout).
    pub fn call_timeout(&self) -> Option<Nanos> {
        match self {
            BreakerSpec::Resilience4j(_) => None,
            BreakerSpec::Hystrix(h) => Some(h.execution_timeout),
        }
    }
}

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls pass and are counted.
    Closed,
    /// Calls are rejected.
    Open,
    /// A few trial calls pass.
    HalfOpen,
}

impl BreakerState {
    /// The event name of entering this state.
    pub fn event_kind(self) -> &'static str {
        match self {
            BreakerState::Closed => "breaker_closed",
            BreakerState::Open => "breaker_open",
            BreakerState::HalfOpen => "breaker_half_open",
        }
    }

    /// The time-series gauge: 0 closed, 1 half-open, 2 open.
    pub fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

/// Outcome counts of a window (or of one bucket).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    calls: u32,
    failed: u32,
    slow: u32,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.calls += other.calls;
        self.failed += other.failed;
        self.slow += other.slow;
    }
    fn sub(&mut self, other: Counts) {
        self.calls -= other.calls;
        self.failed -= other.failed;
        self.slow -= other.slow;
    }
}

/// resilience4j's metrics: a ring of the last N outcomes, or N one-second buckets.
#[derive(Debug, Clone)]
struct Window {
    kind: WindowType,
    /// Count-based: one entry per call. Time-based: one per second.
    ring: Vec<Counts>,
    /// Count-based: the next slot. Time-based: the epoch second of the newest bucket.
    head: u64,
    total: Counts,
    minimum: u32,
}

impl Window {
    fn new(kind: WindowType, size: u32, minimum: u32) -> Window {
        let size = size.max(1);
        Window {
            kind,
            ring: vec![Counts::default(); size as usize],
            head: 0,
            total: Counts::default(),
            // resilience4j clamps the minimum to the size of a count-based window.
            minimum: match kind {
                WindowType::CountBased => minimum.min(size),
                WindowType::TimeBased => minimum,
            },
        }
    }

    /// Time-based: drop the buckets that left the window by `now`.
    fn advance(&mut self, now: Nanos) {
        if self.kind != WindowType::TimeBased {
            return;
        }
        let second = now.0 / 1_000_000_000;
        let n = self.ring.len() as u64;
        if second <= self.head {
            return;
        }
        let stale = (second - self.head).min(n);
        for i in 1..=stale {
            let slot = ((self.head + i) % n) as usize;
            let gone = std::mem::take(&mut self.ring[slot]);
            self.total.sub(gone);
        }
        self.head = second;
    }

    fn record(&mut self, now: Nanos, one: Counts) {
        match self.kind {
            WindowType::CountBased => {
                let n = self.ring.len() as u64;
                let slot = (self.head % n) as usize;
                let gone = std::mem::replace(&mut self.ring[slot], one);
                self.total.sub(gone);
                self.total.add(one);
                self.head += 1;
            }
            WindowType::TimeBased => {
                self.advance(now);
                let slot = (self.head % self.ring.len() as u64) as usize;
                self.ring[slot].add(one);
                self.total.add(one);
            }
        }
    }

    /// Whether a threshold is reached: None below the minimum number of calls.
    fn exceeded(&self, cfg: &Resilience4j) -> Option<bool> {
        let t = self.total;
        if t.calls == 0 || t.calls < self.minimum {
            return None;
        }
        let failure_rate = f64::from(t.failed) * 100.0 / f64::from(t.calls);
        let slow_rate = f64::from(t.slow) * 100.0 / f64::from(t.calls);
        Some(
            failure_rate >= cfg.failure_rate_threshold || slow_rate >= cfg.slow_call_rate_threshold,
        )
    }
}

/// Hystrix's health counts: buckets of one health-snapshot interval.
#[derive(Debug, Clone)]
struct Health {
    /// `rolling_window / health_snapshot_interval` buckets, by absolute bucket index.
    ring: Vec<Counts>,
    /// Absolute index of the newest bucket written.
    newest: u64,
    /// The last snapshot boundary evaluated (absolute bucket index).
    evaluated: u64,
}

/// One breaker instance.
#[derive(Debug, Clone)]
pub struct Breaker {
    state: BreakerState,
    /// When it last opened.
    opened_at: Nanos,
    /// resilience4j: the current state's metrics; trial permits left when half-open.
    window: Option<Window>,
    permits: u32,
    /// Hystrix: health buckets.
    health: Option<Health>,
    /// Calls rejected, over the run.
    pub rejected: u64,
    /// Times it opened.
    pub opened: u64,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(spec: &BreakerSpec) -> Breaker {
        let (window, health) = match spec {
            BreakerSpec::Resilience4j(c) => (Some(Self::closed_window(c)), None),
            BreakerSpec::Hystrix(h) => {
                let n = (h.rolling_window.0 / h.health_snapshot_interval.0.max(1)).max(1);
                (
                    None,
                    Some(Health {
                        ring: vec![Counts::default(); n as usize],
                        newest: 0,
                        evaluated: 0,
                    }),
                )
            }
        };
        Breaker {
            state: BreakerState::Closed,
            opened_at: Nanos::ZERO,
            window,
            permits: 0,
            health,
            rejected: 0,
            opened: 0,
        }
    }

    fn closed_window(c: &Resilience4j) -> Window {
        Window::new(
            c.sliding_window_type,
            c.sliding_window_size,
            c.minimum_number_of_calls,
        )
    }

    /// The current state (Hystrix's snapshots are evaluated at the next call).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// When it last opened: the failing call's outcome (resilience4j), or the health
    /// snapshot whose counts tripped it (Hystrix), which the next call finds.
    pub fn opened_at(&self) -> Nanos {
        self.opened_at
    }

    /// May a call start at `now`? Returns the answer and the state entered on the way
    /// (an open breaker whose wait is over becomes half-open on a call).
    pub fn permit(&mut self, spec: &BreakerSpec, now: Nanos) -> (bool, Option<BreakerState>) {
        let mut entered = self.catch_up(spec, now);
        let allowed = match (spec, self.state) {
            (_, BreakerState::Closed) => true,
            (BreakerSpec::Resilience4j(c), BreakerState::Open) => {
                if now > self.opened_at.saturating_add(c.wait_duration_in_open_state) {
                    self.state = BreakerState::HalfOpen;
                    self.window = Some(Window::new(
                        WindowType::CountBased,
                        c.permitted_number_of_calls_in_half_open_state,
                        c.minimum_number_of_calls,
                    ));
                    self.permits = c.permitted_number_of_calls_in_half_open_state;
                    entered = Some(BreakerState::HalfOpen);
                    self.take_permit()
                } else {
                    false
                }
            }
            (BreakerSpec::Resilience4j(_), BreakerState::HalfOpen) => self.take_permit(),
            (BreakerSpec::Hystrix(h), BreakerState::Open) => {
                // One trial once the sleep window has passed (strictly).
                if now > self.opened_at.saturating_add(h.sleep_window) {
                    self.state = BreakerState::HalfOpen;
                    entered = Some(BreakerState::HalfOpen);
                    true
                } else {
                    false
                }
            }
            (BreakerSpec::Hystrix(_), BreakerState::HalfOpen) => false,
        };
        if !allowed {
            self.rejected += 1;
        }
        (allowed, entered)
    }

    fn take_permit(&mut self) -> bool {
        if self.permits > 0 {
            self.permits -= 1;
            true
        } else {
            false
        }
    }

    /// A permitted call ended at `now` after `duration`, failed or not. Returns the
    /// state entered, if the outcome moved the breaker.
    pub fn record(
        &mut self,
        spec: &BreakerSpec,
        now: Nanos,
        failed: bool,
        duration: Nanos,
    ) -> Option<BreakerState> {
        match spec {
            BreakerSpec::Resilience4j(c) => {
                let one = Counts {
                    calls: 1,
                    failed: u32::from(failed),
                    slow: u32::from(duration > c.slow_call_duration_threshold),
                };
                if self.state == BreakerState::Open {
                    // Recorded into the metrics it carries; no transition while open.
                    return None;
                }
                let window = self.window.get_or_insert_with(|| Self::closed_window(c));
                window.record(now, one);
                match (self.state, window.exceeded(c)) {
                    (_, Some(true)) => {
                        self.open(now);
                        Some(BreakerState::Open)
                    }
                    (BreakerState::HalfOpen, Some(false)) => {
                        self.state = BreakerState::Closed;
                        self.window = Some(Self::closed_window(c));
                        Some(BreakerState::Closed)
                    }
                    _ => None,
                }
            }
            BreakerSpec::Hystrix(h) => {
                let mut entered = self.catch_up(spec, now);
                let bucket = now.0 / h.health_snapshot_interval.0.max(1);
                if let Some(health) = &mut self.health {
                    let n = health.ring.len() as u64;
                    // Buckets between the newest written and this one are empty now.
                    let fresh = bucket.saturating_sub(health.newest).min(n);
                    for i in 1..=fresh {
                        health.ring[((health.newest + i) % n) as usize] = Counts::default();
                    }
                    health.newest = health.newest.max(bucket);
                    let slot = &mut health.ring[(bucket % n) as usize];
                    slot.calls += 1;
                    slot.failed += u32::from(failed);
                }
                if self.state == BreakerState::HalfOpen {
                    if failed {
                        self.open(now);
                        entered = Some(BreakerState::Open);
                    } else {
                        self.state = BreakerState::Closed;
                        // markSuccess resets the health stream.
                        if let Some(health) = &mut self.health {
                            health.ring.iter_mut().for_each(|c| *c = Counts::default());
                        }
                        entered = Some(BreakerState::Closed);
                    }
                }
                entered
            }
        }
    }

    fn open(&mut self, now: Nanos) {
        self.state = BreakerState::Open;
        self.opened_at = now;
        self.opened += 1;
    }

    /// Hystrix: evaluate every health snapshot boundary passed since the last call,
    /// each over the buckets of the rolling window before it; a closed breaker trips at
    /// the first boundary whose counts reach both thresholds.
    fn catch_up(&mut self, spec: &BreakerSpec, now: Nanos) -> Option<BreakerState> {
        let BreakerSpec::Hystrix(h) = spec else {
            return None;
        };
        let interval = h.health_snapshot_interval.0.max(1);
        let current = now.0 / interval;
        let health = self.health.as_mut()?;
        let n = health.ring.len() as u64;
        let mut tripped_at = None;
        // Every write calls this first, so no bucket is newer than `evaluated`; beyond
        // `n` boundaries after the newest write every window is empty.
        let first = health.evaluated + 1;
        let last = current.min(health.newest + n);
        if self.state == BreakerState::Closed {
            for boundary in first..=last {
                // The window before `boundary`: buckets boundary-n .. boundary-1.
                let mut total = Counts::default();
                for b in boundary.saturating_sub(n)..boundary {
                    if b + n > health.newest && b <= health.newest {
                        total.add(health.ring[(b % n) as usize]);
                    }
                }
                let percent = if total.calls == 0 {
                    0
                } else {
                    // Truncated, as Hystrix's (int) cast.
                    (u64::from(total.failed) * 100 / u64::from(total.calls)) as u32
                };
                if total.calls >= h.request_volume_threshold
                    && percent >= h.error_threshold_percentage
                {
                    tripped_at = Some(Nanos(boundary.saturating_mul(interval)));
                    break;
                }
            }
        }
        health.evaluated = health.evaluated.max(current);
        let at = tripped_at?;
        self.open(at);
        Some(BreakerState::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Nanos {
        Nanos::from_millis(v)
    }

    fn r4j(size: u32, minimum: u32) -> BreakerSpec {
        BreakerSpec::Resilience4j(Resilience4j {
            sliding_window_size: size,
            minimum_number_of_calls: minimum,
            permitted_number_of_calls_in_half_open_state: 3,
            wait_duration_in_open_state: Nanos::from_secs(10),
            slow_call_duration_threshold: Nanos::from_secs(2),
            ..Default::default()
        })
    }

    /// Count window of 10, minimum 10, 50 %: nine calls never trip (below the minimum);
    /// the 10th, the 5th failure, opens it at that instant.
    #[test]
    fn resilience4j_opens_at_the_exact_call() {
        let spec = r4j(10, 10);
        let mut b = Breaker::new(&spec);
        let mut t = 0;
        for i in 0..9 {
            t += 100;
            assert!(b.permit(&spec, ms(t)).0);
            // Failures 1..4 and 5 successes.
            assert_eq!(b.record(&spec, ms(t), i % 2 == 0, ms(5)), None, "call {i}");
        }
        t += 100;
        assert!(b.permit(&spec, ms(t)).0);
        // Calls 0, 2, 4, 6, 8 failed: 10 calls, 5 failed, 50 % >= 50 %.
        assert_eq!(
            b.record(&spec, ms(t), false, ms(5)),
            Some(BreakerState::Open)
        );
        assert_eq!(b.state(), BreakerState::Open);
        let opened = t;
        // Rejected until strictly after the 10 s wait.
        assert_eq!(b.permit(&spec, ms(opened + 10_000)), (false, None));
        assert_eq!(b.rejected, 1);
        // The first call after the wait enters half-open and is a trial.
        assert_eq!(
            b.permit(&spec, ms(opened + 10_001)),
            (true, Some(BreakerState::HalfOpen))
        );
        assert!(b.permit(&spec, ms(opened + 10_002)).0);
        assert!(b.permit(&spec, ms(opened + 10_003)).0);
        // Three permits only.
        assert_eq!(b.permit(&spec, ms(opened + 10_004)), (false, None));
        // Decided when the 3rd trial is recorded: 1 failure of 3 < 50 %: closed.
        assert_eq!(b.record(&spec, ms(opened + 10_010), true, ms(5)), None);
        assert_eq!(b.record(&spec, ms(opened + 10_011), false, ms(5)), None);
        assert_eq!(
            b.record(&spec, ms(opened + 10_012), false, ms(5)),
            Some(BreakerState::Closed)
        );
        // Fresh metrics: nine failures do not trip it (below the minimum).
        for i in 0..9 {
            assert_eq!(b.record(&spec, ms(opened + 11_000 + i), true, ms(5)), None);
        }
    }

    /// Slow calls: strictly longer than the threshold; 100 % slow trips.
    #[test]
    fn resilience4j_slow_calls() {
        let spec = r4j(4, 4);
        let mut b = Breaker::new(&spec);
        // Exactly 2 s is not slow.
        for i in 0..4 {
            assert_eq!(b.record(&spec, ms(i), false, Nanos::from_secs(2)), None);
        }
        let mut b = Breaker::new(&spec);
        for i in 0..3 {
            assert_eq!(b.record(&spec, ms(i), false, ms(2_001)), None);
        }
        assert_eq!(
            b.record(&spec, ms(4), false, ms(2_001)),
            Some(BreakerState::Open)
        );
    }

    /// A failed trial re-opens, and the wait starts again from that instant.
    #[test]
    fn resilience4j_half_open_failure_reopens() {
        let spec = r4j(2, 2);
        let mut b = Breaker::new(&spec);
        b.record(&spec, ms(0), true, ms(1));
        assert_eq!(
            b.record(&spec, ms(1), true, ms(1)),
            Some(BreakerState::Open)
        );
        assert!(b.permit(&spec, ms(10_002)).0);
        assert!(b.permit(&spec, ms(10_003)).0);
        // minimum min(2, 3) = 2: decided at the 2nd trial.
        assert_eq!(b.record(&spec, ms(10_004), true, ms(1)), None);
        assert_eq!(
            b.record(&spec, ms(10_005), false, ms(1)),
            Some(BreakerState::Open)
        );
        assert!(!b.permit(&spec, ms(20_005)).0);
        assert!(b.permit(&spec, ms(20_006)).0);
    }

    /// Time-based window of 2 s: failures older than the window no longer count.
    #[test]
    fn resilience4j_time_window_forgets() {
        let spec = BreakerSpec::Resilience4j(Resilience4j {
            sliding_window_type: WindowType::TimeBased,
            sliding_window_size: 2,
            minimum_number_of_calls: 4,
            ..Default::default()
        });
        let mut b = Breaker::new(&spec);
        // Three failures at 0.1-0.3 s, then a success at 2.5 s: the window (seconds 1
        // and 2) holds one call: below the minimum.
        for i in 1..=3 {
            assert_eq!(b.record(&spec, ms(100 * i), true, ms(1)), None);
        }
        assert_eq!(b.record(&spec, ms(2_500), false, ms(1)), None);
        // Three more failures in second 2: 4 calls, 3 failed: open.
        assert_eq!(b.record(&spec, ms(2_600), true, ms(1)), None);
        assert_eq!(b.record(&spec, ms(2_700), true, ms(1)), None);
        assert_eq!(
            b.record(&spec, ms(2_800), true, ms(1)),
            Some(BreakerState::Open)
        );
    }

    /// Hystrix: evaluated at 500 ms snapshots over the last 10 s; >= 20 calls and >= 50 %.
    #[test]
    fn hystrix_trips_at_the_snapshot_and_tries_one_call() {
        let spec = BreakerSpec::Hystrix(Hystrix::default());
        let mut b = Breaker::new(&spec);
        // 20 calls between 0 and 380 ms, 10 failed: 50 %.
        for i in 0..20u64 {
            assert!(b.permit(&spec, ms(i * 20)).0);
            assert_eq!(b.record(&spec, ms(i * 20), i % 2 == 0, ms(1)), None);
        }
        // Still closed until the snapshot at 500 ms.
        assert!(b.permit(&spec, ms(499)).0);
        b.record(&spec, ms(499), false, ms(1));
        // At 500 ms: 21 calls, 10 failed = 47 %: stays closed.
        assert_eq!(b.permit(&spec, ms(500)), (true, None));
        b.record(&spec, ms(600), true, ms(1));
        // At 1000 ms: 22 calls, 11 failed = 50 %: opens at 1000 ms exactly.
        assert_eq!(
            b.permit(&spec, ms(1_200)),
            (false, Some(BreakerState::Open))
        );
        assert_eq!(b.state(), BreakerState::Open);
        // Sleep window 5 s from 1000 ms: rejected at 6000, one trial after.
        assert!(!b.permit(&spec, ms(6_000)).0);
        assert_eq!(
            b.permit(&spec, ms(6_001)),
            (true, Some(BreakerState::HalfOpen))
        );
        assert!(!b.permit(&spec, ms(6_002)).0);
        // The trial fails: open again from its end.
        assert_eq!(
            b.record(&spec, ms(6_100), true, ms(99)),
            Some(BreakerState::Open)
        );
        assert!(!b.permit(&spec, ms(11_100)).0);
        assert!(b.permit(&spec, ms(11_101)).0);
        // The next trial succeeds: closed, counts reset.
        assert_eq!(
            b.record(&spec, ms(11_200), false, ms(99)),
            Some(BreakerState::Closed)
        );
        assert_eq!(b.permit(&spec, ms(12_000)), (true, None));
        assert_eq!(b.opened, 2);
    }

    /// Hystrix forgets calls older than its rolling window.
    #[test]
    fn hystrix_window_rolls() {
        let spec = BreakerSpec::Hystrix(Hystrix::default());
        let mut b = Breaker::new(&spec);
        // 19 failures at 0-900 ms, then 1 failure at 10.6 s: the first 19 have left
        // the 10 s window by the 11 s snapshot... but the 10.5 s snapshot sees 19 (< 20).
        for i in 0..19u64 {
            b.record(&spec, ms(i * 50), true, ms(1));
        }
        b.record(&spec, ms(10_600), true, ms(1));
        assert_eq!(b.permit(&spec, ms(11_000)), (true, None));
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
