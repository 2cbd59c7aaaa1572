//! Reading a project from disk: one file or a directory, `include:` lists, interpolation, and
//! the split into named entities (`agents.triage`, `suites.smoke`, …) that validation checks
//! one by one so that every error is reported, not only the first.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::diag::{Diagnostic, did_you_mean};
use crate::files::{Origin, ReadError};
use crate::interp::{self, Vars};
use crate::raw::{self, SECTIONS};
use crate::yaml::{self, Pos, SpanMap, push_pointer};

/// Files larger than this are refused rather than read into memory.
const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// One loaded file: its path (as given or found), its text, and the positions of its values,
/// computed on first use (only diagnostics need them, so valid files never pay for them).
#[derive(Debug)]
pub struct Source {
    pub path: PathBuf,
    text: String,
    spans: OnceLock<SpanMap>,
    /// Credential fields that were interpolated: pointer → the text as written, which is what
    /// snapshots and messages show instead of the value.
    credentials: OnceLock<HashMap<String, String>>,
}

/// An assertion as written, shared by every case that writes the same one (compared as
/// canonical JSON); it is validated once per suite.
#[derive(Debug)]
pub struct InternedAssertion {
    pub value: Value,
    /// Where it was first written, for diagnostics.
    pub source: Arc<Source>,
    pub pointer: String,
}

/// A case converted as soon as it was parsed.
#[derive(Debug)]
pub struct CaseDraft {
    /// `/suites/NAME/cases/N`.
    pub pointer: String,
    /// The case without its `assert` list; `None` when it had structural errors (reported).
    pub case: Option<raw::Case>,
    pub assertions: Vec<Arc<InternedAssertion>>,
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
    /// For suites: the cases, converted while parsing (the value holds `null`s in their place).
    pub cases: Vec<CaseDraft>,
}

impl Source {
    /// A file read by validation (facts, policies), for diagnostics that point into it.
    pub(crate) fn new(path: PathBuf, text: String) -> Source {
        Source {
            path,
            text,
            spans: OnceLock::new(),
            credentials: OnceLock::new(),
        }
    }

    pub fn spans(&self) -> &SpanMap {
        self.spans
            .get_or_init(|| yaml::parse(&self.text).map(|d| d.spans).unwrap_or_default())
    }

    pub fn credential(&self, pointer: &str) -> Option<&String> {
        self.credentials.get().and_then(|c| c.get(pointer))
    }
}

impl Entity {
    pub fn pos(&self, pointer: &str) -> Pos {
        self.source.spans().locate(pointer)
    }
}

#[derive(Debug, Default)]
pub struct Loaded {
    pub files: Vec<PathBuf>,
    pub entities: Vec<Entity>,
    pub diagnostics: Vec<Diagnostic>,
    /// The top-level `retention` block: its file, pointer and value.
    pub retention: Option<(Arc<Source>, String, Value)>,
    /// The top-level `gateway` block: its file, pointer and value.
    pub gateway: Option<(Arc<Source>, String, Value)>,
    /// Where the files came from, and the loader's capabilities (validation reads facts and
    /// policies through it, and checks programs and addresses against it).
    pub origin: Origin,
}

impl Loaded {
    pub fn names(&self, section: &str) -> Vec<&str> {
        self.entities
            .iter()
            .filter(|e| e.section == section)
            .map(|e| e.name.as_str())
            .collect()
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
            } else if (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.starts_with('.')
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Loads the project at `path` from the host's disk, with the operator's powers.
pub fn load(path: &Path, vars: &Vars) -> Loaded {
    load_from(Origin::disk(), path, vars)
}

/// Loads the project at `path` (a file or directory of `origin`).
pub fn load_from(origin: Origin, path: &Path, vars: &Vars) -> Loaded {
    let mut loaded = Loaded {
        origin,
        ..Loaded::default()
    };
    let files = match loaded.origin.project_files(path) {
        Ok(f) => f,
        Err(e) => {
            let d = match e.denied {
                Some(_) => read_error(path, Pos { line: 1, col: 1 }, e),
                None => Diagnostic::error(
                    path,
                    Pos { line: 1, col: 1 },
                    format!("cannot read {}: {}", path.display(), e.message),
                ),
            };
            loaded.diagnostics.push(
                d.with_hint("give a specification file or a directory containing *.yaml files"),
            );
            return loaded;
        }
    };
    if files.is_empty() {
        loaded.diagnostics.push(
            Diagnostic::error(
                path,
                Pos { line: 1, col: 1 },
                "no *.yaml or *.yml files found",
            )
            .with_hint("run `gauntlet init` to create an example project"),
        );
        return loaded;
    }
    let mut interner: HashMap<String, Arc<InternedAssertion>> = HashMap::new();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut queue: Vec<PathBuf> = files.into_iter().rev().collect();
    let mut first_definition: HashMap<(&'static str, String), (Arc<Source>, String)> =
        HashMap::new();
    while let Some(file) = queue.pop() {
        let key = loaded.origin.key(&file);
        if !seen.insert(key) {
            continue;
        }
        loaded.files.push(file.clone());
        for include in load_file(
            &file,
            vars,
            &mut loaded,
            &mut first_definition,
            &mut interner,
        ) {
            queue.push(include);
        }
    }
    loaded
}

/// A diagnostic for a file that could not be read; a refusal carries its capability's code.
pub(crate) fn read_error(file: &Path, pos: Pos, e: ReadError) -> Diagnostic {
    match e.denied {
        Some(cap) => Diagnostic::error(file, pos, e.message)
            .with_code(cap.code())
            .with_hint("only the suite's own files can be read; a platform administrator can grant host directories"),
        None => Diagnostic::error(file, pos, e.message),
    }
}

/// Loads one file into `loaded` and returns the files it includes.
fn load_file(
    file: &Path,
    vars: &Vars,
    loaded: &mut Loaded,
    first_definition: &mut HashMap<(&'static str, String), (Arc<Source>, String)>,
    interner: &mut HashMap<String, Arc<InternedAssertion>>,
) -> Vec<PathBuf> {
    let start = Pos { line: 1, col: 1 };
    let text = match loaded.origin.read(file, MAX_FILE_BYTES) {
        Ok(t) => t,
        Err(e) if !e.io => {
            loaded.diagnostics.push(read_error(file, start, e));
            return Vec::new();
        }
        Err(e) => {
            loaded.diagnostics.push(Diagnostic::error(
                file,
                start,
                format!("cannot read file: {}", e.message),
            ));
            return Vec::new();
        }
    };
    let interpolate = text.contains('$');
    let source = Arc::new(Source {
        path: file.to_path_buf(),
        text,
        spans: OnceLock::new(),
        credentials: OnceLock::new(),
    });
    let mut drafts: HashMap<String, Vec<CaseDraft>> = HashMap::new();
    let mut credentials = HashMap::new();
    let parsed = {
        let diags = &mut loaded.diagnostics;
        let mut on_case = |suite: &str, index: usize, mut case: Value| {
            let pointer = format!("/suites/{}/cases/{index}", escape_token(suite));
            if interpolate {
                interpolate_tree(
                    &mut case,
                    &mut pointer.clone(),
                    vars,
                    &source,
                    &mut HashMap::new(),
                    diags,
                );
            }
            let draft = draft_case(&source, pointer, case, interner, diags);
            drafts.entry(suite.to_owned()).or_default().push(draft);
            Value::Null
        };
        yaml::parse_value_with_cases(&source.text, &mut on_case)
    };
    let mut value = match parsed {
        Ok(v) => v,
        Err(e) => {
            loaded.diagnostics.push(
                Diagnostic::error(file, e.pos, format!("invalid YAML: {}", e.message))
                    .with_hint("check indentation and quoting near this position"),
            );
            return Vec::new();
        }
    };
    if interpolate {
        interpolate_tree(
            &mut value,
            &mut String::new(),
            vars,
            &source,
            &mut credentials,
            &mut loaded.diagnostics,
        );
    }
    let _ = source.credentials.set(credentials);

    let mut map = match value {
        Value::Object(m) => m,
        Value::Null => return Vec::new(),
        _ => {
            loaded.diagnostics.push(
                Diagnostic::error(
                    file,
                    source.spans().locate(""),
                    "a specification file must be a mapping",
                )
                .with_hint(format!(
                    "start with `version: 1` and sections such as {}",
                    SECTIONS.join(", ")
                )),
            );
            return Vec::new();
        }
    };

    let mut includes = Vec::new();
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        let ptr = push_pointer("", &key);
        let Some(section_value) = map.remove(&key) else {
            continue;
        };
        match key.as_str() {
            "version" => {
                if section_value != 1 {
                    loaded.diagnostics.push(
                        Diagnostic::error(
                            file,
                            source.spans().locate(&ptr),
                            format!("unsupported format version {section_value}"),
                        )
                        .with_hint("this Gauntlet reads `version: 1`"),
                    );
                }
            }
            "retention" | "gateway" => {
                let slot = if key == "retention" {
                    &mut loaded.retention
                } else {
                    &mut loaded.gateway
                };
                if let Some((first, _, _)) = slot {
                    let first = first.path.display().to_string();
                    loaded.diagnostics.push(
                        Diagnostic::error(
                            file,
                            source.spans().locate_key(&ptr),
                            format!("`{key}` is defined twice"),
                        )
                        .with_hint(format!("it is already set in {first}")),
                    );
                } else {
                    *slot = Some((Arc::clone(&source), ptr, section_value));
                }
            }
            "include" => {
                let list = match section_value {
                    Value::String(s) => vec![Value::String(s)],
                    Value::Array(a) => a,
                    _ => {
                        loaded.diagnostics.push(Diagnostic::error(
                            file,
                            source.spans().locate(&ptr),
                            "`include` must be a path or a list of paths",
                        ));
                        continue;
                    }
                };
                for (i, item) in list.iter().enumerate() {
                    let item_ptr = push_pointer(&ptr, &i.to_string());
                    let Value::String(rel) = item else {
                        loaded.diagnostics.push(Diagnostic::error(
                            file,
                            source.spans().locate(&item_ptr),
                            "`include` entries must be paths",
                        ));
                        continue;
                    };
                    let target = loaded.origin.beside(file, rel);
                    match loaded.origin.project_files(&target) {
                        Ok(files) if !files.is_empty() => includes.extend(files),
                        Ok(_) => loaded.diagnostics.push(Diagnostic::error(
                            file,
                            source.spans().locate(&item_ptr),
                            format!("`{rel}` contains no YAML files"),
                        )),
                        Err(e) if e.denied.is_some() => loaded.diagnostics.push(read_error(
                            file,
                            source.spans().locate(&item_ptr),
                            e,
                        )),
                        Err(e) => loaded.diagnostics.push(
                            Diagnostic::error(
                                file,
                                source.spans().locate(&item_ptr),
                                format!("cannot include `{rel}`: {}", e.message),
                            )
                            .with_hint("include paths are relative to the including file"),
                        ),
                    }
                }
            }
            section if SECTIONS.contains(&section) => {
                let section: &'static str = SECTIONS
                    .iter()
                    .copied()
                    .find(|s| *s == section)
                    .unwrap_or("suites");
                let entries = match section_value {
                    Value::Object(m) => m,
                    Value::Null => continue,
                    _ => {
                        loaded.diagnostics.push(
                            Diagnostic::error(
                                file,
                                source.spans().locate(&ptr),
                                format!("`{section}` must be a mapping from names to definitions"),
                            )
                            .with_hint(format!("e.g.\n  {section}:\n    my-name: {{ ... }}")),
                        );
                        continue;
                    }
                };
                for (name, value) in entries {
                    let pointer = push_pointer(&ptr, &name);
                    // Positions are looked up only when reported: computing them costs a
                    // second parse of the file.
                    if let Some(msg) = invalid_name(&name) {
                        loaded.diagnostics.push(Diagnostic::error(
                            file,
                            source.spans().locate_key(&pointer),
                            format!("invalid name `{name}`: {msg}"),
                        ));
                    }
                    match first_definition.get(&(section, name.clone())) {
                        Some((first_source, first_pointer)) => {
                            let first = first_source.spans().locate_key(first_pointer);
                            loaded.diagnostics.push(
                                Diagnostic::error(
                                    file,
                                    source.spans().locate_key(&pointer),
                                    format!("`{section}.{name}` is defined twice"),
                                )
                                .with_hint(format!(
                                    "first defined at {}:{}:{}",
                                    first_source.path.display(),
                                    first.line,
                                    first.col
                                )),
                            );
                            continue;
                        }
                        None => {
                            first_definition.insert(
                                (section, name.clone()),
                                (Arc::clone(&source), pointer.clone()),
                            );
                        }
                    }
                    let cases = if section == "suites" {
                        drafts.remove(&name).unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    loaded.entities.push(Entity {
                        section,
                        name,
                        value,
                        source: Arc::clone(&source),
                        pointer,
                        cases,
                    });
                }
            }
            other => {
                let mut candidates: Vec<&str> = SECTIONS.to_vec();
                candidates.extend(["version", "include", "retention", "gateway"]);
                loaded.diagnostics.push(
                    Diagnostic::error(
                        file,
                        source.spans().locate_key(&ptr),
                        format!("unknown top-level key `{other}`"),
                    )
                    .with_hint(
                        did_you_mean(other, candidates.iter().copied()).unwrap_or_else(|| {
                            format!(
                                "top-level keys are: version, include, retention, gateway, {}",
                                SECTIONS.join(", ")
                            )
                        }),
                    ),
                );
            }
        }
    }
    includes
}

fn escape_token(token: &str) -> String {
    push_pointer("", token)[1..].to_owned()
}

/// Converts one case: its fields checked now, its assertions interned for later validation.
fn draft_case(
    source: &Arc<Source>,
    pointer: String,
    mut case: Value,
    interner: &mut HashMap<String, Arc<InternedAssertion>>,
    diags: &mut Vec<Diagnostic>,
) -> CaseDraft {
    let mut assertions = Vec::new();
    if let Value::Object(map) = &mut case {
        match map.shift_remove("assert") {
            Some(Value::Array(items)) => {
                for (i, item) in items.into_iter().enumerate() {
                    let key = gauntlet_core::hash::canonical_json(&item);
                    let interned = interner.entry(key).or_insert_with(|| {
                        Arc::new(InternedAssertion {
                            value: item,
                            source: Arc::clone(source),
                            pointer: format!("{pointer}/assert/{i}"),
                        })
                    });
                    assertions.push(Arc::clone(interned));
                }
            }
            Some(Value::Null) | None => {}
            Some(_) => {
                let at = source.spans().locate(&format!("{pointer}/assert"));
                diags.push(
                    Diagnostic::error(&source.path, at, "`assert` must be a list of assertions")
                        .with_hint("e.g. `assert: [ { type: contains, value: hello } ]`"),
                );
                return CaseDraft {
                    pointer,
                    case: None,
                    assertions,
                };
            }
        }
    }
    let case = crate::validate::deserialize_case(source, &pointer, &case, diags);
    CaseDraft {
        pointer,
        case,
        assertions,
    }
}

fn invalid_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("names cannot be empty")
    } else if name.len() > 128 {
        Some("names are at most 128 characters")
    } else if !name
        .chars()
        .all(|c| c.is_alphanumeric() || "-_.".contains(c))
    {
        Some("use letters, digits, `-`, `_` and `.`")
    } else {
        None
    }
}

fn interpolate_tree(
    value: &mut Value,
    ptr: &mut String,
    vars: &Vars,
    source: &Source,
    credentials: &mut HashMap<String, String>,
    diags: &mut Vec<Diagnostic>,
) {
    let file = source.path.as_path();
    match value {
        Value::String(s) => {
            let credential = interp::is_credential(ptr);
            if !credential && !s.contains('$') {
                return;
            }
            match interp::interpolate(s, vars, credential) {
                Ok(done) => {
                    if credential {
                        // Literal credentials are masked as `***`; interpolated ones keep their reference.
                        let reference = if done.replaced || !interp::masks_literal(ptr) {
                            s.clone()
                        } else {
                            "***".to_owned()
                        };
                        credentials.insert(ptr.to_owned(), reference);
                    }
                    *s = done.value;
                }
                Err(e) => {
                    if credential {
                        credentials.insert(ptr.to_owned(), s.clone());
                    }
                    diags.push(
                        Diagnostic::error(file, source.spans().locate(ptr), e.message)
                            .with_hint(e.hint),
                    );
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = ptr.len();
                *ptr = push_pointer(ptr, &i.to_string());
                interpolate_tree(item, ptr, vars, source, credentials, diags);
                ptr.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let len = ptr.len();
                *ptr = push_pointer(ptr, k);
                interpolate_tree(v, ptr, vars, source, credentials, diags);
                ptr.truncate(len);
            }
        }
        _ => {}
    }
}
