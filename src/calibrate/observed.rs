//! Observed metrics, as the user's monitoring recorded them: a CSV with a time column,
//! or the JSON Prometheus's `/api/v1/query_range` answers. This module reads their text
//! (the app reads the files) into named series of `(time since the replay's start,
//! value)`; which series a `--map` means is decided by a [`Matcher`].
//!
//! Times: a CSV's first column is its time, in seconds since the replay's start (a
//! number) or an RFC 3339 timestamp, which the incident's `start:` places; Prometheus's
//! sample times are Unix seconds, placed the same way. An empty cell, `NaN` or an
//! infinite value is no observation.

use std::collections::BTreeMap;
use std::fmt;

/// Largest observed file read, bytes: a day of per-second samples of a few dozen
/// columns is a few MiB.
pub const MAX_OBSERVED_BYTES: u64 = 64 * 1024 * 1024;

/// Most rows of a CSV (or samples of one Prometheus series) read.
pub const MAX_OBSERVED_ROWS: usize = 10_000_000;

/// What is wrong with an observed file, and where: `FILE:LINE: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line, or 0 for the file as a whole.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ObservedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl std::error::Error for ObservedError {}

/// How a sample's time relates to the interval it describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// A CSV row at t covers `[t, t + resolution)`, as `timeseries.csv`'s rows do:
    /// counts over it; gauges read at its end, or, with `gauges_at_start`, at t (a
    /// scrape written with the second it was taken at).
    CsvRow {
        /// Gauges were read at the row's start.
        gauges_at_start: bool,
    },
    /// A Prometheus sample at t: a gauge read at t, or a window (`increase(x[1s])`)
    /// that ends at t.
    Instant,
}

/// One observed series: a CSV column, or one series of a Prometheus matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedSeries {
    /// The file it came from, as named.
    pub file: String,
    /// Column name, or the series' `__name__` (empty when it has none).
    pub name: String,
    /// Labels other than `__name__`, sorted by name (none for a CSV column).
    pub labels: Vec<(String, String)>,
    /// `(seconds since the replay's start, value)`; missing observations left out.
    pub points: Vec<(f64, f64)>,
    /// How each point's time is to be read.
    pub stamp: Stamp,
}

impl ObservedSeries {
    /// `name{label="value",...}`, as a matcher would write it.
    pub fn display_name(&self) -> String {
        if self.labels.is_empty() {
            return if self.name.is_empty() {
                "{}".into()
            } else {
                self.name.clone()
            };
        }
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }
}

/// An observed file, read: its series, numbers parsed only when asked for.
#[derive(Debug, Clone)]
pub enum ObservedFile {
    /// A CSV: its header, and per row its line and time; the cells are parsed as numbers
    /// when a column is asked for, so that columns nobody maps may hold text.
    Csv {
        /// File label.
        file: String,
        /// Column names after the time column.
        header: Vec<String>,
        /// `(line, seconds since the replay's start, cells after the time column)`.
        rows: Vec<(u64, f64, Vec<String>)>,
        /// How the rows' times are read.
        stamp: Stamp,
    },
    /// A Prometheus range query's matrix.
    Prometheus {
        /// Its series.
        series: Vec<ObservedSeries>,
    },
}

/// Seconds since the replay's start of a time cell: a number as it is, an RFC 3339
/// timestamp less `start_unix_ms`.
fn time_of(cell: &str, start_unix_ms: i64) -> Option<f64> {
    if let Ok(t) = cell.parse::<f64>() {
        return t.is_finite().then_some(t);
    }
    let ts: jiff::Timestamp = cell.parse().ok()?;
    Some((ts.as_millisecond() - start_unix_ms) as f64 / 1e3 + subsecond_rest(ts))
}

/// What a timestamp holds below the millisecond, in seconds.
fn subsecond_rest(ts: jiff::Timestamp) -> f64 {
    (ts.subsec_nanosecond().rem_euclid(1_000_000)) as f64 / 1e9
}

/// A cell's value: None for no observation (empty, NaN, infinite).
fn value_of(cell: &str) -> Result<Option<f64>, ()> {
    if cell.is_empty() {
        return Ok(None);
    }
    match cell.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        Ok(_) => Ok(None),
        Err(_) => Err(()),
    }
}

impl ObservedFile {
    /// Read an observed file's text: Prometheus JSON when it starts with `{`, else CSV.
    /// `start_unix_ms` is the instant the replay's time 0 stands for.
    pub fn parse(
        file: &str,
        text: &str,
        start_unix_ms: i64,
        gauges_at_start: bool,
    ) -> Result<ObservedFile, ObservedError> {
        if text.trim_start().starts_with('{') {
            prometheus(file, text, start_unix_ms)
        } else {
            csv_file(file, text, start_unix_ms, gauges_at_start)
        }
    }

    /// Every series the file holds, by display name (for messages), in file order.
    pub fn names(&self) -> Vec<String> {
        match self {
            ObservedFile::Csv { header, .. } => header.clone(),
            ObservedFile::Prometheus { series } => {
                series.iter().map(ObservedSeries::display_name).collect()
            }
        }
    }

    /// The series `m` matches, numbers parsed (a cell that is not a number is an error
    /// at its line).
    pub fn matching(&self, m: &Matcher) -> Result<Vec<ObservedSeries>, ObservedError> {
        match self {
            ObservedFile::Csv {
                file,
                header,
                rows,
                stamp,
            } => {
                if !m.labels.is_empty() {
                    return Ok(Vec::new());
                }
                let Some(name) = &m.name else {
                    return Ok(Vec::new());
                };
                let Some(c) = header.iter().position(|h| h == name) else {
                    return Ok(Vec::new());
                };
                let mut points = Vec::new();
                for (line, t, cells) in rows {
                    let cell = cells.get(c).map_or("", String::as_str);
                    match value_of(cell) {
                        Ok(Some(v)) => points.push((*t, v)),
                        Ok(None) => {}
                        Err(()) => {
                            return Err(ObservedError {
                                file: file.clone(),
                                line: *line,
                                message: format!("column `{name}`: `{cell}` is not a number"),
                            })
                        }
                    }
                }
                Ok(vec![ObservedSeries {
                    file: file.clone(),
                    name: name.clone(),
                    labels: Vec::new(),
                    points,
                    stamp: *stamp,
                }])
            }
            ObservedFile::Prometheus { series } => {
                Ok(series.iter().filter(|s| m.matches(s)).cloned().collect())
            }
        }
    }
}

fn csv_file(
    file: &str,
    text: &str,
    start_unix_ms: i64,
    gauges_at_start: bool,
) -> Result<ObservedFile, ObservedError> {
    let err = |line: u64, message: String| ObservedError {
        file: file.to_string(),
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| err(1, format!("the header cannot be read: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    if header.len() < 2 {
        return Err(err(
            1,
            "a CSV of observations needs a time column and at least one column of values".into(),
        ));
    }
    for (i, h) in header.iter().enumerate() {
        if h.is_empty() {
            return Err(err(1, format!("column {} has no name", i + 1)));
        }
        if header[..i].contains(h) {
            return Err(err(1, format!("two columns are named `{h}`")));
        }
    }
    let time_name = header[0].clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            let message = match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => format!("{len} fields where the header has {expected_len}"),
                _ => e.to_string(),
            };
            err(line, message)
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if rows.len() == MAX_OBSERVED_ROWS {
            return Err(err(
                line,
                format!("more than {MAX_OBSERVED_ROWS} rows: keep the incident's window"),
            ));
        }
        let cell = record.get(0).unwrap_or("");
        let Some(t) = time_of(cell, start_unix_ms) else {
            return Err(err(
                line,
                format!("`{cell}` in the time column `{time_name}` is neither seconds since the replay's start nor an RFC 3339 timestamp"),
            ));
        };
        rows.push((line, t, record.iter().skip(1).map(str::to_string).collect()));
    }
    Ok(ObservedFile::Csv {
        file: file.to_string(),
        header: header[1..].to_vec(),
        rows,
        stamp: Stamp::CsvRow { gauges_at_start },
    })
}

fn prometheus(file: &str, text: &str, start_unix_ms: i64) -> Result<ObservedFile, ObservedError> {
    use serde_json::Value;
    let err = |line: u64, message: String| ObservedError {
        file: file.to_string(),
        line,
        message,
    };
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| err(e.line() as u64, format!("not valid JSON: {e}")))?;
    let status = doc.get("status").and_then(Value::as_str).unwrap_or("");
    if status != "success" {
        let why = doc
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no `error` given");
        return Err(err(
            0,
            format!("the query did not succeed (status `{status}`): {why}"),
        ));
    }
    let data = doc.get("data").cloned().unwrap_or(Value::Null);
    let kind = data.get("resultType").and_then(Value::as_str).unwrap_or("");
    if kind != "matrix" {
        return Err(err(
            0,
            format!("resultType `{kind}`: rewind reads the `matrix` a range query (/api/v1/query_range) answers"),
        ));
    }
    let Some(result) = data.get("result").and_then(Value::as_array) else {
        return Err(err(0, "`data.result` is not a list of series".into()));
    };
    let mut series = Vec::new();
    for (i, s) in result.iter().enumerate() {
        let at = |what: &str| err(0, format!("series {} of `data.result`: {what}", i + 1));
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        if let Some(m) = s.get("metric").and_then(Value::as_object) {
            for (k, v) in m {
                let v = v
                    .as_str()
                    .ok_or_else(|| at(&format!("label `{k}` is not a string")))?;
                labels.insert(k.clone(), v.to_string());
            }
        }
        let name = labels.remove("__name__").unwrap_or_default();
        let values = s
            .get("values")
            .and_then(Value::as_array)
            .ok_or_else(|| at("no `values` list"))?;
        if values.len() > MAX_OBSERVED_ROWS {
            return Err(at(&format!("more than {MAX_OBSERVED_ROWS} samples")));
        }
        let mut points = Vec::with_capacity(values.len());
        for (k, pair) in values.iter().enumerate() {
            let bad = || at(&format!("sample {} is not `[time, \"value\"]`", k + 1));
            let pair = pair.as_array().filter(|p| p.len() == 2).ok_or_else(bad)?;
            let ts = pair[0].as_f64().ok_or_else(bad)?;
            let v: f64 = match &pair[1] {
                Value::String(s) => s.parse().map_err(|_| bad())?,
                Value::Number(n) => n.as_f64().ok_or_else(bad)?,
                _ => return Err(bad()),
            };
            if v.is_finite() && ts.is_finite() {
                points.push((ts - start_unix_ms as f64 / 1e3, v));
            }
        }
        series.push(ObservedSeries {
            file: file.to_string(),
            name,
            labels: labels.into_iter().collect(),
            points,
            stamp: Stamp::Instant,
        });
    }
    Ok(ObservedFile::Prometheus { series })
}

/// Which observed series a `--map` means: `name`, `name{label="value",...}` or
/// `{label="value"}`. A CSV column is a series with its header as the name and no
/// labels; `{}` matches every series (so, alone in its file, a Prometheus result's one
/// series).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    /// The name wanted, if any.
    pub name: Option<String>,
    /// Labels that must be equal, sorted by name.
    pub labels: Vec<(String, String)>,
}

impl Matcher {
    /// Read a matcher; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let text = text.trim();
        let (name, rest) = match text.find('{') {
            Some(i) if text.ends_with('}') => (&text[..i], Some(&text[i + 1..text.len() - 1])),
            _ => (text, None),
        };
        let name = (!name.is_empty()).then(|| name.to_string());
        let mut labels = Vec::new();
        if let Some(rest) = rest {
            for part in split_labels(rest)? {
                let Some((k, v)) = part.split_once('=') else {
                    return Err(format!("`{part}` is not `label=\"value\"`"));
                };
                let k = k.trim();
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                if k.is_empty() {
                    return Err(format!("`{part}` names no label"));
                }
                labels.push((k.to_string(), v.to_string()));
            }
        }
        if name.is_none() && rest.is_none() {
            return Err("the observed metric's name is empty".into());
        }
        labels.sort();
        Ok(Matcher { name, labels })
    }

    /// Whether `s` is a series this matcher means.
    pub fn matches(&self, s: &ObservedSeries) -> bool {
        self.name.as_ref().is_none_or(|n| *n == s.name)
            && self.labels.iter().all(|l| s.labels.contains(l))
    }
}

/// `a="x,y",b="z"` into its parts, commas inside quotes kept.
fn split_labels(s: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(format!("`{s}` has a quote that is not closed"));
    }
    parts.push(&s[start..]);
    Ok(parts.into_iter().filter(|p| !p.trim().is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_read_names_and_labels() {
        let m = Matcher::parse(r#"nginx_responses{status="504", job="edge"}"#).unwrap();
        assert_eq!(m.name.as_deref(), Some("nginx_responses"));
        assert_eq!(
            m.labels,
            vec![
                ("job".into(), "edge".into()),
                ("status".into(), "504".into())
            ]
        );
        assert_eq!(Matcher::parse("{}").unwrap().name, None);
        assert!(Matcher::parse("").is_err());
        assert!(Matcher::parse(r#"x{a="1}"#).is_err());
    }

    #[test]
    fn rfc3339_times_are_placed_by_the_start() {
        let start = jiff::Timestamp::from_second(1_000)
            .unwrap()
            .as_millisecond();
        let t = time_of("1970-01-01T00:16:42.5Z", start).unwrap();
        assert!((t - 2.5).abs() < 1e-9, "{t}");
        assert_eq!(time_of("7", start), Some(7.0));
        assert_eq!(time_of("soon", start), None);
    }
}
