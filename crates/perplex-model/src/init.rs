//! GPT-2 initialisation helpers.

use burn::module::Param;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

/// A linear layer with weights drawn from N(0, `std`) and a zero bias.
///
/// Burn's `LinearConfig` draws the bias from the weight initializer; GPT-2 starts it at zero.
pub fn normal_linear(config: LinearConfig, std: f64, device: &Device) -> Linear {
    let d_output = config.d_output;
    let mut layer = config
        .with_initializer(Initializer::Normal { mean: 0.0, std })
        .init(device);
    if layer.bias.is_some() {
        layer.bias = Some(Param::from_tensor(Tensor::zeros([d_output], device)));
    }
    layer
}
