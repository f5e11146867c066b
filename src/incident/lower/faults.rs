//! Injected faults of a service (`faults:`, and the timeline's `set_faults`), under the
//! names of Envoy's HTTP fault filter: `abort: {http_status, percentage}`,
//! `delay: {fixed_delay, percentage}`, plus `reset: {percentage}` (the connection is
//! reset, which the filter cannot do but a chaos tool can).

use serde_saphyr::Spanned;

use crate::incident::raw::{RawFaultAbort, RawFaultDelay, RawFaultReset};
use crate::incident::IncidentError;
use crate::model::spec::FaultSpec;

use super::{loc, Ctx};

fn share(ctx: &Ctx, p: &Spanned<f64>) -> Result<f64, IncidentError> {
    if !(0.0..=100.0).contains(&p.value) {
        return Err(ctx.err(
            loc(p),
            format!("percentage {} must lie between 0 and 100", p.value),
        ));
    }
    Ok(p.value / 100.0)
}

/// Lower one set of faults; None when it injects nothing.
pub(super) fn lower(
    ctx: &Ctx,
    abort: Option<&RawFaultAbort>,
    delay: Option<&RawFaultDelay>,
    reset: Option<&RawFaultReset>,
) -> Result<Option<FaultSpec>, IncidentError> {
    let abort = match abort {
        None => None,
        Some(a) => {
            let status = super::tracked_error_status(ctx, "http_status", &a.http_status)?;
            Some((status, share(ctx, &a.percentage)?))
        }
    };
    let delay = match delay {
        None => None,
        Some(d) => Some((d.fixed_delay.0, share(ctx, &d.percentage)?)),
    };
    let reset = match reset {
        None => 0.0,
        Some(r) => share(ctx, &r.percentage)?,
    };
    let spec = FaultSpec {
        abort,
        delay,
        reset,
    };
    Ok((spec != FaultSpec::default()).then_some(spec))
}
