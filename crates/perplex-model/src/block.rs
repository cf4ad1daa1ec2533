//! One transformer block and its MLP.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::CausalSelfAttention;
use crate::fused::{LAYER_NORM_EPSILON, dropout, gelu, layer_norm, residual_add};
use crate::init::{normal_linear, per_position};

/// The position-wise MLP: `d → 4d`, exact (erf) GELU, `4d → d`.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Expansion, `d_model → 4·d_model`.
    pub fc1: Linear,
    /// Contraction, `4·d_model → d_model`.
    pub fc2: Linear,
}

impl Mlp {
    /// A fresh MLP; `resid_std` is the init std of the contraction.
    pub fn new(d_model: usize, resid_std: f64, device: &Device) -> Self {
        Self {
            fc1: normal_linear(LinearConfig::new(d_model, 4 * d_model), 0.02, device),
            fc2: normal_linear(LinearConfig::new(4 * d_model, d_model), resid_std, device),
        }
    }

    /// `[batch, seq, d_model] → [batch, seq, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        per_position(&self.fc2, gelu(per_position(&self.fc1, x)))
    }
}

/// A pre-LayerNorm block: `x + drop(attn(ln1(x)))`, then `x + drop(mlp(ln2(x)))`.
#[derive(Module, Debug)]
pub struct Block {
    /// Normalises the input of attention.
    pub ln1: LayerNorm,
    /// Causal self-attention.
    pub attn: CausalSelfAttention,
    /// Normalises the input of the MLP.
    pub ln2: LayerNorm,
    /// The MLP.
    pub mlp: Mlp,
    /// Dropout on each residual branch.
    pub drop: Dropout,
}

impl Block {
    /// A fresh block of width `d_model`, with `layers` the depth of the whole model (it scales
    /// the residual projections' init).
    pub fn new(d_model: usize, heads: usize, dropout: f64, layers: usize, device: &Device) -> Self {
        let resid_std = 0.02 / (2.0 * layers as f64).sqrt();
        Self {
            ln1: LayerNormConfig::new(d_model)
                .with_epsilon(LAYER_NORM_EPSILON)
                .init(device),
            attn: CausalSelfAttention::new(d_model, heads, resid_std, device),
            ln2: LayerNormConfig::new(d_model)
                .with_epsilon(LAYER_NORM_EPSILON)
                .init(device),
            mlp: Mlp::new(d_model, resid_std, device),
            drop: DropoutConfig::new(dropout).init(),
        }
    }

    /// `[batch, seq, d_model] → [batch, seq, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let attn = dropout(
            &self.drop,
            self.attn.forward(layer_norm(&self.ln1, x.clone())),
        );
        let x = residual_add(x, attn);
        let mlp = dropout(
            &self.drop,
            self.mlp.forward(layer_norm(&self.ln2, x.clone())),
        );
        residual_add(x, mlp)
    }
}
