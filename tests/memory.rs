//! Memory of garbage-collected runtimes: a churning Go service holds about twice its
//! live heap, a service whose handlers pile up holds what they hold, GOMEMLIMIT caps
//! the heap goal, and a JVM's full heap is an OutOfMemoryError (500), not an OOM kill.

use crate::util::{first, occurrences, replay, status};

/// 100 requests a second straight to `api` (constant arrivals at 10, 20, ... ms), each
/// a handler of 5 s that allocates 256 KiB: 500 in flight, 125 MiB live, once the
/// first have ended (5 s). 25 MiB of baseline, a 1 GiB limit, `memory_extra` after
/// the limit. Rows are 10 ms wide, so every 10 ms between arrivals is sampled once.
fn churning(memory_extra: &str) -> String {
    format!(
        r#"
name: t
duration: 10m
resolution: 10ms
clients:
  - {{name: users, to: api, rate: 100/s, arrivals: constant}}
services:
  - name: api
    memory: {{baseline: 25MiB, per_request: 256KiB, limit: 1GiB{memory_extra}}}
    handler: {{steps: [{{work: {{constant: 5s}}}}]}}
"#
    )
}

fn memory(r: &rewind::outcome::RunResult) -> Vec<f64> {
    r.series.column_values("api.memory_mib").expect("column")
}

/// The plain model holds the handlers in flight: 25 + 500 x 0.25 = 150 MiB.
///
/// Go with GOGC=100, by hand. Every 10 ms one handler ends (its 256 KiB become
/// garbage) and then one starts (the arrival was scheduled after the handler's end, so
/// it runs second); the collector runs at the allocation that would take the heap
/// past its goal, marked x 2. During the first 5 s the live heap only grows and the
/// goal doubles from the 4 MiB minimum: collections at 4, 8.5, 17.5, 35.5 and
/// 71.5 MiB (5), leaving a goal of 143.5 MiB. From 5.01 s each tick adds 0.25 MiB of
/// garbage to 125 MiB live; at 5.75 s (garbage 18.75 MiB) the heap would pass 143.5 MiB:
/// a collection marks 125 MiB, and the goal is 250 MiB from then on. After each such
/// collection n ticks later the heap is 125 + 0.25 n MiB, and the allocation at n = 501
/// would pass 250 MiB: a cycle is 501 ticks, 5.01 s, and the heap peaks at exactly
/// 250 MiB (n = 500). So the memory column peaks at 25 + 250 = 275 MiB, and over whole
/// cycles its samples, one per tick, are 25 + 125 + 0.25 n for n = 0..=500: a mean of
/// exactly 25 + 187.5 = 212.5 MiB, about 1.4 times the plain model's 150 MiB (and 1.8
/// at the peak). Steady collections at 5.75 + 5.01 j s, j = 0..=118, before the end
/// at 600 s: 119, plus the 5 of the first seconds.
#[test]
fn a_churning_go_service_holds_about_twice_its_live_heap() {
    let plain = replay(&churning(""));
    let m = memory(&plain);
    assert!(m[1000..].iter().all(|&v| v == 150.0), "plain steady state");
    assert_eq!(plain.services[0].gc_cycles, 0);

    let go = replay(&churning(", runtime: go"));
    let m = memory(&go);
    assert_eq!(go.services[0].peak_memory_mib, 275.0);
    assert_eq!(go.services[0].gc_cycles, 124);
    assert_eq!(go.services[0].oom_kills, 0);
    // Each collection is a drop in the column; from 30 s on, they come every 501 rows.
    let drops: Vec<usize> = (3000..m.len()).filter(|&i| m[i] < m[i - 1]).collect();
    assert!(drops.windows(2).all(|w| w[1] - w[0] == 501), "{drops:?}");
    let (from, to) = (drops[0], drops[drops.len() - 1]);
    let cycles = &m[from..to];
    let mean = cycles.iter().sum::<f64>() / cycles.len() as f64;
    assert_eq!(mean, 212.5);
    assert_eq!(cycles.iter().copied().fold(0.0, f64::max), 275.0);
    assert_eq!(cycles.iter().copied().fold(f64::MAX, f64::min), 150.0);
}

/// GOMEMLIMIT=200MiB with 25 MiB outside the heap caps the goal at 175 MiB less 3%
/// of it (5.25 MiB): 169.75 MiB, below GOGC's 250 MiB, so the heap collects at
/// 169.75 MiB and the process peaks at 194.75 MiB. With GOGC=off the limit alone
/// decides, the same way; with neither, garbage is never collected and the process is
/// OOM-killed at its 1 GiB limit.
#[test]
fn gomemlimit_caps_the_heap_goal() {
    let limited = replay(&churning(", runtime: go, gomemlimit: 200MiB"));
    assert_eq!(limited.services[0].peak_memory_mib, 194.75);
    let off = replay(&churning(", runtime: go, gogc: off, gomemlimit: 200MiB"));
    assert_eq!(off.services[0].peak_memory_mib, 194.75);
    let never = replay(&churning(", runtime: go, gogc: off"));
    assert!(never.services[0].oom_kills >= 1);
    assert_eq!(never.services[0].gc_cycles, 0);
    let kill = &occurrences(&never, "oom_kill")[0].1;
    assert!(kill.contains("MiB garbage)"), "{kill}");
}

/// Handlers that block and never end leave no garbage: a Go service holds exactly
/// what they hold, as in the plain model, and is OOM-killed at the same instant (the
/// 51st 1 MiB handler takes 100 MiB over the 150 MiB limit at 51 s).
#[test]
fn handlers_that_pile_up_hold_what_they_hold() {
    let yaml = |runtime: &str| {
        format!(
            r#"
name: t
duration: 2m
clients:
  - {{name: users, to: api, rate: 1/s, arrivals: constant}}
services:
  - name: api
    memory: {{baseline: 100MiB, per_request: 1MiB, limit: 150MiB{runtime}}}
    handler: {{context: background, steps: [{{work: {{constant: 10h}}}}]}}
"#
        )
    };
    let plain = replay(&yaml(""));
    let go = replay(&yaml(", runtime: go"));
    assert_eq!(memory(&plain), memory(&go));
    let kills = |r| {
        occurrences(r, "oom_kill")
            .iter()
            .map(|o| o.0)
            .collect::<Vec<_>>()
    };
    assert_eq!(kills(&go)[0], 51.0);
    assert_eq!(kills(&plain), kills(&go));
}

/// A JVM whose handlers pile up (1 MiB each, one a second, never ending) behind nginx:
/// the first 64 fill `-Xmx` 64 MiB; from the 65th (at 65 s) every allocation fails
/// after a full collection that frees nothing: OutOfMemoryError, answered 500, 55 of
/// them by the end (requests at 65 .. 119 s). The process runs on at 100 + 64 MiB,
/// far under its 512 MiB limit: no OOM kill.
#[test]
fn a_full_jvm_heap_answers_500_not_an_oom_kill() {
    let r = replay(&jvm("xmx: 64MiB", "limit: 512MiB"));
    assert_eq!(status(&r, 500), 55);
    assert_eq!(first(&r, 500), Some(65.0));
    assert_eq!(r.services[0].out_of_memory_errors, 55);
    assert_eq!(r.services[0].oom_kills, 0);
    assert_eq!(r.services[0].restarts, 0);
    assert_eq!(r.services[0].peak_memory_mib, 164.0);
    let oome = occurrences(&r, "out_of_memory_error");
    assert_eq!(oome.len(), 1, "one event per process");
    assert_eq!(oome[0].0, 65.0);
}

/// With `-XX:+ExitOnOutOfMemoryError` the first OutOfMemoryError ends the process,
/// which Kubernetes restarts at once (5 s of start-up): no 500, and no OOM kill.
#[test]
fn exit_on_oom_ends_the_process() {
    let r = replay(&jvm("xmx: 64MiB, exit_on_oom: true", "limit: 512MiB"));
    assert_eq!(status(&r, 500), 0);
    assert_eq!(occurrences(&r, "oome_exit")[0].0, 65.0);
    assert_eq!(r.services[0].oom_kills, 0);
    assert!(r.services[0].restarts >= 1);
}

/// An `-Xmx` above what the container allows: the heap commits memory as it fills,
/// and the kernel kills the process before the JVM ever throws (100 + 42 x 10 MiB is
/// over 512 MiB at 42 s).
#[test]
fn an_xmx_over_the_container_limit_is_an_oom_kill() {
    let r = replay(
        &jvm("xmx: 1GiB", "limit: 512MiB").replace("per_request: 1MiB", "per_request: 10MiB"),
    );
    assert_eq!(occurrences(&r, "oom_kill")[0].0, 42.0);
    assert_eq!(r.services[0].out_of_memory_errors, 0);
}

/// A churning JVM collects only when its heap is full, so its committed heap, and the
/// memory column, climb to baseline + `-Xmx` and stay there.
#[test]
fn a_churning_jvm_commits_its_whole_heap() {
    let r = replay(&churning(", runtime: jvm, xmx: 300MiB"));
    let m = memory(&r);
    assert_eq!(r.services[0].peak_memory_mib, 325.0);
    assert!(m[20_000..].iter().all(|&v| v == 325.0));
    assert_eq!(r.services[0].out_of_memory_errors, 0);
}

fn jvm(runtime: &str, limit: &str) -> String {
    format!(
        r#"
name: t
duration: 2m
clients:
  - {{name: users, to: edge, rate: 1/s, arrivals: constant}}
gateways:
  - {{name: edge, upstream: [api], proxy_read_timeout: 1h}}
services:
  - name: api
    memory: {{baseline: 100MiB, per_request: 1MiB, {limit}, runtime: jvm, {runtime}}}
    handler: {{context: background, steps: [{{work: {{constant: 10h}}}}]}}
"#
    )
}
