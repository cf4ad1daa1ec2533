//! Causal multi-head self-attention.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor};

use crate::init::normal_linear;

/// Multi-head self-attention in which each position attends only to itself and earlier ones.
///
/// One `d → 3d` projection makes queries, keys and values; heads attend independently through
/// Burn's fused `attention` op with `is_causal` (no mask tensor is built); `d → d` mixes the
/// heads back into the residual stream.
#[derive(Module, Debug)]
pub struct CausalSelfAttention {
    /// The joint query/key/value projection, `d_model → 3·d_model`.
    pub qkv: Linear,
    /// The output projection back into the residual stream, `d_model → d_model`.
    pub proj: Linear,
    /// Number of heads.
    pub heads: usize,
}

impl CausalSelfAttention {
    /// A fresh layer; `resid_std` is the init std of the output projection.
    pub fn new(d_model: usize, heads: usize, resid_std: f64, device: &Device) -> Self {
        Self {
            qkv: normal_linear(LinearConfig::new(d_model, 3 * d_model), 0.02, device),
            proj: normal_linear(LinearConfig::new(d_model, d_model), resid_std, device),
            heads,
        }
    }

    /// `[batch, seq, d_model] → [batch, seq, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, seq, d_model] = x.dims();
        let head_dim = d_model / self.heads;
        let split = |t: Tensor<3>| {
            t.reshape([batch, seq, self.heads, head_dim])
                .swap_dims(1, 2)
        };
        let qkv = self.qkv.forward(x);
        let q = split(qkv.clone().narrow(2, 0, d_model));
        let k = split(qkv.clone().narrow(2, d_model, d_model));
        let v = split(qkv.narrow(2, 2 * d_model, d_model));
        let options = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal: true,
        };
        let y = attention(q, k, v, None, None, options);
        let y = y.swap_dims(1, 2).reshape([batch, seq, d_model]);
        self.proj.forward(y)
    }
}
