//! Shared pieces of the scanners: compiled patterns, rule tables, boundaries, context, entropy
//! and base64.

use regex::{Captures, Regex};

use super::{Finding, SecurityCheck, Sensitivity, Severity};

/// A compiled pattern. `\b` means an ASCII word boundary (fast on any text). A pattern that
/// fails to compile never matches; unit tests check that every pattern compiles.
pub(crate) struct Re(Option<Regex>);

impl Re {
    pub(crate) fn new(pattern: &str) -> Re {
        Re(Regex::new(&pattern.replace(r"\b", r"(?-u:\b)")).ok())
    }

    #[cfg(test)]
    pub(crate) fn compiled(&self) -> bool {
        self.0.is_some()
    }

    pub(crate) fn is_match(&self, hay: &str) -> bool {
        self.0.as_ref().is_some_and(|r| r.is_match(hay))
    }

    pub(crate) fn find_iter<'r, 'h>(
        &'r self,
        hay: &'h str,
    ) -> impl Iterator<Item = regex::Match<'h>> + 'r
    where
        'h: 'r,
    {
        self.0.iter().flat_map(move |r| r.find_iter(hay))
    }

    pub(crate) fn captures_iter<'r, 'h>(
        &'r self,
        hay: &'h str,
    ) -> impl Iterator<Item = Captures<'h>> + 'r
    where
        'h: 'r,
    {
        self.0.iter().flat_map(move |r| r.captures_iter(hay))
    }
}

/// What a rule's validator sees.
pub(crate) struct Hit<'a, 'h> {
    pub text: &'h str,
    pub caps: &'a Captures<'h>,
    pub sensitivity: Sensitivity,
}

impl Hit<'_, '_> {
    /// The text of capture group `i`, or "".
    pub(crate) fn group(&self, i: usize) -> &str {
        self.caps.get(i).map_or("", |m| m.as_str())
    }

    pub(crate) fn start(&self) -> usize {
        self.caps.get(0).map_or(0, |m| m.start())
    }

    pub(crate) fn end(&self) -> usize {
        self.caps.get(0).map_or(0, |m| m.end())
    }
}

/// A validator: `None` rejects the match; otherwise the kind and severity to report.
pub(crate) type Validate =
    fn(&Hit<'_, '_>, &'static str, Severity) -> Option<(&'static str, Severity)>;

/// `Rule::group` value meaning "the first capture group that participated".
pub(crate) const FIRST_GROUP: usize = usize::MAX;

/// A pattern-based detector.
pub(crate) struct Rule {
    pub kind: &'static str,
    pub re: Re,
    /// Capture group whose span is reported (0: the whole match).
    pub group: usize,
    pub severity: Severity,
    /// The lowest sensitivity at which the rule runs.
    pub min: Sensitivity,
    pub hint: &'static str,
    pub validate: Option<Validate>,
}

impl Rule {
    pub(crate) fn new(
        kind: &'static str,
        pattern: &str,
        severity: Severity,
        min: Sensitivity,
        hint: &'static str,
    ) -> Rule {
        Rule {
            kind,
            re: Re::new(pattern),
            group: 0,
            severity,
            min,
            hint,
            validate: None,
        }
    }

    pub(crate) fn group(mut self, group: usize) -> Rule {
        self.group = group;
        self
    }

    pub(crate) fn check(mut self, validate: Validate) -> Rule {
        self.validate = Some(validate);
        self
    }
}

/// Runs `rules` over `text`, pushing findings of `check`.
pub(crate) fn run_rules(
    rules: &[Rule],
    check: SecurityCheck,
    text: &str,
    sensitivity: Sensitivity,
    hint_of: fn(&'static str) -> &'static str,
    out: &mut Vec<Finding>,
) {
    for rule in rules {
        if sensitivity < rule.min {
            continue;
        }
        if rule.group == 0 && rule.validate.is_none() {
            for m in rule.re.find_iter(text) {
                out.push(Finding {
                    check,
                    kind: rule.kind,
                    start: m.start(),
                    end: m.end(),
                    severity: rule.severity,
                    hint: rule.hint,
                });
            }
            continue;
        }
        for caps in rule.re.captures_iter(text) {
            let group = if rule.group == FIRST_GROUP {
                caps.iter().skip(1).flatten().next()
            } else {
                caps.get(rule.group)
            };
            let Some(m) = group.or_else(|| caps.get(0)) else {
                continue;
            };
            let (kind, severity) = match rule.validate {
                None => (rule.kind, rule.severity),
                Some(v) => {
                    let hit = Hit {
                        text,
                        caps: &caps,
                        sensitivity,
                    };
                    match v(&hit, rule.kind, rule.severity) {
                        Some(r) => r,
                        None => continue,
                    }
                }
            };
            if severity == Severity::Low && sensitivity == Sensitivity::Low {
                continue;
            }
            let hint = if kind == rule.kind {
                rule.hint
            } else {
                hint_of(kind)
            };
            out.push(Finding {
                check,
                kind,
                start: m.start(),
                end: m.end(),
                severity,
                hint,
            });
        }
    }
}

/// The char before byte `i`.
pub(crate) fn char_before(text: &str, i: usize) -> Option<char> {
    text.get(..i).and_then(|s| s.chars().next_back())
}

/// The char at byte `i`.
pub(crate) fn char_at(text: &str, i: usize) -> Option<char> {
    text.get(i..).and_then(|s| s.chars().next())
}

/// Whether `start..end` (a number-like match) stands alone: not glued to letters or digits,
/// and not one part of a longer dotted or dashed number (a version, a date, an id).
pub(crate) fn standalone(text: &str, start: usize, end: usize) -> bool {
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    if glued(char_before(text, start)) || glued(char_at(text, end)) {
        return false;
    }
    let joiner = |c: Option<char>| matches!(c, Some('.' | '-' | '/' | '_'));
    if joiner(char_before(text, start)) {
        let before = char_before(text, start).map_or(0, char::len_utf8);
        if glued(char_before(text, start - before)) {
            return false;
        }
    }
    if joiner(char_at(text, end)) {
        let after = char_at(text, end).map_or(0, char::len_utf8);
        if char_at(text, end + after).is_some_and(|c| c.is_ascii_alphanumeric()) {
            return false;
        }
    }
    true
}

/// The largest char boundary ≤ `i`.
pub(crate) fn floor_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest char boundary ≥ `i`.
pub(crate) fn ceil_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Up to `window` bytes of text before `start`.
pub(crate) fn before(text: &str, start: usize, window: usize) -> &str {
    let from = floor_boundary(text, start.saturating_sub(window));
    text.get(from..start).unwrap_or("")
}

/// Up to `window` bytes of text after `end`.
pub(crate) fn after(text: &str, end: usize, window: usize) -> &str {
    let to = ceil_boundary(text, end.saturating_add(window));
    text.get(end..to).unwrap_or("")
}

/// The ASCII digits of `s`, as numbers.
pub(crate) fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// Shannon entropy in bits per char.
pub(crate) fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for b in s.bytes() {
        counts[usize::from(b)] += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Decodes standard or URL-safe base64 (padding optional); `None` if it is not base64.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// Decoded base64 that reads as text (UTF-8, mostly printable), if `s` is such base64.
pub(crate) fn base64_text(s: &str) -> Option<String> {
    let bytes = base64_decode(s)?;
    let text = String::from_utf8(bytes).ok()?;
    let total = text.chars().count();
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .count();
    (total >= 4 && printable * 100 >= total * 95).then_some(text)
}

/// Every rule of a table compiled and reports one of the check's declared kinds.
#[cfg(test)]
pub(crate) fn assert_rules(rules: &[Rule], kinds: &[&str]) {
    for r in rules {
        assert!(r.re.compiled(), "{}", r.kind);
        assert!(kinds.contains(&r.kind), "{}", r.kind);
    }
}

/// The kinds of the non-warning findings of one check at Medium sensitivity.
#[cfg(test)]
pub(crate) fn failing_kinds(text: &str, check: SecurityCheck) -> Vec<&'static str> {
    super::scan(text, &[check], Sensitivity::Medium)
        .into_iter()
        .filter(|f| !f.is_warning())
        .map(|f| f.kind)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_known_strings() {
        assert_eq!(entropy(""), 0.0);
        assert_eq!(entropy("aaaa"), 0.0);
        assert!((entropy("abab") - 1.0).abs() < 1e-9);
        assert!((entropy("abcdefgh") - 3.0).abs() < 1e-9);
        assert!(entropy("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") > 4.5);
        assert!(entropy("0123456789abcdef0123456789abcdef") <= 4.0);
    }

    #[test]
    fn base64_round_trips() {
        assert_eq!(base64_decode("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("aGVsbG8").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("-_8").as_deref(), Some(&[0xfb, 0xff][..]));
        assert_eq!(base64_decode("a"), None);
        assert_eq!(base64_decode("a*bc"), None);
        assert_eq!(
            base64_text("aGVsbG8gd29ybGQ=").as_deref(),
            Some("hello world")
        );
        assert_eq!(base64_text("/w=="), None);
    }

    #[test]
    fn standalone_numbers() {
        let t = "v 1.2.3.4 id ORD-123-45-6789 ok 123-45-6789.";
        let find = |s: &str| {
            let i = t.find(s).unwrap_or(0);
            standalone(t, i, i + s.len())
        };
        assert!(find("1.2.3.4"));
        let i = t.find("ORD-").unwrap_or(0) + 4;
        assert!(!standalone(t, i, i + 11));
        let i = t.rfind("123-45-6789").unwrap_or(0);
        assert!(standalone(t, i, i + 11));
        assert!(standalone("ip:10.0.0.1:8080", 3, 11));
        assert!(!standalone("x1234", 1, 5));
        assert!(!standalone("10.1234", 3, 7));
    }

    #[test]
    fn boundaries_and_context() {
        let t = "aé€b";
        assert_eq!(floor_boundary(t, 2), 1);
        assert_eq!(ceil_boundary(t, 2), 3);
        assert_eq!(before(t, 6, 4), "é€");
        assert_eq!(after(t, 1, 3), "é€");
        assert_eq!(digits("a1-2 3"), vec![1, 2, 3]);
        assert_eq!(char_before(t, 3), Some('é'));
        assert_eq!(char_at(t, 3), Some('€'));
    }
}
