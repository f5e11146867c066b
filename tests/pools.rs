//! Pool waiting rules (go-sql, hikari) and the release modes of a batch job.

use crate::util::{column, first, mean_and_se, replay, status};

fn stuck_db(context: &str, seconds: u32) -> String {
    format!(
        r#"
name: t
duration: {seconds}s
clients:
  - name: users
    to: edge
    rate: 1/s
    arrivals: constant
gateways:
  - name: edge
    upstream: [api]
services:
  - name: api
    handler:
      context: {context}
      steps:
        - query: db-pool
    pools:
      - name: db-pool
        profile: go-sql
        database: db
        max_open: 1
databases:
  - name: db
    latency: {{constant: 1h}}
"#
    )
}

#[test]
fn go_sql_waits_on_a_background_context_never_end() {
    let r = replay(&stuck_db("background", 600));
    // Requests at 1, 2, ..., 599 s (the one due at exactly 600 s, the end, is not
    // replayed). One holds the only connection; every later one waits for good, even
    // after nginx gave up on it at 60 s.
    assert_eq!(r.pools[0].peak_waiting, 598);
    assert_eq!(r.pools[0].timeouts, 0);
    assert_eq!(r.services[0].peak_inflight, 599);
    // Those sent at 1..=539 s time out by 599 s; the next would at 600 s, the end.
    assert_eq!(status(&r, 504), 539);
}

#[test]
fn go_sql_waits_on_the_request_context_end_when_nginx_disconnects() {
    let r = replay(&stuck_db("request", 600));
    // Waiters are cancelled at proxy_read_timeout, so at most a minute's worth wait.
    assert!(
        r.pools[0].peak_waiting <= 60,
        "peak {}",
        r.pools[0].peak_waiting
    );
    assert!(r.services[0].peak_inflight <= 61);
    // Requests at 1..=599 s; those sent by 539 s time out before the end (600 s).
    assert_eq!(status(&r, 504), 539);
    // Every timed-out handler is cancelled unanswered but the one holding the
    // connection, whose query outlives the replay.
    assert_eq!(r.services[0].unanswered, 539 - 1);
}

#[test]
fn hikari_gives_up_after_connection_timeout_30s_and_the_handler_answers_500() {
    let yaml = r#"
name: t
duration: 2m
clients:
  - name: users
    to: edge
    rate: 1/s
    arrivals: constant
gateways:
  - name: edge
    upstream: [api]
services:
  - name: api
    handler:
      steps:
        - query: db-pool
    pools:
      - name: db-pool
        profile: hikari
        database: db
databases:
  - name: db
    latency: {constant: 1h}
"#;
    let r = replay(yaml);
    // maximumPoolSize 10: requests 1..10 (t = 1..10 s) hold connections; request 11
    // (t = 11 s) waits connectionTimeout 30 s, then the handler answers 500.
    assert!((first(&r, 500).expect("a 500") - 41.0).abs() < 0.01);
    assert_eq!(r.pools[0].timeouts, status(&r, 500));
}

#[test]
fn the_database_refuses_connections_beyond_max_connections() {
    let r = replay(&DB_FULL.replace("{rate}", "1/s"));
    // 3 replicas x 10 connections > 25: the 26th connection is refused ("too many
    // clients already") and that handler answers 500.
    assert_eq!(status(&r, 500), r.pools[0].refused);
    assert!((first(&r, 500).expect("a 500") - 26.0).abs() < 0.01);
    let last = r.series.rows() - 1;
    let c = r.series.column("db.connections").expect("column");
    assert_eq!(r.series.row(last)[c], 25.0);
}

#[test]
fn a_go_sql_pool_refused_by_a_full_database_notes_db_refused_once_per_run_of_refusals() {
    // As above: one request a second from t = 1 s, each holding its connection for an
    // hour, so the 26th, at 26 s, is the first the database refuses. Every later one
    // is refused too (no connection is ever given back): one run of refusals, one
    // occurrence, however many replicas' pools are refused in it.
    let r = replay(&DB_FULL.replace("{rate}", "1/s"));
    let refused = crate::util::occurrences(&r, "db_refused");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!((refused[0].0 - 26.0).abs() < 1e-6, "{refused:?}");
    assert!(
        refused[0]
            .1
            .contains("db refused a new connection: max_connections 25 reached"),
        "{}",
        refused[0].1
    );
    assert!(r.pools[0].refused > 1);
    assert_eq!(
        r.occurrences
            .iter()
            .find(|o| o.kind == "db_refused")
            .map(|o| o.component.as_str()),
        Some("db-pool")
    );
}

#[test]
fn a_hikari_pool_refused_at_start_notes_it_once_not_again_at_each_borrower() {
    // 3 x 40 against 100: replica 2 is refused 20 of its 40 at start; its 21st
    // borrower, at 21 s, is refused a new connection again within the same run of
    // refusals, which the note at start already told.
    let r = replay(&hikari_fleet(3, "3/s"));
    let refused = crate::util::occurrences(&r, "db_refused");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, 0.0);
    assert!(r.pools[0].refused > 20, "{}", r.pools[0].refused);
}

/// A fleet of three Go-sql replicas of 10 connections against a database of 25.
const DB_FULL: &str = r#"
name: t
duration: 1m
clients:
  - name: users
    to: edge
    rate: {rate}
    arrivals: constant
gateways:
  - name: edge
    upstream: [api]
services:
  - name: api
    replicas: 3
    handler:
      steps:
        - query: db-pool
    pools:
      - name: db-pool
        profile: go-sql
        database: db
        max_open: 10
databases:
  - name: db
    latency: {constant: 1h}
    max_connections: 25
"#;

/// M/D/1 through a pool of one connection: Poisson requests at 0.9/s, queries of
/// exactly 1 s. The mean time in system is the same for any order that ignores query
/// length (Pollaczek-Khinchine: W = 1 + rho / (2 mu (1 - rho)) = 5.5 s); the tail is
/// not: handing connections to random waiters (go-sql) stretches it.
fn md1_pool(profile: &str, seed: u64) -> (f64, f64) {
    let yaml = format!(
        r#"
name: t
seed: {seed}
duration: 20000s
resolution: 1m
clients:
  - name: users
    to: edge
    rate: 0.9/s
gateways:
  - name: edge
    upstream: [api]
    proxy_read_timeout: 1h
services:
  - name: api
    handler:
      steps:
        - query: db-pool
    pools:
      - name: db-pool
        profile: {profile}
        database: db
        max_open: 1
        acquire_timeout: 1h
databases:
  - name: db
    latency: {{constant: 1s}}
"#
    );
    let r = replay(&yaml);
    let c = &r.clients[0];
    (
        c.latency_sum_s / c.ok as f64,
        r.gateways[0].p99_ms.unwrap_or(0.0) / 1000.0,
    )
}

#[test]
fn go_sql_serves_waiters_in_random_order_and_hikari_in_fifo_order() {
    let seeds = 1..=8u64;
    let random: Vec<(f64, f64)> = seeds.clone().map(|s| md1_pool("go-sql", s)).collect();
    let fifo: Vec<(f64, f64)> = seeds.map(|s| md1_pool("hikari", s)).collect();
    for (name, runs) in [("go-sql", &random), ("hikari", &fifo)] {
        let means: Vec<f64> = runs.iter().map(|r| r.0).collect();
        let (m, se) = mean_and_se(&means);
        assert!(se < 0.05 * 5.5, "{name}: se {se}");
        assert!(
            (m - 5.5).abs() <= 4.0 * se,
            "{name}: W {m:.3} vs 5.5 (se {se:.3})"
        );
    }
    let p99 = |runs: &[(f64, f64)]| runs.iter().map(|r| r.1).sum::<f64>() / runs.len() as f64;
    assert!(
        p99(&random) > 1.5 * p99(&fifo),
        "random order p99 {:.1} s vs FIFO {:.1} s",
        p99(&random),
        p99(&fifo)
    );
}

fn job(release: &str, every: &str) -> String {
    format!(
        r#"
name: t
duration: 31m
services:
  - name: worker
    handler:
      steps:
        - work: {{constant: 1ms}}
    pools:
      - name: db-pool
        profile: go-sql
        database: db
        max_open: 20
    jobs:
      - name: batch
        pool: db-pool
        every: {every}
        iterations: 5
        release: {release}
databases:
  - name: db
    latency: {{constant: 2s}}
"#
    )
}

#[test]
fn per_iteration_holds_one_connection_at_a_time() {
    let r = replay(&job("per_iteration", "10m"));
    let in_use = column(&r, "db-pool.in_use");
    assert_eq!(in_use.iter().cloned().fold(0.0, f64::max), 1.0);
    assert_eq!(r.pools[0].leaked, 0);
    // Runs at 10, 20, 30 min, 5 x 2 s each.
    let running = column(&r, "batch.running");
    assert_eq!(running.iter().filter(|v| **v > 0.0).count(), 3 * 10);
}

#[test]
fn at_function_return_holds_every_connection_until_the_run_ends() {
    let r = replay(&job("at_function_return", "10m"));
    let in_use = column(&r, "db-pool.in_use");
    // The run at 600 s takes a connection every 2 s and returns all five at 610 s.
    // Row i covers [i, i + 1) and gauges are read at its end, so the connection taken
    // at exactly 600 s shows from row 600 on, and those returned at 610 s in row 610.
    assert_eq!(
        &in_use[599..612],
        &[0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 0.0, 0.0]
    );
    assert_eq!(r.pools[0].leaked, 0);
}

#[test]
fn last_only_leaks_all_but_the_last_connection_of_every_run() {
    let r = replay(&job("last_only", "10m"));
    assert_eq!(r.pools[0].leaked, 3 * 4);
    let leaked = column(&r, "db-pool.leaked");
    let in_use = column(&r, "db-pool.in_use");
    let last = leaked.len() - 1;
    assert_eq!(leaked[last], 12.0);
    assert_eq!(in_use[last], 12.0, "leaked connections stay in use");
}

#[test]
fn a_run_that_outlasts_the_period_delays_the_next_one() {
    // 5 iterations x 2 s = 10 s of work every 5 s: each run starts when the last ends.
    let r = replay(&job("per_iteration", "5s"));
    let running = column(&r, "batch.running");
    let busy = running.iter().filter(|v| **v > 0.0).count();
    assert!(
        busy as f64 > 0.99 * running.len() as f64 - 5.0,
        "busy {busy} of {}",
        running.len()
    );
}

fn hikari_fleet(replicas: u32, rate: &str) -> String {
    format!(
        r#"
name: t
duration: 5m
clients:
  - name: users
    to: edge
    rate: {rate}
    arrivals: constant
gateways:
  - name: edge
    upstream: [api]
services:
  - name: api
    replicas: {replicas}
    restart: {{startup: 1s}}
    handler:
      steps:
        - query: db-pool
    pools:
      - name: db-pool
        profile: hikari
        database: db
        max_open: 40
databases:
  - name: db
    latency: {{constant: 1h}}
    max_connections: 100
"#
    )
}

#[test]
fn hikari_opens_its_whole_pool_at_start() {
    let r = replay(&hikari_fleet(2, "0.001/s"));
    let c = r.series.column("db.connections").expect("column");
    assert_eq!(
        r.series.row(0)[c],
        80.0,
        "2 replicas x 40, before any request"
    );
    assert_eq!(r.pools[0].refused, 0);
}

#[test]
fn a_replica_whose_pool_gets_no_connection_crash_loops_with_the_back_off() {
    // 3 x 40 > 100: the third replica gets 20, so it starts; a fourth would get none.
    let r = replay(&hikari_fleet(4, "0.001/s"));
    let refused = crate::util::occurrences(&r, "db_refused");
    assert!(
        refused[0]
            .1
            .contains("refused 20 of the 40 connections replica 2"),
        "{}",
        refused[0].1
    );
    assert!(
        refused[1]
            .1
            .contains("refused 40 of the 40 connections replica 3"),
        "{}",
        refused[1].1
    );
    let crashes: Vec<f64> = crate::util::occurrences(&r, "crash")
        .iter()
        .map(|o| o.0)
        .collect();
    let restarts: Vec<f64> = crate::util::occurrences(&r, "restart")
        .iter()
        .map(|o| o.0)
        .collect();
    // Immediate restart, then 10 s, 20 s, 40 s, 80 s: CrashLoopBackOff.
    assert_eq!(&restarts[..5], &[0.0, 10.0, 30.0, 70.0, 150.0]);
    assert_eq!(crashes.len(), restarts.len() + 1);
}

#[test]
fn a_hikari_borrower_whose_connection_cannot_be_opened_waits_connection_timeout() {
    // The third replica has 20 of its 40 connections; once they are held, its 21st
    // borrower waits 30 s (HikariCP) instead of failing at once (database/sql).
    let r = replay(&hikari_fleet(3, "3/s"));
    let first_500 = first(&r, 500).expect("a 500");
    // Requests go round-robin, one per third of a second; replica 2 sees every third:
    // its 21st arrives at 21 s, and answers 500 at 51 s.
    assert!((first_500 - 51.0).abs() < 0.5, "first 500 at {first_500}");
    assert_eq!(r.pools[0].timeouts, status(&r, 500));
}
