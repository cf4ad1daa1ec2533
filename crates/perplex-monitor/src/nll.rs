//! Per-token loss accounting.
//!
//! Perplexity is `exp` of the mean negative log-likelihood *per token*: the total NLL of every
//! predicted token, divided by the number of tokens. Averaging per-batch or per-sequence means
//! instead weights a short final window as much as a full one and gives a different, wrong
//! number. [`NllSum`] keeps the only two quantities needed, in `f64`.

use serde::{Deserialize, Serialize};

/// A running sum of token NLLs (nats) and the number of tokens they cover.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NllSum {
    /// Sum of per-token negative log-likelihoods, in nats.
    pub nats: f64,
    /// Number of predicted tokens summed.
    pub tokens: u64,
}

impl NllSum {
    /// Adds the summed NLL (nats) of `tokens` predicted tokens.
    pub fn add(&mut self, nats: f64, tokens: u64) {
        self.nats += nats;
        self.tokens += tokens;
    }

    /// Mean NLL per token, in nats (NaN when no token was counted).
    pub fn mean(&self) -> f64 {
        if self.tokens == 0 {
            f64::NAN
        } else {
            self.nats / self.tokens as f64
        }
    }

    /// Perplexity: `exp(mean NLL per token)`.
    pub fn perplexity(&self) -> f64 {
        self.mean().exp()
    }

    /// Mean NLL per token in bits.
    pub fn bits_per_token(&self) -> f64 {
        self.mean() / std::f64::consts::LN_2
    }
}

/// A perplexity for a log line: `decimals` digits after the point, or scientific notation
/// from a million up (a diverged run's perplexity has thirty digits).
pub fn format_ppl(ppl: f64, decimals: usize) -> String {
    if ppl.abs() < 1e6 {
        format!("{ppl:.decimals$}")
    } else {
        format!("{ppl:.3e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perplexity_is_per_token_not_per_sequence() {
        // A full window of 4 tokens at 1 nat each and a short final window of 1 token at 3 nats.
        let mut sum = NllSum::default();
        sum.add(4.0, 4);
        sum.add(3.0, 1);
        assert_eq!(sum.tokens, 5);
        assert!((sum.mean() - 7.0 / 5.0).abs() < 1e-12);
        // Averaging the two window means would give (1 + 3) / 2 = 2 nats: a different number.
        let per_sequence = (4.0 / 4.0 + 3.0 / 1.0) / 2.0;
        assert!((sum.mean() - per_sequence).abs() > 0.5);
        assert!((sum.perplexity() - (1.4f64).exp()).abs() < 1e-12);
    }

    #[test]
    fn uniform_guess_over_v_has_perplexity_v() {
        let v = 10_000f64;
        let mut sum = NllSum::default();
        sum.add(v.ln() * 123.0, 123);
        assert!((sum.perplexity() - v).abs() < 1e-6);
        assert!((sum.bits_per_token() - v.log2()).abs() < 1e-9);
    }

    #[test]
    fn huge_perplexities_are_written_in_scientific_notation() {
        assert_eq!(format_ppl(920.789, 2), "920.79");
        assert_eq!(format_ppl(7.9e18, 2), "7.900e18");
    }

    #[test]
    fn empty_sum_is_nan_not_zero() {
        assert!(NllSum::default().mean().is_nan());
    }
}
