//! `metrics.om`: counters cumulative at each scrape, gauges read at the row that ends
//! there, the response-time histogram's buckets, every column's PromQL selector, the
//! `start` and `scrape_interval` fields; then the real `promtool` turns a bundled
//! incident's export into blocks, a real Prometheus serves them on loopback, and its
//! PromQL answers agree with `summary.json` and `timeseries.csv`. The Grafana
//! dashboard queries only names the export has.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rewind::model::{components, metric_columns};
use rewind::outcome::exposition::{
    expose, le_label, sample_names, selector, ExportedSeries, Exposition, N_BUCKETS,
};
use rewind::outcome::{RunResult, STATUSES};

use crate::bad_input::{at, rejects, variant};
use crate::util::{incident_path, replay, replay_cli, scenario};

/// A system with one component of every kind, routes, a call, a job, CPU limits and
/// a memory model: every kind of column.
const EVERYTHING: &str = r#"
name: everything
duration: 30s
resolution: 1s
scrape_interval: 10s
clients:
  - {name: users, to: edge, rate: 20/s, routes: {charges: 90%, reports: 10%}}
gateways:
  - {name: edge, upstream: [api]}
  - {name: mesh, profile: envoy, upstream: [ledger]}
services:
  - name: api
    cpus: 2
    memory: {baseline: 100MiB, per_request: 1MiB, limit: 512MiB}
    routes:
      - name: charges
        steps: [{work: {constant: 10ms}}, {query: main}, {call: {service: ledger, timeout: 1s}}]
      - name: reports
        steps: [{cached: {cache: settings, steps: [{query: main}]}}, {body: {chunks: 2, every: {constant: 5ms}}}]
    pools:
      - {name: main, profile: go-sql, database: pg, max_open: 10}
    jobs:
      - {name: sweep, pool: main, every: 10s, iterations: 2, release: per_iteration}
  - name: ledger
    handler:
      steps: [{work: {constant: 2ms}}]
databases:
  - {name: pg, latency: {constant: 3ms}, max_connections: 50, cpus: 4}
caches:
  - {name: settings, keys: 100, ttl: 5s}
"#;

/// A gateway in front of a service whose every answer takes exactly 30 ms, scraped
/// every 10 s over a minute at 1 s rows.
const STEADY: &str = r#"
name: steady
duration: 1m
resolution: 1s
scrape_interval: 10s
clients:
  - {name: users, to: edge, rate: 50/s}
gateways:
  - {name: edge, upstream: [api]}
services:
  - name: api
    memory: {baseline: 64MiB, per_request: 1MiB, limit: 256MiB}
    handler:
      steps: [{work: {constant: 30ms}}]
"#;

/// The series of `exp` named `name` with these labels (sorted by name).
fn series<'a>(exp: &'a Exposition, name: &str, labels: &[(&str, &str)]) -> &'a ExportedSeries {
    exp.series()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && s.labels
                    .iter()
                    .zip(labels)
                    .all(|((k, v), (k2, v2))| k == k2 && v == v2)
        })
        .unwrap_or_else(|| panic!("no series {name} {labels:?}"))
}

fn exposition_of(yaml: &str) -> (RunResult, Exposition) {
    let s = scenario(yaml);
    let r = rewind::model::replay(s.clone());
    let e = expose(&components(&s), &r);
    (r, e)
}

#[test]
fn counters_are_the_count_of_every_row_that_ended_by_the_scrape() {
    let (r, e) = exposition_of(STEADY);
    assert_eq!(e.scrape_interval_ms, 10_000);
    let column = r.series.column_values("edge.status_200").expect("column");
    let s = series(
        &e,
        "rewind_gateway_responses_total",
        &[("component", "edge"), ("status", "200")],
    );
    // A scrape at 0 and one every 10 s to the end: 7.
    let times: Vec<i64> = s.samples.iter().map(|x| x.at_ms).collect();
    assert_eq!(
        times,
        vec![0, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000]
    );
    for x in &s.samples {
        let rows = (x.at_ms / 1000) as usize;
        let expected: f64 = column[..rows].iter().sum();
        assert_eq!(x.value, expected, "at {} ms", x.at_ms);
    }
    // The last scrape is at the end: the run's total, counted apart from the series.
    let last = s.samples.last().expect("samples").value;
    assert_eq!(last, r.gateways[0].by_status[0] as f64);
    assert!(last > 2000.0, "50/s for a minute: {last}");
}

#[test]
fn gauges_are_read_at_the_end_of_the_row_that_ends_at_the_scrape() {
    let (r, e) = exposition_of(STEADY);
    let memory = r.series.column_values("api.memory_mib").expect("column");
    let s = series(&e, "rewind_service_memory_bytes", &[("component", "api")]);
    // Nothing is read before the first row ends: no sample at 0.
    assert_eq!(s.samples.first().map(|x| x.at_ms), Some(10_000));
    assert_eq!(s.samples.len(), 6);
    for x in &s.samples {
        let row = (x.at_ms / 1000) as usize - 1;
        assert_eq!(x.value, memory[row] * 1024.0 * 1024.0, "at {} ms", x.at_ms);
        assert!(x.value >= 64.0 * 1024.0 * 1024.0);
    }
    let limit = series(
        &e,
        "rewind_service_memory_limit_bytes",
        &[("component", "api")],
    );
    assert!(limit
        .samples
        .iter()
        .all(|x| x.value == 256.0 * 1024.0 * 1024.0));
}

#[test]
fn a_percentile_gauge_is_left_out_where_the_row_has_no_response() {
    // Traffic stops after 20 s (no responses in the rows that end at 30 s and later).
    let text =
        format!("{STEADY}timeline:\n  - {{at: 20s, set_rate: {{client: users, rate: 0/s}}}}\n");
    let (r, e) = exposition_of(&text);
    let p50 = r.series.column_values("edge.p50_ms").expect("column");
    assert!(p50[29].is_nan(), "no response in the row before 30 s");
    let s = series(
        &e,
        "rewind_gateway_interval_response_duration_seconds",
        &[("component", "edge"), ("quantile", "0.5")],
    );
    let times: Vec<i64> = s.samples.iter().map(|x| x.at_ms).collect();
    assert_eq!(times, vec![10_000, 20_000]);
    assert!(
        (s.samples[0].value - 0.030).abs() < 0.0005,
        "{:?}",
        s.samples
    );
}

#[test]
fn the_histogram_puts_every_30_ms_answer_in_the_50_ms_bucket() {
    let (r, e) = exposition_of(STEADY);
    let base = "rewind_gateway_response_duration_seconds";
    let ok = r.gateways[0].by_status[0] as f64;
    let at_end = |name: &str, le: Option<&str>| {
        let mut labels = vec![("component", "edge")];
        if let Some(le) = le {
            labels.push(("le", le));
        }
        labels.push(("status", "200"));
        series(&e, name, &labels)
            .samples
            .last()
            .expect("samples")
            .value
    };
    assert_eq!(at_end(&format!("{base}_bucket"), Some("0.025")), 0.0);
    assert_eq!(at_end(&format!("{base}_bucket"), Some("0.05")), ok);
    assert_eq!(at_end(&format!("{base}_bucket"), Some("+Inf")), ok);
    assert_eq!(at_end(&format!("{base}_count"), None), ok);
    let sum = at_end(&format!("{base}_sum"), None);
    assert!(
        (sum - 0.030 * ok).abs() < 1e-6 * ok,
        "sum {sum} for {ok} answers"
    );
}

#[test]
fn histogram_buckets_grow_with_le_and_with_time_and_end_at_the_count() {
    let (r, e) = exposition_of(EVERYTHING);
    let base = "rewind_gateway_response_duration_seconds";
    for (i, status) in STATUSES.iter().enumerate() {
        let status = status.to_string();
        let buckets: Vec<&ExportedSeries> = (0..N_BUCKETS)
            .map(|b| {
                series(
                    &e,
                    &format!("{base}_bucket"),
                    &[
                        ("component", "edge"),
                        ("le", &le_label(b)),
                        ("status", &status),
                    ],
                )
            })
            .collect();
        let count = series(
            &e,
            &format!("{base}_count"),
            &[("component", "edge"), ("status", &status)],
        );
        let responses = series(
            &e,
            "rewind_gateway_responses_total",
            &[("component", "edge"), ("status", &status)],
        );
        for k in 0..count.samples.len() {
            for pair in buckets.windows(2) {
                assert!(pair[0].samples[k].value <= pair[1].samples[k].value);
            }
            assert_eq!(
                buckets[N_BUCKETS - 1].samples[k].value,
                count.samples[k].value
            );
            assert_eq!(count.samples[k].value, responses.samples[k].value);
            if k > 0 {
                for b in &buckets {
                    assert!(b.samples[k - 1].value <= b.samples[k].value);
                }
            }
        }
        assert_eq!(
            count.samples.last().map(|x| x.value),
            Some(r.gateways[0].by_status[i] as f64)
        );
    }
}

#[test]
fn selectors_name_every_kind_of_column() {
    let s = scenario(EVERYTHING);
    let c = components(&s);
    let cases = [
        (
            "users.sent",
            r#"rewind_client_requests_total{component="users"}"#,
        ),
        (
            "users.ok",
            r#"rewind_client_requests_finished_total{component="users",outcome="ok"}"#,
        ),
        (
            "users.breaker_open",
            r#"rewind_client_breaker_open{component="users"}"#,
        ),
        (
            "users.breaker_half_open",
            r#"rewind_client_breaker_half_open{component="users"}"#,
        ),
        (
            "edge.requests",
            r#"rewind_gateway_requests_total{component="edge"}"#,
        ),
        (
            "mesh.flag_UO",
            r#"rewind_gateway_response_flags_total{component="mesh",flag="UO"}"#,
        ),
        (
            "edge.status_504",
            r#"rewind_gateway_responses_total{component="edge",status="504"}"#,
        ),
        (
            "edge.truncated",
            r#"rewind_gateway_responses_truncated_total{component="edge"}"#,
        ),
        (
            "edge.p99_ms",
            r#"rewind_gateway_interval_response_duration_seconds{component="edge",quantile="0.99"}"#,
        ),
        (
            "edge.ok_mean_ms",
            r#"rewind_gateway_interval_ok_response_duration_mean_seconds{component="edge"}"#,
        ),
        (
            "edge.reports.status_200",
            r#"rewind_gateway_route_responses_total{component="edge",route="reports",status="200"}"#,
        ),
        (
            "edge.charges.truncated",
            r#"rewind_gateway_route_responses_truncated_total{component="edge",route="charges"}"#,
        ),
        (
            "edge.header_p99_ms",
            r#"rewind_gateway_interval_header_duration_seconds{component="edge",quantile="0.99"}"#,
        ),
        (
            "edge.header_mean_ms",
            r#"rewind_gateway_interval_header_duration_mean_seconds{component="edge"}"#,
        ),
        (
            "edge.charges.p50_ms",
            r#"rewind_gateway_route_interval_response_duration_seconds{component="edge",quantile="0.5",route="charges"}"#,
        ),
        (
            "api.inflight",
            r#"rewind_service_handlers_in_flight{component="api"}"#,
        ),
        (
            "api.queued",
            r#"rewind_service_accept_queue_connections{component="api"}"#,
        ),
        (
            "api.memory_mib",
            r#"rewind_service_memory_bytes{component="api"}"#,
        ),
        (
            "api.restarts",
            r#"rewind_service_restarts_total{component="api"}"#,
        ),
        (
            "api.cpu_utilisation",
            r#"rewind_service_cpu_utilisation_ratio{component="api"}"#,
        ),
        (
            "api.charges.errors",
            r#"rewind_service_route_answers_total{component="api",outcome="error",route="charges"}"#,
        ),
        (
            "api.reports.shed",
            r#"rewind_service_route_requests_shed_total{component="api",route="reports"}"#,
        ),
        (
            "api.calls.ledger.attempts",
            r#"rewind_call_attempts_total{component="api",target="ledger"}"#,
        ),
        (
            "api.calls.ledger.breaker_open",
            r#"rewind_call_breakers_open{component="api",target="ledger"}"#,
        ),
        (
            "api.calls.ledger.breaker_half_open",
            r#"rewind_call_breakers_half_open{component="api",target="ledger"}"#,
        ),
        (
            "main.in_use",
            r#"rewind_pool_connections_in_use{component="main"}"#,
        ),
        ("main.waiting", r#"rewind_pool_waiters{component="main"}"#),
        (
            "sweep.running",
            r#"rewind_job_replicas_running{component="sweep"}"#,
        ),
        (
            "pg.running_queries",
            r#"rewind_database_queries_running{component="pg"}"#,
        ),
        (
            "pg.cpu_utilisation",
            r#"rewind_database_cpu_utilisation_ratio{component="pg"}"#,
        ),
        (
            "settings.stale",
            r#"rewind_cache_lookups_total{component="settings",result="stale"}"#,
        ),
        (
            "settings.filling",
            r#"rewind_cache_fills_in_flight{component="settings"}"#,
        ),
    ];
    let columns = metric_columns(&s);
    for (column, expected) in cases {
        assert!(columns.iter().any(|c| c == column), "{column} is a column");
        assert_eq!(selector(&c, column).as_deref(), Some(expected), "{column}");
    }
    for not_a_column in [
        "nobody.sent",
        "edge.status_418",
        "api.calls.nobody",
        "users",
    ] {
        assert_eq!(selector(&c, not_a_column), None, "{not_a_column}");
    }
}

#[test]
fn every_column_has_exactly_one_exported_series() {
    let s = scenario(EVERYTHING);
    let r = rewind::model::replay(s.clone());
    let c = components(&s);
    let e = expose(&c, &r);
    let mut selectors = BTreeSet::new();
    for column in &r.series.columns {
        let sel = selector(&c, column).unwrap_or_else(|| panic!("{column} has no selector"));
        assert!(selectors.insert(sel.clone()), "{sel} names two columns");
        let found = e.series().filter(|x| {
            let labels: Vec<String> = x
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect();
            sel == format!("{}{{{}}}", x.name, labels.join(","))
        });
        assert_eq!(found.count(), 1, "{column}: {sel}");
    }
    // Families hold their series together, each series in time order.
    let mut names = BTreeSet::new();
    for f in &e.families {
        assert!(names.insert(f.name.clone()), "family {} twice", f.name);
        for x in &f.series {
            assert!(x.samples.windows(2).all(|w| w[0].at_ms < w[1].at_ms));
        }
    }
}

#[test]
fn metrics_om_is_the_same_bytes_for_the_same_file_and_seed() {
    let s = scenario(EVERYTHING);
    let a = rewind::report::metrics_om(&s, &replay(EVERYTHING));
    let b = rewind::report::metrics_om(&s, &replay(EVERYTHING));
    assert_eq!(a, b);
    assert!(a.ends_with("# EOF\n"));
    // The default start: 2026-01-01T00:00:00Z is 1767225600 s after the epoch.
    assert!(
        a.contains(r#"rewind_client_requests_total{component="users"} 0 1767225600"#),
        "{}",
        &a[..400]
    );
}

#[test]
fn start_places_the_timestamps() {
    let text = STEADY.replace(
        "scrape_interval: 10s",
        "scrape_interval: 10s\nstart: 2015-10-27T16:00:00.250+01:00",
    );
    let om = rewind::report::metrics_om(&scenario(&text), &replay(&text));
    // 15:00:00.250 UTC: 1445958000.25 s after the epoch; the next scrape 10 s later.
    assert!(om.contains(r#"rewind_client_requests_total{component="users"} 0 1445958000.25"#));
    assert!(om.contains(" 1445958010.25\n"));
}

#[test]
fn timestamps_read_back_as_the_millisecond_written() {
    // Prometheus reads a timestamp as a double and truncates it times 1000.
    for ms in (1_767_225_600_000i64..1_767_225_602_000).chain([0, 1, 999, 1001]) {
        let text = rewind::report::openmetrics::timestamp(ms);
        let read = (text.parse::<f64>().expect("a number") * 1000.0) as i64;
        assert_eq!(read, ms, "{text}");
    }
}

#[test]
fn a_scrape_interval_off_the_resolution_is_refused_at_its_line() {
    let t = variant("resolution: 1s", "resolution: 1s\nscrape_interval: 1500ms");
    rejects(
        &t,
        &[&format!(
            "{} a scrape interval of 1s 500ms is not a multiple of the resolution, 1s",
            at(&t, "scrape_interval: 1500ms", "1500ms")
        )],
    );
}

#[test]
fn a_start_that_is_not_rfc_3339_is_refused_at_its_line() {
    let t = variant("resolution: 1s", "resolution: 1s\nstart: 2026-13-01 09:00");
    rejects(
        &t,
        &[
            &at(&t, "start: 2026-13-01", "2026"),
            "is not an RFC 3339 timestamp",
        ],
    );
}

#[test]
fn an_export_of_too_many_samples_is_refused_at_the_scrape_interval() {
    let t = variant(
        "resolution: 1s",
        "resolution: 100ms\nscrape_interval: 100ms",
    );
    rejects(
        &t,
        &[
            &at(&t, "scrape_interval: 100ms", "100ms"),
            "samples for metrics.om, more than the 10,000,000 an export may hold",
        ],
    );
}

/// The path of a program the real-Prometheus tests need, or a failure that says how
/// to install it.
fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed: these tests hold metrics.om against the real Prometheus; install Debian's `prometheus` package (apt-get install prometheus), as .ci/run does"
        )
    })
}

/// A Prometheus process this test started; killed (by its own PID) and reaped
/// however the test ends.
struct Prometheus {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Start Prometheus over the TSDB at `data` on a free loopback port, and wait
    /// until it says it is ready.
    fn start(data: &Path, dir: &Path) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1m\n").expect("config");
        // A port the kernel says is free; Prometheus binds it a moment later.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.join("prometheus.log");
        let out = std::fs::File::create(&log).expect("log");
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            // Blocks from 2026 must not age out against a later wall clock.
            .arg("--storage.tsdb.retention.time=100y")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("prometheus starts");
        let mut p = Prometheus { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", p.log_text());
            }
            if p.get("/-/ready").is_some_and(|(code, _)| code == 200) {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within 30 s:\n{}",
                p.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An HTTP/1.0 GET on loopback: (status code, body); None if nothing answers.
    fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        let code = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((code, body.to_string()))
    }

    /// The value of an instant query that must return one sample.
    fn query(&self, promql: &str, unix_s: i64) -> f64 {
        let path = format!(
            "/api/v1/query?query={}&time={unix_s}",
            percent_encode(promql)
        );
        let (code, body) = self.get(&path).expect("prometheus answers");
        assert_eq!(code, 200, "{promql}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let result = json["data"]["result"].as_array().expect("a vector");
        assert_eq!(result.len(), 1, "{promql} at {unix_s}: {body}");
        result[0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{promql}: {body}"))
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A column of `timeseries.csv`.
fn csv_column(out: &Path, name: &str) -> Vec<f64> {
    let mut reader = csv::Reader::from_path(out.join("timeseries.csv")).expect("timeseries.csv");
    let c = reader
        .headers()
        .expect("header")
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    reader
        .records()
        .map(|r| r.expect("row")[c].parse().unwrap_or(f64::NAN))
        .collect()
}

#[test]
fn prometheus_answers_with_the_replays_numbers() {
    let promtool = tool("promtool");
    tool("prometheus");
    let (tmp, out) = replay_cli("leaky-batch-loop.yaml", &["--no-charts"]);
    let blocks = tmp.path().join("data");
    std::fs::create_dir(&blocks).expect("blocks folder");
    let created = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(out.join("metrics.om"))
        .arg(&blocks)
        .output()
        .expect("promtool runs");
    assert!(
        created.status.success(),
        "promtool refused metrics.om:\n{}{}",
        String::from_utf8_lossy(&created.stdout),
        String::from_utf8_lossy(&created.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("summary.json")).expect("summary.json"),
    )
    .expect("JSON");
    let prometheus = Prometheus::start(&blocks, tmp.path());
    // The file sets no start: 2026-01-01T00:00:00Z; it lasts 2h 30m.
    let start = 1_767_225_600i64;
    let end = start + 9000;
    for status in ["200", "502", "504"] {
        let total = prometheus.query(
            &format!(
                r#"sum(rewind_gateway_responses_total{{component="edge",status="{status}"}})"#
            ),
            end,
        );
        let expected = summary["responses"][status].as_f64().expect("a count");
        assert_eq!(total, expected, "{status}s at the end");
        assert!(expected > 0.0, "the incident answers {status}s");
        let count = prometheus.query(
            &format!(
                r#"rewind_gateway_response_duration_seconds_count{{component="edge",status="{status}"}}"#
            ),
            end,
        );
        assert_eq!(count, expected, "histogram count of {status}s");
    }
    // The 504s of the five minutes to 50m, against the rows of timeseries.csv.
    let at = 50 * 60;
    let in_window = prometheus.query(
        r#"rewind_gateway_responses_total{component="edge",status="504"} - rewind_gateway_responses_total{component="edge",status="504"} offset 5m"#,
        start + at,
    );
    let rows = csv_column(&out, "edge.status_504");
    let expected: f64 = rows[(at - 300) as usize..at as usize].iter().sum();
    assert_eq!(in_window, expected);
    assert!(expected > 0.0, "504s between 45m and 50m");
    // Gauges: the value at the end of the row that ends at the scrape.
    let at = 41 * 60;
    let in_use = prometheus.query(
        r#"rewind_pool_connections_in_use{component="orders-db"}"#,
        start + at,
    );
    assert_eq!(
        in_use,
        csv_column(&out, "orders-db.in_use")[at as usize - 1]
    );
    let memory = prometheus.query(
        r#"rewind_service_memory_bytes{component="orders-api"}"#,
        start + at,
    );
    // timeseries.csv writes MiB with three decimals; the exposition, whole bytes.
    let mib = csv_column(&out, "orders-api.memory_mib")[at as usize - 1];
    assert!(
        (memory / (1024.0 * 1024.0) - mib).abs() <= 0.0005,
        "{memory} bytes against {mib} MiB"
    );
    assert!(mib > 0.0, "the service holds memory");
}

/// Every metric name a panel's query (`expr`) uses.
fn dashboard_metrics(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, x) in map {
                match (k.as_str(), x) {
                    ("expr", serde_json::Value::String(q)) => {
                        let mut rest = q.as_str();
                        while let Some(i) = rest.find("rewind_") {
                            let name: String = rest[i..]
                                .chars()
                                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                                .collect();
                            rest = &rest[i + name.len()..];
                            out.insert(name);
                        }
                    }
                    _ => dashboard_metrics(x, out),
                }
            }
        }
        serde_json::Value::Array(xs) => xs.iter().for_each(|x| dashboard_metrics(x, out)),
        _ => {}
    }
}

#[test]
fn the_grafana_dashboard_queries_only_exported_names() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/grafana/rewind-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard");
    let json: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut used = BTreeSet::new();
    dashboard_metrics(&json, &mut used);
    let exported: BTreeSet<String> = sample_names().into_iter().collect();
    assert!(used.len() >= 10, "the overview's panels: {used:?}");
    for name in &used {
        assert!(
            exported.contains(name),
            "the dashboard queries `{name}`, which metrics.om does not have"
        );
    }
    // A replay of a bundled incident exports what the overview's panels draw.
    let (_, e) = exposition_of(
        &std::fs::read_to_string(incident_path("leaky-batch-loop.yaml")).expect("incident"),
    );
    let produced: BTreeSet<&str> = e.series().map(|s| s.name.as_str()).collect();
    for name in [
        "rewind_gateway_responses_total",
        "rewind_gateway_response_duration_seconds_bucket",
        "rewind_pool_connections_in_use",
        "rewind_service_memory_bytes",
        "rewind_service_memory_limit_bytes",
    ] {
        assert!(used.contains(name), "the dashboard draws {name}");
        assert!(produced.contains(name), "the export has {name}");
    }
    let variables = json["templating"]["list"].as_array().expect("variables");
    assert!(variables.iter().any(|v| v["name"] == "component"));
}
