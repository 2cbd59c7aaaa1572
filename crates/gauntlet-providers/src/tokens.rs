//! Token counting with the OpenAI BPE vocabularies (`tiktoken`).
//!
//! Models of the GPT-4o generation and later use `o200k_base`; everything else is counted with
//! `cl100k_base`, a close estimate for other vendors whose real counts come from their usage
//! fields. Vocabularies load lazily, once per process.

use tiktoken_rs::CoreBPE;

/// The BPE vocabularies Gauntlet counts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vocabulary {
    Cl100k,
    O200k,
}

fn vocabulary(model: &str) -> Vocabulary {
    let m = model.to_ascii_lowercase();
    let o200k = [
        "gpt-4o",
        "gpt-4.1",
        "gpt-4.5",
        "gpt-5",
        "o1",
        "o3",
        "o4",
        "chatgpt-4o",
    ]
    .iter()
    .any(|p| m.starts_with(p));
    if o200k {
        Vocabulary::O200k
    } else {
        Vocabulary::Cl100k
    }
}

fn load(v: Vocabulary) -> &'static CoreBPE {
    match v {
        Vocabulary::O200k => tiktoken_rs::o200k_base_singleton(),
        Vocabulary::Cl100k => tiktoken_rs::cl100k_base_singleton(),
    }
}

fn encoder(model: &str) -> &'static CoreBPE {
    load(vocabulary(model))
}

/// Builds the vocabularies `models` need on background threads, so that the first count
/// does not wait for them (building one takes 40–90 ms; the caller goes on meanwhile).
pub fn prewarm<'a>(models: impl IntoIterator<Item = &'a str>) {
    let mut wanted: Vec<Vocabulary> = Vec::new();
    for m in models {
        let v = vocabulary(m);
        if !wanted.contains(&v) {
            wanted.push(v);
        }
    }
    for v in wanted {
        let _ = std::thread::Builder::new()
            .name("tokenizer-warmup".into())
            .spawn(move || load(v));
    }
}

/// Tokens in `text` for `model`.
pub fn count(model: &str, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    encoder(model).encode_ordinary(text).len() as u64
}

/// Per-message framing overhead of chat formats (role markers), as OpenAI documents it.
pub const MESSAGE_OVERHEAD: u64 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_map_to_their_vocabulary() {
        assert_eq!(vocabulary("gpt-4o-mini"), Vocabulary::O200k);
        assert_eq!(vocabulary("o3-mini"), Vocabulary::O200k);
        assert_eq!(vocabulary("gpt-4"), Vocabulary::Cl100k);
        assert_eq!(vocabulary("mock"), Vocabulary::Cl100k);
    }

    #[test]
    fn counts_known_strings() {
        assert_eq!(count("gpt-4", "hello world"), 2);
        assert_eq!(count("gpt-4o-mini", "hello world"), 2);
        assert_eq!(count("mock", ""), 0);
        assert!(count("mock", "The quick brown fox jumps over the lazy dog.") >= 9);
    }
}
