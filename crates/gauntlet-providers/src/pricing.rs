//! Prices per million tokens, built in for common models and overridable per provider.

use gauntlet_core::model::{Price, Provider};
use gauntlet_core::result::Tokens;

/// USD per million tokens (input, output), list prices of the vendors' public pages.
const BUILT_IN: &[(&str, f64, f64)] = &[
    ("gpt-5", 1.25, 10.0),
    ("gpt-5-mini", 0.25, 2.0),
    ("gpt-5-nano", 0.05, 0.40),
    ("gpt-4.1", 2.0, 8.0),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4o", 2.50, 10.0),
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4-turbo", 10.0, 30.0),
    ("gpt-3.5-turbo", 0.50, 1.50),
    ("o1", 15.0, 60.0),
    ("o1-mini", 1.10, 4.40),
    ("o3", 2.0, 8.0),
    ("o3-mini", 1.10, 4.40),
    ("o4-mini", 1.10, 4.40),
    ("claude-opus-4", 15.0, 75.0),
    ("claude-sonnet-4", 3.0, 15.0),
    ("claude-haiku-4", 1.0, 5.0),
    ("claude-3-7-sonnet", 3.0, 15.0),
    ("claude-3-5-sonnet", 3.0, 15.0),
    ("claude-3-5-haiku", 0.80, 4.0),
    ("claude-3-haiku", 0.25, 1.25),
    ("gemini-2.5-pro", 1.25, 10.0),
    ("gemini-2.5-flash", 0.30, 2.50),
    ("gemini-2.0-flash", 0.10, 0.40),
    ("gemini-1.5-pro", 1.25, 5.0),
    ("gemini-1.5-flash", 0.075, 0.30),
    ("mistral-large", 2.0, 6.0),
    ("mistral-small", 0.20, 0.60),
];

/// The price of `model`: the provider's override, else the built-in entry whose name is the
/// longest prefix of the model name (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`). Unknown
/// models (and the mock's default `mock`) cost nothing.
pub fn price(provider: Option<&Provider>, model: &str) -> Price {
    if let Some(p) = provider.and_then(|p| p.pricing.get(model)) {
        return *p;
    }
    let m = model.to_ascii_lowercase();
    let m = m.rsplit('/').next().unwrap_or(&m).to_owned();
    BUILT_IN
        .iter()
        .filter(|(name, _, _)| m.starts_with(name))
        .max_by_key(|(name, _, _)| name.len())
        .map_or(
            Price {
                input_per_mtok: 0.0,
                output_per_mtok: 0.0,
            },
            |(_, i, o)| Price {
                input_per_mtok: *i,
                output_per_mtok: *o,
            },
        )
}

pub fn cost(price: Price, tokens: Tokens) -> f64 {
    (tokens.input as f64 * price.input_per_mtok + tokens.output as f64 * price.output_per_mtok)
        / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        assert_eq!(price(None, "gpt-4o-mini-2024-07-18").input_per_mtok, 0.15);
        assert_eq!(price(None, "gpt-4o").input_per_mtok, 2.50);
        assert_eq!(
            price(None, "claude-sonnet-4-20250514").output_per_mtok,
            15.0
        );
        assert_eq!(price(None, "openai/gpt-4.1-mini").output_per_mtok, 1.60);
        assert_eq!(price(None, "mock").input_per_mtok, 0.0);
        let c = cost(
            price(None, "gpt-4o-mini"),
            Tokens {
                input: 1_000_000,
                output: 1_000_000,
            },
        );
        assert!((c - 0.75).abs() < 1e-12);
    }
}
