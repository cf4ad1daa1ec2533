//! Text sampled from a chain, cut into splits, with each split's oracle NLL.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{ChainSpec, MarkovChain};
use crate::corpus::Corpus;

/// A split's oracle: the chain's own loss on the tokens a model is scored on (every token of
/// the split but the first, each given the true preceding tokens).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Oracle {
    /// Tokens of the split (`<eos>` included).
    pub tokens: u64,
    /// Tokens scored: all but the first.
    pub scored_tokens: u64,
    /// Mean NLL per scored token under the true chain, nats.
    pub nll: f64,
    /// `exp(nll)`.
    pub ppl: f64,
}

/// What `entropy.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntropyReport {
    /// The chain.
    pub spec: ChainSpec,
    /// Seed of the sampled text.
    pub text_seed: u64,
    /// Entropy rate, nats per token.
    pub entropy_rate_nats: f64,
    /// `exp(entropy rate)`: the perplexity floor.
    pub entropy_rate_ppl: f64,
    /// Oracle of train, valid and test.
    pub train: Oracle,
    /// Oracle of valid.
    pub valid: Oracle,
    /// Oracle of test.
    pub test: Oracle,
}

/// A sampled corpus with its oracle figures.
#[derive(Debug, Clone)]
pub struct MarkovCorpus {
    /// The text, in PTB's line format.
    pub corpus: Corpus,
    /// The figures for `entropy.json`.
    pub report: EntropyReport,
}

/// Samples one continuous token stream and cuts it, at line ends, into train (at least
/// `train_tokens` tokens), then valid and test (a tenth of that each).
pub fn sample_corpus(chain: &MarkovChain, train_tokens: usize, text_seed: u64) -> MarkovCorpus {
    let mut rng = ChaCha8Rng::seed_from_u64(text_seed);
    let mut state = chain.start_state();
    let held_out = (train_tokens / 10).max(1);
    let mut split = |target: usize| {
        let mut lines = Vec::new();
        let mut line: Vec<String> = Vec::new();
        let (mut tokens, mut nll, mut first) = (0u64, 0.0, true);
        while (tokens as usize) < target || !line.is_empty() {
            let t = chain.sample(state, &mut rng);
            if !first {
                nll -= chain.prob(state, t).ln();
            }
            first = false;
            tokens += 1;
            state = chain.advance(state, t);
            if t == 0 {
                lines.push(line.join(" "));
                line.clear();
            } else {
                line.push(MarkovChain::word(t));
            }
        }
        let scored = tokens.saturating_sub(1);
        let mean = nll / scored.max(1) as f64;
        let oracle = Oracle {
            tokens,
            scored_tokens: scored,
            nll: mean,
            ppl: mean.exp(),
        };
        (lines, oracle)
    };
    let (train, train_o) = split(train_tokens);
    let (valid, valid_o) = split(held_out);
    let (test, test_o) = split(held_out);
    MarkovCorpus {
        corpus: Corpus { train, valid, test },
        report: EntropyReport {
            spec: *chain.spec(),
            text_seed,
            entropy_rate_nats: chain.entropy_rate(),
            entropy_rate_ppl: chain.entropy_rate().exp(),
            train: train_o,
            valid: valid_o,
            test: test_o,
        },
    }
}
