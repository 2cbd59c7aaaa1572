//! A small JSONPath subset: `$`, `.key`, `['key']`, `[index]` (negative from the end), `[*]`
//! and `.*`, and `..key` (recursive descent).

use serde_json::Value;

#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(i64),
    Wildcard,
    Descend(String),
}

fn parse(path: &str) -> Result<Vec<Step>, String> {
    let rest = path.strip_prefix('$').ok_or("paths start with `$`")?;
    let b = rest.as_bytes();
    let mut i = 0;
    let mut steps = Vec::new();
    let ident_end = |from: usize| {
        let mut j = from;
        while j < b.len() && b[j] != b'.' && b[j] != b'[' {
            j += 1;
        }
        j
    };
    while i < b.len() {
        if rest[i..].starts_with("..") {
            let end = ident_end(i + 2);
            if end == i + 2 {
                return Err("expected a key after `..`".into());
            }
            steps.push(Step::Descend(rest[i + 2..end].to_owned()));
            i = end;
        } else if b[i] == b'.' {
            let end = ident_end(i + 1);
            match &rest[i + 1..end] {
                "" => return Err("expected a key after `.`".into()),
                "*" => steps.push(Step::Wildcard),
                k => steps.push(Step::Key(k.to_owned())),
            }
            i = end;
        } else if b[i] == b'[' {
            let close = rest[i..].find(']').ok_or("unclosed `[`")? + i;
            let inner = rest[i + 1..close].trim();
            if inner == "*" {
                steps.push(Step::Wildcard);
            } else if (inner.starts_with('\'') && inner.ends_with('\'')
                || inner.starts_with('"') && inner.ends_with('"'))
                && inner.len() >= 2
            {
                steps.push(Step::Key(inner[1..inner.len() - 1].to_owned()));
            } else {
                steps.push(Step::Index(inner.parse().map_err(|_| {
                    format!("`[{inner}]` is not an index, `*` or a quoted key")
                })?));
            }
            i = close + 1;
        } else {
            return Err(format!("unexpected `{}`", &rest[i..i + 1]));
        }
    }
    Ok(steps)
}

fn descend<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            if let Some(x) = m.get(key) {
                out.push(x);
            }
            for child in m.values() {
                descend(child, key, out);
            }
        }
        Value::Array(a) => {
            for child in a {
                descend(child, key, out);
            }
        }
        _ => {}
    }
}

/// Every value `path` selects in `doc`.
pub fn select<'a>(doc: &'a Value, path: &str) -> Result<Vec<&'a Value>, String> {
    let mut current = vec![doc];
    for step in parse(path)? {
        let mut next = Vec::new();
        for v in current {
            match (&step, v) {
                (Step::Key(k), Value::Object(m)) => next.extend(m.get(k)),
                (Step::Index(i), Value::Array(a)) => {
                    let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                    if idx >= 0 {
                        next.extend(a.get(idx as usize));
                    }
                }
                (Step::Wildcard, Value::Array(a)) => next.extend(a.iter()),
                (Step::Wildcard, Value::Object(m)) => next.extend(m.values()),
                (Step::Descend(k), v) => descend(v, k, &mut next),
                _ => {}
            }
        }
        current = next;
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects() {
        let doc = json!({"a": {"b": [1, 2, {"c": "x"}]}, "d e": 5});
        assert_eq!(select(&doc, "$.a.b[0]").unwrap(), vec![&json!(1)]);
        assert_eq!(select(&doc, "$.a.b[-1].c").unwrap(), vec![&json!("x")]);
        assert_eq!(select(&doc, "$['d e']").unwrap(), vec![&json!(5)]);
        assert_eq!(select(&doc, "$.a.b[*]").unwrap().len(), 3);
        assert_eq!(select(&doc, "$..c").unwrap(), vec![&json!("x")]);
        assert!(select(&doc, "$.zz").unwrap().is_empty());
        assert!(select(&doc, "a.b").is_err());
        assert!(select(&doc, "$[x]").is_err());
    }
}
