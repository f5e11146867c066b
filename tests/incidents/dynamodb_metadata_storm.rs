//! DynamoDB, September 2015: after a brief network disruption the storage servers it
//! reached ask the metadata service for their memberships at once; the answers
//! time out, the servers retry and stop serving, and the abandoned answers keep the
//! metadata service overloaded long after the disruption, until requests to it are
//! paused and capacity is added. More capacity, a longer time allowed, or retries
//! with back-off keep the burst from turning into a storm.

use super::{entry_at, failed_share, load_bundled, sum_between, variant};
use crate::util::{column, first};

#[test]
fn dynamodb_membership_storm_holds_half_the_fleet_out_until_the_pause_and_capacity() {
    let incident = load_bundled("dynamodb-2015-09-metadata-storm.yaml");
    let r = rewind::model::replay(incident.baseline.clone());
    let at = |id: &str| entry_at(&incident, id);
    let (disruption, over, asked, pause, capacity, resume) = (
        at("disruption"),
        at("disruption-ends"),
        at("membership-lost"),
        at("pause"),
        at("capacity"),
        at("resume"),
    );
    assert_eq!(
        (disruption, pause),
        (540.0, 10560.0),
        "2:19 and 5:06 AM PDT"
    );
    assert_eq!(over, asked);
    let end = r.duration.as_secs_f64();
    assert_eq!(failed_share(&r, "apps", 0.0, disruption), 0.0);

    // The burst: 12 memberships of ~0.3 s on 2 cores take ~1.8 s each, over the 1 s
    // allowed: the first fills fail after their 3 attempts. (nginx skips the servers
    // it saw reset during the disruption for its 10 s fail_timeout first.)
    let t503 = first(&r, 503).expect("503s");
    assert!(asked < t503 && t503 <= asked + 15.0, "{t503}");
    assert_eq!(sum_between(&r, "apps.failed", 0.0, asked), 0.0);
    // No membership answer arrives in time from then until the requests resume.
    assert_eq!(
        sum_between(&r, "membership.fills", asked + 10.0, resume),
        0.0
    );
    assert!(sum_between(&r, "storage-reached.calls.metadata.retries", asked, pause) > 0.0);
    // The sustaining effect: answers nobody waits for pile up in the metadata
    // service, hour after hour after the disruption is over.
    let inflight = column(&r, "metadata.inflight");
    let hourly: Vec<f64> = (1..=2)
        .map(|h| inflight[(asked + 3600.0 * f64::from(h)) as usize / 10])
        .collect();
    let at_pause = inflight[pause as usize / 10 - 1];
    assert!(
        inflight[(asked as usize + 600) / 10] < hourly[0]
            && hourly[0] < hourly[1]
            && hourly[1] < at_pause,
        "{hourly:?} {at_pause}"
    );
    // Half the fleet (the reached servers) fails every request: the report's peak
    // was about 55%.
    let share = failed_share(&r, "apps", asked + 60.0, pause);
    assert!((share - 0.5).abs() < 0.02, "{share}");
    assert!((share - 0.55).abs() < 0.06);
    let fired = r.alerts[0].first_firing.expect("fires").as_secs_f64();
    assert!(asked < fired && fired <= asked + 600.0, "{fired}");

    // Paused: the abandoned answers drain before the requests resume; the servers
    // stay out meanwhile.
    assert!(inflight[(capacity as usize) / 10] > 0.0);
    assert_eq!(inflight[resume as usize / 10 - 1], 0.0);
    let paused = failed_share(&r, "apps", pause, resume);
    assert!((paused - 0.5).abs() < 0.02, "{paused}");
    // Resumed with four replicas: every server has its membership within seconds,
    // and nothing fails to the end.
    assert_eq!(
        sum_between(&r, "membership.fills", resume, resume + 10.0),
        12.0
    );
    assert_eq!(failed_share(&r, "apps", resume + 10.0, end), 0.0);

    // The report's corrective actions: each keeps the burst from becoming a storm.
    for name in ["more-metadata-capacity", "longer-timeout"] {
        assert_eq!(variant(&incident, name).clients[0].failed, 0, "{name}");
    }
    let slower = variant(&incident, "slower-retries");
    assert!(
        slower.clients[0].failed < 20,
        "{}",
        slower.clients[0].failed
    );
    assert_eq!(failed_share(&slower, "apps", asked + 120.0, end), 0.0);
    // Pausing at the reported peak (2:37) ends it by 3:00.
    let early = variant(&incident, "early-pause");
    assert_eq!(failed_share(&early, "apps", 3000.0 + 10.0, end), 0.0);
    assert!(early.clients[0].failed * 5 < r.clients[0].failed);
    // Capacity with no pause works at once here: the replay does not starve the
    // operators' administrative requests.
    let no_pause = variant(&incident, "capacity-without-pause");
    assert!((failed_share(&no_pause, "apps", asked + 60.0, pause) - 0.5).abs() < 0.02);
    assert_eq!(failed_share(&no_pause, "apps", pause + 10.0, end), 0.0);
}
