//! Background jobs of a service: schedule, iterations, the pool they draw from, how
//! they release connections and the context they run under. Deploys reuse the
//! release and context forms.

use crate::incident::raw::{RawJob, RawJobContext, RawRelease};
use crate::incident::IncidentError;
use crate::model::spec::{JobContext, JobSpec, ReleaseMode};

use super::{find, Ctx};

/// Lower the jobs of service `service`, whose pools are `pool_names`.
pub(super) fn lower(
    ctx: &Ctx,
    service: &str,
    raw: &[RawJob],
    pool_names: &[String],
) -> Result<Vec<JobSpec>, IncidentError> {
    let mut jobs = Vec::new();
    for j in raw {
        jobs.push(JobSpec {
            name: j.name.value.clone(),
            pool: find(
                ctx,
                &format!("pool of service {service}"),
                pool_names,
                &j.pool,
            )?,
            every: j.every.0,
            first_run: j.first_run.map_or(j.every.0, |d| d.0),
            iterations: j.iterations.0,
            release: release(j.release),
            context: j
                .context
                .as_ref()
                .map_or(JobContext::Background, job_context),
        });
    }
    Ok(jobs)
}

pub(super) fn release(r: RawRelease) -> ReleaseMode {
    match r {
        RawRelease::PerIteration => ReleaseMode::PerIteration,
        RawRelease::AtFunctionReturn => ReleaseMode::AtFunctionReturn,
        RawRelease::LastOnly => ReleaseMode::LastOnly,
    }
}

pub(super) fn job_context(c: &RawJobContext) -> JobContext {
    match c {
        RawJobContext::Background => JobContext::Background,
        RawJobContext::Timeout(t) => JobContext::Timeout(t.0),
    }
}
