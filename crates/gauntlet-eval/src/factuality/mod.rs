//! Factuality: the checkable claims of an output (numbers, dates, names, key–value statements)
//! checked against a ground-truth [`Facts`] file, and its citations against the file's sources.
//!
//! # Claims
//! - numbers with their unit, multiplier or currency (`330 m`, `$4.2 billion`, `12%`,
//!   `1,024 users`);
//! - dates: `2024-03-01`, `March 1, 2024`, `1 March 2024`, `March 2024`, and four-digit years
//!   written alone (from 1800, or from 1000 after "in", "since", "by"…);
//! - names: capitalised words, except a single word opening a sentence, function words,
//!   months and days;
//! - key–value statements ("X is Y", "X was Y", "X: Y", "X of Y is Z") where X is a fact's key
//!   or alias and Y a value of the fact's kind. The value's own number, date or name is not
//!   counted again. Key–value claims need the facts, so [`extract_claims`] finds the other
//!   kinds and [`extract_claims_with`] all four.
//!
//! # Checking
//! A fact is relevant to a claim when its key or an alias appears in the claim's sentence (for
//! a key–value claim, the fact it names), and its value is of the claim's kind: numbers (with
//! comparable units; m/km/cm/mm/ft/mi, g/kg/mg/t/lb, %/percent, s/min/h/days, currencies and
//! thousand/million/billion multipliers convert), dates, or texts. Numbers match when, in the
//! fact's unit and rounded to the fact's decimal places, they equal the fact's value, or lie
//! within its relative `tolerance`; dates match at the precision both have; names match
//! ignoring case, spacing, a leading "the", or as a part of the fact's value.
//!
//! A claim matching a relevant fact is supported. One that matches none is contradicted by the
//! most relevant fact, unless another claim of the sentence states that fact (so "330 m tall
//! and 125 m wide" does not contradict the height with the width); a name contradicts only a
//! name-valued fact, and only when it is known nowhere else. Otherwise a claim is supported if
//! found in a source's text, if a fact states it (numbers and dates equal to a fact's value), or
//! (names) if listed in `entities` or named by a fact's key, alias or value; else it is
//! unsupported: numbers, key–value statements and names as possible hallucinations, dates with
//! low confidence and without that flag.
//!
//! # Confidence
//! 1.0 key–value statement naming the fact's key; 0.9 by an alias; 0.95 claim whose sentence
//! names the fact's key, 0.85 an alias (contradictions by sentence relevance: ×0.9); 0.9 name
//! listed in `entities`; 0.8 name found in a fact; 0.7 found in a source; 0.6 number or date
//! equal to a fact's value not named in its sentence; unsupported 0.6 numbers, 0.5 names,
//! 0.3 dates.
//!
//! # Citations and score
//! Markers `[1]`, `[doc-a]`, `[1, 2]`, `[source: doc-a]`, `(source: doc-a)`; one after a
//! sentence's final stop belongs to that sentence. `[n]` resolves to the n-th source (from 1) or
//! to a source with id `n`. Every marker must resolve; with `require_citations`, every sentence
//! with a number, date or key–value claim must carry one. Each failure is a citation issue.
//!
//! The score is (supported + ½ × unsupported-and-not-flagged) / claims: contradicted claims and,
//! with `flag_unsupported`, unsupported numbers, names and key–value claims count 0; dates never
//! are flagged. No claims score 1. Citation issues then multiply the score by
//! 1 − issues / max(issues, sentences with a claim or a citation). The output passes with no
//! contradiction, no citation issue and a score of at least the threshold.

mod extract;
#[cfg(test)]
mod tests;
mod values;

use gauntlet_core::evaluators::{Facts, FactualitySpec};

use extract::{ClaimValue, Found};
use values::{FactValue, contains_words, fact_value, normalise, quantity_matches};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClaimKind {
    Number,
    Date,
    Entity,
    KeyValue,
}

impl ClaimKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimKind::Number => "number",
            ClaimKind::Date => "date",
            ClaimKind::Entity => "entity",
            ClaimKind::KeyValue => "key_value",
        }
    }
}

/// A checkable statement of the text.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    pub kind: ClaimKind,
    pub text: String,
    /// Byte span in the text.
    pub start: usize,
    pub end: usize,
    /// The sentence's index, from 0.
    pub sentence: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClaimStatus {
    Supported,
    Contradicted,
    Unsupported,
}

impl ClaimStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimStatus::Supported => "supported",
            ClaimStatus::Contradicted => "contradicted",
            ClaimStatus::Unsupported => "unsupported",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClaimVerdict {
    pub claim: Claim,
    pub status: ClaimStatus,
    /// 0–1; see the module documentation for the scale.
    pub confidence: f64,
    /// The key of the fact, or the id of the source, that decided the status.
    pub fact: Option<String>,
    /// Why, e.g. "expected 330 m, got 300 m".
    pub note: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CitationIssue {
    /// The sentence's index, from 0.
    pub sentence: usize,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FactualityReport {
    pub claims: Vec<ClaimVerdict>,
    pub citation_issues: Vec<CitationIssue>,
    /// 0–1; see the module documentation.
    pub score: f64,
    pub pass: bool,
    /// One line, e.g. "5 claims: 3 supported, 1 contradicted (Eiffel Tower height: expected
    /// 330 m, got 300 m), 1 unsupported".
    pub summary: String,
}

/// Numbers, dates and names of `text` (key–value statements need facts: see
/// [`extract_claims_with`]).
pub fn extract_claims(text: &str) -> Vec<Claim> {
    extract::extract(text, None)
        .claims
        .into_iter()
        .map(|f| f.claim)
        .collect()
}

/// Numbers, dates, names and key–value statements about `facts` in `text`.
pub fn extract_claims_with(text: &str, facts: &Facts) -> Vec<Claim> {
    extract::extract(text, Some(facts))
        .claims
        .into_iter()
        .map(|f| f.claim)
        .collect()
}

fn lower_words(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .replace('’', "'")
}

struct Checker<'a> {
    facts: &'a Facts,
    values: Vec<Option<FactValue>>,
    /// Per sentence, per fact: named by its key (`Some(true)`), by an alias, or not at all.
    mentions: Vec<Vec<Option<bool>>>,
    sources: Vec<(String, String)>,
}

fn verdict(
    claim: &Claim,
    status: ClaimStatus,
    confidence: f64,
    fact: Option<&str>,
    note: String,
) -> ClaimVerdict {
    ClaimVerdict {
        claim: claim.clone(),
        status,
        confidence,
        fact: fact.map(str::to_owned),
        note,
    }
}

impl Checker<'_> {
    /// Whether the claim's value states the fact: `None` when they cannot be compared.
    fn compare(&self, value: &ClaimValue, fact: usize) -> Option<bool> {
        let fv = self.values.get(fact)?.as_ref()?;
        match (value, fv) {
            (ClaimValue::Number(q), FactValue::Number { .. }) => quantity_matches(q, fv),
            (ClaimValue::Date(d), FactValue::Date(f)) => Some(d.agrees(f)),
            (ClaimValue::Name(n), FactValue::Text(t)) => {
                let (n, t) = (normalise(n), normalise(t));
                Some(n == t || contains_words(&t, &n) || contains_words(&n, &t))
            }
            _ => None,
        }
    }

    /// Whether a claim can be compared with a fact named in its sentence: of the same kind and,
    /// for numbers, with a unit or multiplier when the fact has a unit (a bare "2" is not
    /// compared with a height in metres).
    fn comparable_in_sentence(&self, value: &ClaimValue, fact: usize) -> bool {
        match (value, self.values.get(fact)) {
            (ClaimValue::Number(q), Some(Some(FactValue::Number { unit, .. }))) => {
                q.unit.compatible(unit)
                    && (!q.unit.dim.is_empty() || unit.dim.is_empty() || q.unit.mult != 1.0)
            }
            _ => self.compare(value, fact).is_some(),
        }
    }

    /// Relevant facts of a claim with the confidence of their relevance, most relevant first.
    fn relevant(&self, found: &Found) -> Vec<(usize, f64)> {
        if let Some((fact, by_key)) = found.fact {
            return vec![(fact, if by_key { 1.0 } else { 0.9 })];
        }
        let mut out: Vec<(usize, f64)> = self
            .mentions
            .get(found.claim.sentence)
            .into_iter()
            .flat_map(|row| row.iter().enumerate())
            .filter_map(|(i, m)| m.map(|by_key| (i, if by_key { 0.95 } else { 0.85 })))
            .filter(|&(i, _)| self.comparable_in_sentence(&found.value, i))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }

    fn key(&self, fact: usize) -> &str {
        self.facts.facts.get(fact).map_or("?", |f| f.key.as_str())
    }

    fn display(&self, fact: usize) -> String {
        self.values
            .get(fact)
            .and_then(Option::as_ref)
            .map_or_else(String::new, FactValue::display)
    }

    /// Where a name is known: listed entity, fact (key), or source (id).
    fn known_name(&self, name: &str) -> Option<(f64, Option<String>, String)> {
        let n = normalise(name);
        let hit = |c: &str| {
            let c = normalise(c);
            c == n || contains_words(&c, &n)
        };
        if self.facts.entities.iter().any(|e| hit(e)) {
            return Some((0.9, None, "known entity".into()));
        }
        for (i, f) in self.facts.facts.iter().enumerate() {
            let text_value = match self.values.get(i) {
                Some(Some(FactValue::Text(t))) => Some(t.as_str()),
                _ => None,
            };
            let names = std::iter::once(f.key.as_str())
                .chain(f.aliases.iter().map(String::as_str))
                .chain(text_value);
            if names.into_iter().any(hit) {
                return Some((0.8, Some(f.key.clone()), format!("named in fact {}", f.key)));
            }
        }
        self.in_source(&n)
            .map(|id| (0.7, Some(id.clone()), format!("found in source {id}")))
    }

    fn in_source(&self, needle: &str) -> Option<&String> {
        let needle = lower_words(needle);
        self.sources
            .iter()
            .find(|(_, text)| contains_words(text, &needle))
            .map(|(id, _)| id)
    }

    /// A claim no relevant fact decides: found in a source or in some fact, or unsupported.
    fn fallback(&self, found: &Found) -> ClaimVerdict {
        let c = &found.claim;
        let unsupported = |confidence: f64, hallucination: bool| {
            let note = if hallucination {
                "not found in facts or sources (possible hallucination)"
            } else {
                "not found in facts or sources"
            };
            verdict(c, ClaimStatus::Unsupported, confidence, None, note.into())
        };
        let from_source = |needle: &str| {
            self.in_source(needle).map(|id| {
                verdict(
                    c,
                    ClaimStatus::Supported,
                    0.7,
                    Some(id),
                    format!("found in source {id}"),
                )
            })
        };
        let from_fact = |confidence: f64| {
            (0..self.values.len())
                .find(|&i| self.compare(&found.value, i) == Some(true))
                .map(|i| {
                    let note = format!("matches {} ({})", self.key(i), self.display(i));
                    verdict(
                        c,
                        ClaimStatus::Supported,
                        confidence,
                        Some(self.key(i)),
                        note,
                    )
                })
        };
        match &found.value {
            ClaimValue::Number(q) => from_source(&c.text)
                .or_else(|| from_source(&q.literal))
                .or_else(|| from_source(&q.literal.replace(',', "")))
                .or_else(|| from_fact(0.6))
                .unwrap_or_else(|| unsupported(0.6, true)),
            ClaimValue::Date(d) => from_source(&c.text)
                .or_else(|| from_source(&d.year.to_string()))
                .or_else(|| from_fact(0.6))
                .unwrap_or_else(|| unsupported(0.3, false)),
            ClaimValue::Name(name) => match self.known_name(name) {
                Some((confidence, fact, note)) => {
                    verdict(c, ClaimStatus::Supported, confidence, fact.as_deref(), note)
                }
                None => unsupported(0.5, true),
            },
        }
    }
}

/// The text a claim states for its fact ("300 m" of "The height is 300 m").
fn stated(found: &Found) -> &str {
    let c = &found.claim;
    c.text
        .get(found.value_start.saturating_sub(c.start)..)
        .unwrap_or(&c.text)
}

/// Checks the claims and citations of `text` against `spec`; see the module documentation.
pub fn check(text: &str, spec: &FactualitySpec, threshold: f64) -> FactualityReport {
    let facts: &Facts = &spec.facts;
    let ex = extract::extract(text, Some(facts));
    let values: Vec<Option<FactValue>> = facts.facts.iter().map(fact_value).collect();
    let names: Vec<Vec<(String, bool)>> = facts
        .facts
        .iter()
        .map(|f| {
            std::iter::once((lower_words(&f.key), true))
                .chain(f.aliases.iter().map(|a| (lower_words(a), false)))
                .filter(|(n, _)| !n.is_empty())
                .collect()
        })
        .collect();
    let mentions = ex
        .sentences
        .iter()
        .map(|r| {
            let s = lower_words(&text[r.clone()]);
            names
                .iter()
                .map(|ns| {
                    let found: Vec<bool> = ns
                        .iter()
                        .filter(|(n, _)| contains_words(&s, n))
                        .map(|&(_, k)| k)
                        .collect();
                    (!found.is_empty()).then(|| found.contains(&true))
                })
                .collect()
        })
        .collect();
    let sources = facts
        .sources
        .iter()
        .filter_map(|s| Some((s.id.clone(), lower_words(s.text.as_deref()?))))
        .collect();
    let checker = Checker {
        facts,
        values,
        mentions,
        sources,
    };

    let relevant: Vec<Vec<(usize, f64)>> = ex.claims.iter().map(|f| checker.relevant(f)).collect();
    let matched: Vec<Option<(usize, f64)>> = ex
        .claims
        .iter()
        .zip(&relevant)
        .map(|(f, rel)| {
            rel.iter()
                .copied()
                .find(|&(i, _)| checker.compare(&f.value, i) == Some(true))
        })
        .collect();
    let stated_in_sentence = |sentence: usize, fact: usize| {
        ex.claims
            .iter()
            .zip(&matched)
            .any(|(f, m)| f.claim.sentence == sentence && m.is_some_and(|(i, _)| i == fact))
    };

    let mut verdicts = Vec::with_capacity(ex.claims.len());
    for ((found, rel), m) in ex.claims.iter().zip(&relevant).zip(&matched) {
        let c = &found.claim;
        if let Some((i, confidence)) = *m {
            let note = format!("matches {} ({})", checker.key(i), checker.display(i));
            verdicts.push(verdict(
                c,
                ClaimStatus::Supported,
                confidence,
                Some(checker.key(i)),
                note,
            ));
            continue;
        }
        let explicit = found.fact.is_some();
        let contradicting = rel.iter().copied().find(|&(i, _)| {
            if explicit {
                return true;
            }
            let name_ok = match (&found.value, checker.values.get(i)) {
                (ClaimValue::Name(n), Some(Some(FactValue::Text(t)))) => {
                    checker.known_name(n).is_none() && t.starts_with(char::is_uppercase)
                }
                (ClaimValue::Name(_), _) => false,
                _ => true,
            };
            name_ok && !stated_in_sentence(c.sentence, i)
        });
        match contradicting {
            Some((i, confidence)) => {
                let confidence = if explicit {
                    confidence
                } else {
                    confidence * 0.9
                };
                let note = format!("expected {}, got {}", checker.display(i), stated(found));
                verdicts.push(verdict(
                    c,
                    ClaimStatus::Contradicted,
                    confidence,
                    Some(checker.key(i)),
                    note,
                ));
            }
            None => verdicts.push(checker.fallback(found)),
        }
    }

    let issues = citation_issues(&ex, facts, spec.require_citations);
    let sentences_with: std::collections::BTreeSet<usize> = ex
        .claims
        .iter()
        .map(|f| f.claim.sentence)
        .chain(
            ex.citations
                .iter()
                .map(|c| extract::sentence_of(&ex.sentences, c.span.start)),
        )
        .collect();
    let mut score = if verdicts.is_empty() {
        1.0
    } else {
        let points: f64 = verdicts
            .iter()
            .map(|v| match v.status {
                ClaimStatus::Supported => 1.0,
                ClaimStatus::Contradicted => 0.0,
                ClaimStatus::Unsupported => {
                    let flagged = spec.flag_unsupported && v.claim.kind != ClaimKind::Date;
                    if flagged { 0.0 } else { 0.5 }
                }
            })
            .sum();
        points / verdicts.len() as f64
    };
    if !issues.is_empty() {
        let base = sentences_with.len().max(issues.len()) as f64;
        score *= 1.0 - issues.len() as f64 / base;
    }
    let score = score.clamp(0.0, 1.0);
    let contradicted = verdicts
        .iter()
        .filter(|v| v.status == ClaimStatus::Contradicted)
        .count();
    FactualityReport {
        pass: contradicted == 0 && issues.is_empty() && score + 1e-12 >= threshold,
        summary: summary(&verdicts, issues.len()),
        claims: verdicts,
        citation_issues: issues,
        score,
    }
}

fn resolves(id: &str, facts: &Facts) -> bool {
    let by_index = id
        .parse::<usize>()
        .is_ok_and(|n| n >= 1 && n <= facts.sources.len());
    by_index || facts.sources.iter().any(|s| s.id.eq_ignore_ascii_case(id))
}

fn citation_issues(ex: &extract::Extracted, facts: &Facts, required: bool) -> Vec<CitationIssue> {
    let mut issues = Vec::new();
    let mut cited = std::collections::BTreeSet::new();
    for c in &ex.citations {
        let sentence = extract::sentence_of(&ex.sentences, c.span.start);
        cited.insert(sentence);
        for id in c.ids.iter().filter(|id| !resolves(id, facts)) {
            let message = if c.ids.len() == 1 {
                format!("citation {} does not match any source", c.marker)
            } else {
                format!("citation {}: {id} does not match any source", c.marker)
            };
            issues.push(CitationIssue { sentence, message });
        }
    }
    if required {
        let mut seen = std::collections::BTreeSet::new();
        for f in &ex.claims {
            let c = &f.claim;
            if c.kind != ClaimKind::Entity
                && !cited.contains(&c.sentence)
                && seen.insert(c.sentence)
            {
                issues.push(CitationIssue {
                    sentence: c.sentence,
                    message: format!(
                        "sentence {} states {:?} without a citation",
                        c.sentence + 1,
                        c.text
                    ),
                });
            }
        }
    }
    issues.sort_by_key(|i| i.sentence);
    issues
}

fn summary(verdicts: &[ClaimVerdict], issues: usize) -> String {
    let count = |s: ClaimStatus| verdicts.iter().filter(|v| v.status == s).count();
    let mut out = if verdicts.is_empty() {
        "no checkable claims".to_owned()
    } else {
        let details: Vec<String> = verdicts
            .iter()
            .filter(|v| v.status == ClaimStatus::Contradicted)
            .map(|v| format!("{}: {}", v.fact.as_deref().unwrap_or("?"), v.note))
            .collect();
        let contradicted = count(ClaimStatus::Contradicted);
        format!(
            "{} claim{}: {} supported, {contradicted} contradicted{}, {} unsupported",
            verdicts.len(),
            if verdicts.len() == 1 { "" } else { "s" },
            count(ClaimStatus::Supported),
            if details.is_empty() {
                String::new()
            } else {
                format!(" ({})", details.join("; "))
            },
            count(ClaimStatus::Unsupported),
        )
    };
    if issues > 0 {
        out.push_str(&format!(
            ", {issues} citation issue{}",
            if issues == 1 { "" } else { "s" }
        ));
    }
    out
}
