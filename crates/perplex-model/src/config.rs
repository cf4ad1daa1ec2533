//! The shape of the model.

use serde::{Deserialize, Serialize};

/// The shape of a GPT: every number that decides its parameters and its context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GptConfig {
    /// Number of token types (the tokenizer's vocabulary size).
    pub vocab_size: usize,
    /// Context length in tokens: the longest sequence the model sees (learned positions).
    pub ctx: usize,
    /// Number of transformer blocks.
    pub layers: usize,
    /// Attention heads per block; must divide `d_model`.
    pub heads: usize,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Dropout probability on embeddings and residual branches, in [0, 1).
    pub dropout: f64,
    /// Word dropout: the probability that a token type's input embedding is zeroed for a
    /// whole training step, every occurrence in the batch at once (AWD-LSTM's embedding
    /// dropout), in [0, 1); 0 (the default) turns it off. The output projection, tied to
    /// the same embedding, is never dropped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub word_dropout: f64,
}

/// Leaves a zero `word_dropout` out of saved configs, so configs written before it existed
/// read and write back unchanged.
fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// A shape that cannot make a model, with the key to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShapeError {
    /// A size that must be positive is zero.
    #[error("model.{0} must be at least 1")]
    Zero(&'static str),
    /// Heads do not divide the model width.
    #[error("model.heads = {heads} does not divide model.d_model = {d_model}")]
    HeadsDoNotDivide { heads: usize, d_model: usize },
    /// Dropout outside [0, 1).
    #[error("model.dropout = {0} must be in [0, 1)")]
    Dropout(f64),
    /// Word dropout outside [0, 1).
    #[error("model.word_dropout = {0} must be in [0, 1)")]
    WordDropout(f64),
}

impl GptConfig {
    /// Checks that the shape can make a model.
    pub fn validate(&self) -> Result<(), ShapeError> {
        for (name, value) in [
            ("vocab_size", self.vocab_size),
            ("ctx", self.ctx),
            ("layers", self.layers),
            ("heads", self.heads),
            ("d_model", self.d_model),
        ] {
            if value == 0 {
                return Err(ShapeError::Zero(name));
            }
        }
        if !self.d_model.is_multiple_of(self.heads) {
            return Err(ShapeError::HeadsDoNotDivide {
                heads: self.heads,
                d_model: self.d_model,
            });
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ShapeError::Dropout(self.dropout));
        }
        if !(0.0..1.0).contains(&self.word_dropout) {
            return Err(ShapeError::WordDropout(self.word_dropout));
        }
        Ok(())
    }

    /// Number of trainable parameters (the tied output projection counted once).
    pub fn num_params(&self) -> usize {
        let (v, t, d) = (self.vocab_size, self.ctx, self.d_model);
        let block = 2 * (2 * d) // two LayerNorms
            + (d * 3 * d + 3 * d) // qkv
            + (d * d + d) // attention output
            + (d * 4 * d + 4 * d) // fc1
            + (4 * d * d + d); // fc2
        v * d + t * d + self.layers * block + 2 * d
    }

    /// Forward-and-backward FLOPs per trained token: 6 per weight-matrix parameter touched
    /// (the output projection included) plus the attention score and value products,
    /// `6 · layers · ctx · d_model`: PaLM appendix B's `12 · layers · ctx · d_model`, halved
    /// because a causal position attends on average to half the context.
    pub fn train_flops_per_token(&self) -> f64 {
        let (v, t, d, l) = (
            self.vocab_size as f64,
            self.ctx as f64,
            self.d_model as f64,
            self.layers as f64,
        );
        let matmul_params = l * 12.0 * d * d + v * d;
        6.0 * matmul_params + 6.0 * l * t * d
    }
}

/// What training a model of some shape at some batch size needs in memory, in bytes: an
/// estimate, within a factor of about 1.5 of the peak measured on the CPU backend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryEstimate {
    /// Weights, gradients and AdamW's two moments: 16 bytes per parameter.
    pub weights_and_optimizer: u64,
    /// What the backward pass keeps from the forward pass, logits included.
    pub activations: u64,
}

impl MemoryEstimate {
    /// Both parts together.
    pub fn total(&self) -> u64 {
        self.weights_and_optimizer.saturating_add(self.activations)
    }
}

impl GptConfig {
    /// 32-bit floats kept per token by one training step: per block about 20 widths (the
    /// LayerNorms, q/k/v, the attention output, the 4× MLP before and after GELU, the
    /// residuals) plus one attention row per head; the embeddings and final LayerNorm; and
    /// the logits with their gradient, written over them.
    fn floats_per_token(&self) -> u64 {
        let (l, d, h, t, v) = (
            self.layers as u64,
            self.d_model as u64,
            self.heads as u64,
            self.ctx as u64,
            self.vocab_size as u64,
        );
        l * (20 * d + h * t) + 3 * d + 2 * v
    }

    /// The memory a training step of `batch` sequences of `ctx` tokens needs (an estimate).
    pub fn train_memory(&self, batch: usize) -> MemoryEstimate {
        let tokens = (batch as u64).saturating_mul(self.ctx as u64);
        MemoryEstimate {
            weights_and_optimizer: 16 * self.num_params() as u64,
            activations: tokens.saturating_mul(4 * self.floats_per_token()),
        }
    }

    /// The largest batch whose training step fits in `bytes` (0 when not even one does).
    pub fn largest_batch(&self, bytes: u64) -> usize {
        let fixed = 16 * self.num_params() as u64;
        let per_sequence = self.ctx as u64 * 4 * self.floats_per_token();
        (bytes.saturating_sub(fixed) / per_sequence.max(1)) as usize
    }
}

/// ptb-small's shape (`configs/ptb-small.toml` with PTB's 10,000 words), for tests.
#[cfg(test)]
pub(crate) fn ptb_small() -> GptConfig {
    GptConfig {
        vocab_size: 10_000,
        ctx: 64,
        layers: 4,
        heads: 4,
        d_model: 256,
        dropout: 0.1,
        word_dropout: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> GptConfig {
        ptb_small()
    }

    #[test]
    fn the_memory_estimate_grows_with_the_batch_and_inverts() {
        let c = small();
        let one = c.train_memory(1);
        let many = c.train_memory(32);
        assert_eq!(one.weights_and_optimizer, 16 * c.num_params() as u64);
        assert_eq!(many.activations, 32 * one.activations);
        // ptb-small's step: about 440 MB (measured peak RSS of the whole process: 589 MiB).
        assert!((400e6..480e6).contains(&(many.total() as f64)), "{many:?}");
        assert_eq!(c.largest_batch(many.total()), 32);
        assert_eq!(c.largest_batch(0), 0);
        assert!(
            c.train_memory(usize::MAX).total() > 1 << 60,
            "saturates, never wraps"
        );
    }

    #[test]
    fn bad_shapes_are_refused_with_the_key() {
        let mut c = small();
        c.heads = 3;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("model.heads")
        );
        let mut c = small();
        c.dropout = 1.0;
        assert!(matches!(c.validate(), Err(ShapeError::Dropout(_))));
        let mut c = small();
        c.word_dropout = -0.1;
        assert!(matches!(c.validate(), Err(ShapeError::WordDropout(_))));
        let mut c = small();
        c.layers = 0;
        assert_eq!(c.validate(), Err(ShapeError::Zero("layers")));
        assert!(small().validate().is_ok());
    }
}
