//! AdamW's update as one parallel pass on Burn's CPU backend.
//!
//! Burn's `AdamW` composes the update from about fifteen element-wise tensor ops, and Flex runs
//! each on one thread: a profile of a ptb-small step put them among the serial work between
//! the matrix products. Here the same arithmetic runs in one pass over the parameter, its
//! gradient and both moments, split over rayon's pool. Every element goes through the same
//! `f32` operations in the same order as Burn's composition (Rust never contracts `a·b + c`
//! into a fused multiply-add), so the result is bit-identical: `adamw.rs` tests that.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use perplex_model::dense_f32;
use rayon::prelude::*;

/// Elements per rayon task of the optimizer's CPU passes (this update and clipping's): large
/// enough to amortise the task, small enough to balance.
pub(super) const CHUNK: usize = 1 << 14;

/// The scalars of one AdamW update, each already in the form (and the rounding) that Burn's
/// `AdamW` gives it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWScalars {
    /// β₁, the first moment's decay per step.
    pub beta_1: f32,
    /// β₂, the second moment's decay per step.
    pub beta_2: f32,
    /// 1 − β₁^t, the first moment's bias correction at step `t`.
    pub correction_1: f32,
    /// 1 − β₂^t.
    pub correction_2: f32,
    /// ε, added to √v̂.
    pub epsilon: f32,
    /// The learning rate.
    pub lr: f32,
    /// 1 − lr · weight decay, the factor that decays the parameter; `None` when the decay is 0.
    pub keep: Option<f32>,
    /// Whether this is the parameter's first step (the moments start from the gradient alone).
    pub first: bool,
}

/// The update as a Burn backend extension, implemented for the CPU backend only (the optimizer
/// sees parameters without autodiff).
#[backend_extension(Flex)]
pub trait AdamWOps: Backend {
    /// One AdamW update: parameter, gradient, first and second moments (both ignored on the
    /// first step) → the updated parameter and moments.
    fn adamw_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        scalars: AdamWScalars,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl AdamWOps for Flex {
    fn adamw_update(
        param: FlexTensor,
        grad: FlexTensor,
        moment_1: FlexTensor,
        moment_2: FlexTensor,
        s: AdamWScalars,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (mut param, grad) = (dense_f32(param), dense_f32(grad));
        let (mut m, mut v) = if s.first {
            (dense_f32(grad.clone()), dense_f32(grad.clone()))
        } else {
            (dense_f32(moment_1), dense_f32(moment_2))
        };
        let g = grad.as_slice::<f32>().expect("a dense f32 tensor");
        param
            .storage_mut::<f32>()
            .par_chunks_mut(CHUNK)
            .zip(m.storage_mut::<f32>().par_chunks_mut(CHUNK))
            .zip(v.storage_mut::<f32>().par_chunks_mut(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|(((p, m), v), g)| update(p, m, v, g, &s));
        (param, m, v)
    }
}

/// The update of one chunk, element by element, in Burn's order of operations:
/// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `p ← keep·p − lr · (m/c₁) / (√(v/c₂) + ε)`.
fn update(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], s: &AdamWScalars) {
    let (factor_1, factor_2) = (1.0 - s.beta_1, 1.0 - s.beta_2);
    for (((p, m), v), &g) in p.iter_mut().zip(m).zip(v).zip(g) {
        if s.first {
            *m = g * factor_1;
            *v = (g * g) * factor_2;
        } else {
            *m = *m * s.beta_1 + g * factor_1;
            *v = *v * s.beta_2 + (g * g) * factor_2;
        }
        let delta = (*m / s.correction_1) / ((*v / s.correction_2).sqrt() + s.epsilon);
        let kept = match s.keep {
            Some(keep) => *p * keep,
            None => *p,
        };
        *p = kept - delta * s.lr;
    }
}
