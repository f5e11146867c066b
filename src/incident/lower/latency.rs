//! Latency distributions as the file writes them (constant, exponential, uniform,
//! lognormal from p50 and p99, empirical quantiles), checked into [`Latency`]. Used by
//! handler `work` steps, databases and deploys that change a step's latency; and a
//! query step's statement, the one form handlers and jobs share.

use serde_saphyr::{Location, Spanned};

use crate::incident::raw::RawLatency;
use crate::incident::IncidentError;
use crate::model::dist::Latency;
use crate::model::spec::Statement;

use super::{loc, Ctx};

pub(super) fn latency(ctx: &Ctx, raw: &Spanned<RawLatency>) -> Result<Latency, IncidentError> {
    latency_at(ctx, loc(raw), &raw.value)
}

/// A query step's statement (a handler's or a job's): with a `latency`, a statement of
/// that time of its own; without, the database's query.
pub(super) fn statement(
    ctx: &Ctx,
    latency_of_its_own: Option<&Spanned<RawLatency>>,
) -> Result<Statement, IncidentError> {
    Ok(match latency_of_its_own {
        None => Statement::Database,
        Some(l) => Statement::OwnTime(latency(ctx, l)?),
    })
}

/// Lower a latency whose errors point at `at` (a deploy's latencies are not spanned).
pub(super) fn latency_at(
    ctx: &Ctx,
    at: Location,
    raw: &RawLatency,
) -> Result<Latency, IncidentError> {
    Ok(match raw {
        RawLatency::Constant(d) => Latency::Constant(d.0),
        RawLatency::Exponential { mean } => Latency::Exponential {
            mean_s: mean.0.as_secs_f64(),
        },
        RawLatency::Uniform { min, max } => {
            if min.0 > max.0 {
                return Err(ctx.err(
                    at,
                    format!("uniform latency has min {} above max {}", min.0, max.0),
                ));
            }
            Latency::Uniform {
                min_s: min.0.as_secs_f64(),
                max_s: max.0.as_secs_f64(),
            }
        }
        RawLatency::Lognormal { p50, p99 } => {
            if p99.0 <= p50.0 {
                return Err(ctx.err(
                    at,
                    format!(
                        "lognormal latency needs p99 above p50 (got p50 {} and p99 {})",
                        p50.0, p99.0
                    ),
                ));
            }
            Latency::lognormal_from_p50_p99(p50.0.as_secs_f64(), p99.0.as_secs_f64())
        }
        RawLatency::Empirical(points) => {
            let pts: Vec<(f64, f64)> = points
                .iter()
                .map(|(q, d)| (q.0, d.0.as_secs_f64()))
                .collect();
            let ok = pts.len() >= 2
                && pts.first().is_some_and(|p| p.0 == 0.0)
                && pts.last().is_some_and(|p| p.0 == 1.0)
                && pts.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1 >= w[0].1);
            if !ok {
                return Err(ctx.err(
                    at,
                    "an empirical latency is a list of [quantile, duration] pairs from quantile 0 to quantile 1, both increasing, e.g. [[0, 1ms], [0.5, 4ms], [0.99, 30ms], [1, 80ms]]".into(),
                ));
            }
            Latency::Empirical { points: pts }
        }
    })
}
