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

mod sample;
#[cfg(test)]
mod tests;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::tokenizer::EOS;

pub use sample::{EntropyReport, MarkovCorpus, Oracle, sample_corpus};

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
