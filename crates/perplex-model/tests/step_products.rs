//! `GptConfig::step_products` is a hand-kept list (the benchmark times the matrix library on
//! it); this checks it against the products one real training step runs, so the list cannot
//! drift from the model. Its own test binary: the recording sees every product in the
//! process, and here nothing else runs.

use burn::tensor::{Device, Int, Tensor, TensorData};
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
    let ids = |offset: i64| {
        let ids: Vec<i64> = (0..(batch * config.ctx) as i64)
            .map(|i| (i * 7 + offset) % config.vocab_size as i64)
            .collect();
        Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, config.ctx]), &device)
    };
    let (tokens, targets) = (ids(0), ids(1));
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
