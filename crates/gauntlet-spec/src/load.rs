//! Reading a project from disk: one file or a directory, `include:` lists, interpolation, and
//! the split into named entities (`agents.triage`, `suites.smoke`, …) that validation checks
//! one by one so that every error is reported, not only the first.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::diag::{Diagnostic, did_you_mean};
use crate::interp::{self, Vars};
use crate::raw::SECTIONS;
use crate::yaml::{self, Pos, SpanMap, push_pointer};

/// Files larger than this are refused rather than read into memory.
const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// One loaded file: its path (as given or found) and the positions of its values.
#[derive(Debug)]
pub struct Source {
    pub path: PathBuf,
    pub spans: SpanMap,
    /// Credential fields that were interpolated: pointer → the text as written, which is what
    /// snapshots and messages show instead of the value.
    pub credentials: HashMap<String, String>,
}

/// A named definition in a section, with where it came from.
#[derive(Debug)]
pub struct Entity {
    pub section: &'static str,
    pub name: String,
    pub value: Value,
    pub source: Arc<Source>,
    /// JSON pointer of the entity in its file, e.g. `/agents/triage`.
    pub pointer: String,
}

impl Entity {
    pub fn pos(&self, pointer: &str) -> Pos {
        self.source.spans.locate(pointer)
    }
}

#[derive(Debug, Default)]
pub struct Loaded {
    pub files: Vec<PathBuf>,
    pub entities: Vec<Entity>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    pub fn names(&self, section: &str) -> Vec<&str> {
        self.entities.iter().filter(|e| e.section == section).map(|e| e.name.as_str()).collect()
    }
}

/// The YAML files of a project path: the file itself, or every `*.yaml` / `*.yml` below a
/// directory (hidden directories, `target` and `node_modules` skipped), sorted.
pub fn project_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let p = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let ty = entry.file_type()?;
            if ty.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    stack.push(p);
                }
            } else if (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.starts_with('.') {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

pub fn load(path: &Path, vars: &Vars) -> Loaded {
    let mut loaded = Loaded::default();
    let files = match project_files(path) {
        Ok(f) => f,
        Err(e) => {
            loaded.diagnostics.push(
                Diagnostic::error(path, Pos { line: 1, col: 1 }, format!("cannot read {}: {e}", path.display()))
                    .with_hint("give a specification file or a directory containing *.yaml files"),
            );
            return loaded;
        }
    };
    if files.is_empty() {
        loaded.diagnostics.push(
            Diagnostic::error(path, Pos { line: 1, col: 1 }, "no *.yaml or *.yml files found")
                .with_hint("run `gauntlet init` to create an example project"),
        );
        return loaded;
    }
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut queue: Vec<PathBuf> = files.into_iter().rev().collect();
    let mut first_definition: HashMap<(&'static str, String), (PathBuf, Pos)> = HashMap::new();
    while let Some(file) = queue.pop() {
        let key = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        if !seen.insert(key) {
            continue;
        }
        loaded.files.push(file.clone());
        for include in load_file(&file, vars, &mut loaded, &mut first_definition) {
            queue.push(include);
        }
    }
    loaded
}

/// Loads one file into `loaded` and returns the files it includes.
fn load_file(
    file: &Path,
    vars: &Vars,
    loaded: &mut Loaded,
    first_definition: &mut HashMap<(&'static str, String), (PathBuf, Pos)>,
) -> Vec<PathBuf> {
    let start = Pos { line: 1, col: 1 };
    let text = match std::fs::metadata(file) {
        Ok(m) if m.len() > MAX_FILE_BYTES => {
            loaded.diagnostics.push(Diagnostic::error(file, start, format!("file is larger than {MAX_FILE_BYTES} bytes")));
            return Vec::new();
        }
        _ => match std::fs::read(file) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(_) => {
                    loaded.diagnostics.push(Diagnostic::error(file, start, "file is not valid UTF-8"));
                    return Vec::new();
                }
            },
            Err(e) => {
                loaded.diagnostics.push(Diagnostic::error(file, start, format!("cannot read file: {e}")));
                return Vec::new();
            }
        },
    };
    let doc = match yaml::parse(&text) {
        Ok(d) => d,
        Err(e) => {
            loaded.diagnostics.push(
                Diagnostic::error(file, e.pos, format!("invalid YAML: {}", e.message))
                    .with_hint("check indentation and quoting near this position"),
            );
            return Vec::new();
        }
    };
    let mut value = doc.value;
    let mut credentials = HashMap::new();
    interpolate_tree(&mut value, "", vars, file, &doc.spans, &mut credentials, &mut loaded.diagnostics);
    let source = Arc::new(Source { path: file.to_path_buf(), spans: doc.spans, credentials });

    let mut map = match value {
        Value::Object(m) => m,
        Value::Null => return Vec::new(),
        _ => {
            loaded.diagnostics.push(
                Diagnostic::error(file, source.spans.locate(""), "a specification file must be a mapping")
                    .with_hint(format!("start with `version: 1` and sections such as {}", SECTIONS.join(", "))),
            );
            return Vec::new();
        }
    };

    let mut includes = Vec::new();
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        let ptr = push_pointer("", &key);
        let Some(section_value) = map.remove(&key) else { continue };
        match key.as_str() {
            "version" => {
                if section_value != Value::from(1) {
                    loaded.diagnostics.push(
                        Diagnostic::error(file, source.spans.locate(&ptr), format!("unsupported format version {section_value}"))
                            .with_hint("this Gauntlet reads `version: 1`"),
                    );
                }
            }
            "include" => {
                let list = match section_value {
                    Value::String(s) => vec![Value::String(s)],
                    Value::Array(a) => a,
                    _ => {
                        loaded.diagnostics.push(Diagnostic::error(file, source.spans.locate(&ptr), "`include` must be a path or a list of paths"));
                        continue;
                    }
                };
                let base = file.parent().unwrap_or(Path::new("."));
                for (i, item) in list.iter().enumerate() {
                    let item_ptr = push_pointer(&ptr, &i.to_string());
                    let Value::String(rel) = item else {
                        loaded.diagnostics.push(Diagnostic::error(file, source.spans.locate(&item_ptr), "`include` entries must be paths"));
                        continue;
                    };
                    let target = base.join(rel);
                    match project_files(&target) {
                        Ok(files) if !files.is_empty() => includes.extend(files),
                        Ok(_) => loaded.diagnostics.push(Diagnostic::error(file, source.spans.locate(&item_ptr), format!("`{rel}` contains no YAML files"))),
                        Err(e) => loaded.diagnostics.push(
                            Diagnostic::error(file, source.spans.locate(&item_ptr), format!("cannot include `{rel}`: {e}"))
                                .with_hint("include paths are relative to the including file"),
                        ),
                    }
                }
            }
            section if SECTIONS.contains(&section) => {
                let section: &'static str = SECTIONS.iter().copied().find(|s| *s == section).unwrap_or("suites");
                let entries = match section_value {
                    Value::Object(m) => m,
                    Value::Null => continue,
                    _ => {
                        loaded.diagnostics.push(
                            Diagnostic::error(file, source.spans.locate(&ptr), format!("`{section}` must be a mapping from names to definitions"))
                                .with_hint(format!("e.g.\n  {section}:\n    my-name: {{ ... }}")),
                        );
                        continue;
                    }
                };
                for (name, value) in entries {
                    let pointer = push_pointer(&ptr, &name);
                    let pos = source.spans.locate_key(&pointer);
                    if let Some(msg) = invalid_name(&name) {
                        loaded.diagnostics.push(Diagnostic::error(file, pos, format!("invalid name `{name}`: {msg}")));
                    }
                    match first_definition.get(&(section, name.clone())) {
                        Some((first_file, first_pos)) => {
                            loaded.diagnostics.push(
                                Diagnostic::error(file, pos, format!("`{section}.{name}` is defined twice"))
                                    .with_hint(format!("first defined at {}:{}:{}", first_file.display(), first_pos.line, first_pos.col)),
                            );
                            continue;
                        }
                        None => {
                            first_definition.insert((section, name.clone()), (file.to_path_buf(), pos));
                        }
                    }
                    loaded.entities.push(Entity { section, name, value, source: Arc::clone(&source), pointer });
                }
            }
            other => {
                let mut candidates: Vec<&str> = SECTIONS.to_vec();
                candidates.extend(["version", "include"]);
                loaded.diagnostics.push(
                    Diagnostic::error(file, source.spans.locate_key(&ptr), format!("unknown top-level key `{other}`"))
                        .with_hint(did_you_mean(other, candidates.iter().copied()).unwrap_or_else(|| {
                            format!("top-level keys are: version, include, {}", SECTIONS.join(", "))
                        })),
                );
            }
        }
    }
    includes
}

fn invalid_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("names cannot be empty")
    } else if name.len() > 128 {
        Some("names are at most 128 characters")
    } else if !name.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c)) {
        Some("use letters, digits, `-`, `_` and `.`")
    } else {
        None
    }
}

fn interpolate_tree(
    value: &mut Value,
    ptr: &str,
    vars: &Vars,
    file: &Path,
    spans: &SpanMap,
    credentials: &mut HashMap<String, String>,
    diags: &mut Vec<Diagnostic>,
) {
    match value {
        Value::String(s) => {
            let credential = interp::is_credential(ptr);
            match interp::interpolate(s, vars, credential) {
                Ok(done) => {
                    if credential {
                        // Literal credentials are masked as `***`; interpolated ones keep their reference.
                        let reference = if done.replaced { s.clone() } else { "***".to_owned() };
                        credentials.insert(ptr.to_owned(), reference);
                    }
                    *s = done.value;
                }
                Err(e) => {
                    if credential {
                        credentials.insert(ptr.to_owned(), s.clone());
                    }
                    diags.push(Diagnostic::error(file, spans.locate(ptr), e.message).with_hint(e.hint));
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_tree(item, &push_pointer(ptr, &i.to_string()), vars, file, spans, credentials, diags);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                interpolate_tree(v, &push_pointer(ptr, k), vars, file, spans, credentials, diags);
            }
        }
        _ => {}
    }
}
