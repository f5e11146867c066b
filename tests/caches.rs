//! Caches: hit ratios and fills against the arithmetic of TTL and arrival rate (one
//! key, K uniform keys, Zipf's law, single-flight's coalesced misses), exact counts
//! with constant arrivals, one fill per key with single-flight, the waiters of a
//! failed fill, a failed fill that deletes a fresh entry (`invalidate_on_error`),
//! serve-stale, and the stampedes that emerge: a restart empties a
//! per-process cache, entries filled together expire together, a flush.
//! Statistical checks replay R seeds and require theory within Z standard errors of
//! the mean, as `queueing` does.

use rewind::outcome::{CacheTotals, RunResult};

use crate::util::{check, column_sum, occurrences, replay};

/// One service called straight by a client at `rate`, whose handler has one cached
/// step in front of `inner`; the cache's settings are `cache`.
fn cached_service(seed: u64, duration: &str, rate: &str, cache: &str, inner: &str) -> String {
    format!(
        r#"
name: cache
seed: {seed}
duration: {duration}
clients:
  - {{name: c, to: api, rate: {rate}}}
caches:
  - {{name: kv, {cache}}}
services:
  - name: api
    handler:
      steps:
        - cached: {{cache: kv, steps: [{inner}]}}
"#
    )
}

fn totals(r: &RunResult) -> &CacheTotals {
    &r.caches[0]
}

fn hit_ratio(t: &CacheTotals) -> f64 {
    t.hits as f64 / t.lookups as f64
}

/// Poisson arrivals at λ per key and a TTL T, with fills that take no time: each miss
/// stores an entry that every arrival of the next T hits, and the next arrival after
/// it misses. A cycle holds 1 miss and λT hits on average, so the hit ratio is
/// λT / (1 + λT), and the fills come at λ / (1 + λT) per key. With K uniform keys each
/// sees λ / K.
#[test]
fn hit_ratio_and_fills_follow_the_ttl_and_the_arrival_rate() {
    for (rate, keys, ttl_s) in [(4.0f64, 1u32, 0.5f64), (50.0, 100, 2.0)] {
        let duration = 2000.0;
        let per_key = rate / f64::from(keys) * ttl_s;
        let runs: Vec<RunResult> = (1..=10)
            .map(|seed| {
                replay(&cached_service(
                    seed,
                    "2000s",
                    &format!("{rate}/s"),
                    &format!("keys: {keys}, ttl: {}ms, start: cold", ttl_s * 1000.0),
                    "{work: {constant: 0s}}",
                ))
            })
            .collect();
        let ratios: Vec<f64> = runs.iter().map(|r| hit_ratio(totals(r))).collect();
        check(
            &format!("hit ratio, {keys} keys at {rate}/s, TTL {ttl_s}s"),
            &ratios,
            per_key / (1.0 + per_key),
            0.01,
        );
        let fill_rates: Vec<f64> = runs
            .iter()
            .map(|r| totals(r).fills as f64 / duration)
            .collect();
        check(
            &format!("fills per second, {keys} keys at {rate}/s, TTL {ttl_s}s"),
            &fill_rates,
            rate / (1.0 + per_key),
            0.01,
        );
        for r in &runs {
            let t = totals(r);
            assert_eq!(t.lookups, t.hits + t.misses);
            assert_eq!(t.fills, t.misses, "every miss fills (no single-flight)");
            assert_eq!(t.lookups, r.services[0].ok);
        }
    }
}

/// Zipf's law over K keys: key k is asked for at λ p_k, so the hit ratio is the
/// mixture Σ p_k λ p_k T / (1 + λ p_k T).
#[test]
fn zipf_popularity_gives_the_mixture_of_per_key_hit_ratios() {
    let (rate, keys, ttl_s, s) = (100.0f64, 1000u32, 1.0f64, 1.0f64);
    let norm: f64 = (1..=keys).map(|k| f64::from(k).powf(-s)).sum();
    let theory: f64 = (1..=keys)
        .map(|k| {
            let p = f64::from(k).powf(-s) / norm;
            let x = rate * p * ttl_s;
            p * x / (1.0 + x)
        })
        .sum();
    let ratios: Vec<f64> = (1..=10)
        .map(|seed| {
            let r = replay(&cached_service(
                seed,
                "1000s",
                "100/s",
                "keys: 1000, ttl: 1s, popularity: {zipf: {s: 1.0}}, start: cold",
                "{work: {constant: 0s}}",
            ));
            hit_ratio(totals(&r))
        })
        .collect();
    check("Zipf(1.0) hit ratio", &ratios, theory, 0.01);
}

/// With single-flight and a fill that takes d, the arrivals during the fill wait for
/// it: λd coalesced misses and λT hits per fill on average, one fill per cycle.
#[test]
fn single_flight_coalesces_the_arrivals_during_a_fill() {
    let (rate, d, ttl) = (10.0f64, 0.2f64, 1.0f64);
    let runs: Vec<CacheTotals> = (1..=10)
        .map(|seed| {
            let r = replay(&cached_service(
                seed,
                "2000s",
                "10/s",
                "keys: 1, ttl: 1s, single_flight: true, start: cold",
                "{work: {constant: 200ms}}",
            ));
            totals(&r).clone()
        })
        .collect();
    let coalesced: Vec<f64> = runs
        .iter()
        .map(|t| t.coalesced as f64 / t.fills as f64)
        .collect();
    check("coalesced per fill", &coalesced, rate * d, 0.02);
    let ratios: Vec<f64> = runs.iter().map(hit_ratio).collect();
    check(
        "hit ratio with single-flight",
        &ratios,
        rate * ttl / (1.0 + rate * d + rate * ttl),
        0.01,
    );
    for t in &runs {
        // The last owner may still be filling at the end.
        assert!(t.misses - t.fills - t.coalesced <= 1, "{t:?}");
    }
}

/// Constant arrivals every 100 ms and one key with a 1 s TTL: one miss, then nine
/// hits, over and over (the arrival at exactly the expiry misses).
#[test]
fn constant_arrivals_give_exact_counts() {
    let r = replay(&cached_service(
        1,
        "100s",
        "10/s, arrivals: constant",
        "keys: 1, ttl: 1s, start: cold",
        "{work: {constant: 0s}}",
    ));
    let t = totals(&r);
    // Arrivals at 0.1, 0.2, ..., 99.9 s; misses at 0.1, 1.1, ..., 99.1 s.
    assert_eq!((t.lookups, t.hits, t.misses, t.fills), (999, 899, 100, 100));
    let fills = r.series.column_values("kv.fills").expect("column");
    assert!(fills.iter().all(|&f| f == 1.0), "one fill a second");
}

/// A key that expires while its query is slow: without single-flight every request
/// in the meantime queries the database; with it one query fills the key and the
/// others wait for it, then hit.
#[test]
fn single_flight_sends_one_fill_per_key_to_the_database() {
    let text = |single_flight: bool| {
        format!(
            r#"
name: sf
duration: 3s
clients:
  - {{name: c, to: api, rate: 100/s, arrivals: constant}}
caches:
  - {{name: kv, keys: 1, ttl: 1m, single_flight: {single_flight}, start: cold}}
services:
  - name: api
    handler:
      steps:
        - cached: {{cache: kv, steps: [{{query: db-pool}}]}}
    pools:
      - {{name: db-pool, profile: go-sql, database: db}}
databases:
  - {{name: db, latency: {{constant: 1s}}}}
"#
        )
    };
    let on = replay(&text(true));
    let t = totals(&on);
    assert_eq!(on.databases[0].queries, 1, "one query for the key");
    assert_eq!(t.fills, 1);
    // Arrivals at 10 ms, 20 ms, ...: the one at 10 ms fills until 1.01 s; the 99
    // before 1.01 s wait for it, the rest hit.
    assert_eq!((t.misses, t.coalesced), (100, 99));
    assert_eq!(t.peak_filling, 1);
    assert_eq!(on.services[0].errors, 0);
    let off = replay(&text(false));
    let t = totals(&off);
    assert_eq!(
        off.databases[0].queries, 100,
        "a query per request until the first fill"
    );
    assert_eq!((t.misses, t.fills, t.coalesced), (100, 100, 0));
    assert_eq!(t.peak_filling, 100);
}

/// When the fill's owner fails, its waiters do not wait for ever: they all get its
/// error at that instant (Go's singleflight returns the one error to every caller),
/// and the next miss tries again.
#[test]
fn the_waiters_of_a_failed_fill_get_its_error() {
    let r = replay(
        r#"
name: failed-fill
duration: 2s
clients:
  - {name: c, to: edge, rate: 100/s, arrivals: constant}
gateways:
  - {name: edge, upstream: [api]}
caches:
  - {name: kv, keys: 1, ttl: 1m, single_flight: true, start: cold}
services:
  - name: api
    handler:
      steps:
        - cached:
            cache: kv
            steps: [{call: {service: slow, timeout: 300ms, error_status: 503}}]
  - name: slow
    handler: {steps: [{work: {constant: 10s}}]}
"#,
    );
    let t = totals(&r);
    // Owners at 10 ms, 310 ms, ..., 1,810 ms: each call times out 300 ms later (before
    // the arrival at that instant, which becomes the next owner), and the 29 requests
    // that waited for it answer its 503 with it. The last owner is still calling.
    assert_eq!((t.fills, t.fill_errors), (0, 6), "{t:?}");
    assert_eq!(r.calls[0].counts.failed, 6);
    assert_eq!(t.misses, 7 + t.coalesced);
    assert_eq!(t.coalesced, 6 * 29 + 18);
    let g = &r.gateways[0];
    assert_eq!(crate::util::status(&r, 200), 0);
    // Only the last owner and those waiting for it are in flight at the end.
    assert_eq!(g.in_flight_at_end, 19);
    assert_eq!(
        crate::util::status(&r, 503),
        g.requests - g.in_flight_at_end,
        "every answered request got the owner's 503"
    );
}

/// A shared cache's fill owner dies with its process: the handlers of the other
/// replica that waited for it get an error at once.
#[test]
fn the_waiters_of_a_fill_whose_process_died_get_an_error() {
    let r = replay(
        r#"
name: died
duration: 10s
clients:
  - {name: c, to: api, rate: 10/s, arrivals: constant}
caches:
  - {name: kv, scope: shared, keys: 1, ttl: 1h, single_flight: true, start: cold, lookup: {constant: 0s}}
services:
  - name: api
    replicas: 2
    handler:
      steps:
        - cached: {cache: kv, steps: [{work: {constant: 3s}}]}
timeline:
  - {at: 1s, kill: {service: api, replica: 0}}
"#,
    );
    let t = totals(&r);
    // The owner (the first request, on replica 0) dies at 1 s; the waiters on replica 1
    // fail then, and a later miss on replica 1 fills the key at last.
    assert_eq!(t.fill_errors, 1, "{t:?}");
    assert_eq!(t.fills, 1, "{t:?}");
    assert!(r.services[0].errors >= 4, "{:?}", r.services[0]);
    assert_eq!(r.clients[0].in_flight_at_end, 0);
}

/// A per-process cache is lost with its process: after a kill the restarted process
/// misses every key again, while a shared cache keeps its entries.
#[test]
fn a_restart_empties_a_process_cache_and_fills_spike() {
    let text = |scope: &str| {
        format!(
            r#"
name: restart
duration: 60s
clients:
  - {{name: c, to: api, rate: 200/s}}
caches:
  - {{name: kv, scope: {scope}, keys: 500, ttl: 1h}}
services:
  - name: api
    handler:
      steps:
        - cached: {{cache: kv, steps: [{{work: {{constant: 1ms}}}}]}}
timeline:
  - {{at: 30s, kill: {{service: api}}}}
"#
        )
    };
    let process = replay(&text("process"));
    let fills = process.series.column_values("kv.fills").expect("column");
    let before: f64 = fills[..30].iter().sum();
    let after: f64 = fills[30..].iter().sum();
    // Steady at the start: expiries spread over the hour, 30 s of it before the kill.
    assert!(before < 15.0, "{before}");
    assert!(
        after > 400.0,
        "the restarted process fills its keys again: {after}"
    );
    let emptied = occurrences(&process, "cache_emptied");
    assert_eq!(emptied.len(), 1, "{emptied:?}");
    assert_eq!(emptied[0].0, 30.0);
    assert_eq!(totals(&process).emptied, 1);
    let shared = replay(&text("shared"));
    // A shared cache survives the restart: only the spread expiries fill.
    assert!(totals(&shared).fills < 20, "{:?}", totals(&shared));
    assert!(occurrences(&shared, "cache_emptied").is_empty());
}

/// Entries filled together expire together: a burst of misses one TTL after the
/// start. Filled at spread instants (the default), misses stay at their steady rate.
#[test]
fn entries_filled_together_expire_together() {
    let text = |start: &str| {
        format!(
            r#"
name: together
duration: 90s
clients:
  - {{name: c, to: api, rate: 200/s}}
caches:
  - {{name: kv, keys: 1000, ttl: 60s, start: {start}}}
services:
  - name: api
    handler:
      steps:
        - cached: {{cache: kv, steps: [{{work: {{constant: 1ms}}}}]}}
"#
        )
    };
    let together = replay(&text("together"));
    let misses = together.series.column_values("kv.misses").expect("column");
    assert!(
        misses[..60].iter().all(|&m| m == 0.0),
        "all fresh until 60 s"
    );
    // At 0.2/s per key, 1 - e^-0.2 of the 1,000 keys are asked for within the second.
    assert!(misses[60] > 130.0, "the stampede at 60 s: {}", misses[60]);
    let steady = replay(&text("steady"));
    let misses = steady.series.column_values("kv.misses").expect("column");
    let peak = misses.iter().copied().fold(0.0, f64::max);
    assert!(peak < 50.0, "spread expiries: no burst ({peak})");
}

/// Serve-stale: once an entry expires it is still served while one background
/// refresh runs, so requests never wait for the database after the first fill.
#[test]
fn serve_stale_serves_while_one_refresh_runs() {
    let r = replay(
        r#"
name: stale
duration: 100s
clients:
  - {name: c, to: api, rate: 10/s, arrivals: constant}
caches:
  - {name: kv, keys: 1, ttl: 1s, serve_stale: 10s, start: cold}
services:
  - name: api
    handler:
      steps:
        - cached: {cache: kv, steps: [{query: db-pool}]}
    pools:
      - {name: db-pool, profile: go-sql, database: db}
databases:
  - {name: db, latency: {constant: 450ms}}
"#,
    );
    let t = totals(&r);
    // The first 5 arrivals miss (0.1 to 0.5 s) and each fills. Then every 1.5 s: a stale
    // lookup starts the refresh, 4 more are served stale during its 450 ms, 10 hit.
    assert_eq!(t.misses, 5, "{t:?}");
    let cycles = t.fills - 5;
    assert!((64..=67).contains(&cycles), "{t:?}");
    assert!(t.stale.abs_diff(5 * cycles) <= 5, "{t:?}");
    assert!(t.hits.abs_diff(10 * cycles) <= 10, "{t:?}");
    assert_eq!(r.databases[0].queries, t.fills);
    // Only the first misses waited for the database.
    let svc = &r.services[0];
    assert!(
        svc.response_sum_s < 5.0 * 0.45 + 0.01,
        "{}",
        svc.response_sum_s
    );
    // The refreshes are not requests of the service.
    assert_eq!(svc.ok, r.clients[0].sent);
}

/// `flush_cache` empties a shared cache: every key misses once after it.
#[test]
fn a_flush_empties_the_cache() {
    let r = replay(
        r#"
name: flush
duration: 40s
clients:
  - {name: c, to: api, rate: 200/s}
caches:
  - {name: kv, scope: shared, keys: 200, ttl: 1h}
services:
  - name: api
    replicas: 3
    handler:
      steps:
        - cached: {cache: kv, steps: [{work: {constant: 1ms}}]}
timeline:
  - {at: 20s, flush_cache: {cache: kv}}
"#,
    );
    let fills = r.series.column_values("kv.fills").expect("column");
    let before: f64 = fills[..20].iter().sum();
    let after: f64 = fills[20..].iter().sum();
    // Steady at the start: expiries spread over the hour, 20 s of it before the flush.
    assert!(before < 10.0, "{before}");
    // Every key once, and a few twice: misses of one key during its fill.
    assert!((200.0..=215.0).contains(&after), "{after}");
    assert_eq!(totals(&r).emptied, 1);
}

/// A fixed hit ratio: lookups hit with that probability, with no entries.
#[test]
fn a_fixed_hit_ratio_hits_with_its_probability() {
    let ratios: Vec<f64> = (1..=10)
        .map(|seed| {
            let r = replay(&cached_service(
                seed,
                "500s",
                "100/s",
                "hit_ratio: 0.9",
                "{work: {constant: 1ms}}",
            ));
            hit_ratio(totals(&r))
        })
        .collect();
    check("fixed hit ratio", &ratios, 0.9, 0.01);
}

/// Same file, same seed: the same cache counts, row by row.
#[test]
fn caches_replay_deterministically() {
    let text = cached_service(
        7,
        "60s",
        "300/s",
        "keys: 5000, ttl: 5s, popularity: {zipf: {s: 0.9}}, single_flight: true, serve_stale: 2s",
        "{work: {exponential: {mean: 20ms}}}",
    );
    let a = replay(&text);
    let b = replay(&text);
    assert_eq!(a.series.values.len(), b.series.values.len());
    assert!(a
        .series
        .values
        .iter()
        .zip(&b.series.values)
        .all(|(x, y)| x.to_bits() == y.to_bits()));
    assert_eq!(format!("{:?}", a.caches), format!("{:?}", b.caches));
}

/// A `cached` block in the second route of a service: its steps sit after the first
/// route's in the service's one list, so a hit must skip to the step after the block
/// in that route (the block's end is an index into the whole list), not into another
/// route's steps.
#[test]
fn a_cached_block_in_a_later_route_skips_its_own_steps() {
    let r = replay(
        r#"
name: cached-route
seed: 3
duration: 60s
clients:
  - {name: c, to: edge, rate: 20/s, routes: {plain: 50%, lookup: 50%}}
gateways:
  - {name: edge, upstream: [api]}
caches:
  - {name: kv, keys: 1, ttl: 1h, start: together}
services:
  - name: api
    routes:
      - name: plain
        steps: [{work: {constant: 300ms}}]
      - name: lookup
        steps:
          - cached: {cache: kv, steps: [{work: {constant: 2s}}]}
          - work: {constant: 10ms}
"#,
    );
    let t = totals(&r);
    let lookups = column_sum(&r, "edge.lookup.requests");
    assert!(lookups > 400.0, "{lookups} lookup requests");
    // Every lookup hits (one key, held from the start for an hour) and goes on at the
    // route's own last step: 10 ms, neither the 2 s behind the cache nor the other
    // route's 300 ms.
    assert_eq!(t.hits, t.lookups);
    assert_eq!(t.lookups as f64, lookups);
    let p99 = crate::util::column_max(&r, "edge.lookup.p99_ms");
    assert!((10.0..50.0).contains(&p99), "lookup route p99 {p99} ms");
    let plain = crate::util::column_max(&r, "edge.plain.p50_ms");
    assert!(
        (300.0..350.0).contains(&plain),
        "plain route p50 {plain} ms"
    );
}

/// `invalidate_on_error`: a fill that fails deletes the key's entry even though
/// another fill stored it while it ran. Each second a good request fills the one key
/// in 100 ms and a bad one, arriving with it, fails its fill at 300 ms: with the rule
/// every lookup misses (the bad fill deletes what the good one stored), without it
/// the first good fill holds for the TTL.
#[test]
fn a_failed_fill_deletes_a_fresh_entry_with_invalidate_on_error() {
    let yaml = |invalidate: bool| {
        format!(
            r#"
name: invalidate
duration: 60s
clients:
  - {{name: good, to: api, rate: 1/s, arrivals: constant, routes: {{good: 100%}}}}
  - {{name: bad, to: api, rate: 1/s, arrivals: constant, routes: {{bad: 100%}}}}
caches:
  - {{name: kv, keys: 1, ttl: 1h, start: cold, invalidate_on_error: {invalidate}}}
services:
  - name: api
    routes:
      - name: good
        steps: [{{cached: {{cache: kv, steps: [{{work: {{constant: 100ms}}}}]}}}}]
      - name: bad
        steps: [{{cached: {{cache: kv, steps: [{{work: {{constant: 300ms}}}}, {{call: {{service: broken}}}}]}}}}]
  - name: broken
    faults: {{abort: {{http_status: 503, percentage: 100}}}}
    handler: {{steps: [{{work: {{constant: 1ms}}}}]}}
"#
        )
    };
    let on = replay(&yaml(true));
    let n = on.clients[0].sent;
    let t = totals(&on);
    assert_eq!((t.lookups, t.misses, t.hits), (2 * n, 2 * n, 0), "{t:?}");
    assert_eq!((t.fills, t.fill_errors, t.invalidated), (n, n, n), "{t:?}");
    assert_eq!(on.clients[1].failed, n);
    let off = replay(&yaml(false));
    let t = totals(&off);
    assert_eq!(
        (t.misses, t.fills, t.fill_errors, t.invalidated),
        (2, 1, 1, 0)
    );
    assert_eq!(off.clients[1].failed, 1);
}
