//! The whole model.

use burn::module::Module;
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig,
};
use burn::tensor::{Device, Distribution, Int, Tensor};

use crate::fused::{LAYER_NORM_EPSILON, dropout, layer_norm, linear};
use crate::{Block, GptConfig, mean_token_nll, token_nll};

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
    /// Probability that a token type's input embedding is zeroed for a training step.
    pub word_dropout: f64,
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
            word_dropout: self.word_dropout,
        }
    }
}

impl Gpt {
    /// Next-token logits, `[batch, seq] → [batch, seq, vocab]`; `seq` must not exceed the
    /// context length.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [batch, seq] = tokens.dims();
        let x = self.hidden(tokens);
        let [_, _, d_model] = x.dims();
        self.project(x.reshape([batch * seq, d_model]))
            .reshape([batch, seq, self.vocab_size()])
    }

    /// The logits of the token after the last one only, `[batch, seq] → [batch, vocab]`:
    /// what generation needs. The blocks still run over every position (each attends to
    /// the ones before it), but the output projection, `vocab` products per row and the
    /// largest matrix of a small model, runs for one row per sequence instead of `seq`.
    pub fn next_token_logits(&self, tokens: Tensor<2, Int>) -> Tensor<2> {
        let [batch, seq] = tokens.dims();
        let x = self.hidden(tokens);
        let [_, _, d_model] = x.dims();
        self.project(x.narrow(1, seq - 1, 1).reshape([batch, d_model]))
    }

    /// The residual stream after the final LayerNorm, `[batch, seq] → [batch, seq, d_model]`.
    fn hidden(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [_, seq] = tokens.dims();
        assert!(
            seq <= self.ctx,
            "sequence of {seq} tokens exceeds the context of {}",
            self.ctx
        );
        // The first `seq` rows of the position table, broadcast over the batch: no index
        // tensor to build each step, and no scatter in the backward pass.
        let positions = self.pos_emb.weight.val().narrow(0, 0, seq).unsqueeze::<3>();
        let x = self.embed(tokens) + positions;
        let mut x = dropout(&self.drop, x);
        for block in &self.blocks {
            x = block.forward(x);
        }
        layer_norm(&self.ln_f, x)
    }

    /// Token embeddings, `[batch, seq] → [batch, seq, d_model]`. While training, each token
    /// type's row is dropped with probability `word_dropout` for the whole step (one draw per
    /// type, not per occurrence: the model cannot see the word anywhere in the batch and must
    /// read it from context), the kept rows scaled by `1/(1 − p)` as dropout does.
    fn embed(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let p = self.word_dropout;
        let training = self.drop.training.is_enabled() && tokens.device().is_autodiff();
        if p == 0.0 || !training {
            return self.tok_emb.forward(tokens);
        }
        let [batch, seq] = tokens.dims();
        let device = tokens.device();
        let keep = Tensor::<1>::random(
            [self.vocab_size()],
            Distribution::Bernoulli(1.0 - p),
            &device,
        )
        .div_scalar(1.0 - p);
        let scale = keep
            .select(0, tokens.clone().reshape([batch * seq]))
            .reshape([batch, seq, 1]);
        self.tok_emb.forward(tokens) * scale
    }

    /// Rows of the residual stream to logits through the tied embedding,
    /// `[rows, d_model] → [rows, vocab]`.
    fn project(&self, rows: Tensor<2>) -> Tensor<2> {
        linear(rows, self.tok_emb.weight.val().transpose(), None)
    }

    /// Number of token types the model scores.
    pub fn vocab_size(&self) -> usize {
        self.tok_emb.weight.dims()[0]
    }

    /// Per-token negative log-likelihood in nats, `[batch, seq]`, of `targets` given `tokens`.
    pub fn nll(&self, tokens: Tensor<2, Int>, targets: Tensor<2, Int>) -> Tensor<2> {
        token_nll(self.forward(tokens), targets)
    }

    /// The training loss: the mean negative log-likelihood per token of `targets` given
    /// `tokens`, nats, `[1]`. The same number as `nll(..).mean()`, with its gradient computed
    /// alongside it on the CPU ([`mean_token_nll`]).
    pub fn loss(&self, tokens: Tensor<2, Int>, targets: Tensor<2, Int>) -> Tensor<1> {
        mean_token_nll(self.forward(tokens), targets)
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
            word_dropout: 0.0,
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

    #[test]
    fn next_token_logits_are_the_last_row_of_the_full_forward() {
        let device = Device::flex();
        let model = tiny().init(&device);
        let ids: Vec<i64> = vec![3, 1, 4, 1, 5, 9, 2, 6, 5, 3];
        let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [2, 5]), &device);
        let full = model.forward(input.clone());
        let last = model.next_token_logits(input);
        assert_eq!(last.dims(), [2, 50]);
        let expected = full.narrow(1, 4, 1).reshape([2, 50]).into_data();
        let got = last.into_data();
        let (e, g) = (
            expected.try_to_vec::<f32>().unwrap(),
            got.try_to_vec::<f32>().unwrap(),
        );
        let worst = e
            .iter()
            .zip(&g)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst <= 1e-5, "last-row logits differ by {worst}");
        assert!(
            e.iter().any(|&x| x != 0.0),
            "the logits must not all be zero"
        );
    }

    #[test]
    fn word_dropout_drops_a_word_everywhere_at_once_and_only_in_training() {
        let _rng = crate::device_rng_lock();
        let device = Device::flex().autodiff();
        device.seed(4);
        let mut config = tiny();
        config.word_dropout = 0.5;
        let model = config.init(&device);
        // Token 7 at every position of both rows, token 3 once: one draw per type.
        let ids: Vec<i64> = vec![7, 7, 7, 7, 7, 7, 7, 3, 7, 7, 7, 7, 7, 7, 7, 7];
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [2, 8]), &device);
        let plain = model.tok_emb.forward(tokens.clone());
        let mut seen = Vec::new();
        for _ in 0..20 {
            let ratio = (model.embed(tokens.clone()) / plain.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            // Each row of 16 ratios is one token's scale: 0 (dropped) or 2 (kept, 1/(1-p)).
            let scales: Vec<f32> = ratio.chunks(16).map(|row| row[0]).collect();
            for (row, &scale) in ratio.chunks(16).zip(&scales) {
                assert!(row.iter().all(|&r| r == scale), "one scale per row");
                assert!(scale == 0.0 || scale == 2.0, "{scale}");
            }
            let sevens: Vec<f32> = scales
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != 7)
                .map(|(_, s)| *s)
                .collect();
            assert!(
                sevens.iter().all(|&s| s == sevens[0]),
                "token 7 dropped everywhere or nowhere"
            );
            seen.push(sevens[0]);
        }
        assert!(
            seen.contains(&0.0) && seen.contains(&2.0),
            "both outcomes in 20 draws: {seen:?}"
        );
        // Outside training (no autodiff) the embedding is untouched.
        let inner = Device::flex();
        let eval_model = config.init(&inner);
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(vec![7i64; 8], [1, 8]), &inner);
        let a = eval_model.embed(tokens.clone()).into_data();
        let b = eval_model.tok_emb.forward(tokens).into_data();
        assert_eq!(a, b);
    }
}
