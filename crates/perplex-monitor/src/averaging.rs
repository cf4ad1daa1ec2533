//! Three ways to average a split's per-token losses into a perplexity, and why only one is
//! right. Perplexity is `exp` of the mean NLL per token: every predicted token weighs the
//! same. The mean of per-sentence perplexities weighs a two-word sentence as much as a
//! forty-word one (and `exp` of each before the mean inflates it: Jensen); the mean of
//! per-batch losses weighs a short, ragged last batch as much as a full one. The wrong ones
//! exist so that `perplex eval --averaging` and the `averaging` demo can show how far off they
//! are; nothing else reports them.

/// How a split's token losses are averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Averaging {
    /// `exp(Σ nll / tokens)`: the perplexity.
    Token,
    /// The mean over sentences of each sentence's `exp(mean nll)`: wrong.
    Sequence,
    /// `exp` of the mean over batches of each batch's mean nll: wrong.
    Batch,
}

impl Averaging {
    /// All three, the right one first.
    pub const ALL: [Averaging; 3] = [Averaging::Token, Averaging::Sequence, Averaging::Batch];

    /// The name `--averaging` takes.
    pub fn name(self) -> &'static str {
        match self {
            Averaging::Token => "token",
            Averaging::Sequence => "sequence",
            Averaging::Batch => "batch",
        }
    }

    /// Whether this is the perplexity (per token) rather than a wrong average.
    pub fn is_right(self) -> bool {
        self == Averaging::Token
    }
}

/// A split's per-token losses in stream order, with where its sentences and batches end.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenLosses {
    /// NLL of each predicted token, nats.
    pub nats: Vec<f64>,
    /// Exclusive end of each sentence in `nats` (a sentence ends with its `<eos>` target; the
    /// tokens after the last one form a sentence too).
    pub sentence_ends: Vec<usize>,
    /// Exclusive end of each evaluation batch in `nats`.
    pub batch_ends: Vec<usize>,
}

impl TokenLosses {
    /// The perplexity of the split averaged `how` (NaN when there is nothing to average).
    pub fn perplexity(&self, how: Averaging) -> f64 {
        match how {
            Averaging::Token => mean(&self.nats).exp(),
            Averaging::Sequence => {
                mean_over(&self.nats, &self.sentence_ends, |part| mean(part).exp())
            }
            Averaging::Batch => mean_over(&self.nats, &self.batch_ends, mean).exp(),
        }
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The mean of `f` over the non-empty parts of `values` cut at `ends` (and after the last).
fn mean_over(values: &[f64], ends: &[usize], f: impl Fn(&[f64]) -> f64) -> f64 {
    let mut start = 0;
    let mut parts = Vec::new();
    for &end in ends.iter().chain(std::iter::once(&values.len())) {
        if end > start {
            parts.push(f(&values[start..end]));
        }
        start = start.max(end);
    }
    mean(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two sentences, one short and easy, one long and hard, in one full batch of four
    /// tokens and a ragged last batch of one.
    fn losses() -> TokenLosses {
        TokenLosses {
            nats: vec![1.0, 3.0, 3.0, 3.0, 3.0],
            sentence_ends: vec![1, 5],
            batch_ends: vec![4, 5],
        }
    }

    #[test]
    fn each_average_is_what_its_definition_says() {
        let l = losses();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(l.perplexity(Averaging::Token), (13.0f64 / 5.0).exp()));
        let sequence = (1f64.exp() + 3f64.exp()) / 2.0;
        assert!(close(l.perplexity(Averaging::Sequence), sequence));
        let batch = ((10.0 / 4.0 + 3.0) / 2.0f64).exp();
        assert!(close(l.perplexity(Averaging::Batch), batch));
        // The short easy sentence counts as much as the long hard one: too low here; the
        // ragged last batch (one hard token) counts as much as four tokens: too high.
        assert!(sequence < l.perplexity(Averaging::Token));
        assert!(batch > l.perplexity(Averaging::Token));
    }

    #[test]
    fn tokens_after_the_last_sentence_end_are_a_sentence() {
        let l = TokenLosses {
            nats: vec![2.0, 2.0, 4.0],
            sentence_ends: vec![2],
            batch_ends: vec![3],
        };
        let expected = (2f64.exp() + 4f64.exp()) / 2.0;
        assert!((l.perplexity(Averaging::Sequence) - expected).abs() < 1e-12);
        assert!(TokenLosses::default().perplexity(Averaging::Token).is_nan());
    }
}
