//! The levels a loss is judged against, so that a falling curve is never mistaken for a
//! good one: a uniform guess, a unigram model, and the model itself before it learned.
//!
//! All three are mean NLL per token in nats, over the tokens the validation pass predicts:
//!
//! - **uniform** `ln V`: every one of the `V` token types equally likely;
//! - **unigram**: each token as likely as it is frequent in the train stream the model learns
//!   from, with add-one (Laplace) counts so a type unseen there still has a probability;
//! - **initial**: the model's own validation loss before its first update.
//!
//! A model worse than the uniform guess or than where it started has diverged; one that never
//! gets below the unigram model has learned no more than word frequencies.

use serde::{Deserialize, Serialize};

/// The baseline levels of a run, in nats per token; each is absent when unknown (a foreign
/// log, say, knows neither its vocabulary nor its corpus).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Baselines {
    /// `ln V`, the loss of a uniform guess over the vocabulary.
    pub uniform: Option<f64>,
    /// The loss of a unigram model of the train stream (add-one counts).
    pub unigram: Option<f64>,
    /// The model's validation loss before its first update.
    pub initial: Option<f64>,
}

impl Baselines {
    /// The levels a loss is compared with, by name, in the order they are reported.
    pub fn levels(&self) -> impl Iterator<Item = (&'static str, f64)> {
        [
            ("unigram", self.unigram),
            ("uniform", self.uniform),
            ("step-0", self.initial),
        ]
        .into_iter()
        .filter_map(|(name, level)| Some((name, level?)))
    }

    /// How far `loss` (nats) is from each known level, e.g. "1.20 below unigram (6.53), 3.88
    /// below uniform (9.21), 3.91 below step-0 (9.24)".
    pub fn compare(&self, loss: f64) -> String {
        self.levels()
            .map(|(name, level)| {
                let side = if loss <= level { "below" } else { "ABOVE" };
                format!("{:.2} {side} {name} ({level:.4})", (loss - level).abs())
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `ln V`: the loss of a uniform guess over `vocab_size` token types, nats per token.
pub fn uniform_loss(vocab_size: usize) -> f64 {
    (vocab_size.max(1) as f64).ln()
}

/// The mean NLL (nats) of the tokens `valid[1..]` (those the validation pass predicts) under
/// the unigram distribution of `train` over `vocab_size` types, with add-one counts:
/// `p(w) = (count(w) + 1) / (len(train) + V)`. Ids at or past `vocab_size` are counted as
/// unseen types.
pub fn unigram_loss(train: &[u32], valid: &[u32], vocab_size: usize) -> f64 {
    let v = vocab_size.max(1);
    let mut counts = vec![0u64; v];
    for &t in train {
        if let Some(c) = counts.get_mut(t as usize) {
            *c += 1;
        }
    }
    let total = (train.len() + v) as f64;
    let predicted = valid.get(1..).unwrap_or(&[]);
    let nats: f64 = predicted
        .iter()
        .map(|&t| {
            let count = counts.get(t as usize).copied().unwrap_or(0);
            -(((count + 1) as f64) / total).ln()
        })
        .sum();
    nats / predicted.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unigram_loss_is_the_add_one_cross_entropy_of_the_predicted_tokens() {
        // Train: token 0 three times, token 1 once; V = 3, so p = 4/7, 2/7, 1/7.
        let train = [0, 0, 0, 1];
        // The first valid token is never predicted; then 0 and 2.
        let valid = [1, 0, 2];
        let want = -((4.0f64 / 7.0).ln() + (1.0f64 / 7.0).ln()) / 2.0;
        assert!((unigram_loss(&train, &valid, 3) - want).abs() < 1e-15);
        // A uniform train stream gives the uniform loss.
        let flat: Vec<u32> = (0..1000).map(|i| i % 10).collect();
        assert!((unigram_loss(&flat, &flat, 10) - uniform_loss(10)).abs() < 1e-12);
    }

    #[test]
    fn a_loss_is_described_against_every_known_level() {
        let b = Baselines {
            uniform: Some(9.2103),
            unigram: Some(6.53),
            initial: None,
        };
        assert_eq!(
            b.compare(5.33),
            "1.20 below unigram (6.5300), 3.88 below uniform (9.2103)"
        );
        assert!(b.compare(10.0).contains("0.79 ABOVE uniform"));
        assert_eq!(Baselines::default().compare(1.0), "");
    }
}
