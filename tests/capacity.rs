//! Capacity: CPU limits shared by processor sharing (M/G/1-PS whatever the work law,
//! M/M/c with c CPUs; handlers and a job's `work` alike, a thread pool's running
//! handlers), databases whose cores saturate, a handler's statement of its own time,
//! `statement_timeout`, the cost of a new connection, and the autoscaler on CPU.
//! Statistical checks replay R fixed seeds (1..=R) and require theory within Z
//! standard errors of the mean, the standard error taken from the spread between the
//! replications (`util::check`), as `queueing` does; the rest are hand-computed
//! instants with constant arrivals and latencies, exact to rounding.

use crate::util::{check, column, column_max, occurrences, replay};

/// One service, a goroutine per request, `cpus` cores, one `work` step of `work`;
/// Poisson arrivals at `rate` per second straight to the service.
fn cpu_bound(rate: f64, cpus: &str, work: &str, duration: &str, seed: u64) -> String {
    format!(
        r#"
name: ps
seed: {seed}
duration: {duration}
clients:
  - {{name: c, to: api, rate: {rate}/s}}
services:
  - name: api
    cpus: {cpus}
    handler: {{steps: [{{work: {work}}}]}}
"#
    )
}

/// Mean time in the service per seed (from accept to answer), and the mean of the
/// `api.cpu_utilisation` column.
fn sojourn_and_utilisation(rate: f64, cpus: &str, work: &str, seed: u64) -> (f64, f64) {
    let r = replay(&cpu_bound(rate, cpus, work, "20000s", seed));
    let t = &r.services[0];
    let cpu = column(&r, "api.cpu_utilisation");
    let u = cpu.iter().sum::<f64>() / cpu.len() as f64;
    (t.response_sum_s / t.ok as f64, u)
}

/// M/G/1 processor sharing: the mean sojourn is E[S] / (1 - rho) whatever the law of
/// the work, here constant and lognormal at rho = 0.8, and the CPU is busy rho of the
/// time.
#[test]
fn mg1_processor_sharing_sojourn_is_work_over_one_minus_rho() {
    // Constant 100 ms at 8/s.
    let runs: Vec<(f64, f64)> = (1..=10)
        .map(|seed| sojourn_and_utilisation(8.0, "1", "{constant: 100ms}", seed))
        .collect();
    let w: Vec<f64> = runs.iter().map(|x| x.0).collect();
    check("M/D/1-PS mean sojourn", &w, 0.1 / (1.0 - 0.8), 0.03);
    let u: Vec<f64> = runs.iter().map(|x| x.1).collect();
    check("M/D/1-PS CPU utilisation", &u, 0.8, 0.01);

    // Lognormal with p50 60 ms and p99 400 ms: sigma = ln(400/60) / z(0.99), mean =
    // p50 exp(sigma^2 / 2). The rate is set for rho = 0.8 again.
    let sigma = (400.0f64 / 60.0).ln() / 2.326_347_874_040_841;
    let mean_s = 0.060 * (sigma * sigma / 2.0).exp();
    let rate = 0.8 / mean_s;
    let w: Vec<f64> = (1..=10)
        .map(|seed| {
            sojourn_and_utilisation(rate, "1", "{lognormal: {p50: 60ms, p99: 400ms}}", seed).0
        })
        .collect();
    check("M/G/1-PS mean sojourn", &w, mean_s / (1.0 - 0.8), 0.03);
}

/// Exponential work on c CPUs with a goroutine per request is M/M/c: n handlers share
/// the cores, the service rate is min(n, c) mu, so the number in the system, and by
/// Little's law the mean sojourn, are those of M/M/c: 1/mu + C(c, a) / (c mu - lambda).
#[test]
fn exponential_work_on_c_cpus_is_mmc() {
    let (lambda, mu, c) = (32.0f64, 10.0f64, 4u32);
    let a = lambda / mu;
    let erlang_b = (1..=c).fold(1.0, |b, k| a * b / (f64::from(k) + a * b));
    let rho = a / f64::from(c);
    let erlang_c = erlang_b / (1.0 - rho + rho * erlang_b);
    let theory = 1.0 / mu + erlang_c / (f64::from(c) * mu - lambda);
    let w: Vec<f64> = (1..=10)
        .map(|seed| sojourn_and_utilisation(lambda, "4", "{exponential: {mean: 100ms}}", seed).0)
        .collect();
    check("M/M/4 with 4 CPUs mean sojourn", &w, theory, 0.02);
}

/// Millicores are fractions of a core: `500m` takes twice as long as one core.
#[test]
fn half_a_core_halves_the_speed() {
    let r = replay(
        r#"
name: half
duration: 10s
clients:
  - {name: c, to: api, rate: 1/s, arrivals: constant}
services:
  - name: api
    cpus: 500m
    handler: {steps: [{work: {constant: 100ms}}]}
"#,
    );
    let t = &r.services[0];
    assert_eq!((t.ok, t.errors), (r.clients[0].sent, 0));
    let mean = t.response_sum_s / t.ok as f64;
    assert!((mean - 0.2).abs() < 1e-6, "{mean}");
}

fn with_db(db: &str, rate: &str, pool: &str) -> String {
    format!(
        r#"
name: db
duration: 10s
clients:
  - {{name: c, to: api, rate: {rate}, arrivals: constant}}
services:
  - name: api
    handler: {{steps: [{{query: db-pool}}]}}
    pools:
      - {{name: db-pool, profile: go-sql, database: db{pool}}}
databases:
  - name: db
{db}
"#
    )
}

/// A database's cores are shared by the queries running on them: two queries of
/// 100 ms starting together on one core both end at 200 ms; with two cores, at 100 ms.
#[test]
fn queries_share_the_database_cores() {
    let one = replay(&with_db(
        "    latency: {constant: 100ms}\n    cpus: 1",
        "2/s",
        "",
    ));
    // Two requests every second, 500 ms apart: never concurrent, each 100 ms.
    assert!((one.services[0].response_sum_s / one.services[0].ok as f64 - 0.1).abs() < 1e-6);

    let burst = |cpus: u32| {
        let text = format!(
            r#"
name: db
duration: 10s
clients:
  - {{name: a, to: api, rate: 1/s, arrivals: constant}}
  - {{name: b, to: api, rate: 1/s, arrivals: constant}}
services:
  - name: api
    handler: {{steps: [{{query: db-pool}}]}}
    pools:
      - {{name: db-pool, profile: go-sql, database: db}}
databases:
  - {{name: db, latency: {{constant: 100ms}}, cpus: {cpus}}}
"#
        );
        let r = replay(&text);
        r.services[0].response_sum_s / r.services[0].ok as f64
    };
    assert!((burst(1) - 0.2).abs() < 1e-6, "{}", burst(1));
    assert!((burst(2) - 0.1).abs() < 1e-6, "{}", burst(2));
}

/// `statement_timeout`: a query that runs longer is cancelled at the timeout and the
/// handler answers 500, with or without cores.
#[test]
fn statement_timeout_cancels_long_queries() {
    for db in [
        "    latency: {constant: 200ms}\n    statement_timeout: 150ms",
        "    latency: {constant: 200ms}\n    statement_timeout: 150ms\n    cpus: 2",
    ] {
        let r = replay(&with_db(db, "1/s", ""));
        let t = &r.services[0];
        let sent = r.clients[0].sent;
        assert!(sent >= 9);
        assert_eq!((t.ok, t.errors), (0, sent), "{db}");
        assert!((t.response_sum_s / sent as f64 - 0.15).abs() < 1e-6, "{db}");
        assert_eq!(r.databases[0].statement_timeouts, sent);
        assert_eq!(r.clients[0].failed, sent);
    }
    // Concurrency makes a query slow enough to be cancelled: two 100 ms queries on one
    // core would take 200 ms; with a 150 ms limit both are cancelled (at 150 ms),
    // while each alone would have passed.
    let text = r#"
name: db
duration: 10s
clients:
  - {name: a, to: api, rate: 1/s, arrivals: constant}
  - {name: b, to: api, rate: 1/s, arrivals: constant}
services:
  - name: api
    handler: {steps: [{query: db-pool}]}
    pools:
      - {name: db-pool, profile: go-sql, database: db}
databases:
  - {name: db, latency: {constant: 100ms}, cpus: 1, statement_timeout: 150ms}
"#;
    let r = replay(text);
    let sent = r.clients[0].sent + r.clients[1].sent;
    assert!(sent >= 18);
    assert_eq!(r.databases[0].statement_timeouts, sent);
    assert_eq!(r.services[0].ok, 0);
}

/// A new connection's first query pays the backend's start: with `max_idle: 0` every
/// query opens its own connection, so every request takes latency + setup.
#[test]
fn a_new_connection_pays_its_setup() {
    let db = "    latency: {constant: 10ms}\n    connection_setup: 5ms";
    let fresh = replay(&with_db(db, "1/s", ", max_idle: 0"));
    let t = &fresh.services[0];
    assert!((t.response_sum_s / t.ok as f64 - 0.015).abs() < 1e-6);
    // With idle connections kept, only the first request opens one.
    let kept = replay(&with_db(db, "1/s", ""));
    let t = &kept.services[0];
    let later = (t.ok - 1) as f64;
    assert!((t.response_sum_s - (0.015 + later * 0.010)).abs() < 1e-6);
}

/// A database 10x slower with cores of its own saturates: queries pile up on its
/// cores until it is full, as a real server does. Without `cpus` the slow database is
/// M/M/inf: 40/s x 100 ms holds 4 queries on average, and over the 1,200 arrivals
/// after the slow-down a Poisson(4) count reaching 20 has odds below 1e-5. With 2
/// cores the same work is 4 cores' worth: the backlog grows by about 20 queries a
/// second until PostgreSQL's `max_connections` (100) is reached.
#[test]
fn a_slow_database_with_cores_saturates() {
    let text = |cpus: &str| {
        format!(
            r#"
name: db
duration: 60s
clients:
  - {{name: c, to: api, rate: 40/s}}
services:
  - name: api
    handler: {{steps: [{{query: db-pool}}]}}
    pools:
      - {{name: db-pool, profile: go-sql, database: db}}
databases:
  - name: db
    latency: {{exponential: {{mean: 10ms}}}}
{cpus}
timeline:
  - {{at: 30s, slow_database: {{database: db, factor: 10}}}}
"#
        )
    };
    let unlimited = replay(&text(""));
    let cores = replay(&text("    cpus: 2"));
    let peak = |r: &rewind::outcome::RunResult| r.databases[0].peak_running;
    assert!(peak(&unlimited) < 20, "{}", peak(&unlimited));
    assert_eq!(peak(&cores), 100);
    let cpu = column(&cores, "db.cpu_utilisation");
    let last = cpu[cpu.len() - 1];
    assert!(
        (last - 1.0).abs() < 1e-9,
        "saturated cores are busy all the time: {last}"
    );
}

/// The HPA on CPU: 20 requests/s of 100 ms is 2 cores of demand. A replica cannot use
/// more than its limit, so at 15 s the one replica shows 100 % (not the 200 % asked
/// of it) and the HPA, target 50 %, asks for ceil(1 x 100 / 50) = 2. Both are then
/// saturated (the second ready for 10 of the 15 s): (100 + 67) / 2 = 83 %, and
/// ceil(2 x 83 / 50) = 4 at 30 s. The backlog drains over the next sync, which may ask
/// for one more; never more than 5.
#[test]
fn hpa_on_cpu_scales_to_demand_over_target() {
    let r = replay(
        r#"
name: t
duration: 120s
clients:
  - {name: c, to: api, rate: 20/s, arrivals: constant}
services:
  - name: api
    cpus: 1
    handler: {steps: [{work: {constant: 100ms}}]}
    autoscaler: {max_replicas: 10, metric: cpu, target: 50}
"#,
    );
    let scalings: Vec<String> = occurrences(&r, "autoscaled")
        .into_iter()
        .map(|(t, d)| format!("{t}: {d}"))
        .collect();
    assert!(
        scalings[0].starts_with("15: autoscaler: 1 -> 2"),
        "{scalings:?}"
    );
    assert!(
        scalings[1].starts_with("30: autoscaler: 2 -> 4"),
        "{scalings:?}"
    );
    let most = column_max(&r, "api.replicas_up");
    assert!(most <= 5.0, "{most}");
}

/// A service with `cpus`, handlers of 100 ms of work at one request a second, and a
/// batch job whose one iteration is 100 ms of `work`, every 10 s from 10 s, as the
/// requests arrive; rows of 100 ms.
fn handlers_and_a_job(cpus: &str) -> String {
    format!(
        r#"
name: job-cpu
duration: 35s
resolution: 100ms
clients:
  - {{name: c, to: api, rate: 1/s, arrivals: constant}}
services:
  - name: api
{cpus}
    handler: {{steps: [{{work: {{constant: 100ms}}}}]}}
    pools:
      - {{name: db-pool, profile: go-sql, database: db, max_open: 1}}
    jobs:
      - name: batch
        pool: db-pool
        every: 10s
        iterations: 1
        release: per_iteration
        steps: [{{work: {{constant: 100ms}}}}]
databases:
  - {{name: db, latency: {{constant: 1ms}}}}
"#
    )
}

/// A job iteration's `work` is a goroutine of the process like a handler: on one core,
/// a handler and a job iteration of 100 ms each that start together each run at half
/// speed and both end at 200 ms. The requests that arrive at 10, 20 and 30 s take
/// 200 ms, every other 100 ms, and each run holds its connection for two 100 ms rows.
/// On two cores both run at full speed; without `cpus` the job's work is a plain wait.
#[test]
fn a_job_work_step_shares_the_replica_cores_with_handlers() {
    let shared = replay(&handlers_and_a_job("    cpus: 1"));
    let t = &shared.services[0];
    assert!(t.ok >= 30, "{}", t.ok);
    let expected = 0.1 * t.ok as f64 + 3.0 * 0.1;
    assert!(
        (t.response_sum_s - expected).abs() < 1e-6,
        "{} s of responses, expected {expected} s",
        t.response_sum_s
    );
    let running = column(&shared, "batch.running");
    assert_eq!(&running[99..103], [0.0, 1.0, 1.0, 0.0]);
    assert_eq!(running.iter().filter(|v| **v > 0.0).count(), 3 * 2);
    // One core busy for 100 ms of handlers each second plus 100 ms of job work every
    // 10 s, over a 1 s row that holds a run: 0.2.
    let cpu = column(&shared, "api.cpu_utilisation");
    let row_of_the_run_at_20s: f64 = cpu[200..210].iter().sum::<f64>() / 10.0;
    assert!(
        (row_of_the_run_at_20s - 0.2).abs() < 1e-9,
        "{row_of_the_run_at_20s}"
    );

    for alone in ["    cpus: 2", ""] {
        let r = replay(&handlers_and_a_job(alone));
        let t = &r.services[0];
        assert!(
            (t.response_sum_s - 0.1 * t.ok as f64).abs() < 1e-6,
            "{alone:?}: {} s for {} responses",
            t.response_sum_s,
            t.ok
        );
        let running = column(&r, "batch.running");
        assert_eq!(&running[99..102], [0.0, 1.0, 0.0], "{alone:?}");
    }
}

/// The cores are shared by the handlers that run, however many wait for a worker: two
/// requests of 100 ms arriving together on one core both take 200 ms with a goroutine
/// each, while one worker runs them one after the other (100 ms, then 100 ms of
/// waiting and 100 ms of work): a mean of 150 ms.
#[test]
fn a_thread_pool_shares_the_cores_among_the_handlers_it_runs() {
    let mean = |workers: &str| {
        let r = replay(&format!(
            r#"
name: pool-cpu
duration: 10s
clients:
  - {{name: a, to: api, rate: 1/s, arrivals: constant}}
  - {{name: b, to: api, rate: 1/s, arrivals: constant}}
services:
  - name: api
    cpus: 1
    workers: {workers}
    handler: {{steps: [{{work: {{constant: 100ms}}}}]}}
"#
        ));
        let t = &r.services[0];
        assert!(
            t.ok >= 18 && t.errors == 0,
            "{} ok, {} errors",
            t.ok,
            t.errors
        );
        t.response_sum_s / t.ok as f64
    };
    let goroutines = mean("unlimited");
    assert!((goroutines - 0.2).abs() < 1e-6, "{goroutines}");
    let one_worker = mean("1");
    assert!((one_worker - 0.15).abs() < 1e-6, "{one_worker}");
}

/// Two services on one database of one core, one request each at the same instants:
/// `sleeper` runs a statement of its own 200 ms (`pg_sleep`), `reader` the database's
/// 100 ms query. `db` is the database's extra settings, `timeline` the timeline's.
fn statement_and_query(db: &str, timeline: &str) -> String {
    format!(
        r#"
name: statement
duration: 10s
clients:
  - {{name: a, to: sleeper, rate: 1/s, arrivals: constant}}
  - {{name: b, to: reader, rate: 1/s, arrivals: constant}}
services:
  - name: sleeper
    handler: {{steps: [{{query: {{pool: p, latency: {{constant: 200ms}}}}}}]}}
    pools:
      - {{name: p, profile: go-sql, database: db}}
  - name: reader
    handler: {{steps: [{{query: q}}]}}
    pools:
      - {{name: q, profile: go-sql, database: db}}
databases:
  - name: db
    latency: {{constant: 100ms}}
    cpus: 1
{db}
{timeline}
"#
    )
}

fn mean_s(t: &rewind::outcome::ServiceTotals) -> f64 {
    t.response_sum_s / (t.ok + t.errors) as f64
}

/// A handler's `query: {pool, latency}` is a statement of its own time, as a job's is:
/// it holds a backend and counts among the running queries, but waits off the
/// database's cores (the reader's query, running beside it on the one core, is not
/// slowed: 100 ms, not 200 ms), a `slow_database` factor does not stretch it, and
/// `statement_timeout` cancels it (the handler answers 500).
#[test]
fn a_handler_statement_takes_its_own_time_off_the_database_cores() {
    let r = replay(&statement_and_query("", ""));
    let (sleeper, reader) = (&r.services[0], &r.services[1]);
    assert!(sleeper.ok >= 9 && sleeper.errors == 0);
    assert!((mean_s(sleeper) - 0.2).abs() < 1e-6, "{}", mean_s(sleeper));
    assert!((mean_s(reader) - 0.1).abs() < 1e-6, "{}", mean_s(reader));
    let db = &r.databases[0];
    assert_eq!(db.queries, sleeper.ok + reader.ok);
    assert_eq!(db.peak_running, 2);
    // Only the reader's queries used the core.
    assert!((db.busy_core_s - 0.1 * reader.ok as f64).abs() < 1e-6);

    // Five times slower from the start: the reader's queries take 500 ms, the
    // statement still 200 ms.
    let slow = replay(&statement_and_query(
        "",
        "timeline:\n  - {at: 0s, slow_database: {database: db, factor: 5}}",
    ));
    assert!((mean_s(&slow.services[0]) - 0.2).abs() < 1e-6);
    assert!((mean_s(&slow.services[1]) - 0.5).abs() < 1e-6);

    // A 150 ms statement timeout cancels the 200 ms statement at 150 ms and leaves the
    // 100 ms query alone.
    let cut = replay(&statement_and_query("    statement_timeout: 150ms", ""));
    let (sleeper, reader) = (&cut.services[0], &cut.services[1]);
    assert_eq!(sleeper.ok, 0);
    assert!(sleeper.errors >= 9);
    assert!((mean_s(sleeper) - 0.15).abs() < 1e-6, "{}", mean_s(sleeper));
    assert_eq!(reader.errors, 0);
    assert_eq!(cut.databases[0].statement_timeouts, sleeper.errors);
}
