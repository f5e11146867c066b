//! Bad input in the capacity and workload parts of a file (CPUs, database capacity,
//! faults, routes, deploy strategies, runtimes, caches, bodies, job steps) and in an
//! incident's `sources:`.

use super::{at, rejects, variant};

#[test]
fn cpu_limits_and_database_capacity_are_checked() {
    for (cpus, says) in [
        ("0", "greater than zero"),
        ("-2", "greater than zero"),
        ("lots", "not a number of CPUs"),
        ("0.0001", "less than one millicore"),
        ("5000", "more than 1024"),
        ("0m", "greater than zero"),
    ] {
        let text = variant(
            "    replicas: 1\n",
            &format!("    replicas: 1\n    cpus: {cpus}\n"),
        );
        let line = format!("cpus: {cpus}");
        rejects(&text, &[&at(&text, &line, cpus), says]);
    }
    let text = variant(
        "    max_connections: 100",
        "    max_connections: 100\n    statement_timeout: 5",
    );
    rejects(
        &text,
        &[&at(&text, "statement_timeout: 5", "5"), "has no unit"],
    );
    let text = variant(
        "    replicas: 1\n",
        "    replicas: 1\n    autoscaler: {max_replicas: 4, metric: cpu, target: 60}\n",
    );
    rejects(
        &text,
        &[
            &at(&text, "autoscaler: {", "{"),
            "metric: cpu needs `cpus:`",
        ],
    );
}

#[test]
fn faults_are_checked() {
    let text = variant(
        "    replicas: 1\n",
        "    replicas: 1\n    faults: {abort: {http_status: 503, percentage: 150}}\n",
    );
    rejects(
        &text,
        &[&at(&text, "percentage: 150", "150"), "between 0 and 100"],
    );
    let text = variant(
        "    replicas: 1\n",
        "    replicas: 1\n    faults: {abort: {http_status: 418, percentage: 10}}\n",
    );
    rejects(
        &text,
        &[
            &at(&text, "http_status: 418", "418"),
            "429, 500, 502, 503 or 504",
        ],
    );
}

#[test]
fn routes_are_checked_where_they_are_written() {
    let base = r#"name: r
duration: 10s
clients:
  - {name: c, to: api, rate: 10/s, routes: {charges: 90%, reports: 10%}}
services:
  - name: api
    workers: 4
    routes:
      - {name: charges, method: POST, steps: [{work: {constant: 1ms}}]}
      - {name: reports, steps: [{work: {constant: 1s}}]}
"#;
    let swap = |from: &str, to: &str| {
        assert!(base.contains(from), "{from}");
        base.replacen(from, to, 1)
    };
    let text = swap("reports: 10%}", "report: 10%}");
    rejects(
        &text,
        &[
            &at(&text, "report: 10%", "10%"),
            "unknown route `report`",
            "charges, reports",
        ],
    );
    let text = swap("charges: 90%", "charges: 80%");
    rejects(
        &text,
        &[
            &at(&text, "routes: {charges", "{charges"),
            "add up to 90%, not 100%",
        ],
    );
    let text = swap("charges: 90%, reports: 10%", "charges: 9/s, reports: 10%");
    rejects(&text, &[&at(&text, "reports: 10%", "10%"), "not both"]);
    let text = swap("charges: 90%, reports: 10%", "charges: 9/s, reports: 1/s");
    rejects(
        &text,
        &[&at(&text, "rate: 10/s", "10/s"), "leave `rate:` out"],
    );
    let text = swap("charges: 90%", "charges: 90");
    rejects(&text, &[&at(&text, "charges: 90,", "90"), "has no unit"]);
    let text = swap(
        "    workers: 4\n",
        "    workers: 4\n    handler: {steps: [{work: {constant: 1ms}}]}\n",
    );
    // A block list is located at its first item.
    rejects(
        &text,
        &[
            &at(&text, "- {name: charges, method", "-"),
            "both `handler:` and `routes:`",
        ],
    );
    let text = swap(
        "{name: reports, steps",
        "{name: reports, reserved_workers: 4, steps",
    );
    rejects(
        &text,
        &[
            &at(&text, "reserved_workers: 4", "4"),
            "reserve 4 of its 4 workers",
        ],
    );
    let text = swap("{name: reports, steps", "{name: charges, steps");
    rejects(
        &text,
        &[
            &at(
                &text,
                "{name: charges, steps: [{work: {constant: 1s",
                "charges",
            ),
            "defines route `charges` twice",
        ],
    );
    let text = base.to_string()
        + "  - name: front\n    handler: {steps: [{call: {service: api, route: refunds}}]}\n";
    rejects(
        &text,
        &[
            &at(&text, "route: refunds", "refunds"),
            "unknown route `refunds`",
        ],
    );
}

#[test]
fn deploy_strategies_and_restarts_are_checked() {
    let t = variant(
        "      jobs: {reconcile: {release: last_only}}",
        "      jobs: {reconcile: {release: last_only}}\n      strategy: blue-green",
    );
    rejects(
        &t,
        &[&format!(
            "{} unknown variant `blue-green`, expected one of rolling, recreate",
            at(&t, "strategy: blue-green", "blue-green")
        )],
    );
    let t = variant(
        "  - at: 2h\n",
        "  - {at: 1h, restart: orders}\n  - at: 2h\n",
    );
    rejects(
        &t,
        &[&format!(
            "{} unknown service `orders`: known services: orders-api",
            at(&t, "restart: orders", "orders")
        )],
    );
    let t = variant(
        "  - at: 2h\n",
        "  - {at: 1h, rollback: {servce: orders-api}}\n  - at: 2h\n",
    );
    rejects(
        &t,
        &[
            &format!(
                "{} unknown field `servce`",
                at(&t, "rollback: {servce", "servce")
            ),
            "expected one of service, strategy",
        ],
    );
    let t = variant(
        "  - at: 2h\n",
        "  - {at: 1h, restart: {strategy: recreate}}\n  - at: 2h\n",
    );
    rejects(&t, &["bad.yaml:", "missing field `service`"]);
}

#[test]
fn runtime_settings_are_checked() {
    let with = |lines: &str| {
        variant(
            "      limit: 512MiB\n",
            &format!("      limit: 512MiB\n{lines}"),
        )
    };
    let t = with("      runtime: jvm\n");
    rejects(
        &t,
        &[&format!(
            "{} `runtime: jvm` needs `xmx`, the heap's maximum size (-Xmx)",
            at(&t, "runtime: jvm", "jvm")
        )],
    );
    let t = with("      gogc: 50\n");
    rejects(
        &t,
        &[&format!(
            "{} `gogc` is a setting of `runtime: go`, and this service's runtime is plain",
            at(&t, "gogc: 50", "50")
        )],
    );
    let t = with("      runtime: go\n      xmx: 1GiB\n");
    rejects(
        &t,
        &[&format!(
            "{} `xmx` is a setting of `runtime: jvm`, and this service's runtime is go",
            at(&t, "xmx: 1GiB", "1GiB")
        )],
    );
    let t = with("      runtime: go\n      gogc: fast\n");
    rejects(
        &t,
        &[&format!(
            "{} `fast` is not a GOGC value: write a percentage such as 100, or off",
            at(&t, "gogc: fast", "fast")
        )],
    );
    let t = with("      runtime: go\n      gomemlimit: 400\n");
    rejects(&t, &[&at(&t, "gomemlimit: 400", "400")]);
    let t = with("      runtime: python\n");
    rejects(
        &t,
        &[&format!(
            "{} unknown variant `python`, expected one of plain, go, jvm",
            at(&t, "runtime: python", "python")
        )],
    );
}

/// A small valid file with a cache, for the cache checks.
const CACHED: &str = r#"name: cached
duration: 1m
clients:
  - {name: users, to: api, rate: 10/s}
caches:
  - name: kv
    keys: 1000
    ttl: 30s
services:
  - name: api
    handler:
      steps:
        - cached:
            cache: kv
            steps:
              - work: {constant: 5ms}
timeline:
  - at: 30s
    flush_cache: {cache: kv}
"#;

fn cached(from: &str, to: &str) -> String {
    assert!(CACHED.contains(from), "no `{from}`");
    CACHED.replacen(from, to, 1)
}

#[test]
fn caches_are_checked() {
    let t = cached("            cache: kv", "            cache: kvv");
    rejects(
        &t,
        &[
            &format!("{} unknown cache `kvv`", at(&t, "cache: kvv", "kvv")),
            "known caches: kv",
        ],
    );
    let t = cached("    ttl: 30s", "    ttl: 0s");
    rejects(&t, &[&format!("{} `0s` is zero", at(&t, "ttl: 0s", "0s"))]);
    let t = cached("    keys: 1000", "    keys: 20000000");
    rejects(
        &t,
        &[&format!(
            "{} 20000000 keys is more than 10,000,000",
            at(&t, "keys: 20000000", "20000000")
        )],
    );
    let t = cached("    ttl: 30s", "    ttl: 30s\n    hit_ratio: 0.9");
    rejects(
        &t,
        &[&format!(
            "{} a cache has either `keys`",
            at(&t, "hit_ratio: 0.9", "0.9")
        )],
    );
    let t = cached(
        "    keys: 1000\n    ttl: 30s",
        "    hit_ratio: 0.9\n    ttl: 30s",
    );
    rejects(
        &t,
        &[&format!("{} `ttl` needs `keys`", at(&t, "ttl: 30s", "30s"))],
    );
    let t = cached("    ttl: 30s\n", "");
    rejects(
        &t,
        &[&format!(
            "{} cache `kv` needs a `ttl`",
            at(&t, "- name: kv", "kv")
        )],
    );
    let t = cached(
        "    ttl: 30s",
        "    ttl: 30s\n    popularity: {zipf: {s: 50}}",
    );
    rejects(&t, &[&at(&t, "popularity: {", "{"), "above 10"]);
    let t = cached(
        "              - work: {constant: 5ms}",
        "              - cached: {cache: kv, steps: [{work: {constant: 1ms}}]}",
    );
    rejects(
        &t,
        &[&format!(
            "{} a `cached` block cannot hold another",
            at(&t, "- cached: {cache: kv", "kv")
        )],
    );
    let t = cached(
        "    flush_cache: {cache: kv}",
        "    flush_cache: {cache: nope}",
    );
    rejects(
        &t,
        &[&format!(
            "{} unknown cache `nope`",
            at(&t, "cache: nope", "nope")
        )],
    );
}

#[test]
fn body_steps_are_checked() {
    let body = |b: &str| {
        variant(
            "        - work: {lognormal: {p50: 1ms, p99: 5ms}}\n",
            &format!(
                "        - work: {{lognormal: {{p50: 1ms, p99: 5ms}}}}\n        - body: {b}\n"
            ),
        )
    };
    let t = body("{chunks: 1000000, every: {constant: 1ms}}");
    rejects(
        &t,
        &[
            &at(&t, "chunks: 1000000", "1000000"),
            "more than this replay follows (100000)",
        ],
    );
    let t = body("{chunks: 0, every: {constant: 1ms}}");
    rejects(&t, &[&at(&t, "chunks: 0", "0")]);
    let t = body("{chunks: 3}");
    rejects(
        &t,
        &[
            &at(&t, "body: {chunks: 3}", "chunks"),
            "missing field `every`",
        ],
    );
}

#[test]
fn job_steps_are_checked() {
    let job = "        release: per_iteration\n";
    let t = variant(job, &format!("{job}        steps: []\n"));
    rejects(
        &t,
        &[&format!(
            "{} a job needs at least one step",
            at(&t, "steps: []", "[")
        )],
    );
    let t = variant(
        job,
        &format!("{job}        steps: [{{sleep: {{constant: 200ms}}}}]\n"),
    );
    rejects(
        &t,
        &[
            &format!("{} unknown variant `sleep`", at(&t, "{sleep", "sleep")),
            "query",
            "work",
        ],
    );
    let many = vec!["{work: {constant: 1ms}}"; 65].join(", ");
    let t = variant(job, &format!("{job}        steps: [{many}]\n"));
    rejects(
        &t,
        &[&format!(
            "{} a job iteration has 65 steps; rewind runs at most 64",
            at(&t, "steps: [{work", "[")
        )],
    );
    let t = variant(
        job,
        &format!(
            "{job}        steps: [{{query: {{latency: {{lognormal: {{p50: 9ms, p99: 1ms}}}}}}}}]\n"
        ),
    );
    rejects(
        &t,
        &[&format!(
            "{} lognormal latency needs p99 above p50",
            at(&t, "{lognormal: {p50: 9ms", "{lognormal")
        )],
    );
}

/// The flagship's own `sources:` block, which these tests replace.
const FLAGSHIP_SOURCES: &str = "sources:\n  - https://go.dev/ref/spec#Defer_statements\n  - https://go.dev/blog/loopvar-preview\n  - https://go.dev/doc/database/manage-connections\n";

#[test]
fn handler_query_steps_are_checked() {
    let step = "        - query: orders-db\n";
    let t = variant(step, "        - query: orders-dbx\n");
    rejects(
        &t,
        &[&format!(
            "{} unknown pool of service orders-api `orders-dbx`",
            at(&t, "query: orders-dbx", "orders-dbx")
        )],
    );
    let t = variant(
        step,
        "        - query: {pool: nope, latency: {constant: 1ms}}\n",
    );
    rejects(
        &t,
        &[&format!(
            "{} unknown pool of service orders-api `nope`",
            at(&t, "{pool: nope", "nope")
        )],
    );
    let t = variant(step, "        - query: {latency: {constant: 200ms}}\n");
    rejects(&t, &["missing field `pool`"]);
    let t = variant(step, "        - query: {pool: orders-db, sleep: 1s}\n");
    rejects(
        &t,
        &[
            &format!("{} unknown field `sleep`", at(&t, "sleep: 1s", "sleep")),
            "pool",
            "latency",
        ],
    );
    let t = variant(
        step,
        "        - query: {pool: orders-db, latency: {lognormal: {p50: 9ms, p99: 1ms}}}\n",
    );
    rejects(
        &t,
        &[&format!(
            "{} lognormal latency needs p99 above p50",
            at(&t, "{lognormal: {p50: 9ms", "{lognormal")
        )],
    );
    let t = variant(step, "        - query: [orders-db]\n");
    rejects(&t, &["a pool's name, or {pool, latency}"]);
}

#[test]
fn a_source_that_is_not_a_web_address() {
    let t = variant(
        FLAGSHIP_SOURCES,
        "sources:\n  - https://example.com/postmortem\n  - ftp://example.com/report\n",
    );
    rejects(
        &t,
        &[
            &format!(
                "{} source `ftp://example.com/report` is not a URL",
                at(&t, "- ftp://example.com/report", "ftp")
            ),
            "starting with https:// or http://",
        ],
    );
    let t = variant(FLAGSHIP_SOURCES, "sources: [\"https://\"]\n");
    rejects(&t, &[&at(&t, "sources: [\"https://\"]", "\"https")]);
}

#[test]
fn more_sources_than_a_list_of_reports() {
    let urls: String = (0..21)
        .map(|i| format!("  - https://example.com/{i}\n"))
        .collect();
    let t = variant(FLAGSHIP_SOURCES, &format!("sources:\n{urls}"));
    rejects(
        &t,
        &[
            &format!("{} 21 sources", at(&t, "- https://example.com/20", "https")),
            "at most 20",
        ],
    );
}

#[test]
fn descriptor_limits_and_leaks_are_checked() {
    for (fds, line, token, says) in [
        (
            "{limit: 2000000}",
            "fds: {limit: 2000000}",
            "2000000",
            "above fs.nr_open (1048576",
        ),
        (
            "{limit: 0}",
            "fds: {limit: 0}",
            "0",
            "the value must be at least 1",
        ),
        (
            "{limit: 64, baseline: 64}",
            "fds: {limit: 64, baseline: 64}",
            "64}",
            "the baseline must be below the limit",
        ),
        (
            "{baseline: 1024}",
            "fds: {baseline: 1024}",
            "1024",
            "at its limit (1024)",
        ),
        (
            "{limit: 10, leaked: 3}",
            "fds: {limit: 10, leaked: 3}",
            "leaked",
            "unknown field `leaked`",
        ),
    ] {
        let text = variant(
            "    replicas: 1\n",
            &format!("    replicas: 1\n    fds: {fds}\n"),
        );
        rejects(&text, &[&at(&text, line, token), says]);
    }
    let text = variant(
        "        - work: {lognormal: {p50: 1ms, p99: 5ms}}",
        "        - work: {lognormal: {p50: 1ms, p99: 5ms}}\n        - leak: {fds: 1048577}",
    );
    rejects(
        &text,
        &[
            &at(&text, "leak: {fds: 1048577}", "1048577"),
            "more than any process can hold",
        ],
    );
    let text = variant(
        "        - work: {lognormal: {p50: 1ms, p99: 5ms}}",
        "        - work: {lognormal: {p50: 1ms, p99: 5ms}}\n        - leak: {fds: -1}",
    );
    rejects(
        &text,
        &[&at(&text, "leak: {fds: -1}", "-1"), "-1 is negative"],
    );
}

#[test]
fn a_new_route_split_is_checked_where_it_is_written() {
    let base = r#"
name: t
duration: 1m
clients:
  - {name: users, to: api, rate: 10/s, routes: {a: 50%, b: 50%}}
services:
  - name: api
    routes:
      - {name: a, steps: [{work: {constant: 1ms}}]}
      - {name: b, steps: [{work: {constant: 1ms}}]}
  - name: other
    routes:
      - {name: c, steps: [{work: {constant: 1ms}}]}
timeline:
"#;
    for (entry, token, says) in [
        (
            "  - {at: 10s, set_client: {client: users, routes: {a: 5/s}}}",
            "{a: 5/s}",
            "gives each route a share",
        ),
        (
            "  - {at: 10s, set_client: {client: users, routes: {a: 60%, b: 30%}}}",
            "{a: 60%",
            "add up to 90%, not 100%",
        ),
        (
            "  - {at: 10s, set_client: {client: users, routes: {d: 100%}}}",
            "100%}}}",
            "unknown route `d`",
        ),
        (
            "  - {at: 10s, set_client: {client: users, routes: {c: 100%}}}",
            "100%}}}",
            "route `c` is not served by every service `api` sends to",
        ),
    ] {
        let text = format!("{base}{entry}\n");
        rejects(&text, &[&at(&text, entry, token), says]);
    }
}
