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
        Pos { line: span.start.line() as u32, col: span.start.col() as u32 + 1 }
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

/// Appends one reference token to a JSON pointer, escaping `~` and `/`.
pub fn push_pointer(base: &str, token: &str) -> String {
    let mut s = String::with_capacity(base.len() + token.len() + 1);
    s.push_str(base);
    s.push('/');
    for c in token.chars() {
        match c {
            '~' => s.push_str("~0"),
            '/' => s.push_str("~1"),
            c => s.push(c),
        }
    }
    s
}

/// Parses one YAML document. An empty document is `null`.
pub fn parse(src: &str) -> Result<Document, YamlError> {
    let mut b = Builder { parser: Parser::new_from_str(src), anchors: HashMap::new(), spans: SpanMap::default(), nodes: 0 };
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
                value = b.node(event, span, String::new(), 0)?;
            }
            other => {
                return Err(YamlError { pos: Pos::of(&span), message: format!("unexpected YAML event {other:?}") });
            }
        }
    }
    Ok(Document { value, spans: b.spans })
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Value>,
    spans: SpanMap,
    nodes: usize,
}

fn scan_error(e: ScanError) -> YamlError {
    let m = e.marker();
    YamlError { pos: Pos { line: m.line() as u32, col: m.col() as u32 + 1 }, message: e.info().to_owned() }
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok(pair)) => Ok(pair),
            Some(Err(e)) => Err(scan_error(e)),
            None => Err(YamlError { pos: Pos::default(), message: "unexpected end of input".into() }),
        }
    }

    fn count(&mut self, n: usize, span: &Span) -> Result<(), YamlError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                pos: Pos::of(span),
                message: format!("document expands to more than {MAX_NODES} values (aliases nested too deeply?)"),
            });
        }
        Ok(())
    }

    fn node(&mut self, event: Event<'a>, span: Span, ptr: String, depth: usize) -> Result<Value, YamlError> {
        if depth > MAX_DEPTH {
            return Err(YamlError { pos: Pos::of(&span), message: format!("nesting deeper than {MAX_DEPTH} levels") });
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
                    return Err(YamlError { pos, message: "alias to an unknown anchor".into() });
                };
                self.count(size_of(&v), &span)?;
                (v, 0)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    let child = push_pointer(&ptr, &items.len().to_string());
                    items.push(self.node(event, span, child, depth + 1)?);
                }
                (Value::Array(items), anchor)
            }
            Event::MappingStart(anchor, _) => (self.mapping(&ptr, depth)?, anchor),
            other => return Err(YamlError { pos, message: format!("unexpected YAML event {other:?}") }),
        };
        self.spans.values.insert(ptr, pos);
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        Ok(value)
    }

    fn mapping(&mut self, ptr: &str, depth: usize) -> Result<Value, YamlError> {
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
                        let value = self.node(event, span, push_pointer(ptr, "<<"), depth + 1)?;
                        match value {
                            Value::Object(m) => merged.push(m),
                            Value::Array(items) => {
                                for item in items {
                                    match item {
                                        Value::Object(m) => merged.push(m),
                                        _ => return Err(YamlError { pos: key_pos, message: "`<<` merges mappings only".into() }),
                                    }
                                }
                            }
                            _ => return Err(YamlError { pos: key_pos, message: "`<<` merges mappings only".into() }),
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
                    _ => return Err(YamlError { pos: key_pos, message: "mapping keys must be plain strings".into() }),
                },
                _ => return Err(YamlError { pos: key_pos, message: "mapping keys must be plain strings, not lists or mappings".into() }),
            };
            let child = push_pointer(ptr, &key);
            if map.contains_key(&key) {
                return Err(YamlError { pos: key_pos, message: format!("duplicate key `{key}` in this mapping") });
            }
            self.spans.keys.insert(child.clone(), key_pos);
            let (event, span) = self.next()?;
            let value = self.node(event, span, child, depth + 1)?;
            map.insert(key, value);
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
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Number(i.into());
        }
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Number(i.into());
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Number(i.into());
        }
    }
    if looks_like_float(text) {
        if let Ok(f) = text.parse::<f64>() {
            if let Some(n) = Number::from_f64(f) {
                return Value::Number(n);
            }
        }
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
        assert_eq!(doc.value, json!({"a": 1, "b": ["x", "y", 2.5], "c": null, "d": "yes"}));
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
        assert!(parse(&bomb).err().unwrap().message.contains("expands"));
        assert!(parse("a: [1, 2").is_err());
        assert!(parse("---\na: 1\n---\nb: 2\n").err().unwrap().message.contains("one YAML document"));
    }

    #[test]
    fn resolves_scalars_like_yaml_1_2() {
        let doc = parse("[1, -2, 0x1f, 1e3, .5, '1', abc, 1.2.3, true, 'true', !!str 5]").unwrap();
        assert_eq!(doc.value, json!([1, -2, 31, 1000.0, 0.5, "1", "abc", "1.2.3", true, "true", "5"]));
    }
}
