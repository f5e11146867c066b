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
}
