//! Sampling text from a trained model: temperature, top-k, and a seed that fixes the result.

use burn::tensor::{Int, Tensor, TensorData};
use perplex_model::Gpt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How to pick each next token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleOptions {
    /// Tokens to generate after the prompt.
    pub max_tokens: usize,
    /// Softmax temperature; 0 picks the most likely token every time (greedy).
    pub temperature: f64,
    /// Sample only among the `k` most likely tokens (None: all of them).
    pub top_k: Option<usize>,
    /// Seed of the sampler.
    pub seed: u64,
}

/// Continues `prompt` (non-empty token ids) with `options.max_tokens` sampled tokens, the
/// context cropped to the model's last `ctx` tokens; returns the prompt and the continuation.
/// `model` should be in eval mode.
pub fn generate(model: &Gpt, prompt: &[u32], options: &SampleOptions) -> Vec<u32> {
    let mut tokens = prompt.to_vec();
    generate_each(model, prompt, options, |t| {
        tokens.push(t);
        true
    });
    tokens
}

/// [`generate`], handing each token to `on_token` as soon as it is drawn; generation stops
/// early when `on_token` returns false (a reader that has seen enough, or Ctrl-C).
pub fn generate_each(
    model: &Gpt,
    prompt: &[u32],
    options: &SampleOptions,
    mut on_token: impl FnMut(u32) -> bool,
) {
    assert!(
        !prompt.is_empty(),
        "generation needs at least one prompt token"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut tokens = prompt.to_vec();
    for _ in 0..options.max_tokens {
        let logits = next_logits(model, std::slice::from_ref(&tokens));
        let next = pick(&logits[0], options, &mut rng);
        tokens.push(next);
        if !on_token(next) {
            return;
        }
    }
}

/// Continues several prompts of the same (non-zero) length at once, one forward pass per
/// generated token for all of them. Each prompt draws from its own sampler seeded with
/// `options.seed`, so each result is what [`generate`] gives that prompt alone.
pub fn generate_batch(model: &Gpt, prompts: &[&[u32]], options: &SampleOptions) -> Vec<Vec<u32>> {
    let Some(first) = prompts.first() else {
        return Vec::new();
    };
    assert!(
        !first.is_empty() && prompts.iter().all(|p| p.len() == first.len()),
        "batched generation needs prompts of one non-zero length"
    );
    let mut rngs: Vec<ChaCha8Rng> = prompts
        .iter()
        .map(|_| ChaCha8Rng::seed_from_u64(options.seed))
        .collect();
    let mut sequences: Vec<Vec<u32>> = prompts.iter().map(|p| p.to_vec()).collect();
    for _ in 0..options.max_tokens {
        let logits = next_logits(model, &sequences);
        for ((sequence, row), rng) in sequences.iter_mut().zip(&logits).zip(&mut rngs) {
            sequence.push(pick(row, options, rng));
        }
    }
    sequences
}

/// One row of next-token logits per sequence (all of one length), each seeing its last
/// `ctx` tokens.
fn next_logits(model: &Gpt, sequences: &[Vec<u32>]) -> Vec<Vec<f32>> {
    let len = sequences[0].len();
    let kept = len.min(model.ctx);
    let ids: Vec<i64> = sequences
        .iter()
        .flat_map(|s| s[len - kept..].iter().map(|&t| i64::from(t)))
        .collect();
    let input = Tensor::<2, Int>::from_data(
        TensorData::new(ids, [sequences.len(), kept]),
        &model.device(),
    );
    let flat = model
        .next_token_logits(input)
        .into_data()
        .try_to_vec::<f32>()
        .expect("logits are floats");
    flat.chunks(model.vocab_size())
        .map(<[f32]>::to_vec)
        .collect()
}

/// Picks one token id from a row of logits.
fn pick(logits: &[f32], options: &SampleOptions, rng: &mut ChaCha8Rng) -> u32 {
    let mut ranked: Vec<(usize, f64)> = logits.iter().map(|&l| f64::from(l)).enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    if options.temperature <= 0.0 {
        return ranked[0].0 as u32;
    }
    let k = options.top_k.unwrap_or(ranked.len()).clamp(1, ranked.len());
    ranked.truncate(k);
    let top = ranked[0].1;
    let weights: Vec<f64> = ranked
        .iter()
        .map(|(_, l)| ((l - top) / options.temperature).exp())
        .collect();
    let mut target = rng.random::<f64>() * weights.iter().sum::<f64>();
    for ((id, _), w) in ranked.iter().zip(&weights) {
        if target < *w {
            return *id as u32;
        }
        target -= w;
    }
    ranked[k - 1].0 as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(temperature: f64, top_k: Option<usize>, seed: u64) -> SampleOptions {
        SampleOptions {
            max_tokens: 1,
            temperature,
            top_k,
            seed,
        }
    }

    #[test]
    fn greedy_takes_the_argmax_and_top_1_equals_greedy() {
        let logits = [0.1, 3.0, -1.0, 2.9];
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert_eq!(pick(&logits, &options(0.0, None, 0), &mut rng), 1);
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            assert_eq!(pick(&logits, &options(1.0, Some(1), seed), &mut rng), 1);
        }
    }

    #[test]
    fn top_k_never_leaves_the_k_best_and_sampling_follows_the_seed() {
        let logits = [5.0, 4.0, 0.0, -2.0, 4.5];
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..200)
                .map(|_| pick(&logits, &options(2.0, Some(3), seed), &mut rng))
                .collect::<Vec<_>>()
        };
        let a = draw(9);
        assert!(a.iter().all(|id| [0, 1, 4].contains(id)), "{a:?}");
        assert!(
            [0, 1, 4].iter().all(|id| a.contains(id)),
            "all three appear at T=2"
        );
        assert_eq!(a, draw(9));
        assert_ne!(a, draw(10));
    }

    #[test]
    fn batched_generation_gives_each_prompt_what_it_gets_alone() {
        let device = burn::tensor::Device::flex();
        let model = perplex_model::GptConfig {
            vocab_size: 40,
            ctx: 6,
            layers: 1,
            heads: 2,
            d_model: 8,
            dropout: 0.0,
            word_dropout: 0.0,
        }
        .init(&device);
        let prompts: [&[u32]; 3] = [&[1, 2], &[7, 7], &[30, 4]];
        for temperature in [0.0, 1.0] {
            let options = SampleOptions {
                max_tokens: 9, // past ctx, so the crop is exercised too
                temperature,
                top_k: None,
                seed: 11,
            };
            let batched = generate_batch(&model, &prompts, &options);
            for (prompt, together) in prompts.iter().zip(&batched) {
                let alone = generate(&model, prompt, &options);
                assert_eq!(together.len(), 11);
                assert_eq!(together, &alone, "temperature {temperature}");
            }
        }
    }
}
