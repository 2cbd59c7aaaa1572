//! Readability and style: classic readability formulas, passive voice, sentence length and tone,
//! checked against the bounds of a [`StyleSpec`].
//!
//! Counting: sentences and words as split by the `text` module (abbreviations, decimals and
//! ellipses do not end sentences); letters are the letters and digits of words (as in Coleman and
//! Liau's worked example); syllables are estimated by [`syllables`]. Every formula is 0 for text
//! without words.
//!
//! - Flesch reading ease = 206.835 − 1.015 (words / sentences) − 84.6 (syllables / words)
//! - Flesch–Kincaid grade = 0.39 (words / sentences) + 11.8 (syllables / words) − 15.59
//! - SMOG = 1.0430 √(polysyllables × 30 / sentences) + 3.1291 (polysyllables: ≥ 3 syllables)
//! - Coleman–Liau = 0.0588 L − 0.296 S − 15.8 (L letters and S sentences per 100 words)
//!
//! A sentence is passive when a form of "to be" or "to get" is followed, with at most two
//! adverbs between, by a past participle (a word in `-ed` other than common adjectives such as
//! "tired", or an irregular participle such as "written").

mod lexicon;
#[cfg(test)]
mod tests;
pub(crate) mod text;

use std::sync::LazyLock;

use gauntlet_core::evaluators::{StyleSpec, Tone};
use regex::Regex;

pub use text::syllables;

/// Measurements of a text.
#[derive(Clone, Debug, PartialEq)]
pub struct StyleReport {
    pub sentences: usize,
    pub words: usize,
    pub syllables: usize,
    /// Words with three or more syllables.
    pub polysyllables: usize,
    /// Letters and digits of words.
    pub letters: usize,
    pub flesch_reading_ease: f64,
    pub flesch_kincaid_grade: f64,
    pub smog: f64,
    pub coleman_liau: f64,
    /// Share of sentences in the passive voice, 0–1.
    pub passive_share: f64,
    pub mean_sentence_words: f64,
    pub max_sentence_words: usize,
    /// Population standard deviation of sentence lengths in words.
    pub sentence_words_stddev: f64,
    pub tone: ToneScores,
}

/// Tone scores: weighted lexicon hits per 100 words. Each phrase of a tone's lexicon weighs 1
/// (`formal`: "therefore", "pursuant to", "we regret"…; `casual`: "hey", "gonna", "btw"…;
/// `friendly`: "happy to help", "glad", 😊…; `professional`: "please find", "next steps",
/// "best regards"…); each contraction (`don't`, `we're`) adds ½ to casual and each `!` ½ to
/// friendly.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ToneScores {
    pub formal: f64,
    pub casual: f64,
    pub friendly: f64,
    pub professional: f64,
}

impl ToneScores {
    /// The tone with the highest score (ties go to the first of formal, casual, friendly,
    /// professional); `None` when no lexicon matched.
    pub fn dominant(&self) -> Option<Tone> {
        let mut best: Option<(Tone, f64)> = None;
        for (tone, score) in self.all() {
            if score > best.map_or(0.0, |(_, s)| s) {
                best = Some((tone, score));
            }
        }
        best.map(|(t, _)| t)
    }

    /// The score of one tone.
    pub fn get(&self, tone: Tone) -> f64 {
        match tone {
            Tone::Formal => self.formal,
            Tone::Casual => self.casual,
            Tone::Friendly => self.friendly,
            Tone::Professional => self.professional,
        }
    }

    fn all(&self) -> [(Tone, f64); 4] {
        [
            (Tone::Formal, self.formal),
            (Tone::Casual, self.casual),
            (Tone::Friendly, self.friendly),
            (Tone::Professional, self.professional),
        ]
    }
}

fn flesch_reading_ease(words: usize, sentences: usize, syllables: usize) -> f64 {
    if words == 0 || sentences == 0 {
        return 0.0;
    }
    ease_from_rates(
        words as f64 / sentences as f64,
        syllables as f64 / words as f64,
    )
}

fn ease_from_rates(words_per_sentence: f64, syllables_per_word: f64) -> f64 {
    206.835 - 1.015 * words_per_sentence - 84.6 * syllables_per_word
}

fn flesch_kincaid_grade(words: usize, sentences: usize, syllables: usize) -> f64 {
    if words == 0 || sentences == 0 {
        return 0.0;
    }
    grade_from_rates(
        words as f64 / sentences as f64,
        syllables as f64 / words as f64,
    )
}

fn grade_from_rates(words_per_sentence: f64, syllables_per_word: f64) -> f64 {
    0.39 * words_per_sentence + 11.8 * syllables_per_word - 15.59
}

fn smog(polysyllables: usize, sentences: usize) -> f64 {
    if sentences == 0 {
        return 0.0;
    }
    1.0430 * (polysyllables as f64 * 30.0 / sentences as f64).sqrt() + 3.1291
}

fn coleman_liau(letters: usize, words: usize, sentences: usize) -> f64 {
    if words == 0 {
        return 0.0;
    }
    let l = letters as f64 * 100.0 / words as f64;
    let s = sentences as f64 * 100.0 / words as f64;
    0.0588 * l - 0.296 * s - 15.8
}

fn is_participle(w: &str) -> bool {
    lexicon::IRREGULAR_PARTICIPLES.contains(&w)
        || (w.len() > 3 && w.ends_with("ed") && !lexicon::NOT_PASSIVE_ED.contains(&w))
}

/// Whether the (lower-case) words of a sentence contain a passive construction.
fn is_passive(words: &[String]) -> bool {
    words.iter().enumerate().any(|(i, w)| {
        let aux =
            lexicon::BE_FORMS.contains(&w.as_str()) || w.ends_with("'re") || w.ends_with("'m");
        if !aux {
            return false;
        }
        for next in words.iter().skip(i + 1).take(3) {
            if is_participle(next) {
                return true;
            }
            let adverb = lexicon::BETWEEN.contains(&next.as_str())
                || (next.len() > 4 && next.ends_with("ly"));
            if !adverb {
                return false;
            }
        }
        false
    })
}

fn phrase_pattern(phrases: &[&str]) -> Option<Regex> {
    let mut sorted: Vec<&str> = phrases.to_vec();
    sorted.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let alts: Vec<String> = sorted.iter().map(|p| regex::escape(p)).collect();
    Regex::new(&format!(r"\b(?:{})\b", alts.join("|"))).ok()
}

static TONES: LazyLock<[Option<Regex>; 4]> = LazyLock::new(|| {
    [
        phrase_pattern(lexicon::FORMAL),
        phrase_pattern(lexicon::CASUAL),
        phrase_pattern(lexicon::FRIENDLY),
        phrase_pattern(lexicon::PROFESSIONAL),
    ]
});

static CONTRACTION: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\b\p{L}+(?:n't|'re|'ll|'ve|'m|'d)\b").ok());

fn tone_scores(text: &str, words: usize) -> ToneScores {
    if words == 0 {
        return ToneScores::default();
    }
    let lower = text.to_lowercase().replace('’', "'");
    let hits = |i: usize| {
        TONES[i]
            .as_ref()
            .map_or(0, |re| re.find_iter(&lower).count()) as f64
    };
    let contractions = CONTRACTION
        .as_ref()
        .map_or(0, |re| re.find_iter(&lower).count()) as f64;
    let bangs = text.matches('!').count() as f64;
    let emoji = text
        .chars()
        .filter(|c| lexicon::FRIENDLY_EMOJI.contains(c))
        .count() as f64;
    let per_100 = |h: f64| h * 100.0 / words as f64;
    ToneScores {
        formal: per_100(hits(0)),
        casual: per_100(hits(1) + 0.5 * contractions),
        friendly: per_100(hits(2) + 0.5 * bangs + emoji),
        professional: per_100(hits(3)),
    }
}

/// Measures `text`.
pub fn analyse(text: &str) -> StyleReport {
    let mut lengths: Vec<usize> = Vec::new();
    let (mut syl, mut poly, mut letters, mut passive) = (0, 0, 0, 0);
    for span in text::sentence_spans(text) {
        let words = text::word_spans(&text[span]);
        if words.is_empty() {
            continue;
        }
        lengths.push(words.len());
        let mut lower = Vec::with_capacity(words.len());
        for (_, w) in &words {
            let n = syllables(w);
            syl += n;
            poly += usize::from(n >= 3);
            letters += w.chars().filter(|c| c.is_alphanumeric()).count();
            lower.push(w.to_lowercase().replace('’', "'"));
        }
        passive += usize::from(is_passive(&lower));
    }
    let sentences = lengths.len();
    let words: usize = lengths.iter().sum();
    let mean = if sentences == 0 {
        0.0
    } else {
        words as f64 / sentences as f64
    };
    let variance = if sentences == 0 {
        0.0
    } else {
        lengths
            .iter()
            .map(|&n| (n as f64 - mean).powi(2))
            .sum::<f64>()
            / sentences as f64
    };
    StyleReport {
        sentences,
        words,
        syllables: syl,
        polysyllables: poly,
        letters,
        flesch_reading_ease: flesch_reading_ease(words, sentences, syl),
        flesch_kincaid_grade: flesch_kincaid_grade(words, sentences, syl),
        smog: smog(poly, sentences),
        coleman_liau: coleman_liau(letters, words, sentences),
        passive_share: if sentences == 0 {
            0.0
        } else {
            passive as f64 / sentences as f64
        },
        mean_sentence_words: mean,
        max_sentence_words: lengths.iter().copied().max().unwrap_or(0),
        sentence_words_stddev: variance.sqrt(),
        tone: tone_scores(text, words),
    }
}

/// The outcome of [`check`].
#[derive(Clone, Debug, PartialEq)]
pub struct StyleVerdict {
    /// Every given bound holds.
    pub pass: bool,
    /// The share of the given bounds that hold; 1 when none is given.
    pub score: f64,
    /// One message per failed bound, e.g. "Flesch–Kincaid grade 12.4 > max 8".
    pub failures: Vec<String>,
    /// One line of the main measurements.
    pub summary: String,
}

/// Whether `phrase` occurs in `text`, case-insensitively and on word boundaries (a boundary is
/// only required where the phrase starts or ends with a letter or digit).
pub(crate) fn contains_phrase(text: &str, phrase: &str) -> bool {
    let p = phrase.trim();
    if p.is_empty() {
        return false;
    }
    let word_char = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let body = p
        .split_whitespace()
        .map(regex::escape)
        .collect::<Vec<_>>()
        .join(r"\s+");
    let pattern = format!(
        "(?i){}{body}{}",
        if word_char(p.chars().next()) {
            r"\b"
        } else {
            ""
        },
        if word_char(p.chars().last()) {
            r"\b"
        } else {
            ""
        },
    );
    match Regex::new(&pattern) {
        Ok(re) => re.is_match(text),
        Err(_) => text.to_lowercase().contains(&p.to_lowercase()),
    }
}

/// Checks `text` against the bounds of `spec`. Each numeric bound, the tone, each banned phrase
/// and each required phrase is one bound.
pub fn check(text: &str, spec: &StyleSpec) -> StyleVerdict {
    let r = analyse(text);
    let mut failures = Vec::new();
    let mut total = 0usize;
    let mut bound = |holds: bool, message: String| {
        total += 1;
        if !holds {
            failures.push(message);
        }
    };
    if let Some(min) = spec.min_reading_ease {
        let v = r.flesch_reading_ease;
        bound(v >= min, format!("reading ease {v:.1} < min {min}"));
    }
    if let Some(max) = spec.max_reading_ease {
        let v = r.flesch_reading_ease;
        bound(v <= max, format!("reading ease {v:.1} > max {max}"));
    }
    if let Some(max) = spec.max_grade {
        let v = r.flesch_kincaid_grade;
        bound(v <= max, format!("Flesch–Kincaid grade {v:.1} > max {max}"));
    }
    if let Some(max) = spec.max_smog {
        bound(r.smog <= max, format!("SMOG {:.1} > max {max}", r.smog));
    }
    if let Some(max) = spec.max_coleman_liau {
        let v = r.coleman_liau;
        bound(v <= max, format!("Coleman–Liau {v:.1} > max {max}"));
    }
    if let Some(max) = spec.max_passive {
        let v = r.passive_share;
        bound(
            v <= max,
            format!("passive {:.0}% > max {:.0}%", v * 100.0, max * 100.0),
        );
    }
    if let Some(max) = spec.max_sentence_words {
        let v = r.max_sentence_words;
        bound(
            v as f64 <= max,
            format!("longest sentence {v} words > max {max}"),
        );
    }
    if let Some(max) = spec.max_mean_sentence_words {
        let v = r.mean_sentence_words;
        bound(v <= max, format!("mean sentence {v:.1} words > max {max}"));
    }
    if let Some(want) = spec.tone {
        let message = match r.tone.dominant() {
            Some(d) => format!(
                "tone is {} ({:.1} per 100 words), expected {}",
                d.as_str(),
                r.tone.get(d),
                want.as_str()
            ),
            None => format!(
                "no tone detected (no lexicon hits), expected {}",
                want.as_str()
            ),
        };
        bound(r.tone.dominant() == Some(want), message);
    }
    for phrase in &spec.banned {
        bound(
            !contains_phrase(text, phrase),
            format!("banned phrase {phrase:?} found"),
        );
    }
    for phrase in &spec.required {
        bound(
            contains_phrase(text, phrase),
            format!("required phrase {phrase:?} missing"),
        );
    }
    let score = if total == 0 {
        1.0
    } else {
        (total - failures.len()) as f64 / total as f64
    };
    StyleVerdict {
        pass: failures.is_empty(),
        score,
        failures,
        summary: summary(&r),
    }
}

fn summary(r: &StyleReport) -> String {
    format!(
        "reading ease {:.1}, grade {:.1}, SMOG {:.1}, Coleman–Liau {:.1}, passive {:.0}%, \
         mean sentence {:.1} words, tone {}",
        r.flesch_reading_ease,
        r.flesch_kincaid_grade,
        r.smog,
        r.coleman_liau,
        r.passive_share * 100.0,
        r.mean_sentence_words,
        r.tone.dominant().map_or("none", Tone::as_str),
    )
}
