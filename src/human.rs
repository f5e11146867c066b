//! Human forms of numbers and durations, shared by every layer that reads or writes
//! them (incident files, the command line, alert expressions, reports), so that all of
//! them accept and print the same things.

use crate::engine::Nanos;

/// `1234567` -> `"1,234,567"`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The plural ending of a noun counted `n` times: `""` for one, else `"s"` ("1
/// handler", "3 handlers").
pub fn plural_s(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A duration exactly, in the units a file writes (`2h 30m`, `2h 30m 1ns`, `350us`):
/// for messages that compare two durations, which the rounded display of event
/// details could show as equal.
pub fn exact_duration(d: Nanos) -> String {
    const UNITS: [(u64, &str); 6] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    let mut rest = d.0;
    let mut parts = Vec::new();
    for (size, unit) in UNITS {
        if rest >= size {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

/// A duration written with units (`250ms`, `30s`, `5m`, `1h 30m`), zero or more.
pub fn parse_duration(s: &str) -> Result<Nanos, String> {
    let d: jiff::SignedDuration = s.trim().parse().map_err(|_| {
        format!("`{s}` is not a duration: write e.g. `250ms`, `30s`, `5m` or `1h 30m`")
    })?;
    if d.is_negative() {
        return Err(format!("`{s}` is negative: durations must be zero or more"));
    }
    u64::try_from(d.as_nanos())
        .map(Nanos)
        .map_err(|_| format!("`{s}` is too long"))
}

/// A duration written with units that must be more than zero.
pub fn parse_positive_duration(s: &str) -> Result<Nanos, String> {
    let d = parse_duration(s)?;
    if d == Nanos::ZERO {
        return Err(format!(
            "`{s}` is zero: this duration must be more than zero"
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_and_durations() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(parse_duration("1h 30m"), Ok(Nanos::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Nanos::from_millis(250)));
        assert!(parse_duration("-5s").is_err_and(|e| e.contains("negative")));
        assert!(parse_positive_duration("0s").is_err_and(|e| e.contains("zero")));
        assert!(parse_duration("90").is_err());
    }

    #[test]
    fn exact_durations_tell_a_nanosecond_apart() {
        assert_eq!(exact_duration(Nanos::ZERO), "0s");
        assert_eq!(exact_duration(Nanos(1)), "1ns");
        assert_eq!(exact_duration(Nanos::from_secs(9000)), "2h 30m");
        assert_eq!(exact_duration(Nanos(9_000_000_000_001)), "2h 30m 1ns");
        assert_eq!(exact_duration(Nanos(1_500_350_000)), "1s 500ms 350us");
        for d in [Nanos(1), Nanos(9_000_000_000_001), Nanos(61_000_000_007)] {
            assert_eq!(parse_duration(&exact_duration(d)), Ok(d));
        }
    }
}
