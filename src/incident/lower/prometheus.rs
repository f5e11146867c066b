//! The fields of the Prometheus export (`metrics.om`): `start`, the wall-clock time
//! the replay's time 0 stands for, and `scrape_interval`, how often Prometheus would
//! have scraped. Neither changes the replay; they place and sample its metrics.

use crate::engine::Nanos;
use crate::human::exact_duration;
use crate::incident::raw::RawIncident;
use crate::incident::IncidentError;

use super::{loc, Ctx, Extent};

/// The start a file without `start:` gets: a fixed instant, so that the same file and
/// seed give the same `metrics.om` on every machine and every day.
pub(super) const DEFAULT_START: &str = "2026-01-01T00:00:00Z";

/// Prometheus's own default `global.scrape_interval`, 1m
/// (<https://prometheus.io/docs/prometheus/latest/configuration/configuration/>).
const DEFAULT_SCRAPE_INTERVAL: Nanos = Nanos::from_secs(60);

/// `start` and `scrape_interval`, validated: (ms since the Unix epoch, interval).
pub(super) fn lower(
    ctx: &Ctx,
    raw: &RawIncident,
    extent: &Extent,
) -> Result<(i64, Nanos), IncidentError> {
    Ok((start(ctx, raw)?, scrape_interval(ctx, raw, extent)?))
}

/// `start`: an RFC 3339 timestamp, at or after the Unix epoch (Prometheus's
/// timestamps are milliseconds since it), in whole milliseconds.
fn start(ctx: &Ctx, raw: &RawIncident) -> Result<i64, IncidentError> {
    let Some(s) = &raw.start else {
        return DEFAULT_START
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .map_err(|e| IncidentError::whole_file(ctx.file, format!("default start: {e}")));
    };
    let text = s.value.trim();
    let t: jiff::Timestamp = text.parse().map_err(|e| {
        ctx.err(
            loc(s),
            format!(
                "`{text}` is not an RFC 3339 timestamp ({e}): write the instant the replay starts at with its offset, e.g. `{DEFAULT_START}`"
            ),
        )
    })?;
    if t < jiff::Timestamp::UNIX_EPOCH {
        return Err(ctx.err(
            loc(s),
            format!("`{text}` is before 1970-01-01T00:00:00Z: Prometheus counts time from the Unix epoch"),
        ));
    }
    if t.subsec_nanosecond() % 1_000_000 != 0 {
        return Err(ctx.err(
            loc(s),
            format!("`{text}` has a fraction of a millisecond: Prometheus's timestamps are whole milliseconds"),
        ));
    }
    Ok(t.as_millisecond())
}

/// `scrape_interval`: a positive multiple of the resolution, in whole milliseconds; by
/// default Prometheus's 1m, or the first multiple of a coarser or uneven resolution
/// past it, so that every scrape falls on a row's end.
fn scrape_interval(ctx: &Ctx, raw: &RawIncident, extent: &Extent) -> Result<Nanos, IncidentError> {
    let resolution = extent.resolution;
    let Some(s) = &raw.scrape_interval else {
        let rows = DEFAULT_SCRAPE_INTERVAL.0.div_ceil(resolution.0).max(1);
        let interval = Nanos(resolution.0.saturating_mul(rows));
        if interval.0 % 1_000_000 != 0 {
            let at = raw.resolution.as_ref().map_or(loc(&raw.duration), loc);
            return Err(ctx.err(
                at,
                format!(
                    "the default scrape interval at a resolution of {} would be {}, not a whole number of milliseconds: give `scrape_interval:`, a multiple of the resolution in whole milliseconds",
                    exact_duration(resolution),
                    exact_duration(interval)
                ),
            ));
        }
        return Ok(interval);
    };
    let interval = s.value.0;
    if interval.0 % resolution.0 != 0 {
        return Err(ctx.err(
            loc(s),
            format!(
                "a scrape interval of {} is not a multiple of the resolution, {}: every scrape must fall at the end of a time-series row",
                exact_duration(interval),
                exact_duration(resolution)
            ),
        ));
    }
    if interval.0 % 1_000_000 != 0 {
        return Err(ctx.err(
            loc(s),
            format!(
                "a scrape interval of {} is not a whole number of milliseconds, Prometheus's unit of time",
                exact_duration(interval)
            ),
        ));
    }
    Ok(interval)
}
