//! What the model's test binaries share.

use burn::tensor::{Device, Int, Tensor, TensorData};
use perplex_model::GptConfig;

/// Inputs and targets of a training step on `batch` sequences of `config.ctx` ids: a fixed
/// pattern over the vocabulary, the targets the inputs shifted by one id.
pub fn step_ids(
    config: &GptConfig,
    batch: usize,
    device: &Device,
) -> (Tensor<2, Int>, Tensor<2, Int>) {
    let ids = |offset: i64| {
        let ids: Vec<i64> = (0..(batch * config.ctx) as i64)
            .map(|i| (i * 7 + offset) % config.vocab_size as i64)
            .collect();
        Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, config.ctx]), device)
    };
    (ids(0), ids(1))
}
