//! The validation pass: every token of a split, in eval mode, summed exactly.

use burn::tensor::{Device, Int, Tensor, TensorData};
use perplex_data::{ScoredBatch, TokenBatch, eval_batches, sliding_batches};
use perplex_model::Gpt;
use perplex_model::{token_nll, token_nll_and_rank};
use perplex_monitor::averaging::TokenLosses;
use perplex_monitor::{NllSum, TopK};

/// Input and target tensors of a batch, `[rows, cols]` each.
pub fn batch_tensors(batch: &TokenBatch, device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
    let shape = [batch.rows, batch.cols];
    let to_tensor = |ids: &[u32]| {
        let ids: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
        Tensor::from_data(TensorData::new(ids, shape), device)
    };
    (to_tensor(&batch.inputs), to_tensor(&batch.targets))
}

/// What a pass over a split measured: the summed NLL, and how often the target was the
/// model's first guess or among its first five.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scores {
    /// Summed NLL and token count.
    pub nll: NllSum,
    /// Top-1 and top-5 next-token accuracy counts.
    pub accuracy: TopK,
}

/// Sums the NLL of every predictable token of `stream` (all but the first) under `model`,
/// which must be in eval mode (`Module::valid`, so dropout is off and no graph is built).
///
/// Windows of `model.ctx` tokens start from an empty context; `batch` windows go through the
/// model at once. Per-token losses are brought to the host and summed in `f64`, so the result
/// does not depend on the device's reduction order.
pub fn evaluate(model: &Gpt, stream: &[u32], batch: usize) -> NllSum {
    evaluate_batches(model, eval_batches(stream, model.ctx, batch))
}

/// Sums the NLL of every target of `batches` under `model` (in eval mode), on the host in
/// `f64`.
pub fn evaluate_batches(model: &Gpt, batches: Vec<TokenBatch>) -> NllSum {
    let mut sum = NllSum::default();
    for_each_batch(model, batches, false, |nll, _| {
        sum.add(nll.iter().map(|&v| f64::from(v)).sum(), nll.len() as u64)
    });
    sum
}

/// Sums the NLL of every predictable token of `stream` with context carried across windows:
/// windows of `model.ctx` tokens advancing by `stride`, each scoring its last `stride` targets
/// ([`perplex_data::sliding`]). A separate, lower number than [`evaluate`]'s for a model that
/// uses its context; `stride == model.ctx` scores the standard windows.
pub fn evaluate_sliding(model: &Gpt, stream: &[u32], stride: usize, batch: usize) -> NllSum {
    let mut sum = NllSum::default();
    for scored in sliding_batches(stream, model.ctx, stride, batch) {
        let ScoredBatch {
            batch,
            context_only,
        } = scored;
        let cols = batch.cols;
        for_each_batch(model, vec![batch], false, |nll, _| {
            for row in nll.chunks(cols) {
                let counted = &row[context_only..];
                sum.add(
                    counted.iter().map(|&v| f64::from(v)).sum(),
                    counted.len() as u64,
                );
            }
        });
    }
    sum
}

/// [`evaluate`], also counting top-1 and top-5 hits (every logit compared with the target's,
/// in the same read of the logits as the NLL on the CPU).
pub fn score(model: &Gpt, stream: &[u32], batch: usize) -> Scores {
    let mut scores = Scores::default();
    let batches = eval_batches(stream, model.ctx, batch);
    for_each_batch(model, batches, true, |nll, above| {
        scores
            .nll
            .add(nll.iter().map(|&v| f64::from(v)).sum(), nll.len() as u64);
        above.iter().for_each(|&a| scores.accuracy.add(a));
    });
    scores
}

/// Every token's NLL of the pass [`evaluate`] makes, in stream order, with the ends of the
/// sentences (a target equal to `eos` ends one) and of the batches, for
/// [`perplex_monitor::averaging`].
pub fn token_losses(model: &Gpt, stream: &[u32], batch: usize, eos: u32) -> TokenLosses {
    let mut losses = TokenLosses::default();
    let batches = eval_batches(stream, model.ctx, batch);
    for_each_batch(model, batches, false, |nll, _| {
        losses.nats.extend(nll.iter().map(|&v| f64::from(v)));
        losses.batch_ends.push(losses.nats.len());
    });
    // Windows are consecutive and rows are row-major, so loss i predicts stream[i + 1].
    losses.sentence_ends = (0..losses.nats.len())
        .filter(|&i| stream[i + 1] == eos)
        .map(|i| i + 1)
        .collect();
    losses
}

/// Runs each batch through `model` and hands `visit` its per-token NLLs (row-major) and, when
/// `ranks` is set, how many logits lie strictly above each target's.
fn for_each_batch(
    model: &Gpt,
    batches: Vec<TokenBatch>,
    ranks: bool,
    mut visit: impl FnMut(&[f32], &[u64]),
) {
    let device = model.device();
    for b in batches {
        // On the CPU pool's first worker, as a training step runs (one allocator heap).
        let (nll, above) = perplex_model::on_cpu_worker(&device, || {
            let (inputs, targets) = batch_tensors(&b, &device);
            let logits = model.forward(inputs);
            if ranks {
                token_nll_and_rank(logits, targets)
            } else {
                let nll = token_nll(logits, targets)
                    .into_data()
                    .try_to_vec::<f32>()
                    .expect("the NLL of a float model is a float tensor");
                (nll, Vec::new())
            }
        });
        visit(&nll, &above);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use perplex_model::GptConfig;

    fn model() -> Gpt {
        GptConfig {
            vocab_size: 12,
            ctx: 4,
            layers: 1,
            heads: 2,
            d_model: 8,
            dropout: 0.0,
            word_dropout: 0.0,
        }
        .init(&Device::flex())
    }

    /// 23 tokens: 22 predictions, in 6 windows of 4 (the last one short); `eos` is 0.
    fn stream() -> Vec<u32> {
        vec![
            3, 5, 0, 7, 7, 1, 0, 2, 9, 11, 0, 4, 4, 4, 0, 6, 8, 10, 0, 1, 2, 3, 0,
        ]
    }

    #[test]
    fn scoring_sums_the_same_losses_and_counts_hits_against_the_argmax() {
        let (model, stream) = (model(), stream());
        let scores = score(&model, &stream, 2);
        assert_eq!(scores.nll, evaluate(&model, &stream, 2));
        assert_eq!(scores.accuracy.tokens, 22);
        // Top-1 by hand: the argmax of each position's logits against its target.
        let mut top1 = 0;
        for b in eval_batches(&stream, model.ctx, 2) {
            let (inputs, _) = batch_tensors(&b, &model.device());
            let logits = model
                .forward(inputs)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            for (i, &target) in b.targets.iter().enumerate() {
                let row = &logits[i * 12..(i + 1) * 12];
                let best = (0..12).max_by(|&a, &c| row[a].total_cmp(&row[c])).unwrap();
                top1 += u64::from(best == target as usize);
            }
        }
        assert_eq!(scores.accuracy.top1, top1);
        assert!(scores.accuracy.top5 >= top1 && scores.accuracy.top5 <= 22);
    }

    #[test]
    fn the_sliding_pass_at_a_stride_of_ctx_is_the_standard_one_and_scores_every_token_once() {
        let model = model();
        // 21 tokens: 20 predictions, five full windows of 4, so the two passes match exactly.
        let stream = &stream()[..21];
        let standard = evaluate(&model, stream, 2);
        let same = evaluate_sliding(&model, stream, 4, 2);
        assert_eq!(same.tokens, 20);
        assert!(
            (same.nats - standard.nats).abs() < 1e-9,
            "{same:?} {standard:?}"
        );
        // A stride of 1: each token after the first window is scored once, with 3 tokens of
        // context, at the last position; the sum differs but the count does not.
        let carried = evaluate_sliding(&model, stream, 1, 2);
        assert_eq!(carried.tokens, 20);
        assert!((carried.nats - standard.nats).abs() > 1e-6);
        // By hand: the last target under the stride-1 pass is the last position of the
        // window stream[16..20].
        let last = eval_batches(&stream[16..], 4, 1).remove(0);
        let (inputs, targets) = batch_tensors(&last, &model.device());
        let nll = token_nll(model.forward(inputs), targets)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let first16 = evaluate_sliding(&model, &stream[..20], 1, 2);
        assert!((carried.nats - first16.nats - f64::from(nll[3])).abs() < 1e-4);
    }

    #[test]
    fn token_losses_are_the_pass_s_losses_cut_at_each_eos() {
        let (model, stream) = (model(), stream());
        let losses = token_losses(&model, &stream, 2, 0);
        assert_eq!(losses.nats.len(), 22);
        let sum: f64 = losses.nats.iter().sum();
        let whole = evaluate(&model, &stream, 2);
        assert!((sum - whole.nats).abs() < 1e-9, "{sum} vs {}", whole.nats);
        // Targets stream[i + 1] == 0 end sentences: after losses 1, 5, 9, 13, 17, 21.
        assert_eq!(losses.sentence_ends, vec![2, 6, 10, 14, 18, 22]);
        // Batches of two windows of 4, then the short window: 8, 16, 20, 22.
        assert_eq!(losses.batch_ends, vec![8, 16, 20, 22]);
    }
}
