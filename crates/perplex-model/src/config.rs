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
    /// `6 · layers · ctx · d_model` (the PaLM appendix-B estimate, without the causal halving).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> GptConfig {
        GptConfig {
            vocab_size: 10_000,
            ctx: 64,
            layers: 4,
            heads: 4,
            d_model: 256,
            dropout: 0.1,
        }
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
        c.layers = 0;
        assert_eq!(c.validate(), Err(ShapeError::Zero("layers")));
        assert!(small().validate().is_ok());
    }
}
