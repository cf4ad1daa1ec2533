//! A corpus whose true entropy is known: text sampled from a Markov chain of order 1 or 2.
//!
//! Token 0 is `<eos>` (the end of a line, not written to the files, as in PTB); tokens
//! `1..V` are the words `w1 … w{V-1}`. From a state (the last `order` tokens):
//!
//! - `<eos>` has probability `eos` (0 right after an `<eos>`, so no line is empty);
//! - each word has `(1 − eos) · ((1 − mix) · q(w) + mix / (V − 1))`, where `q` puts random
//!   weights on `branching` successor words drawn for that state, and `mix` spreads a little
//!   mass over every word so the chain is irreducible and aperiodic.
//!
//! The entropy rate is `H = Σ_s π(s) · H(P(·|s))` in nats per token, with `π` the stationary
//! distribution, found by power iteration to a change below 1e-14. This is the floor of
//! held-out NLL: no model, however good, can predict the chain's text better on average than
//! the chain itself. [`MarkovCorpus`] also records each split's oracle NLL, the chain's own
//! loss on exactly the tokens a model is scored on.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::corpus::Corpus;
use crate::tokenizer::EOS;

/// The shape of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChainSpec {
    /// Tokens, `<eos>` included (at least 3).
    pub vocab: usize,
    /// Tokens of context: 1 or 2.
    pub order: usize,
    /// Favoured successor words per state.
    pub branching: usize,
    /// Probability of `<eos>` after a word (1 / mean line length).
    pub eos: f64,
    /// Share of a word's probability spread uniformly over all words.
    pub mix: f64,
    /// Seed of the chain's parameters (and, unless told otherwise, of the sampled text).
    pub seed: u64,
}

impl Default for ChainSpec {
    fn default() -> Self {
        Self {
            vocab: 100,
            order: 1,
            branching: 4,
            eos: 0.05,
            mix: 0.05,
            seed: 0,
        }
    }
}

/// One state's next-token distribution: a few listed tokens, and the same small probability
/// for every other word.
#[derive(Debug, Clone)]
struct Next {
    /// (token, probability), distinct tokens.
    listed: Vec<(u32, f64)>,
    /// Probability of each word not listed.
    background: f64,
}

/// A Markov chain over `vocab` tokens with its stationary distribution and entropy rate.
#[derive(Debug, Clone)]
pub struct MarkovChain {
    spec: ChainSpec,
    next: Vec<Next>,
    stationary: Vec<f64>,
    entropy_rate: f64,
}

impl MarkovChain {
    /// Draws the chain's parameters from `spec.seed` and computes its entropy rate.
    pub fn new(spec: ChainSpec) -> Result<Self, String> {
        validate(&spec)?;
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let v = spec.vocab;
        let states = v.pow(spec.order as u32);
        let words = (v - 1) as f64;
        let next = (0..states)
            .map(|s| {
                let after_eos = s % v == 0;
                let p_eos = if after_eos { 0.0 } else { spec.eos };
                let mut succ: Vec<u32> = Vec::new();
                while succ.len() < spec.branching {
                    let w = rng.random_range(1..v as u32);
                    if !succ.contains(&w) {
                        succ.push(w);
                    }
                }
                let weights: Vec<f64> = succ.iter().map(|_| rng.random_range(0.1..1.0)).collect();
                let total: f64 = weights.iter().sum();
                let background = (1.0 - p_eos) * spec.mix / words;
                let mut listed: Vec<(u32, f64)> = succ
                    .iter()
                    .zip(&weights)
                    .map(|(&w, q)| (w, (1.0 - p_eos) * (1.0 - spec.mix) * q / total + background))
                    .collect();
                if p_eos > 0.0 {
                    listed.push((0, p_eos));
                }
                Next { listed, background }
            })
            .collect();
        let mut chain = Self {
            spec,
            next,
            stationary: Vec::new(),
            entropy_rate: 0.0,
        };
        chain.stationary = chain.power_iteration();
        chain.entropy_rate = (0..states)
            .map(|s| chain.stationary[s] * chain.state_entropy(s))
            .sum();
        Ok(chain)
    }

    /// The chain's shape.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// Entropy rate, nats per token.
    pub fn entropy_rate(&self) -> f64 {
        self.entropy_rate
    }

    /// The state before the first token: a history of `<eos>` only (a line start).
    pub fn start_state(&self) -> usize {
        0
    }

    /// The state after `token` follows `state`.
    pub fn advance(&self, state: usize, token: u32) -> usize {
        (state * self.spec.vocab + token as usize) % self.spec.vocab.pow(self.spec.order as u32)
    }

    /// `P(token | state)`.
    pub fn prob(&self, state: usize, token: u32) -> f64 {
        let next = &self.next[state];
        if let Some(&(_, p)) = next.listed.iter().find(|(t, _)| *t == token) {
            return p;
        }
        if token == 0 { 0.0 } else { next.background }
    }

    /// Samples the next token from `state`.
    pub fn sample(&self, state: usize, rng: &mut impl Rng) -> u32 {
        let next = &self.next[state];
        let mut u: f64 = rng.random();
        for &(t, p) in &next.listed {
            if u < p {
                return t;
            }
            u -= p;
        }
        // A background word: uniform over the words not listed (rejection keeps it exact).
        loop {
            let w = rng.random_range(1..self.spec.vocab as u32);
            if !next.listed.iter().any(|(t, _)| *t == w) {
                return w;
            }
        }
    }

    /// The entropy of one state's next-token distribution, nats.
    fn state_entropy(&self, s: usize) -> f64 {
        let next = &self.next[s];
        let listed_words = next.listed.iter().filter(|(t, _)| *t != 0).count();
        let others = (self.spec.vocab - 1 - listed_words) as f64;
        let h = |p: f64| if p > 0.0 { -p * p.ln() } else { 0.0 };
        next.listed.iter().map(|&(_, p)| h(p)).sum::<f64>() + others * h(next.background)
    }

    /// The stationary distribution over states. The background part of every state whose
    /// last `order − 1` tokens agree goes to the same set of next states, so it is summed per
    /// such suffix first: each iteration costs O(states · branching + V^order).
    fn power_iteration(&self) -> Vec<f64> {
        let v = self.spec.vocab;
        let states = v.pow(self.spec.order as u32);
        let suffixes = v.pow(self.spec.order as u32 - 1);
        let mut pi = vec![1.0 / states as f64; states];
        for _ in 0..100_000 {
            let mut out = vec![0.0; states];
            let mut spread = vec![0.0; suffixes];
            for (s, &mass) in pi.iter().enumerate() {
                if mass == 0.0 {
                    continue;
                }
                let next = &self.next[s];
                spread[s % suffixes] += mass * next.background;
                for &(t, p) in &next.listed {
                    // Listed words already include their background share: remove it here,
                    // since `spread` adds it to every word below.
                    let extra = if t == 0 { p } else { p - next.background };
                    out[self.advance(s, t)] += mass * extra;
                }
            }
            for (m, &mass) in spread.iter().enumerate() {
                for w in 1..v {
                    out[m * v + w] += mass;
                }
            }
            let change: f64 = out.iter().zip(&pi).map(|(a, b)| (a - b).abs()).sum();
            pi = out;
            if change < 1e-14 {
                break;
            }
        }
        pi
    }

    /// The name of a token in the corpus files.
    pub fn word(token: u32) -> String {
        if token == 0 {
            EOS.to_string()
        } else {
            format!("w{token}")
        }
    }
}

fn validate(spec: &ChainSpec) -> Result<(), String> {
    if spec.vocab < 3 {
        return Err(format!(
            "vocab {} is too small: at least 3 tokens",
            spec.vocab
        ));
    }
    if !(1..=2).contains(&spec.order) {
        return Err(format!("order {} is not supported: use 1 or 2", spec.order));
    }
    if spec.order == 2 && spec.vocab > 2_000 {
        return Err(format!(
            "an order-2 chain over {} tokens has {} states; use at most 2,000 tokens",
            spec.vocab,
            spec.vocab * spec.vocab
        ));
    }
    if spec.branching == 0 || spec.branching >= spec.vocab {
        return Err(format!(
            "branching {} must be between 1 and vocab − 1 ({})",
            spec.branching,
            spec.vocab - 1
        ));
    }
    let open_unit = |x: f64| x > 0.0 && x < 1.0;
    if !open_unit(spec.eos) || !open_unit(spec.mix) {
        return Err("eos and mix must lie strictly between 0 and 1".into());
    }
    Ok(())
}

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
        let scored = tokens - 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(order: usize, vocab: usize) -> MarkovChain {
        MarkovChain::new(ChainSpec {
            vocab,
            order,
            seed: 3,
            ..ChainSpec::default()
        })
        .unwrap()
    }

    #[test]
    fn every_next_token_distribution_sums_to_one() {
        for c in [chain(1, 30), chain(2, 12)] {
            for s in 0..c.next.len() {
                let total: f64 = (0..c.spec.vocab as u32).map(|t| c.prob(s, t)).sum();
                assert!((total - 1.0).abs() < 1e-12, "state {s}: {total}");
            }
            let pi: f64 = c.stationary.iter().sum();
            assert!((pi - 1.0).abs() < 1e-12);
        }
    }

    /// Independent of the power iteration: by the ergodic theorem, the mean −ln P of a long
    /// sample converges to the entropy rate. 400,000 tokens put it within 0.01 nats here.
    #[test]
    fn the_entropy_rate_matches_a_long_sample() {
        for c in [chain(1, 50), chain(2, 20)] {
            let mut rng = ChaCha8Rng::seed_from_u64(11);
            let mut state = c.start_state();
            let n = 400_000;
            let mut nll = 0.0;
            for _ in 0..n {
                let t = c.sample(state, &mut rng);
                nll -= c.prob(state, t).ln();
                state = c.advance(state, t);
            }
            let mean = nll / n as f64;
            assert!(
                (mean - c.entropy_rate()).abs() < 0.01,
                "order {}: sample {mean} vs exact {}",
                c.spec.order,
                c.entropy_rate()
            );
        }
    }

    #[test]
    fn splits_hold_complete_lines_and_their_oracles() {
        let c = chain(1, 40);
        let m = sample_corpus(&c, 5_000, 9);
        let count = |lines: &[String]| {
            lines
                .iter()
                .map(|l| l.split_whitespace().count() + 1)
                .sum::<usize>() as u64
        };
        assert_eq!(count(&m.corpus.train), m.report.train.tokens);
        assert_eq!(count(&m.corpus.valid), m.report.valid.tokens);
        assert!(m.report.train.tokens >= 5_000 && m.report.valid.tokens >= 500);
        assert!(m.corpus.train.iter().all(|l| !l.trim().is_empty()));
        assert!(m.report.valid.nll > 0.0 && m.report.valid.ppl < 40.0);
    }

    /// entropy.json's oracle, recomputed another way: parse the written text back into
    /// tokens, replay the chain's state over train and then valid, and sum −ln P over valid's
    /// tokens but its first.
    #[test]
    fn the_oracle_recomputed_from_the_written_text_agrees() {
        for c in [chain(1, 30), chain(2, 15)] {
            let m = sample_corpus(&c, 3_000, 5);
            let ids = |lines: &[String]| -> Vec<u32> {
                lines
                    .iter()
                    .flat_map(|l| {
                        l.split_whitespace()
                            .map(|w| w[1..].parse::<u32>().unwrap())
                            .chain(std::iter::once(0))
                            .collect::<Vec<_>>()
                    })
                    .collect()
            };
            let mut state = c.start_state();
            for t in ids(&m.corpus.train) {
                state = c.advance(state, t);
            }
            let valid = ids(&m.corpus.valid);
            let mut nll = 0.0;
            for (i, &t) in valid.iter().enumerate() {
                if i > 0 {
                    nll -= c.prob(state, t).ln();
                }
                state = c.advance(state, t);
            }
            let mean = nll / (valid.len() - 1) as f64;
            assert!(
                (mean - m.report.valid.nll).abs() < 1e-12,
                "{mean} vs {}",
                m.report.valid.nll
            );
            assert_eq!(valid.len() as u64, m.report.valid.tokens);
        }
    }

    #[test]
    fn bad_shapes_are_refused_with_a_reason() {
        let bad = |spec: ChainSpec| MarkovChain::new(spec).unwrap_err();
        assert!(
            bad(ChainSpec {
                order: 3,
                ..ChainSpec::default()
            })
            .contains("order 3")
        );
        assert!(
            bad(ChainSpec {
                vocab: 2,
                ..ChainSpec::default()
            })
            .contains("too small")
        );
        assert!(
            bad(ChainSpec {
                branching: 100,
                ..ChainSpec::default()
            })
            .contains("branching")
        );
    }
}
