//! Values of claims and facts (quantities with units, dates, names) and how they compare.

use gauntlet_core::evaluators::Fact;
use serde_json::Value;

/// A unit: its dimension (`length`, `usd`, `percent`, a counted noun such as `user`, or empty
/// when none is given), its factor to the dimension's base unit, and a multiplier (`million`).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Unit {
    pub dim: String,
    pub factor: f64,
    pub mult: f64,
}

impl Unit {
    fn none() -> Unit {
        Unit {
            dim: String::new(),
            factor: 1.0,
            mult: 1.0,
        }
    }

    /// Whether quantities in the two units can be compared: same dimension, or either has none.
    pub fn compatible(&self, other: &Unit) -> bool {
        self.dim.is_empty() || other.dim.is_empty() || self.dim == other.dim
    }
}

const MULTIPLIERS: &[(&str, f64)] = &[
    ("thousand", 1e3),
    ("million", 1e6),
    ("billion", 1e9),
    ("trillion", 1e12),
    ("mn", 1e6),
    ("bn", 1e9),
    ("tn", 1e12),
];

/// Multipliers only read after a currency (`$4.2m`, `€3k`).
const CURRENCY_MULTIPLIERS: &[(&str, f64)] = &[("k", 1e3), ("m", 1e6), ("b", 1e9)];

const UNITS: &[(&str, &str, f64)] = &[
    ("%", "percent", 1.0),
    ("percent", "percent", 1.0),
    ("pct", "percent", 1.0),
    ("mm", "length", 0.001),
    ("millimeters", "length", 0.001),
    ("millimetres", "length", 0.001),
    ("cm", "length", 0.01),
    ("centimeters", "length", 0.01),
    ("centimetres", "length", 0.01),
    ("m", "length", 1.0),
    ("meters", "length", 1.0),
    ("metres", "length", 1.0),
    ("km", "length", 1000.0),
    ("kilometers", "length", 1000.0),
    ("kilometres", "length", 1000.0),
    ("ft", "length", 0.3048),
    ("feet", "length", 0.3048),
    ("foot", "length", 0.3048),
    ("mi", "length", 1609.344),
    ("miles", "length", 1609.344),
    ("mg", "mass", 0.001),
    ("g", "mass", 1.0),
    ("grams", "mass", 1.0),
    ("kg", "mass", 1000.0),
    ("kilograms", "mass", 1000.0),
    ("t", "mass", 1e6),
    ("tonnes", "mass", 1e6),
    ("tons", "mass", 1e6),
    ("lb", "mass", 453.592_37),
    ("lbs", "mass", 453.592_37),
    ("pounds", "mass", 453.592_37),
    ("ms", "time", 0.001),
    ("s", "time", 1.0),
    ("sec", "time", 1.0),
    ("seconds", "time", 1.0),
    ("min", "time", 60.0),
    ("minutes", "time", 60.0),
    ("h", "time", 3600.0),
    ("hr", "time", 3600.0),
    ("hours", "time", 3600.0),
    ("days", "time", 86400.0),
    ("weeks", "time", 604_800.0),
    ("$", "usd", 1.0),
    ("us$", "usd", 1.0),
    ("usd", "usd", 1.0),
    ("dollars", "usd", 1.0),
    ("€", "eur", 1.0),
    ("eur", "eur", 1.0),
    ("euros", "eur", 1.0),
    ("£", "gbp", 1.0),
    ("gbp", "gbp", 1.0),
    ("¥", "jpy", 1.0),
    ("jpy", "jpy", 1.0),
    ("yen", "jpy", 1.0),
];

/// Words after a number that are not what it counts.
const NOT_NOUNS: &[&str] = &[
    "and", "or", "of", "in", "on", "at", "to", "for", "by", "from", "with", "per", "than", "the",
    "a", "an", "is", "was", "are", "were", "be", "has", "had", "have", "more", "less", "times",
    "that", "which", "who", "as", "but", "so", "if", "it", "its", "this", "these", "those", "tall",
    "high", "long", "wide", "deep", "old", "away", "each", "total", "all", "out", "up",
];

fn singular(w: &str) -> &str {
    w.strip_suffix('s').filter(|s| s.len() >= 2).unwrap_or(w)
}

/// A known unit: a symbol or code as written (`m`, `%`, `$`), or a longer name in any case,
/// singular or plural (`Metres`, `dollar`, `USD`).
fn known_unit(word: &str) -> Option<(&'static str, f64)> {
    let lower = word.to_lowercase();
    let plural = format!("{lower}s");
    UNITS
        .iter()
        .find(|(n, _, _)| *n == word)
        .or_else(|| {
            UNITS
                .iter()
                .find(|(n, _, _)| n.len() > 2 && (*n == lower || *n == plural))
        })
        .map(|&(_, d, f)| (d, f))
}

/// A quantity as written in text: `$4.2 billion`, `330 m`, `12%`, `1,024 users`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Quantity {
    /// The number as written (before multiplier and unit).
    pub value: f64,
    /// The number's digits as written (`1,024`).
    pub literal: String,
    pub unit: Unit,
}

/// The number at the start of `s` (digits with optional thousands commas and decimals), its
/// value and its length in bytes.
pub(super) fn leading_number(s: &str) -> Option<(f64, usize)> {
    let len = s
        .char_indices()
        .take_while(|&(i, c)| {
            c.is_ascii_digit()
                || ((c == ',' || c == '.')
                    && s[i + 1..].starts_with(|n: char| n.is_ascii_digit())
                    && i > 0)
        })
        .count();
    if len == 0 {
        return None;
    }
    let digits: String = s[..len].chars().filter(|&c| c != ',').collect();
    digits.parse().ok().map(|v| (v, len))
}

/// The next token of `s` after at most one space: a run of letters, or `%`. Returns the token
/// and the byte offset just after it.
fn next_token(s: &str) -> Option<(&str, usize)> {
    let skip = if s.starts_with(' ') || s.starts_with('\u{a0}') {
        s.chars().next().map_or(0, char::len_utf8)
    } else {
        0
    };
    let rest = &s[skip..];
    if rest.starts_with('%') {
        return Some(("%", skip + 1));
    }
    let len: usize = rest
        .chars()
        .take_while(|c| c.is_alphabetic())
        .map(char::len_utf8)
        .sum();
    (len > 0).then(|| (&rest[..len], skip + len))
}

/// Reads the multiplier and unit written after a number: returns the unit and the bytes read.
pub(super) fn read_unit(after: &str, currency: Option<&str>) -> (Unit, usize) {
    let mut unit = Unit::none();
    if let Some(c) = currency.and_then(known_unit) {
        unit.dim = c.0.to_owned();
    }
    let mut pos = 0;
    if let Some((tok, end)) = next_token(after) {
        let lower = tok.to_lowercase();
        let mult = MULTIPLIERS
            .iter()
            .chain(if currency.is_some() {
                CURRENCY_MULTIPLIERS
            } else {
                &[]
            })
            .find(|(n, _)| *n == lower);
        if let Some(&(_, m)) = mult {
            unit.mult = m;
            pos = end;
        }
    }
    if let Some((tok, end)) = next_token(&after[pos..]) {
        let lower = tok.to_lowercase();
        if lower == "per" && after[pos + end..].starts_with(" cent") {
            unit.dim = "percent".into();
            return (unit, pos + end + 5);
        }
        if let Some((dim, factor)) = known_unit(tok) {
            if unit.dim.is_empty() || unit.dim == dim {
                unit.dim = dim.to_owned();
                unit.factor = factor;
                pos += end;
            }
        } else if unit.dim.is_empty()
            && tok.chars().all(char::is_lowercase)
            && tok.len() >= 3
            && !NOT_NOUNS.contains(&tok)
        {
            unit.dim = singular(tok).to_owned();
            pos += end;
        }
    }
    (unit, pos)
}

/// A unit as given in a fact (`m`, `billion USD`, `%`, `users`).
fn parse_unit(s: &str) -> Unit {
    let mut unit = Unit::none();
    for tok in s.split_whitespace() {
        let lower = tok.to_lowercase();
        if let Some(&(_, m)) = MULTIPLIERS.iter().find(|(n, _)| *n == lower) {
            unit.mult *= m;
        } else if let Some((dim, factor)) = known_unit(tok) {
            unit.dim = dim.to_owned();
            unit.factor = factor;
        } else {
            unit.dim = singular(&lower).to_owned();
        }
    }
    unit
}

/// A date at year, month or day precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct DateVal {
    pub year: i32,
    pub month: Option<u32>,
    pub day: Option<u32>,
}

impl DateVal {
    pub fn new(year: i32, month: Option<u32>, day: Option<u32>) -> Option<DateVal> {
        let month_ok = month.is_none_or(|m| (1..=12).contains(&m));
        let day_ok =
            day.is_none_or(|d| (1..=31).contains(&d)) && (day.is_none() || month.is_some());
        (month_ok && day_ok).then_some(DateVal { year, month, day })
    }

    /// Equal at the precision both dates have.
    pub fn agrees(&self, other: &DateVal) -> bool {
        let same = |a: Option<u32>, b: Option<u32>| a.zip(b).is_none_or(|(a, b)| a == b);
        self.year == other.year && same(self.month, other.month) && same(self.day, other.day)
    }

    pub fn display(&self) -> String {
        match (self.month, self.day) {
            (Some(m), Some(d)) => format!("{:04}-{m:02}-{d:02}", self.year),
            (Some(m), None) => format!("{:04}-{m:02}", self.year),
            _ => format!("{:04}", self.year),
        }
    }
}

/// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
pub(super) fn parse_iso(s: &str) -> Option<DateVal> {
    let parts: Vec<&str> = s.trim().split('-').collect();
    let num = |p: &str, len: usize| {
        (p.len() == len && p.chars().all(|c| c.is_ascii_digit()))
            .then(|| p.parse::<u32>().ok())
            .flatten()
    };
    let year = num(parts[0], 4)? as i32;
    match parts.len() {
        1 => DateVal::new(year, None, None),
        2 => DateVal::new(year, Some(num(parts[1], 2)?), None),
        3 => DateVal::new(year, Some(num(parts[1], 2)?), Some(num(parts[2], 2)?)),
        _ => None,
    }
}

/// The number of a month by English name or abbreviation.
pub(super) fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = name.trim_end_matches('.').to_lowercase();
    let prefix = lower.get(..3)?;
    MONTHS
        .iter()
        .position(|m| *m == prefix)
        .map(|i| i as u32 + 1)
}

/// A fact's value, interpreted.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum FactValue {
    Number {
        value: f64,
        /// Decimal places of the value as given: claims are rounded to them before comparing.
        decimals: u32,
        unit: Unit,
        display: String,
        tolerance: Option<f64>,
    },
    Date(DateVal),
    Text(String),
}

fn decimals(literal: &str) -> u32 {
    literal.split_once('.').map_or(0, |(_, f)| {
        f.chars().take_while(char::is_ascii_digit).count() as u32
    })
}

fn with_unit(number: &str, unit: Option<&str>) -> String {
    match unit.map(str::trim) {
        None | Some("") => number.to_owned(),
        Some("%") => format!("{number}%"),
        Some(u @ ("$" | "€" | "£" | "¥")) => format!("{u}{number}"),
        Some(u) => format!("{number} {u}"),
    }
}

/// How a fact's value is read: a number (JSON number or numeric string, with the fact's unit);
/// a date (`YYYY`, `YYYY-MM`, `YYYY-MM-DD` strings, or a unit-less whole number from 1000 to
/// 2099, taken as a year); any other string is a text such as a name. Other JSON is ignored.
pub(super) fn fact_value(f: &Fact) -> Option<FactValue> {
    let number = |value: f64, literal: &str| {
        let unit_text = f.unit.as_deref();
        if unit_text.is_none() && value.fract() == 0.0 && (1000.0..2100.0).contains(&value) {
            return DateVal::new(value as i32, None, None).map(FactValue::Date);
        }
        Some(FactValue::Number {
            value,
            decimals: decimals(literal),
            unit: unit_text.map_or_else(Unit::none, parse_unit),
            display: with_unit(literal, unit_text),
            tolerance: f.tolerance,
        })
    };
    match &f.value {
        Value::Number(n) => number(n.as_f64()?, &n.to_string()),
        Value::String(s) => {
            let t = s.trim();
            if let Some(d) = parse_iso(t) {
                return Some(FactValue::Date(d));
            }
            match leading_number(t) {
                Some((v, len)) if len == t.len() => number(v, t),
                _ => (!t.is_empty()).then(|| FactValue::Text(t.to_owned())),
            }
        }
        _ => None,
    }
}

impl FactValue {
    pub fn display(&self) -> String {
        match self {
            FactValue::Number { display, .. } => display.clone(),
            FactValue::Date(d) => d.display(),
            FactValue::Text(t) => t.clone(),
        }
    }
}

fn round_to(x: f64, decimals: u32) -> f64 {
    let p = 10f64.powi(decimals.min(12) as i32);
    (x * p).round() / p
}

/// Whether a written quantity states a numeric fact: converted to the fact's unit, rounded to
/// the fact's decimal places, it equals the fact's value, or lies within its relative tolerance.
/// `None` when the units cannot be compared.
pub(super) fn quantity_matches(q: &Quantity, fact: &FactValue) -> Option<bool> {
    let FactValue::Number {
        value,
        decimals,
        unit,
        tolerance,
        ..
    } = fact
    else {
        return None;
    };
    if !q.unit.compatible(unit) {
        return None;
    }
    let claimed = if q.unit.dim.is_empty() || unit.dim.is_empty() {
        q.value * q.unit.mult / unit.mult
    } else {
        q.value * q.unit.mult * q.unit.factor / (unit.mult * unit.factor)
    };
    let eps = 1e-9 * value.abs().max(1.0);
    let rounded = (round_to(claimed, *decimals) - value).abs() <= eps;
    let within = tolerance.is_some_and(|t| (claimed - value).abs() <= t * value.abs() + eps);
    Some(rounded || within)
}

/// Lower case, single spaces, no surrounding punctuation or leading "the".
pub(super) fn normalise(s: &str) -> String {
    let joined = s
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .replace('’', "'");
    let trimmed = joined.trim_matches(|c: char| !c.is_alphanumeric());
    let trimmed = trimmed.strip_suffix("'s").unwrap_or(trimmed);
    trimmed.strip_prefix("the ").unwrap_or(trimmed).to_owned()
}

/// Whether `needle` occurs in `hay` as whole words (both normalised).
pub(super) fn contains_words(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}
