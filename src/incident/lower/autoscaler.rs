//! A service's `autoscaler:`: a HorizontalPodAutoscaler (`autoscaling/v2`) with a
//! per-pod metric. Defaults are Kubernetes': `minReplicas` 1, the controller's 15 s sync
//! period and 0.1 tolerance; without `behavior:` the controller's own normalization
//! (scale-up at most to max(2 x current, 4) per sync, the highest recommendation of the
//! last 300 s), with `behavior:` the API server's defaults (see `model::autoscaler`).

use serde_saphyr::Spanned;

use crate::incident::raw::{RawAutoscaler, RawHpaMetric};
use crate::incident::IncidentError;
use crate::model::autoscaler::Behavior;
use crate::model::spec::{AutoscalerSpec, HpaMetric, HpaSpec};

use super::{loc, Ctx};

/// Most replicas an autoscaler may ask for (a bound on what a file can ask for).
pub(super) const MAX_AUTOSCALED_REPLICAS: u32 = super::budgets::MAX_REPLICAS;

/// Lower `autoscaler:` of a service.
pub(super) fn lower(
    ctx: &Ctx,
    raw: &Spanned<RawAutoscaler>,
    has_cpus: bool,
) -> Result<AutoscalerSpec, IncidentError> {
    let a = &raw.value;
    if a.metric == RawHpaMetric::Cpu && !has_cpus {
        return Err(ctx.err(
            loc(raw),
            "metric: cpu needs `cpus:` on the service: CPU utilisation is measured against the CPU limit".into(),
        ));
    }
    let max = a.max_replicas.value.0;
    if max > MAX_AUTOSCALED_REPLICAS {
        return Err(ctx.err(
            loc(&a.max_replicas),
            format!("max_replicas: {max} is more than {MAX_AUTOSCALED_REPLICAS}"),
        ));
    }
    let min = a.min_replicas.as_ref().map_or(1, |m| m.value.0);
    if min > max {
        let at = a.min_replicas.as_ref().map_or(loc(raw), loc);
        return Err(ctx.err(
            at,
            format!("min_replicas {min} is more than max_replicas {max}"),
        ));
    }
    let mut hpa = HpaSpec::new(max, a.target.0);
    hpa.min_replicas = min;
    if let Some(b) = &a.behavior {
        let mut behavior = Behavior::default();
        if let Some(w) = b.scale_up_stabilization {
            behavior.scale_up.stabilization_window = w.0;
        }
        if let Some(w) = b.scale_down_stabilization {
            behavior.scale_down.stabilization_window = w.0;
        }
        hpa.behavior = Some(behavior);
    }
    Ok(AutoscalerSpec {
        hpa,
        metric: match a.metric {
            RawHpaMetric::Inflight => HpaMetric::Inflight,
            RawHpaMetric::RequestsPerSecond => HpaMetric::RequestsPerSecond,
            // `target` is a percentage, as `averageUtilization` is.
            RawHpaMetric::Cpu => HpaMetric::CpuUtilisation,
        },
    })
}
