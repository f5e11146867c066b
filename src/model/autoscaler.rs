//! The Kubernetes Horizontal Pod Autoscaler (`autoscaling/v2`), as the controller decides:
//! the replica count a sync proposes from a per-pod metric, and how stabilization, rate
//! policies and the min/max bounds turn that proposal into the scale it writes.
//!
//! The mechanism alone: an [`HpaSpec`] (what the file says) and an [`Hpa`] per autoscaler
//! (the controller's memory: recommendations and scale events). The wiring calls
//! [`Hpa::sync`] every [`HpaSpec::sync_period`] with the scale target's replica count and
//! one [`PodMetric`] per pod, and applies the returned count. Nothing here knows the World.
//!
//! Only the `Pods` metric type (a per-pod average value, such as in-flight requests or
//! requests per second) is modelled; CPU utilization (`Resource` with a percentage of the
//! request) is not, beyond letting the caller mark pods [`PodMetric::Unready`].
//!
//! # With and without `behavior`
//! The API server fills the `behavior` defaults only when the object has a `behavior`
//! (`SetDefaults_HorizontalPodAutoscalerBehavior` runs `if obj.Spec.Behavior != nil`),
//! and the controller picks its normalization from that: `reconcileAutoscaler` calls
//! `normalizeDesiredReplicas` when `Spec.Behavior == nil`, else
//! `normalizeDesiredReplicasWithBehaviors`. So an `autoscaling/v2` HPA written without
//! `behavior` runs the legacy path, and [`HpaSpec::new`] leaves `behavior` at `None`:
//! - legacy (`None`): the result is the *highest* recommendation of the last 300 s
//!   (the current one included, both directions, window inclusive at its old end), then
//!   clamped to `[minReplicas, min(maxReplicas, max(2 x current, 4))]` per sync;
//! - with behavior ([`Behavior::default`] is what the API server fills in): scale-up
//!   window 0, policies 4 pods and 100 % per 15 s, `selectPolicy: Max`; scale-down
//!   window 300 s (the controller flag, `maybeInitScaleDownStabilizationWindow`), one
//!   policy 100 % per 15 s. The result is the current count moved toward the proposal
//!   only as far as the lowest recent recommendation (up) or highest (down), windows
//!   exclusive at their old end, then limited by the policies over each policy's period.
//!
//! The two differ in small ways the tests pin: from 1 replica the legacy cap is 4 and
//! the behavior cap 5; the legacy path scales down one sync later (at 315 s, not 300 s),
//! and its up-scaling can overshoot to an older, higher recommendation.
//!
//! # Which pods count (`groupPods`, `calcPlainMetricReplicas`)
//! The caller passes one [`PodMetric`] per pod the selector matches, leaving out pods
//! being deleted and Failed pods (the controller ignores them):
//! - a Running pod with a sample is counted, *ready or not*: for a `Pods` metric only
//!   the CPU resource excludes unready pods ([`PodMetric::Value`]);
//! - a Running pod without a sample is *missing* ([`PodMetric::Missing`]): on a
//!   scale-down it is assumed at the target, on a scale-up at 0;
//! - a Pending pod (and, for CPU only, a pod the readiness rules exclude) is *unready*
//!   ([`PodMetric::Unready`]): left out, except that on a scale-up it is counted at 0.
//!   Newer controllers file Pending pods here; older ones (and the research notes)
//!   ignored them outright.
//!
//! When missing or unready pods are added back, a result that flips direction, or
//! lands within tolerance, keeps the current count.
//!
//! Sources (kubernetes/kubernetes, recent `master`):
//! - `pkg/controller/podautoscaler/horizontal.go`: `reconcileAutoscaler` (current =
//!   `scale.Spec.Replicas`; a first sync records the current count as a recommendation;
//!   0 replicas with `minReplicas > 0` disables scaling; above max or below min goes
//!   straight to the bound without metrics), `stabilizeRecommendation`,
//!   `normalizeDesiredReplicas`, `convertDesiredReplicasWithRules`,
//!   `calculateScaleUpLimit` (`scaleUpLimitFactor = 2`, `scaleUpLimitMinimum = 4`),
//!   `stabilizeRecommendationWithBehaviors`, `convertDesiredReplicasWithBehaviorRate`,
//!   `calculateScaleUpLimitWithScalingRules` / `calculateScaleDownLimitWithBehaviors`
//!   (period start = current - added + deleted in the period; Percent up is
//!   `ceil(start x (1 + v/100))`, down truncates `start x (1 - v/100)`),
//!   `getReplicasChangePerPeriod` (events strictly after `now - period`),
//!   `storeScaleEvent` (only when `behavior` is set).
//! - `pkg/controller/podautoscaler/replica_calculator.go`: `Tolerances.isWithin`
//!   (`1 - down <= ratio <= 1 + up`), `calcPlainMetricReplicas`, `groupPods`.
//! - `pkg/controller/podautoscaler/metrics/utilization.go`: `GetMetricUsageRatio`
//!   (milli-unit values, integer average).
//! - `pkg/apis/autoscaling/v2/defaults.go`: `minReplicas` 1, the behavior defaults,
//!   `copyHPAScalingRules` (per-direction `tolerance`, KEP-4951, beta in 1.35).
//! - `pkg/controller/podautoscaler/config/v1alpha1/defaults.go`: sync period 15 s,
//!   tolerance 0.1, downscale stabilization 300 s.
//!   The API reference's "4 pods per 60 seconds" text is stale: the code says 15 s.

use crate::engine::Nanos;

/// How a scaling policy bounds a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// `type: Pods`: at most `value` pods per period.
    Pods,
    /// `type: Percent`: at most `value` % of the count at the start of the period.
    Percent,
}

/// One `HPAScalingPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalingPolicy {
    /// `type`.
    pub kind: PolicyKind,
    /// `value`: pods, or percent.
    pub value: u32,
    /// `periodSeconds`: the look-back over which past scale events count.
    pub period: Nanos,
}

/// `selectPolicy`: which of several policies wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectPolicy {
    /// The policy allowing the largest change (the default).
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// One direction's `HPAScalingRules`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingRules {
    /// `stabilizationWindowSeconds`.
    pub stabilization_window: Nanos,
    /// `selectPolicy`.
    pub select_policy: SelectPolicy,
    /// `policies`.
    pub policies: Vec<ScalingPolicy>,
    /// `tolerance` (KEP-4951); `None` uses the controller's [`HpaSpec::tolerance`].
    pub tolerance: Option<f64>,
}

impl ScalingRules {
    /// `defaultHPAScaleUpRules`: no stabilization; the larger of +4 pods and +100 %
    /// per 15 s.
    pub fn default_scale_up() -> ScalingRules {
        ScalingRules {
            stabilization_window: Nanos::ZERO,
            select_policy: SelectPolicy::Max,
            policies: vec![
                ScalingPolicy {
                    kind: PolicyKind::Pods,
                    value: 4,
                    period: Nanos::from_secs(15),
                },
                ScalingPolicy {
                    kind: PolicyKind::Percent,
                    value: 100,
                    period: Nanos::from_secs(15),
                },
            ],
            tolerance: None,
        }
    }

    /// `defaultHPAScaleDownRules`: 100 % per 15 s; the window left unset by the API
    /// server becomes the controller's 300 s.
    pub fn default_scale_down() -> ScalingRules {
        ScalingRules {
            stabilization_window: Nanos::from_secs(300),
            select_policy: SelectPolicy::Max,
            policies: vec![ScalingPolicy {
                kind: PolicyKind::Percent,
                value: 100,
                period: Nanos::from_secs(15),
            }],
            tolerance: None,
        }
    }

    fn longest_period(&self) -> Nanos {
        self.policies
            .iter()
            .map(|p| p.period)
            .max()
            .unwrap_or(Nanos::ZERO)
    }
}

/// `spec.behavior`, with every field filled as the API server fills a partial one.
#[derive(Debug, Clone, PartialEq)]
pub struct Behavior {
    /// `scaleUp`.
    pub scale_up: ScalingRules,
    /// `scaleDown`.
    pub scale_down: ScalingRules,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            scale_up: ScalingRules::default_scale_up(),
            scale_down: ScalingRules::default_scale_down(),
        }
    }
}

/// One HorizontalPodAutoscaler with a `Pods` metric and an `AverageValue` target, and
/// the controller settings that apply to it.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaSpec {
    /// `minReplicas` (default 1).
    pub min_replicas: u32,
    /// `maxReplicas` (required).
    pub max_replicas: u32,
    /// `target.averageValue`, in the metric's unit (positive).
    pub target_average_value: f64,
    /// `--horizontal-pod-autoscaler-sync-period` (15 s): how often the wiring syncs.
    pub sync_period: Nanos,
    /// `--horizontal-pod-autoscaler-tolerance` (0.1).
    pub tolerance: f64,
    /// `--horizontal-pod-autoscaler-downscale-stabilization` (300 s): the legacy
    /// path's window.
    pub downscale_stabilization_window: Nanos,
    /// `spec.behavior`; `None` when the object has none (the legacy path).
    pub behavior: Option<Behavior>,
}

impl HpaSpec {
    /// An HPA as written with only `maxReplicas` and a target: every other field at its
    /// default, and no `behavior` (see the module documentation).
    pub fn new(max_replicas: u32, target_average_value: f64) -> HpaSpec {
        HpaSpec {
            min_replicas: 1,
            max_replicas,
            target_average_value,
            sync_period: Nanos::from_secs(15),
            tolerance: 0.1,
            downscale_stabilization_window: Nanos::from_secs(300),
            behavior: None,
        }
    }

    /// The same HPA with `behavior: {}`, which the API server fills with its defaults.
    pub fn with_default_behavior(mut self) -> HpaSpec {
        self.behavior = Some(Behavior::default());
        self
    }

    /// (scale-down, scale-up) tolerances.
    fn tolerances(&self) -> (f64, f64) {
        match &self.behavior {
            None => (self.tolerance, self.tolerance),
            Some(b) => (
                b.scale_down.tolerance.unwrap_or(self.tolerance),
                b.scale_up.tolerance.unwrap_or(self.tolerance),
            ),
        }
    }
}

/// What the controller knows of one pod's metric at a sync.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PodMetric {
    /// A Running pod with a sample, in the metric's unit (ready or not).
    Value(f64),
    /// A Running pod the metrics pipeline has no sample for.
    Missing,
    /// A Pending pod (or, for CPU only, one excluded by the readiness rules).
    Unready,
}

/// The replica calculator's answer for one sync, before normalization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proposal {
    /// The proposed replica count.
    pub replicas: u32,
    /// Current average over the counted pods divided by the target (first pass, as the
    /// HPA status reports it).
    pub usage_ratio: f64,
    /// That average, in the metric's unit (after milli-unit truncation).
    pub average: f64,
}

/// A sync's decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HpaDecision {
    /// The replica count to set (equal to the current one when nothing changes).
    pub desired: u32,
    /// The metric's proposal, when metrics were consulted and usable.
    pub proposal: Option<Proposal>,
}

/// Kubernetes carries metric values as milli-unit integers (`Quantity.MilliValue`).
fn milli(v: f64) -> i64 {
    // `as` saturates and maps NaN to 0.
    (v * 1000.0).round() as i64
}

/// `ceil(ratio x count)` as a replica count, saturating.
fn ceil_replicas(ratio: f64, count: i64) -> u32 {
    (ratio * count as f64).ceil() as u32
}

/// The replica calculator for a `Pods` metric (`calcPlainMetricReplicas`): `None` when
/// no pod has a usable sample (the controller then leaves the scale alone).
pub fn replica_proposal(spec: &HpaSpec, current: u32, pods: &[PodMetric]) -> Option<Proposal> {
    let target = milli(spec.target_average_value).max(1);
    let (down_tol, up_tol) = spec.tolerances();
    let within = |r: f64| (1.0 - down_tol) <= r && r <= (1.0 + up_tol);
    let (mut sum, mut counted, mut missing, mut unready) = (0i64, 0i64, 0i64, 0i64);
    for pod in pods {
        match *pod {
            PodMetric::Value(v) => {
                sum = sum.saturating_add(milli(v));
                counted += 1;
            }
            PodMetric::Missing => missing += 1,
            PodMetric::Unready => unready += 1,
        }
    }
    if counted == 0 {
        return None;
    }
    // Integer average of milli-units, as `GetMetricUsageRatio`.
    let average = sum / counted;
    let ratio = average as f64 / target as f64;
    let proposal = |replicas| Proposal {
        replicas,
        usage_ratio: ratio,
        average: average as f64 / 1000.0,
    };
    let scale_up_with_unready = unready > 0 && ratio > 1.0;
    if !scale_up_with_unready && missing == 0 {
        if within(ratio) {
            return Some(proposal(current));
        }
        return Some(proposal(ceil_replicas(ratio, counted)));
    }
    // Add back missing pods (at the target on a scale-down, 0 on a scale-up) and, on a
    // scale-up, unready pods at 0.
    if missing > 0 {
        if ratio < 1.0 {
            sum = sum.saturating_add(target.saturating_mul(missing));
            counted += missing;
        } else if ratio > 1.0 {
            counted += missing;
        }
    }
    if scale_up_with_unready {
        counted += unready;
    }
    let new_ratio = (sum / counted) as f64 / target as f64;
    if within(new_ratio) || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0) {
        return Some(proposal(current));
    }
    let replicas = ceil_replicas(new_ratio, counted);
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Some(proposal(current));
    }
    Some(proposal(replicas))
}

/// A replica count with the instant it was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamped {
    at: Nanos,
    replicas: u32,
}

/// Whether `at` lies in the window of length `window` ending at `now`: strictly after
/// `now - window` (`After(cutoff)`), or not before it (`!Before(cutoff)`). Times before
/// the start of the run do not exist, so a window longer than `now` holds everything.
fn in_window(at: Nanos, now: Nanos, window: Nanos, inclusive: bool) -> bool {
    let end = at.saturating_add(window);
    if inclusive {
        end >= now
    } else {
        end > now
    }
}

/// The controller's memory of one HPA.
#[derive(Debug, Clone, Default)]
pub struct Hpa {
    initialized: bool,
    /// Unstabilized recommendations, oldest first.
    recommendations: Vec<Stamped>,
    /// Pods added by each scale-up and removed by each scale-down (behavior only).
    scale_up_events: Vec<Stamped>,
    scale_down_events: Vec<Stamped>,
    /// Times the decision changed the replica count, over the run.
    pub rescales: u64,
}

impl Hpa {
    /// An HPA the controller has not synced yet.
    pub fn new() -> Hpa {
        Hpa::default()
    }

    /// One sync at `now`: `current` is the target's `spec.replicas` (not its ready
    /// count), `pods` one entry per pod the selector matches (see the module
    /// documentation for which to pass).
    pub fn sync(
        &mut self,
        spec: &HpaSpec,
        now: Nanos,
        current: u32,
        pods: &[PodMetric],
    ) -> HpaDecision {
        if !self.initialized {
            // recordInitialRecommendation: a new HPA cannot scale down within its first
            // stabilization window.
            self.recommendations.push(Stamped {
                at: now,
                replicas: current,
            });
            self.initialized = true;
        }
        let (min, max) = (spec.min_replicas, spec.max_replicas);
        let (desired, proposal) = if current == 0 && min != 0 {
            // Scaling disabled: someone scaled the target to zero.
            return HpaDecision {
                desired: current,
                proposal: None,
            };
        } else if current > max {
            (max, None)
        } else if current < min {
            (min, None)
        } else {
            let Some(p) = replica_proposal(spec, current, pods) else {
                return HpaDecision {
                    desired: current,
                    proposal: None,
                };
            };
            let desired = match &spec.behavior {
                None => self.normalize_legacy(spec, now, current, p.replicas),
                Some(b) => self.normalize_with_behavior(spec, b, now, current, p.replicas),
            };
            (desired, Some(p))
        };
        if desired != current {
            self.rescales += 1;
            if let Some(b) = &spec.behavior {
                self.store_scale_event(b, now, current, desired);
            }
        }
        HpaDecision { desired, proposal }
    }

    /// `normalizeDesiredReplicas`: the highest recommendation of the window, then the
    /// bounds and the per-sync scale-up cap.
    fn normalize_legacy(&mut self, spec: &HpaSpec, now: Nanos, current: u32, desired: u32) -> u32 {
        let window = spec.downscale_stabilization_window;
        self.recommendations
            .retain(|r| in_window(r.at, now, window, true));
        let stabilized = self
            .recommendations
            .iter()
            .map(|r| r.replicas)
            .fold(desired, u32::max);
        self.recommendations.push(Stamped {
            at: now,
            replicas: desired,
        });
        let scale_up_limit = current.saturating_mul(2).max(4);
        let max_allowed = spec.max_replicas.min(scale_up_limit);
        if stabilized < spec.min_replicas {
            spec.min_replicas
        } else if stabilized > max_allowed {
            max_allowed
        } else {
            stabilized
        }
    }

    /// `normalizeDesiredReplicasWithBehaviors`: stabilize, then rate-limit.
    fn normalize_with_behavior(
        &mut self,
        spec: &HpaSpec,
        b: &Behavior,
        now: Nanos,
        current: u32,
        desired: u32,
    ) -> u32 {
        let (up_w, down_w) = (
            b.scale_up.stabilization_window,
            b.scale_down.stabilization_window,
        );
        let (mut up_rec, mut down_rec) = (desired, desired);
        for r in &self.recommendations {
            if in_window(r.at, now, up_w, false) {
                up_rec = up_rec.min(r.replicas);
            }
            if in_window(r.at, now, down_w, false) {
                down_rec = down_rec.max(r.replicas);
            }
        }
        // Move from the current count only as far as every recent recommendation agrees.
        let stabilized = current.max(up_rec).min(down_rec);
        let longest = up_w.max(down_w);
        self.recommendations
            .retain(|r| in_window(r.at, now, longest, false));
        self.recommendations.push(Stamped {
            at: now,
            replicas: desired,
        });

        let current_i = i64::from(current);
        if stabilized > current {
            let limit = self
                .scale_up_limit(&b.scale_up, now, current_i)
                .max(current_i);
            let max_allowed = i64::from(spec.max_replicas).min(limit);
            if i64::from(stabilized) > max_allowed {
                return max_allowed as u32;
            }
        } else if stabilized < current {
            let limit = self
                .scale_down_limit(&b.scale_down, now, current_i)
                .min(current_i);
            let min_allowed = i64::from(spec.min_replicas).max(limit);
            if i64::from(stabilized) < min_allowed {
                return min_allowed as u32;
            }
        }
        stabilized
    }

    /// Replicas at the start of a policy's period: current minus what was added plus
    /// what was removed within it.
    fn period_start(&self, now: Nanos, period: Nanos, current: i64) -> i64 {
        let sum = |events: &[Stamped]| -> i64 {
            events
                .iter()
                .filter(|e| in_window(e.at, now, period, false))
                .map(|e| i64::from(e.replicas))
                .sum()
        };
        current - sum(&self.scale_up_events) + sum(&self.scale_down_events)
    }

    /// `calculateScaleUpLimitWithScalingRules`.
    fn scale_up_limit(&self, rules: &ScalingRules, now: Nanos, current: i64) -> i64 {
        let (mut result, pick): (i64, fn(i64, i64) -> i64) = match rules.select_policy {
            SelectPolicy::Disabled => return current,
            SelectPolicy::Min => (i64::MAX, i64::min),
            SelectPolicy::Max => (i64::MIN, i64::max),
        };
        for p in &rules.policies {
            let start = self.period_start(now, p.period, current);
            let proposed = match p.kind {
                PolicyKind::Pods => start + i64::from(p.value),
                // Rounded up so that a small percentage can still add a pod.
                PolicyKind::Percent => {
                    (start as f64 * (1.0 + f64::from(p.value) / 100.0)).ceil() as i64
                }
            };
            result = pick(result, proposed);
        }
        result
    }

    /// `calculateScaleDownLimitWithBehaviors`.
    fn scale_down_limit(&self, rules: &ScalingRules, now: Nanos, current: i64) -> i64 {
        let (mut result, pick): (i64, fn(i64, i64) -> i64) = match rules.select_policy {
            SelectPolicy::Disabled => return current,
            SelectPolicy::Min => (i64::MIN, i64::max),
            SelectPolicy::Max => (i64::MAX, i64::min),
        };
        for p in &rules.policies {
            let start = self.period_start(now, p.period, current);
            let proposed = match p.kind {
                PolicyKind::Pods => start - i64::from(p.value),
                // Go's int32(float64) truncates.
                PolicyKind::Percent => (start as f64 * (1.0 - f64::from(p.value) / 100.0)) as i64,
            };
            result = pick(result, proposed);
        }
        result
    }

    /// `storeScaleEvent`. Kubernetes keeps events for the longest policy period of
    /// their own direction and reuses outdated slots one at a time; events are kept
    /// here for the longest period of either direction, since both directions' limits
    /// read both lists.
    fn store_scale_event(&mut self, b: &Behavior, now: Nanos, from: u32, to: u32) {
        let keep = b
            .scale_up
            .longest_period()
            .max(b.scale_down.longest_period());
        for events in [&mut self.scale_up_events, &mut self.scale_down_events] {
            events.retain(|e| in_window(e.at, now, keep, false));
        }
        let (events, change) = if to > from {
            (&mut self.scale_up_events, to - from)
        } else {
            (&mut self.scale_down_events, from - to)
        };
        events.push(Stamped {
            at: now,
            replicas: change,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: u64) -> Nanos {
        Nanos::from_secs(v)
    }

    fn pods(n: usize, value: f64) -> Vec<PodMetric> {
        vec![PodMetric::Value(value); n]
    }

    /// Target 100 on 4 pods: a ratio of exactly 1.1 or 0.9 keeps the count (the
    /// tolerance is inclusive); just beyond, ceil(ratio x 4).
    #[test]
    fn tolerance_boundary_is_inclusive() {
        let spec = HpaSpec::new(20, 100.0);
        let proposal = |avg: f64| replica_proposal(&spec, 4, &pods(4, avg)).map(|p| p.replicas);
        assert_eq!(proposal(110.0), Some(4));
        // 1.11 x 4 = 4.44 -> 5.
        assert_eq!(proposal(111.0), Some(5));
        assert_eq!(proposal(90.0), Some(4));
        // 0.89 x 4 = 3.56 -> 4: outside the tolerance, yet no change.
        assert_eq!(proposal(89.0), Some(4));
        // 0.74 x 4 = 2.96 -> 3.
        assert_eq!(proposal(74.0), Some(3));
        // The average is an integer division of milli-units: 300.001 / 3 = 100.000 (the
        // last milli dropped), ratio exactly 1.
        let p = replica_proposal(
            &spec,
            3,
            &[
                PodMetric::Value(100.0),
                PodMetric::Value(100.0),
                PodMetric::Value(100.001),
            ],
        );
        assert_eq!(p.map(|p| (p.replicas, p.usage_ratio)), Some((3, 1.0)));
        // A per-direction tolerance of 0 on the way up (KEP-4951): 105 scales 4 -> 5.
        let mut strict = spec.clone().with_default_behavior();
        if let Some(b) = &mut strict.behavior {
            b.scale_up.tolerance = Some(0.0);
        }
        assert_eq!(
            replica_proposal(&strict, 4, &pods(4, 105.0)).map(|p| p.replicas),
            Some(5)
        );
        // No usable sample: no proposal.
        assert_eq!(replica_proposal(&spec, 2, &[PodMetric::Missing; 2]), None);
        assert_eq!(replica_proposal(&spec, 2, &[]), None);
    }

    /// Pending pods count 0 on a scale-up; missing pods count at the target on a
    /// scale-down.
    #[test]
    fn pending_and_missing_pods() {
        let spec = HpaSpec::new(20, 100.0);
        // 2 running at 150 and 2 pending: 300 / 4 = 75 < 100 flips the direction: keep 4.
        let p = replica_proposal(
            &spec,
            4,
            &[
                PodMetric::Value(150.0),
                PodMetric::Value(150.0),
                PodMetric::Unready,
                PodMetric::Unready,
            ],
        );
        assert_eq!(p.map(|p| (p.replicas, p.usage_ratio)), Some((4, 1.5)));
        // 3 at 200 and 1 pending: 600 / 4 = 150, ceil(1.5 x 4) = 6.
        let mut three = pods(3, 200.0);
        three.push(PodMetric::Unready);
        assert_eq!(
            replica_proposal(&spec, 4, &three).map(|p| p.replicas),
            Some(6)
        );
        // 3 at 50 and 1 missing: (150 + 100) / 4 = 62.5, ceil(0.625 x 4) = 3 (not
        // ceil(0.5 x 3) = 2).
        let mut missing = pods(3, 50.0);
        missing.push(PodMetric::Missing);
        assert_eq!(
            replica_proposal(&spec, 4, &missing).map(|p| p.replicas),
            Some(3)
        );
        // An unready pod does not hold back a scale-down: ceil(0.5 x 3) = 2.
        let mut down = pods(3, 50.0);
        down.push(PodMetric::Unready);
        assert_eq!(
            replica_proposal(&spec, 4, &down).map(|p| p.replicas),
            Some(2)
        );
    }

    /// With the behavior defaults, halving the load on 4 pods proposes 2 from t = 15 s,
    /// but the 300 s window holds 4 (the t = 0 recommendations) until t = 300 s, when
    /// the 100 %-per-15 s policy lets it drop at once. Then 2 is held until t = 600 s.
    #[test]
    fn scale_down_waits_for_the_stabilization_window() {
        let spec = HpaSpec::new(10, 100.0).with_default_behavior();
        let mut hpa = Hpa::new();
        let mut current = 4;
        let d = hpa.sync(&spec, s(0), current, &pods(4, 100.0));
        assert_eq!(d.desired, 4);
        for t in (15..300).step_by(15) {
            let d = hpa.sync(&spec, s(t), current, &pods(4, 50.0));
            assert_eq!(d.proposal.map(|p| p.replicas), Some(2), "t={t}");
            assert_eq!(d.desired, 4, "t={t}");
        }
        current = hpa.sync(&spec, s(300), current, &pods(4, 50.0)).desired;
        assert_eq!(current, 2);
        for t in (315..600).step_by(15) {
            let d = hpa.sync(&spec, s(t), current, &pods(2, 50.0));
            assert_eq!(d.proposal.map(|p| p.replicas), Some(1), "t={t}");
            assert_eq!(d.desired, 2, "t={t}");
        }
        assert_eq!(hpa.sync(&spec, s(600), current, &pods(2, 50.0)).desired, 1);
        assert_eq!(hpa.rescales, 2);
    }

    /// Without behavior the same series scales down one sync later (the window keeps
    /// a recommendation exactly 300 s old), and scale-up is capped at max(2 x, 4) per
    /// sync: 1 -> 4 -> 8 -> 16.
    #[test]
    fn legacy_path_boundary_and_scale_up_cap() {
        let spec = HpaSpec::new(100, 100.0);
        let mut hpa = Hpa::new();
        let current = 4;
        hpa.sync(&spec, s(0), current, &pods(4, 100.0));
        for t in (15..=300).step_by(15) {
            assert_eq!(
                hpa.sync(&spec, s(t), current, &pods(4, 50.0)).desired,
                4,
                "t={t}"
            );
        }
        assert_eq!(hpa.sync(&spec, s(315), current, &pods(4, 50.0)).desired, 2);

        let mut hpa = Hpa::new();
        let mut current = 1;
        let mut seen = vec![];
        for k in 0..3 {
            // Ten times the target: ceil(10 x n).
            current = hpa
                .sync(&spec, s(15 * k), current, &pods(current as usize, 1000.0))
                .desired;
            seen.push(current);
        }
        assert_eq!(seen, [4, 8, 16]);

        // Up-scaling takes the highest recent recommendation, even above the proposal.
        let mut hpa = Hpa::new();
        // 4 pods at 250: proposal 10, cap max(8, 4) = 8.
        assert_eq!(hpa.sync(&spec, s(0), 4, &pods(4, 250.0)).desired, 8);
        // 8 pods at 110 (within tolerance): proposal 8, but 10 is in the window.
        assert_eq!(hpa.sync(&spec, s(15), 8, &pods(8, 110.0)).desired, 10);
    }

    /// The default behavior allows max(+4, +100 %) per 15 s: 1 -> 5 -> 10 -> 20 -> 40
    /// -> 80 -> 100 (maxReplicas). A sync within 15 s of a scale-up counts it.
    #[test]
    fn scale_up_is_limited_per_period_and_clamped() {
        let spec = HpaSpec::new(100, 100.0).with_default_behavior();
        let mut hpa = Hpa::new();
        let mut current = 1;
        // Ratio 10: proposal 10; limit max(1 + 4, ceil(1 x 2)) = 5.
        current = hpa.sync(&spec, s(0), current, &pods(1, 1000.0)).desired;
        assert_eq!(current, 5);
        // At 5 s the +4 is inside the 15 s period: start 5 - 4 = 1, limit 5: no change.
        let d = hpa.sync(&spec, s(5), current, &pods(5, 1000.0));
        assert_eq!((d.proposal.map(|p| p.replicas), d.desired), (Some(50), 5));
        let mut seen = vec![];
        for t in [15, 30, 45, 60, 75, 90] {
            current = hpa
                .sync(&spec, s(t), current, &pods(current as usize, 1000.0))
                .desired;
            seen.push(current);
        }
        // At 15 s the event at 0 s is exactly one period old: no longer counted.
        assert_eq!(seen, [10, 20, 40, 80, 100, 100]);
    }

    /// A custom scale-down policy of 1 pod per 60 s, no window: each step waits for the
    /// previous one to leave the period.
    #[test]
    fn scale_down_policy_counts_events_in_its_period() {
        let mut spec = HpaSpec::new(10, 100.0);
        spec.behavior = Some(Behavior {
            scale_up: ScalingRules::default_scale_up(),
            scale_down: ScalingRules {
                stabilization_window: Nanos::ZERO,
                select_policy: SelectPolicy::Max,
                policies: vec![ScalingPolicy {
                    kind: PolicyKind::Pods,
                    value: 1,
                    period: s(60),
                }],
                tolerance: None,
            },
        });
        let mut hpa = Hpa::new();
        let mut current = 10;
        let mut seen = vec![];
        for t in (0..=120).step_by(15) {
            current = hpa
                .sync(&spec, s(t), current, &pods(current as usize, 10.0))
                .desired;
            seen.push(current);
        }
        // 0 s: 10 -> 9; 15-45 s: start 9 + 1 = 10, limit 9; 60 s: the event left.
        assert_eq!(seen, [9, 9, 9, 9, 8, 8, 8, 8, 7]);
    }

    /// The bounds: above max or below min goes straight there without metrics; zero
    /// replicas disables scaling; no usable metric leaves the count alone.
    #[test]
    fn bounds_and_disabled() {
        let mut spec = HpaSpec::new(6, 100.0);
        spec.min_replicas = 2;
        let mut hpa = Hpa::new();
        assert_eq!(hpa.sync(&spec, s(0), 9, &[]).desired, 6);
        assert_eq!(hpa.sync(&spec, s(15), 1, &[]).desired, 2);
        assert_eq!(hpa.sync(&spec, s(30), 0, &[]).desired, 0);
        let d = hpa.sync(&spec, s(45), 3, &[PodMetric::Missing; 3]);
        assert_eq!((d.desired, d.proposal), (3, None));
        // A proposal of 0 is clamped to minReplicas: 4 -> 2 once the window allows.
        let mut hpa = Hpa::new();
        let spec = spec.with_default_behavior();
        hpa.sync(&spec, s(0), 4, &pods(4, 100.0));
        assert_eq!(hpa.sync(&spec, s(15), 4, &pods(4, 0.0)).desired, 4);
        assert_eq!(hpa.sync(&spec, s(300), 4, &pods(4, 0.0)).desired, 2);
    }
}
