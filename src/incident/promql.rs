//! A small subset of PromQL for alert rules: enough to write the rules people write
//! about an incident ("error rate above 5% for 5 minutes"), with errors that point at
//! the character.
//!
//! ```text
//! rule    := sum CMP number
//! sum     := product (('+' | '-') product)*
//! product := unary (('*' | '/') unary)*
//! unary   := '-' unary | primary
//! primary := number | FUNC '(' metric '[' duration ']' ')' | 'sum' '(' sum ')' | metric | '(' sum ')'
//! FUNC    := rate | increase | avg_over_time | max_over_time | min_over_time
//! CMP     := > | >= | < | <= | == | !=
//! ```

use crate::engine::Nanos;

/// A comparison of the rule's expression with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Cmp {
    fn promql(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
        }
    }
}

/// Range functions over a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFn {
    /// Per-second rate of a counter.
    Rate,
    /// Increase of a counter.
    Increase,
    /// Mean of a gauge.
    AvgOverTime,
    /// Largest value of a gauge.
    MaxOverTime,
    /// Smallest value of a gauge.
    MinOverTime,
}

impl RangeFn {
    fn promql(self) -> &'static str {
        match self {
            RangeFn::Rate => "rate",
            RangeFn::Increase => "increase",
            RangeFn::AvgOverTime => "avg_over_time",
            RangeFn::MaxOverTime => "max_over_time",
            RangeFn::MinOverTime => "min_over_time",
        }
    }
}

/// Arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

/// A metric: one or more time-series columns, summed (`edge.status_5xx` is four).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// As written.
    pub name: String,
    /// The columns summed.
    pub columns: Vec<String>,
}

/// An expression over metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A constant.
    Number(f64),
    /// A metric's value at the evaluation.
    Metric(Metric),
    /// A range function of a metric over a window.
    Range {
        /// The function.
        func: RangeFn,
        /// Its argument.
        metric: Metric,
        /// Look-back window.
        window: Nanos,
    },
    /// Arithmetic.
    Binary(Op, Box<Expr>, Box<Expr>),
    /// Negation.
    Neg(Box<Expr>),
}

/// How one `timeseries.csv` column is exported: the PromQL selector of its series,
/// whether it is a counter, and the factor from the exported unit to the column's
/// (1000 for a `_ms` column exported in seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSeries {
    /// `name{label="value",...}`.
    pub selector: String,
    /// A counter (read with `rate`/`increase`), else a gauge.
    pub counter: bool,
    /// Exported value times this is the column's unit.
    pub factor: f64,
}

/// A rule in the column language, as PromQL over the exported series: each metric
/// becomes the `sum` of its series (so that it is one element without labels, as the
/// column language reads it), range functions apply to each series before the sum,
/// and units are converted back to the columns' own.
pub fn to_promql(
    expr: &Expr,
    cmp: Cmp,
    threshold: f64,
    series: &dyn Fn(&str) -> Result<ColumnSeries, String>,
) -> Result<String, String> {
    Ok(format!(
        "{} {} {}",
        promql_of(expr, series)?,
        cmp.promql(),
        number(threshold)
    ))
}

fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else if v.is_nan() {
        "NaN".into()
    } else if v > 0.0 {
        "+Inf".into()
    } else {
        "-Inf".into()
    }
}

fn promql_of(
    e: &Expr,
    series: &dyn Fn(&str) -> Result<ColumnSeries, String>,
) -> Result<String, String> {
    Ok(match e {
        Expr::Number(v) => number(*v),
        Expr::Neg(x) => format!("-({})", promql_of(x, series)?),
        Expr::Binary(op, l, r) => {
            let op = match op {
                Op::Add => "+",
                Op::Sub => "-",
                Op::Mul => "*",
                Op::Div => "/",
            };
            format!("({} {op} {})", promql_of(l, series)?, promql_of(r, series)?)
        }
        Expr::Metric(m) => metric_promql(m, None, series)?,
        Expr::Range {
            func,
            metric,
            window,
        } => metric_promql(metric, Some((*func, *window)), series)?,
    })
}

fn metric_promql(
    m: &Metric,
    range: Option<(RangeFn, Nanos)>,
    series: &dyn Fn(&str) -> Result<ColumnSeries, String>,
) -> Result<String, String> {
    let cols = m
        .columns
        .iter()
        .map(|c| series(c))
        .collect::<Result<Vec<_>, _>>()?;
    let counter = cols.iter().any(|c| c.counter);
    match range.map(|r| r.0) {
        Some(RangeFn::Rate | RangeFn::Increase) if !counter => {
            return Err(format!(
                "`{}` is a gauge: rate() and increase() take counters (try avg_over_time, max_over_time or min_over_time)",
                m.name
            ))
        }
        Some(RangeFn::AvgOverTime | RangeFn::MaxOverTime | RangeFn::MinOverTime) if counter => {
            return Err(format!(
                "`{}` is a counter: over a window it reads its running total; use rate() or increase()",
                m.name
            ))
        }
        _ => {}
    }
    if let Some((_, window)) = range {
        if window.0 % 1_000_000 != 0 {
            return Err(format!(
                "the window of `{}` must be whole milliseconds, as Prometheus counts them",
                m.name
            ));
        }
    }
    let mut terms: Vec<(String, f64)> = Vec::new();
    for sel in merge_selectors(&cols) {
        let inner = match range {
            Some((func, window)) => {
                format!(
                    "{}({}[{}])",
                    func.promql(),
                    sel.selector,
                    promql_duration(window)
                )
            }
            None => sel.selector.clone(),
        };
        terms.push((format!("sum({inner})"), sel.factor));
    }
    let joined: Vec<String> = terms
        .into_iter()
        .map(|(t, f)| {
            if f == 1.0 {
                t
            } else {
                format!("{t} * {}", number(f))
            }
        })
        .collect();
    Ok(if joined.len() == 1 {
        joined[0].clone()
    } else {
        format!("({})", joined.join(" + "))
    })
}

/// Selectors that differ only in one label's value become one regex selector
/// (`status=~"500|502|503|504"`): what a person would write.
fn merge_selectors(cols: &[ColumnSeries]) -> Vec<ColumnSeries> {
    fn split(sel: &str) -> Option<(&str, Vec<(&str, &str)>)> {
        let (name, rest) = sel.split_once('{')?;
        let body = rest.strip_suffix('}')?;
        let mut labels = Vec::new();
        for part in body.split(',').filter(|p| !p.is_empty()) {
            let (n, v) = part.split_once('=')?;
            let v = v.strip_prefix('"')?.strip_suffix('"')?;
            if v.contains(['"', '\\', '|']) {
                return None;
            }
            labels.push((n, v));
        }
        Some((name, labels))
    }
    if cols.len() < 2 || cols.iter().any(|c| c.factor != cols[0].factor) {
        return cols.to_vec();
    }
    let parsed: Option<Vec<_>> = cols.iter().map(|c| split(&c.selector)).collect();
    let Some(parsed) = parsed else {
        return cols.to_vec();
    };
    let (name0, labels0) = &parsed[0];
    let same_shape = parsed.iter().all(|(n, l)| {
        n == name0 && l.len() == labels0.len() && l.iter().zip(labels0).all(|(a, b)| a.0 == b.0)
    });
    if !same_shape {
        return cols.to_vec();
    }
    let differing: Vec<usize> = (0..labels0.len())
        .filter(|&i| parsed.iter().any(|(_, l)| l[i].1 != labels0[i].1))
        .collect();
    if differing.len() != 1 {
        return cols.to_vec();
    }
    let d = differing[0];
    let values: Vec<&str> = parsed.iter().map(|(_, l)| l[d].1).collect();
    let labels: Vec<String> = labels0
        .iter()
        .enumerate()
        .map(|(i, (n, v))| {
            if i == d {
                format!("{n}=~\"{}\"", values.join("|"))
            } else {
                format!("{n}=\"{v}\"")
            }
        })
        .collect();
    vec![ColumnSeries {
        selector: format!("{name0}{{{}}}", labels.join(",")),
        counter: cols[0].counter,
        factor: cols[0].factor,
    }]
}

/// A duration as PromQL writes it (`90s`, `5m`, `250ms`).
fn promql_duration(d: Nanos) -> String {
    let ms = d.0 / 1_000_000;
    if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Longest alert expression, in characters. Real rules are a line or two; the bound
/// keeps parsing and evaluation cheap whatever a file holds.
pub const MAX_EXPR_CHARS: usize = 1000;

/// Deepest nesting of parentheses, `sum(...)` and unary minus. The parser and the
/// evaluator recurse once per level, so the bound is what keeps their stacks small.
pub const MAX_EXPR_NESTING: usize = 32;

/// Most binary operators (`+ - * /`) in one expression: each adds a level to the
/// evaluated tree, which a chain such as `a + a + ...` would otherwise make as deep
/// as the expression is long.
pub const MAX_EXPR_OPERATORS: usize = 100;

/// A parse error: message and character offset in the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// What is wrong.
    pub message: String,
    /// Where, in characters from the start of the expression.
    pub offset: usize,
}

/// Turns a metric name into the columns it sums, or says what names exist.
pub type Resolve<'a> = &'a dyn Fn(&str) -> Result<Vec<String>, String>;

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    resolve: Resolve<'a>,
    /// Levels of parentheses, `sum(` and unary minus open at `pos`.
    nesting: usize,
    /// Binary operators read so far.
    operators: usize,
}

/// Parse `text` into (expression, comparison, threshold).
pub fn parse_rule(text: &str, resolve: Resolve) -> Result<(Expr, Cmp, f64), ExprError> {
    let length = text.chars().count();
    if length > MAX_EXPR_CHARS {
        return Err(ExprError {
            message: format!(
                "the expression is {length} characters long; an alert expression may have at most {MAX_EXPR_CHARS}"
            ),
            offset: 0,
        });
    }
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
        resolve,
        nesting: 0,
        operators: 0,
    };
    let expr = p.sum()?;
    p.skip_ws();
    let at = p.pos;
    let cmp = p.cmp().ok_or_else(|| ExprError {
        message: "expected a comparison with a threshold, e.g. `> 0.05`".into(),
        offset: at,
    })?;
    p.skip_ws();
    let at = p.pos;
    let threshold = p.number().ok_or_else(|| ExprError {
        message: "expected a number after the comparison".into(),
        offset: at,
    })?;
    p.skip_ws();
    if p.pos < p.chars.len() {
        return Err(ExprError {
            message: format!("unexpected `{}` after the threshold", p.chars[p.pos]),
            offset: p.pos,
        });
    }
    Ok((expr, cmp, threshold))
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.chars.len() && self.chars[self.pos].is_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, what: &str) -> Result<(), ExprError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(ExprError {
                message: format!("expected `{c}` {what}"),
                offset: self.pos,
            })
        }
    }

    /// Open one more level of nesting at `at` (a `(` or a unary `-`), within the bound.
    fn open(&mut self, at: usize) -> Result<(), ExprError> {
        self.nesting += 1;
        if self.nesting > MAX_EXPR_NESTING {
            return Err(ExprError {
                message: format!(
                    "parentheses and minus signs nest more than {MAX_EXPR_NESTING} deep here: write the expression flatter"
                ),
                offset: at,
            });
        }
        Ok(())
    }

    fn close(&mut self) {
        self.nesting -= 1;
    }

    /// Count the binary operator just read at `at`, within the bound.
    fn operator(&mut self, at: usize) -> Result<(), ExprError> {
        self.operators += 1;
        if self.operators > MAX_EXPR_OPERATORS {
            return Err(ExprError {
                message: format!(
                    "more than {MAX_EXPR_OPERATORS} operators (+ - * /) in one expression: split the rule"
                ),
                offset: at,
            });
        }
        Ok(())
    }

    fn cmp(&mut self) -> Option<Cmp> {
        let rest: String = self.chars[self.pos..].iter().take(2).collect();
        let (cmp, len) = if rest.starts_with(">=") {
            (Cmp::Ge, 2)
        } else if rest.starts_with("<=") {
            (Cmp::Le, 2)
        } else if rest.starts_with("==") {
            (Cmp::Eq, 2)
        } else if rest.starts_with("!=") {
            (Cmp::Ne, 2)
        } else if rest.starts_with('>') {
            (Cmp::Gt, 1)
        } else if rest.starts_with('<') {
            (Cmp::Lt, 1)
        } else {
            return None;
        };
        self.pos += len;
        Some(cmp)
    }

    fn number(&mut self) -> Option<f64> {
        self.skip_ws();
        let start = self.pos;
        while self.pos < self.chars.len()
            && (self.chars[self.pos].is_ascii_digit()
                || matches!(self.chars[self.pos], '.' | 'e' | 'E'))
        {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            _ => {
                self.pos = start;
                None
            }
        }
    }

    fn word(&mut self) -> String {
        self.skip_ws();
        let start = self.pos;
        while self.pos < self.chars.len()
            && (self.chars[self.pos].is_ascii_alphanumeric()
                || matches!(self.chars[self.pos], '_' | '.' | '-'))
        {
            // A '-' belongs to a name only between name characters (orders-api).
            if self.chars[self.pos] == '-'
                && (self.pos == start
                    || !self
                        .chars
                        .get(self.pos + 1)
                        .is_some_and(|c| c.is_ascii_alphanumeric()))
            {
                break;
            }
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn sum(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.product()?;
        loop {
            let op = if self.eat('+') {
                Op::Add
            } else if self.peek() == Some('-') {
                self.pos += 1;
                Op::Sub
            } else {
                return Ok(left);
            };
            self.operator(self.pos - 1)?;
            let right = self.product()?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn product(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        loop {
            let op = if self.eat('*') {
                Op::Mul
            } else if self.eat('/') {
                Op::Div
            } else {
                return Ok(left);
            };
            self.operator(self.pos - 1)?;
            let right = self.unary()?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.eat('-') {
            self.open(self.pos - 1)?;
            let inner = self.unary()?;
            self.close();
            return Ok(Expr::Neg(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        if self.eat('(') {
            self.open(self.pos - 1)?;
            let e = self.sum()?;
            self.expect(')', "to close the parenthesis")?;
            self.close();
            return Ok(e);
        }
        if let Some(v) = self.number() {
            return Ok(Expr::Number(v));
        }
        let start = self.pos;
        let word = self.word();
        if word.is_empty() {
            return Err(ExprError {
                message: match self.chars.get(self.pos) {
                    Some(c) => {
                        format!("unexpected `{c}`: expected a metric, a function or a number")
                    }
                    None => "the expression ends early: expected a metric, a function or a number"
                        .into(),
                },
                offset: self.pos,
            });
        }
        let func = match word.as_str() {
            "rate" => Some(RangeFn::Rate),
            "increase" => Some(RangeFn::Increase),
            "avg_over_time" => Some(RangeFn::AvgOverTime),
            "max_over_time" => Some(RangeFn::MaxOverTime),
            "min_over_time" => Some(RangeFn::MinOverTime),
            _ => None,
        };
        if word == "sum" && self.peek() == Some('(') {
            // One series per metric already: sum() is the identity, allowed for habit.
            self.expect('(', "after sum")?;
            self.open(self.pos - 1)?;
            let e = self.sum()?;
            self.expect(')', "to close sum(")?;
            self.close();
            return Ok(e);
        }
        if let Some(func) = func {
            self.expect('(', &format!("after {word}"))?;
            let metric = self.metric()?;
            self.expect(
                '[',
                &format!("and a window, as in {word}({}[5m])", metric.name),
            )?;
            self.skip_ws();
            let wstart = self.pos;
            while self.pos < self.chars.len() && self.chars[self.pos] != ']' {
                self.pos += 1;
            }
            let text: String = self.chars[wstart..self.pos].iter().collect();
            let window = parse_window(text.trim()).map_err(|message| ExprError {
                message,
                offset: wstart,
            })?;
            self.expect(']', "to close the window")?;
            self.expect(')', &format!("to close {word}("))?;
            return Ok(Expr::Range {
                func,
                metric,
                window,
            });
        }
        if self.peek() == Some('(') {
            return Err(ExprError {
                message: format!("unknown function `{word}`: use rate, increase, avg_over_time, max_over_time, min_over_time or sum"),
                offset: start + (word.len() - word.trim_start().len()),
            });
        }
        self.pos = start;
        Ok(Expr::Metric(self.metric()?))
    }

    fn metric(&mut self) -> Result<Metric, ExprError> {
        self.skip_ws();
        let start = self.pos;
        let name = self.word();
        if name.is_empty() {
            return Err(ExprError {
                message: "expected a metric name such as `edge.status_5xx`".into(),
                offset: start,
            });
        }
        let columns = (self.resolve)(&name).map_err(|message| ExprError {
            message,
            offset: start,
        })?;
        Ok(Metric { name, columns })
    }
}

fn parse_window(text: &str) -> Result<Nanos, String> {
    crate::human::parse_positive_duration(text).map_err(|e| e.replace("a duration", "a window"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(name: &str) -> Result<Vec<String>, String> {
        match name {
            "edge.status_5xx" => Ok(vec!["edge.status_500".into(), "edge.status_502".into()]),
            "edge.responses" | "orders-api.memory_mib" => Ok(vec![name.into()]),
            _ => Err(format!("unknown metric `{name}`")),
        }
    }

    #[test]
    fn parses_an_error_ratio_rule() {
        let (e, cmp, t) = parse_rule(
            "rate(edge.status_5xx[5m]) / rate(edge.responses[5m]) > 0.05",
            &resolve,
        )
        .expect("valid");
        assert_eq!(cmp, Cmp::Gt);
        assert_eq!(t, 0.05);
        assert!(matches!(e, Expr::Binary(Op::Div, _, _)));
    }

    #[test]
    fn hyphenated_names_and_subtraction() {
        let (e, _, _) = parse_rule("orders-api.memory_mib - 100 >= 300", &resolve).expect("valid");
        assert!(matches!(e, Expr::Binary(Op::Sub, _, _)));
    }

    #[test]
    fn errors_point_at_the_character() {
        let e = parse_rule("rate(edge.status_5xxx[5m]) > 1", &resolve).expect_err("bad");
        assert_eq!(e.offset, 5);
        let e = parse_rule("rate(edge.responses[5q]) > 1", &resolve).expect_err("bad");
        assert_eq!(e.offset, 20);
        let e = parse_rule("rate(edge.responses[5m])", &resolve).expect_err("bad");
        assert!(e.message.contains("comparison"));
        let e = parse_rule("ratee(edge.responses[5m]) > 1", &resolve).expect_err("bad");
        assert!(e.message.contains("unknown function `ratee`"));
    }

    #[test]
    fn nesting_is_bounded_at_the_level_that_breaks_it() {
        let deep = |n: usize| format!("{}1{} > 0", "(".repeat(n), ")".repeat(n));
        assert!(parse_rule(&deep(MAX_EXPR_NESTING), &resolve).is_ok());
        let e = parse_rule(&deep(MAX_EXPR_NESTING + 1), &resolve).expect_err("too deep");
        assert_eq!(e.offset, MAX_EXPR_NESTING);
        assert!(
            e.message.contains("nest more than 32 deep"),
            "{}",
            e.message
        );
        let minus = format!("{}1 > 0", "-".repeat(MAX_EXPR_NESTING + 1));
        let e = parse_rule(&minus, &resolve).expect_err("too deep");
        assert_eq!(e.offset, MAX_EXPR_NESTING);
        let sums = format!("{}1{} > 0", "sum(".repeat(33), ")".repeat(33));
        let e = parse_rule(&sums, &resolve).expect_err("too deep");
        assert_eq!(e.offset, 4 * 32 + 3);
    }

    #[test]
    fn operators_and_length_are_bounded() {
        let chain = |n: usize| format!("1{} > 0", " + 1".repeat(n));
        assert!(parse_rule(&chain(MAX_EXPR_OPERATORS), &resolve).is_ok());
        let e = parse_rule(&chain(MAX_EXPR_OPERATORS + 1), &resolve).expect_err("too many");
        assert_eq!(e.offset, 1 + 4 * MAX_EXPR_OPERATORS + 1);
        let long = format!("1{} > 0", " ".repeat(MAX_EXPR_CHARS));
        let e = parse_rule(&long, &resolve).expect_err("too long");
        assert_eq!(e.offset, 0);
        assert!(e.message.contains("at most 1000"), "{}", e.message);
    }
}
