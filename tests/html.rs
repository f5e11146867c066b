//! `report.html` and `compare.html`: one self-contained page each. Debian's Chromium,
//! headless, opens a copy of the page with two scripts added (one first, to record
//! errors; one last, to measure what was drawn) and writes its verdict on the body,
//! which `--dump-dom` hands back: every chart drawn, every label in the embedded
//! font, no request, no error. The incident's own text stays text.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{incident_path, replay_cli};

/// Debian's `chromium` package installs it here; `.ci/run` installs the package.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Added right after `<head>`: records every error (a script's, a resource's).
const WATCH: &str = "<script>window.pageErrors = []; addEventListener('error', function (e) { pageErrors.push(String(e.message || 'a resource failed')); }, true);</script>";

/// Added right before `</body>`: once the fonts are settled, writes what the page
/// drew as `data-verdict` on the body, in words without quotes.
const VERDICT: &str = r#"<script>
document.fonts.ready.then(function () {
  var charts = document.querySelectorAll('figure.chart > svg');
  var drawn = 0;
  charts.forEach(function (svg) {
    var box = svg.getBBox(), rect = svg.getBoundingClientRect();
    if (box.width > 0 && box.height > 0 && rect.width > 0 && rect.height > 0) drawn++;
  });
  var labels = document.querySelectorAll('figure.chart svg text');
  var inFont = 0;
  labels.forEach(function (t) {
    var family = getComputedStyle(t).fontFamily.replace(/"/g, '');
    if (family.indexOf('rewind DejaVu Sans') === 0 && t.getComputedTextLength() > 0) inFont++;
  });
  var loaded = 0, failed = 0;
  document.fonts.forEach(function (f) { if (f.status === 'loaded') loaded++; if (f.status === 'error') failed++; });
  var requests = performance.getEntriesByType('resource')
    .filter(function (e) { return e.name.indexOf('data:') !== 0; }).length;
  document.body.setAttribute('data-verdict', [
    'charts=' + charts.length, 'drawn=' + drawn,
    'labels_in_font=' + (inFont === labels.length ? 'all' : inFont + '/' + labels.length),
    'fonts_loaded=' + loaded, 'fonts_failed=' + failed,
    'requests=' + requests, 'scripts=' + document.scripts.length,
    'images=' + document.images.length, 'errors=' + pageErrors.length
  ].join(' '));
}, function () { document.body.setAttribute('data-verdict', 'fonts-never-ready'); });
</script>"#;

/// What the page should say about itself: `charts` drawn, in the font, nothing else
/// loaded or run (the two scripts are the test's).
fn expected(charts: usize) -> String {
    format!(
        "charts={charts} drawn={charts} labels_in_font=all fonts_loaded=1 fonts_failed=0 requests=0 scripts=2 images=0 errors=0"
    )
}

/// Open `page` in headless Chromium; returns the body's verdict and the DOM.
fn open_in_chromium(page: &Path) -> (String, String) {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: the HTML reports are checked in a real browser. Install Debian's \
         `chromium` package (apt-get install chromium), as .ci/run does"
    );
    let html = fs::read_to_string(page).expect("the page is UTF-8");
    let tmp = tempfile::tempdir().expect("tempdir");
    let copy = tmp.path().join("page.html");
    let with_checks = html
        .replacen("<head>", &format!("<head>{WATCH}"), 1)
        .replacen("</body>", &format!("{VERDICT}</body>"), 1);
    fs::write(&copy, with_checks).expect("write the copy");
    let (dom_file, log_file) = (tmp.path().join("dom.html"), tmp.path().join("chromium.log"));
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1400,3000",
            // Lets the fonts settle and the verdict run before the DOM is written.
            "--virtual-time-budget=10000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            tmp.path().join("profile").display()
        ))
        .arg("--dump-dom")
        .arg(format!("file://{}", copy.display()))
        // Files, not pipes: the DOM is larger than a pipe holds while we wait.
        .stdout(fs::File::create(&dom_file).expect("create dom.html"))
        .stderr(fs::File::create(&log_file).expect("create chromium.log"))
        .spawn()
        .expect("start chromium");
    // A browser that hangs fails the test instead of the whole run.
    let started = Instant::now();
    while child.try_wait().expect("chromium's status").is_none() {
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait().expect("chromium's status");
    let dom = String::from_utf8_lossy(&fs::read(&dom_file).expect("dom.html")).into_owned();
    let log = String::from_utf8_lossy(&fs::read(&log_file).expect("chromium.log")).into_owned();
    // Chromium logs harmless D-Bus and GPU noise; the page's console has nothing to say.
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(
        console.is_empty(),
        "the page wrote to the console:\n{}",
        console.join("\n")
    );
    let verdict = dom
        .find("data-verdict=\"")
        .map(|at| {
            let rest = &dom[at + "data-verdict=\"".len()..];
            rest[..rest.find('"').unwrap_or(rest.len())].to_string()
        })
        .unwrap_or_else(|| {
            panic!(
                "no verdict: the page did not load or the check failed (exit {:?})\nstderr:\n{log}\nDOM starts:\n{}",
                status,
                &dom[..dom.len().min(2000)]
            )
        });
    (verdict, dom)
}

/// Nothing in the file reaches outside it: no script, stylesheet, image or frame, every
/// `url(...)` a `data:` URL, every link a web address (a source) or a section.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for needle in [
        "<script", "<link", "<img", "<iframe", "<frame", "<object", "<embed", "<video", "<audio",
        "<source", "<track", "<input", "<base", "@import",
    ] {
        assert!(!lower.contains(needle), "the page holds `{needle}`");
    }
    for (at, _) in lower.match_indices("url(") {
        assert!(
            lower[at..].starts_with("url(data:"),
            "a url() that is not data: {}",
            &html[at..(at + 60).min(html.len())]
        );
    }
    for (at, _) in lower.match_indices("href=\"") {
        let target = &lower[at + 6..];
        assert!(
            target.starts_with('#')
                || target.starts_with("https://")
                || target.starts_with("http://"),
            "a link to {}",
            &html[at..(at + 60).min(html.len())]
        );
        assert!(
            lower[..at].ends_with("<a "),
            "href outside a link: {}",
            &html[at.saturating_sub(30)..(at + 30).min(html.len())]
        );
    }
}

#[test]
fn report_html_loads_in_chromium_with_every_chart_drawn_and_nothing_fetched() {
    let (_tmp, out) = replay_cli("leaky-batch-loop.yaml", &["--duration", "1h"]);
    let page = out.join("report.html");
    let html = fs::read_to_string(&page).expect("report.html");
    assert_self_contained(&html);
    for section in [
        "<h1>orders-api outage: leaked DB connections from the reconcile loop</h1>",
        "<a href=\"#impact\">Impact</a>",
        "<section id=\"regimes\">",
        "<section id=\"alerts\">",
        "<section id=\"timeline\">",
        "<section id=\"how-to-reproduce\">",
        "<th scope=\"row\">requests</th>",
        "<code>reconcile</code>",
        "<figure class=\"chart\" id=\"chart-overview\">",
    ] {
        assert!(html.contains(section), "report.html lacks {section}");
    }
    let (verdict, dom) = open_in_chromium(&page);
    // The overview and the charts by subject: status, latency, services, pool, memory.
    assert_eq!(verdict, expected(6));
    assert!(
        dom.contains("<td class=\"num\">46m 00s</td>"),
        "the first 504"
    );
}

#[test]
fn compare_html_loads_in_chromium_with_its_table_and_chart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("o");
    assert_cmd::Command::cargo_bin("rewind")
        .expect("binary")
        .args([
            "compare",
            "-q",
            "--variants",
            "pool-of-40",
            "--duration",
            "1h",
        ])
        .arg("--out")
        .arg(&out)
        .arg(incident_path("leaky-batch-loop.yaml"))
        .assert()
        .success();
    let page = out.join("compare/compare.html");
    let html = fs::read_to_string(&page).expect("compare.html");
    assert_self_contained(&html);
    assert!(html.contains("<h1>Compare: orders-api outage"), "title");
    assert!(html.contains("<th scope=\"col\" class=\"num\">goodput</th>"));
    assert!(html.contains("<td>pool-of-40</td>"));
    let (verdict, _) = open_in_chromium(&page);
    assert_eq!(verdict, expected(1));
}

/// The leaky incident with markup in every field a reader sees: title, description,
/// a timeline label, a source's address.
fn hostile_incident(dir: &Path) -> PathBuf {
    let text = fs::read_to_string(incident_path("leaky-batch-loop.yaml")).expect("bundled");
    let text = text
        .replacen(
            "title: \"orders-api outage: leaked DB connections from the reconcile loop\"",
            "title: \"<script>alert(1)</script> & <b>bold</b>\"",
            1,
        )
        // The flagship cites its sources; the first becomes a hostile address.
        .replacen(
            "sources:\n  - https://go.dev/ref/spec#Defer_statements\n",
            "sources:\n  - \"https://example.com/?a=\\\"><script>alert(2)</script>\"\n",
            1,
        )
        .replacen(
            "description: |\n",
            "description: |\n  <img src=x onerror=alert(3)> `<code>`\n\n",
            1,
        )
        .replacen(
            "label: bug ships",
            "label: \"</table><script>alert(4)</script>\"",
            1,
        );
    let file = dir.join("hostile.yaml");
    fs::write(&file, text).expect("write");
    file
}

#[test]
fn the_incident_s_text_is_shown_as_text_and_never_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = hostile_incident(tmp.path());
    let out = tmp.path().join("o");
    assert_cmd::Command::cargo_bin("rewind")
        .expect("binary")
        .args(["replay", "-q", "--duration", "30m", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .success();
    let page = out.join("report.html");
    let html = fs::read_to_string(&page).expect("report.html");
    assert_self_contained(&html);
    assert!(html
        .contains("<h1>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;</h1>"));
    assert!(html.contains("<p>&lt;img src=x onerror=alert(3)&gt; <code>&lt;code&gt;</code></p>"));
    assert!(html.contains("<td>&lt;/table&gt;&lt;script&gt;alert(4)&lt;/script&gt;</td>"));
    assert!(html.contains(
        "<a href=\"https://example.com/?a=&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;\">"
    ));
    // The chart's title, drawn from the same text, is escaped by its SVG too.
    assert!(html
        .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;\n</text>"));
    let (verdict, dom) = open_in_chromium(&page);
    // Only the test's two scripts run; the page's text is text in the DOM (the
    // overview and five charts by subject, as for leaky-batch-loop).
    assert_eq!(verdict, expected(6));
    assert!(dom
        .contains("<h1>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;</h1>"));
}

#[test]
fn no_charts_gives_a_page_that_says_so_and_the_same_bytes_twice() {
    let (_a, first) = replay_cli("retry-storm.yaml", &["--no-charts", "--duration", "20m"]);
    let (_b, second) = replay_cli("retry-storm.yaml", &["--no-charts", "--duration", "20m"]);
    let html = fs::read(first.join("report.html")).expect("report.html");
    assert_eq!(
        html,
        fs::read(second.join("report.html")).expect("report.html"),
        "same file and seed, same report.html"
    );
    let html = String::from_utf8(html).expect("UTF-8");
    assert_self_contained(&html);
    assert!(!html.contains("<svg") && !html.contains("<figure"));
    assert!(html.contains("<p>No charts: the replay ran with <code>--no-charts</code>.</p>"));
    assert!(!html.contains("id=\"charts\""), "no Charts section");
}

#[test]
fn report_html_is_the_same_bytes_for_the_same_file_and_seed() {
    let (_a, first) = replay_cli("defer-in-loop.yaml", &["--duration", "20m"]);
    let (_b, second) = replay_cli("defer-in-loop.yaml", &["--duration", "20m"]);
    assert!(
        fs::read(first.join("report.html")).expect("report.html")
            == fs::read(second.join("report.html")).expect("report.html"),
        "two replays with seed and file unchanged gave different report.html"
    );
}
