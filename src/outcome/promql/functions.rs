//! PromQL functions, after Prometheus 2.42's `promql/functions.go` and
//! `promql/quantile.go`: the same extrapolation in `rate`, the same compensated sums
//! in `*_over_time`, the same bucket interpolation in `histogram_quantile`.

use promql_parser::parser::{Call, Expr};

use super::eval::{drop_name, get, with_label, Ctx, Elem, Range, RangeSeries, Value};
use super::store::{is_equality, Labels, NAME_LABEL};
use crate::outcome::exposition::{Millis, Sample};

pub(super) fn call(ctx: &Ctx, c: &Call, at: Millis) -> Result<Value, String> {
    let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
    let arg = |i: usize| -> Result<&Expr, String> {
        args.get(i)
            .copied()
            .ok_or_else(|| format!("{} needs more arguments", c.func.name))
    };
    let name = c.func.name;
    let per_series = |f: &dyn Fn(&RangeSeries, &Range) -> Option<f64>| -> Result<Value, String> {
        let range = ctx.range(arg(0)?, at)?;
        Ok(Value::Vector(
            range
                .series
                .iter()
                .filter_map(|s| {
                    f(s, &range).map(|value| Elem {
                        labels: drop_name(s.labels.clone()),
                        value,
                    })
                })
                .collect(),
        ))
    };
    let over_time = |f: &dyn Fn(&[Sample]) -> f64| per_series(&|s, _| Some(f(&s.samples)));
    let map = |f: &dyn Fn(f64) -> f64| -> Result<Value, String> {
        Ok(Value::Vector(
            ctx.vector(arg(0)?, at)?
                .into_iter()
                .map(|e| Elem {
                    labels: drop_name(e.labels),
                    value: f(e.value),
                })
                .collect(),
        ))
    };
    match name {
        "rate" => per_series(&|s, r| extrapolated_rate(s, r, true, true)),
        "increase" => per_series(&|s, r| extrapolated_rate(s, r, true, false)),
        "delta" => per_series(&|s, r| extrapolated_rate(s, r, false, false)),
        "irate" => per_series(&|s, _| instant_value(&s.samples, true)),
        "idelta" => per_series(&|s, _| instant_value(&s.samples, false)),
        "avg_over_time" => over_time(&avg),
        "sum_over_time" => over_time(&kahan_total),
        "count_over_time" => over_time(&|v| v.len() as f64),
        "present_over_time" => over_time(&|_| 1.0),
        "max_over_time" => over_time(&highest),
        "min_over_time" => over_time(&lowest),
        "stdvar_over_time" => over_time(&stdvar),
        "stddev_over_time" => over_time(&|v| stdvar(v).sqrt()),
        "quantile_over_time" => quantile_over_time(ctx, arg(0)?, arg(1)?, at),
        "last_over_time" => last_over_time(ctx, arg(0)?, at),
        "changes" => over_time(&changes),
        "resets" => over_time(&|v| v.windows(2).filter(|w| w[1].value < w[0].value).count() as f64),
        "deriv" => per_series(&|s, _| {
            (s.samples.len() >= 2).then(|| linear_regression(&s.samples, s.samples[0].at_ms).0)
        }),
        "predict_linear" => {
            let horizon_s = ctx.scalar(arg(1)?, at)?;
            per_series(&|s, _| {
                (s.samples.len() >= 2).then(|| {
                    let (slope, intercept) = linear_regression(&s.samples, at);
                    slope * horizon_s + intercept
                })
            })
        }
        "absent_over_time" => {
            let range = ctx.range(arg(0)?, at)?;
            Ok(absent(range.series.is_empty(), arg(0)?))
        }
        "absent" => {
            let present = !ctx.vector(arg(0)?, at)?.is_empty();
            Ok(absent(!present, arg(0)?))
        }
        "abs" => map(&f64::abs),
        "ceil" => map(&f64::ceil),
        "floor" => map(&f64::floor),
        "exp" => map(&f64::exp),
        "ln" => map(&f64::ln),
        "log2" => map(&f64::log2),
        "log10" => map(&f64::log10),
        "sqrt" => map(&f64::sqrt),
        "sgn" => map(&sgn),
        "round" => {
            let to_nearest = match args.get(1) {
                Some(e) => ctx.scalar(e, at)?,
                None => 1.0,
            };
            let inverse = 1.0 / to_nearest;
            map(&|v| (v * inverse + 0.5).floor() / inverse)
        }
        "clamp" => {
            let (lo, hi) = (ctx.scalar(arg(1)?, at)?, ctx.scalar(arg(2)?, at)?);
            if hi < lo {
                return Ok(Value::Vector(Vec::new()));
            }
            map(&|v| lo.max(hi.min(v)))
        }
        "clamp_min" => {
            let lo = ctx.scalar(arg(1)?, at)?;
            map(&|v| lo.max(v))
        }
        "clamp_max" => {
            let hi = ctx.scalar(arg(1)?, at)?;
            map(&|v| hi.min(v))
        }
        "scalar" => {
            let v = ctx.vector(arg(0)?, at)?;
            Ok(Value::Scalar(if v.len() == 1 {
                v[0].value
            } else {
                f64::NAN
            }))
        }
        "vector" => Ok(Value::Vector(vec![Elem {
            labels: Vec::new(),
            value: ctx.scalar(arg(0)?, at)?,
        }])),
        "time" => Ok(Value::Scalar(at as f64 / 1000.0)),
        "sort" | "sort_desc" => {
            let mut v = ctx.vector(arg(0)?, at)?;
            v.sort_by(|a, b| {
                let o = a
                    .value
                    .partial_cmp(&b.value)
                    .unwrap_or(std::cmp::Ordering::Equal);
                if name == "sort" {
                    o
                } else {
                    o.reverse()
                }
            });
            Ok(Value::Vector(v))
        }
        "histogram_quantile" => {
            let q = ctx.scalar(arg(0)?, at)?;
            Ok(Value::Vector(histogram_quantile(
                q,
                ctx.vector(arg(1)?, at)?,
            )))
        }
        "label_replace" => label_replace(ctx, &args, at),
        "label_join" => label_join(ctx, &args, at),
        other => Err(format!("the function `{other}` is not supported by rewind")),
    }
}

/// `sum_over_time`: the samples' Kahan-compensated sum, as Prometheus adds them.
fn kahan_total(v: &[Sample]) -> f64 {
    let (s, c) = v
        .iter()
        .fold((0.0, 0.0), |(s, c), x| kahan_sum_inc(x.value, s, c));
    if s.is_infinite() {
        s
    } else {
        s + c
    }
}

/// `max_over_time`: the greatest sample, a NaN only replaced by what follows it.
fn highest(v: &[Sample]) -> f64 {
    v.iter().fold(v[0].value, |m, x| {
        if x.value > m || m.is_nan() {
            x.value
        } else {
            m
        }
    })
}

/// `min_over_time`: the least sample, a NaN only replaced by what follows it.
fn lowest(v: &[Sample]) -> f64 {
    v.iter().fold(v[0].value, |m, x| {
        if x.value < m || m.is_nan() {
            x.value
        } else {
            m
        }
    })
}

/// `changes`: how often a sample differs from the one before (two NaNs are equal).
fn changes(v: &[Sample]) -> f64 {
    v.windows(2)
        .filter(|w| w[1].value != w[0].value && !(w[1].value.is_nan() && w[0].value.is_nan()))
        .count() as f64
}

/// `sgn`: 1, -1, or the value itself (zero or NaN).
fn sgn(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        v
    }
}

/// `quantile_over_time(q, range)`: the `q` quantile of each series' samples.
fn quantile_over_time(ctx: &Ctx, q: &Expr, range: &Expr, at: Millis) -> Result<Value, String> {
    let q = ctx.scalar(q, at)?;
    let range = ctx.range(range, at)?;
    Ok(Value::Vector(
        range
            .series
            .iter()
            .map(|s| {
                let mut v: Vec<f64> = s.samples.iter().map(|x| x.value).collect();
                Elem {
                    labels: drop_name(s.labels.clone()),
                    value: quantile(q, &mut v),
                }
            })
            .collect(),
    ))
}

/// `last_over_time(range)`: each series' last sample. The one range function that
/// keeps the metric name.
fn last_over_time(ctx: &Ctx, range: &Expr, at: Millis) -> Result<Value, String> {
    let range = ctx.range(range, at)?;
    Ok(Value::Vector(
        range
            .series
            .into_iter()
            .filter_map(|s| {
                let last = s.samples.last()?.value;
                Some(Elem {
                    labels: s.labels,
                    value: last,
                })
            })
            .collect(),
    ))
}

/// `absent(v)`: 1 with the equality matchers' labels when `v` is empty.
fn absent(is_absent: bool, arg: &Expr) -> Value {
    if !is_absent {
        return Value::Vector(Vec::new());
    }
    let matchers = match arg {
        Expr::VectorSelector(vs) => Some(&vs.matchers),
        Expr::MatrixSelector(ms) => Some(&ms.vs.matchers),
        _ => None,
    };
    let mut labels: Labels = Vec::new();
    let mut repeated: Vec<String> = Vec::new();
    for m in matchers.map(|m| m.matchers.as_slice()).unwrap_or(&[]) {
        if m.name == NAME_LABEL {
            continue;
        }
        if labels.iter().any(|(n, _)| n == &m.name) {
            repeated.push(m.name.clone());
        }
        if is_equality(m) {
            labels = with_label(labels, &m.name, &m.value);
        }
    }
    labels.retain(|(n, _)| !repeated.contains(n));
    Value::Vector(vec![Elem { labels, value: 1.0 }])
}

/// `extrapolatedRate` of functions.go at v2.42.0.
fn extrapolated_rate(s: &RangeSeries, r: &Range, is_counter: bool, is_rate: bool) -> Option<f64> {
    let p = &s.samples;
    if p.len() < 2 {
        return None;
    }
    let (first, last) = (p[0], p[p.len() - 1]);
    let mut result = last.value - first.value;
    if is_counter {
        let mut prev = first.value;
        for x in &p[1..] {
            if x.value < prev {
                result += prev;
            }
            prev = x.value;
        }
    }
    let mut to_start = (first.at_ms - r.start_ms) as f64 / 1000.0;
    let to_end = (r.end_ms - last.at_ms) as f64 / 1000.0;
    let sampled = (last.at_ms - first.at_ms) as f64 / 1000.0;
    let average_gap = sampled / (p.len() - 1) as f64;
    if is_counter && result > 0.0 && first.value >= 0.0 {
        // A counter starts at zero: never extrapolate below it.
        let to_zero = sampled * (first.value / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average_gap * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        average_gap / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        average_gap / 2.0
    };
    let mut factor = interval / sampled;
    if is_rate {
        factor /= r.seconds();
    }
    Some(result * factor)
}

/// `instantValue` of functions.go: the last two samples.
fn instant_value(p: &[Sample], is_rate: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (prev, last) = (p[p.len() - 2], p[p.len() - 1]);
    let mut v = if is_rate && last.value < prev.value {
        last.value
    } else {
        last.value - prev.value
    };
    let gap = last.at_ms - prev.at_ms;
    if gap == 0 {
        return None;
    }
    if is_rate {
        v /= gap as f64 / 1000.0;
    }
    Some(v)
}

/// Neumaier's compensated sum step, as `kahanSumInc`.
fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

fn avg(v: &[Sample]) -> f64 {
    let (mut mean, mut c, mut count) = (0.0f64, 0.0f64, 0.0f64);
    for x in v {
        count += 1.0;
        if mean.is_infinite() {
            if x.value.is_infinite() && (mean > 0.0) == (x.value > 0.0) {
                continue;
            }
            if !x.value.is_infinite() && !x.value.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_sum_inc(x.value / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        mean
    } else {
        mean + c
    }
}

fn stdvar(v: &[Sample]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for x in v {
        count += 1.0;
        let delta = x.value - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (x.value - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// `quantile` of functions.go: linear interpolation between the closest ranks.
pub(super) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// `linearRegression` of functions.go.
fn linear_regression(p: &[Sample], intercept_ms: Millis) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = p[0].value;
    let const_y = p.iter().all(|x| x.value == init_y);
    for x in p {
        n += 1.0;
        let t = (x.at_ms - intercept_ms) as f64 / 1000.0;
        (sx, cx) = kahan_sum_inc(t, sx, cx);
        (sy, cy) = kahan_sum_inc(x.value, sy, cy);
        (sxy, cxy) = kahan_sum_inc(t * x.value, sxy, cxy);
        (sx2, cx2) = kahan_sum_inc(t * t, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// `histogram_quantile` over classic buckets (`le` labels), as quantile.go.
fn histogram_quantile(q: f64, input: Vec<Elem>) -> Vec<Elem> {
    // Buckets grouped by every label but `le` (the name included, as Prometheus does).
    let mut groups: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
    for e in input {
        let Ok(upper) = get(&e.labels, "le").parse::<f64>() else {
            continue;
        };
        let key = with_label(e.labels, "le", "");
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, b)) => b.push((upper, e.value)),
            None => groups.push((key, vec![(upper, e.value)])),
        }
    }
    groups
        .into_iter()
        .map(|(labels, buckets)| Elem {
            labels: drop_name(labels),
            value: bucket_quantile(q, buckets),
        })
        .collect()
}

fn bucket_quantile(q: f64, mut b: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    b.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal));
    if b.last().is_none_or(|l| l.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Coalesce equal bounds, then make the counts monotonic.
    let mut c: Vec<(f64, f64)> = Vec::with_capacity(b.len());
    for (ub, n) in b {
        match c.last_mut() {
            Some(last) if last.0 == ub => last.1 += n,
            _ => c.push((ub, n)),
        }
    }
    let mut max = c[0].1;
    for x in c.iter_mut().skip(1) {
        if x.1 > max {
            max = x.1;
        } else if x.1 < max {
            x.1 = max;
        }
    }
    if c.len() < 2 {
        return f64::NAN;
    }
    let observations = c[c.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let i = c[..c.len() - 1].partition_point(|x| x.1 < rank);
    if i == c.len() - 1 {
        return c[c.len() - 2].0;
    }
    if i == 0 && c[0].0 <= 0.0 {
        return c[0].0;
    }
    let (mut start, end, mut count) = (0.0, c[i].0, c[i].1);
    if i > 0 {
        start = c[i - 1].0;
        count -= c[i - 1].1;
        rank -= c[i - 1].1;
    }
    start + (end - start) * (rank / count)
}

fn string_arg(e: &Expr) -> Result<&str, String> {
    match e {
        Expr::StringLiteral(s) => Ok(&s.val),
        Expr::Paren(p) => string_arg(&p.expr),
        _ => Err("expected a string literal".into()),
    }
}

/// `label_replace(v, dst, replacement, src, regex)`: RE2's `$1` expansion is the
/// regex crate's.
fn label_replace(ctx: &Ctx, args: &[&Expr], at: Millis) -> Result<Value, String> {
    if args.len() != 5 {
        return Err("label_replace takes five arguments".into());
    }
    let (dst, repl, src, re) = (
        string_arg(args[1])?,
        string_arg(args[2])?,
        string_arg(args[3])?,
        string_arg(args[4])?,
    );
    let re = regex::Regex::new(&format!("^(?s:{re})$"))
        .map_err(|e| format!("invalid regular expression in label_replace: {e}"))?;
    let v = ctx.vector(args[0], at)?;
    Ok(Value::Vector(
        v.into_iter()
            .map(|e| {
                let src_value = get(&e.labels, src).to_string();
                match re.captures(&src_value) {
                    Some(caps) => {
                        let mut out = String::new();
                        caps.expand(repl, &mut out);
                        Elem {
                            labels: with_label(e.labels, dst, &out),
                            value: e.value,
                        }
                    }
                    None => e,
                }
            })
            .collect(),
    ))
}

/// `label_join(v, dst, separator, src...)`.
fn label_join(ctx: &Ctx, args: &[&Expr], at: Millis) -> Result<Value, String> {
    if args.len() < 3 {
        return Err("label_join takes at least three arguments".into());
    }
    let dst = string_arg(args[1])?;
    let sep = string_arg(args[2])?;
    let srcs = args[3..]
        .iter()
        .map(|a| string_arg(a))
        .collect::<Result<Vec<_>, _>>()?;
    let v = ctx.vector(args[0], at)?;
    Ok(Value::Vector(
        v.into_iter()
            .map(|e| {
                let joined = srcs
                    .iter()
                    .map(|s| get(&e.labels, s))
                    .collect::<Vec<_>>()
                    .join(sep);
                Elem {
                    labels: with_label(e.labels, dst, &joined),
                    value: e.value,
                }
            })
            .collect(),
    ))
}
