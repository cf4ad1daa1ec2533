//! The training loss: the mean cross-entropy of a batch, with its gradient computed in the
//! same pass as its value.
//!
//! A training step differentiates the mean NLL and nothing else, so the gradient with respect
//! to the logits, `(softmax − onehot) / rows`, is known when the loss is: each row is read from
//! memory once and the gradient written over it while it is still in cache
//! ([`kernels::nll_gradient_row`]). The per-token op (`flex::nll_forward`, then
//! `flex::nll_backward` under Burn's mean) reads every row from memory twice, once each way.
//! The gradient has the same bits as theirs (`same_bits_as_the_per_token_op_under_a_mean`
//! tests it), so training runs exactly as before. The backward step only scales the stored
//! gradient when the loss's incoming gradient is not 1, which `loss.backward()` never gives.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::tensor::Shape;
use rayon::prelude::*;

use super::flex::{CHUNK, dense, nll_forward, target_ids, tensor, values, values_mut};
use super::kernels;

/// `[rows, vocab]` logits and `[rows]` targets → `[1]`: the mean NLL per token, nats. No
/// gradient.
pub(super) fn mean_nll(logits: FlexTensor, targets: &FlexTensor) -> FlexTensor {
    Flex::float_mean(nll_forward(logits, targets).1)
}

/// [`mean_nll`], and `∂(mean NLL)/∂logits` written over the logits' buffer (a copy when
/// something else holds it): the backward step's state.
pub(super) fn mean_nll_and_gradient(
    logits: FlexTensor,
    targets: &FlexTensor,
) -> (FlexTensor, FlexTensor) {
    let mut logits = dense(logits);
    let [rows, vocab] = logits.layout().shape().dims::<2>();
    let targets = target_ids(targets, vocab);
    assert_eq!(targets.len(), rows, "one target per row of logits");
    // As Burn's mean scales its incoming gradient: `1/rows` in f64, then to f32.
    let scale = (1.0 / rows as f64) as f32;
    let mut nll = vec![0.0f32; rows];
    values_mut(&mut logits)
        .par_chunks_mut(vocab)
        .zip(nll.par_iter_mut())
        .zip(targets.par_iter())
        .for_each(|((row, nll), &target)| {
            *nll = kernels::nll_gradient_row(row, target as usize, scale);
        });
    (logits, Flex::float_mean(tensor(nll, Shape::new([rows]))))
}

/// The gradient of the logits for an incoming gradient `grad` (`[1]`) of the mean: the stored
/// one when `grad` is 1, scaled by it otherwise.
pub(super) fn mean_nll_backward(mut gradient: FlexTensor, grad: FlexTensor) -> FlexTensor {
    let grad = dense(grad);
    let g = values(&grad)[0];
    if g != 1.0 {
        values_mut(&mut gradient)
            .par_chunks_mut(CHUNK)
            .for_each(|piece| piece.iter_mut().for_each(|x| *x *= g));
    }
    gradient
}
