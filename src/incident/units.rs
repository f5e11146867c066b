//! Values with human units, parsed while the YAML is read so that a bad value is
//! reported at its own line and column: `30s`, `1h 30m`, `200/s`, `512MiB`.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::engine::Nanos;
use crate::human::parse_duration;

fn no_unit<E: de::Error>(n: impl fmt::Display, what: &str, example: &str) -> E {
    E::custom(format!(
        "`{n}` has no unit: write {what} with its unit, e.g. `{example}`"
    ))
}

/// A duration of zero or more, written with units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub Nanos);

/// A duration greater than zero, written with units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositiveDuration(pub Nanos);

struct DurationVisitor {
    positive: bool,
}

impl Visitor<'_> for DurationVisitor {
    type Value = Nanos;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration with a unit, such as `30s`")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Nanos, E> {
        let d = parse_duration(s).map_err(E::custom)?;
        if self.positive && d == Nanos::ZERO {
            return Err(E::custom(format!(
                "`{s}` is zero: this duration must be more than zero"
            )));
        }
        Ok(d)
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Nanos, E> {
        Err(no_unit(n, "a duration", "30s"))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Nanos, E> {
        Err(no_unit(n, "a duration", "30s"))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Nanos, E> {
        Err(no_unit(n, "a duration", "30s"))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor { positive: false })
            .map(Duration)
    }
}

impl<'de> Deserialize<'de> for PositiveDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor { positive: true })
            .map(PositiveDuration)
    }
}

/// A request rate: `200/s`, `90/min`, `3600/h`. Zero is allowed only where the caller
/// says so (a timeline step that stops traffic).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Requests per second.
    pub per_s: f64,
}

struct RateVisitor;

impl Visitor<'_> for RateVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a rate such as `200/s`")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<f64, E> {
        let bad = || {
            E::custom(format!(
                "`{s}` is not a rate: write requests per unit of time, e.g. `200/s`, `90/min`, `3600/h`"
            ))
        };
        let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let n: f64 = n.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            _ => return Err(bad()),
        };
        if !n.is_finite() {
            return Err(E::custom(format!("`{s}` is not a finite rate")));
        }
        if n < 0.0 {
            return Err(E::custom(format!(
                "`{s}` is negative: rates must be zero or more"
            )));
        }
        Ok(n / per)
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<f64, E> {
        Err(no_unit(n, "a rate", "200/s"))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<f64, E> {
        Err(no_unit(n, "a rate", "200/s"))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<f64, E> {
        Err(no_unit(n, "a rate", "200/s"))
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RateVisitor).map(|per_s| Rate { per_s })
    }
}

/// An amount of memory: `512MiB`, `1GiB`, `256KiB`, `64MB`. Stored in MiB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Memory {
    /// Mebibytes.
    pub mib: f64,
}

struct MemoryVisitor;

impl Visitor<'_> for MemoryVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an amount of memory such as `512MiB`")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<f64, E> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (n, unit) = t.split_at(split);
        let bad = || {
            E::custom(format!(
                "`{s}` is not an amount of memory: write e.g. `256KiB`, `512MiB`, `1GiB`"
            ))
        };
        let n: f64 = n.parse().map_err(|_| bad())?;
        let mib = match unit.trim() {
            "KiB" => n / 1024.0,
            "MiB" => n,
            "GiB" => n * 1024.0,
            "kB" | "KB" => n * 1e3 / 1_048_576.0,
            "MB" => n * 1e6 / 1_048_576.0,
            "GB" => n * 1e9 / 1_048_576.0,
            _ => return Err(bad()),
        };
        if !mib.is_finite() || mib <= 0.0 {
            return Err(E::custom(format!("`{s}` must be more than zero")));
        }
        Ok(mib)
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<f64, E> {
        Err(no_unit(n, "an amount of memory", "512MiB"))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<f64, E> {
        Err(no_unit(n, "an amount of memory", "512MiB"))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<f64, E> {
        Err(no_unit(n, "an amount of memory", "512MiB"))
    }
}

impl<'de> Deserialize<'de> for Memory {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MemoryVisitor).map(|mib| Memory { mib })
    }
}

/// A whole number of at least one (a capacity, a count of replicas).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub u32);

/// Reads a whole number: at least one unless zero is allowed (`Whole`), and
/// `unlimited` where that is allowed (`Limit`).
struct CountVisitor {
    allow_unlimited: bool,
    allow_zero: bool,
}

impl CountVisitor {
    fn least(&self) -> u64 {
        u64::from(!self.allow_zero)
    }
}

impl Visitor<'_> for CountVisitor {
    type Value = Option<u32>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.allow_unlimited {
            write!(
                f,
                "a whole number of at least {}, or `unlimited`",
                self.least()
            )
        } else {
            write!(f, "a whole number of at least {}", self.least())
        }
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Option<u32>, E> {
        if n < self.least() {
            let hint = if self.allow_unlimited {
                " (write `unlimited` for no limit)"
            } else {
                ""
            };
            return Err(E::custom(format!(
                "0 is not allowed here: the value must be at least 1{hint}"
            )));
        }
        u32::try_from(n)
            .map(Some)
            .map_err(|_| E::custom(format!("{n} is too large (at most {})", u32::MAX)))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Option<u32>, E> {
        if n < 0 {
            return Err(E::custom(format!(
                "{n} is negative: the value must be at least {}",
                self.least()
            )));
        }
        self.visit_u64(n as u64)
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Option<u32>, E> {
        // `{n:?}` keeps the decimal point the file wrote: "1.0 is not a whole number".
        Err(E::custom(format!("{n:?} is not a whole number")))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<u32>, E> {
        if self.allow_unlimited && s == "unlimited" {
            return Ok(None);
        }
        Err(de::Error::invalid_value(de::Unexpected::Str(s), &self))
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor {
            allow_unlimited: false,
            allow_zero: false,
        })
        .map(|n| Count(n.unwrap_or(u32::MAX)))
    }
}

/// A whole number, zero included (a listen backlog, a kernel setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whole(pub u32);

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor {
            allow_unlimited: false,
            allow_zero: true,
        })
        .map(|n| Whole(n.unwrap_or(u32::MAX)))
    }
}

/// A whole number of at least one, or `unlimited` (None).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<u32>);

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor {
            allow_unlimited: true,
            allow_zero: false,
        })
        .map(Limit)
    }
}

/// A finite number greater than zero (a factor).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Positive(pub f64);

struct PositiveVisitor;

impl Visitor<'_> for PositiveVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a finite number greater than zero")
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<f64, E> {
        if !n.is_finite() {
            return Err(E::custom(format!("{n} is not a finite number")));
        }
        if n <= 0.0 {
            return Err(E::custom(format!("{n} must be greater than zero")));
        }
        Ok(n)
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<f64, E> {
        self.visit_f64(n as f64)
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<f64, E> {
        self.visit_f64(n as f64)
    }
}

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PositiveVisitor).map(Positive)
    }
}

/// A probability in [0, 1] (a quantile).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantile(pub f64);

struct QuantileVisitor;

impl Visitor<'_> for QuantileVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a quantile between 0 and 1")
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<f64, E> {
        if !(0.0..=1.0).contains(&n) {
            return Err(E::custom(format!(
                "{n} is not a quantile: it must lie between 0 and 1"
            )));
        }
        Ok(n)
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<f64, E> {
        self.visit_f64(n as f64)
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<f64, E> {
        self.visit_f64(n as f64)
    }
}

impl<'de> Deserialize<'de> for Quantile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(QuantileVisitor).map(Quantile)
    }
}

/// Most CPUs a file may give one service or database (a bound on what it can ask for).
pub const MAX_CORES: f64 = 1024.0;

/// CPUs as Kubernetes writes a CPU limit: cores (`2`, `0.5`) or millicores (`500m`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cores(pub f64);

struct CoresVisitor;

impl Visitor<'_> for CoresVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number of CPUs, such as `2`, `0.5` or `500m`")
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<f64, E> {
        if !n.is_finite() || n <= 0.0 {
            return Err(E::custom(format!(
                "{n} CPUs: write a number of cores greater than zero, e.g. `2` or `500m`"
            )));
        }
        // Kubernetes' finest CPU unit is the millicore.
        if n < 0.001 {
            return Err(E::custom(format!(
                "{n} CPUs is less than one millicore (`1m`), the smallest CPU limit"
            )));
        }
        if n > MAX_CORES {
            return Err(E::custom(format!(
                "{n} CPUs is more than {MAX_CORES}, the most one component may have"
            )));
        }
        Ok(n)
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<f64, E> {
        self.visit_f64(n as f64)
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<f64, E> {
        self.visit_f64(n as f64)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<f64, E> {
        let t = s.trim();
        let parsed = match t.strip_suffix('m') {
            Some(milli) => milli.trim().parse::<f64>().map(|m| m / 1000.0),
            None => t.parse::<f64>(),
        };
        match parsed {
            Ok(n) => self.visit_f64(n),
            Err(_) => Err(E::custom(format!(
                "`{s}` is not a number of CPUs: write cores (`2`, `0.5`) or millicores (`500m`)"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for Cores {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CoresVisitor).map(Cores)
    }
}

/// A client's traffic to one route: a share (`90%`) or a rate (`90/s`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RouteWeight {
    /// A percentage of the client's requests.
    Percent(f64),
    /// Requests per second.
    PerSecond(f64),
}

struct RouteWeightVisitor;

impl Visitor<'_> for RouteWeightVisitor {
    type Value = RouteWeight;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a share such as `90%` or a rate such as `90/s`")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<RouteWeight, E> {
        if let Some(p) = s.trim().strip_suffix('%') {
            let v: f64 = p.trim().parse().map_err(|_| {
                E::custom(format!(
                    "`{s}` is not a share: write a percentage such as `90%`"
                ))
            })?;
            if !v.is_finite() || v <= 0.0 || v > 100.0 {
                return Err(E::custom(format!(
                    "`{s}`: a route's share must be more than 0% and at most 100%"
                )));
            }
            return Ok(RouteWeight::Percent(v));
        }
        let per_s = RateVisitor.visit_str::<E>(s)?;
        if per_s <= 0.0 {
            return Err(E::custom(format!(
                "`{s}`: a route's rate must be more than zero"
            )));
        }
        Ok(RouteWeight::PerSecond(per_s))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<RouteWeight, E> {
        Err(no_unit(n, "a share or a rate", "90%` or `90/s"))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<RouteWeight, E> {
        Err(no_unit(n, "a share or a rate", "90%` or `90/s"))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<RouteWeight, E> {
        Err(no_unit(n, "a share or a rate", "90%` or `90/s"))
    }
}

impl<'de> Deserialize<'de> for RouteWeight {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RouteWeightVisitor)
    }
}
