//! What a report says, as data: a title and a list of blocks (headings, paragraphs,
//! tables, charts). The section builders (`postmortem.rs`, `compare.rs`) decide the
//! content once; [`Document::markdown`] and [`super::page`] only decide how it looks,
//! so `report.md` and `report.html` (and `compare.md` and `compare.html`) cannot say
//! different things.
//!
//! Text held here is plain: each renderer escapes it for its own format.

/// A run of text inside a paragraph, a list item or a table cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Inline {
    /// Plain text.
    Text(String),
    /// A literal: a file name, a command, an alert's condition.
    Code(String),
    /// Text set apart: a name, a term.
    Emphasis(String),
    /// Strongly emphasised text.
    Strong(String),
    /// A web address shown as itself (a link in HTML when it is http or https).
    Url(String),
}

/// A paragraph, a list item or a table cell: inline runs one after another.
pub type Inlines = Vec<Inline>;

/// Plain text as a one-run [`Inlines`].
pub fn text(s: impl Into<String>) -> Inlines {
    vec![Inline::Text(s.into())]
}

/// A column of a table: its heading and whether it holds figures (right-aligned).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The heading; a table whose headings are all empty is a list of key and value.
    pub head: String,
    /// Figures: aligned right so that digits line up.
    pub numeric: bool,
}

impl Column {
    /// A column of text.
    pub fn text(head: impl Into<String>) -> Column {
        Column {
            head: head.into(),
            numeric: false,
        }
    }

    /// A column of figures.
    pub fn numeric(head: impl Into<String>) -> Column {
        Column {
            head: head.into(),
            numeric: true,
        }
    }
}

/// A table: columns, and rows of one cell per column.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The columns, left to right.
    pub columns: Vec<Column>,
    /// The rows, top to bottom.
    pub rows: Vec<Vec<Inlines>>,
}

/// One block of a report, in reading order.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A section's heading (the document's title is apart).
    Heading(String),
    /// A paragraph.
    Paragraph(Inlines),
    /// Text the incident's author wrote, in light Markdown (paragraphs, `- ` lists,
    /// backquoted code): Markdown keeps it as written, HTML renders it as text.
    Prose(String),
    /// A bulleted list.
    List(Vec<Inlines>),
    /// A table.
    Table(Table),
    /// A command to run, shown as written.
    Command(String),
    /// A chart by its file stem (`overview` for `overview.png` and `overview.svg`),
    /// with the words that describe it.
    Chart {
        /// File stem of the chart.
        name: String,
        /// What it shows, for a reader who cannot see it.
        alt: String,
    },
}

/// A report: a title and its blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The headline.
    pub title: String,
    /// The content, in reading order.
    pub blocks: Vec<Block>,
}

impl Document {
    /// The report as Markdown (GitHub's dialect: tables, `<url>` autolinks); charts are
    /// the PNG files beside it.
    pub fn markdown(&self) -> String {
        let mut o = format!("# {}\n\n", self.title);
        for block in &self.blocks {
            match block {
                Block::Heading(h) => o.push_str(&format!("## {h}\n\n")),
                Block::Paragraph(p) => o.push_str(&format!("{}\n\n", md_inlines(p, false))),
                Block::Prose(p) => o.push_str(&format!("{}\n\n", p.trim_end())),
                Block::List(items) => {
                    for item in items {
                        o.push_str(&format!("- {}\n", md_inlines(item, false)));
                    }
                    o.push('\n');
                }
                Block::Table(t) => md_table(&mut o, t),
                Block::Command(c) => o.push_str(&format!("```\n{c}\n```\n\n")),
                Block::Chart { name, alt } => o.push_str(&format!("![{alt}]({name}.png)\n\n")),
            }
        }
        // One newline at the end of the file, not a blank line.
        let end = o.trim_end_matches('\n').len();
        o.truncate(end);
        o.push('\n');
        o
    }
}

fn md_inlines(runs: &[Inline], in_cell: bool) -> String {
    runs.iter()
        .map(|run| {
            let s = match run {
                Inline::Text(t) => t.clone(),
                Inline::Code(c) => format!("`{c}`"),
                Inline::Emphasis(t) => format!("*{t}*"),
                Inline::Strong(t) => format!("**{t}**"),
                Inline::Url(u) => format!("<{u}>"),
            };
            // A bare `|` would end a table cell.
            if in_cell {
                s.replace('|', "\\|")
            } else {
                s
            }
        })
        .collect()
}

fn md_table(o: &mut String, t: &Table) {
    let row = |cells: Vec<String>| -> String {
        let mut line = String::from("|");
        for c in cells {
            if c.is_empty() {
                line.push_str(" |");
            } else {
                line.push_str(&format!(" {c} |"));
            }
        }
        line.push('\n');
        line
    };
    o.push_str(&row(t
        .columns
        .iter()
        .map(|c| c.head.replace('|', "\\|"))
        .collect()));
    o.push('|');
    for c in &t.columns {
        o.push_str(if c.numeric { "---:|" } else { "---|" });
    }
    o.push('\n');
    for cells in &t.rows {
        o.push_str(&row(cells.iter().map(|c| md_inlines(c, true)).collect()));
    }
    o.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_tables_align_figures_and_escape_bars() {
        let doc = Document {
            title: "T".into(),
            blocks: vec![Block::Table(Table {
                columns: vec![Column::text(""), Column::numeric("n")],
                rows: vec![vec![vec![Inline::Code("a | b".into())], text("1,234")]],
            })],
        };
        assert_eq!(
            doc.markdown(),
            "# T\n\n| | n |\n|---|---:|\n| `a \\| b` | 1,234 |\n"
        );
    }

    #[test]
    fn markdown_keeps_prose_as_written_and_charts_as_pngs() {
        let doc = Document {
            title: "T".into(),
            blocks: vec![
                Block::Prose("a `b`\n- c\n\n".into()),
                Block::Chart {
                    name: "overview".into(),
                    alt: "all".into(),
                },
                Block::List(vec![vec![
                    Inline::Strong("x".into()),
                    Inline::Text(": y".into()),
                ]]),
            ],
        };
        assert_eq!(
            doc.markdown(),
            "# T\n\na `b`\n- c\n\n![all](overview.png)\n\n- **x**: y\n"
        );
    }
}
