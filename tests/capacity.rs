//! Capacity: CPU limits shared by processor sharing (M/G/1-PS whatever the work law,
//! M/M/c with c CPUs), databases whose cores saturate, `statement_timeout`, the cost of
//! a new connection, and the autoscaler on CPU. Statistical checks replay R seeds and
//! require theory within Z standard errors of the mean, as `queueing` does.

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
