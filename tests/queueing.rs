//! Queues must agree with queueing theory. Each test replays R independent replications
//! (fixed seeds 1..=R), takes the mean of a per-replication estimate and its standard
//! error from the spread between replications, and requires the theoretical value to
//! lie within Z standard errors. Z = 4 makes a false alarm a 1-in-15,000 event for a
//! correct model; each test also checks that the standard error is small (a few
//! percent of the value), so a test with too little data to tell cannot pass.

use rewind::app::mmc_scenario;
use rewind::engine::Nanos;
use rewind::model::replay;
use rewind::outcome::ServiceTotals;

use crate::util::{check, mean_and_se};

/// Erlang B blocking probability B(c, a), by the stable recurrence.
fn erlang_b(c: u32, a: f64) -> f64 {
    (1..=c).fold(1.0, |b, k| a * b / (f64::from(k) + a * b))
}

/// Erlang C probability of waiting C(c, a).
fn erlang_c(c: u32, a: f64) -> f64 {
    let b = erlang_b(c, a);
    let rho = a / f64::from(c);
    b / (1.0 - rho + rho * b)
}

/// Blocking probability of M/M/c/(c+1), c servers and one waiting place, from Erlang B:
/// with r = B(c, a) a / c (the weight of the one extra state against the loss system's
/// states), the extra state's probability is r / (1 + r).
fn erlang_b_one_waiting_place(c: u32, a: f64) -> f64 {
    let r = erlang_b(c, a) * a / f64::from(c);
    r / (1.0 + r)
}

/// M/M/c/K (K waiting places): stationary probabilities of n in system, n = 0..=c+K.
fn mmck_probabilities(lambda: f64, mu: f64, c: u32, k: u32) -> Vec<f64> {
    let a = lambda / mu;
    let mut p = vec![1.0f64];
    for n in 1..=(c + k) {
        let servers = f64::from(n.min(c));
        let prev = p[p.len() - 1];
        p.push(prev * a / servers);
    }
    let total: f64 = p.iter().sum();
    p.iter().map(|x| x / total).collect()
}

struct Replication {
    totals: ServiceTotals,
    horizon_s: f64,
}

fn replications(
    lambda: f64,
    c: u32,
    mean_s: f64,
    backlog: Option<u32>,
    horizon_s: u64,
    runs: u64,
) -> Vec<Replication> {
    (1..=runs)
        .map(|seed| {
            let s = mmc_scenario(
                lambda,
                c,
                mean_s,
                backlog,
                Nanos::from_secs(horizon_s),
                seed,
            );
            let r = replay(s);
            Replication {
                totals: r.services[0].clone(),
                horizon_s: horizon_s as f64,
            }
        })
        .collect()
}

#[test]
fn mm1_time_in_system_is_one_over_mu_minus_lambda() {
    let (lambda, mu) = (8.0, 10.0);
    let reps = replications(lambda, 1, 1.0 / mu, None, 20_000, 10);
    let w: Vec<f64> = reps
        .iter()
        .map(|r| r.totals.response_sum_s / r.totals.ok as f64)
        .collect();
    check("M/M/1 mean time in system W", &w, 1.0 / (mu - lambda), 0.02);
}

#[test]
fn mmc_waiting_agrees_with_erlang_c() {
    let (lambda, mu, c) = (90.0, 10.0, 10);
    let a = lambda / mu;
    let reps = replications(lambda, c, 1.0 / mu, None, 10_000, 10);
    let p_wait: Vec<f64> = reps
        .iter()
        .map(|r| r.totals.waited as f64 / r.totals.started as f64)
        .collect();
    check(
        "M/M/10 probability of waiting",
        &p_wait,
        erlang_c(c, a),
        0.02,
    );
    let wq: Vec<f64> = reps
        .iter()
        .map(|r| r.totals.queue_wait_sum_s / r.totals.started as f64)
        .collect();
    let wq_theory = erlang_c(c, a) / (f64::from(c) * mu - lambda);
    check("M/M/10 mean wait in queue Wq", &wq, wq_theory, 0.03);
}

#[test]
fn a_backlog_of_zero_blocks_as_mmc_with_one_waiting_place() {
    // Linux's accept queue holds backlog + 1 (`sk_acceptq_is_full` compares with `>`),
    // so ten workers behind a backlog of 0, overflow refused (tcp_abort_on_overflow),
    // are M/M/10/11: Erlang B's loss system plus one waiting place, K = c + backlog + 1.
    let (lambda, mu, c, backlog) = (80.0, 10.0, 10, 0);
    let a = lambda / mu;
    let waiting_places = backlog + 1;
    let theory = mmck_probabilities(lambda, mu, c, waiting_places)[(c + waiting_places) as usize];
    assert!((theory - erlang_b_one_waiting_place(c, a)).abs() < 1e-12);
    let reps = replications(lambda, c, 1.0 / mu, Some(backlog), 2_000, 10);
    let blocked: Vec<f64> = reps
        .iter()
        .map(|r| r.totals.refused as f64 / (r.totals.refused + r.totals.accepted) as f64)
        .collect();
    check(
        "M/M/10, backlog 0 (M/M/10/11) blocking probability",
        &blocked,
        theory,
        0.02,
    );
    // The data tell the two rules apart: Erlang B, a backlog of 0 holding nothing, is
    // many standard errors away.
    let (mean, se) = mean_and_se(&blocked);
    assert!(
        (erlang_b(c, a) - mean).abs() > 10.0 * se,
        "B(10, 8) = {:.4} vs simulated {mean:.4} (se {se:.5})",
        erlang_b(c, a)
    );
}

#[test]
fn mmck_blocking_and_occupancy_agree_with_the_birth_death_solution() {
    // A backlog of 4 gives 5 waiting places: M/M/3/K=5.
    let (lambda, mu, c, backlog) = (3.0, 1.0, 3, 4);
    let k = backlog + 1;
    let p = mmck_probabilities(lambda, mu, c, k);
    let reps = replications(lambda, c, 1.0 / mu, Some(backlog), 5_000, 10);
    let blocked: Vec<f64> = reps
        .iter()
        .map(|r| r.totals.refused as f64 / (r.totals.refused + r.totals.accepted) as f64)
        .collect();
    check(
        "M/M/3/K=5 blocking probability",
        &blocked,
        p[(c + k) as usize],
        0.03,
    );
    let l_theory: f64 = p.iter().enumerate().map(|(n, pn)| n as f64 * pn).sum();
    let l: Vec<f64> = reps
        .iter()
        .map(|r| r.totals.in_system_area_s / r.horizon_s)
        .collect();
    check("M/M/3/K=5 mean number in system L", &l, l_theory, 0.02);
}

#[test]
fn littles_law_holds_for_a_loaded_multi_server_queue() {
    // L (time average of the number in system) against lambda_eff * W, both measured:
    // each replication gives the ratio L / (lambda_eff * W), which must be 1. The
    // connections still in the system at the end add to L's area but not to W: a
    // positive bias of order 1e-5, close to this test's tolerance (four standard errors
    // of about 5e-6). So the system stays the one first checked: a backlog of 19, 20
    // waiting places.
    let reps = replications(45.0, 5, 0.1, Some(19), 4_000, 10);
    let ratio: Vec<f64> = reps
        .iter()
        .map(|r| {
            let t = &r.totals;
            let l = t.in_system_area_s / r.horizon_s;
            let lambda_eff = t.ok as f64 / r.horizon_s;
            let w = t.response_sum_s / t.ok as f64;
            l / (lambda_eff * w)
        })
        .collect();
    check("Little's law L / (lambda W)", &ratio, 1.0, 0.01);
}

#[test]
fn erlang_formulas_match_published_values() {
    // Guards the reference implementations themselves (values from standard tables).
    assert!((erlang_b(10, 8.0) - 0.121_661).abs() < 1e-5);
    assert!((erlang_c(10, 9.0) - 0.668_732).abs() < 1e-5);
    // M/M/1/1 (one server, one waiting place): p2 = a^2 / (1 + a + a^2).
    assert!((erlang_b_one_waiting_place(1, 2.0) - 4.0 / 7.0).abs() < 1e-12);
}
