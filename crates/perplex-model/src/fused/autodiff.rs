//! The fused ops under autodiff: each records one node whose backward step is written by
//! hand (the `*_backward` functions next to each forward).

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Flex};

use super::attention::{self, AttentionState};
use super::flex::{self, DropoutMask, NllState};
use super::layer_norm::{self, LayerNormState};
use super::linear::{self, LinearState};
use super::loss;
use super::{FusedOps, LAYER_NORM_EPSILON};

/// Consumes the gradient of an op's output: returns it with the op's state and the ids of
/// its tracked inputs (`None` for an input that needs no gradient).
fn take<S, const N: usize>(
    ops: Ops<S, N>,
    grads: &mut Gradients,
) -> (FlexTensor, S, [Option<NodeId>; N]) {
    let grad = grads.consume::<Flex>(&ops.node);
    (grad, ops.state, ops.parents.map(|p| p.map(|p| p.id)))
}

/// Registers each gradient for its input, where the input is tracked.
fn register<const N: usize>(
    grads: &mut Gradients,
    parents: [Option<NodeId>; N],
    values: [FlexTensor; N],
) {
    for (parent, grad) in parents.into_iter().zip(values) {
        if let Some(parent) = parent {
            grads.register::<Flex>(parent, grad);
        }
    }
}

/// The backward step of a one-input op: `backward(state, grad)` becomes the input's gradient
/// (computed only when the input is tracked).
fn unary_backward<S>(
    ops: Ops<S, 1>,
    grads: &mut Gradients,
    backward: impl FnOnce(S, FlexTensor) -> FlexTensor,
) {
    let (grad, state, [parent]) = take(ops, grads);
    if let Some(parent) = parent {
        grads.register::<Flex>(parent, backward(state, grad));
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

/// Backward of [`FusedOps::fused_mean_nll`]; keeps the gradient of the logits, computed by
/// the forward pass (`loss.rs`).
#[derive(Debug)]
struct MeanNllBackward;

impl Backward<Flex, 1> for MeanNllBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        unary_backward(ops, grads, |gradient, grad| {
            loss::mean_nll_backward(gradient, grad)
        });
    }
}

/// Backward of [`FusedOps::fused_gelu`]; keeps `GELU'(x)`, computed by the forward pass.
#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        unary_backward(ops, grads, |derivative, grad| {
            flex::gelu_backward(&derivative, grad)
        });
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

/// Backward of [`FusedOps::fused_nll_rank`]: an evaluation's numbers, so nothing flows back.
#[derive(Debug)]
struct NllRankBackward;

impl Backward<Flex, 1> for NllRankBackward {
    type State = ();

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let _ = grads.consume::<Flex>(&ops.node);
    }
}

/// Backward of [`FusedOps::fused_add`]: both inputs receive the output's gradient unchanged.
#[derive(Debug)]
struct AddBackward;

impl Backward<Flex, 2> for AddBackward {
    type State = ();

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (grad, (), parents) = take(ops, grads);
        register(grads, parents, [grad.clone(), grad]);
    }
}

/// Backward of [`FusedOps::fused_attention`]; keeps the packed projection and the
/// probabilities ([`AttentionState`]).
#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 1> for AttentionBackward {
    type State = AttentionState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        unary_backward(ops, grads, attention::attention_backward);
    }
}

/// Backward of [`FusedOps::fused_layer_norm`], three inputs: the tensor, the scale, the shift.
#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    type State = LayerNormState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (grad, state, parents) = take(ops, grads);
        let (dx, dgamma, dbeta) = layer_norm::layer_norm_backward(state, grad);
        register(grads, parents, [dx, dgamma, dbeta]);
    }
}

/// Backward of [`FusedOps::fused_linear`]: the input, the weight and the bias.
#[derive(Debug)]
struct LinearBackward;

impl Backward<Flex, 3> for LinearBackward {
    type State = LinearState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (grad, state, [x, weight, bias]) = take(ops, grads);
        let g = linear::linear_backward(state, grad);
        register(grads, [x, weight], [g.x, g.weight]);
        if let (Some(bias), Some(grad)) = (bias, g.bias) {
            grads.register::<Flex>(bias, grad);
        }
    }
}

/// Backward of [`FusedOps::fused_matmul`]: the input and the weight.
#[derive(Debug)]
struct MatmulBackward;

impl Backward<Flex, 2> for MatmulBackward {
    type State = LinearState;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (grad, state, parents) = take(ops, grads);
        let g = linear::linear_backward(state, grad);
        register(grads, parents, [g.x, g.weight]);
    }
}

/// Records an op of `N` inputs on the autodiff graph: `forward` computes the output and the
/// state `op`'s backward step keeps (the state is dropped when no input is tracked).
fn record<C: CheckpointStrategy, O: Backward<Flex, N>, const N: usize>(
    op: O,
    inputs: [FloatTensor<Autodiff<Flex, C>>; N],
    forward: impl FnOnce([FlexTensor; N]) -> (O::State, FlexTensor),
) -> FloatTensor<Autodiff<Flex, C>> {
    let nodes = inputs.each_ref().map(|input| input.node());
    let inputs = inputs.map(|input| input.into_primitive());
    match op.prepare::<C>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let (state, output) = forward(inputs);
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(inputs).1),
    }
}

impl<C: CheckpointStrategy> FusedOps for Autodiff<Flex, C> {
    fn fused_nll(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self> {
        record::<C, _, _>(NllBackward, [logits], |[logits]| {
            flex::nll_forward(logits, &targets)
        })
    }

    fn fused_mean_nll(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self> {
        // Not `record`: the gradient is worth computing only when the logits are tracked.
        let nodes = [logits.node()];
        let logits = logits.into_primitive();
        match MeanNllBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (gradient, mean) = loss::mean_nll_and_gradient(logits, &targets);
                prep.finish(gradient, mean)
            }
            OpsKind::UnTracked(prep) => prep.finish(loss::mean_nll(logits, &targets)),
        }
    }

    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        record::<C, _, _>(GeluBackward, [x], |[x]| flex::gelu_forward_train(x))
    }

    fn fused_nll_rank(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self> {
        record::<C, _, _>(NllRankBackward, [logits], |[logits]| {
            ((), flex::nll_rank_forward(logits, &targets))
        })
    }

    fn fused_add(residual: FloatTensor<Self>, branch: FloatTensor<Self>) -> FloatTensor<Self> {
        record::<C, _, _>(AddBackward, [residual, branch], |[residual, branch]| {
            ((), flex::add_forward(residual, branch))
        })
    }

    fn fused_dropout(x: FloatTensor<Self>, prob: f64) -> FloatTensor<Self> {
        let mask = DropoutMask::draw(prob);
        record::<C, _, _>(DropoutBackward, [x], |[x]| {
            (mask, flex::dropout_forward(mask, x))
        })
    }

    fn fused_attention(qkv: FloatTensor<Self>, heads: usize) -> FloatTensor<Self> {
        record::<C, _, _>(AttentionBackward, [qkv], |[qkv]| {
            attention::attention_forward(qkv, heads)
        })
    }

    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let epsilon = LAYER_NORM_EPSILON as f32;
        record::<C, _, _>(LayerNormBackward, [x, gamma, beta], |[x, gamma, beta]| {
            layer_norm::layer_norm_forward(x, gamma, beta, epsilon)
        })
    }

    fn fused_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        record::<C, _, _>(LinearBackward, [x, weight, bias], |[x, weight, bias]| {
            linear::linear_forward(x, weight, Some(bias))
        })
    }

    fn fused_matmul(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        record::<C, _, _>(MatmulBackward, [x, weight], |[x, weight]| {
            linear::linear_forward(x, weight, None)
        })
    }
}
