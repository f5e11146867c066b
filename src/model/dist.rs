//! Latency distributions, sampled from a component's own random stream.

use crate::engine::{Nanos, SimRng};

/// A distribution of durations.
#[derive(Debug, Clone, PartialEq)]
pub enum Latency {
    /// Always the same.
    Constant(Nanos),
    /// Exponential with this mean.
    Exponential {
        /// Mean, seconds.
        mean_s: f64,
    },
    /// Uniform between two bounds.
    Uniform {
        /// Lower bound, seconds.
        min_s: f64,
        /// Upper bound, seconds.
        max_s: f64,
    },
    /// Log-normal, given by its median and 99th percentile (how dashboards show it).
    LogNormal {
        /// ln(p50).
        mu: f64,
        /// (ln(p99) - ln(p50)) / z(0.99).
        sigma: f64,
    },
    /// A quantile table read off a real histogram, linearly interpolated between points;
    /// the first point must be at quantile 0 and the last at 1.
    Empirical {
        /// (quantile, seconds), quantiles strictly increasing from 0 to 1.
        points: Vec<(f64, f64)>,
    },
}

/// z such that P(Z <= z) = 0.99 for a standard normal.
pub const Z_99: f64 = 2.326_347_874_040_841;

impl Latency {
    /// Log-normal from its median and 99th percentile (`p99 > p50 > 0`, seconds).
    pub fn lognormal_from_p50_p99(p50_s: f64, p99_s: f64) -> Latency {
        Latency::LogNormal {
            mu: p50_s.ln(),
            sigma: (p99_s.ln() - p50_s.ln()) / Z_99,
        }
    }

    /// Draw one duration. The exponential, the law of most work and of the queueing
    /// models, is drawn inline; the others by a call.
    #[inline(always)]
    pub fn sample(&self, rng: &mut SimRng) -> Nanos {
        match self {
            Latency::Exponential { mean_s } => exponential(*mean_s, rng),
            _ => self.sample_other(rng),
        }
    }

    /// [`Latency::sample`] of every law but the exponential.
    #[inline(never)]
    fn sample_other(&self, rng: &mut SimRng) -> Nanos {
        match self {
            Latency::Constant(d) => *d,
            Latency::Exponential { mean_s } => exponential(*mean_s, rng),
            Latency::Uniform { min_s, max_s } => {
                Nanos::from_secs_f64(min_s + (max_s - min_s) * rng.uniform_open01())
            }
            Latency::LogNormal { mu, sigma } => {
                Nanos::from_secs_f64((mu + sigma * rng.standard_normal()).exp())
            }
            Latency::Empirical { points } => {
                let u = rng.uniform_open01();
                let i = points
                    .partition_point(|(q, _)| *q < u)
                    .clamp(1, points.len() - 1);
                let (q0, v0) = points[i - 1];
                let (q1, v1) = points[i];
                let w = if q1 > q0 { (u - q0) / (q1 - q0) } else { 0.0 };
                Nanos::from_secs_f64(v0 + w * (v1 - v0))
            }
        }
    }

    /// Mean in seconds, for estimates (event budget, reports).
    pub fn mean_s(&self) -> f64 {
        match self {
            Latency::Constant(d) => d.as_secs_f64(),
            Latency::Exponential { mean_s } => *mean_s,
            Latency::Uniform { min_s, max_s } => (min_s + max_s) / 2.0,
            Latency::LogNormal { mu, sigma } => (mu + sigma * sigma / 2.0).exp(),
            Latency::Empirical { points } => points
                .windows(2)
                .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
                .sum(),
        }
    }

    /// The same distribution, every draw multiplied by `factor`.
    pub fn scaled(&self, factor: f64) -> Latency {
        match self {
            Latency::Constant(d) => {
                Latency::Constant(Nanos::from_secs_f64(d.as_secs_f64() * factor))
            }
            Latency::Exponential { mean_s } => Latency::Exponential {
                mean_s: mean_s * factor,
            },
            Latency::Uniform { min_s, max_s } => Latency::Uniform {
                min_s: min_s * factor,
                max_s: max_s * factor,
            },
            Latency::LogNormal { mu, sigma } => Latency::LogNormal {
                mu: mu + factor.ln(),
                sigma: *sigma,
            },
            Latency::Empirical { points } => Latency::Empirical {
                points: points.iter().map(|(q, v)| (*q, v * factor)).collect(),
            },
        }
    }
}

/// An exponential duration of mean `mean_s` seconds: [`Latency::sample`]'s inline case.
#[inline(always)]
fn exponential(mean_s: f64, rng: &mut SimRng) -> Nanos {
    Nanos::from_secs_f64(rng.exponential(mean_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_mean(l: &Latency, n: usize) -> f64 {
        let mut rng = SimRng::stream(1, "t");
        (0..n)
            .map(|_| l.sample(&mut rng).as_secs_f64())
            .sum::<f64>()
            / n as f64
    }

    #[test]
    fn sample_means_match_analytic_means() {
        let n = 200_000;
        for l in [
            Latency::Exponential { mean_s: 0.1 },
            Latency::Uniform {
                min_s: 0.01,
                max_s: 0.03,
            },
            Latency::lognormal_from_p50_p99(0.005, 0.040),
            Latency::Empirical {
                points: vec![(0.0, 0.001), (0.5, 0.005), (1.0, 0.05)],
            },
        ] {
            let m = sample_mean(&l, n);
            // Every law here has sd <= 2.5 x mean, so 5 standard errors is < 3% of it.
            assert!(
                (m - l.mean_s()).abs() < 5.0 * 2.5 * l.mean_s() / (n as f64).sqrt(),
                "{l:?}: sample mean {m} vs {}",
                l.mean_s()
            );
        }
    }

    #[test]
    fn lognormal_hits_its_quantiles() {
        let l = Latency::lognormal_from_p50_p99(0.005, 0.040);
        let mut rng = SimRng::stream(3, "q");
        let mut v: Vec<u64> = (0..100_000).map(|_| l.sample(&mut rng).0).collect();
        v.sort_unstable();
        let p50 = v[50_000] as f64 / 1e9;
        let p99 = v[99_000] as f64 / 1e9;
        assert!((p50 / 0.005 - 1.0).abs() < 0.02, "p50 {p50}");
        assert!((p99 / 0.040 - 1.0).abs() < 0.05, "p99 {p99}");
    }
}
