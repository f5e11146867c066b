//! Bookkeeping that must hold whatever the system: every request ends exactly once,
//! pools never hand out more than they hold, counters never go backwards.

use proptest::prelude::*;
use rewind::outcome::RunResult;

use crate::util::{incident_path, replay};

fn check_invariants(r: &RunResult) {
    for c in &r.clients {
        assert_eq!(
            c.sent,
            c.ok + c.failed + c.in_flight_at_end,
            "client {}: every request ends exactly once",
            c.name
        );
    }
    for g in &r.gateways {
        let answered: u64 = g.by_status.iter().sum();
        assert_eq!(
            g.requests,
            answered + g.in_flight_at_end,
            "gateway {}",
            g.name
        );
    }
    for p in &r.pools {
        let in_use = r
            .series
            .column_values(&format!("{}.in_use", p.name))
            .expect("column");
        let max = r
            .series
            .column_values(&format!("{}.max_open", p.name))
            .expect("column");
        for (i, (u, m)) in in_use.iter().zip(&max).enumerate() {
            assert!(
                *m == 0.0 || u <= m,
                "pool {} row {i}: {u} in use of {m}",
                p.name
            );
        }
    }
    for name in r.series.columns.iter().filter(|c| c.ends_with(".restarts")) {
        let v = r.series.column_values(name).expect("column");
        assert!(v.windows(2).all(|w| w[1] >= w[0]), "{name} went backwards");
    }
    // Per-interval counts add up to the totals.
    for c in &r.clients {
        let sent: f64 = r
            .series
            .column_values(&format!("{}.sent", c.name))
            .expect("column")
            .iter()
            .sum();
        assert_eq!(sent as u64, c.sent);
    }
}

#[test]
fn bundled_incidents_keep_the_books() {
    for name in ["leaky-batch-loop.yaml", "defer-in-loop.yaml"] {
        let s = rewind::app::load(&incident_path(name), &Default::default()).expect("valid");
        check_invariants(&rewind::model::replay(s));
    }
}

/// The knobs of a small random system: one gateway, a service with a pool and a job,
/// a kill somewhere in the timeline.
#[derive(Debug)]
struct Knobs {
    rate: u32,
    replicas: u32,
    pool: u32,
    query_ms: u32,
    read_timeout_s: u32,
    client_timeout_s: Option<u32>,
    background: bool,
    release: &'static str,
    kill_at_s: u32,
    seed: u64,
}

fn random_system(k: &Knobs) -> String {
    let Knobs {
        rate,
        replicas,
        pool,
        query_ms,
        read_timeout_s,
        client_timeout_s,
        background,
        release,
        kill_at_s,
        seed,
    } = *k;
    let timeout = client_timeout_s.map_or(String::new(), |t| format!("    timeout: {t}s\n"));
    let context = if background { "background" } else { "request" };
    format!(
        r#"
name: p
seed: {seed}
duration: 4m
clients:
  - name: users
    to: edge
    rate: {rate}/s
{timeout}gateways:
  - name: edge
    upstream: [api]
    proxy_read_timeout: {read_timeout_s}s
services:
  - name: api
    replicas: {replicas}
    memory: {{baseline: 50MiB, per_request: 1MiB, limit: 300MiB}}
    restart: {{startup: 2s}}
    handler:
      context: {context}
      steps:
        - work: {{exponential: {{mean: 5ms}}}}
        - query: db-pool
    pools:
      - name: db-pool
        profile: go-sql
        database: db
        max_open: {pool}
    jobs:
      - name: batch
        pool: db-pool
        every: 30s
        iterations: 4
        release: {release}
databases:
  - name: db
    latency: {{exponential: {{mean: {query_ms}ms}}}}
timeline:
  - at: {kill_at_s}s
    kill: {{service: api}}
"#
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_system_keeps_the_books(
        rate in 1u32..80,
        replicas in 1u32..4,
        pool in 1u32..12,
        query_ms in 1u32..400,
        read_timeout_s in 1u32..40,
        client_timeout_s in proptest::option::of(1u32..60),
        background in any::<bool>(),
        release in prop::sample::select(vec!["per_iteration", "at_function_return", "last_only"]),
        kill_at_s in 1u32..230,
        seed in any::<u64>(),
    ) {
        let knobs = Knobs { rate, replicas, pool, query_ms, read_timeout_s, client_timeout_s, background, release, kill_at_s, seed };
        let yaml = random_system(&knobs);
        check_invariants(&replay(&yaml));
    }
}
