//! The bundled incidents replay the chain their descriptions tell, in order.

use rewind::incident::Overrides;
use rewind::outcome::RunResult;

use crate::util::{first, incident_path, occurrences, status};

fn replay_file(name: &str) -> RunResult {
    let s = rewind::app::load(&incident_path(name), &Overrides::default())
        .unwrap_or_else(|e| panic!("{name} is invalid: {e}"));
    rewind::model::replay(s)
}

fn first_of(r: &RunResult, kind: &str) -> f64 {
    occurrences(r, kind)
        .first()
        .unwrap_or_else(|| panic!("no {kind} occurrence"))
        .0
}

/// Seconds (row starts) after `from_s` with any 5xx at the first gateway.
fn rows_with_5xx_after(r: &RunResult, from_s: f64) -> Vec<f64> {
    let cols: Vec<usize> = [500, 502, 503, 504]
        .iter()
        .map(|c| {
            r.series
                .column(&format!("edge.status_{c}"))
                .expect("column")
        })
        .collect();
    (0..r.series.rows())
        .filter(|&i| r.series.time_s(i) >= from_s)
        .filter(|&i| cols.iter().any(|&c| r.series.row(i)[c] > 0.0))
        .map(|i| r.series.time_s(i))
        .collect()
}

#[test]
fn leaky_batch_loop_replays_the_whole_chain_in_order() {
    let r = replay_file("leaky-batch-loop.yaml");
    let deploy = occurrences(&r, "timeline")[0].0;
    let exhausted = first_of(&r, "pool_exhausted");
    let t504 = first(&r, 504).expect("504s");
    let oom = first_of(&r, "oom_kill");
    let t502 = first(&r, 502).expect("502s");
    let restart = first_of(&r, "restart");
    assert_eq!(deploy, 1200.0);
    assert!(deploy < exhausted, "the pool drains after the deploy");
    assert!(exhausted < t504, "504s follow the exhaustion");
    assert!(t504 < oom, "the OOM kill follows the 504s");
    assert!(oom <= t502 && t502 < oom + 1.0, "502s start with the kill");
    assert!(restart >= oom);
    // The pool drains slowly: the leak grows run by run before it is dry.
    let leaked = r.series.column_values("orders-db.leaked").expect("column");
    let at = |t: f64| leaked[t as usize];
    assert!(at(deploy + 600.0) > 0.0 && at(deploy + 600.0) < at(exhausted - 1.0));
    // Memory climbs while blocked handlers pile up.
    let mem = r
        .series
        .column_values("orders-api.memory_mib")
        .expect("column");
    assert!(mem[(oom - 1.0) as usize] > 500.0 && mem[(exhausted - 1.0) as usize] < 200.0);
    // The restart frees the leak, and it starts over: the pool runs dry again.
    assert_eq!(at(restart + 10.0), 0.0);
    assert!(occurrences(&r, "pool_exhausted")
        .iter()
        .any(|e| e.0 > restart + 60.0));
    assert!(
        r.services[0].oom_kills >= 2,
        "the cycle repeats until the fix"
    );
    // After the fix: at least ten minutes without a 5xx, to the end of the replay.
    let fix = occurrences(&r, "timeline")[1].0;
    let late = rows_with_5xx_after(&r, fix + 60.0);
    assert!(late.is_empty(), "5xx after the fix at {late:?}");
    assert!(r.duration.as_secs_f64() - (fix + 60.0) >= 600.0);
}

#[test]
fn defer_in_loop_starves_the_pool_during_each_batch_run_only() {
    let r = replay_file("defer-in-loop.yaml");
    let exhausted: Vec<f64> = occurrences(&r, "pool_exhausted")
        .iter()
        .map(|e| e.0)
        .collect();
    let recovered: Vec<f64> = occurrences(&r, "pool_recovered")
        .iter()
        .map(|e| e.0)
        .collect();
    // Runs at 5, 15, 25, 35 min; each drains the pool and gives it all back at the
    // job's 2-minute deadline.
    assert_eq!(exhausted.len(), 4, "{exhausted:?}");
    for (e, rec) in exhausted.iter().zip(&recovered) {
        assert!((e - 300.0) % 600.0 < 1.0, "exhausted at {e}");
        assert!((rec - e - 120.0).abs() < 1.0, "recovered at {rec}");
    }
    // Handlers on the request context are cancelled: nothing piles up, nothing dies.
    assert_eq!(r.services[0].oom_kills, 0);
    assert!(r.services[0].peak_memory_mib < 300.0);
    // nginx: first tries time out at 60 s and move to the other replica; once both
    // are marked failed, 502 "no live upstreams" at once; the rare retry that reaches
    // the other replica outlasts the users' 90 s (499).
    assert!(status(&r, 499) > 0 && status(&r, 502) > 0);
    // Errors only during runs, none after the fix.
    let fix = occurrences(&r, "timeline")[0].0;
    assert!(rows_with_5xx_after(&r, fix + 60.0).is_empty());
    // The last upstream failures come as the pool is given back, 120 s into a run;
    // nginx keeps those servers marked for fail_timeout (10 s, in whole seconds, so
    // up to 11 s): "no live upstreams" 502s until then, none later.
    for t in rows_with_5xx_after(&r, 0.0) {
        let into_run = (t - 300.0).rem_euclid(600.0);
        assert!(into_run <= 131.0, "a 5xx at {t} s, {into_run} s into a run");
    }
}

#[test]
fn scale_out_exhausts_postgres_crash_loops_the_new_replica_and_users_time_out() {
    let r = replay_file("scale-out-exhausts-postgres.yaml");
    let scale = occurrences(&r, "timeline")
        .iter()
        .find(|o| o.1.contains("scale to 5"))
        .expect("scale")
        .0;
    assert_eq!(scale, 900.0);
    // At the scale-out the database takes 10 of replica 3's 30 connections and none of
    // replica 4's, which then fails at start and crash-loops.
    let refused = occurrences(&r, "db_refused");
    assert!(refused[0]
        .1
        .contains("refused 20 of the 30 connections replica 3"));
    assert!(refused
        .iter()
        .skip(1)
        .all(|o| o.1.contains("refused 30 of the 30 connections replica 4")));
    assert!(occurrences(&r, "crash").len() >= 5, "a crash loop");
    let up = r
        .series
        .column_values("checkout.replicas_up")
        .expect("column");
    assert_eq!(
        up.iter().cloned().fold(0.0, f64::max),
        4.0,
        "the fifth replica never serves"
    );
    // Shoppers give up before HikariCP's 30 s: 499s, no 5xx, so only the rule that
    // counts 499s fires.
    assert!(status(&r, 499) > 1000);
    assert_eq!(status(&r, 500) + status(&r, 502) + status(&r, 504), 0);
    assert_eq!(r.alerts[0].first_firing, None);
    assert!(r.alerts[1].first_firing.is_some());
    // The pool never holds more than the database allows.
    let in_use = r
        .series
        .column_values("checkout-db.in_use")
        .expect("column");
    assert!(in_use.iter().all(|v| *v <= 100.0));
}

/// Uncoalesced cache refreshes on a saturated database: after the trigger and the
/// cron run, in-flight refreshes pile up into the thousands, the replicas are
/// OOM-killed, each restart empties their caches and the loop goes on until the
/// database has headroom again; with single-flight nothing fails.
#[test]
fn cache_refresh_stampede_crash_loops_until_the_load_ends_and_single_flight_holds() {
    let incident = rewind::app::load_incident(
        &incident_path("cache-refresh-stampede.yaml"),
        &Overrides::default(),
    )
    .unwrap_or_else(|e| panic!("cache-refresh-stampede.yaml is invalid: {e}"));
    let r = rewind::model::replay(incident.baseline.clone());
    let at = |id: &str| {
        incident
            .baseline
            .timeline
            .iter()
            .find(|e| e.id.as_deref() == Some(id))
            .expect("timeline entry")
            .at
            .as_secs_f64()
    };
    let (tipped, headroom) = (at("tipped"), at("headroom"));
    let oom = first_of(&r, "oom_kill");
    assert!(
        tipped + 360.0 < oom && oom < headroom,
        "OOM kills after the cron run: {oom}"
    );
    let kills = occurrences(&r, "oom_kill");
    assert!(kills.len() >= 12, "a crash loop: {} kills", kills.len());
    assert!(kills.iter().all(|k| k.0 < headroom + 120.0));
    // Every kill loses a cache that held entries: the next process starts cold.
    assert_eq!(occurrences(&r, "cache_emptied").len(), kills.len());
    let cache = &r.caches[0];
    assert!(
        cache.peak_filling > 1000,
        "refreshes in flight: {}",
        cache.peak_filling
    );
    assert!(first(&r, 502).is_some_and(|t| t >= oom));
    // Up again well before the end.
    assert!(rows_with_5xx_after(&r, headroom + 300.0).is_empty());

    let single_flight = incident
        .variants
        .iter()
        .find(|v| v.name == "single-flight")
        .expect("variant");
    let sf = rewind::model::replay(single_flight.scenario.clone());
    assert_eq!(sf.services[0].oom_kills, 0);
    assert!(rows_with_5xx_after(&sf, 0.0).is_empty());
    let c = &sf.caches[0];
    assert!(c.coalesced > 0 && c.peak_filling < 500, "{c:?}");
}
