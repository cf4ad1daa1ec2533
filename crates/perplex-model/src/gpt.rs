//! The whole model.

use burn::module::Module;
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig,
};
use burn::tensor::{Device, Int, Tensor};

use crate::fused::{LAYER_NORM_EPSILON, dropout, layer_norm, linear};
use crate::{Block, GptConfig, token_nll};

/// A GPT-style decoder whose output projection is its token embedding, transposed.
#[derive(Module, Debug)]
pub struct Gpt {
    /// Token embedding, `[vocab, d_model]`; also the output projection.
    pub tok_emb: Embedding,
    /// Learned position embedding, `[ctx, d_model]`.
    pub pos_emb: Embedding,
    /// Dropout on the summed embeddings.
    pub drop: Dropout,
    /// The transformer blocks.
    pub blocks: Vec<Block>,
    /// The final LayerNorm.
    pub ln_f: LayerNorm,
    /// Context length in tokens.
    pub ctx: usize,
}

impl GptConfig {
    /// Builds a freshly initialised model on `device` (seed the device first for a
    /// reproducible init). The config must have passed [`GptConfig::validate`].
    pub fn init(&self, device: &Device) -> Gpt {
        let emb = |n| {
            EmbeddingConfig::new(n, self.d_model)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: 0.02,
                })
                .init(device)
        };
        Gpt {
            tok_emb: emb(self.vocab_size),
            pos_emb: emb(self.ctx),
            drop: DropoutConfig::new(self.dropout).init(),
            blocks: (0..self.layers)
                .map(|_| Block::new(self.d_model, self.heads, self.dropout, self.layers, device))
                .collect(),
            ln_f: LayerNormConfig::new(self.d_model)
                .with_epsilon(LAYER_NORM_EPSILON)
                .init(device),
            ctx: self.ctx,
        }
    }
}

impl Gpt {
    /// Next-token logits, `[batch, seq] → [batch, seq, vocab]`; `seq` must not exceed the
    /// context length.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [batch, seq] = tokens.dims();
        assert!(
            seq <= self.ctx,
            "sequence of {seq} tokens exceeds the context of {}",
            self.ctx
        );
        // The first `seq` rows of the position table, broadcast over the batch: no index
        // tensor to build each step, and no scatter in the backward pass.
        let positions = self.pos_emb.weight.val().narrow(0, 0, seq).unsqueeze::<3>();
        let x = self.tok_emb.forward(tokens) + positions;
        let mut x = dropout(&self.drop, x);
        for block in &self.blocks {
            x = block.forward(x);
        }
        let x = layer_norm(&self.ln_f, x);
        let [_, _, d_model] = x.dims();
        let weight = self.tok_emb.weight.val();
        let vocab = weight.dims()[0];
        linear(x.reshape([batch * seq, d_model]), weight.transpose(), None)
            .reshape([batch, seq, vocab])
    }

    /// Per-token negative log-likelihood in nats, `[batch, seq]`, of `targets` given `tokens`.
    pub fn nll(&self, tokens: Tensor<2, Int>, targets: Tensor<2, Int>) -> Tensor<2> {
        token_nll(self.forward(tokens), targets)
    }

    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.tok_emb.weight.device()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn tiny() -> GptConfig {
        GptConfig {
            vocab_size: 50,
            ctx: 8,
            layers: 2,
            heads: 2,
            d_model: 16,
            dropout: 0.0,
        }
    }

    fn tokens(ids: &[i64], device: &Device) -> Tensor<2, Int> {
        Tensor::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), device)
    }

    #[test]
    fn changing_a_future_token_leaves_earlier_logits_unchanged() {
        let _rng = crate::device_rng_lock();
        let device = Device::flex();
        device.seed(3);
        let model = tiny().init(&device);
        let a = [1, 2, 3, 4, 5, 6, 7, 8];
        let mut b = a;
        b[5] = 40; // change position 5 only
        let la = model
            .forward(tokens(&a, &device))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let lb = model
            .forward(tokens(&b, &device))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let per_pos = 50;
        for pos in 0..8 {
            let (xa, xb) = (
                &la[pos * per_pos..(pos + 1) * per_pos],
                &lb[pos * per_pos..(pos + 1) * per_pos],
            );
            let max_diff = xa
                .iter()
                .zip(xb)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            if pos < 5 {
                assert_eq!(max_diff, 0.0, "position {pos} saw the future");
            } else {
                assert!(max_diff > 1e-6, "position {pos} must see the change");
            }
        }
    }

    #[test]
    fn parameter_count_matches_the_formula() {
        let _rng = crate::device_rng_lock();
        let device = Device::flex();
        let config = tiny();
        let model = config.init(&device);
        assert_eq!(model.num_params(), config.num_params());
    }

    #[test]
    fn a_fresh_model_predicts_close_to_uniform() {
        let _rng = crate::device_rng_lock();
        let device = Device::flex();
        device.seed(1);
        let model = tiny().init(&device);
        let ids = [3i64, 1, 4, 1, 5, 9, 2, 6];
        let next = [1i64, 4, 1, 5, 9, 2, 6, 5];
        let nll = model.nll(tokens(&ids, &device), tokens(&next, &device));
        let mean = nll.mean().into_scalar::<f32>();
        assert!(
            (mean - (50f32).ln()).abs() < 0.1,
            "mean NLL {mean} vs ln 50"
        );
    }
}
