//! Causal multi-head self-attention.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::fused::causal_attention;
use crate::init::{normal_linear, per_position};

/// Multi-head self-attention in which each position attends only to itself and earlier ones.
///
/// One `d → 3d` projection makes queries, keys and values; heads attend independently
/// ([`causal_attention`]: fused on the CPU, Burn's `attention` with `is_causal` elsewhere; no
/// mask tensor is built); `d → d` mixes the heads back into the residual stream.
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
        let qkv = per_position(&self.qkv, x);
        per_position(&self.proj, causal_attention(qkv, self.heads))
    }
}
