//! Token counting with the OpenAI BPE vocabularies (`tiktoken`).
//!
//! Models of the GPT-4o generation and later use `o200k_base`; everything else is counted with
//! `cl100k_base`, a close estimate for other vendors whose real counts come from their usage
//! fields. Vocabularies load lazily, once per process.

use tiktoken_rs::CoreBPE;

fn encoder(model: &str) -> &'static CoreBPE {
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
        tiktoken_rs::o200k_base_singleton()
    } else {
        tiktoken_rs::cl100k_base_singleton()
    }
}

/// Builds the vocabularies `models` need on background threads, so that the first count
/// does not wait for them (building one takes 40–90 ms; the caller goes on parsing meanwhile).
pub fn prewarm<'a>(models: impl IntoIterator<Item = &'a str>) {
    let mut wanted: Vec<bool> = Vec::new();
    for m in models {
        let o200k = std::ptr::eq(encoder_kind(m), O200K);
        if !wanted.contains(&o200k) {
            wanted.push(o200k);
        }
    }
    for o200k in wanted {
        let _ = std::thread::Builder::new()
            .name("tokenizer-warmup".into())
            .spawn(move || {
                let _ = if o200k {
                    tiktoken_rs::o200k_base_singleton()
                } else {
                    tiktoken_rs::cl100k_base_singleton()
                };
            });
    }
}

const O200K: &str = "o200k_base";
const CL100K: &str = "cl100k_base";

fn encoder_kind(model: &str) -> &'static str {
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
    if o200k { O200K } else { CL100K }
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
    fn counts_known_strings() {
        assert_eq!(count("gpt-4", "hello world"), 2);
        assert_eq!(count("gpt-4o-mini", "hello world"), 2);
        assert_eq!(count("mock", ""), 0);
        assert!(count("mock", "The quick brown fox jumps over the lazy dog.") >= 9);
    }
}
