//! Finding citations and claims in text.

use std::ops::Range;
use std::sync::LazyLock;

use gauntlet_core::evaluators::Facts;
use regex::Regex;

use super::values::{
    DateVal, FactValue, Quantity, fact_value, leading_number, month_number, read_unit,
};
use super::{Claim, ClaimKind};
use crate::style::text::{sentence_spans, word_spans};

/// `[1]`, `[doc-a]`, `[1, 2]`, `[source: doc-a]`.
static BRACKET_CITE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"\[(?:(?i:sources?|ref|refs|doc)\s*:\s*)?([A-Za-z0-9][\w.\-]*(?:\s*,\s*[A-Za-z0-9][\w.\-]*)*)\]").ok()
});
/// `(source: doc-a)`, `(sources: a, b)`.
static PAREN_CITE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"\((?i:sources?)\s*:\s*([A-Za-z0-9][\w.\-]*(?:\s*,\s*[A-Za-z0-9][\w.\-]*)*)\)").ok()
});

static NUMBER: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?:(US\$|[$€£¥])\s?)?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)").ok()
});

const MONTHS: &str = "January|February|March|April|May|June|July|August|September|October|\
                      November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec";

/// ISO dates; "March 1, 2024"; "1 March 2024"; "March 2024".
static DATES: LazyLock<[Option<Regex>; 4]> = LazyLock::new(|| {
    [
        Regex::new(r"\b(\d{4})-(\d{2})-(\d{2})\b").ok(),
        Regex::new(&format!(
            r"\b({MONTHS})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b"
        ))
        .ok(),
        Regex::new(&format!(
            r"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({MONTHS})\.?,?\s+(\d{{4}})\b"
        ))
        .ok(),
        Regex::new(&format!(r"\b({MONTHS})\.?,?\s+(\d{{4}})\b")).ok(),
    ]
});

/// Capitalised words, joined by spaces or name particles ("Bank of America", "Leonardo da
/// Vinci"), with an optional title ("Dr. Ada Lovelace").
static ENTITY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let word = r"(?:(?:\p{Lu}\.){2,}|\p{Lu}[\p{L}\p{M}\p{N}'’\-]*)";
    Regex::new(&format!(
        r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|St)\.[ \t]+)?\b{word}(?:[ \t]+(?:(?:of|de|da|di|van|von|der|den|del|la|le|du|al|bin)[ \t]+(?:the[ \t]+)?)?{word})*"
    ))
    .ok()
});

/// Capitalised words that are not names.
const NOT_NAMES: &[&str] = &[
    "i",
    "the",
    "a",
    "an",
    "this",
    "that",
    "these",
    "those",
    "it",
    "we",
    "you",
    "he",
    "she",
    "they",
    "our",
    "my",
    "your",
    "his",
    "her",
    "their",
    "its",
    "in",
    "on",
    "at",
    "for",
    "but",
    "and",
    "or",
    "if",
    "when",
    "while",
    "as",
    "so",
    "yes",
    "no",
    "not",
    "however",
    "also",
    "there",
    "here",
    "what",
    "which",
    "who",
    "how",
    "why",
    "where",
    "please",
    "thanks",
    "hi",
    "hello",
    "dear",
    "note",
    "after",
    "before",
    "since",
    "by",
    "from",
    "with",
    "to",
    "of",
    "all",
    "some",
    "many",
    "most",
    "each",
    "every",
    "both",
    "then",
    "today",
    "yesterday",
    "tomorrow",
    "ai",
    "ok",
    "faq",
    "api",
    "url",
    "pdf",
    "usd",
    "eur",
    "gbp",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "see",
    "visit",
    "check",
    "use",
    "read",
    "try",
    "call",
    "contact",
    "ask",
    "consider",
    "remember",
    "keep",
    "find",
    "click",
    "open",
    "according",
    "overall",
    "meanwhile",
    "first",
    "second",
    "finally",
    "next",
    "last",
    "currently",
    "additionally",
    "moreover",
    "furthermore",
    "therefore",
    "thus",
    "during",
    "although",
    "because",
    "unlike",
    "like",
    "summary",
    "answer",
    "yes",
    "sure",
    "great",
    "unfortunately",
];

/// Words before a four-digit number that make it a year.
const YEAR_CONTEXT: &[&str] = &[
    "in", "since", "by", "from", "until", "till", "before", "after", "around", "circa", "c.",
    "year", "during", "of", "early", "late", "mid", "to", "and", "between", "through",
];

/// A citation marker and the source ids it names.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Citation {
    pub span: Range<usize>,
    pub marker: String,
    pub ids: Vec<String>,
}

pub(super) fn citations(text: &str) -> Vec<Citation> {
    let mut out = Vec::new();
    for re in [BRACKET_CITE.as_ref(), PAREN_CITE.as_ref()]
        .into_iter()
        .flatten()
    {
        for c in re.captures_iter(text) {
            let (Some(all), Some(ids)) = (c.get(0), c.get(1)) else {
                continue;
            };
            // A Markdown link or a checkbox is not a citation.
            if text[all.end()..].starts_with('(') || ids.as_str().eq_ignore_ascii_case("x") {
                continue;
            }
            out.push(Citation {
                span: all.range(),
                marker: all.as_str().to_owned(),
                ids: ids
                    .as_str()
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .collect(),
            });
        }
    }
    out.sort_by_key(|c| c.span.start);
    out
}

/// `text` with citation markers blanked out (same byte offsets).
fn mask(text: &str, cites: &[Citation]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for c in cites {
        for b in &mut bytes[c.span.clone()] {
            *b = b' ';
        }
    }
    String::from_utf8(bytes).unwrap_or_else(|_| text.to_owned())
}

/// What a claim states.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum ClaimValue {
    Number(Quantity),
    Date(DateVal),
    Name(String),
}

/// A claim with its parsed value; key–value claims also name their fact and where the value
/// starts.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Found {
    pub claim: Claim,
    pub value: ClaimValue,
    /// Key–value claims: the fact's index and whether the text named it by its key (not an
    /// alias).
    pub fact: Option<(usize, bool)>,
    pub value_start: usize,
}

/// Text split for checking: sentences (of the text without citation markers), citations and
/// claims.
pub(super) struct Extracted {
    pub sentences: Vec<Range<usize>>,
    pub citations: Vec<Citation>,
    pub claims: Vec<Found>,
}

/// The index of the sentence holding byte `pos`: the last one starting at or before it.
pub(super) fn sentence_of(sentences: &[Range<usize>], pos: usize) -> usize {
    sentences.iter().rposition(|s| s.start <= pos).unwrap_or(0)
}

pub(super) fn extract(text: &str, facts: Option<&Facts>) -> Extracted {
    let citations = citations(text);
    let masked = mask(text, &citations);
    let sentences = sentence_spans(&masked);
    let mut claims = Vec::new();
    let make = |kind: ClaimKind, span: Range<usize>, value: ClaimValue| Found {
        claim: Claim {
            kind,
            text: text[span.clone()].to_owned(),
            start: span.start,
            end: span.end,
            sentence: sentence_of(&sentences, span.start),
        },
        value,
        fact: None,
        value_start: span.start,
    };
    for (span, d) in dates(&masked) {
        claims.push(make(ClaimKind::Date, span, ClaimValue::Date(d)));
    }
    let taken = |claims: &[Found], r: &Range<usize>| {
        claims
            .iter()
            .any(|c| c.claim.start < r.end && r.start < c.claim.end)
    };
    for (span, value) in numbers(&masked) {
        if taken(&claims, &span) {
            continue;
        }
        let kind = match value {
            ClaimValue::Date(_) => ClaimKind::Date,
            _ => ClaimKind::Number,
        };
        claims.push(make(kind, span, value));
    }
    for span in entities(&masked, &sentences) {
        if !taken(&claims, &span) {
            let name = text[span.clone()].to_owned();
            claims.push(make(ClaimKind::Entity, span, ClaimValue::Name(name)));
        }
    }
    if let Some(facts) = facts {
        let kv = key_values(&masked, facts, &sentences);
        claims.retain(|c| {
            !kv.iter()
                .any(|k| c.claim.start >= k.value_start && c.claim.end <= k.claim.end)
        });
        claims.extend(kv);
    }
    claims.sort_by_key(|c| (c.claim.start, c.claim.end));
    Extracted {
        sentences,
        citations,
        claims,
    }
}

fn dates(text: &str) -> Vec<(Range<usize>, DateVal)> {
    let mut out: Vec<(Range<usize>, DateVal)> = Vec::new();
    for (i, re) in DATES.iter().enumerate() {
        let Some(re) = re else { continue };
        for c in re.captures_iter(text) {
            let Some(all) = c.get(0) else { continue };
            let g = |n: usize| c.get(n).map_or("", |m| m.as_str());
            let num = |n: usize| g(n).parse::<u32>().ok();
            let date = match i {
                0 => DateVal::new(g(1).parse().unwrap_or(0), num(2), num(3)),
                1 => DateVal::new(g(3).parse().unwrap_or(0), month_number(g(1)), num(2)),
                2 => DateVal::new(g(3).parse().unwrap_or(0), month_number(g(2)), num(1)),
                _ => DateVal::new(g(2).parse().unwrap_or(0), month_number(g(1)), None),
            };
            let r = all.range();
            if let Some(d) = date
                && !out.iter().any(|(o, _)| o.start < r.end && r.start < o.end)
            {
                out.push((r, d));
            }
        }
    }
    out
}

/// Numbers with their units, and four-digit years (1000–2099 written without unit, comma or
/// decimals), which are dates.
fn numbers(text: &str) -> Vec<(Range<usize>, ClaimValue)> {
    let Some(re) = NUMBER.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in re.captures_iter(text) {
        let (Some(all), Some(num)) = (c.get(0), c.get(2)) else {
            continue;
        };
        let before = text[..all.start()].chars().next_back();
        let after = text[all.end()..].chars().next();
        let currency = c.get(1).map(|m| m.as_str());
        let (unit, used) = read_unit(&text[all.end()..], currency);
        // Letters right after the number must be its unit ("12cm", "$4.2B"), not "19th" or "2x".
        let attached = text[all.end()..]
            .chars()
            .take_while(|c| c.is_alphanumeric())
            .map(char::len_utf8)
            .sum::<usize>();
        let glued = before
            .is_some_and(|b| b.is_alphanumeric() || matches!(b, '-' | '_' | '.' | ':' | '/' | '#'))
            || (attached > 0 && used < attached)
            || after.is_some_and(|a| matches!(a, ':' | '/'));
        let line_start = text[..all.start()]
            .trim_end_matches([' ', '\t'])
            .ends_with('\n')
            || text[..all.start()].trim().is_empty();
        let list_marker = line_start && (after == Some('.') || after == Some(')'));
        if glued || list_marker {
            continue;
        }
        let Some((value, _)) = leading_number(num.as_str()) else {
            continue;
        };
        let literal = num.as_str();
        let plain = currency.is_none() && unit.dim.is_empty() && unit.mult == 1.0;
        if plain && literal.len() == 4 && (1000.0..2100.0).contains(&value) {
            let prev = text[..all.start()]
                .split_whitespace()
                .next_back()
                .unwrap_or("")
                .to_lowercase();
            let context = YEAR_CONTEXT.contains(&prev.as_str());
            if (context || value >= 1800.0)
                && let Some(d) = DateVal::new(value as i32, None, None)
            {
                out.push((all.range(), ClaimValue::Date(d)));
                continue;
            }
        }
        let quantity = Quantity {
            value,
            literal: literal.to_owned(),
            unit,
        };
        out.push((all.start()..all.end() + used, ClaimValue::Number(quantity)));
    }
    out
}

/// Names: capitalised words not opening a sentence (unless several), minus function words,
/// months and days.
fn entities(text: &str, sentences: &[Range<usize>]) -> Vec<Range<usize>> {
    let Some(re) = ENTITY.as_ref() else {
        return Vec::new();
    };
    let first_words: Vec<usize> = sentences
        .iter()
        .filter_map(|s| {
            word_spans(&text[s.clone()])
                .into_iter()
                .find(|(_, w)| w.starts_with(char::is_alphabetic))
                .map(|(r, _)| s.start + r.start)
        })
        .collect();
    let mut out = Vec::new();
    for m in re.find_iter(text) {
        let mut words: Vec<(usize, &str)> = Vec::new();
        let mut pos = m.start();
        for w in m.as_str().split([' ', '\t']) {
            if !w.is_empty() {
                words.push((pos, w));
            }
            pos += w.len() + 1;
        }
        let base = |w: &str| {
            w.to_lowercase()
                .replace('’', "'")
                .split('\'')
                .next()
                .unwrap_or("")
                .to_owned()
        };
        while words
            .first()
            .is_some_and(|(_, w)| NOT_NAMES.contains(&base(w).as_str()))
        {
            words.remove(0);
        }
        let Some(&(first, _)) = words.first() else {
            continue;
        };
        if words
            .iter()
            .all(|(_, w)| NOT_NAMES.contains(&base(w).as_str()))
        {
            continue;
        }
        if words.len() == 1 && first_words.contains(&first) {
            continue;
        }
        let mut end = m.end();
        let tail = &text[first..end];
        for suffix in ["'s", "’s"] {
            if tail.ends_with(suffix) {
                end -= suffix.len();
            }
        }
        out.push(first..end);
    }
    out
}

const FILLERS: &[&str] = &[
    "about",
    "approximately",
    "approx.",
    "around",
    "roughly",
    "nearly",
    "almost",
    "over",
    "under",
    "some",
    "exactly",
    "just",
    "only",
    "currently",
    "now",
    "precisely",
    "estimated",
    "an",
    "at",
];

/// "X is Y", "X was Y", "X: Y", "X of Y is Z" where X is a fact's key or alias and Y is a value
/// of the fact's kind (a number, a date, or a capitalised name).
fn key_values(text: &str, facts: &Facts, sentences: &[Range<usize>]) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::new();
    for (index, fact) in facts.facts.iter().enumerate() {
        let Some(fv) = fact_value(fact) else { continue };
        let names =
            std::iter::once((&fact.key, true)).chain(fact.aliases.iter().map(|a| (a, false)));
        for (name, is_key) in names {
            let body = name
                .split_whitespace()
                .map(regex::escape)
                .collect::<Vec<_>>()
                .join(r"\s+");
            if body.is_empty() {
                continue;
            }
            let pattern = format!(
                r"(?i)\b{body}\b(?:\s+of\s+[^.,;:!?\n]{{1,60}}?)?(?:\s+(?:is|was|are|were|stands at|measures|measured|equals|totals|totaled|totalled|reached|=)\s+|\s*:\s*)"
            );
            let Ok(re) = Regex::new(&pattern) else {
                continue;
            };
            for m in re.find_iter(text) {
                let mut at = m.end();
                loop {
                    let rest = &text[at..];
                    let word = rest.split_whitespace().next().unwrap_or("");
                    if FILLERS.contains(&word.to_lowercase().as_str()) && rest.starts_with(word) {
                        at += word.len();
                        at += text[at..].len() - text[at..].trim_start().len();
                    } else {
                        break;
                    }
                }
                let Some((value, end)) = value_at(text, at, &fv) else {
                    continue;
                };
                if out.iter().any(|f| f.value_start == at) {
                    continue;
                }
                let span = m.start()..end;
                out.push(Found {
                    claim: Claim {
                        kind: ClaimKind::KeyValue,
                        text: text[span.clone()].to_owned(),
                        start: span.start,
                        end: span.end,
                        sentence: sentence_of(sentences, span.start),
                    },
                    value,
                    fact: Some((index, is_key)),
                    value_start: at,
                });
            }
        }
    }
    out
}

/// The value of the fact's kind starting at byte `at`, and where it ends.
fn value_at(text: &str, at: usize, fv: &FactValue) -> Option<(ClaimValue, usize)> {
    let rest = &text[at..];
    match fv {
        FactValue::Number {
            unit: fact_unit, ..
        } => {
            let (cur, skip) = ["US$", "$", "€", "£", "¥"]
                .iter()
                .find(|c| rest.starts_with(**c))
                .map_or((None, 0), |c| (Some(*c), c.len()));
            let (value, len) = leading_number(&rest[skip..])?;
            let literal = rest[skip..skip + len].to_owned();
            let (unit, used) = read_unit(&rest[skip + len..], cur);
            if !unit.compatible(fact_unit) {
                return None;
            }
            let end = at + skip + len + used;
            Some((
                ClaimValue::Number(Quantity {
                    value,
                    literal,
                    unit,
                }),
                end,
            ))
        }
        FactValue::Date(_) => {
            if let Some((r, d)) = dates(rest).into_iter().find(|(r, _)| r.start == 0) {
                return Some((ClaimValue::Date(d), at + r.end));
            }
            let (value, len) = leading_number(rest)?;
            (len == 4 && value.fract() == 0.0)
                .then(|| DateVal::new(value as i32, None, None))
                .flatten()
                .map(|d| (ClaimValue::Date(d), at + len))
        }
        FactValue::Text(_) => {
            if !rest.starts_with(char::is_uppercase) {
                return None;
            }
            let mut end = rest
                .find(['.', ',', ';', ':', '!', '?', '\n', '(', '['])
                .unwrap_or(rest.len());
            for stop in [
                " and ", " but ", " which ", " who ", " in ", " with ", " from ",
            ] {
                if let Some(i) = rest[..end].find(stop) {
                    end = i;
                }
            }
            let value = rest[..end].trim_end();
            (!value.is_empty()).then(|| (ClaimValue::Name(value.to_owned()), at + value.len()))
        }
    }
}
