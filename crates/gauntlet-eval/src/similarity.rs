//! Text similarity scores in [0, 1].

use std::collections::HashMap;

/// 1 − Levenshtein distance / length of the longer text, over characters.
pub fn levenshtein(a: &str, b: &str) -> f64 {
    strsim::normalized_levenshtein(a, b)
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// F1 of the two texts' word multisets (lower-cased, punctuation ignored), as in SQuAD.
pub fn token_overlap(a: &str, b: &str) -> f64 {
    let (wa, wb) = (words(a), words(b));
    if wa.is_empty() && wb.is_empty() {
        return 1.0;
    }
    if wa.is_empty() || wb.is_empty() {
        return 0.0;
    }
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for w in &wb {
        *counts.entry(w.as_str()).or_default() += 1;
    }
    let mut common = 0;
    for w in &wa {
        if let Some(c) = counts.get_mut(w.as_str())
            && *c > 0
        {
            *c -= 1;
            common += 1;
        }
    }
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / wa.len() as f64;
    let recall = common as f64 / wb.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert!((levenshtein("hello world", "hello word") - 10.0 / 11.0).abs() < 1e-9);
        assert_eq!(levenshtein("", ""), 1.0);
        assert!((token_overlap("the cat sat", "the cat ran") - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(token_overlap("a", "b"), 0.0);
    }
}
