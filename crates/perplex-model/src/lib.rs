//! A GPT-style decoder, in the shape of nanoGPT's `model.py`.
//!
//! `tokens → token embedding + learned positions → dropout → N pre-LayerNorm blocks
//! (causal self-attention, then a d→4d→d GELU MLP, each added back through residual
//! dropout) → final LayerNorm → logits through the token embedding (tied weights)`.
//!
//! Initialisation follows GPT-2 (and the PyTorch reference): weights N(0, 0.02), the two
//! residual output projections N(0, 0.02/√(2·layers)), biases zero, LayerNorm (1, 0).
//!
//! On the CPU backend the cross-entropy, GELU, dropout, attention and LayerNorm run as fused
//! kernels with hand-written backward passes (`fused`); elsewhere they are Burn's own ops.

mod attention;
mod block;
mod config;
pub mod denormals;
mod fused;
mod gpt;
mod init;
mod precision;
mod products;
mod worker;

pub use attention::CausalSelfAttention;
pub use block::{Block, Mlp};
pub use config::{GptConfig, MemoryEstimate, ShapeError};
pub use fused::clock::{ProductSeconds, clock_products};
pub use fused::matrix::record_products;
pub use fused::{dense_f32, mean_token_nll, token_nll, token_nll_and_rank};
pub use gpt::Gpt;
pub use precision::{
    Precision, PrecisionError, amx_available, precision, set_precision, with_precision,
};
pub use products::{CpuProduct, Operand, StepProduct};
pub use worker::{on_cpu_worker, waiting_seconds};

/// Serialises the tests that seed or draw from the CPU backend's one global generator, so a
/// test that checks reproducibility never sees another test's draws in between.
#[cfg(test)]
pub(crate) fn device_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
