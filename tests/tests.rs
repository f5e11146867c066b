//! The integration tests, one binary. Each module pins one promise of rewind:
//!
//! - `alerts`: Prometheus-style rules: pending, `for`, firing, resolved, time to detect.
//! - `queueing`: M/M/1, M/M/c (Erlang C), M/M/c/(c+1) (a backlog of 0: Erlang B plus
//!   the one place Linux keeps), M/M/c/K and Little's law agree with theory within
//!   tolerances derived from the standard error.
//! - `determinism`: same file and seed give identical bytes; another seed does not.
//! - `conservation`: every request ends exactly once; pools never hand out more than
//!   they hold; counters never go backwards (also as a property over random systems).
//! - `nginx`: each status rule of the nginx profile (504, 502, 499, pass-through 500,
//!   dropped handshakes, next upstream, passive health, "no live upstreams"), and the
//!   accept queue's backlog + 1 and `somaxconn` cap.
//! - `memory`: garbage-collected runtimes: a churning Go heap against the hand-computed
//!   sawtooth, GOMEMLIMIT, piled-up handlers, a JVM's OutOfMemoryError and `-Xmx`.
//! - `pools`: go-sql and hikari waiting rules, and the three release modes of a job.
//! - `jobs`: a job iteration's steps: a statement's own time, work holding the
//!   connection, `statement_timeout`, the deadline at a step's end, a restart.
//! - `restarts`: OOM kills, Kubernetes back-off and its reset, fixed delays.
//! - `fds`: descriptors a `leak` step leaves open, EMFILE at exactly the limit, the
//!   process's exit and its restart from the baseline.
//! - `rollouts`: rolling and recreate deploys, rollbacks and restarts: a recreate
//!   refuses for exactly the start-up time, a rolling update never.
//! - `incidents`: the bundled incident files replay the chain their stories tell (one
//!   file per library incident under `incidents/`, sharing the helpers in its `mod.rs`).
//! - `variants`: overrides validated like the file, common random numbers, `compare`.
//! - `bad_input`: every class of bad incident file gets exit code 2, a located
//!   message, and no output.
//! - `calls`: service-to-service calls, their timeouts, cancellation, and call loops.
//! - `charts`: valid PNG/SVG of the expected size, never a panic on empty data.
//! - `html`: `report.html` and `compare.html` load in headless Chromium with every chart
//!   drawn, nothing fetched and no error; the incident's text is escaped.
//! - `cli`: the commands as a newcomer runs them.
//! - `metrics`: time-series rows are `[t, t + resolution)`, exactly; per-interval mean
//!   response times add up to Little's law, summary queue waits to the queue length;
//!   success-only percentiles leave fast failures out.
//! - `resilience`: client and call retries and circuit breakers at their exact instants
//!   and counts, retries multiplying through layers, the metastable retry storm.
//! - `probes`: Kubernetes liveness and readiness probes through the listener and the
//!   workers: restarts and endpoint changes at the instants the kubelet gives.
//! - `autoscaling`: the HPA's replica counts step by step, with and without `behavior`.
//! - `envoy`: the Envoy profile's status and response flag per failure mode, timeouts,
//!   retries, circuit breakers and outlier detection.
//! - `capacity`: CPU limits as processor sharing (M/G/1-PS, M/M/c with c CPUs) shared
//!   by handlers and jobs' `work`, databases whose cores saturate, a handler's
//!   statement of its own time, `statement_timeout`, connection set-up, HPA on CPU.
//! - `routes`: a client's split among routes (by share, by rate), each route's steps,
//!   method and gateway timeout, per-route columns, reserved workers and route limits.
//! - `faults`: injected aborts, delays and resets, switched on and off by the timeline.
//! - `bodies`: responses with a body: `proxy_read_timeout` per read, the truncated 200s
//!   of a body that breaks off (per gateway and per route), the time to the header.
//! - `caches`: hit ratios and fills against the arithmetic of TTL and arrival rate,
//!   single-flight's one fill per key, failed fills, serve-stale, and the stampedes of
//!   a restart, of entries filled together, of a flush.
//! - `regimes`: healthy, degraded, overloaded, recovering and metastable stretches at
//!   the edges the backlog's arithmetic gives, and each entry's time to recover.
//! - `bench`: `rewind bench` prints well-formed JSON lines; the bench/ models are valid.
//! - `promtool`: alert and recording rules evaluated by rewind and by the real
//!   `promtool test rules` fire the same alerts, with the same labels, at every
//!   evaluation: probes of the edges, and bundled incidents' exported series.
//! - `openmetrics`: `metrics.om` as Prometheus would have scraped the replay: counters,
//!   gauges and the response-time histogram at each scrape, every column's selector;
//!   the real promtool loads it and a real Prometheus answers with the replay's
//!   numbers; the Grafana dashboard queries only exported names.
//! - `schema`: `rewind schema` accepts every bundled incident and benchmark model,
//!   refuses unknown fields and wrong types, reads durations as rewind does, and names
//!   every field the raw types accept.
//! - `progress`: the bar on a terminal (simulated time, events/s, time left, cleared
//!   at the end); nothing on a standard error that is not a terminal; a watched replay
//!   is the same replay.
//! - `fuzz`: structure-aware fuzzing (FUZZING.md): incidents grown from the bundled and
//!   inline ones through `check`, a short replay and its charts, rules files and
//!   PromQL, never a panic, a hang or a failed rendering (`fuzz_targets`: the targets,
//!   shared with the AFL++ binaries under `fuzz/`).
//! - `calibrate`: the scores (weighted MAPE, r, bias, grades) on hand-made series, rows
//!   and times of CSV and Prometheus observations, a replay against its own time series
//!   (perfect), bad input (exit 2, located, nothing written), a fit that finds the pool
//!   size the observations were made with.
//! - `sweep`: a sweep's row is the replay with its overrides; shards run as separate
//!   processes and merged are the whole sweep byte for byte; a resumed sweep runs only
//!   the missing points; bad grids, shards and merges exit 2 with nothing written; the
//!   Kubernetes and Slurm files under deploy/ run every shard.
//! - `output`: an output folder is complete at every instant and rewind removes nothing
//!   that is not its own (refused `--out`s, one run per folder, signals, leftovers);
//!   a closed or full standard output never panics.

mod util;

mod alerts;
mod autoscaling;
mod bad_input;
mod bench;
mod bodies;
mod caches;
mod calibrate;
mod calls;
mod capacity;
mod charts;
mod cli;
mod conservation;
mod determinism;
mod envoy;
mod faults;
mod fds;
mod fuzz;
mod fuzz_targets;
mod html;
mod incidents;
mod jobs;
mod memory;
mod metrics;
mod nginx;
mod openmetrics;
mod output;
mod pools;
mod probes;
mod progress;
mod promtool;
mod queueing;
mod regimes;
mod resilience;
mod restarts;
mod rollouts;
mod routes;
mod schema;
mod sweep;
mod variants;
