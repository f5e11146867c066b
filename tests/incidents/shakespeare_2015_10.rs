//! The SRE book's Shakespeare example: a surge of searches for a word not in the
//! corpus, each leaking a file descriptor, crashes every task again and again until
//! the updated index; USA-2 is sacrificed while the others grow, and traffic comes
//! back by steps. Without the index the 10x fleet keeps crashing; with the traffic
//! left balanced it comes back 20 minutes sooner.

use rewind::outcome::regimes::Regime;
use rewind::outcome::RunResult;

use super::{entry_at, load_bundled, sum_between, variant};
use crate::util::{column, occurrences};

/// Exits on EMFILE of `service` (its name's end) in `[from_s, to_s)`.
fn crashes(r: &RunResult, service: &str, from_s: f64, to_s: f64) -> usize {
    r.occurrences
        .iter()
        .filter(|o| o.kind == "fd_exhausted" && o.component.ends_with(service))
        .filter(|o| (from_s..to_s).contains(&o.at.as_secs_f64()))
        .count()
}

/// Share of both clients' searches in `[from_s, to_s)` that failed.
fn failed(r: &RunResult, from_s: f64, to_s: f64) -> f64 {
    let sum = |m: &str| {
        sum_between(r, &format!("users-usa2.{m}"), from_s, to_s)
            + sum_between(r, &format!("users-elsewhere.{m}"), from_s, to_s)
    };
    sum("failed") / sum("sent")
}

#[test]
fn shakespeare_sonnet_leaks_descriptors_until_every_task_crash_loops_and_the_index_ends_it() {
    let incident = load_bundled("shakespeare-2015-10-sonnet.yaml");
    let r = rewind::model::replay(incident.baseline.clone());
    let at = |id: &str| entry_at(&incident, id);
    let (surge, sacrifice, more, index, balanced) = (
        at("surge"),
        at("sacrifice"),
        at("more-elsewhere"),
        at("index"),
        at("balanced"),
    );
    assert_eq!(
        (surge, index, balanced),
        (300.0, 2880.0, 4320.0),
        "14:53, 15:36 and 16:00 UTC"
    );
    let end = r.duration.as_secs_f64();

    // Nothing crashes before the surge; within two minutes of its first searches every
    // task has run out of descriptors: each crash is at the limit, 1,020 leaked.
    assert_eq!(crashes(&r, "", 0.0, surge), 0);
    let exits = occurrences(&r, "fd_exhausted");
    assert!(exits.iter().all(|o| o
        .1
        .contains("1024 of 1024 descriptors open, 1020 of them leaked")));
    let first = exits[0].0;
    assert!((surge + 60.0..surge + 240.0).contains(&first), "{first}");
    assert!(crashes(&r, "usa2", first, first + 120.0) >= 1);
    assert!(crashes(&r, "elsewhere", first, first + 120.0) >= 3);
    let (usa2, elsewhere) = (
        column(&r, "search-usa2.fds"),
        column(&r, "search-elsewhere.fds"),
    );
    assert_eq!(elsewhere[surge as usize - 1], 4.0, "the baseline alone");
    let climbed = usa2[..first as usize]
        .iter()
        .chain(&elsewhere[..first as usize])
        .fold(0.0, |a: f64, &b| a.max(b));
    assert!(climbed >= 1000.0, "{climbed}");
    // The tasks crash again after each restart: almost every search fails until the
    // index, the alert fires within two minutes of the surge.
    assert!(crashes(&r, "", first + 60.0, sacrifice) >= 15);
    assert!(
        failed(&r, surge, index) > 0.9,
        "{}",
        failed(&r, surge, index)
    );
    let alert = r.alerts[0]
        .first_firing
        .expect("the alert fires")
        .as_secs_f64();
    assert!((surge..surge + 120.0).contains(&alert), "{alert}");

    // Drained, the other clusters stop crashing; traffic back at 15:32 crashes them
    // again within two minutes (15:33); nothing crashes after the index.
    assert_eq!(crashes(&r, "elsewhere", sacrifice + 60.0, more), 0);
    assert!(crashes(&r, "elsewhere", more, more + 120.0) >= 1);
    assert_eq!(crashes(&r, "", index, end), 0);

    // The return of traffic: USA-2, sacrificed, fails what it cannot serve until the
    // traffic is balanced at 16:00; two minutes later nothing fails, and the system is
    // healthy, never metastable (the surge never ends: nothing marks a trigger's end).
    assert!(failed(&r, index + 300.0, balanced) > 0.2);
    assert!(failed(&r, balanced + 180.0, end) < 0.001);
    assert!(r
        .regimes
        .spans
        .iter()
        .all(|s| s.regime != Regime::Metastable));
    let last = r.regimes.spans.last().expect("spans");
    assert_eq!(last.regime, Regime::Healthy);
    let back = last.from.as_secs_f64();
    assert!((balanced..balanced + 300.0).contains(&back), "{back}");

    // Without the index the word keeps leaking: the 10x fleet still crashes in turn,
    // and searches still fail after 16:00.
    let no_index = variant(&incident, "no-index");
    assert!(crashes(&no_index, "", balanced, end) >= 10);
    assert!(failed(&no_index, balanced + 180.0, end) > 0.1);
    // With the traffic left balanced, the index and 10x end it by 15:41.
    let balanced_all_along = variant(&incident, "no-sacrifice");
    assert!(failed(&balanced_all_along, index + 300.0, end) < 0.001);
    assert!(failed(&balanced_all_along, surge, end) < failed(&r, surge, end) - 0.1);
}
