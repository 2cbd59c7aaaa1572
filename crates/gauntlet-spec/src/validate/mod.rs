//! From loaded entities to a validated `gauntlet_core::model::Project`.
//!
//! Parse, then validate: each entity is deserialized into its `crate::raw` type (structural
//! errors), then checked against the others (references, graph shape, assertion parameters).
//! All errors are collected; a project is returned only when there are none.

mod agents;
mod assertions;
mod chaos;
mod de;
mod definitions;
mod evaluators;
mod gateway;
mod graphs;
pub mod providers;
mod suites;

use crate::validate::agents::agent;
use crate::validate::definitions::{contract, tool};
use crate::validate::graphs::graph;
use crate::validate::providers::{mcp_server, provider};
pub(crate) use crate::validate::suites::deserialize_case;
use crate::validate::suites::suite;

use std::collections::HashMap;

use gauntlet_core::model::{Contract, Pattern, Project, Schema};
use gauntlet_core::template::Template;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::diag::{Diagnostic, suggest};
use crate::load::{Loaded, Source};
use crate::raw;
use crate::yaml::Pos;

/// The outcome of validation: the project when there were no errors, and every diagnostic.
pub struct Validated {
    pub project: Option<Project>,
    pub diagnostics: Vec<Diagnostic>,
    /// Every file that was read, in load order.
    pub files: Vec<std::path::PathBuf>,
}

pub(crate) struct Ctx<'a> {
    diags: Vec<Diagnostic>,
    failed: bool,
    /// Compiled once per distinct source: suites repeat the same patterns and schemas in
    /// thousands of cases, and compiled regexes and validators are shared, not copied.
    regexes: HashMap<String, Pattern>,
    schemas: HashMap<String, Schema>,
    names: HashMap<&'static str, Vec<&'a str>>,
    /// Files read besides the specification (facts, Rego modules), in the order first read.
    files: Vec<std::path::PathBuf>,
    facts: HashMap<std::path::PathBuf, std::sync::Arc<gauntlet_core::evaluators::Facts>>,
    /// Where files are read from, and what the suite may do.
    pub(crate) origin: &'a crate::files::Origin,
}

impl<'a> Ctx<'a> {
    fn error(
        &mut self,
        src: &Source,
        pointer: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.error_at(src, src.spans().locate(pointer), message)
    }

    fn error_at(&mut self, src: &Source, pos: Pos, message: impl Into<String>) -> &mut Diagnostic {
        self.push(Diagnostic::error(&src.path, pos, message))
    }

    fn warning(
        &mut self,
        src: &Source,
        pointer: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        let pos = src.spans().locate(pointer);
        self.push(Diagnostic::warning(&src.path, pos, message))
    }

    /// Refuses a program the capabilities do not allow (`command` as written, at `pointer`),
    /// and a working directory outside the suite's files.
    fn program(&mut self, src: &Source, pointer: &str, command: &str, cwd: Option<&str>) -> bool {
        use gauntlet_core::capability::Capability;
        let caps = self.origin.caps();
        if !caps.allows_command(command) {
            let granted = caps.programs.is_some();
            let d = self.error(
                src,
                pointer,
                format!("running the program `{command}` is not allowed here"),
            );
            d.code = Some(Capability::Programs.code());
            d.hint = Some(if granted {
                "the program is not in the allowlist of the `programs` capability; a platform administrator can add it for the tenant".into()
            } else {
                "running programs needs the `programs` capability: on the server a platform administrator grants it per tenant; a local run without --sandbox has it".into()
            });
            return false;
        }
        if let Some(cwd) = cwd
            && !caps.operator
            && gauntlet_core::files::normalize("", cwd).is_none_or(|n| n.starts_with(".."))
        {
            let d = self.error(
                src,
                pointer,
                format!("the working directory `{cwd}` is outside the suite's files"),
            );
            d.code = Some(Capability::HostFiles.code());
            d.hint = Some("a sandboxed program runs in a private copy of the suite's files; give a relative `cwd`".into());
            return false;
        }
        true
    }

    /// Refuses a URL whose host is an internal address literal the capabilities do not allow
    /// (names are checked again after resolution, at every connection).
    fn egress(&mut self, src: &Source, pointer: &str, url: &str) -> bool {
        use gauntlet_core::capability::{Capability, literal_address};
        let caps = self.origin.caps();
        if !caps.checks_egress() {
            return true;
        }
        let Some(host) = url_host(url) else {
            return true;
        };
        let blocked = match literal_address(host) {
            Some(ip) => !caps.allows_address(host, ip),
            None => {
                let h = host.trim_end_matches('.').to_ascii_lowercase();
                (h == "localhost" || h.ends_with(".localhost"))
                    && !caps
                        .allows_address(host, std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
            }
        };
        if blocked {
            let d = self.error(
                src,
                pointer,
                format!("`{host}` is an internal address, which this suite may not reach"),
            );
            d.code = Some(Capability::Egress.code());
            d.hint = Some("loopback, private, link-local and metadata addresses need the `internal_hosts` capability (granted per tenant by a platform administrator; a local run without --sandbox has it)".into());
            return false;
        }
        true
    }

    fn push(&mut self, d: Diagnostic) -> &mut Diagnostic {
        self.diags.push(d);
        let last = self.diags.len() - 1;
        &mut self.diags[last]
    }

    /// Deserializes a value; returns it also when only unknown keys had to be dropped (those
    /// are reported, and `self.failed` makes sure no project is produced).
    fn de<T: DeserializeOwned>(&mut self, src: &Source, pointer: &str, value: &Value) -> Option<T> {
        match de::deserialize(src, pointer, value, &mut self.diags) {
            de::Outcome::Clean(v) => Some(v),
            de::Outcome::UnknownKeysRemoved(v) => {
                self.failed = true;
                Some(v)
            }
            de::Outcome::Failed => None,
        }
    }

    fn has(&self, section: &str, name: &str) -> bool {
        self.names.get(section).is_some_and(|n| n.contains(&name))
    }

    /// A tool name that may be called: one of `tools:`, or any name when MCP servers exist
    /// (their tools are discovered when a run starts).
    fn known_tool(&self, name: &str) -> bool {
        self.has("tools", name) || self.names.get("mcp_servers").is_some_and(|m| !m.is_empty())
    }

    fn names(&self, section: &str) -> Vec<&'a str> {
        self.names.get(section).cloned().unwrap_or_default()
    }

    /// Reports an unknown reference with a did-you-mean or the list of known names.
    fn unknown(&mut self, src: &Source, pointer: &str, section: &str, what: &str, name: &str) {
        let candidates = self.names(section);
        let hint = suggest(name, section, candidates.iter().copied());
        self.error(src, pointer, format!("unknown {what} `{name}`"))
            .hint = Some(hint);
    }

    fn regex(&mut self, source: &str) -> Result<Pattern, regex::Error> {
        if let Some(p) = self.regexes.get(source) {
            return Ok(p.clone());
        }
        let p = Pattern(regex::Regex::new(source)?);
        self.regexes.insert(source.to_owned(), p.clone());
        Ok(p)
    }

    fn schema(&mut self, src: &Source, pointer: &str, value: &Value) -> Option<Schema> {
        let key = gauntlet_core::hash::canonical_json(value);
        if let Some(s) = self.schemas.get(&key) {
            return Some(s.clone());
        }
        match Schema::compile(value.clone()) {
            Ok(s) => {
                self.schemas.insert(key, s.clone());
                Some(s)
            }
            Err(msg) => {
                self.error(src, pointer, format!("invalid JSON Schema: {msg}"))
                    .hint = Some("see https://json-schema.org/understanding-json-schema/".into());
                None
            }
        }
    }

    fn template(
        &mut self,
        src: &Source,
        pointer: &str,
        text: &str,
        roots: &[&str],
    ) -> Option<Template> {
        match Template::parse(text) {
            Ok(t) => {
                for root in t.roots() {
                    if !roots.contains(&root.as_str()) {
                        let hint = format!("templates here can read: {}", roots.join(", "));
                        self.error(
                            src,
                            pointer,
                            format!("template reads unknown value `{root}`"),
                        )
                        .hint = Some(hint);
                        return None;
                    }
                }
                Some(t)
            }
            Err(err) => {
                self.error(src, pointer, format!("invalid template: {}", err.message))
                    .hint = Some(
                    "placeholders look like `{{ input }}`; write `{{{{` for a literal `{{`".into(),
                );
                None
            }
        }
    }
}

/// A retention block as the model has it.
pub(crate) fn retention(raw: Option<raw::Retention>) -> gauntlet_core::model::RetentionPolicy {
    let r = raw.unwrap_or_default();
    gauntlet_core::model::RetentionPolicy {
        keep_runs_days: r.keep_runs_days,
        keep_transcripts_days: r.keep_transcripts_days,
        anonymise_after_days: r.anonymise_after_days,
    }
}

pub fn validate(loaded: &Loaded) -> Validated {
    let mut names: HashMap<&'static str, Vec<&str>> = HashMap::new();
    for e in &loaded.entities {
        names.entry(e.section).or_default().push(e.name.as_str());
    }
    let mut cx = Ctx {
        diags: loaded.diagnostics.clone(),
        failed: false,
        regexes: HashMap::new(),
        schemas: HashMap::new(),
        names,
        files: Vec::new(),
        facts: HashMap::new(),
        origin: &loaded.origin,
    };
    let mut project = Project::default();
    let mut contracts: HashMap<String, Contract> = HashMap::new();
    let mut complete = true;

    for section in raw::SECTIONS {
        for e in loaded.entities.iter().filter(|e| e.section == section) {
            let ok = match section {
                "providers" => provider(&mut cx, e)
                    .map(|p| project.providers.insert(e.name.clone(), p))
                    .is_some(),
                "mcp_servers" => mcp_server(&mut cx, e)
                    .map(|m| project.mcp_servers.insert(e.name.clone(), m))
                    .is_some(),
                "tools" => tool(&mut cx, e)
                    .map(|t| project.tools.insert(e.name.clone(), t))
                    .is_some(),
                "contracts" => cx
                    .de::<raw::Contract>(&e.source, &e.pointer, &e.value)
                    .and_then(|c| contract(&mut cx, e, &e.pointer, c, Some(e.name.clone())))
                    .map(|c| {
                        project.contracts.insert(e.name.clone(), c.clone());
                        contracts.insert(e.name.clone(), c)
                    })
                    .is_some(),
                "agents" => agent(&mut cx, e, &contracts, &project)
                    .map(|a| project.agents.insert(e.name.clone(), a))
                    .is_some(),
                "graphs" => graph(&mut cx, e)
                    .map(|g| project.graphs.insert(e.name.clone(), g))
                    .is_some(),
                _ => suite(&mut cx, e, &contracts, &project)
                    .map(|s| project.suites.insert(e.name.clone(), s))
                    .is_some(),
            };
            complete &= ok;
        }
    }
    if let Some((source, pointer, value)) = &loaded.retention {
        match cx.de::<raw::Retention>(source, pointer, value) {
            Some(r) => project.retention = retention(Some(r)),
            None => complete = false,
        }
    }
    if let Some((source, pointer, value)) = &loaded.gateway {
        match cx
            .de::<raw::Gateway>(source, pointer, value)
            .and_then(|g| gateway::gateway(&mut cx, source, pointer, g, &project))
        {
            Some(g) => project.gateway = Some(g),
            None => complete = false,
        }
    }
    let cx_failed = cx.failed;
    let mut files = loaded.files.clone();
    files.extend(cx.files.drain(..).filter(|f| !loaded.files.contains(f)));
    let mut diagnostics = cx.diags;
    let has_errors = diagnostics.iter().any(Diagnostic::is_error) || !complete || cx_failed;
    diagnostics.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
    diagnostics.dedup();
    Validated {
        project: if has_errors { None } else { Some(project) },
        diagnostics,
        files,
    }
}

/// The host of an `http(s)://` URL, without port or user information.
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h);
    }
    Some(host_port.split(':').next().unwrap_or(host_port))
}
