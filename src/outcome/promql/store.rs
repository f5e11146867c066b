//! The samples a query reads: the exported series, plus what recording rules write.
//!
//! Prometheus 2.42's selection rules, which decide what a rule sees
//! (`promql/engine.go` at v2.42.0):
//! - an instant selector at `t` takes each series' latest sample at or before `t`, if
//!   it is no older than the 5-minute lookback delta (`t - 5m` itself counts);
//! - a range selector `[w]` at `t` takes the samples in `[t - w, t]`, both ends
//!   included (Prometheus 3 made the left end open; 2.42 is what the tests run).

use promql_parser::label::{MatchOp, Matcher, Matchers};

use crate::outcome::exposition::{Exposition, Millis, Sample};

/// Prometheus's default `--query.lookback-delta`: how old a sample an instant
/// selector still takes.
pub const LOOKBACK_DELTA_MS: Millis = 5 * 60 * 1000;

/// The label that holds a series' metric name.
pub const NAME_LABEL: &str = "__name__";

/// A label set, sorted by label name (`__name__` among them when present).
pub type Labels = Vec<(String, String)>;

/// One stored series.
#[derive(Debug, Clone)]
pub struct StoredSeries {
    /// Its labels, `__name__` included.
    pub labels: Labels,
    /// Its samples in time order.
    pub samples: Vec<Sample>,
}

impl StoredSeries {
    /// The latest sample at or before `at`, within the lookback delta.
    pub fn instant(&self, at: Millis) -> Option<Sample> {
        let i = self.samples.partition_point(|s| s.at_ms <= at);
        let s = *self.samples.get(i.checked_sub(1)?)?;
        (s.at_ms >= at - LOOKBACK_DELTA_MS).then_some(s)
    }

    /// The samples in `[from, to]`.
    pub fn range(&self, from: Millis, to: Millis) -> &[Sample] {
        let a = self.samples.partition_point(|s| s.at_ms < from);
        let b = self.samples.partition_point(|s| s.at_ms <= to);
        &self.samples[a..b.max(a)]
    }
}

/// The series a query can select.
#[derive(Debug, Clone, Default)]
pub struct Store {
    series: Vec<StoredSeries>,
}

/// The value of `name` in a label set, if present.
pub fn label<'a>(labels: &'a Labels, name: &str) -> Option<&'a str> {
    labels
        .binary_search_by(|(n, _)| n.as_str().cmp(name))
        .ok()
        .map(|i| labels[i].1.as_str())
}

/// Set (or, with an empty value, remove) one label, keeping the set sorted.
pub fn set_label(labels: &mut Labels, name: &str, value: &str) {
    match labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            labels.remove(i);
        }
        Ok(i) => labels[i].1 = value.to_string(),
        Err(_) if value.is_empty() => {}
        Err(i) => labels.insert(i, (name.to_string(), value.to_string())),
    }
}

/// Whether a matcher accepts a label set (a missing label reads as empty, as in
/// Prometheus).
fn matches(m: &Matcher, labels: &Labels) -> bool {
    m.is_match(label(labels, &m.name).unwrap_or(""))
}

impl Store {
    /// Every series of an exposition (taken, not copied).
    pub fn from_exposition(exposition: Exposition) -> Self {
        let series = exposition
            .families
            .into_iter()
            .flat_map(|f| f.series)
            .map(|s| {
                let mut labels = s.labels;
                set_label(&mut labels, NAME_LABEL, &s.name);
                StoredSeries {
                    labels,
                    samples: s.samples,
                }
            })
            .collect();
        Store { series }
    }

    /// A store of the given series (tests, and rules replayed over recorded data).
    pub fn from_series(series: Vec<StoredSeries>) -> Self {
        Store { series }
    }

    /// Append one sample to the series with these labels (a recording rule's output),
    /// creating it if needed. Samples arrive in time order.
    pub fn append(&mut self, labels: &Labels, sample: Sample) {
        match self.series.iter_mut().find(|s| &s.labels == labels) {
            Some(s) => s.samples.push(sample),
            None => self.series.push(StoredSeries {
                labels: labels.clone(),
                samples: vec![sample],
            }),
        }
    }

    /// The series a selector picks: the metric name (if given) and every matcher.
    pub fn select<'a>(
        &'a self,
        name: Option<&'a str>,
        matchers: &'a Matchers,
    ) -> impl Iterator<Item = &'a StoredSeries> + 'a {
        self.series.iter().filter(move |s| {
            name.is_none_or(|n| label(&s.labels, NAME_LABEL) == Some(n))
                && matchers.matchers.iter().all(|m| matches(m, &s.labels))
                && (matchers.or_matchers.is_empty()
                    || matchers
                        .or_matchers
                        .iter()
                        .any(|group| group.iter().all(|m| matches(m, &s.labels))))
        })
    }
}

/// Whether a matcher is an equality one (for `absent()`'s labels).
pub fn is_equality(m: &Matcher) -> bool {
    matches!(m.op, MatchOp::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(at: &[Millis]) -> StoredSeries {
        StoredSeries {
            labels: vec![(NAME_LABEL.into(), "x".into())],
            samples: at
                .iter()
                .map(|&at_ms| Sample {
                    at_ms,
                    value: at_ms as f64,
                })
                .collect(),
        }
    }

    #[test]
    fn an_instant_selector_looks_back_five_minutes_inclusive() {
        let s = series(&[0, 60_000]);
        assert_eq!(s.instant(60_000).map(|s| s.at_ms), Some(60_000));
        assert_eq!(s.instant(59_999).map(|s| s.at_ms), Some(0));
        assert_eq!(s.instant(360_000).map(|s| s.at_ms), Some(60_000));
        assert_eq!(s.instant(360_001), None);
        assert_eq!(s.instant(-1), None);
    }

    #[test]
    fn a_range_holds_both_ends() {
        let s = series(&[0, 60_000, 120_000, 180_000]);
        let r: Vec<Millis> = s.range(60_000, 180_000).iter().map(|s| s.at_ms).collect();
        assert_eq!(r, vec![60_000, 120_000, 180_000]);
        assert!(s.range(1, 59_999).is_empty());
    }

    #[test]
    fn labels_stay_sorted() {
        let mut l: Labels = Vec::new();
        set_label(&mut l, "status", "504");
        set_label(&mut l, NAME_LABEL, "x");
        set_label(&mut l, "component", "edge");
        let names: Vec<&str> = l.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["__name__", "component", "status"]);
        assert_eq!(label(&l, "status"), Some("504"));
        set_label(&mut l, "status", "");
        assert_eq!(label(&l, "status"), None);
    }
}
