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

    /// An error from the YAML reader, said in the file's terms: the reader's own
    /// wording names Rust types and its options, which mean nothing to the user.
    pub fn from_yaml(file: &str, text: &str, err: &serde_saphyr::Error) -> Self {
        let plain = err
            .without_snippet()
            .render_with_options(serde_saphyr::render_options! {
                snippets: serde_saphyr::SnippetMode::Off,
            });
        let (mut line, mut column) = err.location().map_or((0, 0), |l| (l.line(), l.column()));
        let mut message = yaml_message(err).unwrap_or_else(|| strip_location(&plain));
        if message.contains("found a tab") || message.contains("tabs") {
            // The reader reports the token it was reading when it met the tab, which
            // can be on the line before; point at the tab itself.
            if let Some((l, c)) = first_tab_from(text, line, column) {
                (line, column) = (l, c);
            }
            message =
                "a tab: YAML indents and separates with spaces only; replace the tab with spaces"
                    .into();
        }
        Self::at(file, text, line, column, message)
    }
}

/// The reader's errors whose own text would quote a library's types or advice, in the
/// user's words; `None` for those whose text already says it plainly.
fn yaml_message(err: &serde_saphyr::Error) -> Option<String> {
    use serde_saphyr::budget::BudgetBreach;
    use serde_saphyr::Error as E;
    let too_complex = |what: String| {
        // Anchors, aliases and nesting far beyond what an incident needs: a YAML bomb
        // or a generated file gone wrong. Refused before it is expanded.
        format!("this file uses more YAML anchors, aliases or nesting than an incident file may ({what}); write the values out")
    };
    Some(match err {
        E::WithSnippet { error, .. } => return yaml_message(error),
        E::MultipleDocuments { .. }
        | E::Budget {
            breach: BudgetBreach::Documents { .. },
            ..
        } => "a second YAML document starts here: an incident file holds one incident; put the other in a file of its own".into(),
        E::DuplicateMappingKey { key: Some(k), .. } => {
            format!("`{k}` is written twice in this mapping: keep one")
        }
        E::DuplicateMappingKey { key: None, .. } => {
            "this key is written twice in this mapping: keep one".into()
        }
        E::InvalidBooleanStrict { .. } => "write `true` or `false` here".into(),
        E::NullIntoString { .. } | E::InvalidCharNull { .. } => {
            "this needs a text value, and it is empty (`~`, `null` or nothing)".into()
        }
        E::Budget { breach, .. } => too_complex(match breach {
            BudgetBreach::Depth { depth } => format!("{depth} levels deep"),
            BudgetBreach::Aliases { aliases } => format!("{aliases} aliases"),
            BudgetBreach::Anchors { anchors } => format!("{anchors} anchors"),
            BudgetBreach::Nodes { nodes } => format!("{nodes} values"),
            BudgetBreach::ScalarBytes { total_scalar_bytes } => {
                format!("{total_scalar_bytes} bytes of values")
            }
            _ => "anchors and aliases that expand too far".into(),
        }),
        E::AliasReplayCounterOverflow { .. }
        | E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. } => {
            too_complex("aliases that expand too far".into())
        }
        _ => return None,
    })
}

/// The first tab at or after `line`:`column` (1-based), with its position.
fn first_tab_from(text: &str, line: u64, column: u64) -> Option<(u64, u64)> {
    let first = usize::try_from(line).ok()?.max(1) - 1;
    text.split('\n').enumerate().skip(first).find_map(|(l, s)| {
        let from = if l == first {
            usize::try_from(column).ok()?.saturating_sub(1)
        } else {
            0
        };
        let c = s
            .chars()
            .enumerate()
            .skip(from)
            .find(|&(_, ch)| ch == '\t')?
            .0;
        Some(((l + 1) as u64, (c + 1) as u64))
    })
}

/// Where the character at `offset` (in characters) of a scalar's value lies in the
/// file, given where the reader says the scalar starts. The value is walked against the
/// text: quotes, a block scalar's `|` or `>` and its indentation, and the line breaks a
/// plain scalar folds into spaces are passed over, so an error in the second line of a
/// `|` block is placed on that line. An offset at the value's end points just past its
/// last character. When the text does not spell the value out (escapes), the scalar's
/// start is the best there is.
pub fn position_in_scalar(
    text: &str,
    line: u64,
    column: u64,
    value: &str,
    offset: usize,
) -> (u64, u64) {
    let start = (line, column);
    let Some(first) = usize::try_from(line).ok().and_then(|l| l.checked_sub(1)) else {
        return start;
    };
    let skip = usize::try_from(column).unwrap_or(1).saturating_sub(1);
    // Every character of the text from the scalar's start on, with its position.
    let mut source = text
        .split('\n')
        .enumerate()
        .skip(first)
        .flat_map(|(l, s)| {
            let chars = s.chars().chain(std::iter::once('\n'));
            chars
                .enumerate()
                .map(move |(c, ch)| ((l + 1) as u64, (c + 1) as u64, ch))
        })
        .skip_while(|&(l, c, _)| l == line && c <= skip as u64);
    let mut last = None;
    for (i, wanted) in value.chars().enumerate() {
        let found = source
            .by_ref()
            .find(|&(_, _, ch)| ch == wanted || (wanted.is_whitespace() && ch.is_whitespace()));
        match found {
            Some(at) => last = Some(at),
            None => return start,
        }
        if i == offset {
            return last.map_or(start, |(l, c, _)| (l, c));
        }
    }
    // The offset is past the last character: the character after it.
    last.map_or(start, |(l, c, _)| (l, c + 1))
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
