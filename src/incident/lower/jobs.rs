//! Background jobs of a service: schedule, iterations, the pool they draw from, the
//! steps an iteration runs on its connection, how they release connections and the
//! context they run under. Deploys reuse the release, context and steps forms.

use serde_saphyr::Spanned;

use crate::incident::raw::{RawJob, RawJobContext, RawJobStep, RawRelease};
use crate::incident::IncidentError;
use crate::model::spec::{JobContext, JobSpec, JobStep, ReleaseMode, Statement, MAX_JOB_STEPS};

use super::latency::{latency, statement};
use super::{find, loc, Ctx};

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
            // Without `steps` an iteration runs one query, as a loop of `QueryRow`s does.
            steps: match &j.steps {
                Some(s) => steps(ctx, s)?,
                None => vec![JobStep::Query(Statement::Database)],
            },
            release: release(j.release),
            context: j
                .context
                .as_ref()
                .map_or(JobContext::Background, job_context),
        });
    }
    Ok(jobs)
}

/// Lower a job's `steps:` list: at least one, at most [`MAX_JOB_STEPS`].
pub(super) fn steps(
    ctx: &Ctx,
    raw: &Spanned<Vec<RawJobStep>>,
) -> Result<Vec<JobStep>, IncidentError> {
    if raw.value.is_empty() {
        return Err(ctx.err(
            loc(raw),
            "a job needs at least one step (`query` or `work`); leave `steps` out for one database query per iteration".into(),
        ));
    }
    if raw.value.len() > MAX_JOB_STEPS {
        return Err(ctx.err(
            loc(raw),
            format!(
                "a job iteration has {} steps; rewind runs at most {MAX_JOB_STEPS}",
                raw.value.len()
            ),
        ));
    }
    raw.value
        .iter()
        .map(|s| {
            Ok(match s {
                RawJobStep::Query(q) => JobStep::Query(statement(ctx, q.latency.as_ref())?),
                RawJobStep::Work(l) => JobStep::Work(latency(ctx, l)?),
            })
        })
        .collect()
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
