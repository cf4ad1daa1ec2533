//! Linear layers: GPT-2 initialisation, and applying one to every position at once.

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

/// `linear` applied to every position of `[batch, seq, d_in]` as one `[batch·seq, d_in]`
/// product ([`fused::linear`](crate::fused::linear) on the CPU).
///
/// Burn folds the batch into the rows only when `seq` is not a multiple of 32; otherwise it
/// runs one product per sequence, and on the CPU each re-packs the weight (measured on
/// ptb-small: the packing alone was 12% of a training step). The reshapes are free views.
pub fn per_position(linear: &Linear, x: Tensor<3>) -> Tensor<3> {
    let [batch, seq, d_in] = x.dims();
    let bias = linear.bias.as_ref().map(|b| b.val());
    let y = crate::fused::linear(x.reshape([batch * seq, d_in]), linear.weight.val(), bias);
    let d_out = y.dims()[1];
    y.reshape([batch, seq, d_out])
}
