//! Batches of token windows: random ones for training, an exact sweep for evaluation.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::DataError;

/// A rectangular batch of `rows` sequences of `cols` tokens, inputs and next-token targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    /// Input ids, row-major `[rows, cols]`.
    pub inputs: Vec<u32>,
    /// Target ids (each input's next token), row-major `[rows, cols]`.
    pub targets: Vec<u32>,
    /// Number of sequences.
    pub rows: usize,
    /// Tokens per sequence.
    pub cols: usize,
}

impl TokenBatch {
    /// Number of predicted tokens in the batch.
    pub fn tokens(&self) -> usize {
        self.rows * self.cols
    }
}

/// Draws training batches: `batch` windows of `ctx + 1` contiguous tokens at uniformly random
/// offsets of the train stream, from a seeded ChaCha8 generator so a seed fixes the data order
/// on every platform. It serialises (generator state included) so a resumed run draws the
/// same batches an uninterrupted one would.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainSampler {
    rng: ChaCha8Rng,
    ctx: usize,
    batch: usize,
    max_start: usize,
}

impl TrainSampler {
    /// A sampler over a stream of `stream_len` tokens.
    pub fn new(stream_len: usize, ctx: usize, batch: usize, seed: u64) -> Result<Self, DataError> {
        if stream_len < ctx + 1 {
            return Err(DataError::TooShort {
                what: "train".into(),
                tokens: stream_len,
                needed: ctx + 1,
            });
        }
        Ok(Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            ctx,
            batch,
            max_start: stream_len - (ctx + 1),
        })
    }

    /// The next batch of windows from `stream` (the same stream the sampler was built for).
    pub fn next_batch(&mut self, stream: &[u32]) -> TokenBatch {
        debug_assert_eq!(stream.len(), self.max_start + self.ctx + 1);
        let mut inputs = Vec::with_capacity(self.batch * self.ctx);
        let mut targets = Vec::with_capacity(self.batch * self.ctx);
        for _ in 0..self.batch {
            let start = self.rng.random_range(0..=self.max_start);
            let window = &stream[start..start + self.ctx + 1];
            inputs.extend_from_slice(&window[..self.ctx]);
            targets.extend_from_slice(&window[1..]);
        }
        TokenBatch {
            inputs,
            targets,
            rows: self.batch,
            cols: self.ctx,
        }
    }
}

/// The evaluation pass over a whole split: non-overlapping windows of `ctx` tokens, each
/// starting from an empty context, grouped `batch` windows at a time; the last, shorter window
/// forms a batch of its own. Every token but the stream's first is predicted exactly once,
/// so the batches predict `stream.len() - 1` tokens in all.
pub fn eval_batches(stream: &[u32], ctx: usize, batch: usize) -> Vec<TokenBatch> {
    assert!(ctx > 0 && batch > 0, "ctx and batch must be positive");
    let predictions = stream.len().saturating_sub(1);
    let full = predictions / ctx;
    let mut batches = Vec::with_capacity(full.div_ceil(batch) + 1);
    let mut window = 0;
    while window < full {
        let rows = batch.min(full - window);
        let span = window * ctx..(window + rows) * ctx;
        batches.push(TokenBatch {
            inputs: stream[span.clone()].to_vec(),
            targets: stream[span.start + 1..span.end + 1].to_vec(),
            rows,
            cols: ctx,
        });
        window += rows;
    }
    let rest = predictions - full * ctx;
    if rest > 0 {
        let start = full * ctx;
        batches.push(TokenBatch {
            inputs: stream[start..start + rest].to_vec(),
            targets: stream[start + 1..start + rest + 1].to_vec(),
            rows: 1,
            cols: rest,
        });
    }
    batches
}

/// A fixed sample of a stream for cheap evaluation: `windows` full windows of `ctx + 1` tokens
/// at evenly spaced offsets (so the sample spans the whole stream, not one article), each
/// starting from an empty context, grouped `batch` at a time. Fewer windows when the stream is
/// short; none when it is shorter than one window.
pub fn spread_batches(stream: &[u32], ctx: usize, batch: usize, windows: usize) -> Vec<TokenBatch> {
    assert!(ctx > 0 && batch > 0, "ctx and batch must be positive");
    let Some(last_start) = stream.len().checked_sub(ctx + 1) else {
        return Vec::new();
    };
    let windows = windows.min(last_start + 1).max(1);
    let starts: Vec<usize> = (0..windows)
        .map(|i| {
            if windows == 1 {
                0
            } else {
                i * last_start / (windows - 1)
            }
        })
        .collect();
    starts
        .chunks(batch)
        .map(|group| TokenBatch {
            inputs: group
                .iter()
                .flat_map(|&s| &stream[s..s + ctx])
                .copied()
                .collect(),
            targets: group
                .iter()
                .flat_map(|&s| &stream[s + 1..s + ctx + 1])
                .copied()
                .collect(),
            rows: group.len(),
            cols: ctx,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_windows_span_the_stream_in_full_batches() {
        let stream: Vec<u32> = (0..1000).collect();
        let batches = spread_batches(&stream, 8, 4, 10);
        assert_eq!(
            batches.iter().map(|b| b.rows).collect::<Vec<_>>(),
            vec![4, 4, 2]
        );
        assert_eq!(batches[0].inputs[..8], [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(batches[0].targets[..8], [1, 2, 3, 4, 5, 6, 7, 8]);
        // The last window ends at the stream's last token.
        assert_eq!(*batches[2].targets.last().unwrap(), 999);
        assert!(spread_batches(&stream[..8], 8, 4, 10).is_empty());
        assert_eq!(spread_batches(&stream[..9], 8, 4, 10).len(), 1);
    }

    #[test]
    fn eval_predicts_every_token_but_the_first_exactly_once() {
        for (len, ctx, batch) in [(101, 8, 3), (17, 4, 2), (9, 8, 5), (2, 8, 1), (64, 7, 100)] {
            let stream: Vec<u32> = (0..len as u32).collect();
            let batches = eval_batches(&stream, ctx, batch);
            let mut predicted: Vec<u32> = batches
                .iter()
                .flat_map(|b| b.targets.iter().copied())
                .collect();
            predicted.sort_unstable();
            let expected: Vec<u32> = (1..len as u32).collect();
            assert_eq!(predicted, expected, "len {len} ctx {ctx} batch {batch}");
            for b in &batches {
                assert!(b.cols <= ctx);
                // Each target is the token after its input.
                assert!(b.inputs.iter().zip(&b.targets).all(|(i, t)| t == &(i + 1)));
            }
        }
    }

    #[test]
    fn eval_handles_degenerate_streams() {
        assert!(eval_batches(&[], 4, 2).is_empty());
        assert!(eval_batches(&[7], 4, 2).is_empty());
    }

    #[test]
    fn train_windows_are_contiguous_and_seeded() {
        let stream: Vec<u32> = (0..1000).collect();
        let mut a = TrainSampler::new(stream.len(), 16, 4, 7).unwrap();
        let mut b = TrainSampler::new(stream.len(), 16, 4, 7).unwrap();
        let mut c = TrainSampler::new(stream.len(), 16, 4, 8).unwrap();
        let (ba, bb, bc) = (
            a.next_batch(&stream),
            b.next_batch(&stream),
            c.next_batch(&stream),
        );
        assert_eq!(ba, bb, "same seed, same batch");
        assert_ne!(ba, bc, "another seed, another batch");
        for row in 0..4 {
            let inp = &ba.inputs[row * 16..(row + 1) * 16];
            let tgt = &ba.targets[row * 16..(row + 1) * 16];
            assert!(inp.windows(2).all(|w| w[1] == w[0] + 1));
            assert!(inp.iter().zip(tgt).all(|(i, t)| *t == i + 1));
        }
    }

    #[test]
    fn a_stream_shorter_than_one_window_is_refused() {
        assert!(matches!(
            TrainSampler::new(16, 16, 1, 0),
            Err(DataError::TooShort { .. })
        ));
    }
}
