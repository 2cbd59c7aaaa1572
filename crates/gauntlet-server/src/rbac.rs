//! Roles and permissions: a small typed matrix.
//!
//! A permission is a resource and an action. The built-in roles follow reference 003 REQ-702,
//! with Auditor added: read everything, the audit log included, change nothing. Custom roles
//! are stored per tenant as lists of `resource:action` strings. Nothing is allowed that a role
//! does not list.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Suites,
    Agents,
    Runs,
    Baselines,
    Settings,
    Users,
    Audit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Read,
    Write,
    Execute,
    Delete,
}

impl Resource {
    pub const ALL: [Resource; 7] = [
        Resource::Suites,
        Resource::Agents,
        Resource::Runs,
        Resource::Baselines,
        Resource::Settings,
        Resource::Users,
        Resource::Audit,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Suites => "suites",
            Resource::Agents => "agents",
            Resource::Runs => "runs",
            Resource::Baselines => "baselines",
            Resource::Settings => "settings",
            Resource::Users => "users",
            Resource::Audit => "audit",
        }
    }
}

impl Action {
    pub const ALL: [Action; 4] = [Action::Read, Action::Write, Action::Execute, Action::Delete];
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Execute => "execute",
            Action::Delete => "delete",
        }
    }
    fn letter(self) -> char {
        match self {
            Action::Read => 'R',
            Action::Write => 'W',
            Action::Execute => 'X',
            Action::Delete => 'D',
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Perm(pub Resource, pub Action);

impl Perm {
    pub fn parse(s: &str) -> Option<Perm> {
        let (r, a) = s.split_once(':')?;
        let r = Resource::ALL.into_iter().find(|x| x.as_str() == r)?;
        let a = Action::ALL.into_iter().find(|x| x.as_str() == a)?;
        Some(Perm(r, a))
    }
}

impl std::fmt::Display for Perm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.0.as_str(), self.1.as_str())
    }
}

/// The built-in roles.
pub const BUILTIN: [&str; 5] = ["admin", "developer", "analyst", "auditor", "viewer"];

/// The matrix, as letters per resource (REQ-702; `audit` and the Auditor added).
fn matrix(role: &str, resource: Resource) -> Option<&'static str> {
    use Resource::*;
    Some(match (role, resource) {
        ("admin", Audit) => "R",
        ("admin", _) => "RWXD",
        ("developer", Suites | Agents) => "RWX",
        ("developer", Runs | Baselines) => "RW",
        ("developer", Settings) => "R",
        ("developer", Users | Audit) => "",
        ("analyst" | "viewer", Suites | Agents | Runs | Baselines) => "R",
        ("analyst" | "viewer", Settings | Users | Audit) => "",
        ("auditor", _) => "R",
        _ => return None,
    })
}

/// The permissions of a built-in role; `None` for a name that is not built in.
pub fn builtin(role: &str) -> Option<Vec<Perm>> {
    let mut out = Vec::new();
    for r in Resource::ALL {
        let letters = matrix(role, r)?;
        for a in Action::ALL {
            if letters.contains(a.letter()) {
                out.push(Perm(r, a));
            }
        }
    }
    Some(out)
}

/// A role's permission set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants(std::collections::BTreeSet<Perm>);

impl Grants {
    pub fn new(perms: impl IntoIterator<Item = Perm>) -> Grants {
        Grants(perms.into_iter().collect())
    }
    pub fn allows(&self, perm: Perm) -> bool {
        self.0.contains(&perm)
    }
    pub fn list(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
    /// The permissions of `other` that these grants do not hold.
    pub fn missing(&self, other: &Grants) -> Vec<Perm> {
        other.0.difference(&self.0).copied().collect()
    }
    /// The permissions both hold.
    pub fn intersect(&self, other: &Grants) -> Grants {
        Grants(self.0.intersection(&other.0).copied().collect())
    }
}

/// Parses a custom role's permission strings, naming the first bad one.
pub fn parse_all(perms: &[String]) -> Result<Vec<Perm>, String> {
    perms
        .iter()
        .map(|p| {
            Perm::parse(p).ok_or_else(|| {
                format!(
                    "`{p}` is not a permission; use resource:action with a resource of {} and an action of read, write, execute, delete",
                    Resource::ALL.map(Resource::as_str).join(", ")
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_is_reference_003() {
        let letters = |role: &str, r: Resource| {
            let g = Grants::new(builtin(role).unwrap_or_default());
            Action::ALL
                .into_iter()
                .filter(|a| g.allows(Perm(r, *a)))
                .map(Action::letter)
                .collect::<String>()
        };
        assert_eq!(letters("admin", Resource::Suites), "RWXD");
        assert_eq!(letters("developer", Resource::Suites), "RWX");
        assert_eq!(letters("developer", Resource::Runs), "RW");
        assert_eq!(letters("developer", Resource::Users), "");
        assert_eq!(letters("analyst", Resource::Baselines), "R");
        assert_eq!(letters("viewer", Resource::Settings), "");
        assert_eq!(letters("auditor", Resource::Audit), "R");
        assert_eq!(letters("auditor", Resource::Users), "R");
        assert!(builtin("root").is_none());
        assert_eq!(
            Perm::parse("runs:execute"),
            Some(Perm(Resource::Runs, Action::Execute))
        );
        assert!(parse_all(&["runs:fly".into()]).is_err());
    }
}
