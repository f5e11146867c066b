//! The replay's metrics as Prometheus would have scraped them: metric families of
//! labelled series, one sample per scrape.
//!
//! This is the one shape both `metrics.om` (the OpenMetrics export) and the alert
//! rules (evaluated as Prometheus evaluates them) read, so that a rule replayed here
//! and the same rule run by a real Prometheus over `metrics.om` see the same samples.

/// Milliseconds since the incident's start (Prometheus's timestamp unit).
pub type Millis = i64;

/// The OpenMetrics type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Cumulative, only reset when the process that counts restarts; samples are
    /// named `<family>_total`.
    Counter,
    /// A value read at the scrape.
    Gauge,
    /// Cumulative buckets: `<family>_bucket{le=...}`, `<family>_count`, `<family>_sum`.
    Histogram,
}

/// One scraped value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When it was scraped, since the incident's start.
    pub at_ms: Millis,
    /// The value.
    pub value: f64,
}

/// One time series: a sample name, its labels and its samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedSeries {
    /// The sample's metric name (`rewind_gateway_responses_total`,
    /// `..._bucket`, a gauge's family name).
    pub name: String,
    /// Labels other than the name, sorted by label name.
    pub labels: Vec<(String, String)>,
    /// Samples in increasing time; a scrape with no value is left out.
    pub samples: Vec<Sample>,
}

/// A metric family: a name, a type, help text and its series.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Family name, without `_total` or histogram suffixes.
    pub name: String,
    /// Its type.
    pub kind: MetricType,
    /// One line for `# HELP`.
    pub help: String,
    /// Its series.
    pub series: Vec<ExportedSeries>,
}

/// Everything exported from one replay.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposition {
    /// Time between two scrapes.
    pub scrape_interval_ms: Millis,
    /// The families, in a fixed order.
    pub families: Vec<Family>,
}

impl Exposition {
    /// Every series of every family.
    pub fn series(&self) -> impl Iterator<Item = &ExportedSeries> {
        self.families.iter().flat_map(|f| f.series.iter())
    }
}

/// SHIM
#[derive(Debug, Default)]
pub struct Components;
/// SHIM
pub fn selector(_: &Components, _: &str) -> Option<String> {
    None
}
