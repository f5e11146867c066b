//! Binary operators and vector matching, after Prometheus 2.42's `VectorBinop`,
//! `VectorAnd`/`Or`/`Unless` and `VectorscalarBinop`: a comparison filters (keeping
//! the left value) unless `bool`; arithmetic drops the metric name; one-to-one
//! matching refuses a side with two series for one match group.

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB,
};
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::eval::{drop_name, get, with_label, Ctx, Elem, Value};
use super::store::{Labels, NAME_LABEL};
use crate::outcome::exposition::Millis;

fn is_comparison(op: u16) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// `shouldDropMetricName`: arithmetic (not `atan2`, not comparisons).
fn drops_name(op: u16) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD)
}

/// The value of `l op r`, and for a comparison whether it holds (else `true`).
fn apply(op: u16, l: f64, r: f64) -> (f64, bool) {
    match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        // Go's math.Mod: the sign of the dividend, as Rust's `%` on floats.
        T_MOD => (l % r, true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => (f64::NAN, false),
    }
}

pub(super) fn eval(ctx: &Ctx, b: &BinaryExpr, at: Millis) -> Result<Value, String> {
    let op = b.op.id();
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ctx.eval(&b.lhs, at)?;
    let rhs = ctx.eval(&b.rhs, at)?;
    Ok(match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let (v, keep) = apply(op, l, r);
            Value::Scalar(if is_comparison(op) {
                if keep {
                    1.0
                } else {
                    0.0
                }
            } else {
                v
            })
        }
        (Value::Vector(l), Value::Scalar(r)) => {
            Value::Vector(vector_scalar(op, l, r, false, return_bool))
        }
        (Value::Scalar(l), Value::Vector(r)) => {
            Value::Vector(vector_scalar(op, r, l, true, return_bool))
        }
        (Value::Vector(l), Value::Vector(r)) => {
            Value::Vector(vector_vector(op, l, r, b.modifier.as_ref(), return_bool)?)
        }
        _ => return Err("a binary operator needs numbers or instant vectors".into()),
    })
}

fn vector_scalar(op: u16, v: Vec<Elem>, s: f64, swap: bool, return_bool: bool) -> Vec<Elem> {
    v.into_iter()
        .filter_map(|e| {
            let (l, r) = if swap { (s, e.value) } else { (e.value, s) };
            let (mut value, mut keep) = apply(op, l, r);
            // A comparison always keeps the vector's value, whichever side it is on.
            if is_comparison(op) && swap {
                value = r;
            }
            if return_bool {
                value = if keep { 1.0 } else { 0.0 };
                keep = true;
            }
            keep.then(|| Elem {
                labels: if drops_name(op) || return_bool {
                    drop_name(e.labels)
                } else {
                    e.labels
                },
                value,
            })
        })
        .collect()
}

/// The labels two elements are matched on.
fn signature(labels: &Labels, matching: Option<&LabelModifier>) -> Labels {
    match matching {
        Some(LabelModifier::Include(on)) => labels
            .iter()
            .filter(|(n, _)| on.labels.iter().any(|x| x == n))
            .cloned()
            .collect(),
        Some(LabelModifier::Exclude(ignoring)) => labels
            .iter()
            .filter(|(n, _)| n != NAME_LABEL && !ignoring.labels.iter().any(|x| x == n))
            .cloned()
            .collect(),
        None => drop_name(labels.clone()),
    }
}

fn vector_vector(
    op: u16,
    lhs: Vec<Elem>,
    rhs: Vec<Elem>,
    modifier: Option<&BinModifier>,
    return_bool: bool,
) -> Result<Vec<Elem>, String> {
    let matching = modifier.and_then(|m| m.matching.as_ref());
    let card = modifier.map_or(
        if matches!(op, T_LAND | T_LOR | T_LUNLESS) {
            VectorMatchCardinality::ManyToMany
        } else {
            VectorMatchCardinality::OneToOne
        },
        |m| m.card.clone(),
    );
    let sig = |e: &Elem| signature(&e.labels, matching);
    match op {
        T_LAND => {
            let right: Vec<Labels> = rhs.iter().map(sig).collect();
            return Ok(if rhs.is_empty() {
                Vec::new()
            } else {
                lhs.into_iter()
                    .filter(|e| right.contains(&sig(e)))
                    .collect()
            });
        }
        T_LOR => {
            let left: Vec<Labels> = lhs.iter().map(sig).collect();
            let mut out = lhs;
            out.extend(rhs.into_iter().filter(|e| !left.contains(&sig(e))));
            return Ok(out);
        }
        T_LUNLESS => {
            let right: Vec<Labels> = rhs.iter().map(sig).collect();
            return Ok(lhs
                .into_iter()
                .filter(|e| !right.contains(&sig(e)))
                .collect());
        }
        _ => {}
    }
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    // One-to-many is many-to-one with the sides swapped.
    let swapped = matches!(card, VectorMatchCardinality::OneToMany(_));
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_side: Vec<(Labels, Elem)> = Vec::with_capacity(one.len());
    for e in one {
        let s = sig(&e);
        if one_side.iter().any(|(k, _)| *k == s) {
            return Err(format!(
                "found duplicate series for the match group {} on the {} hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side",
                fmt_labels(&s),
                if swapped { "left" } else { "right" }
            ));
        }
        one_side.push((s, e));
    }
    let include: Vec<String> = card.labels().map(|l| l.labels.clone()).unwrap_or_default();
    let mut matched: Vec<(Labels, Vec<Labels>)> = Vec::new();
    let mut out = Vec::new();
    for e in many {
        let s = sig(&e);
        let Some((_, other)) = one_side.iter().find(|(k, _)| *k == s) else {
            continue;
        };
        let (l, r) = if swapped {
            (other.value, e.value)
        } else {
            (e.value, other.value)
        };
        let (mut value, keep) = apply(op, l, r);
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        let mut labels = e.labels.clone();
        if drops_name(op) || return_bool {
            labels = drop_name(labels);
        }
        if matches!(card, VectorMatchCardinality::OneToOne) {
            match matching {
                Some(LabelModifier::Include(on)) => {
                    labels.retain(|(n, _)| on.labels.iter().any(|x| x == n))
                }
                Some(LabelModifier::Exclude(ig)) => {
                    labels.retain(|(n, _)| !ig.labels.iter().any(|x| x == n))
                }
                None => {}
            }
        }
        for name in &include {
            labels = with_label(labels, name, get(&other.labels, name));
        }
        match matched.iter_mut().find(|(k, _)| *k == s) {
            Some((_, seen)) => {
                if matches!(card, VectorMatchCardinality::OneToOne) {
                    return Err("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into());
                }
                if seen.contains(&labels) {
                    return Err(
                        "multiple matches for labels: grouping labels must ensure unique matches"
                            .into(),
                    );
                }
                seen.push(labels.clone());
            }
            None => matched.push((s, vec![labels.clone()])),
        }
        out.push(Elem { labels, value });
    }
    Ok(out)
}

/// `{a="1", b="2"}`.
pub(super) fn fmt_labels(l: &Labels) -> String {
    let inner: Vec<String> = l.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}
