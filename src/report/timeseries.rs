//! `timeseries.csv`: one row per interval, `time_s` first, then `<component>.<metric>`.

use crate::outcome::Series;

/// Format a value: integers without a fraction, others with up to three decimals,
/// and "no value" (NaN) as an empty cell.
fn cell(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The time series as CSV bytes.
pub fn timeseries_csv(series: &Series) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["time_s".to_string()];
    header.extend(series.columns.iter().cloned());
    w.write_record(&header)?;
    for r in 0..series.rows() {
        let mut rec = vec![cell(series.time_s(r))];
        rec.extend(series.row(r).iter().map(|&v| cell(v)));
        w.write_record(&rec)?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_compact_and_nan_is_empty() {
        assert_eq!(cell(3.0), "3");
        assert_eq!(cell(2.5), "2.5");
        assert_eq!(cell(1.23456), "1.235");
        assert_eq!(cell(f64::NAN), "");
    }
}
