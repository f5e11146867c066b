//! Honeycomb ingest, November 2023: a surge puts every pod at its shedding limit, the
//! shed liveness probes restart them, the crash-loop back-off keeps them down (a
//! manual scale-up too) while the heavy senders' retries herd; cutting ingest off
//! for five minutes brings the fleet back, and it holds once ingest is let back.

use rewind::outcome::RunResult;

use super::{entry_at, failed_share, first_of, load_bundled, sum_between, variant};
use crate::util::{column, first, occurrences};

fn liveness_restarts(r: &RunResult) -> Vec<f64> {
    occurrences(r, "liveness_restart")
        .iter()
        .map(|o| o.0)
        .collect()
}

#[test]
fn honeycomb_ingest_crash_loops_under_liveness_and_back_off_until_ingest_is_cut() {
    let incident = load_bundled("honeycomb-ingest-2023-11.yaml");
    let r = rewind::model::replay(incident.baseline.clone());
    let at = |id: &str| entry_at(&incident, id);
    let (surge, scale_up, cut, readmit, limit) = (
        at("surge"),
        at("scale-up"),
        at("cut-lb"),
        at("readmit-lb"),
        at("limit-heavy"),
    );
    assert_eq!((surge, cut, readmit), (600.0, 2580.0, 2880.0));
    assert_eq!(
        readmit - cut,
        300.0,
        "the report's ~5 minutes of complete outage"
    );

    // Healthy before: nothing shed, nothing failed.
    assert_eq!(failed_share(&r, "collectors", 0.0, surge), 0.0);
    // The chain: shedding (429) at once, then a shed probe too many restarts a pod,
    // whose batches are reset (502).
    let shed = first(&r, 429).expect("shedding");
    assert!(surge < shed && shed < surge + 30.0, "{shed}");
    let restarts = liveness_restarts(&r);
    let restart = restarts[0];
    assert!(
        shed + 30.0 <= restart,
        "three probes, 10 s apart: {restart}"
    );
    assert_eq!(first(&r, 502), Some(restart));
    assert!(first_of(&r, "restart") >= restart);
    // A crash loop until the cut, none after the fleet is back.
    assert!(restarts.len() >= 40, "{} liveness restarts", restarts.len());
    assert!(restarts.iter().all(|t| *t < cut));
    // The scale-up adds pods that crash-loop like the others: never all 8 up.
    let up = column(&r, "ingest.replicas_up");
    let most_up = (scale_up as usize + 60..cut as usize)
        .map(|i| up[i])
        .fold(0.0, f64::max);
    assert!(most_up < 8.0, "{most_up}");
    // The herd: in the outage every batch is sent four times or more.
    let heavy_attempts = sum_between(&r, "heavy-senders.attempts", surge + 120.0, cut);
    let heavy_sent = sum_between(&r, "heavy-senders.sent", surge + 120.0, cut);
    assert!(
        heavy_attempts / heavy_sent > 4.0,
        "{heavy_attempts} / {heavy_sent}"
    );
    let outage = failed_share(&r, "collectors", surge + 120.0, cut);
    assert!((0.6..0.85).contains(&outage), "partial: {outage}");

    // The cut-off: most ingest refused at the load balancers; the pods come back.
    let during = failed_share(&r, "collectors", cut + 10.0, readmit);
    assert!(during > 0.9, "{during}");
    assert!(sum_between(&r, "lb.status_503", cut, readmit) > 0.0);
    assert_eq!(up[readmit as usize - 1], 8.0);
    // Let back, it holds: every pod up, no collector batch lost to the end.
    assert!((readmit as usize + 60..up.len()).all(|i| up[i] == 8.0));
    let end = r.duration.as_secs_f64();
    assert_eq!(failed_share(&r, "collectors", readmit + 60.0, end), 0.0);
    // The heavy senders' limit refuses their excess only.
    assert_eq!(
        sum_between(&r, "heavy-senders.failed", readmit + 60.0, limit),
        0.0
    );
    assert!(sum_between(&r, "lb-heavy.status_503", limit, end) > 0.0);

    // A readiness probe instead of liveness: nothing is restarted.
    let readiness = variant(&incident, "no-liveness-kill");
    assert!(liveness_restarts(&readiness).is_empty());
    let ready_outage = failed_share(&readiness, "collectors", surge + 120.0, cut);
    assert!(ready_outage < outage / 2.0, "{ready_outage}");
    // The per-source limit from the start: no crash loop, no collector batch lost.
    let limited = variant(&incident, "heavy-limited-from-the-start");
    assert!(liveness_restarts(&limited).is_empty());
    assert_eq!(failed_share(&limited, "collectors", surge, cut), 0.0);
    // Heavy senders that back off: the surge alone is more than the fleet can take,
    // and a shed retry costs the pods nothing, so the crash loop comes all the same.
    let backing_off = variant(&incident, "senders-back-off");
    assert!(liveness_restarts(&backing_off).len() >= 40);
    let lost = failed_share(&backing_off, "collectors", surge + 120.0, cut);
    assert!((lost - outage).abs() < 0.1, "{lost} vs {outage}");
    // Cutting ingest off earlier ends the crash loop earlier: a pod whose probes were
    // failing may still be restarted by the third, within 30 s of the cut.
    let early = variant(&incident, "cut-at-20m");
    assert!(liveness_restarts(&early)
        .iter()
        .all(|t| *t <= 1200.0 + 30.0));
    assert_eq!(failed_share(&early, "collectors", 1560.0, end), 0.0);
}
