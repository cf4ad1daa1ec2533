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
use super::{FusedOps, LAYER_NORM_EPSILON};

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

/// Backward of [`FusedOps::fused_rank`]: a count has no gradient, so nothing flows back.
#[derive(Debug)]
struct RankBackward;

impl Backward<Flex, 1> for RankBackward {
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
        let grad = grads.consume::<Flex>(&ops.node);
        let parents = ops.parents.map(|p| p.map(|p| p.id));
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
        let grad = grads.consume::<Flex>(&ops.node);
        let (dx, dgamma, dbeta) = layer_norm::layer_norm_backward(ops.state, grad);
        register(
            grads,
            ops.parents.map(|p| p.map(|p| p.id)),
            [dx, dgamma, dbeta],
        );
    }
}

/// Backward of [`FusedOps::fused_linear`]: the input, the weight and the bias.
#[derive(Debug)]
struct LinearBackward;

impl Backward<Flex, 3> for LinearBackward {
    type State = LinearState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let g = linear::linear_backward(ops.state, grad);
        let [x, weight, bias] = ops.parents.map(|p| p.map(|p| p.id));
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
        let grad = grads.consume::<Flex>(&ops.node);
        let g = linear::linear_backward(ops.state, grad);
        register(grads, ops.parents.map(|p| p.map(|p| p.id)), [g.x, g.weight]);
    }
}

/// Registers each gradient for its parent node, where the parent is tracked.
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

    fn fused_rank(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self> {
        record::<C, _>(RankBackward, logits, |logits| {
            ((), flex::rank_forward(logits, &targets))
        })
    }

    fn fused_add(residual: FloatTensor<Self>, branch: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [residual.node(), branch.node()];
        let sum = flex::add_forward(residual.into_primitive(), branch.into_primitive());
        match AddBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((), sum),
            OpsKind::UnTracked(prep) => prep.finish(sum),
        }
    }

    fn fused_dropout(x: FloatTensor<Self>, prob: f64) -> FloatTensor<Self> {
        let mask = DropoutMask::draw(prob);
        record::<C, _>(DropoutBackward, x, |x| {
            (mask, flex::dropout_forward(mask, x))
        })
    }

    fn fused_attention(qkv: FloatTensor<Self>, heads: usize) -> FloatTensor<Self> {
        record::<C, _>(AttentionBackward, qkv, |qkv| {
            attention::attention_forward(qkv, heads)
        })
    }

    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let epsilon = LAYER_NORM_EPSILON as f32;
        let nodes = [x.node(), gamma.node(), beta.node()];
        let (x, gamma, beta) = (
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
        );
        match LayerNormBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (state, out) = layer_norm::layer_norm_forward(x, gamma, beta, epsilon);
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(layer_norm::layer_norm_forward(x, gamma, beta, epsilon).1)
            }
        }
    }

    fn fused_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), weight.node(), bias.node()];
        let inputs = (
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
        );
        let forward = |(x, w, b)| linear::linear_forward(x, w, Some(b));
        match LinearBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (state, out) = forward(inputs);
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(inputs).1),
        }
    }

    fn fused_matmul(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [x.node(), weight.node()];
        let (x, weight) = (x.into_primitive(), weight.into_primitive());
        match MatmulBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (state, out) = linear::linear_forward(x, weight, None);
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(linear::linear_forward(x, weight, None).1),
        }
    }
}
