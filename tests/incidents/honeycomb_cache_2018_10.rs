//! Honeycomb, October 2018: extra work saturates a database with no headroom, cache
//! refreshes that do not coalesce pile up, and the API processes crash-loop out of
//! memory until the extra work ends; coalesced refreshes or a database twice the
//! size hold.

use rewind::outcome::RunResult;

use super::{entry_at, failed_share, first_of, load_bundled, rows_with_5xx_after_at, variant};
use crate::util::{column, first, occurrences};

/// The mean of a column over the rows that start in `[from_s, to_s)`.
fn mean_between(r: &RunResult, name: &str, from_s: f64, to_s: f64) -> f64 {
    let values = column(r, name);
    let rows: Vec<f64> = (0..r.series.rows())
        .filter(|&i| (from_s..to_s).contains(&r.series.time_s(i)))
        .map(|i| values[i])
        .collect();
    rows.iter().sum::<f64>() / rows.len() as f64
}

/// The highest mean of a column over a whole minute (as a 1-minute CPU graph shows it).
fn max_minute_mean(r: &RunResult, name: &str, from_s: f64, to_s: f64) -> f64 {
    let mut t = from_s;
    let mut best = 0.0f64;
    while t + 60.0 <= to_s {
        best = best.max(mean_between(r, name, t, t + 60.0));
        t += 60.0;
    }
    best
}

#[test]
fn honeycomb_cache_refreshes_crash_loop_the_api_until_the_extra_work_ends() {
    let incident = load_bundled("honeycomb-cache-2018-10.yaml");
    let r = rewind::model::replay(incident.baseline.clone());
    let (surgery, ends) = (
        entry_at(&incident, "surgery"),
        entry_at(&incident, "surgery-ends"),
    );
    assert_eq!((surgery, ends), (300.0, 3660.0));

    // Before: the report's CPU baseline (30-40%) with 1-3 queries running; after, the
    // disk-usage cron's spikes (50-60%).
    let before = mean_between(&r, "rds.cpu_utilisation", 0.0, surgery);
    assert!((0.30..0.40).contains(&before), "{before}");
    let running = mean_between(&r, "rds.running_queries", 0.0, surgery);
    assert!((1.0..3.0).contains(&running), "{running}");
    let spike = max_minute_mean(&r, "rds.cpu_utilisation", ends + 120.0, 4500.0);
    assert!((0.5..0.7).contains(&spike), "{spike}");

    // The chain: pools dry within a minute of the surgery, refreshes in flight into
    // the thousands, then the first OOM kill and its 502s.
    let exhausted = first_of(&r, "pool_exhausted");
    assert!(
        surgery < exhausted && exhausted < surgery + 60.0,
        "{exhausted}"
    );
    let filling = column(&r, "team-settings.filling");
    let oom = first_of(&r, "oom_kill");
    let thousand = (0..r.series.rows())
        .find(|&i| filling[i] > 1000.0)
        .map(|i| r.series.time_s(i))
        .expect("refreshes in flight in the thousands");
    assert!(exhausted < thousand && thousand < oom, "{thousand} {oom}");
    assert_eq!(first(&r, 502), Some(oom));
    // A crash loop: each kill loses a cache that held entries, and the restarted
    // process misses every key; it goes on until the extra work ends.
    let kills = occurrences(&r, "oom_kill");
    assert!(kills.len() >= 300, "{} kills", kills.len());
    assert_eq!(occurrences(&r, "cache_emptied").len(), kills.len());
    assert!(kills.iter().all(|k| k.0 < ends + 60.0));
    assert!(
        kills.iter().any(|k| k.0 > ends - 300.0),
        "still looping late"
    );

    // The report's outage: 54 minutes (21:02 to 21:56), ~90% CPU.
    let failed = column(&r, "senders.failed");
    let failing: Vec<f64> = (0..r.series.rows())
        .filter(|&i| failed[i] > 0.0)
        .map(|i| r.series.time_s(i))
        .collect();
    let (from, to) = (failing[0], *failing.last().expect("failures"));
    let minutes = (to - from) / 60.0;
    assert!((minutes - 54.0).abs() < 1.0, "{minutes} minutes");
    let cpu = mean_between(&r, "rds.cpu_utilisation", from, to);
    assert!((0.80..0.95).contains(&cpu), "{cpu}");
    // Partial: about a third of the requests still succeed.
    let share = failed_share(&r, "senders", from, to + 1.0);
    assert!((0.55..0.70).contains(&share), "{share}");
    assert!(rows_with_5xx_after_at(&r, "lb", ends + 60.0).is_empty());

    // Coalesced refreshes: the database stays saturated, nothing fails.
    let coalesced = variant(&incident, "coalesced-refresh");
    assert_eq!(coalesced.clients[0].failed, 0);
    assert!(mean_between(&coalesced, "rds.cpu_utilisation", surgery + 60.0, ends) > 0.95);
    let c = &coalesced.caches[0];
    assert!(c.coalesced > 0 && c.peak_filling < 200, "{c:?}");
    // A database twice the size keeps headroom: no minute above 70%, nothing fails.
    let larger = variant(&incident, "m5-2xlarge");
    assert_eq!(larger.clients[0].failed, 0);
    assert!(max_minute_mean(&larger, "rds.cpu_utilisation", 0.0, 4500.0) < 0.7);
    assert_eq!(variant(&incident, "both-fixes").clients[0].failed, 0);
}
