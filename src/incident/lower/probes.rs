//! A service's Kubernetes probes (`probes:`): each probe's settings with Kubernetes'
//! defaults (`SetDefaults_Probe` in `pkg/apis/core/v1/defaults.go`: periodSeconds 10,
//! timeoutSeconds 1, successThreshold 1, failureThreshold 3, initialDelaySeconds 0),
//! and the health endpoint the probes call.

use crate::engine::Nanos;
use crate::incident::raw::{RawProbe, RawProbes, RawStep};
use crate::incident::IncidentError;
use crate::model::dist::Latency;
use crate::model::spec::{ContainerProbeSpec, ProbeSpec, Step};

use super::handlers;
use super::{loc, Ctx};

/// What a health endpoint does when the file does not say: answers after 1 ms of work
/// (assumed: a handler that checks nothing but that the process serves requests).
const DEFAULT_HEALTH_WORK: Nanos = Nanos::from_millis(1);

/// Lower `probes:` of service `service`; `pool_names` are its pools (a deep health
/// check may query one).
pub(super) fn lower(
    ctx: &Ctx,
    service: &str,
    raw: Option<&RawProbes>,
    pool_names: &[String],
    service_names: &[String],
) -> Result<(ContainerProbeSpec, Vec<Step>), IncidentError> {
    let default_steps = vec![Step::Work(Latency::Constant(DEFAULT_HEALTH_WORK))];
    let Some(p) = raw else {
        return Ok((ContainerProbeSpec::default(), default_steps));
    };
    let spec = ContainerProbeSpec {
        startup: p
            .startup
            .as_ref()
            .map(|s| probe(ctx, s, true))
            .transpose()?,
        liveness: p
            .liveness
            .as_ref()
            .map(|s| probe(ctx, s, true))
            .transpose()?,
        readiness: p
            .readiness
            .as_ref()
            .map(|s| probe(ctx, s, false))
            .transpose()?,
    };
    let steps = match &p.handler {
        None => default_steps,
        Some(h) => {
            if let Some(RawStep::Call(c)) =
                h.steps.value.iter().find(|s| matches!(s, RawStep::Call(_)))
            {
                return Err(ctx.err(
                    loc(&c.service),
                    format!("a health endpoint of `{service}` cannot call another service here: give it `work` and `query` steps"),
                ));
            }
            if let Some(RawStep::Cached(c)) = h
                .steps
                .value
                .iter()
                .find(|s| matches!(s, RawStep::Cached(_)))
            {
                return Err(ctx.err(
                    loc(&c.cache),
                    format!("a health endpoint of `{service}` cannot look up a cache here: give it `work` and `query` steps"),
                ));
            }
            let names = handlers::Names {
                pools: pool_names,
                services: service_names,
                routes: &[],
                caches: &[],
            };
            let mut steps = Vec::new();
            handlers::lower_steps(ctx, service, &h.steps, &names, &mut steps)?;
            steps
        }
    };
    Ok((spec, steps))
}

fn probe(ctx: &Ctx, p: &RawProbe, restarts: bool) -> Result<ProbeSpec, IncidentError> {
    let success_threshold = match &p.success_threshold {
        None => 1,
        Some(s) if restarts && s.value.0 != 1 => {
            return Err(ctx.err(
                loc(s),
                format!(
                    "success_threshold must be 1 for a liveness or startup probe (Kubernetes refuses {})",
                    s.value.0
                ),
            ))
        }
        Some(s) => s.value.0,
    };
    Ok(ProbeSpec {
        initial_delay: p.initial_delay.map_or(Nanos::ZERO, |d| d.0),
        period: p.period.map_or(Nanos::from_secs(10), |d| d.0),
        timeout: p.timeout.map_or(Nanos::from_secs(1), |d| d.0),
        success_threshold,
        failure_threshold: p.failure_threshold.map_or(3, |c| c.0),
    })
}
