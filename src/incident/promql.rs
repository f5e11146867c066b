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
use crate::outcome::alerts::{Cmp, Expr, Metric, Op, RangeFn};

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
