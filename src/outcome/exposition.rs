//! The replay's metrics as Prometheus would have scraped them: metric families of
//! labelled series, one sample per scrape.
//!
//! This is the one shape both `metrics.om` (the OpenMetrics export) and the alert
//! rules (evaluated as Prometheus evaluates them) read, so that a rule replayed here
//! and the same rule run by a real Prometheus over `metrics.om` see the same samples.
//!
//! [`expose`] builds it from a finished replay as a scraper would have seen it: one
//! scrape every `scrape_interval`, from time 0 to the end. A counter's sample is the
//! count of everything in the rows that ended at or before the scrape; a gauge's is
//! the value read at the end of the row that ends at the scrape; the response-time
//! histogram is the model's own count per bucket at that instant. [`selector`] names
//! the series a `timeseries.csv` column became, in PromQL. The names themselves, and
//! which column becomes which, are in [`names`]. Nothing here knows a text format.

mod names;

pub use names::{escape_label_value, ComponentKind, Components};

use crate::engine::Nanos;
use crate::outcome::{RunResult, Series, N_STATUSES, STATUSES};
use names::{column_metric, family_index, sample_name, selector_text, Read, FAMILIES};

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

/// Upper bounds of the response-time histogram's buckets, milliseconds: Prometheus
/// client_golang's `DefBuckets` (.005 s to 10 s, `prometheus.DefBuckets` in
/// `prometheus/histogram.go`), then 15 s to 5 min, so that nginx's 60 s
/// `proxy_read_timeout`, clients' 80-90 s timeouts and the minutes a stuck upstream
/// takes each land in a bucket of their own rather than all in `+Inf`.
pub const RESPONSE_DURATION_BUCKETS_MS: [u64; 17] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 15_000, 30_000, 60_000, 90_000,
    120_000, 300_000,
];

/// Buckets of the histogram, `+Inf` included.
pub const N_BUCKETS: usize = RESPONSE_DURATION_BUCKETS_MS.len() + 1;

/// Series one gateway's response-time histogram has: per status, its buckets, `_count`
/// and `_sum`.
pub const HISTOGRAM_SERIES_PER_GATEWAY: usize = N_STATUSES * (N_BUCKETS + 2);

/// A gateway's responses at one scrape, cumulative since the start: per status (in
/// [`STATUSES`] order), how many fell in each bucket (not cumulative over the bounds;
/// the last is above every bound) and their total time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResponseCounts {
    /// Responses per status and bucket.
    pub buckets: [[u64; N_BUCKETS]; N_STATUSES],
    /// Sum of their response times per status, seconds.
    pub sum_s: [f64; N_STATUSES],
}

impl Default for ResponseCounts {
    fn default() -> Self {
        ResponseCounts {
            buckets: [[0; N_BUCKETS]; N_STATUSES],
            sum_s: [0.0; N_STATUSES],
        }
    }
}

/// One gateway's response counts at every scrape.
#[derive(Debug, Clone, Default)]
pub struct GatewayScrapes {
    /// The gateway's name.
    pub gateway: String,
    /// Element `k`: the counts at `k * interval` (element 0 is the start: nothing).
    pub at: Vec<ResponseCounts>,
}

/// What the model recorded at each scrape for the histograms.
#[derive(Debug, Clone, Default)]
pub struct Scrapes {
    /// Time between two scrapes (a multiple of the series' resolution).
    pub interval: Nanos,
    /// Per gateway, in file order.
    pub gateways: Vec<GatewayScrapes>,
}

/// How many scrapes a replay of `rows` rows of `resolution` has at `interval`: one at
/// 0 and one at each multiple of `interval` up to the last row's end.
pub fn scrape_count(rows: u64, resolution: Nanos, interval: Nanos) -> u64 {
    let end = rows.saturating_mul(resolution.0);
    end / interval.0.max(1) + 1
}

/// The replay's metrics as Prometheus would have scraped them every
/// `result.scrapes.interval`.
pub fn expose(components: &Components, result: &RunResult) -> Exposition {
    let series = &result.series;
    let interval = result.scrapes.interval.max(series.resolution);
    let rows = series.rows();
    let rows_per_scrape = (interval.0 / series.resolution.0.max(1)).max(1) as usize;
    let scrapes = scrape_count(rows as u64, series.resolution, interval) as usize;
    let at_ms = |k: usize| (k as u64 * interval.0 / 1_000_000) as Millis;
    let mut families: Vec<Family> = FAMILIES
        .iter()
        .map(|f| Family {
            name: f.name.to_string(),
            kind: f.kind,
            help: f.help.to_string(),
            series: Vec::new(),
        })
        .collect();
    for (c, column) in series.columns.iter().enumerate() {
        let Some(metric) = column_metric(components, column) else {
            continue;
        };
        let samples = column_samples(series, c, metric.read, scrapes, rows_per_scrape, at_ms);
        let family = &mut families[metric.family];
        family.series.push(ExportedSeries {
            name: sample_name(&FAMILIES[metric.family]),
            labels: metric.labels,
            samples,
        });
    }
    if let Some(f) = family_index(names::MEMORY_LIMIT) {
        for (service, bytes) in &components.memory_limits_bytes {
            families[f].series.push(ExportedSeries {
                name: names::MEMORY_LIMIT.to_string(),
                labels: vec![("component".into(), service.clone())],
                samples: (0..scrapes)
                    .map(|k| Sample {
                        at_ms: at_ms(k),
                        value: *bytes,
                    })
                    .collect(),
            });
        }
    }
    if let Some(f) = family_index(names::RESPONSE_DURATION) {
        for g in &result.scrapes.gateways {
            families[f]
                .series
                .extend(histogram_series(g, scrapes, at_ms));
        }
    }
    families.retain(|f| !f.series.is_empty());
    Exposition {
        scrape_interval_ms: at_ms(1),
        families,
    }
}

/// The samples of column `c` at each scrape.
fn column_samples(
    series: &Series,
    c: usize,
    read: Read,
    scrapes: usize,
    rows_per_scrape: usize,
    at_ms: impl Fn(usize) -> Millis,
) -> Vec<Sample> {
    let mut samples = Vec::with_capacity(scrapes);
    let mut total = 0.0;
    for k in 0..scrapes {
        let at_ms = at_ms(k);
        // The row that ends at this scrape, and those since the last scrape.
        let end = k * rows_per_scrape;
        let value = match read {
            Read::Count => {
                let from = end.saturating_sub(rows_per_scrape);
                total += (from..end)
                    .map(|r| series.row(r)[c])
                    .filter(|v| !v.is_nan())
                    .sum::<f64>();
                Some(total)
            }
            Read::Cumulative if k == 0 => Some(0.0),
            Read::Cumulative => Some(series.row(end - 1)[c]),
            Read::Gauge(_) if k == 0 => None,
            Read::Gauge(scale) => Some(series.row(end - 1)[c] * scale),
        };
        if let Some(value) = value.filter(|v| !v.is_nan()) {
            samples.push(Sample { at_ms, value });
        }
    }
    samples
}

/// One gateway's histogram series: per status, each bucket (cumulative over the
/// bounds, as `le` means), then `_count` and `_sum`.
fn histogram_series(
    g: &GatewayScrapes,
    scrapes: usize,
    at_ms: impl Fn(usize) -> Millis,
) -> Vec<ExportedSeries> {
    let base = names::RESPONSE_DURATION;
    let counts_at = |k: usize| g.at.get(k).copied().unwrap_or_default();
    let mut out = Vec::with_capacity(HISTOGRAM_SERIES_PER_GATEWAY);
    for (s, status) in STATUSES.iter().enumerate() {
        let labels = |extra: Option<String>| {
            let mut l = vec![("component".to_string(), g.gateway.clone())];
            if let Some(le) = extra {
                l.push(("le".to_string(), le));
            }
            l.push(("status".to_string(), status.to_string()));
            l
        };
        let series =
            |name: String, labels, value: &dyn Fn(&ResponseCounts) -> f64| ExportedSeries {
                name,
                labels,
                samples: (0..scrapes)
                    .map(|k| Sample {
                        at_ms: at_ms(k),
                        value: value(&counts_at(k)),
                    })
                    .collect(),
            };
        for b in 0..N_BUCKETS {
            out.push(series(
                format!("{base}_bucket"),
                labels(Some(le_label(b))),
                &|r| r.buckets[s][..=b].iter().sum::<u64>() as f64,
            ));
        }
        out.push(series(format!("{base}_count"), labels(None), &|r| {
            r.buckets[s].iter().sum::<u64>() as f64
        }));
        out.push(series(format!("{base}_sum"), labels(None), &|r| r.sum_s[s]));
    }
    out
}

/// The `le` label of bucket `b`: seconds, written as Prometheus's client libraries
/// write them in OpenMetrics (`0.005`, `1.0`, `+Inf`).
pub fn le_label(b: usize) -> String {
    match RESPONSE_DURATION_BUCKETS_MS.get(b) {
        None => "+Inf".to_string(),
        Some(&ms) => {
            let text = (ms as f64 / 1000.0).to_string();
            if text.contains('.') {
                text
            } else {
                format!("{text}.0")
            }
        }
    }
}

/// The PromQL selector of the series a `timeseries.csv` column became, e.g.
/// `edge.status_504` -> `rewind_gateway_responses_total{component="edge",status="504"}`;
/// None for a name that is no column of this system. A counter's selector names its
/// `_total` samples (cumulative: take `rate` or `increase` of it, where the column
/// counts per interval); a gauge's, the gauge itself. The alert rules' derived names
/// (`<gateway>.status_5xx`, `<gateway>.responses`) are sums of columns: sum the
/// selectors of the columns they stand for.
pub fn selector(components: &Components, column: &str) -> Option<String> {
    let m = column_metric(components, column)?;
    Some(selector_text(&sample_name(&FAMILIES[m.family]), &m.labels))
}

/// Whether a `timeseries.csv` column counts what happened over each row (a counter's
/// increase), as opposed to a value read at the row's end or over it; None for a name
/// that is no column of this system. Calibration sums several observations of a count
/// that fall into one row, and takes the last of a gauge's.
pub fn is_count(components: &Components, column: &str) -> Option<bool> {
    column_metric(components, column).map(|m| m.read == Read::Count)
}

/// Every family name [`expose`] can produce (for checks that a query names real ones).
pub fn family_names() -> impl Iterator<Item = &'static str> {
    FAMILIES.iter().map(|f| f.name)
}

/// Every sample name [`expose`] can produce: a counter's `_total`, a gauge's own name,
/// a histogram's `_bucket`, `_count` and `_sum`.
pub fn sample_names() -> Vec<String> {
    let mut out = Vec::new();
    for f in FAMILIES {
        match f.kind {
            MetricType::Histogram => {
                for suffix in ["_bucket", "_count", "_sum"] {
                    out.push(format!("{}{suffix}", f.name));
                }
            }
            _ => out.push(sample_name(f)),
        }
    }
    out
}
