//! Batch jobs with `steps`: a statement with its own time (`pg_sleep`), application
//! work that holds the connection, `statement_timeout` on a statement, the run's
//! deadline noticed at a step's end, and a restart that drops a step in flight. The
//! release modes of the default (one query per iteration) are pinned in `pools`.

use crate::util::{column, occurrences, replay};

/// A worker with one go-sql pool of one connection and job `batch`, every 10 s from
/// 10 s on, whose iteration runs `steps`; rows of 100 ms. `db` is the database's
/// extra settings and `job` the job's.
fn batch(steps: &str, iterations: u32, job: &str, db: &str) -> String {
    format!(
        r#"
name: t
duration: 35s
resolution: 100ms
services:
  - name: worker
    handler:
      steps:
        - work: {{constant: 1ms}}
    pools:
      - name: db-pool
        profile: go-sql
        database: db
        max_open: 1
    jobs:
      - name: batch
        pool: db-pool
        every: 10s
        iterations: {iterations}
        release: per_iteration
        steps: {steps}
{job}
databases:
  - name: db
    latency: {{constant: 5s}}
{db}
"#
    )
}

/// Rows `from..=to` of column `name`.
fn rows(r: &rewind::outcome::RunResult, name: &str, from: usize, to: usize) -> Vec<f64> {
    column(r, name)[from..=to].to_vec()
}

#[test]
fn a_pg_sleep_statement_takes_its_own_time_on_the_connection() {
    // Five 200 ms statements a run, not the database's 5 s: a run takes exactly 1 s.
    let r = replay(&batch(
        "[{query: {latency: {constant: 200ms}}}]",
        5,
        "",
        "    cpus: 1",
    ));
    // Runs at 10, 20 and 30 s. Row i covers [i, i + 1) x 100 ms and gauges are read at
    // its end, before that instant's events: the run at 10 s shows in rows 100..=109.
    let running = column(&r, "batch.running");
    assert_eq!(running.iter().filter(|v| **v > 0.0).count(), 3 * 10);
    for name in ["batch.running", "db-pool.in_use", "db.running_queries"] {
        assert_eq!(
            rows(&r, name, 99, 110),
            [&[0.0][..], &[1.0; 10], &[0.0]].concat(),
            "{name}"
        );
    }
    assert_eq!(r.databases[0].queries, 3 * 5);
    assert_eq!(r.databases[0].peak_running, 1);
    // A sleeping backend waits: it leaves the database's cores idle.
    assert_eq!(r.databases[0].busy_core_s, 0.0);
    assert_eq!(r.databases[0].statement_timeouts, 0);
}

#[test]
fn work_steps_hold_the_connection_without_a_query() {
    // An iteration: 300 ms of work holding the connection, then the database's own
    // query (its 200 ms latency); two iterations from 10 s: work [10.0, 10.3), query
    // [10.3, 10.5), work [10.5, 10.8), query [10.8, 11.0).
    let r = replay(
        &batch("[{work: {constant: 300ms}}, {query: {}}]", 2, "", "")
            .replace("latency: {constant: 5s}", "latency: {constant: 200ms}"),
    );
    assert_eq!(
        rows(&r, "db-pool.in_use", 99, 110),
        [&[0.0][..], &[1.0; 10], &[0.0]].concat()
    );
    assert_eq!(
        rows(&r, "db.running_queries", 99, 110),
        [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0]
    );
    assert_eq!(r.databases[0].queries, 3 * 2);

    // Work alone: the connection is in use and the database never sees a query.
    let r = replay(&batch("[{work: {constant: 300ms}}]", 2, "", ""));
    assert_eq!(
        rows(&r, "db-pool.in_use", 99, 106),
        [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    );
    assert_eq!(r.databases[0].queries, 0);
    assert_eq!(column(&r, "db.running_queries").iter().sum::<f64>(), 0.0);
}

#[test]
fn statement_timeout_cancels_a_statement_and_ends_the_run() {
    // The 200 ms statement is cancelled at 100 ms: the batch function returns its
    // error and the four other iterations never run.
    let r = replay(&batch(
        "[{query: {latency: {constant: 200ms}}}]",
        5,
        "",
        "    statement_timeout: 100ms",
    ));
    assert_eq!(r.databases[0].statement_timeouts, 3);
    assert_eq!(r.databases[0].queries, 3);
    assert_eq!(
        rows(&r, "batch.running", 99, 101),
        [0.0, 1.0, 0.0],
        "the run ends at 10.1 s"
    );
    assert_eq!(rows(&r, "db-pool.in_use", 99, 101), [0.0, 1.0, 0.0]);
}

#[test]
fn a_deadline_during_work_ends_the_run_when_the_step_ends() {
    // Two 200 ms steps of work an iteration, a 250 ms deadline: it passes during the
    // second step, which Go code does not notice until the step is over at 10.4 s.
    let r = replay(&batch(
        "[{work: {constant: 200ms}}, {work: {constant: 200ms}}]",
        3,
        "        context: {timeout: 250ms}",
        "",
    ));
    assert_eq!(
        rows(&r, "batch.running", 99, 104),
        [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    );
    assert_eq!(
        rows(&r, "db-pool.in_use", 99, 104),
        [0.0, 1.0, 1.0, 1.0, 1.0, 0.0],
        "the iteration cut short gives its connection back as the run returns"
    );
    assert_eq!(r.pools[0].leaked, 0);
}

#[test]
fn a_restart_drops_the_step_in_flight() {
    // Killed at 10.1 s, inside the first of two steps (300 ms of work, then a 100 ms
    // statement). The process starts again at once and its job is due 10 s later. The
    // dead run's work would have ended at 10.3 s and its statement begun: it must not.
    let text = batch(
        "[{work: {constant: 300ms}}, {query: {latency: {constant: 100ms}}}]",
        1,
        "",
        "",
    )
    .replace(
        "    max_open: 1\n",
        "    max_open: 1\n    restart: {startup: 1s, backoff: {fixed: 0s}}\n",
    ) + "timeline:\n  - {at: 10100ms, kill: {service: worker, replica: 0}}\n";
    let r = replay(&text);
    // Statements of the runs at 20.1 s and 30.1 s only.
    assert_eq!(r.databases[0].queries, 2);
    assert_eq!(rows(&r, "db-pool.in_use", 100, 103), [1.0, 0.0, 0.0, 0.0]);
    assert_eq!(rows(&r, "batch.running", 100, 103), [1.0, 0.0, 0.0, 0.0]);
    let queries = column(&r, "db.running_queries");
    assert_eq!(queries[..204].iter().sum::<f64>(), 0.0);
    // Work [20.1, 20.4), then the statement [20.4, 20.5).
    assert_eq!(queries[203..206], [0.0, 1.0, 0.0]);
}

#[test]
fn a_deploy_changes_a_jobs_steps() {
    let text = batch(
        "[{work: {constant: 300ms}}, {query: {latency: {constant: 100ms}}}]",
        1,
        "",
        "",
    )
    .replace("latency: {constant: 5s}", "latency: {constant: 20ms}")
    + "timeline:\n  - at: 12s\n    deploy:\n      service: worker\n      jobs: {batch: {steps: [{work: {constant: 50ms}}, {query: {}}, {query: {}}]}}\n";
    let r = replay(&text);
    assert!(occurrences(&r, "timeline")
        .iter()
        .any(|(t, d)| *t == 12.0 && d == "deploy (job batch runs 3 steps per iteration)"));
    // The old replica's run at 10 s has one statement; the new replica, started at
    // 12 s, runs at 22 s and 32 s with two queries each.
    assert_eq!(r.databases[0].queries, 1 + 2 * 2);
}
