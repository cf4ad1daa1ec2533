//! Cross-entropy per token.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

/// Negative log-likelihood of each target under `logits`, in nats:
/// `[batch, seq, vocab]`, `[batch, seq] → [batch, seq]`.
///
/// Kept per token (not reduced) so callers choose the reduction: the training loss is the
/// mean, and evaluation sums every token of a split before dividing once.
pub fn token_nll(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<2> {
    let log_probs = log_softmax(logits, 2);
    log_probs
        .gather(2, targets.unsqueeze_dim::<3>(2))
        .squeeze_dim::<2>(2)
        .neg()
}
