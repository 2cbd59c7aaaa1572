//! Deserializing one entity from JSON with positions for every error, and recovery: after an
//! error the offending key or element is pruned and deserialization retried, so one bad field
//! does not hide the next.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

use crate::diag::{Diagnostic, did_you_mean};
use crate::load::Source;
use crate::yaml::push_pointer;

const MAX_ERRORS_PER_ENTITY: usize = 25;

#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Index(usize),
}

/// The result of deserializing an entity.
pub enum Outcome<T> {
    Clean(T),
    /// Only unknown keys were found (and reported); without them the value is intact, so its
    /// meaning can still be checked.
    UnknownKeysRemoved(T),
    Failed,
}

/// Deserializes `value` (located at `base` inside `entity`'s file); every error found is
/// pushed to `diags`.
pub fn deserialize<T: DeserializeOwned>(
    entity: &Source,
    base: &str,
    value: &Value,
    diags: &mut Vec<Diagnostic>,
) -> Outcome<T> {
    // The happy path borrows; only a value with errors is copied for pruning.
    if let Ok(v) = T::deserialize(value) {
        return Outcome::Clean(v);
    }
    let mut current = value.clone();
    // Original indices removed from each array (keyed by the array's original pointer).
    let mut removed: HashMap<String, Vec<usize>> = HashMap::new();
    let mut unknown_keys = false;
    let mut other_errors = false;
    for _ in 0..MAX_ERRORS_PER_ENTITY {
        let err = match serde_path_to_error::deserialize::<_, T>(&current) {
            Ok(_) if other_errors => return Outcome::Failed,
            Ok(v) if unknown_keys => return Outcome::UnknownKeysRemoved(v),
            Ok(v) => return Outcome::Clean(v),
            Err(e) => e,
        };
        let mut segs: Vec<Seg> = err
            .path()
            .iter()
            .filter_map(|s| match s {
                Segment::Seq { index } => Some(Seg::Index(*index)),
                Segment::Map { key } => Some(Seg::Key(key.clone())),
                Segment::Enum { .. } | Segment::Unknown => None,
            })
            .collect();
        let message = err.inner().to_string();
        let unknown_field = backticked(&message, "unknown field `");
        if let Some(field) = &unknown_field
            && !matches!(segs.last(), Some(Seg::Key(k)) if k == field)
        {
            segs.push(Seg::Key(field.clone()));
        }
        let original = to_original(&segs, &removed);
        let pointer = pointer_of(base, &original);
        diags.push(describe(
            entity,
            &pointer,
            &message,
            unknown_field.is_some(),
        ));
        // Prune what failed, then try again to find further errors: an unknown key is simply
        // dropped; anything else takes its whole enclosing list element with it, so that a
        // removed required field does not cascade into "missing key" errors.
        let cut = if unknown_field.is_some() {
            unknown_keys = true;
            segs.len()
        } else {
            other_errors = true;
            match segs.iter().rposition(|s| matches!(s, Seg::Index(_))) {
                Some(i) => i + 1,
                None => return Outcome::Failed,
            }
        };
        if !prune(&mut current, &segs[..cut], &original[..cut], &mut removed) {
            return Outcome::Failed;
        }
    }
    Outcome::Failed
}

fn describe(source: &Source, pointer: &str, message: &str, is_unknown_field: bool) -> Diagnostic {
    let spans = source.spans();
    let file = &source.path;
    if is_unknown_field {
        let field = backticked(message, "unknown field `").unwrap_or_default();
        let expected = expected_list(message);
        let hint = did_you_mean(&field, expected.iter().map(String::as_str)).or_else(|| {
            (!expected.is_empty()).then(|| format!("allowed keys here: {}", expected.join(", ")))
        });
        return Diagnostic::error(
            file,
            spans.locate_key(pointer),
            format!("unknown key `{field}`"),
        )
        .with_hint_opt(hint);
    }
    if let Some(variant) = backticked(message, "unknown variant `") {
        let expected = expected_list(message);
        let hint = did_you_mean(&variant, expected.iter().map(String::as_str))
            .unwrap_or_else(|| format!("expected one of: {}", expected.join(", ")));
        return Diagnostic::error(
            file,
            spans.locate(pointer),
            format!("unknown value `{variant}`"),
        )
        .with_hint(hint);
    }
    if let Some(field) = backticked(message, "missing field `") {
        return Diagnostic::error(
            file,
            spans.locate(pointer),
            format!("missing required key `{field}`"),
        )
        .with_hint(format!("add `{field}:` to this mapping"));
    }
    let friendly = message
        .replace("invalid type: ", "wrong type: found ")
        .replace("u64", "a non-negative integer")
        .replace("u32", "a non-negative integer")
        .replace("f64", "a number")
        .replace("a sequence", "a list")
        .replace("map", "mapping");
    Diagnostic::error(file, spans.locate(pointer), friendly)
}

/// The text between `prefix` and the next backtick.
fn backticked(message: &str, prefix: &str) -> Option<String> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    Some(rest[..rest.find('`')?].to_owned())
}

/// The names in "expected one of `a`, `b`".
fn expected_list(message: &str) -> Vec<String> {
    let Some(i) = message.find("expected") else {
        return Vec::new();
    };
    message[i..]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn pointer_of(base: &str, segs: &[Seg]) -> String {
    let mut p = base.to_owned();
    for s in segs {
        p = match s {
            Seg::Key(k) => push_pointer(&p, k),
            Seg::Index(i) => push_pointer(&p, &i.to_string()),
        };
    }
    p
}

/// Maps a path in the pruned value back to the original value's indices.
fn to_original(segs: &[Seg], removed: &HashMap<String, Vec<usize>>) -> Vec<Seg> {
    let mut out: Vec<Seg> = Vec::with_capacity(segs.len());
    for s in segs {
        match s {
            Seg::Index(c) => {
                let array_ptr = pointer_of("", &out);
                let mut orig = *c;
                if let Some(gone) = removed.get(&array_ptr) {
                    let mut sorted = gone.clone();
                    sorted.sort_unstable();
                    for r in sorted {
                        if r <= orig {
                            orig += 1;
                        }
                    }
                }
                out.push(Seg::Index(orig));
            }
            Seg::Key(k) => out.push(Seg::Key(k.clone())),
        }
    }
    out
}

/// Removes the value at `segs`, or, when that is the whole value, reports failure.
fn prune(
    value: &mut Value,
    segs: &[Seg],
    original: &[Seg],
    removed: &mut HashMap<String, Vec<usize>>,
) -> bool {
    let Some((last, parents)) = segs.split_last() else {
        return false;
    };
    let mut cur = value;
    for s in parents {
        cur = match (s, cur) {
            (Seg::Key(k), Value::Object(m)) => match m.get_mut(k) {
                Some(v) => v,
                None => return false,
            },
            (Seg::Index(i), Value::Array(a)) => match a.get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, cur) {
        (Seg::Key(k), Value::Object(m)) => m.shift_remove(k).is_some(),
        (Seg::Index(i), Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
            if let Some(Seg::Index(orig)) = original.last() {
                removed
                    .entry(pointer_of("", &original[..original.len() - 1]))
                    .or_default()
                    .push(*orig);
            }
            true
        }
        _ => false,
    }
}
