//! Heroku / Rap Genius, February 2013: single-threaded dynos behind a router that
//! picks one at random. Each dyno is an M/G/1 queue of its own, so a request waits
//! whenever its dyno is busy, however many others are idle; a router that sends to an
//! idle dyno, or a second worker per dyno, removes the wait.

use rewind::outcome::RunResult;

use super::{load_bundled, variant};

/// The file's request times: Rap Genius's Weibull (shape 0.46, median 50 ms, 10 ms
/// to 30 s) as a quantile table, in seconds, linearly interpolated as rewind samples it.
const TABLE: [(f64, f64); 24] = [
    (0.0, 0.010),
    (0.282, 0.010),
    (0.4, 0.026),
    (0.5, 0.050),
    (0.6, 0.092),
    (0.7, 0.166),
    (0.8, 0.312),
    (0.85, 0.446),
    (0.9, 0.680),
    (0.93, 0.930),
    (0.95, 1.205),
    (0.97, 1.696),
    (0.98, 2.152),
    (0.99, 3.068),
    (0.995, 4.161),
    (0.998, 5.886),
    (0.999, 7.407),
    (0.9995, 9.119),
    (0.9998, 11.678),
    (0.9999, 13.844),
    (0.99995, 16.209),
    (0.99999, 22.487),
    (0.999998, 29.886),
    (1.0, 30.0),
];

/// E[S] and E[S^2] of the piecewise-linear quantile table.
fn table_moments() -> (f64, f64) {
    TABLE.windows(2).fold((0.0, 0.0), |(m1, m2), w| {
        let ((p0, a), (p1, b)) = (w[0], w[1]);
        let dp = p1 - p0;
        (
            m1 + dp * (a + b) / 2.0,
            m2 + dp * (a * a + a * b + b * b) / 3.0,
        )
    })
}

/// Mean wait for a worker, seconds, and the share of requests that waited.
fn queue_wait(r: &RunResult) -> (f64, f64) {
    let s = &r.services[0];
    (
        s.queue_wait_sum_s / s.started as f64,
        s.waited as f64 / s.started as f64,
    )
}

#[test]
fn heroku_random_routing_queues_behind_busy_dynos_and_routing_or_concurrency_removes_it() {
    let incident = load_bundled("heroku-random-routing-2013.yaml");
    let r = rewind::model::replay(incident.baseline.clone());
    // Nothing fails: the cost is time, which the dyno's own metrics do not show.
    assert_eq!(r.clients[0].failed, 0);
    assert!(r.gateways[0].last_5xx.is_none());

    // Random routing splits the Poisson arrivals into 250 Poisson streams: each dyno
    // is M/G/1. P(wait) = rho, and Pollaczek-Khinchine gives the mean wait.
    let (es, es2) = table_moments();
    let lambda = 11_000.0 / 60.0 / 250.0;
    let rho = lambda * es;
    let pk = lambda * es2 / (2.0 * (1.0 - rho));
    let (wq, waited) = queue_wait(&r);
    assert!((waited - rho).abs() < 0.01, "waited {waited}, rho {rho}");
    assert!((wq - pk).abs() < 0.1 * pk, "Wq {wq} vs M/G/1 {pk}");
    // Rap Genius's simulation: ~290 ms; the patched New Relic: 324 ms.
    assert!((wq - 0.290).abs() < 0.25 * 0.290, "{wq}");
    // At the router a request takes its wait plus its time in the dyno.
    let mean_ms = r.gateways[0].mean_ms.expect("responses");
    assert!((mean_ms / 1000.0 - (wq + es)).abs() < 0.02, "{mean_ms}");
    // An alert on end-to-end time fires; the dyno's own time would never have.
    let fired = r.alerts[0].first_firing.expect("fires").as_secs_f64();
    assert!(fired <= 600.0, "{fired}");

    // An intelligent router: at 20% busy, a request practically never waits.
    let (wq_smart, _) = queue_wait(&variant(&incident, "intelligent-routing"));
    assert!(wq_smart < 0.001, "{wq_smart}");
    // Heroku's remedy, two workers per dyno: a tenth of the wait at most.
    let (wq_unicorn, _) = queue_wait(&variant(&incident, "unicorn-2"));
    assert!(wq_unicorn < wq / 10.0, "{wq_unicorn}");
    // Two choices: between the two.
    let (wq_p2c, _) = queue_wait(&variant(&incident, "power-of-two"));
    assert!(wq_smart < wq_p2c && wq_p2c < wq / 4.0, "{wq_p2c}");
    // "80 dynos with an intelligent router, 4,000 with a random one": at this load
    // 4,000 random dynos still wait longer than 80 intelligent ones, and both far
    // less than 250 random.
    let (wq_80, _) = queue_wait(&variant(&incident, "intelligent-80"));
    let (wq_4000, _) = queue_wait(&variant(&incident, "random-4000"));
    assert!(wq_80 < wq_4000 && wq_4000 < wq / 10.0, "{wq_80} {wq_4000}");
}
