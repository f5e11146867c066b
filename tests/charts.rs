//! Charts: valid PNG and SVG of the expected size for every bundled incident, a panel
//! for every gateway, service, pool and database, no empty panels, and no panic on
//! empty, flat or partial data.

use rewind::model::spec::Scenario;
use rewind::outcome::RunResult;
use rewind::report::charts::{chart_height, render_charts, Dashboard, WIDTH};
use rewind::report::Report;

use crate::util::scenario;

fn charts_of(s: &Scenario, r: &RunResult) -> Vec<(String, Vec<u8>)> {
    render_charts(&Report {
        scenario: s,
        result: r,
    })
    .unwrap_or_else(|e| panic!("charts of {}: {e}", s.name))
}

/// Decode a PNG: (width, height, distinct colours in a sample of pixels).
fn decode_png(bytes: &[u8]) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG data");
    let mut colours: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks(3)
        .step_by(97)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    colours.sort_unstable();
    colours.dedup();
    (info.width, info.height, colours.len())
}

fn svg_size(bytes: &[u8]) -> (u32, u32) {
    let text = std::str::from_utf8(bytes).expect("SVG is text");
    let svg = &text[text.find("<svg").expect("an <svg> element")..];
    let attr = |name: &str| -> u32 {
        let start = svg.find(&format!("{name}=\"")).expect("attribute") + name.len() + 2;
        svg[start..start + svg[start..].find('"').expect("quote")]
            .parse()
            .expect("number")
    };
    assert!(text.trim_end().ends_with("</svg>"), "SVG is complete");
    (attr("width"), attr("height"))
}

fn check_charts(s: &Scenario, r: &RunResult) {
    let files = charts_of(s, r);
    let charts = Dashboard::from_report(&Report {
        scenario: s,
        result: r,
    })
    .charts();
    assert_eq!(files.len(), 2 * charts.len());
    assert_eq!(charts[0].0, "overview");
    for (name, panels) in charts {
        let png = &files
            .iter()
            .find(|f| f.0 == format!("{name}.png"))
            .expect("png")
            .1;
        let svg = &files
            .iter()
            .find(|f| f.0 == format!("{name}.svg"))
            .expect("svg")
            .1;
        let (w, h, colours) = decode_png(png);
        assert_eq!(w, WIDTH, "{name}.png width");
        assert!(w >= 1200, "at least 1200 px wide");
        // One to six rows of marker labels above the panels.
        assert!(
            h >= chart_height(panels.len(), 1) && h <= chart_height(panels.len(), 6),
            "{name}.png height {h}"
        );
        // A system with no component at all has no panel: the title alone.
        assert!(
            colours > 5 || panels.is_empty(),
            "{name}.png has only {colours} colours: nothing drawn?"
        );
        assert_eq!(svg_size(svg), (w, h), "{name}.svg matches {name}.png");
    }
}

#[test]
fn every_bundled_incident_gets_valid_charts_of_the_expected_size() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("incidents");
    let mut seen = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("incidents/")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let s = rewind::app::load(path, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
        let r = rewind::model::replay(s.clone());
        check_charts(&s, &r);
        seen += 1;
    }
    assert!(seen >= 2, "incidents found: {seen}");
}

#[test]
fn charts_never_panic_on_empty_flat_or_partial_data() {
    // No traffic at all: every series is flat zero.
    let idle = scenario(
        "name: idle\nduration: 1s\nservices:\n  - name: s\n    handler:\n      steps:\n        - work: {constant: 1ms}\n",
    );
    // Nothing but a direct client: no gateway, no pool, no memory model.
    let direct = scenario(
        "name: direct\nduration: 30s\nclients:\n  - name: c\n    to: s\n    rate: 1/s\nservices:\n  - name: s\n    handler:\n      steps:\n        - work: {constant: 1ms}\n",
    );
    // A gateway in front of a service that never answers: latency columns all empty.
    let silent = scenario(
        "name: silent\nduration: 10s\nclients:\n  - name: c\n    to: edge\n    rate: 1/s\ngateways:\n  - name: edge\n    upstream: [s]\nservices:\n  - name: s\n    handler:\n      steps:\n        - work: {constant: 1h}\n",
    );
    for s in [idle, direct, silent] {
        let r = rewind::model::replay(s.clone());
        check_charts(&s, &r);
    }
}

#[test]
fn a_run_with_no_rows_still_draws() {
    let s = scenario("name: empty\nduration: 1s\n");
    let mut r = rewind::model::replay(s.clone());
    r.series.values.clear();
    check_charts(&s, &r);
}

fn file<'a>(files: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a str> {
    files
        .iter()
        .find(|f| f.0 == name)
        .map(|f| std::str::from_utf8(&f.1).expect("SVG is text"))
}

/// The text of an SVG as drawn: plotters writes `&` and `<` escaped.
fn svg_text(svg: &str) -> String {
    svg.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

#[test]
fn every_gateway_service_pool_and_database_has_its_panel_and_no_panel_is_empty() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("incidents");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("incidents/")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    let (mut with_pool, mut without_pool, mut two_gateways) = (0, 0, 0);
    for path in &entries {
        let s = rewind::app::load(path, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
        let r = rewind::model::replay(s.clone());
        let files = charts_of(&s, &r);
        let overview = svg_text(file(&files, "overview.svg").expect("overview.svg"));
        let name = path.display();
        let mut wanted: Vec<String> = Vec::new();
        for g in &s.gateways {
            wanted.push(format!("{}: responses per second by status", g.name));
            wanted.push(format!("{}: response time (log scale)", g.name));
        }
        for sv in &s.services {
            wanted.push(format!("{}: handlers in flight and accept queue", sv.name));
            for p in &sv.pools {
                wanted.push(format!("pool {} of {}: connections", p.name, sv.name));
            }
            if let Some(m) = sv.memory {
                wanted.push(format!("{}: memory of the highest replica", sv.name));
                assert!(m.limit_mib > 0.0);
            }
            if let Some(f) = sv.fds {
                wanted.push(format!("{}: open file descriptors", sv.name));
                wanted.push(format!("limit (RLIMIT_NOFILE {})", f.limit));
            }
        }
        for db in &s.databases {
            wanted.push(format!(
                "database {}: connections against max_connections",
                db.name
            ));
            wanted.push(format!("max_connections ({})", db.max_connections));
        }
        for w in &wanted {
            assert!(overview.contains(w.as_str()), "{name}: `{w}` missing");
        }
        // Successes and all responses are told apart.
        if !s.gateways.is_empty() {
            assert!(overview.contains("p99 of 200s"), "{name}");
            assert!(
                overview.contains("p99 of all responses, failures included"),
                "{name}"
            );
        }
        assert!(!overview.contains("no connection pool"), "{name}");
        assert!(!overview.contains("no memory model"), "{name}");
        let pools = s.services.iter().any(|sv| !sv.pools.is_empty());
        // The pool chart exists exactly when there is a pool or a database to show.
        assert_eq!(
            file(&files, "pool.svg").is_some(),
            pools || !s.databases.is_empty(),
            "{name}"
        );
        assert_eq!(
            file(&files, "memory.svg").is_some(),
            s.services
                .iter()
                .any(|sv| sv.memory.is_some() || sv.fds.is_some()),
            "{name}"
        );
        // Responses by flag exactly for the Envoy gateways that set one.
        let flagged: Vec<&str> = r
            .gateways
            .iter()
            .filter(|g| {
                g.envoy_flags
                    .is_some_and(|f| f.by_flag().iter().any(|&n| n > 0))
            })
            .map(|g| g.name.as_str())
            .collect();
        for g in &flagged {
            let title = format!("{g}: responses per second by Envoy response flag");
            assert!(overview.contains(&title), "{name}: `{title}` missing");
        }
        assert_eq!(
            file(&files, "flags.svg").is_some(),
            !flagged.is_empty(),
            "{name}"
        );
        let breakers = s.clients.iter().any(|c| c.breaker.is_some())
            || s.services.iter().any(|sv| {
                sv.handler.steps.iter().any(|st| {
                    matches!(
                        st,
                        rewind::model::spec::Step::Call {
                            breaker: Some(_),
                            ..
                        }
                    )
                })
            });
        assert_eq!(file(&files, "breakers.svg").is_some(), breakers, "{name}");
        // Without a pool, the clients' offered load and goodput take its place.
        assert_eq!(
            file(&files, "load.svg").is_some(),
            !pools && !s.clients.is_empty()
        );
        if pools {
            with_pool += 1;
        } else {
            without_pool += 1;
        }
        if s.gateways.len() > 1 {
            two_gateways += 1;
        }
    }
    assert!(with_pool > 0 && without_pool > 0 && two_gateways > 0);
}

#[test]
fn replicas_up_get_whole_sparse_ticks() {
    // 81 replicas: a tick per replica would smear the axis; at most 11 whole numbers.
    let s = scenario(
        "name: fleet\nduration: 30s\nclients:\n  - name: c\n    to: edge\n    rate: 10/s\ngateways:\n  - name: edge\n    upstream: [s]\nservices:\n  - name: s\n    replicas: 81\n    handler:\n      steps:\n        - work: {constant: 1ms}\n",
    );
    let r = rewind::model::replay(s.clone());
    let files = charts_of(&s, &r);
    let svg = file(&files, "services.svg").expect("services.svg");
    let numbers: Vec<f64> = svg
        .split("<text")
        .filter_map(|t| {
            let inner = &t[t.find('>')? + 1..t.find("</text>")?];
            inner.trim().parse::<f64>().ok()
        })
        .collect();
    // A tick per replica would be 82 labels on the right axis alone; the x axis has at
    // most a dozen, the left at most ten, the right at most eleven.
    assert!(
        numbers.len() <= 12 + 10 + 11,
        "{} labels: {numbers:?}",
        numbers.len()
    );
    assert!(numbers.contains(&0.0), "{numbers:?}");
}

/// The breakers' panel: a lane per breaker, a client's and a call step's, each named,
/// with the three states in its legend; drawn only where there is a breaker.
#[test]
fn each_breaker_gets_a_lane_and_a_system_without_one_gets_no_panel() {
    let text = |client_breaker: &str, call_breaker: &str| {
        format!(
            r#"
name: t
duration: 40s
clients:
  - {{name: web, to: front, rate: 5/s, arrivals: constant{client_breaker}}}
services:
  - name: front
    handler:
      steps:
        - call: {{service: down, error_status: 503{call_breaker}}}
  - name: down
    restart: {{startup: 1h}}
    handler: {{steps: [{{work: {{constant: 1ms}}}}]}}
timeline:
  - {{at: 0s, kill: {{service: down}}}}
"#
        )
    };
    let breaker = ", breaker: {profile: resilience4j, sliding_window_size: 10, minimum_number_of_calls: 10, wait_duration_in_open_state: 5s}";
    let s = scenario(&text(breaker, breaker));
    let r = rewind::model::replay(s.clone());
    let files = charts_of(&s, &r);
    let svg = svg_text(file(&files, "breakers.svg").expect("breakers.svg"));
    assert!(svg.contains("circuit breakers: state over time"));
    assert!(svg.contains("client web: opened"), "the client's lane");
    assert!(
        svg.contains("front -> down: breakers of its replicas"),
        "the call's lane"
    );
    for state in ["closed", "half-open", "open"] {
        // plotters writes each text on a line of its own.
        assert!(svg.contains(&format!(">\n{state}\n<")), "legend {state}");
    }
    let overview = svg_text(file(&files, "overview.svg").expect("overview.svg"));
    assert!(overview.contains("circuit breakers: state over time"));
    // The client's load panel shows what its breaker refused.
    assert!(overview.contains("refused by its breaker or bulkhead"));
    assert!(file(&files, "flags.svg").is_none(), "no Envoy, no flags");
    check_charts(&s, &r);

    let s = scenario(&text("", ""));
    let r = rewind::model::replay(s.clone());
    let files = charts_of(&s, &r);
    assert!(file(&files, "breakers.svg").is_none());
    let overview = svg_text(file(&files, "overview.svg").expect("overview.svg"));
    assert!(!overview.contains("circuit breakers"));
    assert!(!overview.contains("refused by its breaker"));
}
