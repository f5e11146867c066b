//! PromQL, evaluated the way Prometheus 2.42 evaluates an instant query.
//!
//! The parser is the `promql-parser` crate (Prometheus's grammar); evaluation is
//! written here after `promql/engine.go` and `promql/functions.go` at v2.42.0, the
//! version Debian ships and the tests hold rewind against (`promtool test rules`).
//! What a file can write is checked before the replay ([`check`]): an unsupported
//! function, `@` or a string where a number is needed is refused with a message,
//! never met halfway through.

mod binary;
mod eval;
mod functions;
pub mod store;

use promql_parser::parser::{self, Expr};

pub use eval::{instant, Elem, Value};
pub use store::{Labels, Store, StoredSeries};

/// Deepest nesting of sub-expressions a query may have: far beyond any real rule, and
/// well within the evaluator's stack.
pub const MAX_DEPTH: usize = 64;

/// Longest query text accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;

/// The functions rewind evaluates (Prometheus 2.42's, less those on native
/// histograms, dates and `holt_winters`).
pub const FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "count_over_time",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_quantile",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "max_over_time",
    "min_over_time",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "time",
    "vector",
];

/// The aggregations rewind evaluates.
pub const AGGREGATIONS: &[&str] = &[
    "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile",
];

/// Parse a query and check that rewind can evaluate all of it and that it yields
/// an instant vector or a scalar (what a rule needs).
pub fn check(text: &str) -> Result<Expr, String> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(format!(
            "the expression is {} bytes long; at most {MAX_QUERY_BYTES} are accepted",
            text.len()
        ));
    }
    // The parser's own recursion and the AST's drop are bounded by the nesting of
    // brackets, so refuse deep nesting before parsing.
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(format!(
                        "the expression nests brackets more than {MAX_DEPTH} deep"
                    ));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let expr = parser::parse(text).map_err(|e| plain_parse_error(&e))?;
    supported(&expr, 0)?;
    match expr.value_type() {
        parser::value::ValueType::Vector | parser::value::ValueType::Scalar => Ok(expr),
        other => Err(format!(
            "a rule's expression must give an instant vector or a scalar, this one gives a {other}"
        )),
    }
}

/// The parser's message, without its generic prefix.
fn plain_parse_error(e: &str) -> String {
    // The crate's message for any syntax error it does not explain further.
    if e == "invalid promql query" {
        "this is not a valid PromQL expression".to_string()
    } else {
        format!("not valid PromQL: {e}")
    }
}

fn supported(e: &Expr, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "the expression nests more than {MAX_DEPTH} operations deep"
        ));
    }
    let d = depth + 1;
    match e {
        Expr::Aggregate(a) => {
            let op = a.op.to_string();
            if !AGGREGATIONS.contains(&op.as_str()) {
                return Err(format!("the aggregation `{op}` is not supported by rewind"));
            }
            if let Some(p) = &a.param {
                supported(p, d)?;
            }
            supported(&a.expr, d)
        }
        Expr::Unary(u) => supported(&u.expr, d),
        Expr::Binary(b) => {
            if b.modifier
                .as_ref()
                .is_some_and(|m| m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
            {
                return Err("`fill` modifiers are not in Prometheus 2.42".to_string());
            }
            supported(&b.lhs, d)?;
            supported(&b.rhs, d)
        }
        Expr::Paren(p) => supported(&p.expr, d),
        Expr::Subquery(s) => {
            if s.at.is_some() {
                return Err(at_unsupported());
            }
            supported(&s.expr, d)
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::VectorSelector(v) => {
            if v.at.is_some() {
                return Err(at_unsupported());
            }
            Ok(())
        }
        Expr::MatrixSelector(m) => {
            if m.vs.at.is_some() {
                return Err(at_unsupported());
            }
            Ok(())
        }
        Expr::Call(c) => {
            if !FUNCTIONS.contains(&c.func.name) {
                return Err(format!(
                    "the function `{}` is not supported by rewind",
                    c.func.name
                ));
            }
            c.args.args.iter().try_for_each(|a| supported(a, d))
        }
        Expr::Extension(_) => Err("this expression is not PromQL".to_string()),
    }
}

fn at_unsupported() -> String {
    "the `@` modifier is not supported: a replay's rules are evaluated at each step".to_string()
}

/// Samples one evaluation of `e` reads per selected series, at most: a range reads
/// one per scrape in its window, a subquery evaluates its inner expression once per
/// step. For budgets (a 1-nanosecond window over a month must not pass).
pub fn samples_per_evaluation(e: &Expr, scrape_ms: u64, step_ms: u64) -> u64 {
    let scrape_ms = scrape_ms.max(1);
    match e {
        Expr::Aggregate(a) => samples_per_evaluation(&a.expr, scrape_ms, step_ms).saturating_add(
            a.param
                .as_ref()
                .map_or(0, |p| samples_per_evaluation(p, scrape_ms, step_ms)),
        ),
        Expr::Unary(u) => samples_per_evaluation(&u.expr, scrape_ms, step_ms),
        Expr::Binary(b) => samples_per_evaluation(&b.lhs, scrape_ms, step_ms)
            .saturating_add(samples_per_evaluation(&b.rhs, scrape_ms, step_ms)),
        Expr::Paren(p) => samples_per_evaluation(&p.expr, scrape_ms, step_ms),
        Expr::Subquery(s) => {
            let step = s.step.map_or(step_ms, |d| d.as_millis() as u64).max(1);
            let steps = (s.range.as_millis() as u64 / step).saturating_add(1);
            steps.saturating_mul(samples_per_evaluation(&s.expr, scrape_ms, step_ms))
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => 0,
        Expr::VectorSelector(_) => 1,
        Expr::MatrixSelector(m) => (m.range.as_millis() as u64 / scrape_ms).saturating_add(1),
        Expr::Call(c) => c
            .args
            .args
            .iter()
            .map(|a| samples_per_evaluation(a, scrape_ms, step_ms))
            .fold(0u64, u64::saturating_add),
    }
}

/// The metric names an expression selects by name (`foo` or `{__name__="foo"}`).
pub fn selected_names(e: &Expr, out: &mut Vec<String>) {
    let mut of_selector = |vs: &promql_parser::parser::VectorSelector| {
        if let Some(n) = &vs.name {
            out.push(n.clone());
        }
        for m in &vs.matchers.matchers {
            if m.name == store::NAME_LABEL && store::is_equality(m) {
                out.push(m.value.clone());
            }
        }
    };
    match e {
        Expr::VectorSelector(vs) => of_selector(vs),
        Expr::MatrixSelector(ms) => of_selector(&ms.vs),
        Expr::Aggregate(a) => {
            selected_names(&a.expr, out);
            if let Some(p) = &a.param {
                selected_names(p, out);
            }
        }
        Expr::Unary(u) => selected_names(&u.expr, out),
        Expr::Binary(b) => {
            selected_names(&b.lhs, out);
            selected_names(&b.rhs, out);
        }
        Expr::Paren(p) => selected_names(&p.expr, out),
        Expr::Subquery(s) => selected_names(&s.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| selected_names(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}
