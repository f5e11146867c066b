//! The bundled incidents replay the chain their descriptions tell, in order.

mod dynamodb_metadata_storm;
mod heroku_random_routing;
mod stripe_retry_loop;

use rewind::incident::Overrides;
use rewind::outcome::RunResult;

use crate::util::{column, first, incident_path, occurrences, status};

mod facebook_2010_09;
mod honeycomb_cache_2018_10;
mod honeycomb_ingest_2023_11;
mod shakespeare_2015_10;

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
    rows_with_statuses_after(r, "edge", &[500, 502, 503, 504], from_s)
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

/// The incident file's baseline and variants, and the time of a timeline entry.
fn load_bundled(name: &str) -> rewind::incident::Incident {
    rewind::app::load_incident(&incident_path(name), &Overrides::default())
        .unwrap_or_else(|e| panic!("{name} is invalid: {e}"))
}

fn entry_at(incident: &rewind::incident::Incident, id: &str) -> f64 {
    incident
        .baseline
        .timeline
        .iter()
        .find(|e| e.id.as_deref() == Some(id))
        .unwrap_or_else(|| panic!("no timeline entry {id}"))
        .at
        .as_secs_f64()
}

fn variant(incident: &rewind::incident::Incident, name: &str) -> RunResult {
    let v = incident
        .variants
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no variant {name}"));
    rewind::model::replay(v.scenario.clone())
}

/// The sum of a column over the rows that start in `[from_s, to_s)`.
fn sum_between(r: &RunResult, name: &str, from_s: f64, to_s: f64) -> f64 {
    let values = column(r, name);
    (0..r.series.rows())
        .filter(|&i| (from_s..to_s).contains(&r.series.time_s(i)))
        .map(|i| values[i])
        .sum()
}

/// The share of a client's new requests in `[from_s, to_s)` that failed, counted as
/// they end (ok and failed columns).
fn failed_share(r: &RunResult, client: &str, from_s: f64, to_s: f64) -> f64 {
    let ok = sum_between(r, &format!("{client}.ok"), from_s, to_s);
    let failed = sum_between(r, &format!("{client}.failed"), from_s, to_s);
    failed / (ok + failed)
}

/// Mean of a lognormal given by its median and 99th percentile.
fn lognormal_mean(p50: f64, p99: f64) -> f64 {
    const Z99: f64 = 2.326_347_874;
    let sigma = (p99 / p50).ln() / Z99;
    p50 * (sigma * sigma / 2.0).exp()
}

fn first_refusal(r: &RunResult, pool: &str) -> Option<f64> {
    r.occurrences
        .iter()
        .find(|o| o.kind == "db_refused" && o.component == pool)
        .map(|o| o.at.as_secs_f64())
}

/// Honeycomb, May 2018: the database stalls 100x; the Go pools open connections up
/// to `max_connections`; every submission that finds none free is refused (Error
/// 1040), the cron job too, until the stall ends. The refused share is what the
/// stalled database cannot serve: 1 - cores / (factor x mean work x rate), which
/// the file sets near the report's 86%.
#[test]
fn honeycomb_rds_stall_fills_max_connections_and_refuses_most_submissions() {
    let incident = load_bundled("honeycomb-rds-2018-05.yaml");
    let r = rewind::model::replay(incident.baseline.clone());
    let (stall, recovers) = (
        entry_at(&incident, "stall"),
        entry_at(&incident, "recovers"),
    );
    assert_eq!((stall, recovers), (300.0, 1721.0), "the report's times");

    // Link 3 and 4: the pools open connections until the database refuses them,
    // within seconds of the stall; the 500s start with the refusals.
    let api_refused = first_refusal(&r, "api-pool").expect("api-pool refused");
    assert!(
        stall < api_refused && api_refused < stall + 5.0,
        "{api_refused}"
    );
    let t500 = first(&r, 500).expect("500s");
    assert!((t500 - api_refused).abs() < 1.0);
    let connections = column(&r, "rds.connections");
    let limit = 600.0;
    assert!(connections.iter().all(|c| *c <= limit));
    assert_eq!(connections[(stall + 30.0) as usize], limit);
    assert!(connections[(stall - 1.0) as usize] < limit / 10.0);
    // Cron jobs cannot connect either.
    let cron = first_refusal(&r, "cron-pool").expect("cron-pool refused");
    assert!(stall < cron && cron < recovers);

    // The refused share: what a database of 4 cores finishes at 100x a mean work of
    // lognormal(0.45 ms, 2 ms), against 500 submissions/s.
    let capacity = 4.0 / (100.0 * lognormal_mean(0.45e-3, 2e-3));
    let expected = 1.0 - capacity / 500.0;
    let refused = failed_share(&r, "senders", stall, recovers);
    assert!((refused - expected).abs() < 0.02, "{refused} vs {expected}");
    assert!(
        (refused - 0.86).abs() < 0.03,
        "the report: about 86%; {refused}"
    );
    // Accepted submissions wait seconds for their query (the report: P95 > 1,000 ms).
    let ok_p95 = column(&r, "lb.ok_p95_ms");
    assert!(ok_p95[(stall - 10.0) as usize] < 20.0);
    assert!(ok_p95[(stall + 300.0) as usize] > 1000.0);

    // The 1-minute end-to-end check fires within 3 minutes and resolves after.
    let fired = r.alerts[0].first_firing.expect("fires").as_secs_f64();
    assert!(stall < fired && fired <= stall + 180.0, "{fired}");
    // Back within a minute of the stall's end, to the end of the replay.
    assert!(rows_with_5xx_after_at(&r, "lb", recovers + 60.0).is_empty());

    // A failover 3 minutes in refuses a fraction of the submissions.
    let failover = variant(&incident, "failover-on-latency");
    assert!(failover.clients[0].failed * 5 < r.clients[0].failed);
    // Bounded pools leave room for the cron job: nothing is refused, though the
    // stalled database serves no more submissions.
    let bounded = variant(&incident, "bounded-pools");
    assert!(bounded.occurrences.iter().all(|o| o.kind != "db_refused"));
    assert!(bounded.pools.iter().all(|p| p.refused == 0));
    let bounded_failed = failed_share(&bounded, "senders", stall + 120.0, recovers);
    assert!(bounded_failed > expected - 0.05, "{bounded_failed}");
    // A 2 s statement timeout wastes the cores on queries it cancels: more fail.
    let cancelled = variant(&incident, "max-execution-time-2s");
    assert!(cancelled.clients[0].failed > r.clients[0].failed);
}

/// Stripe, October 2015: a dropped index makes one set of endpoints' queries run to
/// the 30 s query timeout; their requests take every worker, and the other endpoints
/// fail with them, until the fix. With workers reserved for the other endpoints, or
/// a 1 s query timeout, only the affected endpoints fail.
#[test]
fn stripe_index_drop_starves_every_endpoint_until_the_fix_and_bulkheads_hold() {
    let incident = load_bundled("stripe-2015-10-index-drop.yaml");
    let r = rewind::model::replay(incident.baseline.clone());
    let (drop, patch) = (entry_at(&incident, "drop"), entry_at(&incident, "patch"));
    assert_eq!(patch - drop, 5400.0, "the report's ~90 minutes");

    // Within a minute every worker (4 hosts x 8) is busy; until the fix the affected
    // route holds most of them.
    let workers = 32.0;
    let inflight = column(&r, "api.inflight");
    assert!(inflight[drop as usize - 1] < workers / 2.0);
    assert!((drop as usize..drop as usize + 60).any(|i| inflight[i] == workers));
    let from = drop + 120.0;
    let held = sum_between(&r, "api.affected.inflight", from, patch) / (patch - from);
    assert!(held > workers / 2.0, "{held}");

    // Every endpoint fails, not only the affected ones: the other route's share of
    // 200s falls with them. Its success is bounded by the workers left:
    // workers / (rate x (share x 30 s + the rest's mean work)).
    let other_ok = sum_between(&r, "edge.other.status_200", from, patch);
    let other_all: f64 = rewind::outcome::STATUSES
        .iter()
        .map(|c| sum_between(&r, &format!("edge.other.status_{c}"), from, patch))
        .sum();
    let other_success = other_ok / other_all;
    let t_other = lognormal_mean(25e-3, 150e-3) + lognormal_mean(3e-3, 30e-3);
    let bound = workers / (150.0 * (0.015 * 30.0 + 0.985 * t_other));
    assert!(other_success < bound, "{other_success} vs at most {bound}");
    // About two thirds of all requests fail over the window (the report's figure).
    let failed = failed_share(&r, "merchants", drop, patch);
    assert!((failed - 2.0 / 3.0).abs() < 0.05, "{failed}");
    // The patch brings them back within two minutes.
    assert!(rows_with_5xx_after_at(&r, "edge", patch + 120.0).is_empty());
    assert!(failed_share(&r, "merchants", patch + 120.0, r.duration.as_secs_f64()) < 0.001);

    // Workers reserved for the other endpoints: they keep working; the affected ones
    // are shed.
    let reserved = variant(&incident, "reserved-workers");
    assert!(sum_between(&reserved, "api.affected.shed", drop, patch) > 0.0);
    let ok = sum_between(&reserved, "edge.other.status_200", from, patch);
    let all = sum_between(&reserved, "edge.other.requests", from, patch);
    assert!(ok / all > 0.99, "{}", ok / all);
    // A 1 s query timeout frees the workers: the other endpoints hold too.
    let fast_fail = variant(&incident, "query-timeout-1s");
    let ok = sum_between(&fast_fail, "edge.other.status_200", from, patch);
    let all = sum_between(&fast_fail, "edge.other.requests", from, patch);
    assert!(ok / all > 0.99, "{}", ok / all);
}

/// Start of each row at or after `from_s` in which `gateway` answered a 5xx or
/// logged a 499.
fn rows_with_5xx_after_at(r: &RunResult, gateway: &str, from_s: f64) -> Vec<f64> {
    rows_with_statuses_after(r, gateway, &[499, 500, 502, 503, 504], from_s)
}

/// Start of each row at or after `from_s` in which `gateway` answered any of
/// `statuses`.
fn rows_with_statuses_after(
    r: &RunResult,
    gateway: &str,
    statuses: &[u16],
    from_s: f64,
) -> Vec<f64> {
    let cols: Vec<usize> = statuses
        .iter()
        .map(|c| {
            let name = format!("{gateway}.status_{c}");
            r.series
                .column(&name)
                .unwrap_or_else(|| panic!("no column {name}"))
        })
        .collect();
    (0..r.series.rows())
        .filter(|&i| r.series.time_s(i) >= from_s)
        .filter(|&i| cols.iter().any(|&c| r.series.row(i)[c] > 0.0))
        .map(|i| r.series.time_s(i))
        .collect()
}
