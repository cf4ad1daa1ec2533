//! AdamW with decay on the 2-D weights only, and global gradient-norm clipping.
//!
//! Both are what GPT training (and the PyTorch reference) does. AdamW decays every parameter
//! it is given, so biases and LayerNorm parameters go to a second AdamW group with no decay
//! (Burn's `ModuleOptimizer::with_group`). The AdamW is [`FusedAdamW`]: Burn's arithmetic and
//! state record, its update one parallel pass on the CPU (`adamw.rs`). Burn's own gradient
//! clipping works tensor by tensor; [`clip_global_norm`] instead scales every gradient by one
//! factor so the norm over all of them is at most the limit, as `torch.nn.utils.clip_grad_norm_`
//! does.

use burn::backend::Dispatch;
use burn::module::{Module, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;

use crate::config::TrainConfig;

mod adamw;
mod adamw_cpu;
mod clip_cpu;

pub use adamw::FusedAdamW;
use adamw::on_cpu;
use clip_cpu::ClipOps;

/// AdamW (β = 0.9, 0.95; ε = 1e-8) decaying only the parameters of rank ≥ 2 of `model`.
pub fn adamw<M: Module>(config: &TrainConfig, model: &M) -> ModuleOptimizer {
    let with_decay = |weight_decay| FusedAdamW::new(0.9, 0.95, 1e-8, weight_decay);
    let no_decay = ParamGroup::from_ids(vector_params(model));
    ModuleOptimizer::from(with_decay(config.weight_decay as f32)).with_group(
        no_decay,
        with_decay(0.0),
        None,
    )
}

/// Ids of the rank-1 parameters (biases, LayerNorm scales and shifts).
pub fn vector_params<M: Module>(model: &M) -> Vec<ParamId> {
    #[derive(Default)]
    struct Vectors(Vec<ParamId>);
    impl ModuleVisitor for Vectors {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if D == 1 {
                self.0.push(param.id);
            }
        }
    }
    let mut found = Vectors::default();
    model.visit(&mut found);
    found.0
}

/// The L2 norm over all gradients of `model`'s parameters, as a one-element tensor (no sync).
pub fn global_grad_norm<M: Module>(model: &M, grads: &GradientsParams) -> Option<Tensor<1>> {
    struct SumSquares<'a> {
        grads: &'a GradientsParams,
        total: Option<Tensor<1>>,
    }
    impl ModuleVisitor for SumSquares<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.grads.get::<D>(param.id) {
                let sq = if on_cpu(&grad) {
                    let sq = <Dispatch as ClipOps>::sum_of_squares(grad.into_dispatch());
                    Tensor::from_dispatch(sq)
                } else {
                    grad.square().sum()
                };
                self.total = Some(match self.total.take() {
                    Some(t) => t + sq,
                    None => sq,
                });
            }
        }
    }
    let mut sum = SumSquares { grads, total: None };
    model.visit(&mut sum);
    sum.total.map(Tensor::sqrt)
}

/// Scales all gradients by `min(1, max_norm / norm)` where `norm` is their global L2 norm,
/// and returns that norm (before clipping) as a one-element tensor.
pub fn clip_global_norm<M: Module>(
    model: &M,
    mut grads: GradientsParams,
    max_norm: f64,
) -> (GradientsParams, Option<Tensor<1>>) {
    let Some(norm) = global_grad_norm(model, &grads) else {
        return (grads, None);
    };
    if max_norm <= 0.0 {
        return (grads, Some(norm));
    }
    let scale = (norm.clone().add_scalar(1e-6).recip() * max_norm).clamp_max(1.0);
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        scale: Tensor<1>,
        /// The factor read once to the host, for the CPU pass (reading costs nothing there).
        on_host: Option<f32>,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.grads.remove::<D>(param.id) {
                let scaled = if on_cpu(&grad) {
                    let factor = *self
                        .on_host
                        .get_or_insert_with(|| self.scale.clone().into_scalar::<f32>());
                    Tensor::from_dispatch(<Dispatch as ClipOps>::scaled(
                        grad.into_dispatch(),
                        factor,
                    ))
                } else {
                    grad * self.scale.clone().reshape([1; D])
                };
                self.grads.register::<D>(param.id, scaled);
            }
        }
    }
    model.visit(&mut Scale {
        grads: &mut grads,
        scale,
        on_host: None,
    });
    (grads, Some(norm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, TensorData};

    #[derive(Module, Debug)]
    struct TwoLayers {
        a: Linear,
        b: Linear,
    }

    fn setup() -> (TwoLayers, GradientsParams, Device) {
        let device = Device::flex().autodiff();
        let model = TwoLayers {
            a: LinearConfig::new(3, 2).init(&device),
            b: LinearConfig::new(2, 1).init(&device),
        };
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, -2.0, 3.0], [1, 3]), &device);
        let loss = model.b.forward(model.a.forward(x)).sum() * 100.0;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        (model, grads, device)
    }

    fn norm_of(model: &TwoLayers, grads: &GradientsParams) -> f32 {
        global_grad_norm(model, grads).unwrap().into_scalar::<f32>()
    }

    #[test]
    fn clipping_scales_the_global_norm_to_the_limit() {
        let (model, grads, _) = setup();
        let before = norm_of(&model, &grads);
        assert!(
            before > 1.0,
            "the test needs a large gradient, got {before}"
        );
        let (clipped, reported) = clip_global_norm(&model, grads, 1.0);
        assert!((reported.unwrap().into_scalar::<f32>() - before).abs() < 1e-3);
        let after = norm_of(&model, &clipped);
        assert!((after - 1.0).abs() < 1e-4, "clipped norm {after}");
    }

    #[test]
    fn small_gradients_are_left_alone() {
        let (model, grads, _) = setup();
        let before = norm_of(&model, &grads);
        let (clipped, _) = clip_global_norm(&model, grads, (before * 10.0) as f64);
        assert!((norm_of(&model, &clipped) - before).abs() < 1e-3);
    }

    #[test]
    fn only_vectors_escape_weight_decay() {
        let (model, _, _) = setup();
        let ids = vector_params(&model);
        assert_eq!(ids.len(), 2, "the two biases");
        assert!(ids.contains(&model.a.bias.as_ref().unwrap().id));
        assert!(!ids.contains(&model.a.weight.id));
    }
}
