//! YAML to JSON with a position for every value and key.
//!
//! Built directly on `saphyr-parser` events so that every node keeps its line and column and
//! bad input always becomes an error value, never a panic. Follows the YAML 1.2 core schema
//! for plain scalars, supports anchors, aliases and `<<` merge keys, and bounds nesting depth
//! and alias expansion so a hostile file cannot exhaust memory.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};
use serde_json::{Map, Number, Value};

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    fn of(span: &Span) -> Pos {
        Pos {
            line: span.start.line() as u32,
            col: span.start.col() as u32 + 1,
        }
    }
}

/// Positions by JSON pointer (`/agents/triage/mock`): of each value, and of each mapping key.
#[derive(Clone, Debug, Default)]
pub struct SpanMap {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

impl SpanMap {
    pub fn value(&self, pointer: &str) -> Option<Pos> {
        self.values.get(pointer).copied()
    }

    pub fn key(&self, pointer: &str) -> Option<Pos> {
        self.keys.get(pointer).copied()
    }

    /// The position of the value at `pointer`, or of its nearest ancestor that has one.
    pub fn locate(&self, pointer: &str) -> Pos {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.values.get(p) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return Pos { line: 1, col: 1 },
            }
        }
    }

    /// The position of the key naming `pointer`, falling back to [`SpanMap::locate`].
    pub fn locate_key(&self, pointer: &str) -> Pos {
        self.key(pointer).unwrap_or_else(|| self.locate(pointer))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

pub struct Document {
    pub value: Value,
    pub spans: SpanMap,
}

const MAX_DEPTH: usize = 64;
const MAX_NODES: usize = 2_000_000;
/// What aliases may add to a document in all, in values and in bytes of text: a legitimate
/// file reuses a few blocks; a "billion laughs" file of a kilobyte would expand to gigabytes.
pub const MAX_ALIAS_NODES: usize = 100_000;
pub const MAX_ALIAS_BYTES: usize = 8 << 20;
/// Keys of one mapping: a suite's many cases are a list; no mapping of a specification needs
/// more, and a million-key mapping costs hundreds of megabytes.
pub const MAX_KEYS: usize = 10_000;

/// Appends one reference token to a JSON pointer, escaping `~` and `/`.
pub fn push_pointer(base: &str, token: &str) -> String {
    let mut s = String::with_capacity(base.len() + token.len() + 1);
    s.push_str(base);
    push_token(&mut s, token);
    s
}

fn push_token(s: &mut String, token: &str) {
    s.push('/');
    for c in token.chars() {
        match c {
            '~' => s.push_str("~0"),
            '/' => s.push_str("~1"),
            c => s.push(c),
        }
    }
}

/// Parses one YAML document with the position of every value and key. An empty document is
/// `null`.
pub fn parse(src: &str) -> Result<Document, YamlError> {
    parse_with(src, true, None)
}

/// Parses without recording positions: the fast path for files that turn out to be valid.
/// [`parse`] on the same text gives the same value, with positions.
pub fn parse_value(src: &str) -> Result<Value, YamlError> {
    parse_with(src, false, None).map(|d| d.value)
}

/// Receives each element of every `suites.NAME.cases` list as soon as it is parsed (suite name,
/// index, value) and returns what to keep in its place. Large suites are converted case by
/// case this way, so the whole document never exists as one JSON tree.
pub type CaseHook<'h> = &'h mut dyn FnMut(&str, usize, Value) -> Value;

/// [`parse_value`] with a [`CaseHook`].
pub fn parse_value_with_cases(src: &str, hook: CaseHook<'_>) -> Result<Value, YamlError> {
    parse_with(src, false, Some(hook)).map(|d| d.value)
}

fn parse_with(src: &str, record: bool, hook: Option<CaseHook<'_>>) -> Result<Document, YamlError> {
    let mut b = Builder {
        parser: Parser::new_from_str(src),
        anchors: HashMap::new(),
        spans: SpanMap::default(),
        nodes: 0,
        expanded: (0, 0),
        record,
        keys: Vec::new(),
        hook,
    };
    let mut value = Value::Null;
    let mut documents = 0;
    loop {
        let (event, span) = b.next()?;
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError {
                        pos: Pos::of(&span),
                        message: "a file may hold one YAML document; split the others (after `---`) into their own files".into(),
                    });
                }
                let (event, span) = b.next()?;
                value = b.node(event, span, &mut String::new(), 0)?;
            }
            other => {
                return Err(YamlError {
                    pos: Pos::of(&span),
                    message: format!("unexpected YAML event {other:?}"),
                });
            }
        }
    }
    Ok(Document {
        value,
        spans: b.spans,
    })
}

struct Builder<'a, 'h> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Value>,
    spans: SpanMap,
    nodes: usize,
    /// Values and bytes added by aliases so far.
    expanded: (usize, usize),
    record: bool,
    /// Mapping keys on the path from the root, for the first three levels.
    keys: Vec<String>,
    hook: Option<CaseHook<'h>>,
}

fn scan_error(e: ScanError) -> YamlError {
    let m = e.marker();
    YamlError {
        pos: Pos {
            line: m.line() as u32,
            col: m.col() as u32 + 1,
        },
        message: e.info().to_owned(),
    }
}

impl<'a> Builder<'a, '_> {
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok(pair)) => Ok(pair),
            Some(Err(e)) => Err(scan_error(e)),
            None => Err(YamlError {
                pos: Pos::default(),
                message: "unexpected end of input".into(),
            }),
        }
    }

    fn count(&mut self, n: usize, span: &Span) -> Result<(), YamlError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                pos: Pos::of(span),
                message: format!(
                    "document expands to more than {MAX_NODES} values (aliases nested too deeply?)"
                ),
            });
        }
        Ok(())
    }

    /// Counts what an alias adds against the expansion budget.
    fn expand(&mut self, v: &Value, span: &Span) -> Result<(), YamlError> {
        self.expanded.0 += size_of(v);
        self.expanded.1 += bytes_of(v);
        if self.expanded.0 > MAX_ALIAS_NODES || self.expanded.1 > MAX_ALIAS_BYTES {
            return Err(YamlError {
                pos: Pos::of(span),
                message: format!(
                    "aliases expand to more than {MAX_ALIAS_NODES} values or {} MiB of text in all (an alias bomb?); repeat the content instead of aliasing it",
                    MAX_ALIAS_BYTES >> 20
                ),
            });
        }
        Ok(())
    }

    /// Builds the value of `event`; `ptr` is the JSON pointer of the value, extended and
    /// truncated in place as children are visited (one buffer for the whole document).
    fn node(
        &mut self,
        event: Event<'a>,
        span: Span,
        ptr: &mut String,
        depth: usize,
    ) -> Result<Value, YamlError> {
        if depth > MAX_DEPTH {
            return Err(YamlError {
                pos: Pos::of(&span),
                message: format!("nesting deeper than {MAX_DEPTH} levels"),
            });
        }
        self.count(1, &span)?;
        let mut pos = Pos::of(&span);
        let (value, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                // Quoted scalars are located at their first character inside the quotes, so
                // that offsets into the text (expression errors) add up to the right column.
                if matches!(style, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted) {
                    pos.col += 1;
                }
                let force_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                (resolve_scalar(&text, style, force_str), anchor)
            }
            Event::Alias(id) => {
                let Some(v) = self.anchors.get(&id).cloned() else {
                    return Err(YamlError {
                        pos,
                        message: "alias to an unknown anchor".into(),
                    });
                };
                self.expand(&v, &span)?;
                self.count(size_of(&v), &span)?;
                (v, 0)
            }
            Event::SequenceStart(anchor, _) => {
                let cases_of = (depth == 3
                    && self.keys.len() == 3
                    && self.keys[0] == "suites"
                    && self.keys[2] == "cases")
                    .then(|| self.keys[1].clone());
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    let len = ptr.len();
                    if self.record {
                        push_token(ptr, &items.len().to_string());
                    }
                    let item = self.node(event, span, ptr, depth + 1);
                    ptr.truncate(len);
                    let item = item?;
                    let item = match (&cases_of, self.hook.as_mut()) {
                        (Some(suite), Some(hook)) => hook(suite, items.len(), item),
                        _ => item,
                    };
                    items.push(item);
                }
                (Value::Array(items), anchor)
            }
            Event::MappingStart(anchor, _) => (self.mapping(ptr, depth)?, anchor),
            other => {
                return Err(YamlError {
                    pos,
                    message: format!("unexpected YAML event {other:?}"),
                });
            }
        };
        if self.record {
            self.spans.values.insert(ptr.clone(), pos);
        }
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        Ok(value)
    }

    fn mapping(&mut self, ptr: &mut String, depth: usize) -> Result<Value, YamlError> {
        let mut map = Map::new();
        let mut merged: Vec<Map<String, Value>> = Vec::new();
        loop {
            let (event, span) = self.next()?;
            let key_pos = Pos::of(&span);
            let key = match event {
                Event::MappingEnd => break,
                Event::Scalar(text, style, _, _) => {
                    if style == ScalarStyle::Plain && text == "<<" {
                        let (event, span) = self.next()?;
                        let len = ptr.len();
                        if self.record {
                            push_token(ptr, "<<");
                        }
                        let value = self.node(event, span, ptr, depth + 1);
                        ptr.truncate(len);
                        let value = value?;
                        match value {
                            Value::Object(m) => merged.push(m),
                            Value::Array(items) => {
                                for item in items {
                                    match item {
                                        Value::Object(m) => merged.push(m),
                                        _ => {
                                            return Err(YamlError {
                                                pos: key_pos,
                                                message: "`<<` merges mappings only".into(),
                                            });
                                        }
                                    }
                                }
                            }
                            _ => {
                                return Err(YamlError {
                                    pos: key_pos,
                                    message: "`<<` merges mappings only".into(),
                                });
                            }
                        }
                        continue;
                    }
                    match resolve_scalar(&text, style, false) {
                        Value::String(s) => s,
                        Value::Null => "null".to_owned(),
                        other => other.to_string(),
                    }
                }
                Event::Alias(id) => match self.anchors.get(&id) {
                    Some(Value::String(s)) => s.clone(),
                    _ => {
                        return Err(YamlError {
                            pos: key_pos,
                            message: "mapping keys must be plain strings".into(),
                        });
                    }
                },
                _ => {
                    return Err(YamlError {
                        pos: key_pos,
                        message: "mapping keys must be plain strings, not lists or mappings".into(),
                    });
                }
            };
            if map.len() >= MAX_KEYS {
                return Err(YamlError {
                    pos: key_pos,
                    message: format!("a mapping has more than {MAX_KEYS} keys"),
                });
            }
            if map.contains_key(&key) {
                return Err(YamlError {
                    pos: key_pos,
                    message: format!("duplicate key `{key}` in this mapping"),
                });
            }
            let len = ptr.len();
            if self.record {
                push_token(ptr, &key);
                self.spans.keys.insert(ptr.clone(), key_pos);
            }
            let tracked = depth < 3 && self.keys.len() == depth;
            if tracked {
                self.keys.push(key.clone());
            }
            let (event, span) = self.next()?;
            let value = self.node(event, span, ptr, depth + 1);
            if tracked {
                self.keys.pop();
            }
            ptr.truncate(len);
            map.insert(key, value?);
        }
        // Explicit keys win over merged ones; earlier merge sources win over later ones.
        for source in merged {
            for (k, v) in source {
                map.entry(k).or_insert(v);
            }
        }
        Ok(Value::Object(map))
    }
}

/// Bytes of text in a value (strings and keys; other scalars count 8).
fn bytes_of(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Array(a) => 8 + a.iter().map(bytes_of).sum::<usize>(),
        Value::Object(m) => 8 + m.iter().map(|(k, x)| k.len() + bytes_of(x)).sum::<usize>(),
        _ => 8,
    }
}

fn size_of(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(size_of).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(size_of).sum::<usize>(),
        _ => 1,
    }
}

/// YAML 1.2 core schema resolution for plain scalars; quoted and block scalars are strings.
fn resolve_scalar(text: &str, style: ScalarStyle, force_str: bool) -> Value {
    if force_str || style != ScalarStyle::Plain {
        return Value::String(text.to_owned());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = text.parse::<i64>()
    {
        return Value::Number(i.into());
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Value::Number(i.into());
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Value::Number(i.into());
    }
    if looks_like_float(text)
        && let Ok(f) = text.parse::<f64>()
        && let Some(n) = Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

fn looks_like_float(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mantissa_ok = {
        let mut parts = mantissa.splitn(2, '.');
        let int = parts.next().unwrap_or("");
        let frac = parts.next();
        int.bytes().all(|b| b.is_ascii_digit())
            && frac.is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit()))
            && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()))
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_values_with_positions() {
        let doc = parse("a: 1\nb:\n  - x\n  - 'y'\n  - 2.5\nc: ~\nd: yes\n").unwrap();
        assert_eq!(
            doc.value,
            json!({"a": 1, "b": ["x", "y", 2.5], "c": null, "d": "yes"})
        );
        // Quoted scalars are located at their first character inside the quotes.
        assert_eq!(doc.spans.value("/b/1"), Some(Pos { line: 4, col: 6 }));
        assert_eq!(doc.spans.value("/b/0"), Some(Pos { line: 3, col: 5 }));
        assert_eq!(doc.spans.key("/b"), Some(Pos { line: 2, col: 1 }));
        assert_eq!(doc.spans.locate("/b/1/zzz"), Pos { line: 4, col: 6 });
    }

    #[test]
    fn supports_anchors_and_merge_keys() {
        let doc = parse("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n").unwrap();
        assert_eq!(doc.value["other"], json!({"x": 1, "y": 3}));
    }

    #[test]
    fn rejects_duplicates_and_bombs() {
        let e = parse("a: 1\na: 2\n").err().unwrap();
        assert_eq!(e.pos, Pos { line: 2, col: 1 });
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            bomb.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        assert!(parse(&bomb).err().unwrap().message.contains("expand"));
        // A kilobyte of long strings aliased: refused by the size of what it expands to.
        let mut wide = format!("a0: &a0 \"{}\"\n", "x".repeat(900));
        for i in 1..6 {
            let p = i - 1;
            wide.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let e = parse(&wide).err().unwrap();
        assert!(e.message.contains("alias bomb"), "{e:?}");
        assert_eq!(e.pos.line, 5, "{e:?}");
        let keys: String = (0..=MAX_KEYS).map(|i| format!("k{i}: 1\n")).collect();
        assert!(
            parse(&keys)
                .err()
                .unwrap()
                .message
                .contains("more than 10000 keys")
        );
        assert!(parse("a: [1, 2").is_err());
        assert!(
            parse("---\na: 1\n---\nb: 2\n")
                .err()
                .unwrap()
                .message
                .contains("one YAML document")
        );
    }

    #[test]
    fn hands_cases_to_the_hook_as_they_are_parsed() {
        let mut seen = Vec::new();
        let mut hook = |suite: &str, i: usize, v: Value| {
            seen.push((suite.to_owned(), i, v));
            Value::Null
        };
        let v = parse_value_with_cases(
            "suites:\n  a:\n    cases: [{input: x}, {input: y}]\n    other: [1]\n",
            &mut hook,
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"suites": {"a": {"cases": [null, null], "other": [1]}}})
        );
        assert_eq!(
            seen,
            vec![
                ("a".to_owned(), 0, json!({"input": "x"})),
                ("a".to_owned(), 1, json!({"input": "y"}))
            ]
        );
    }

    #[test]
    fn resolves_scalars_like_yaml_1_2() {
        let doc = parse("[1, -2, 0x1f, 1e3, .5, '1', abc, 1.2.3, true, 'true', !!str 5]").unwrap();
        assert_eq!(
            doc.value,
            json!([
                1, -2, 31, 1000.0, 0.5, "1", "abc", "1.2.3", true, "true", "5"
            ])
        );
    }
}
