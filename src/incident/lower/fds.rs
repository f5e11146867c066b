//! File descriptors: a `leak` step's count, and a service's `fds:` (its
//! `RLIMIT_NOFILE` and the descriptors a started process holds), with Linux's defaults.
//! A service with a `leak` step counts descriptors even without `fds:`: its processes
//! have the default limit whether the file says so or not.

use serde_saphyr::Spanned;

use crate::incident::raw::{RawFds, RawLeak};
use crate::incident::IncidentError;
use crate::model::fds::{FdSpec, DEFAULT_BASELINE_FDS, LINUX_DEFAULT_NOFILE, MAX_NOFILE};
use crate::model::spec::Step;

use super::{loc, Ctx};

/// A `leak` step: at most `fs.nr_open` descriptors (no process could hold more).
pub(super) fn leak(ctx: &Ctx, l: &Spanned<RawLeak>) -> Result<Step, IncidentError> {
    let fds = l.value.fds.value.0;
    if fds > MAX_NOFILE {
        return Err(ctx.err(
            loc(&l.value.fds),
            format!("a leak of {fds} descriptors at once is more than any process can hold (fs.nr_open, {MAX_NOFILE} by default)"),
        ));
    }
    Ok(Step::Leak { fds })
}

/// The service's descriptor budget: `fds:` as written, the defaults for a service
/// whose steps (`steps`, the handler's and the health endpoint's) leak without one,
/// none otherwise.
pub(super) fn budget(
    ctx: &Ctx,
    raw: Option<&Spanned<RawFds>>,
    steps: &[&[Step]],
) -> Result<Option<FdSpec>, IncidentError> {
    let Some(f) = raw else {
        let leaks = steps
            .iter()
            .any(|list| list.iter().any(|s| matches!(s, Step::Leak { .. })));
        return Ok(leaks.then(FdSpec::default));
    };
    let limit = match &f.value.limit {
        None => LINUX_DEFAULT_NOFILE,
        Some(l) if l.value.0 > MAX_NOFILE => {
            return Err(ctx.err(
                loc(l),
                format!(
                    "a descriptor limit of {} is above fs.nr_open ({MAX_NOFILE} by default): setrlimit refuses it",
                    l.value.0
                ),
            ))
        }
        Some(l) => l.value.0,
    };
    let baseline = f
        .value
        .baseline
        .as_ref()
        .map_or(DEFAULT_BASELINE_FDS, |b| b.value.0);
    if baseline >= limit {
        let at = f.value.baseline.as_ref().map_or(loc(f), loc);
        return Err(ctx.err(
            at,
            format!("a process holding {baseline} descriptors at start is at its limit ({limit}) before its first request: the baseline must be below the limit"),
        ));
    }
    Ok(Some(FdSpec { limit, baseline }))
}
