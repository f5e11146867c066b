//! A sweep's grid: the `--vary PATH=VALUES` flags read into axes, the points they
//! span (every combination, the first axis varying slowest), and `--shard I/N`, the
//! share of the points one machine runs (point k goes to shard k mod N).
//!
//! VALUES is a comma-separated list of YAML values (`10,20,40`; commas inside `[...]`,
//! `{...}` or quotes do not separate: `{attempts: 2},{attempts: 4}`), or ranges
//! `LOW..HIGH:STEP`, which may be mixed with single values. A range of plain numbers
//! may carry a unit after each bound (`600/s..1000/s:100`, `10m..15m:1m`); bounds and
//! step in different units of time are read as durations (`10m..12m:30s` gives `10m`,
//! `10m 30s`, ... `12m`). Ranges are exact (decimal arithmetic, no rounding drift),
//! run low to high and include HIGH when the steps land on it.

use serde::{Deserialize, Serialize};

use crate::engine::Nanos;
use crate::human::{exact_duration, parse_duration};

/// Most points a sweep may have: each is `--runs` whole replays.
pub const MAX_POINTS: usize = 1000;

/// Most shards a sweep may be split into (no more than points, in any case).
pub const MAX_SHARDS: u32 = MAX_POINTS as u32;

/// One varied path and its values, as written (YAML text), in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Axis {
    /// A variant's override path: `<component>.<field>` or `timeline.<id>.at`.
    pub path: String,
    /// The values, in the order they were given.
    pub values: Vec<String>,
}

/// Every combination of the axes' values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    /// The axes, in the order of the `--vary` flags.
    pub axes: Vec<Axis>,
}

impl Grid {
    /// The grid of `axes`; refuses a path given twice and more than [`MAX_POINTS`].
    pub fn new(axes: Vec<Axis>) -> Result<Grid, String> {
        if axes.is_empty() {
            return Err("give at least one --vary PATH=VALUES".into());
        }
        for (i, a) in axes.iter().enumerate() {
            if axes[..i].iter().any(|b| b.path == a.path) {
                return Err(format!(
                    "--vary {} is given twice: give each path once, with all its values",
                    a.path
                ));
            }
        }
        let mut points: usize = 1;
        for a in &axes {
            points = points.saturating_mul(a.values.len());
        }
        if points > MAX_POINTS {
            let sizes: Vec<String> = axes.iter().map(|a| a.values.len().to_string()).collect();
            return Err(format!(
                "the grid has {} points ({}), more than {MAX_POINTS}: vary fewer values, or split the sweep into several",
                crate::human::thousands(points as u64),
                sizes.join(" x ")
            ));
        }
        Ok(Grid { axes })
    }

    /// How many points.
    pub fn points(&self) -> usize {
        self.axes.iter().map(|a| a.values.len()).product()
    }

    /// Point `k`'s index into each axis's values (the first axis varies slowest).
    pub fn indices(&self, k: usize) -> Vec<usize> {
        let mut rest = k;
        let mut out = vec![0; self.axes.len()];
        for (i, a) in self.axes.iter().enumerate().rev() {
            let n = a.values.len().max(1);
            out[i] = rest % n;
            rest /= n;
        }
        out
    }

    /// Point `k`'s overrides: `(path, value)` per axis.
    pub fn set(&self, k: usize) -> Vec<(String, String)> {
        self.axes
            .iter()
            .zip(self.indices(k))
            .map(|(a, i)| (a.path.clone(), a.values[i].clone()))
            .collect()
    }
}

/// Read one `--vary PATH=VALUES`.
pub fn parse_vary(arg: &str) -> Result<Axis, String> {
    let Some((path, values)) = arg.split_once('=') else {
        return Err("write PATH=VALUES, e.g. --vary orders-db.max_open=10,20,40".into());
    };
    let path = path.trim();
    if path.is_empty() || path.chars().any(char::is_whitespace) || !path.contains('.') {
        return Err(format!(
            "`{path}` is not a path: write `<component>.<field>` or `timeline.<id>.at`, as in a variant's `set:`"
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for item in split_top_level(values) {
        let item = item.trim();
        if item.is_empty() {
            return Err("an empty value: separate values with single commas".into());
        }
        let expanded = match range(item) {
            Some(r) => r?,
            None => vec![item.to_string()],
        };
        for v in expanded {
            if out.contains(&v) {
                return Err(format!("the value `{v}` is given twice"));
            }
            if out.len() >= MAX_POINTS {
                return Err(format!(
                    "more than {MAX_POINTS} values, more than a sweep may have points"
                ));
            }
            out.push(v);
        }
    }
    Ok(Axis {
        path: path.to_string(),
        values: out,
    })
}

/// Split at the commas outside brackets, braces and quotes.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, ',') if depth <= 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// `LOW..HIGH:STEP` expanded, or None when `item` is not a range.
fn range(item: &str) -> Option<Result<Vec<String>, String>> {
    if item.starts_with(['{', '[', '"', '\'']) || !item.contains("..") {
        return None;
    }
    let Some((bounds, step)) = item.rsplit_once(':') else {
        return Some(Err(format!(
            "`{item}` has no step: write LOW..HIGH:STEP, e.g. `10..40:5`"
        )));
    };
    let Some((low, high)) = bounds.split_once("..") else {
        return Some(Err(format!("`{item}`: write LOW..HIGH:STEP")));
    };
    let (low, high, step) = (low.trim(), high.trim(), step.trim());
    if let (Some(a), Some(b), Some(s)) = (number(low), number(high), number(step)) {
        // One unit for the bounds; the step has it too, or none.
        if a.1 == b.1 && (s.1.is_empty() || s.1 == a.1) {
            return Some(decimal_range(item, a, b, s));
        }
    }
    match (
        parse_duration(low),
        parse_duration(high),
        parse_duration(step),
    ) {
        (Ok(a), Ok(b), Ok(s)) => Some(duration_range(item, a, b, s)),
        _ => Some(Err(format!(
            "`{item}` is not a range: write LOW..HIGH:STEP with numbers in one unit (`10..40:5`, `600/s..1000/s:100`) or durations (`10m..12m:30s`)"
        ))),
    }
}

/// A decimal number and what follows it: `600/s` -> (`600`, `/s`).
fn number(s: &str) -> Option<(&str, &str)> {
    let digits_end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && c == '-')))
        .map_or(s.len(), |(i, _)| i);
    let (num, unit) = s.split_at(digits_end);
    let valid = num.chars().filter(|&c| c == '.').count() <= 1
        && num.chars().any(|c| c.is_ascii_digit())
        && !num.ends_with('.')
        && !num.starts_with('.');
    valid.then_some((num, unit))
}

/// Decimal places of a number as written.
fn places(num: &str) -> usize {
    num.split_once('.').map_or(0, |(_, f)| f.len())
}

/// `num` scaled by 10^`scale` as an integer (`1.5`, 2 -> 150).
fn scaled(num: &str, scale: usize) -> Option<i128> {
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits = format!("{int}{frac}{}", "0".repeat(scale.checked_sub(frac.len())?));
    if digits.len() > 30 {
        return None;
    }
    digits.parse().ok()
}

fn decimal_range(
    item: &str,
    (low, unit): (&str, &str),
    (high, _): (&str, &str),
    (step, _): (&str, &str),
) -> Result<Vec<String>, String> {
    let scale = places(low).max(places(high)).max(places(step));
    let too_long = || format!("`{item}`: a bound or step has too many digits");
    let a = scaled(low, scale).ok_or_else(too_long)?;
    let b = scaled(high, scale).ok_or_else(too_long)?;
    let s = scaled(step, scale).ok_or_else(too_long)?;
    let count = steps(item, a, b, s)?;
    let show = |v: i128| {
        let sign = if v < 0 { "-" } else { "" };
        let v = v.unsigned_abs();
        let div = 10u128.pow(scale as u32);
        if scale == 0 {
            format!("{sign}{v}{unit}")
        } else {
            format!("{sign}{}.{:0width$}{unit}", v / div, v % div, width = scale)
        }
    };
    Ok((0..count).map(|k| show(a + s * k)).collect())
}

fn duration_range(item: &str, a: Nanos, b: Nanos, s: Nanos) -> Result<Vec<String>, String> {
    let count = steps(item, i128::from(a.0), i128::from(b.0), i128::from(s.0))?;
    Ok((0..count as u64)
        .map(|k| exact_duration(Nanos(a.0 + s.0 * k)))
        .collect())
}

/// How many values from `a` to `b` by `s` (bounded by [`MAX_POINTS`]).
fn steps(item: &str, a: i128, b: i128, s: i128) -> Result<i128, String> {
    if s <= 0 {
        return Err(format!("`{item}`: the step must be more than zero"));
    }
    if b < a {
        return Err(format!("`{item}`: write the range from low to high"));
    }
    let count = (b - a) / s + 1;
    if count > MAX_POINTS as i128 {
        return Err(format!(
            "`{item}` has {count} values, more than a sweep may have points ({MAX_POINTS})"
        ));
    }
    Ok(count)
}

/// One machine's share of a sweep: the points k with k mod `count` = `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// From 0 (as `JOB_COMPLETION_INDEX` and a Slurm array from 0 count).
    pub index: u32,
    /// How many shards the sweep is split into.
    pub count: u32,
}

impl Shard {
    /// Whether point `k` is this shard's.
    pub fn has(&self, k: usize) -> bool {
        k % self.count as usize == self.index as usize
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Read `--shard I/N`.
pub fn parse_shard(s: &str) -> Result<Shard, String> {
    let bad = || {
        "write I/N: the shard's index from 0 and the number of shards, e.g. --shard 0/4".to_string()
    };
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let index: u32 = i.trim().parse().map_err(|_| bad())?;
    let count: u32 = n.trim().parse().map_err(|_| bad())?;
    if count == 0 || count > MAX_SHARDS {
        return Err(format!(
            "the number of shards must be from 1 to {MAX_SHARDS}"
        ));
    }
    if index >= count {
        return Err(format!(
            "the index runs from 0 to {} for {count} shards",
            count - 1
        ));
    }
    Ok(Shard { index, count })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(arg: &str) -> Vec<String> {
        parse_vary(arg).expect("valid").values
    }

    #[test]
    fn lists_and_ranges() {
        assert_eq!(values("a.b=10,20,40"), ["10", "20", "40"]);
        assert_eq!(values("a.b=10..40:10"), ["10", "20", "30", "40"]);
        assert_eq!(values("a.b=10..35:10"), ["10", "20", "30"]);
        assert_eq!(values("a.b=0.5..1.5:0.5"), ["0.5", "1.0", "1.5"]);
        assert_eq!(values("a.b=0.1..0.3:0.1"), ["0.1", "0.2", "0.3"]);
        assert_eq!(values("a.b=600/s..800/s:100"), ["600/s", "700/s", "800/s"]);
        assert_eq!(values("a.b=1m..3m:1m"), ["1m", "2m", "3m"]);
        assert_eq!(values("a.b=10m..11m:30s"), ["10m", "10m 30s", "11m"]);
        assert_eq!(values("a.b=1,5..7:1,9"), ["1", "5", "6", "7", "9"]);
        assert_eq!(
            values("web.retry={attempts: 2, retry_on: [timeout, 5xx]},{profile: none}"),
            ["{attempts: 2, retry_on: [timeout, 5xx]}", "{profile: none}"]
        );
        assert_eq!(values("a.b='x,y',z"), ["'x,y'", "z"]);
    }

    #[test]
    fn bad_values_are_refused() {
        for arg in [
            "a.b",
            "ab=1",
            "a.b=1,,2",
            "a.b=1,1",
            "a.b=5..1:1",
            "a.b=1..5:0",
            "a.b=1..5000:1",
            "a.b=1s..x:1",
            "a.b=1..5",
        ] {
            assert!(parse_vary(arg).is_err(), "{arg}");
        }
    }

    #[test]
    fn points_run_first_axis_slowest_and_are_bounded() {
        let g = Grid::new(vec![
            parse_vary("a.x=1,2").expect("valid"),
            parse_vary("b.y=u,v,w").expect("valid"),
        ])
        .expect("valid");
        assert_eq!(g.points(), 6);
        assert_eq!(g.indices(4), [1, 1]);
        assert_eq!(
            g.set(5),
            [
                ("a.x".to_string(), "2".to_string()),
                ("b.y".into(), "w".into())
            ]
        );
        let big = parse_vary("a.x=1..100:1").expect("valid");
        let mut other = big.clone();
        other.path = "b.y".into();
        assert!(Grid::new(vec![big, other]).is_err());
    }

    #[test]
    fn shards() {
        assert_eq!(parse_shard("2/4"), Ok(Shard { index: 2, count: 4 }));
        for s in ["3/2", "4/4", "0/0", "1", "-1/2", "a/b"] {
            assert!(parse_shard(s).is_err(), "{s}");
        }
        let s = parse_shard("1/3").expect("valid");
        let mine: Vec<usize> = (0..8).filter(|&k| s.has(k)).collect();
        assert_eq!(mine, [1, 4, 7]);
    }
}
