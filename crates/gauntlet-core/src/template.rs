//! `{{ path }}` templates, used for node inputs and scripted mock replies.
//!
//! A placeholder names a path in a JSON context (`input`, `output.queue`,
//! `nodes.triage.output`). Strings are inserted as they are, other values as JSON, and a
//! missing path as an empty string. `{{{{` writes a literal `{{`.

use serde_json::Value;

use crate::expr;

/// A template split into literal text and placeholder paths at parse time.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Path(String),
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message} (at offset {offset})")]
pub struct TemplateError {
    pub message: String,
    pub offset: usize,
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        let mut offset = 0;
        while let Some(i) = rest.find("{{") {
            if rest[i..].starts_with("{{{{") {
                text.push_str(&rest[..i]);
                text.push_str("{{");
                rest = &rest[i + 4..];
                offset += i + 4;
                continue;
            }
            text.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(j) = after.find("}}") else {
                return Err(TemplateError {
                    message: "`{{` without a closing `}}`".into(),
                    offset: offset + i,
                });
            };
            let path = after[..j].trim();
            if !valid_path(path) {
                return Err(TemplateError {
                    message: format!(
                        "`{path}` is not a path such as `input` or `nodes.triage.output`"
                    ),
                    offset: offset + i,
                });
            }
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Path(path.to_owned()));
            rest = &after[j + 2..];
            offset += i + 2 + j + 2;
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template {
            source: source.to_owned(),
            parts,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the template contains no placeholder.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// The first segment of every placeholder path.
    pub fn roots(&self) -> Vec<String> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Path(path) => path.split(['.', '[']).next().map(str::to_owned),
                Part::Text(_) => None,
            })
            .collect()
    }

    /// Renders to a JSON value: a template that is exactly one placeholder yields the value
    /// at its path as it is (an object stays an object); any other renders to a string.
    pub fn render_value(&self, ctx: &Value) -> Value {
        match self.parts.as_slice() {
            [Part::Path(p)] => expr::lookup(ctx, p).cloned().unwrap_or(Value::Null),
            _ => Value::String(self.render(ctx)),
        }
    }

    pub fn render(&self, ctx: &Value) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Path(p) => match expr::lookup(ctx, p) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(Value::Null) | None => {}
                    Some(other) => out.push_str(&other.to_string()),
                },
            }
        }
        out
    }
}

fn valid_path(path: &str) -> bool {
    path.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.[]'\"".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_paths_and_escapes() {
        let t = Template::parse("Queue: {{ output.queue }} for {{input}} {{{{x}}").unwrap();
        let ctx = json!({"input": "ticket 7", "output": {"queue": "billing"}});
        assert_eq!(t.render(&ctx), "Queue: billing for ticket 7 {{x}}");
        assert_eq!(t.roots(), vec!["output", "input"]);
        assert_eq!(
            Template::parse("{{ nodes.a.output }}")
                .unwrap()
                .render(&json!({})),
            ""
        );
        assert!(Template::parse("plain").unwrap().is_literal());
    }

    #[test]
    fn rejects_malformed_placeholders() {
        assert_eq!(Template::parse("a {{ input").unwrap_err().offset, 2);
        assert!(Template::parse("{{ }}").is_err());
        assert!(Template::parse("{{ 1 + 2 }}").is_err());
    }
}
