//! Fused CPU kernels for the three element-wise hot spots of a training step.
//!
//! Profiling a ptb-small step on Burn's CPU backend showed the matrix multiplies running on
//! both cores and everything between them on one: the softmax cross-entropy over the
//! 10,000-word vocabulary (a `[tokens, vocab]` log-softmax, a gather and their backward, each a
//! full pass over 82 MB), the exact GELU (a scalar `erff` per element) and dropout (a ChaCha
//! draw per element, then two multiplies). Here each is one parallel pass with its backward
//! written by hand:
//!
//! - [`token_nll`]: logsumexp per row forward; `g · (softmax − onehot)` backward, written over
//!   the logits' own buffer. Nothing `[tokens, vocab]`-sized is allocated besides the logits.
//! - [`gelu`]: `x · Φ(x)` with a vectorised erf; backward `Φ(x) + x · φ(x)`.
//! - [`dropout`]: a mask hashed from (seed, element index), so the backward pass re-derives it
//!   instead of storing it.
//!
//! They run on the CPU backend only; on other devices the same functions fall back to Burn's
//! own ops: the cross-entropy and GELU agree up to float rounding, while dropout there draws
//! its masks from Burn's generator, so runs with dropout differ between devices.

mod flex;
mod kernels;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, Dispatch, DispatchDevice, Flex, backend_extension};
use burn::nn::Dropout;
use burn::tensor::activation::log_softmax;
use burn::tensor::{DType, Int, Tensor};

use flex::{DropoutMask, NllState};

/// The fused ops, as a Burn backend extension: implemented for the CPU backend and for
/// autodiff over it.
#[backend_extension(Flex, Autodiff)]
pub trait FusedOps: Backend {
    /// `[rows, vocab]` logits and `[rows]` target ids → `[rows]` negative log-likelihood, nats.
    fn fused_nll(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self>;
    /// Exact (erf) GELU, element-wise.
    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// Zeroes each element with probability `prob` and scales the rest by `1 / (1 − prob)`.
    fn fused_dropout(x: FloatTensor<Self>, prob: f64) -> FloatTensor<Self>;
}

impl FusedOps for Flex {
    fn fused_nll(logits: FlexTensor, targets: FlexTensor) -> FlexTensor {
        flex::nll_forward(logits, &targets).1
    }

    fn fused_gelu(x: FlexTensor) -> FlexTensor {
        flex::gelu_forward(x).1
    }

    fn fused_dropout(x: FlexTensor, prob: f64) -> FlexTensor {
        flex::dropout_forward(DropoutMask::draw(prob), x)
    }
}

/// The backward step of a one-input op: consumes the gradient of the op's output and, when the
/// input is tracked, registers `backward(state, grad)` as the input's gradient.
fn unary_backward<S>(
    ops: Ops<S, 1>,
    grads: &mut Gradients,
    backward: impl FnOnce(S, FlexTensor) -> FlexTensor,
) {
    let grad = grads.consume::<Flex>(&ops.node);
    if let [Some(parent)] = ops.parents {
        grads.register::<Flex>(parent.id, backward(ops.state, grad));
    }
}

/// Backward of [`FusedOps::fused_nll`]; keeps the logits, the targets and each row's
/// logsumexp ([`NllState`]).
#[derive(Debug)]
struct NllBackward;

impl Backward<Flex, 1> for NllBackward {
    type State = NllState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        unary_backward(ops, grads, flex::nll_backward);
    }
}

/// Backward of [`FusedOps::fused_gelu`]; keeps the input.
#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        unary_backward(ops, grads, |x, grad| flex::gelu_backward(&x, grad));
    }
}

/// Backward of [`FusedOps::fused_dropout`]; keeps only the mask's seed.
#[derive(Debug)]
struct DropoutBackward;

impl Backward<Flex, 1> for DropoutBackward {
    type State = DropoutMask;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        unary_backward(ops, grads, flex::dropout_backward);
    }
}

/// Records a one-input op on the autodiff graph: `forward` computes the output and the state
/// `op`'s backward step keeps (the state is dropped when the input is not tracked).
fn record<C: CheckpointStrategy, O: Backward<Flex, 1>>(
    op: O,
    input: FloatTensor<Autodiff<Flex, C>>,
    forward: impl FnOnce(FlexTensor) -> (O::State, FlexTensor),
) -> FloatTensor<Autodiff<Flex, C>> {
    match op.prepare::<C>([input.node()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let (state, output) = forward(input.into_primitive());
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(input.into_primitive()).1),
    }
}

impl<C: CheckpointStrategy> FusedOps for Autodiff<Flex, C> {
    fn fused_nll(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self> {
        record::<C, _>(NllBackward, logits, |logits| {
            flex::nll_forward(logits, &targets)
        })
    }

    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        record::<C, _>(GeluBackward, x, flex::gelu_forward)
    }

    fn fused_dropout(x: FloatTensor<Self>, prob: f64) -> FloatTensor<Self> {
        let mask = DropoutMask::draw(prob);
        record::<C, _>(DropoutBackward, x, |x| {
            (mask, flex::dropout_forward(mask, x))
        })
    }
}

/// Whether the fused kernels serve `tensor`: f32 on the CPU backend, with or without autodiff.
fn fused_on<const D: usize>(tensor: &Tensor<D>) -> bool {
    let device = tensor.device().without_autodiff();
    matches!(device.as_dispatch(), DispatchDevice::Flex(_)) && tensor.dtype() == DType::F32
}

/// Negative log-likelihood of each target under `logits`, in nats:
/// `[batch, seq, vocab]`, `[batch, seq] → [batch, seq]`.
///
/// Kept per token (not reduced) so callers choose the reduction: the training loss is the
/// mean, and evaluation sums every token of a split before dividing once.
pub fn token_nll(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<2> {
    if !fused_on(&logits) {
        return composed_token_nll(logits, targets);
    }
    let [batch, seq, vocab] = logits.dims();
    let nll = <Dispatch as FusedOps>::fused_nll(
        logits.reshape([batch * seq, vocab]).into_dispatch(),
        targets.reshape([batch * seq]).into_dispatch(),
    );
    Tensor::<1>::from_dispatch(nll).reshape([batch, seq])
}

/// [`token_nll`] from Burn's own ops: log-softmax, then a gather.
fn composed_token_nll(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<2> {
    log_softmax(logits, 2)
        .gather(2, targets.unsqueeze_dim::<3>(2))
        .squeeze_dim::<2>(2)
        .neg()
}

/// Exact GELU, `x · Φ(x)`, element-wise.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !fused_on(&x) {
        return burn::tensor::activation::gelu(x);
    }
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_gelu(x.into_dispatch()))
}

/// `layer` applied to `x`: identity unless `layer` is training, `x` can take part in a
/// backward pass and the probability is above zero (Burn's own rule).
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    let active = layer.training.is_enabled() && x.device().is_autodiff() && layer.prob > 0.0;
    if !active || !fused_on(&x) {
        return layer.forward(x);
    }
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_dropout(
        x.into_dispatch(),
        layer.prob,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::DropoutConfig;
    use burn::tensor::{Device, Distribution, TensorData};

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < tol, "{what}: worst difference {worst}");
    }

    fn random<const D: usize>(shape: [usize; D], scale: f64, device: &Device) -> Tensor<D> {
        Tensor::random(shape, Distribution::Normal(0.0, scale), device)
    }

    #[test]
    fn the_fused_nll_and_its_gradient_match_log_softmax_and_gather() {
        let _rng = crate::device_rng_lock();
        let device = Device::flex().autodiff();
        device.seed(5);
        let (batch, seq, vocab) = (3, 5, 1_000);
        let logits = random([batch, seq, vocab], 3.0, &device).require_grad();
        let ids: Vec<i64> = (0..(batch * seq) as i64)
            .map(|i| i * 67 % vocab as i64)
            .collect();
        let targets = Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, seq]), &device);
        // Unequal weights per token, so the test also covers the incoming gradient's scaling.
        let weights = random([batch, seq], 1.0, &device);

        let fused = token_nll(logits.clone(), targets.clone());
        let composed = composed_token_nll(logits.clone(), targets);
        assert_close(
            &values(fused.clone()),
            &values(composed.clone()),
            1e-5,
            "nll",
        );

        let grad_fused = logits
            .grad(&(fused * weights.clone()).sum().backward())
            .unwrap();
        let grad_composed = logits.grad(&(composed * weights).sum().backward()).unwrap();
        assert_close(
            &values(grad_fused),
            &values(grad_composed),
            1e-6,
            "∂/∂logits",
        );
    }

    #[test]
    fn the_fused_nll_without_autodiff_gives_the_same_numbers() {
        let _rng = crate::device_rng_lock();
        let device = Device::flex();
        device.seed(9);
        let logits = random([2, 4, 300], 2.0, &device);
        let targets = Tensor::<2, Int>::from_data(
            TensorData::new(vec![0i64, 299, 5, 7, 150, 1, 2, 3], [2, 4]),
            &device,
        );
        let fused = values(token_nll(logits.clone(), targets.clone()));
        let composed = values(composed_token_nll(logits, targets));
        assert_close(&fused, &composed, 1e-5, "nll");
    }

    #[test]
    fn a_nan_logit_gives_a_nan_loss() {
        let _rng = crate::device_rng_lock();
        let device = Device::flex();
        let mut raw = vec![0.1f32; 2 * 50];
        raw[73] = f32::NAN;
        let logits = Tensor::<3>::from_data(TensorData::new(raw, [1, 2, 50]), &device);
        let targets = Tensor::<2, Int>::from_data(TensorData::new(vec![3i64, 4], [1, 2]), &device);
        let nll = values(token_nll(logits, targets));
        assert!(nll[0].is_finite() && nll[1].is_nan(), "{nll:?}");
    }

    #[test]
    fn the_fused_gelu_and_its_gradient_match_burns() {
        let _rng = crate::device_rng_lock();
        let device = Device::flex().autodiff();
        device.seed(6);
        let x = random([4, 7, 300], 2.0, &device).require_grad();
        let weights = random([4, 7, 300], 1.0, &device);
        let fused = gelu(x.clone());
        let reference = burn::tensor::activation::gelu(x.clone());
        assert_close(
            &values(fused.clone()),
            &values(reference.clone()),
            2e-6,
            "gelu",
        );
        let grad_fused = x.grad(&(fused * weights.clone()).sum().backward()).unwrap();
        let grad_reference = x.grad(&(reference * weights).sum().backward()).unwrap();
        assert_close(
            &values(grad_fused),
            &values(grad_reference),
            2e-5,
            "∂gelu/∂x",
        );
    }

    #[test]
    fn fused_dropout_drops_its_share_scales_the_rest_and_routes_the_gradient_through_the_mask() {
        let _rng = crate::device_rng_lock();
        let device = Device::flex().autodiff();
        device.seed(7);
        let layer = DropoutConfig::new(0.25).init();
        let x = Tensor::<2>::ones([64, 1_000], &device).require_grad();
        let y = dropout(&layer, x.clone());
        let out = values(y.clone());
        let kept = out.iter().filter(|&&v| v != 0.0).count() as f64 / out.len() as f64;
        assert!((kept - 0.75).abs() < 0.01, "kept share {kept}");
        assert!(
            out.iter()
                .all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6)
        );
        // ∂Σy/∂x is the mask times the scale: exactly y, since x is all ones.
        let grad = values(x.grad(&y.sum().backward()).unwrap());
        assert_eq!(grad, out);
    }

    #[test]
    fn fused_dropout_follows_the_device_seed() {
        let _rng = crate::device_rng_lock();
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.5).init();
        let draw = |seed| {
            device.seed(seed);
            values(dropout(&layer, Tensor::<2>::ones([8, 100], &device)))
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn dropout_is_the_identity_without_autodiff_or_when_frozen() {
        let _rng = crate::device_rng_lock();
        let layer = DropoutConfig::new(0.5).init();
        let plain = Tensor::<2>::ones([4, 50], &Device::flex());
        assert_eq!(values(dropout(&layer, plain)), vec![1.0; 200]);
        let frozen = layer.freeze();
        let tracked = Tensor::<2>::ones([4, 50], &Device::flex().autodiff());
        assert_eq!(values(dropout(&frozen, tracked)), vec![1.0; 200]);
    }
}
