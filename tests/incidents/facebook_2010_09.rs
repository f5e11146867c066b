//! Facebook, September 2010: a configuration value turns "invalid", every client
//! queries the cluster to fix it, and every database error deletes the key again; the
//! loop outlives the fix until the site is turned off, and holds once users are let
//! back gradually. Treating errors as errors, or coalescing the fills, ends the outage
//! with its trigger.

use super::{entry_at, failed_share, load_bundled, sum_between, variant};
use crate::util::column;

#[test]
fn facebook_delete_on_error_keeps_the_cluster_down_after_the_fix_until_the_site_is_off() {
    let incident = load_bundled("facebook-2010-09-config-loop.yaml");
    let r = rewind::model::replay(incident.baseline.clone());
    let at = |id: &str| entry_at(&incident, id);
    let (bad, fixed, off, back, all) = (
        at("bad-value"),
        at("value-fixed"),
        at("site-off"),
        at("readmit-10"),
        at("readmit-all"),
    );
    assert_eq!(all - bad, 9000.0, "the report's ~2.5 hours");

    // Healthy before: every page view served from the cache.
    assert_eq!(failed_share(&r, "users", 0.0, bad), 0.0);
    assert_eq!(sum_between(&r, "config.misses", 0.0, bad), 0.0);
    // The trigger: the cached copies go, every page view misses, queries time out at
    // 2 s and each failed fill deletes its key.
    let failed = column(&r, "users.failed");
    let first_failure = (0..r.series.rows())
        .find(|&i| failed[i] > 0.0)
        .map(|i| r.series.time_s(i))
        .expect("failures");
    assert!(bad + 2.0 <= first_failure && first_failure <= bad + 3.0);
    let cache = &r.caches[0];
    assert!(cache.invalidated > 0 && cache.invalidated == cache.fill_errors);
    assert!(failed_share(&r, "users", bad + 10.0, fixed) > 0.999);

    // The fix does not end it: the page views alone keep the cluster saturated and
    // almost every one fails, for as long as the site is on.
    let after_fix = failed_share(&r, "users", fixed + 60.0, off);
    assert!(after_fix > 0.95, "{after_fix}");
    let cpu = column(&r, "config-db.cpu_utilisation");
    assert!((fixed as usize + 60..off as usize).all(|i| cpu[i] > 0.99));
    let in_flight =
        sum_between(&r, "config-db.running_queries", fixed + 60.0, off) / (off - fixed - 60.0);
    assert!(in_flight > 150.0, "{in_flight}");

    // Turned off, the cluster drains; let back gradually, the site holds.
    let running = column(&r, "config-db.running_queries");
    assert!(running[back as usize - 1] <= 1.0);
    let end = r.duration.as_secs_f64();
    assert_eq!(failed_share(&r, "users", back, end), 0.0);
    assert!(sum_between(&r, "config.fills", back, back + 60.0) >= 1.0);

    // Errors as errors: the first fill that succeeds after the fixer stops holds.
    let errors = variant(&incident, "errors-are-errors");
    assert_eq!(errors.caches[0].invalidated, 0);
    assert_eq!(failed_share(&errors, "users", fixed + 30.0, end), 0.0);
    // Coalesced fills (leases) too.
    let leases = variant(&incident, "leases");
    assert_eq!(failed_share(&leases, "users", fixed + 30.0, end), 0.0);
    // No fixer, no outage.
    assert_eq!(variant(&incident, "fixer-off").clients[0].failed, 0);
    // Turning the site off earlier ends the outage earlier: the pause is the fix.
    let early = variant(&incident, "site-off-early");
    assert!(failed_share(&early, "users", fixed + 60.0, 1200.0) > 0.95);
    assert_eq!(failed_share(&early, "users", 1260.0, end), 0.0);
}
