//! Splitting text into sentences and words, and counting syllables. Shared with
//! [`crate::factuality`], which numbers claims by sentence.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// Words: dotted acronyms (`U.S.`, `e.g.`), alphanumeric tokens with at least one letter and
/// inner apostrophes or hyphens (`don't`, `well-known`, `COVID-19`), and numbers (`3.14`, `1,024`).
static WORD: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?:\p{L}\.){2,}|[\p{L}\p{N}]*\p{L}[\p{L}\p{N}]*(?:['’\-][\p{L}\p{N}]+)*|\p{N}+(?:[.,:]\p{N}+)*",
    )
    .ok()
});

/// Abbreviations after which a period never ends a sentence (lower case, without the period).
const NEVER_END: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "rev", "gen", "col", "lt", "sgt", "capt", "hon", "st", "mt",
    "vs", "e.g", "i.e", "cf", "fig", "figs", "no", "nos", "vol", "pp", "approx", "al", "dept",
    "ca", "viz", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec", "ave", "blvd",
];

/// Abbreviations that end a sentence only when a typical sentence opener follows.
const SOFT_END: &[&str] = &[
    "etc", "inc", "ltd", "co", "corp", "jr", "sr", "est", "min", "max", "a.m", "p.m",
];

/// Words that usually open a sentence, used after soft abbreviations (`… in the U.S. The …`).
const OPENERS: &[&str] = &[
    "the", "a", "an", "it", "this", "that", "these", "those", "they", "we", "he", "she", "i",
    "you", "in", "but", "and", "so", "however", "there", "our", "its", "his", "her", "their", "my",
    "if", "when", "after", "before", "for", "as", "on", "at", "then", "also",
];

/// The byte ranges of the sentences of `text`, trimmed, each holding at least one letter or digit.
///
/// Line breaks (see `blocks`), blank lines and list items (`- `, `* `, `1. `, `# `) end
/// sentences; inside a line,
/// `.`, `!`, `?` and ellipses do, except after abbreviations (`Dr.`, `e.g.`, `U.S.`), in numbers
/// (`3.14`) and where no space follows (`example.com`). An ellipsis ends a sentence only when a
/// capital letter follows. Text without final punctuation is a sentence too.
pub(crate) fn sentence_spans(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for block in blocks(text) {
        split_block(text, block, &mut out);
    }
    out
}

fn is_list_item(line: &str) -> bool {
    let t = line.trim_start();
    if t.starts_with("- ") || t.starts_with("* ") || t.starts_with("• ") || t.starts_with('#') {
        return true;
    }
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && (t[digits..].starts_with(". ") || t[digits..].starts_with(") "))
}

/// Paragraphs, lines and list items, as byte ranges. A line continues the previous one only
/// when it starts with a lower-case letter or the previous line ends with `,` or `;` (hard-wrapped
/// prose); otherwise a line break ends a sentence ("Designer: Gustave Eiffel" lines, headings).
fn blocks(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut prev_end = ' ';
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let line_start = pos;
        pos += line.len();
        let trimmed = line.trim();
        if trimmed.is_empty() {
            if let Some(s) = start.take() {
                out.push(s..line_start);
            }
            continue;
        }
        let continues = !is_list_item(line)
            && (trimmed.starts_with(char::is_lowercase) || matches!(prev_end, ',' | ';'));
        if !continues && let Some(s) = start.take() {
            out.push(s..line_start);
        }
        if start.is_none() {
            start = Some(line_start);
        }
        prev_end = trimmed.chars().next_back().unwrap_or(' ');
    }
    if let Some(s) = start {
        out.push(s..text.len());
    }
    out
}

fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | '”' | '’' | ')' | ']' | '»')
}

fn split_block(text: &str, block: Range<usize>, out: &mut Vec<Range<usize>>) {
    let chars: Vec<(usize, char)> = text[block.clone()]
        .char_indices()
        .map(|(i, c)| (block.start + i, c))
        .collect();
    let byte_at = |i: usize| chars.get(i).map_or(block.end, |&(b, _)| b);
    let mut start = block.start;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        let ellipsis = c == '…' || (c == '.' && chars.get(i + 1).is_some_and(|&(_, n)| n == '.'));
        if !matches!(c, '.' | '!' | '?' | '…') {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() && matches!(chars[j].1, '.' | '!' | '?' | '…') {
            j += 1;
        }
        while j < chars.len() && is_closer(chars[j].1) {
            j += 1;
        }
        let followed_by_space = j >= chars.len() || chars[j].1.is_whitespace();
        let next_word = next_word(&text[byte_at(j)..block.end]);
        let ends = followed_by_space
            && if ellipsis {
                next_word.is_empty() || next_word.starts_with(char::is_uppercase)
            } else if c == '.' && j == i + 1 {
                period_ends(&text[start..chars[i].0], next_word)
            } else {
                true
            };
        if ends {
            push_trimmed(text, start..byte_at(j), out);
            start = byte_at(j);
        }
        i = j;
    }
    push_trimmed(text, start..block.end, out);
}

/// The first whitespace-separated token of `rest`, without surrounding punctuation.
fn next_word(rest: &str) -> &str {
    rest.split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches(|c: char| !c.is_alphanumeric())
}

/// Whether a single period after `before` (the sentence so far) ends the sentence.
fn period_ends(before: &str, next: &str) -> bool {
    let token = before
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or("")
        .trim_start_matches(|c: char| !c.is_alphanumeric());
    let lower = token.to_lowercase();
    if next.is_empty() {
        return true;
    }
    let opener = OPENERS.contains(&next.to_lowercase().as_str());
    if NEVER_END.contains(&lower.as_str()) {
        return false;
    }
    let single_letter = token.chars().count() == 1 && token.starts_with(char::is_uppercase);
    let acronym = token.contains('.') && token.chars().all(|c| c.is_alphabetic() || c == '.');
    if SOFT_END.contains(&lower.as_str()) || single_letter || acronym {
        return opener || (lower == "etc" && next.starts_with(char::is_uppercase));
    }
    true
}

fn push_trimmed(text: &str, r: Range<usize>, out: &mut Vec<Range<usize>>) {
    let s = &text[r.clone()];
    let lead = s.len() - s.trim_start().len();
    let trail = s.len() - s.trim_end().len();
    if s.chars().any(char::is_alphanumeric) {
        out.push(r.start + lead..r.end - trail);
    }
}

/// The words of `text` with their byte ranges.
pub(crate) fn word_spans(text: &str) -> Vec<(Range<usize>, &str)> {
    match WORD.as_ref() {
        Some(re) => re
            .find_iter(text)
            .map(|m| (m.range(), m.as_str()))
            .collect(),
        None => Vec::new(),
    }
}

/// Syllables a word has in speech, estimated: vowel groups, adjusted for silent `e`, `-ed`,
/// `-es`, common suffixes and split vowel pairs (`ri-ot`, `vi-de-o`), with a few exceptions.
/// Hyphenated words count each part; numbers count as spoken (`100` = "one hundred" = 3);
/// dotted acronyms count a syllable per letter (W counts 3). Every word has at least one.
pub fn syllables(word: &str) -> usize {
    let w = word.trim_matches(|c: char| !c.is_alphanumeric());
    if w.is_empty() {
        return 0;
    }
    if w.chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | ':'))
    {
        return number_syllables(w);
    }
    if w.contains('.') {
        return w
            .chars()
            .filter(|c| c.is_alphabetic())
            .map(|c| if matches!(c, 'w' | 'W') { 3 } else { 1 })
            .sum();
    }
    let lower = w.to_lowercase().replace('’', "'");
    lower
        .split('-')
        .filter(|p| !p.is_empty())
        .map(part_syllables)
        .sum::<usize>()
        .max(1)
}

fn part_syllables(part: &str) -> usize {
    if part.chars().all(|c| c.is_ascii_digit()) {
        return number_syllables(part);
    }
    if let Some(stem) = part.strip_suffix("n't") {
        let extra = usize::from(
            stem != "are" && stem != "were" && stem.ends_with(|c: char| !is_vowel(c) || c == 'e'),
        );
        return core(stem).max(1) + extra;
    }
    let letters: String = part.chars().filter(|c| c.is_alphabetic()).collect();
    core(&letters).max(1)
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y')
}

const EXCEPTIONS: &[(&str, usize)] = &[
    ("area", 3),
    ("idea", 3),
    ("ideas", 3),
    ("create", 2),
    ("created", 3),
    ("creates", 2),
    ("creating", 3),
    ("creation", 3),
    ("people", 2),
    ("business", 2),
    ("every", 2),
    ("evening", 2),
    ("poem", 2),
    ("poet", 2),
    ("recipe", 3),
    ("science", 2),
    ("real", 1),
    ("really", 2),
    ("million", 2),
    ("billion", 2),
    ("trillion", 2),
    ("naive", 2),
    ("quiet", 2),
    ("being", 2),
];

/// Syllables of a lower-case alphabetic word (no hyphens or apostrophes).
fn core(w: &str) -> usize {
    if w.is_empty() {
        return 0;
    }
    if let Some(&(_, n)) = EXCEPTIONS.iter().find(|(e, _)| *e == w) {
        return n;
    }
    let has_vowel = |s: &str| s.chars().any(is_vowel);
    for suffix in ["thing", "ment", "ness", "ful", "less", "ly"] {
        if let Some(stem) = w.strip_suffix(suffix)
            && stem.len() >= 2
            && has_vowel(stem)
        {
            return core(stem).max(1) + 1;
        }
    }
    if let Some(stem) = w.strip_suffix("ing")
        && stem.len() >= 2
        && has_vowel(stem)
    {
        return groups(stem, false).max(1) + 1;
    }
    if let Some(stem) = w.strip_suffix("ed")
        && w.len() > 3
        && has_vowel(stem)
    {
        let cons_r = stem.ends_with('r') && !stem[..stem.len() - 1].ends_with(is_vowel);
        return if stem.ends_with(['t', 'd']) || cons_r {
            groups(stem, false) + 1
        } else {
            groups(stem, false).max(1)
        };
    }
    if let Some(stem) = w.strip_suffix("es")
        && w.len() > 3
        && has_vowel(stem)
    {
        let sibilant = stem.ends_with(['s', 'x', 'z', 'c', 'g'])
            || stem.ends_with("ch")
            || stem.ends_with("sh");
        let syllabic_le = stem.ends_with('l')
            && stem.len() >= 2
            && !is_vowel(stem.chars().rev().nth(1).unwrap_or('a'));
        if sibilant {
            return groups(stem, false).max(1) + 1;
        }
        if stem.ends_with(is_vowel) || syllabic_le {
            return groups(&w[..w.len() - 1], true).max(1);
        }
        return groups(stem, false).max(1);
    }
    groups(w, true).max(1)
}

/// Vowel groups, with split vowel pairs counted twice and, if `silent_e`, a final silent `e`
/// dropped.
fn groups(w: &str, silent_e: bool) -> usize {
    let c: Vec<char> = w.chars().collect();
    let vowel_at = |i: usize| {
        let ch = c[i];
        if ch == 'y' {
            return i > 0
                && !c
                    .get(i + 1)
                    .is_some_and(|&n| matches!(n, 'a' | 'e' | 'i' | 'o' | 'u'));
        }
        if ch == 'u' && i > 0 && c[i - 1] == 'q' {
            return false;
        }
        is_vowel(ch)
    };
    let mut count = 0;
    let mut prev = false;
    for i in 0..c.len() {
        let v = vowel_at(i);
        if v && (!prev || split_pair(&c, i)) {
            count += 1;
        }
        prev = v;
    }
    let n = c.len();
    if silent_e && count > 1 && n >= 2 && c[n - 1] == 'e' {
        let before = c[n - 2];
        let cons_le =
            (before == 'l' || before == 'r') && n >= 3 && !is_vowel(c[n - 3]) && c[n - 3] != 'r';
        if !cons_le && !vowel_at(n - 2) {
            count -= 1;
        }
    }
    count
}

/// Whether the vowels at `i - 1` and `i` belong to different syllables (`di-al`, `vi-de-o`).
fn split_pair(c: &[char], i: usize) -> bool {
    let (a, b) = (c[i - 1], c[i]);
    let before = if i >= 2 { c[i - 2] } else { ' ' };
    let after = c.get(i + 1).copied().unwrap_or(' ');
    let soft = matches!(before, 't' | 's' | 'c' | 'x' | 'g');
    match (a, b) {
        ('i', 'a') => !(soft && matches!(after, 'l' | 'n')),
        ('i', 'o') => {
            let double_l = before == 'l' && i >= 3 && c[i - 3] == 'l';
            !((soft || double_l || before == 'n') && matches!(after, 'n' | 'u' | 'r'))
        }
        ('i', 'u') => before != 'q',
        ('e', 'o') => after != 'u',
        ('u', 'a') => before != 'g' && before != 'q',
        ('i', 'e') => {
            after == 't'
                || (matches!(after, 'n')
                    && !soft
                    && c.get(i + 2).is_some_and(|&x| x == 't' || x == 'c'))
        }
        _ => false,
    }
}

const ONES: [usize; 10] = [2, 1, 1, 1, 1, 1, 1, 2, 1, 1];
const TEENS: [usize; 10] = [1, 3, 1, 2, 2, 2, 2, 3, 2, 2];
const TENS: [usize; 10] = [0, 0, 2, 2, 2, 2, 2, 3, 2, 2];

fn below_100(n: u64) -> usize {
    let (t, o) = ((n / 10) as usize, (n % 10) as usize);
    match (t, o) {
        (0, 0) => 0,
        (0, o) => ONES[o],
        (1, o) => TEENS[o],
        (t, 0) => TENS[t],
        (t, o) => TENS[t] + ONES[o],
    }
}

fn below_1000(n: u64) -> usize {
    let h = (n / 100) as usize;
    let hundreds = if h > 0 { ONES[h] + 2 } else { 0 };
    hundreds + below_100(n % 100)
}

/// Syllables of a number as spoken: `1889` as "eighteen eighty-nine", `3.14` as "three point one
/// four", `1,024` as "one thousand twenty-four".
fn number_syllables(tok: &str) -> usize {
    let (int, frac) = tok.split_once('.').unwrap_or((tok, ""));
    let digits: String = int.chars().filter(char::is_ascii_digit).collect();
    let frac_syl: usize = if frac.is_empty() {
        0
    } else {
        1 + frac
            .chars()
            .filter_map(|c| c.to_digit(10))
            .map(|d| ONES[d as usize])
            .sum::<usize>()
    };
    let Ok(n) = digits.parse::<u64>() else {
        return digits.chars().count().max(1) + frac_syl;
    };
    let int_syl = if n == 0 {
        2
    } else if digits.len() == 4
        && !int.contains(',')
        && ((1100..2000).contains(&n) || (2010..2100).contains(&n))
    {
        let (hi, lo) = (n / 100, n % 100);
        below_100(hi)
            + match lo {
                0 => 2,
                1..=9 => 1 + ONES[lo as usize],
                _ => below_100(lo),
            }
    } else {
        let mut total = 0;
        let mut rest = n;
        let mut scale = 0;
        while rest > 0 {
            let group = rest % 1000;
            if group > 0 {
                total += below_1000(group) + if scale > 0 { 2 } else { 0 };
            }
            rest /= 1000;
            scale += 1;
        }
        total
    };
    int_syl + frac_syl
}
