//! Errors in an incident file, located at the user's line and column.

use std::fmt;

/// What is wrong with an incident file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line, or 0 when the error concerns the whole file.
    pub line: u64,
    /// 1-based column, or 0.
    pub column: u64,
    /// What is wrong, and what would be right.
    pub message: String,
    /// The offending line(s) with a caret, when there is a location.
    pub snippet: Option<String>,
}

impl std::error::Error for IncidentError {}

impl fmt::Display for IncidentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )?;
        }
        if let Some(s) = &self.snippet {
            write!(f, "\n{s}")?;
        }
        Ok(())
    }
}

impl IncidentError {
    /// An error about the file as a whole (size, encoding).
    pub fn whole_file(file: &str, message: String) -> Self {
        IncidentError {
            file: file.to_string(),
            line: 0,
            column: 0,
            message,
            snippet: None,
        }
    }

    /// An error at a location of `text`.
    pub fn at(file: &str, text: &str, line: u64, column: u64, message: String) -> Self {
        if line == 0 {
            return Self::whole_file(file, message);
        }
        IncidentError {
            file: file.to_string(),
            line,
            column,
            message,
            snippet: snippet(text, line, column),
        }
    }

    /// An error from the YAML reader.
    pub fn from_yaml(file: &str, text: &str, err: &serde_saphyr::Error) -> Self {
        let plain = err
            .without_snippet()
            .render_with_options(serde_saphyr::render_options! {
                snippets: serde_saphyr::SnippetMode::Off,
            });
        let (line, column) = err.location().map_or((0, 0), |l| (l.line(), l.column()));
        let mut message = strip_location(&plain);
        if message.starts_with("budget breached") {
            // Anchors, aliases and nesting far beyond what an incident needs: a YAML bomb
            // or a generated file gone wrong. Refuse before expanding it.
            message = format!(
                "this file uses more YAML anchors, aliases or nesting than an incident file may ({message}); write the values out"
            );
        }
        Self::at(file, text, line, column, message)
    }
}

/// Something valid in an incident file that does not do what it says (a value the
/// kernel would cap), located like an error. `rewind check` prints it; the replay goes
/// on with what the real system would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentWarning(pub IncidentError);

impl fmt::Display for IncidentWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning: {}", self.0)
    }
}

/// The reader's plain message carries its own "line L column C" text; ours leads with
/// `file:line:col`, so drop the duplicate.
fn strip_location(plain: &str) -> String {
    let first = plain.lines().next().unwrap_or(plain).trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let rest = if let Some(idx) = first.find(": ").filter(|_| first.starts_with("line ")) {
        &first[idx + 2..]
    } else {
        first
    };
    match rest.rfind(" at line ") {
        Some(idx) => rest[..idx].to_string(),
        None => rest.to_string(),
    }
}

/// Two lines of context, the offending line, and a caret under the column.
fn snippet(text: &str, line: u64, column: u64) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let idx = usize::try_from(line).ok()?.checked_sub(1)?;
    let target = lines.get(idx)?;
    let width = (idx + 1).to_string().len();
    let mut out = String::new();
    for (i, l) in lines
        .iter()
        .enumerate()
        .take(idx + 1)
        .skip(idx.saturating_sub(2))
    {
        out.push_str(&format!("{:>width$} | {}\n", i + 1, truncate(l)));
    }
    let col = usize::try_from(column).unwrap_or(1).saturating_sub(1);
    let col = col.min(target.chars().count());
    out.push_str(&format!("{:>width$} | {}^", "", " ".repeat(col.min(120))));
    Some(out)
}

fn truncate(line: &str) -> String {
    if line.chars().count() > 160 {
        let mut s: String = line.chars().take(157).collect();
        s.push_str("...");
        s
    } else {
        line.to_string()
    }
}
