//! The vocabulary size a log or the config beside it states, for the uniform level ln V
//! when `--vocab-size` is not given: nanoGPT prints `found vocab_size = 65 (inside …)` or
//! `defaulting to vocab_size of GPT-2 to 50304`, a modded-nanogpt record holds its script's
//! `vocab_size : int = 50304`, a Hugging Face run directory a `config.json` with
//! `"vocab_size": 32000`.

use serde_json::Value;

use super::pairs::{normalise, pairs};

/// Lines of a log searched for a vocabulary size.
const SEARCHED: usize = 2000;

/// Where a vocabulary size was found, and the size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The number of token types.
    pub size: usize,
    /// Where it was read, for the message (`line 12 of the log`, `config.json beside it`).
    pub from: String,
}

/// The vocabulary size a log's first lines state: the largest number on the first line that
/// names `vocab_size` (nanoGPT prints the padded size and the real one there).
pub fn in_log(text: &str) -> Option<Found> {
    text.lines()
        .take(SEARCHED)
        .enumerate()
        .find_map(|(i, line)| {
            let named = normalise(&line.replace(['(', ')', ',', '|', '/', ';'], " "));
            if !named.contains("vocab size") {
                return None;
            }
            let size = pairs(line)
                .iter()
                .map(|p| p.value)
                .filter(|v| v.is_finite() && v.fract() == 0.0 && *v >= 2.0)
                .fold(None, |best: Option<f64>, v| {
                    Some(best.map_or(v, |b| b.max(v)))
                })?;
            Some(Found {
                size: size as usize,
                from: format!("line {} of the log", i + 1),
            })
        })
}

/// The `vocab_size` of a model config (Hugging Face's `config.json`, or nanoGPT-style
/// `model_args`/`config` objects inside one).
pub fn in_config(text: &str) -> Option<usize> {
    let value: Value = serde_json::from_str(text).ok()?;
    let size = |v: &Value| v.get("vocab_size").and_then(Value::as_u64);
    size(&value)
        .or_else(|| value.get("model_args").and_then(size))
        .or_else(|| value.get("config").and_then(size))
        .filter(|&n| n >= 2)
        .map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanogpt_modded_nanogpt_and_hf_state_their_vocabularies() {
        let at = |t: &str| in_log(t).map(|f| (f.size, f.from));
        assert_eq!(
            at(
                "tokens per iteration will be: 16,384\nfound vocab_size = 65 (inside data/meta.pkl)"
            ),
            Some((65, "line 2 of the log".into()))
        );
        assert_eq!(
            at("defaulting to vocab_size of GPT-2 to 50304 (50257 rounded up for efficiency)"),
            Some((50304, "line 1 of the log".into()))
        );
        assert_eq!(
            at("    vocab_size : int = 50304"),
            Some((50304, "line 1 of the log".into()))
        );
        assert_eq!(at("step 0: train loss 4.2, val loss 4.3"), None);
        assert_eq!(
            in_config(r#"{"model_type": "llama", "vocab_size": 32000}"#),
            Some(32000)
        );
        assert_eq!(in_config("not json"), None);
    }
}
