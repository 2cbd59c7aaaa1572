//! Conditions on graph edges: a small, total expression language.
//!
//! ```text
//! output.queue == "billing" && !(input contains "urgent")
//! output.score >= 0.5 || nodes.triage.output matches "^refund"
//! ```
//!
//! Values are JSON. Paths read from a context object (`input`, `output`, `nodes`, `vars`); a
//! missing path is `null`, never an error, so evaluation cannot fail once parsing succeeded.

use std::fmt;

use regex::Regex;
use serde_json::Value;

/// A parsed expression. Keeps its source so it can be printed and hashed.
#[derive(Clone, Debug)]
pub struct Expr {
    source: String,
    root: Node,
}

#[derive(Clone, Debug)]
enum Node {
    Literal(Value),
    Path(Vec<Segment>),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Compare(Box<Node>, CmpOp, Box<Node>),
    Matches(Box<Node>, Regex),
}

#[derive(Clone, Debug)]
enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    StartsWith,
    EndsWith,
}

/// A parse error with the byte offset into the expression where it was found.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message} (at offset {offset})")]
pub struct ExprError {
    pub message: String,
    pub offset: usize,
}

impl Expr {
    pub fn parse(source: &str) -> Result<Expr, ExprError> {
        let tokens = lex(source)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            end: source.len(),
        };
        let root = p.or()?;
        if let Some((tok, offset)) = p.tokens.get(p.pos) {
            return Err(ExprError {
                message: format!("unexpected {tok} after the end of the expression"),
                offset: *offset,
            });
        }
        Ok(Expr {
            source: source.to_owned(),
            root,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The first path segment of every path the expression reads (`output`, `input`, …).
    pub fn roots(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_roots(&self.root, &mut out);
        out
    }

    /// Evaluates to a boolean using JSON truthiness.
    pub fn eval_bool(&self, ctx: &Value) -> bool {
        truthy(&eval(&self.root, ctx))
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn collect_roots(node: &Node, out: &mut Vec<String>) {
    match node {
        Node::Literal(_) => {}
        Node::Path(segs) => {
            if let Some(Segment::Key(k)) = segs.first()
                && !out.contains(k)
            {
                out.push(k.clone());
            }
        }
        Node::Not(a) | Node::Matches(a, _) => collect_roots(a, out),
        Node::And(a, b) | Node::Or(a, b) | Node::Compare(a, _, b) => {
            collect_roots(a, out);
            collect_roots(b, out);
        }
    }
}

/// Looks up a dotted path (`output.queue`, `items[0].name`) in a JSON value.
pub fn lookup<'a>(ctx: &'a Value, path: &str) -> Option<&'a Value> {
    let segs = parse_path_str(path)?;
    lookup_segments(ctx, &segs)
}

fn parse_path_str(path: &str) -> Option<Vec<Segment>> {
    let tokens = lex(path).ok()?;
    let mut p = Parser {
        tokens,
        pos: 0,
        end: path.len(),
    };
    match p.primary().ok()? {
        Node::Path(segs) if p.pos == p.tokens.len() => Some(segs),
        _ => None,
    }
}

fn lookup_segments<'a>(ctx: &'a Value, segs: &[Segment]) -> Option<&'a Value> {
    let mut cur = ctx;
    for seg in segs {
        cur = match (seg, cur) {
            (Segment::Key(k), Value::Object(m)) => m.get(k)?,
            (Segment::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn eval(node: &Node, ctx: &Value) -> Value {
    match node {
        Node::Literal(v) => v.clone(),
        Node::Path(segs) => lookup_segments(ctx, segs).cloned().unwrap_or(Value::Null),
        Node::Not(a) => Value::Bool(!truthy(&eval(a, ctx))),
        Node::And(a, b) => Value::Bool(truthy(&eval(a, ctx)) && truthy(&eval(b, ctx))),
        Node::Or(a, b) => Value::Bool(truthy(&eval(a, ctx)) || truthy(&eval(b, ctx))),
        Node::Matches(a, re) => Value::Bool(re.is_match(&as_text(&eval(a, ctx)))),
        Node::Compare(a, op, b) => {
            let (l, r) = (eval(a, ctx), eval(b, ctx));
            Value::Bool(compare(&l, *op, &r))
        }
    }
}

/// JSON truthiness: `null`, `false`, `0`, `""`, `[]` and `{}` are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn equal(l: &Value, r: &Value) -> bool {
    match (l, r) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        // A number compared with its text form is equal: model outputs are often strings.
        (Value::Number(a), Value::String(s)) | (Value::String(s), Value::Number(a)) => {
            s.trim().parse::<f64>().ok() == a.as_f64()
        }
        _ => l == r,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn compare(l: &Value, op: CmpOp, r: &Value) -> bool {
    match op {
        CmpOp::Eq => equal(l, r),
        CmpOp::Ne => !equal(l, r),
        CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
            let ord = match (number(l), number(r)) {
                (Some(a), Some(b)) => a.partial_cmp(&b),
                _ => match (l, r) {
                    (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                    _ => None,
                },
            };
            let Some(ord) = ord else { return false };
            match op {
                CmpOp::Lt => ord.is_lt(),
                CmpOp::Le => ord.is_le(),
                CmpOp::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            }
        }
        CmpOp::Contains => match l {
            Value::Array(items) => items.iter().any(|i| equal(i, r)),
            Value::Object(m) => m.contains_key(&as_text(r)),
            other => as_text(other).contains(&as_text(r)),
        },
        CmpOp::StartsWith => as_text(l).starts_with(&as_text(r)),
        CmpOp::EndsWith => as_text(l).ends_with(&as_text(r)),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Op(&'static str),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Str(s) => write!(f, "string {s:?}"),
            Tok::Num(n) => write!(f, "number {n}"),
            Tok::Op(o) => write!(f, "`{o}`"),
        }
    }
}

const OPS: [&str; 16] = [
    "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")", "[", "]", ".", "=", "-",
];

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ExprError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c == b'"' || c == b'\'' {
            let quote = c;
            let mut s = String::new();
            i += 1;
            loop {
                let Some(ch) = src[i..].chars().next() else {
                    return Err(ExprError {
                        message: "unterminated string".into(),
                        offset: start,
                    });
                };
                i += ch.len_utf8();
                if ch as u32 == quote as u32 {
                    break;
                }
                if ch == '\\' {
                    let Some(esc) = src[i..].chars().next() else {
                        return Err(ExprError {
                            message: "unterminated string".into(),
                            offset: start,
                        });
                    };
                    i += esc.len_utf8();
                    s.push(match esc {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                } else {
                    s.push(ch);
                }
            }
            out.push((Tok::Str(s), start));
        } else if c.is_ascii_digit() {
            while i < bytes.len()
                && (bytes[i].is_ascii_digit()
                    || bytes[i] == b'.'
                    || bytes[i] == b'e'
                    || bytes[i] == b'E')
            {
                // A dot followed by a non-digit ends the number (`items[0].name`).
                if bytes[i] == b'.' && !bytes.get(i + 1).is_some_and(|b| b.is_ascii_digit()) {
                    break;
                }
                i += 1;
            }
            let text = &src[start..i];
            let n: f64 = text.parse().map_err(|_| ExprError {
                message: format!("invalid number `{text}`"),
                offset: start,
            })?;
            out.push((Tok::Num(n), start));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'-')
            {
                i += 1;
            }
            out.push((Tok::Ident(src[start..i].to_owned()), start));
        } else {
            let Some(op) = OPS.iter().find(|op| src[i..].starts_with(**op)) else {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(ExprError {
                    message: format!("unexpected character `{ch}`"),
                    offset: start,
                });
            };
            if *op == "=" {
                return Err(ExprError {
                    message: "`=` is not an operator; use `==` to compare".into(),
                    offset: start,
                });
            }
            i += op.len();
            out.push((Tok::Op(op), start));
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |(_, o)| *o)
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, ExprError> {
        Err(ExprError {
            message: message.into(),
            offset: self.offset(),
        })
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if self.peek() == Some(&Tok::Op(leak_op(op))) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(w)) if w == word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Node, ExprError> {
        let mut left = self.and()?;
        while self.eat_op("||") || self.eat_word("or") {
            let right = self.and()?;
            left = Node::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, ExprError> {
        let mut left = self.not()?;
        while self.eat_op("&&") || self.eat_word("and") {
            let right = self.not()?;
            left = Node::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Node, ExprError> {
        if self.eat_op("!") || self.eat_word("not") {
            return Ok(Node::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Node, ExprError> {
        let left = self.primary()?;
        let op = match self.peek() {
            Some(Tok::Op("==")) => CmpOp::Eq,
            Some(Tok::Op("!=")) => CmpOp::Ne,
            Some(Tok::Op("<")) => CmpOp::Lt,
            Some(Tok::Op("<=")) => CmpOp::Le,
            Some(Tok::Op(">")) => CmpOp::Gt,
            Some(Tok::Op(">=")) => CmpOp::Ge,
            Some(Tok::Ident(w)) if w == "contains" => CmpOp::Contains,
            Some(Tok::Ident(w)) if w == "startswith" || w == "starts_with" => CmpOp::StartsWith,
            Some(Tok::Ident(w)) if w == "endswith" || w == "ends_with" => CmpOp::EndsWith,
            Some(Tok::Ident(w)) if w == "matches" => {
                self.pos += 1;
                let at = self.offset();
                let Some(Tok::Str(pattern)) = self.peek().cloned() else {
                    return self.err("`matches` takes a quoted regular expression");
                };
                self.pos += 1;
                let re = Regex::new(&pattern).map_err(|e| ExprError {
                    message: format!("invalid regular expression: {e}"),
                    offset: at,
                })?;
                return Ok(Node::Matches(Box::new(left), re));
            }
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.primary()?;
        Ok(Node::Compare(Box::new(left), op, Box::new(right)))
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        let Some(tok) = self.peek().cloned() else {
            return self.err("expected a value, found the end of the expression");
        };
        self.pos += 1;
        match tok {
            Tok::Str(s) => Ok(Node::Literal(Value::String(s))),
            Tok::Num(n) => Ok(Node::Literal(num(n))),
            Tok::Op("-") => match self.peek().cloned() {
                Some(Tok::Num(n)) => {
                    self.pos += 1;
                    Ok(Node::Literal(num(-n)))
                }
                _ => self.err("expected a number after `-`"),
            },
            Tok::Op("(") => {
                let inner = self.or()?;
                if !self.eat_op(")") {
                    return self.err("expected `)`");
                }
                Ok(inner)
            }
            Tok::Ident(w) => match w.as_str() {
                "true" => Ok(Node::Literal(Value::Bool(true))),
                "false" => Ok(Node::Literal(Value::Bool(false))),
                "null" => Ok(Node::Literal(Value::Null)),
                _ => self.path(w),
            },
            other => {
                self.pos -= 1;
                self.err(format!("expected a value, found {other}"))
            }
        }
    }

    fn path(&mut self, first: String) -> Result<Node, ExprError> {
        let mut segs = vec![Segment::Key(first)];
        loop {
            if self.eat_op(".") {
                match self.peek().cloned() {
                    Some(Tok::Ident(k)) => {
                        self.pos += 1;
                        segs.push(Segment::Key(k));
                    }
                    _ => return self.err("expected a field name after `.`"),
                }
            } else if self.eat_op("[") {
                match self.peek().cloned() {
                    Some(Tok::Num(n)) if n >= 0.0 && n.fract() == 0.0 => {
                        segs.push(Segment::Index(n as usize))
                    }
                    Some(Tok::Str(k)) => segs.push(Segment::Key(k)),
                    _ => return self.err("expected an index or a quoted key inside `[]`"),
                }
                self.pos += 1;
                if !self.eat_op("]") {
                    return self.err("expected `]`");
                }
            } else {
                return Ok(Node::Path(segs));
            }
        }
    }
}

fn leak_op(op: &str) -> &'static str {
    OPS.iter().find(|o| **o == op).copied().unwrap_or("")
}

fn num(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(src: &str, ctx: Value, expected: bool) {
        let e = Expr::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(e.eval_bool(&ctx), expected, "{src}");
    }

    #[test]
    fn evaluates_the_operators() {
        let ctx = json!({"output": {"queue": "billing", "score": 0.7, "tags": ["a", "b"]}, "input": "Refund please"});
        check(r#"output.queue == "billing""#, ctx.clone(), true);
        check(r#"output.queue != 'billing'"#, ctx.clone(), false);
        check("output.score >= 0.5 && output.score < 1", ctx.clone(), true);
        check(
            r#"input contains "Refund" and not (input contains "urgent")"#,
            ctx.clone(),
            true,
        );
        check(r#"output.tags contains "b""#, ctx.clone(), true);
        check(r#"input matches "(?i)^refund""#, ctx.clone(), true);
        check("output.missing.deeper == null", ctx.clone(), true);
        check("output.tags[1] == 'b' || false", ctx.clone(), true);
        check(r#"input startswith "Ref""#, ctx.clone(), true);
        check("-1 < 0", ctx, true);
    }

    #[test]
    fn reports_errors_with_offsets() {
        let e = Expr::parse("output.queue = 'x'").unwrap_err();
        assert_eq!(e.offset, 13);
        assert!(e.message.contains("=="));
        assert_eq!(Expr::parse("(a").unwrap_err().message, "expected `)`");
        assert_eq!(Expr::parse("a ==").unwrap_err().offset, 4);
        assert!(
            Expr::parse("a matches '('")
                .unwrap_err()
                .message
                .contains("regular expression")
        );
        assert!(Expr::parse("'abc").is_err());
        assert!(
            Expr::parse("a b")
                .unwrap_err()
                .message
                .contains("unexpected")
        );
    }

    #[test]
    fn lists_roots() {
        let e = Expr::parse("output.a == input && nodes.x.output").unwrap();
        assert_eq!(e.roots(), vec!["output", "input", "nodes"]);
        assert_eq!(lookup(&json!({"a": [{"b": 2}]}), "a[0].b"), Some(&json!(2)));
    }
}
