//! The evaluation pass with context carried across windows: windows of `ctx` tokens that
//! advance by `stride`, each scoring only its last `stride` targets, so every token after the
//! first window is predicted with at least `ctx - stride` tokens of context.
//!
//! The standard pass ([`eval_batches`](crate::eval_batches)) starts every window from an empty
//! context, so a token's context ranges from 0 to `ctx - 1` tokens (on average half a window);
//! this one (Transformer-XL's and GPT-2's "sliding window" evaluation) scores the same tokens,
//! each exactly once, with more context, and costs about `ctx / stride` times as many forward
//! tokens. Its perplexity is a different number, lower for a model that uses context: report
//! it beside the standard one, never in its place. `stride == ctx` is the standard pass.

use crate::TokenBatch;

/// A batch of windows whose first `context_only` columns are context: their targets were
/// scored by an earlier window and must not be counted again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoredBatch {
    /// The windows, inputs and targets.
    pub batch: TokenBatch,
    /// Leading columns of every row that are not scored.
    pub context_only: usize,
}

impl ScoredBatch {
    /// Number of scored targets.
    pub fn scored(&self) -> usize {
        self.batch.rows * (self.batch.cols - self.context_only)
    }
}

/// The sliding pass over `stream`: a first window of up to `ctx` tokens scoring all of its
/// targets, then windows of `ctx` tokens at starts `stride, 2·stride, …` each scoring its last
/// `stride` targets (grouped `batch` at a time), then, when the stream's end falls between,
/// one window ending at the stream's last input that scores the targets still unscored.
/// Every token but the stream's first is scored exactly once, in stream order.
///
/// # Panics
/// If `ctx`, `stride` or `batch` is zero, or `stride > ctx`.
pub fn sliding_batches(
    stream: &[u32],
    ctx: usize,
    stride: usize,
    batch: usize,
) -> Vec<ScoredBatch> {
    assert!(ctx > 0 && batch > 0, "ctx and batch must be positive");
    assert!(stride > 0 && stride <= ctx, "stride must be in 1..=ctx");
    let predictions = stream.len().saturating_sub(1);
    if predictions == 0 {
        return Vec::new();
    }
    let window = |start: usize, len: usize, rows: usize| TokenBatch {
        inputs: (0..rows)
            .flat_map(|r| &stream[start + r * stride..start + r * stride + len])
            .copied()
            .collect(),
        targets: (0..rows)
            .flat_map(|r| &stream[start + r * stride + 1..start + r * stride + len + 1])
            .copied()
            .collect(),
        rows,
        cols: len,
    };
    let first = ctx.min(predictions);
    let mut batches = vec![ScoredBatch {
        batch: window(0, first, 1),
        context_only: 0,
    }];
    // Window j ≥ 1 starts at j·stride and scores targets ctx + (j-1)·stride + 1 ..= ctx + j·stride.
    let full = (predictions - first) / stride;
    let mut j = 1;
    while j <= full {
        let rows = batch.min(full + 1 - j);
        batches.push(ScoredBatch {
            batch: window(j * stride, ctx, rows),
            context_only: ctx - stride,
        });
        j += rows;
    }
    let rest = predictions - first - full * stride;
    if rest > 0 {
        batches.push(ScoredBatch {
            batch: window(predictions - ctx, ctx, 1),
            context_only: ctx - rest,
        });
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval_batches;

    /// The stream positions of the targets a pass scores, in order, each with the tokens of
    /// context it had. The stream must be `0, 1, 2, …`, so a window starts at its first input.
    fn scored(batches: &[ScoredBatch]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for b in batches {
            let cols = b.batch.cols;
            for r in 0..b.batch.rows {
                let start = b.batch.inputs[r * cols] as usize;
                for c in b.context_only..cols {
                    assert_eq!(b.batch.inputs[r * cols + c] as usize, start + c);
                    assert_eq!(b.batch.targets[r * cols + c] as usize, start + c + 1);
                    out.push((start + c + 1, c));
                }
            }
        }
        out
    }

    #[test]
    fn every_target_is_scored_once_in_order_with_at_least_ctx_minus_stride_context() {
        // Distinct ids, so a window's position is its first input.
        for (len, ctx, stride, batch) in [
            (40, 8, 3, 2),
            (41, 8, 8, 3),
            (9, 8, 2, 4),
            (5, 8, 4, 1),
            (30, 6, 1, 5),
        ] {
            let stream: Vec<u32> = (0..len as u32).collect();
            let batches = sliding_batches(&stream, ctx, stride, batch);
            let pairs = scored(&batches);
            let targets: Vec<usize> = pairs.iter().map(|&(t, _)| t).collect();
            assert_eq!(
                targets,
                (1..len).collect::<Vec<_>>(),
                "{len} {ctx} {stride}"
            );
            for &(t, context) in &pairs {
                if t > ctx {
                    assert!(context >= ctx - stride, "target {t} saw {context} tokens");
                }
            }
            let scored: usize = batches.iter().map(ScoredBatch::scored).sum();
            assert_eq!(scored, len - 1);
            assert!(batches.iter().all(|b| b.batch.rows <= batch));
        }
    }

    /// (On a stream that full windows tile; otherwise the last window differs: the sliding
    /// pass gives the remaining targets a full window of context.)
    #[test]
    fn a_stride_of_ctx_scores_the_standard_windows() {
        let stream: Vec<u32> = (0..50).collect();
        let sliding = sliding_batches(&stream, 7, 7, 100);
        let standard = eval_batches(&stream, 7, 100);
        let flatten = |bs: Vec<&TokenBatch>| -> (Vec<u32>, Vec<u32>) {
            bs.iter().fold((vec![], vec![]), |(mut i, mut t), b| {
                i.extend(&b.inputs);
                t.extend(&b.targets);
                (i, t)
            })
        };
        assert!(sliding.iter().all(|b| b.context_only == 0));
        assert_eq!(
            flatten(sliding.iter().map(|b| &b.batch).collect()),
            flatten(standard.iter().collect())
        );
    }

    #[test]
    fn an_empty_or_single_token_stream_has_nothing_to_score() {
        assert!(sliding_batches(&[], 4, 2, 3).is_empty());
        assert!(sliding_batches(&[7], 4, 2, 3).is_empty());
    }
}
