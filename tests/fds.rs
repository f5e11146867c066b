//! File descriptors: a `leak` step's descriptors stay open with the process, the
//! `open()` that would pass `RLIMIT_NOFILE` fails with EMFILE and the process exits,
//! and the restart starts from the baseline again. Constant arrivals straight to one
//! single-worker replica make every count exact.

use rewind::outcome::RunResult;

use crate::util::{occurrences, replay};

/// One request a second (at 1 s, 2 s, ...) straight to one replica, each 10 ms of work
/// and then `leak`; `fds` and a fixed 5 s restart delay with 1 s of start-up.
fn leaking(fds: &str, leak: &str, duration: &str) -> String {
    format!(
        r#"
name: t
duration: {duration}
clients:
  - {{name: users, to: api, rate: 1/s, arrivals: constant}}
services:
  - name: api
    workers: 1
    {fds}
    restart: {{startup: 1s, backoff: {{fixed: 5s}}}}
    handler:
      steps: [{{work: {{constant: 10ms}}}}, {{leak: {leak}}}]
"#
    )
}

fn fds(r: &RunResult) -> Vec<f64> {
    r.series.column_values("api.fds").expect("an fds column")
}

/// When the process exited on EMFILE, in whole milliseconds.
fn crash_times(r: &RunResult) -> Vec<u64> {
    occurrences(r, "fd_exhausted")
        .iter()
        .map(|o| (o.0 * 1000.0).round() as u64)
        .collect()
}

/// A limit of 10 and nothing open at start: requests 1 to 10 leak one descriptor each
/// (the tenth takes the count to the limit, which is allowed), and the eleventh's
/// `open()` at 11.01 s fails: the process exits, its request is reset. It is started
/// again 5 s later (16.01 s) and listens 1 s after that (17.01 s), so requests 12 to
/// 17 are refused; requests 18 to 27 leak into the new process's fresh table and the
/// 28th crashes it at 28.01 s. Of 29 requests sent before 30 s, 20 succeed.
#[test]
fn the_process_exits_at_the_request_whose_descriptor_does_not_fit() {
    let r = replay(&leaking("fds: {limit: 10, baseline: 0}", "{fds: 1}", "30s"));
    assert_eq!(crash_times(&r), vec![11_010, 28_010]);
    let sv = &r.services[0];
    assert_eq!(
        (sv.fd_crashes, sv.leaked_fds, sv.peak_fds, sv.restarts),
        (2, 20, 10, 1)
    );
    let c = &r.clients[0];
    assert_eq!((c.sent, c.ok, c.failed), (29, 20, 9));
    // The gauge at the end of each second: k descriptors after the k-th request, none
    // while the process is down, the count starting over in the new process.
    let f = fds(&r);
    let first_life: Vec<f64> = (1..=10).map(f64::from).collect();
    assert_eq!(f[1..=10], first_life[..]);
    assert!(f[11..=16].iter().all(|&v| v == 0.0), "{:?}", &f[11..=16]);
    assert_eq!(f[17], 0.0, "started at 16.01 s, nothing leaked yet");
    assert_eq!(f[18..=27], first_life[..], "the count starts over");
    let detail = &occurrences(&r, "fd_exhausted")[0].1;
    assert!(
        detail.contains("10 of 10 descriptors open, 10 of them leaked"),
        "{detail}"
    );
}

/// The default baseline (stdin, stdout, stderr, the listening socket) takes 4 of the
/// 10: six requests fit and the seventh crashes the process. A step leaking 3 at a
/// time with nothing open fits three times (9) and not a fourth (12 > 10).
#[test]
fn the_baseline_and_a_step_of_several_descriptors_count_exactly() {
    let r = replay(&leaking("fds: {limit: 10}", "{fds: 1}", "10s"));
    assert_eq!(crash_times(&r), vec![7_010]);
    assert_eq!(fds(&r)[0], 4.0);
    assert_eq!(r.services[0].peak_fds, 10);

    let r = replay(&leaking("fds: {limit: 10, baseline: 0}", "{fds: 3}", "10s"));
    assert_eq!(crash_times(&r), vec![4_010]);
    assert_eq!(fds(&r)[3], 9.0);
    assert_eq!(r.services[0].leaked_fds, 9);
}

/// Without `fds:` a leaking service has Linux's default soft limit, 1,024, and the
/// baseline of 4: 1,020 requests fit. A leak of 0 never crashes; a service with no
/// leak step and no `fds:` has no column at all.
#[test]
fn a_leak_without_fds_gets_linux_defaults() {
    let r = replay(&leaking("", "{fds: 1}", "1030s"));
    assert_eq!(crash_times(&r), vec![1_021_010]);
    assert_eq!(r.services[0].peak_fds, 1024);

    let r = replay(&leaking("fds: {limit: 10}", "{fds: 0}", "30s"));
    assert!(crash_times(&r).is_empty());
    assert!(fds(&r).iter().all(|&v| v == 4.0));

    let r = replay(
        "name: t\nduration: 5s\nclients: [{name: users, to: api, rate: 1/s}]\nservices: [{name: api, handler: {steps: [{work: {constant: 1ms}}]}}]\n",
    );
    assert!(r.series.column_values("api.fds").is_none());
    assert_eq!(r.services[0].peak_fds, 0);
}
