//! `report.html` and `compare.html`: a [`Document`] as one self-contained page.
//!
//! The page needs nothing but itself: the charts are their SVG markup inline, the
//! stylesheet is inline, and DejaVu Sans (the font the charts were laid out with) is
//! inline as a `data:` URL, so the labels keep the widths the chart layout assumed on
//! a machine without that font and without a network. There is no script at all.
//!
//! Everything that comes from the incident file (titles, descriptions, labels, names)
//! is escaped here; chart labels were escaped by the SVG backend that wrote them.
//! Output is a pure function of the document and the charts: same bytes for the same
//! replay.

mod document;

pub use document::{text, Block, Column, Document, Inline, Inlines, Table};

use std::fmt::Write;

/// The charts' font, embedded so that the page renders the same everywhere: the very
/// bytes the charts were laid out with, kept once in the binary.
use super::charts::DEJAVU;

/// The page's stylesheet: screen and print.
static STYLE: &str = include_str!("../../../assets/report.css");

/// The family name the page gives the embedded font; distinct from any installed
/// "DejaVu Sans", so that the embedded one is what every label uses.
const FONT_FAMILY: &str = "rewind DejaVu Sans";

/// `doc` as one HTML page. `charts` are the chart files of the replay as (file name,
/// bytes); a [`Block::Chart`] shows its `.svg` inline, or says it is missing.
pub fn page(doc: &Document, charts: &[(String, Vec<u8>)]) -> String {
    let mut o = String::with_capacity(DEJAVU.len() * 4 / 3 + 4096);
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        o,
        "<meta name=\"generator\" content=\"rewind {}\">",
        super::VERSION
    );
    let _ = writeln!(o, "<title>{}</title>", escape(&doc.title));
    let _ = write!(
        o,
        "<style>\n@font-face {{ font-family: \"{FONT_FAMILY}\"; src: url(data:font/ttf;base64,"
    );
    base64(&mut o, DEJAVU);
    o.push_str(") format(\"truetype\"); }\n");
    o.push_str(STYLE);
    o.push_str("</style>\n</head>\n<body>\n<main>\n");
    let _ = writeln!(o, "<h1>{}</h1>", escape(&doc.title));

    let ids = section_ids(doc);
    if ids.len() > 1 {
        o.push_str("<nav class=\"toc\" aria-label=\"Contents\"><span>Contents</span><ol>");
        for (heading, id) in &ids {
            let _ = write!(o, "<li><a href=\"#{id}\">{}</a></li>", escape(heading));
        }
        o.push_str("</ol></nav>\n");
    }

    let mut ids = ids.into_iter();
    let mut in_section = false;
    for block in &doc.blocks {
        match block {
            Block::Heading(h) => {
                if in_section {
                    o.push_str("</section>\n");
                }
                let id = ids.next().map(|(_, id)| id).unwrap_or_default();
                let _ = writeln!(o, "<section id=\"{id}\">\n<h2>{}</h2>", escape(h));
                in_section = true;
            }
            Block::Paragraph(p) => {
                let _ = writeln!(o, "<p>{}</p>", inlines(p));
            }
            Block::Prose(p) => prose(&mut o, p),
            Block::List(items) => {
                o.push_str("<ul>\n");
                for item in items {
                    let _ = writeln!(o, "<li>{}</li>", inlines(item));
                }
                o.push_str("</ul>\n");
            }
            Block::Table(t) => table(&mut o, t),
            Block::Command(c) => {
                let _ = writeln!(o, "<pre><code>{}</code></pre>", escape(c));
            }
            Block::Chart { name, alt } => chart(&mut o, name, alt, charts),
        }
    }
    if in_section {
        o.push_str("</section>\n");
    }
    o.push_str("</main>\n</body>\n</html>\n");
    o
}

/// Text made safe anywhere in HTML: element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Whether a source may become a link: web addresses only, never `javascript:` or a
/// file on the reader's machine.
fn is_web_address(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

fn inlines(runs: &[Inline]) -> String {
    let mut o = String::new();
    for run in runs {
        match run {
            Inline::Text(t) => o.push_str(&escape(t)),
            Inline::Code(c) => {
                let _ = write!(o, "<code>{}</code>", escape(c));
            }
            Inline::Emphasis(t) => {
                let _ = write!(o, "<em>{}</em>", escape(t));
            }
            Inline::Strong(t) => {
                let _ = write!(o, "<strong>{}</strong>", escape(t));
            }
            Inline::Url(u) if is_web_address(u) => {
                let _ = write!(o, "<a href=\"{0}\">{0}</a>", escape(u));
            }
            Inline::Url(u) => o.push_str(&escape(u)),
        }
    }
    o
}

/// An anchor for each section heading, in order: the heading's words in lower case
/// joined by `-`, numbered when two headings would share one.
fn section_ids(doc: &Document) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for block in &doc.blocks {
        let Block::Heading(h) = block else { continue };
        let words: Vec<String> = h
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        let base = if words.is_empty() {
            "section".to_string()
        } else {
            words.join("-")
        };
        let mut id = base.clone();
        let mut n = 2;
        while out.iter().any(|(_, taken)| *taken == id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        out.push((h.clone(), id));
    }
    out
}

/// The author's text: paragraphs at blank lines, `- ` items as a list (an item goes
/// on over the lines that follow it), backquoted spans as code; nothing else is
/// interpreted, and everything is escaped.
fn prose(o: &mut String, text: &str) {
    let mut paragraph: Vec<&str> = Vec::new();
    let mut items: Vec<Vec<&str>> = Vec::new();
    let flush = |o: &mut String, paragraph: &mut Vec<&str>, items: &mut Vec<Vec<&str>>| {
        if !paragraph.is_empty() {
            let _ = writeln!(o, "<p>{}</p>", code_spans(&paragraph.join("\n")));
            paragraph.clear();
        }
        if !items.is_empty() {
            o.push_str("<ul>\n");
            for item in items.iter() {
                let _ = writeln!(o, "<li>{}</li>", code_spans(&item.join("\n")));
            }
            o.push_str("</ul>\n");
            items.clear();
        }
    };
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            flush(o, &mut paragraph, &mut items);
        } else if let Some(item) = line.strip_prefix("- ") {
            if !paragraph.is_empty() {
                flush(o, &mut paragraph, &mut items);
            }
            items.push(vec![item.trim()]);
        } else if let Some(item) = items.last_mut() {
            item.push(trimmed);
        } else {
            paragraph.push(trimmed);
        }
    }
    flush(o, &mut paragraph, &mut items);
}

/// Escaped text with each `` `span` `` as code; an unmatched backquote stays text.
fn code_spans(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    let mut o = String::new();
    for (i, part) in parts.iter().enumerate() {
        let closed = i + 1 < parts.len();
        if i % 2 == 1 && closed {
            let _ = write!(o, "<code>{}</code>", escape(part));
        } else {
            if i % 2 == 1 {
                o.push('`');
            }
            o.push_str(&escape(part));
        }
    }
    o
}

fn table(o: &mut String, t: &Table) {
    // A table without headings is a list of key and value: the key heads its row.
    let keyed = t.columns.iter().all(|c| c.head.is_empty());
    o.push_str("<div class=\"table\"><table");
    if keyed {
        o.push_str(" class=\"keyed\"");
    }
    o.push_str(">\n");
    let class = |c: &Column| if c.numeric { " class=\"num\"" } else { "" };
    if !keyed {
        o.push_str("<thead><tr>");
        for c in &t.columns {
            let _ = write!(o, "<th scope=\"col\"{}>{}</th>", class(c), escape(&c.head));
        }
        o.push_str("</tr></thead>\n");
    }
    o.push_str("<tbody>\n");
    for row in &t.rows {
        o.push_str("<tr>");
        for (i, (cell, c)) in row.iter().zip(&t.columns).enumerate() {
            let tag = if keyed && i == 0 {
                "th scope=\"row\""
            } else {
                "td"
            };
            let end = if keyed && i == 0 { "th" } else { "td" };
            let _ = write!(o, "<{tag}{}>{}</{end}>", class(c), inlines(cell));
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody>\n</table></div>\n");
}

/// A chart's SVG inline in a figure, with its description as the caption.
fn chart(o: &mut String, name: &str, alt: &str, charts: &[(String, Vec<u8>)]) {
    let file = format!("{name}.svg");
    let svg = charts
        .iter()
        .find(|(n, _)| *n == file)
        .and_then(|(_, bytes)| std::str::from_utf8(bytes).ok())
        .and_then(|s| s.find("<svg").map(|at| &s[at..]));
    let Some(svg) = svg else {
        let _ = writeln!(
            o,
            "<p class=\"note\">The chart {} was not drawn.</p>",
            escape(&file)
        );
        return;
    };
    let _ = writeln!(o, "<figure class=\"chart\" id=\"chart-{}\">", escape(name));
    // The root element named for assistive technology; the rest as the backend wrote it.
    let _ = write!(
        o,
        "<svg role=\"img\" aria-label=\"{}\"{}",
        escape(alt),
        &svg["<svg".len()..]
    );
    if !svg.ends_with('\n') {
        o.push('\n');
    }
    let _ = writeln!(o, "<figcaption>{}</figcaption>\n</figure>", escape(alt));
}

/// Standard base64 with padding (RFC 4648), for the embedded font.
fn base64(o: &mut String, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                o.push(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                o.push('=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        let mut o = String::new();
        base64(&mut o, bytes);
        o
    }

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape(r#"<script>alert('x') & "y"</script>"#),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(escape("plain, 1,234 ± 5 ms"), "plain, 1,234 ± 5 ms");
    }

    #[test]
    fn only_web_addresses_become_links() {
        let url = |u: &str| inlines(&[Inline::Url(u.into())]);
        assert_eq!(
            url("https://example.com/a?b=1&c=\"2\""),
            "<a href=\"https://example.com/a?b=1&amp;c=&quot;2&quot;\">https://example.com/a?b=1&amp;c=&quot;2&quot;</a>"
        );
        assert_eq!(url("javascript:alert(1)"), "javascript:alert(1)");
        assert_eq!(url(" JavaScript:x"), " JavaScript:x");
        assert_eq!(url("file:///etc/passwd"), "file:///etc/passwd");
        assert!(url("HTTP://EXAMPLE.COM").starts_with("<a href="));
    }

    #[test]
    fn prose_keeps_paragraphs_lists_and_code_and_escapes_the_rest() {
        let mut o = String::new();
        prose(
            &mut o,
            "A `db.Conn()` call <b>leaks</b>\nthe pool.\n\nThe variants:\n- one: a\n  second line\n- two `x\n",
        );
        assert_eq!(
            o,
            "<p>A <code>db.Conn()</code> call &lt;b&gt;leaks&lt;/b&gt;\nthe pool.</p>\n\
             <p>The variants:</p>\n<ul>\n<li>one: a\nsecond line</li>\n<li>two `x</li>\n</ul>\n"
        );
    }

    #[test]
    fn section_ids_are_words_and_unique() {
        let doc = Document {
            title: "t".into(),
            blocks: vec![
                Block::Heading("How to reproduce".into()),
                Block::Heading("How to reproduce!".into()),
                Block::Heading("<>".into()),
            ],
        };
        let ids: Vec<String> = section_ids(&doc).into_iter().map(|(_, id)| id).collect();
        assert_eq!(ids, ["how-to-reproduce", "how-to-reproduce-2", "section"]);
    }

    #[test]
    fn a_page_escapes_the_authors_text_everywhere() {
        let doc = Document {
            title: "<script>alert(1)</script>".into(),
            blocks: vec![
                Block::Prose("<img src=x onerror=alert(1)>".into()),
                Block::Heading("Impact".into()),
                Block::Table(Table {
                    columns: vec![Column::text("entry"), Column::numeric("at")],
                    rows: vec![vec![text("</table><script>"), text("1s")]],
                }),
                Block::Chart {
                    name: "overview".into(),
                    alt: "\"><script>".into(),
                },
            ],
        };
        let charts = vec![(
            "overview.svg".to_string(),
            b"<svg width=\"10\" height=\"10\" viewBox=\"0 0 10 10\"><text>a</text></svg>\n"
                .to_vec(),
        )];
        let html = page(&doc, &charts);
        assert!(!html.contains("<script"), "{}", &html[html.len() - 900..]);
        assert!(!html.contains("<img"));
        assert!(html.contains("<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>"));
        assert!(html.contains("<td>&lt;/table&gt;&lt;script&gt;</td><td class=\"num\">1s</td>"));
        assert!(html.contains("<svg role=\"img\" aria-label=\"&quot;&gt;&lt;script&gt;\" width="));
    }

    #[test]
    fn a_missing_chart_is_said_not_drawn() {
        let doc = Document {
            title: "t".into(),
            blocks: vec![Block::Chart {
                name: "pool".into(),
                alt: "p".into(),
            }],
        };
        let html = page(&doc, &[]);
        assert!(html.contains("The chart pool.svg was not drawn."));
        assert!(!html.contains("<svg"));
    }

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(b64(plain.as_bytes()), coded);
        }
    }
}
