//! Charts: valid PNG and SVG of the expected size for every bundled incident, and no
//! panic on empty, flat or partial data.

use rewind::model::spec::Scenario;
use rewind::outcome::RunResult;
use rewind::report::charts::{chart_height, render_charts, CHARTS, WIDTH};
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
    assert_eq!(files.len(), 2 * CHARTS.len());
    for (name, panels) in CHARTS {
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
        assert!(
            colours > 5,
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
