//! The tools filter: `*` glob patterns, `!` for exclusions.

/// A compiled [`ServerConfig::tools_filter`](crate::ServerConfig::tools_filter).
///
/// A tool is exposed when it matches at least one inclusion pattern (or there are none)
/// and no exclusion pattern. Exclusions win over inclusions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolFilter {
    include: Vec<String>,
    exclude: Vec<String>,
}

impl ToolFilter {
    /// Compiles patterns; blank patterns (and a bare `!`) are ignored.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Self {
        let mut filter = Self::default();
        for pattern in patterns {
            let pattern = pattern.as_ref().trim();
            match pattern.strip_prefix('!') {
                Some(rest) if !rest.trim().is_empty() => {
                    filter.exclude.push(rest.trim().to_owned())
                }
                Some(_) => {}
                None if !pattern.is_empty() => filter.include.push(pattern.to_owned()),
                None => {}
            }
        }
        filter
    }

    /// Whether the tool named `name` is exposed.
    pub fn allows(&self, name: &str) -> bool {
        let included =
            self.include.is_empty() || self.include.iter().any(|pattern| glob_match(pattern, name));
        included && !self.exclude.iter().any(|pattern| glob_match(pattern, name))
    }

    /// Whether the filter lets every tool through.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (including
/// none) and every other character matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // Position of the last `*` seen and the text position it was tried at.
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            backtrack = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star, tried)) = backtrack {
            // Let the last `*` swallow one more character.
            p = star + 1;
            t = tried + 1;
            backtrack = Some((star, tried + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_basics() {
        assert!(glob_match("echo", "echo"));
        assert!(!glob_match("echo", "echoes"));
        assert!(glob_match("get-*", "get-sum"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*sum", "get-sum"));
        assert!(glob_match("g*t*m", "get-sum"));
        assert!(!glob_match("g*t*x", "get-sum"));
        assert!(glob_match("**a", "banana"));
        assert!(glob_match("a*a*a", "aXaYa"));
        assert!(!glob_match("a*a*a", "aXa"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "x"));
    }

    #[test]
    fn include_and_exclude() {
        let all = ToolFilter::new::<&str>(&[]);
        assert!(all.is_empty() && all.allows("anything"));

        let only = ToolFilter::new(&["echo", "get-*"]);
        assert!(only.allows("echo") && only.allows("get-sum"));
        assert!(!only.allows("trigger-long-running-operation"));

        let except = ToolFilter::new(&["!trigger-*"]);
        assert!(except.allows("echo"));
        assert!(!except.allows("trigger-sampling-request"));

        let both = ToolFilter::new(&["get-*", "!get-env"]);
        assert!(both.allows("get-sum"));
        assert!(!both.allows("get-env"));
        assert!(!both.allows("echo"));

        let blanks = ToolFilter::new(&["", " ", "!"]);
        assert!(blanks.is_empty());
    }
}
