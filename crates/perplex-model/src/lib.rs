//! A GPT-style decoder, in the shape of nanoGPT's `model.py`.
//!
//! `tokens → token embedding + learned positions → dropout → N pre-LayerNorm blocks
//! (causal self-attention, then a d→4d→d GELU MLP, each added back through residual
//! dropout) → final LayerNorm → logits through the token embedding (tied weights)`.
//!
//! Initialisation follows GPT-2 (and the PyTorch reference): weights N(0, 0.02), the two
//! residual output projections N(0, 0.02/√(2·layers)), biases zero, LayerNorm (1, 0).

mod attention;
mod block;
mod config;
mod gpt;
mod init;
mod loss;

pub use attention::CausalSelfAttention;
pub use block::{Block, Mlp};
pub use config::{ConfigError, GptConfig};
pub use gpt::Gpt;
pub use loss::token_nll;
