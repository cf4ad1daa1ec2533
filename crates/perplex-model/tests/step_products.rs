//! `GptConfig::step_products` is a hand-kept list (the benchmark times the matrix library on
//! it); this checks it against the products one real training step runs, so the list cannot
//! drift from the model. Its own test binary: the recording sees every product in the
//! process, and here nothing else runs.

mod common;

use burn::tensor::Device;
use perplex_model::{GptConfig, record_products};

/// Odd sizes, so that a mix-up of two dimensions cannot give the same shape by chance.
fn config() -> GptConfig {
    GptConfig {
        vocab_size: 41,
        ctx: 13,
        layers: 2,
        heads: 2,
        d_model: 14,
        dropout: 0.1,
        word_dropout: 0.0,
    }
}

#[test]
fn the_listed_products_are_the_ones_a_training_step_runs() {
    let (config, batch) = (config(), 3);
    let device = Device::flex().autodiff();
    device.seed(7);
    let model = config.init(&device);
    let (tokens, targets) = common::step_ids(&config, batch, &device);
    let ((), mut ran) = record_products(|| {
        let loss = model.loss(tokens, targets);
        let _grads = loss.backward();
    });
    let mut listed: Vec<[usize; 3]> = config
        .step_products(batch)
        .iter()
        .flat_map(|p| std::iter::repeat_n([p.m, p.k, p.n], p.calls * p.batch))
        .collect();
    ran.sort_unstable();
    listed.sort_unstable();
    assert_eq!(
        ran, listed,
        "the step ran (left) other products than listed (right)"
    );
}
