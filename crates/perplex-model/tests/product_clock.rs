//! `clock_products` counts the time the CPU kernels spend in matrix products during some
//! work (`perplex bench` reads it over training steps). Its own test binary with one test:
//! the clock counts every product in the process, and here nothing else runs.

use std::time::{Duration, Instant};

mod common;

use burn::tensor::Device;
use perplex_model::{GptConfig, ProductSeconds, clock_products};

/// One forward and backward pass of a small model.
fn training_step() {
    let config = GptConfig {
        vocab_size: 300,
        ctx: 32,
        layers: 2,
        heads: 2,
        d_model: 64,
        dropout: 0.1,
        word_dropout: 0.0,
    };
    let batch = 4;
    let device = Device::flex().autodiff();
    device.seed(7);
    let model = config.init(&device);
    let (tokens, targets) = common::step_ids(&config, batch, &device);
    let loss = model.loss(tokens, targets);
    let _grads = loss.backward();
}

#[test]
fn a_step_s_products_are_clocked_by_who_runs_them_and_nothing_else_is() {
    let started = Instant::now();
    let ((), step) = clock_products(training_step);
    let elapsed = started.elapsed().as_secs_f64();
    // The layers' and the logits' products split over the pool; attention's per-head ones
    // run one per task. Both ran, and inside the work's own time.
    assert!(step.pool > 0.0 && step.per_task > 0.0, "{step:?}");
    assert!(step.pool < elapsed, "{step:?} in {elapsed} s");
    assert_eq!(step.wall(2), step.pool + step.per_task / 2.0);
    assert_eq!(step.wall(1), step.pool + step.per_task);

    // Work without products counts nothing, and neither do products outside the clock.
    let ((), idle) = clock_products(|| std::thread::sleep(Duration::from_millis(5)));
    assert_eq!(idle, ProductSeconds::default());
    training_step();
    let ((), none) = clock_products(|| ());
    assert_eq!(none, ProductSeconds::default());
}
