//! Kubernetes container probes (startup, liveness, readiness), as the kubelet runs them:
//! when each probe is sent, how consecutive results are counted, and what the counts
//! decide (the container is restarted, becomes started, ready or not ready).
//!
//! The mechanism alone: a [`ContainerProbeSpec`] (what the file says) and a
//! [`ContainerProbes`] per container (the kubelet's probe workers for it, which outlive
//! container restarts as they do in the kubelet: one worker per pod, container and
//! kind). Nothing here knows the World: the wiring asks [`ContainerProbes::next_probe`]
//! when to probe, sends the request, calls [`ContainerProbes::probe_sent`], and reports
//! the answer (or the timeout) with [`ContainerProbes::record`], acting on the returned
//! [`ProbeTransition`]. A probe is an HTTP request like any other: a saturated server
//! fails it.
//!
//! # Schedule (deterministic)
//! The kubelet creates a worker when the pod is added (before its container starts);
//! the worker probes once at creation (the container is not running yet, so nothing is
//! sent) and then on a ticker of `periodSeconds` *from its creation*, the `origin`
//! here. A tick sends a probe only if the container is running, has run for at least
//! `initialDelaySeconds`, is not on hold after a restart decision, and is started (for
//! liveness and readiness) or not yet started (for startup). So the first probe of a
//! container comes at the first tick `origin + k x period` (k >= 1) that is at or after
//! `start + initialDelay` and strictly after `start`: within one period after the
//! initial delay. A restarted container keeps the pod's grid, so it is not re-aligned.
//! With `origin` equal to the container start and the defaults, a container whose every
//! probe times out gets liveness probes at 10, 20, 30 s and is restarted when the third
//! times out, at `period x failureThreshold + timeout` = 31 s.
//!
//! Besides ticks, the kubelet runs the readiness probe at once whenever it syncs the pod
//! while the container is started and not ready (`UpdatePodStatus` sends
//! `manualTriggerCh`). Modelled are the syncs that follow the container starting, the
//! startup probe succeeding, and readiness turning to failure: each asks for a readiness
//! probe at that instant (dropped within the initial delay, as `doProbe` returns early).
//! Left out: the kubelet's periodic pod resync (about once a minute), the PLEG relist lag
//! (up to 1 s) before a start is seen, and the random start-up delay a worker takes only
//! when the kubelet itself started less than a period ago.
//!
//! A probe outlasting its period (timeout above the period) delays the next one: Go's
//! ticker keeps one missed tick, so the worker probes again as soon as it is free.
//!
//! # Counting (`worker.doProbe`)
//! Results are counted as a run of identical consecutive results; a run of
//! `failureThreshold` failures (a timeout is a failure) or `successThreshold` successes
//! sets the result. Initial results when a container starts: readiness failure (not
//! ready until a success), liveness success, startup unknown. Liveness or startup
//! failure: restart, and no more probes until the next container. The run count belongs
//! to the worker, so it survives a restart, except that a restart decision zeroes it.
//!
//! Sources (kubernetes/kubernetes, recent `master`):
//! - `pkg/apis/core/v1/defaults.go` `SetDefaults_Probe`: timeoutSeconds 1,
//!   periodSeconds 10, successThreshold 1, failureThreshold 3; initialDelaySeconds has
//!   no default (0).
//! - `pkg/kubelet/prober/worker.go`: `newWorker` (initial values), `run` (probe at once,
//!   then `time.NewTicker(period)`; jitter only right after a kubelet start), `doProbe`
//!   (skip when not running, within `InitialDelaySeconds`, or gated by `Started`; runs of
//!   identical results; `onHold` and `resultRun = 0` after a liveness or startup
//!   failure; a new container ID resets the result and lifts the hold).
//! - `pkg/kubelet/prober/prober_manager.go` `UpdatePodStatus` (started, ready, and the
//!   manual readiness trigger), `isContainerStarted` (no startup probe: started once
//!   running).
//! - `pkg/kubelet/kubelet.go` `syncLoopIteration` (a readiness or startup result change
//!   syncs the pod, which runs `UpdatePodStatus`).
//! - `pkg/probe/http/http.go` `DoHTTPProbe`: success is 200 <= status < 400; any
//!   transport error, the client timeout included, is a failure.

use crate::engine::Nanos;

/// One probe's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSpec {
    /// `initialDelaySeconds`: no probe before the container has run this long.
    pub initial_delay: Nanos,
    /// `periodSeconds`.
    pub period: Nanos,
    /// `timeoutSeconds`: an answer later than this is a failure.
    pub timeout: Nanos,
    /// `successThreshold` (must be 1 for liveness and startup).
    pub success_threshold: u32,
    /// `failureThreshold`.
    pub failure_threshold: u32,
}

impl Default for ProbeSpec {
    fn default() -> Self {
        ProbeSpec {
            initial_delay: Nanos::ZERO,
            period: Nanos::from_secs(10),
            timeout: Nanos::from_secs(1),
            success_threshold: 1,
            failure_threshold: 3,
        }
    }
}

/// A container's probes; any may be absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContainerProbeSpec {
    /// `startupProbe`.
    pub startup: Option<ProbeSpec>,
    /// `livenessProbe`.
    pub liveness: Option<ProbeSpec>,
    /// `readinessProbe`.
    pub readiness: Option<ProbeSpec>,
}

/// The kind of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// Gates the other two until it succeeds; its failure restarts the container.
    Startup,
    /// Its failure restarts the container.
    Liveness,
    /// Decides whether the pod receives traffic.
    Readiness,
}

impl ProbeKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ProbeKind; 3] = [
        ProbeKind::Startup,
        ProbeKind::Liveness,
        ProbeKind::Readiness,
    ];

    fn index(self) -> usize {
        match self {
            ProbeKind::Startup => 0,
            ProbeKind::Liveness => 1,
            ProbeKind::Readiness => 2,
        }
    }

    /// The name used in events.
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Startup => "startup",
            ProbeKind::Liveness => "liveness",
            ProbeKind::Readiness => "readiness",
        }
    }
}

/// How one probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// An answer with 200 <= status < 400 within the timeout.
    Success,
    /// Any other answer, or a refused or reset connection.
    Failure,
    /// No answer within `timeoutSeconds`: a failure.
    Timeout,
}

/// A change the probes decided, for the rest of the world to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeTransition {
    /// The startup probe succeeded: liveness and readiness probing begins; `ready` when
    /// there is no readiness probe (the container is ready at once).
    Started {
        /// Whether the container became ready too.
        ready: bool,
    },
    /// The container became ready: the pod joins the Service's endpoints.
    Ready,
    /// The container is no longer ready: the pod leaves the endpoints.
    NotReady,
    /// A liveness or startup probe reached its failure threshold: kill and restart the
    /// container (with the restart back-off).
    Restart(ProbeKind),
}

/// The kubelet's recorded result for one probe kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProbeResult {
    Unknown,
    Success,
    Failure,
}

/// One probe worker.
#[derive(Debug, Clone, Copy)]
struct Worker {
    spec: ProbeSpec,
    result: ProbeResult,
    /// The last raw result (true for success) and how many times in a row it came.
    last: Option<bool>,
    run: u32,
    /// After a restart decision, until the next container.
    on_hold: bool,
    /// When the probe in flight was sent.
    in_flight: Option<Nanos>,
    /// When the last probe was sent (no second probe on the same tick).
    last_sent: Option<Nanos>,
    /// A tick passed while a probe was in flight: probe as soon as it ends.
    missed_tick: bool,
    /// A manual (readiness) trigger pending since this instant.
    triggered: Option<Nanos>,
}

impl Worker {
    fn new(spec: ProbeSpec) -> Worker {
        Worker {
            spec,
            result: ProbeResult::Unknown,
            last: None,
            run: 0,
            on_hold: false,
            in_flight: None,
            last_sent: None,
            missed_tick: false,
            triggered: None,
        }
    }

    fn period(&self) -> u64 {
        self.spec.period.0.max(1)
    }
}

/// The probes of one container, across its restarts.
#[derive(Debug, Clone)]
pub struct ContainerProbes {
    /// When the workers were created: the origin of every tick grid.
    origin: Nanos,
    /// When the current container started, if it is running.
    running_since: Option<Nanos>,
    /// Whether the current container counts as started (startup probe passed or none).
    started: bool,
    workers: [Option<Worker>; 3],
}

impl ContainerProbes {
    /// Workers created at `origin` (when the pod was added to the node; the first
    /// container starts then or later).
    pub fn new(spec: &ContainerProbeSpec, origin: Nanos) -> ContainerProbes {
        ContainerProbes {
            origin,
            running_since: None,
            started: false,
            workers: [
                spec.startup.map(Worker::new),
                spec.liveness.map(Worker::new),
                spec.readiness.map(Worker::new),
            ],
        }
    }

    /// The settings of a probe kind, if the container has one.
    pub fn spec(&self, kind: ProbeKind) -> Option<&ProbeSpec> {
        self.workers[kind.index()].as_ref().map(|w| &w.spec)
    }

    /// Whether a container is running.
    pub fn is_running(&self) -> bool {
        self.running_since.is_some()
    }

    /// Whether the running container counts as started.
    pub fn is_started(&self) -> bool {
        self.running_since.is_some() && self.started
    }

    /// Whether the container is ready: running, started, and its readiness probe (if
    /// any) last decided success.
    pub fn is_ready(&self) -> bool {
        self.is_started()
            && self.workers[ProbeKind::Readiness.index()]
                .is_none_or(|w| w.result == ProbeResult::Success)
    }

    /// A new container started at `now`. Returns [`ProbeTransition::Ready`] when it is
    /// ready at once (no startup and no readiness probe).
    pub fn container_started(&mut self, now: Nanos) -> Option<ProbeTransition> {
        self.running_since = Some(now);
        for (kind, w) in ProbeKind::ALL.iter().zip(self.workers.iter_mut()) {
            if let Some(w) = w {
                w.result = match kind {
                    ProbeKind::Startup => ProbeResult::Unknown,
                    ProbeKind::Liveness => ProbeResult::Success,
                    ProbeKind::Readiness => ProbeResult::Failure,
                };
                w.on_hold = false;
                w.in_flight = None;
                w.missed_tick = false;
                w.triggered = None;
            }
        }
        self.started = self.workers[ProbeKind::Startup.index()].is_none();
        if !self.started {
            return None;
        }
        self.trigger_readiness(now);
        self.is_ready().then_some(ProbeTransition::Ready)
    }

    /// The container stopped (killed, crashed, OOM-killed). Returns
    /// [`ProbeTransition::NotReady`] if it was ready. A probe in flight is forgotten.
    pub fn container_stopped(&mut self) -> Option<ProbeTransition> {
        let was_ready = self.is_ready();
        self.running_since = None;
        self.started = false;
        for w in self.workers.iter_mut().flatten() {
            w.in_flight = None;
            w.missed_tick = false;
            w.triggered = None;
        }
        if let Some(w) = &mut self.workers[ProbeKind::Readiness.index()] {
            w.result = ProbeResult::Failure;
        }
        was_ready.then_some(ProbeTransition::NotReady)
    }

    /// When the next probe of `kind` is sent, at or after `now`, as things stand; `None`
    /// while it cannot be (no such probe, no running container, on hold, gated, or a
    /// probe in flight). Ask again after every call that changes the state.
    pub fn next_probe(&self, kind: ProbeKind, now: Nanos) -> Option<Nanos> {
        let w = self.workers[kind.index()].as_ref()?;
        let since = self.running_since?;
        if w.on_hold || w.in_flight.is_some() {
            return None;
        }
        let gated = match kind {
            ProbeKind::Startup => self.started,
            ProbeKind::Liveness | ProbeKind::Readiness => !self.started,
        };
        if gated {
            return None;
        }
        if let Some(at) = w.triggered {
            return Some(at.max(now));
        }
        if w.missed_tick {
            return Some(now);
        }
        // The earliest instant a tick may send: the initial delay passed, the start
        // seen (strictly after it), and not the tick of the last probe again.
        let mut earliest = now
            .max(since.saturating_add(w.spec.initial_delay))
            .max(since.saturating_add(Nanos(1)));
        if let Some(sent) = w.last_sent {
            earliest = earliest.max(sent.saturating_add(Nanos(1)));
        }
        Some(self.first_tick_at_or_after(w, earliest))
    }

    /// A probe of `kind` was sent at `now`.
    pub fn probe_sent(&mut self, kind: ProbeKind, now: Nanos) {
        if let Some(w) = &mut self.workers[kind.index()] {
            w.in_flight = Some(now);
            w.last_sent = Some(now);
            w.missed_tick = false;
            w.triggered = None;
        }
    }

    /// The probe of `kind` in flight ended at `now` with `outcome`. Returns what it
    /// decided, if anything. A result with no probe in flight (its container has
    /// stopped since) is ignored.
    pub fn record(
        &mut self,
        kind: ProbeKind,
        now: Nanos,
        outcome: ProbeOutcome,
    ) -> Option<ProbeTransition> {
        let origin = self.origin;
        let w = self.workers[kind.index()].as_mut()?;
        let sent = w.in_flight.take()?;
        // Go's ticker keeps one tick for a receiver that was busy.
        let period = w.period();
        let next_tick_after_sent = if sent.0 < origin.0 {
            origin.0.saturating_add(period)
        } else {
            let k = (sent.0 - origin.0) / period + 1;
            origin.0.saturating_add(k.saturating_mul(period))
        };
        w.missed_tick = next_tick_after_sent < now.0;

        let success = outcome == ProbeOutcome::Success;
        if w.last == Some(success) {
            w.run = w.run.saturating_add(1);
        } else {
            w.last = Some(success);
            w.run = 1;
        }
        let threshold = if success {
            w.spec.success_threshold
        } else {
            w.spec.failure_threshold
        };
        if w.run < threshold.max(1) {
            return None;
        }
        let new = if success {
            ProbeResult::Success
        } else {
            ProbeResult::Failure
        };
        let old = std::mem::replace(&mut w.result, new);
        match kind {
            ProbeKind::Startup | ProbeKind::Liveness if !success => {
                w.on_hold = true;
                w.run = 0;
                Some(ProbeTransition::Restart(kind))
            }
            ProbeKind::Startup if old != ProbeResult::Success => {
                self.started = true;
                self.trigger_readiness(now);
                Some(ProbeTransition::Started {
                    ready: self.is_ready(),
                })
            }
            ProbeKind::Readiness if old != new => {
                if success {
                    Some(ProbeTransition::Ready)
                } else {
                    // The change syncs the pod, which finds it not ready and triggers
                    // another readiness probe at once.
                    self.trigger_readiness(now);
                    Some(ProbeTransition::NotReady)
                }
            }
            _ => None,
        }
    }

    /// The kubelet synced the pod at `now` and found the container started and not
    /// ready: an immediate readiness probe, unless within the initial delay.
    fn trigger_readiness(&mut self, now: Nanos) {
        let Some(since) = self.running_since else {
            return;
        };
        if let Some(w) = &mut self.workers[ProbeKind::Readiness.index()] {
            if w.result != ProbeResult::Success && now >= since.saturating_add(w.spec.initial_delay)
            {
                w.triggered = Some(now);
            }
        }
    }

    /// The first tick `origin + k x period`, k >= 1, at or after `at`.
    fn first_tick_at_or_after(&self, w: &Worker, at: Nanos) -> Nanos {
        let period = w.period();
        let first = self.origin.0.saturating_add(period);
        if at.0 <= first {
            return Nanos(first);
        }
        let k = (at.0 - self.origin.0).div_ceil(period);
        Nanos(self.origin.0.saturating_add(k.saturating_mul(period)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: u64) -> Nanos {
        Nanos::from_secs(v)
    }

    fn ms(v: u64) -> Nanos {
        Nanos::from_millis(v)
    }

    fn only(kind: ProbeKind, spec: ProbeSpec) -> ContainerProbeSpec {
        let mut c = ContainerProbeSpec::default();
        match kind {
            ProbeKind::Startup => c.startup = Some(spec),
            ProbeKind::Liveness => c.liveness = Some(spec),
            ProbeKind::Readiness => c.readiness = Some(spec),
        }
        c
    }

    /// Drive one kind: probe at each next time, every probe timing out, until a
    /// transition. Returns the send times and the transition's time.
    fn run_until_transition(
        p: &mut ContainerProbes,
        kind: ProbeKind,
        from: Nanos,
    ) -> (Vec<Nanos>, Nanos, ProbeTransition) {
        let timeout = p.spec(kind).map(|s| s.timeout).unwrap_or_default();
        let mut now = from;
        let mut sent = vec![];
        for _ in 0..100 {
            let at = p.next_probe(kind, now).expect("a probe is due");
            p.probe_sent(kind, at);
            sent.push(at);
            now = at + timeout;
            if let Some(t) = p.record(kind, now, ProbeOutcome::Timeout) {
                return (sent, now, t);
            }
        }
        panic!("no transition");
    }

    /// Defaults, worker created at the container start: every liveness probe times out;
    /// probes at 10, 20, 30 s, restart when the third times out at 31 s
    /// (period x failureThreshold + timeout). The restarted container (after a 10 s
    /// back-off) keeps the pod's tick grid: probes at 50, 60, 70 s, restart at 71 s.
    #[test]
    fn stuck_container_is_restarted_on_schedule() {
        let mut p = ContainerProbes::new(&only(ProbeKind::Liveness, ProbeSpec::default()), s(0));
        assert_eq!(p.container_started(s(0)), Some(ProbeTransition::Ready));
        let (sent, at, t) = run_until_transition(&mut p, ProbeKind::Liveness, s(0));
        assert_eq!(sent, [s(10), s(20), s(30)]);
        assert_eq!(
            (at, t),
            (s(31), ProbeTransition::Restart(ProbeKind::Liveness))
        );
        // On hold until the next container.
        assert_eq!(p.next_probe(ProbeKind::Liveness, s(31)), None);
        assert_eq!(p.container_stopped(), Some(ProbeTransition::NotReady));
        p.container_started(s(41));
        let (sent, at, _) = run_until_transition(&mut p, ProbeKind::Liveness, s(41));
        assert_eq!(sent, [s(50), s(60), s(70)]);
        assert_eq!(at, s(71));
    }

    /// The initial delay and the worker's origin move the first probe to the first tick
    /// at or after start + delay.
    #[test]
    fn first_probe_is_the_first_tick_after_the_initial_delay() {
        // initialDelaySeconds 15 from a start at 0: ticks 20, 30, 40; restart at 41.
        let spec = ProbeSpec {
            initial_delay: s(15),
            ..Default::default()
        };
        let mut p = ContainerProbes::new(&only(ProbeKind::Liveness, spec), s(0));
        p.container_started(s(0));
        let (sent, at, _) = run_until_transition(&mut p, ProbeKind::Liveness, s(0));
        assert_eq!(sent, [s(20), s(30), s(40)]);
        assert_eq!(at, s(41));
        // Pod added at 0, container started at 3.5 s (image pulled): ticks 10, 20, 30.
        let mut p = ContainerProbes::new(&only(ProbeKind::Liveness, ProbeSpec::default()), s(0));
        p.container_started(ms(3_500));
        let (sent, at, _) = run_until_transition(&mut p, ProbeKind::Liveness, ms(3_500));
        assert_eq!(sent, [s(10), s(20), s(30)]);
        assert_eq!(at, s(31));
        // A start exactly on a tick is not probed on that tick.
        let mut p = ContainerProbes::new(&only(ProbeKind::Liveness, ProbeSpec::default()), s(0));
        p.container_started(s(10));
        assert_eq!(p.next_probe(ProbeKind::Liveness, s(10)), Some(s(20)));
    }

    /// Readiness starts not ready; the sync after the start probes at once (it fails:
    /// the server is still booting); the first success makes it ready; the third
    /// consecutive failure makes it not ready, and the sync that follows probes again
    /// at once.
    #[test]
    fn readiness_flips_at_the_exact_probe_counts() {
        let mut p = ContainerProbes::new(&only(ProbeKind::Readiness, ProbeSpec::default()), s(0));
        assert_eq!(p.container_started(s(0)), None);
        assert!(!p.is_ready());
        let r = ProbeKind::Readiness;
        let step = |p: &mut ContainerProbes, now: Nanos, outcome| {
            let at = p.next_probe(r, now).expect("due");
            p.probe_sent(r, at);
            let end = at + ms(5);
            (at, p.record(r, end, outcome))
        };
        use ProbeOutcome::*;
        assert_eq!(step(&mut p, s(0), Failure), (s(0), None));
        assert_eq!(
            step(&mut p, ms(5), Success),
            (s(10), Some(ProbeTransition::Ready))
        );
        assert!(p.is_ready());
        assert_eq!(step(&mut p, ms(10_005), Failure), (s(20), None));
        assert_eq!(step(&mut p, ms(20_005), Timeout), (s(30), None));
        assert!(p.is_ready());
        assert_eq!(
            step(&mut p, ms(30_005), Failure),
            (s(40), Some(ProbeTransition::NotReady))
        );
        assert!(!p.is_ready());
        // The immediate probe after the flip, at 40.005 s; then back on the grid.
        assert_eq!(step(&mut p, ms(40_005), Failure), (ms(40_005), None));
        assert_eq!(
            step(&mut p, ms(40_010), Success),
            (s(50), Some(ProbeTransition::Ready))
        );
    }

    /// successThreshold 2: two successes in a row to become ready; a failure between
    /// them starts the count again.
    #[test]
    fn readiness_success_threshold() {
        let spec = ProbeSpec {
            success_threshold: 2,
            initial_delay: s(5),
            ..Default::default()
        };
        let mut p = ContainerProbes::new(&only(ProbeKind::Readiness, spec), s(0));
        p.container_started(s(0));
        let r = ProbeKind::Readiness;
        // Within the initial delay the start's trigger is dropped: first probe at 10 s.
        assert_eq!(p.next_probe(r, s(0)), Some(s(10)));
        let outcomes = [
            (s(10), ProbeOutcome::Success, None),
            (s(20), ProbeOutcome::Failure, None),
            (s(30), ProbeOutcome::Success, None),
            (s(40), ProbeOutcome::Success, Some(ProbeTransition::Ready)),
        ];
        for (at, outcome, expect) in outcomes {
            assert_eq!(p.next_probe(r, at - ms(9_000)), Some(at));
            p.probe_sent(r, at);
            assert_eq!(p.record(r, at + ms(1), outcome), expect, "{at}");
        }
    }

    /// A startup probe holds liveness and readiness back; its success starts them (with
    /// an immediate readiness probe); its failure threshold restarts the container.
    #[test]
    fn startup_probe_gates_the_others() {
        let spec = ContainerProbeSpec {
            startup: Some(ProbeSpec::default()),
            liveness: Some(ProbeSpec::default()),
            readiness: Some(ProbeSpec::default()),
        };
        let mut p = ContainerProbes::new(&spec, s(0));
        assert_eq!(p.container_started(s(0)), None);
        assert_eq!(p.next_probe(ProbeKind::Liveness, s(0)), None);
        assert_eq!(p.next_probe(ProbeKind::Readiness, s(0)), None);
        assert_eq!(p.next_probe(ProbeKind::Startup, s(0)), Some(s(10)));
        p.probe_sent(ProbeKind::Startup, s(10));
        assert_eq!(
            p.record(ProbeKind::Startup, ms(10_002), ProbeOutcome::Failure),
            None
        );
        assert_eq!(p.next_probe(ProbeKind::Startup, ms(10_002)), Some(s(20)));
        p.probe_sent(ProbeKind::Startup, s(20));
        assert_eq!(
            p.record(ProbeKind::Startup, ms(20_002), ProbeOutcome::Success),
            Some(ProbeTransition::Started { ready: false })
        );
        assert!(p.is_started() && !p.is_ready());
        assert_eq!(p.next_probe(ProbeKind::Startup, ms(20_002)), None);
        assert_eq!(
            p.next_probe(ProbeKind::Readiness, ms(20_002)),
            Some(ms(20_002))
        );
        assert_eq!(p.next_probe(ProbeKind::Liveness, ms(20_002)), Some(s(30)));

        // A startup probe that never passes: restart at 31 s.
        let mut p = ContainerProbes::new(&spec, s(0));
        p.container_started(s(0));
        let (sent, at, t) = run_until_transition(&mut p, ProbeKind::Startup, s(0));
        assert_eq!(sent, [s(10), s(20), s(30)]);
        assert_eq!(
            (at, t),
            (s(31), ProbeTransition::Restart(ProbeKind::Startup))
        );
        assert!(!p.is_started());
    }

    /// A probe longer than its period (timeout 8 s, period 5 s): the tick missed while
    /// it ran is taken as soon as it ends.
    #[test]
    fn a_slow_probe_delays_the_next() {
        let spec = ProbeSpec {
            period: s(5),
            timeout: s(8),
            ..Default::default()
        };
        let mut p = ContainerProbes::new(&only(ProbeKind::Liveness, spec), s(0));
        p.container_started(s(0));
        let (sent, at, _) = run_until_transition(&mut p, ProbeKind::Liveness, s(0));
        // 5 -> 13 (tick 10 missed) -> 21 (15, 20 missed, one kept) -> times out at 29.
        assert_eq!(sent, [s(5), s(13), s(21)]);
        assert_eq!(at, s(29));
    }

    /// Without probes a container is ready while it runs.
    #[test]
    fn no_probes_ready_while_running() {
        let mut p = ContainerProbes::new(&ContainerProbeSpec::default(), s(0));
        assert!(!p.is_ready());
        assert_eq!(p.container_started(s(1)), Some(ProbeTransition::Ready));
        assert_eq!(p.next_probe(ProbeKind::Liveness, s(1)), None);
        assert_eq!(p.container_stopped(), Some(ProbeTransition::NotReady));
        assert_eq!(p.container_stopped(), None);
    }
}
