//! AdamW that runs its update as one parallel pass on the CPU and as Burn's own elsewhere.
//!
//! [`FusedAdamW`] is a Burn [`Optimizer`] with Burn's state type ([`AdamWState`]), so the
//! optimizer record that `state.bin` stores, and `--resume` reads, is the same as with Burn's
//! `AdamW`. On an f32 tensor of the CPU backend it computes the update in one pass
//! (`adamw_cpu.rs`); anywhere else it hands the step to Burn's `AdamW`, built from the same
//! configuration. The two agree to the bit (tested below).

use burn::backend::{Dispatch, DispatchDevice};
use burn::optim::{AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::tensor::{DType, Device, Tensor};

use super::adamw_cpu::{AdamWOps, AdamWScalars};

/// AdamW (decoupled weight decay) with a one-pass CPU update; see the module docs.
#[derive(Clone)]
pub struct FusedAdamW {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: f32,
    /// Burn's AdamW of the same configuration, which steps tensors off the CPU backend.
    composed: AdamW,
}

impl FusedAdamW {
    /// AdamW with moment decays `beta_1`, `beta_2`, `epsilon` added to √v̂, and decoupled
    /// weight decay `weight_decay` (per unit of learning rate, per step).
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32, weight_decay: f32) -> Self {
        let composed = AdamWConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .with_weight_decay(weight_decay)
            .build();
        Self {
            beta_1,
            beta_2,
            epsilon,
            weight_decay,
            composed,
        }
    }

    /// The update's scalars at step `time` (1 on the first), rounded as Burn's `AdamW`
    /// rounds them: the corrections in `f32`, the decay factor in `f64` and then to `f32`.
    fn scalars(&self, lr: LearningRate, time: usize) -> AdamWScalars {
        let t = time as i32;
        let decay_rate = lr * self.weight_decay as f64;
        AdamWScalars {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            correction_1: 1f32 - self.beta_1.powi(t),
            correction_2: 1f32 - self.beta_2.powi(t),
            epsilon: self.epsilon,
            lr: lr as f32,
            keep: (decay_rate != 0.0).then_some((1.0 - decay_rate) as f32),
            first: time == 1,
        }
    }
}

/// Whether the one-pass update serves `tensor`: f32 on the CPU backend.
pub(super) fn on_cpu<const D: usize>(tensor: &Tensor<D>) -> bool {
    matches!(tensor.device().as_dispatch(), DispatchDevice::Flex(_)) && tensor.dtype() == DType::F32
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        // No AMSGrad: the state never holds `max_moment_2` (neither optimizer enables it).
        if !on_cpu(&tensor) {
            return self.composed.step(lr, tensor, grad, state);
        }
        let (time, moment_1, moment_2) = match state {
            Some(s) => (
                s.momentum.time + 1,
                s.momentum.moment_1,
                s.momentum.moment_2,
            ),
            None => (1, grad.clone(), grad.clone()),
        };
        let (param, moment_1, moment_2) = <Dispatch as AdamWOps>::adamw_update(
            tensor.into_dispatch(),
            grad.into_dispatch(),
            moment_1.into_dispatch(),
            moment_2.into_dispatch(),
            self.scalars(lr, time),
        );
        let momentum = AdaptiveMomentumState {
            time,
            moment_1: Tensor::from_dispatch(moment_1),
            moment_2: Tensor::from_dispatch(moment_2),
            max_moment_2: None,
        };
        (Tensor::from_dispatch(param), Some(AdamWState { momentum }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamW::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    fn random(shape: [usize; 2], seed: u64, device: &Device) -> Tensor<2> {
        device.seed(seed);
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
    }

    fn bits(t: &Tensor<2>) -> Vec<u32> {
        let values = t.to_data().try_to_vec::<f32>().expect("f32");
        values.into_iter().map(f32::to_bits).collect()
    }

    /// Five steps of both optimizers from the same start, with gradients of very different
    /// scales (so `v` and `√v̂ + ε` matter), at a learning rate that changes every step.
    fn run(weight_decay: f32) {
        let device = Device::flex();
        let fused = FusedAdamW::new(0.9, 0.95, 1e-8, weight_decay);
        let burn = fused.composed.clone();
        // 70,000 elements: more than one rayon task.
        let start = random([350, 200], 1, &device);
        let (mut a, mut b) = (start.clone(), start);
        let (mut state_a, mut state_b) = (None, None);
        for step in 0..5u64 {
            let scale = [1.0, 1e-3, 30.0, 1e-6, 0.5][step as usize];
            let grad = random([350, 200], 10 + step, &device) * scale;
            let lr = 1e-3 * (1.0 + step as f64);
            (a, state_a) = fused.step(lr, a, grad.clone(), state_a);
            (b, state_b) = burn.step(lr, b, grad, state_b);
            assert_eq!(bits(&a), bits(&b), "weights after step {}", step + 1);
            let (ma, mb) = (
                &state_a.as_ref().unwrap().momentum,
                &state_b.as_ref().unwrap().momentum,
            );
            assert_eq!(ma.time, mb.time);
            assert_eq!(
                bits(&ma.moment_1),
                bits(&mb.moment_1),
                "m after step {}",
                step + 1
            );
            assert_eq!(
                bits(&ma.moment_2),
                bits(&mb.moment_2),
                "v after step {}",
                step + 1
            );
        }
        let moved = (a - random([350, 200], 1, &device))
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(moved > 1e-3, "the weights must have moved, moved {moved}");
    }

    #[test]
    fn matches_burns_adamw_to_the_bit_with_weight_decay() {
        run(0.1);
    }

    #[test]
    fn matches_burns_adamw_to_the_bit_without_weight_decay() {
        run(0.0);
    }

    #[test]
    fn a_shared_parameter_is_not_written_through() {
        let device = Device::flex();
        let param = Tensor::<1>::from_data(TensorData::new(vec![1.0f32; 4], [4]), &device);
        let grad = Tensor::<1>::from_data(TensorData::new(vec![0.5f32; 4], [4]), &device);
        let kept = param.clone();
        let (updated, _) = FusedAdamW::new(0.9, 0.95, 1e-8, 0.0).step(0.1, param, grad, None);
        assert_eq!(kept.to_data().try_to_vec::<f32>().unwrap(), vec![1.0; 4]);
        let moved = updated.to_data().try_to_vec::<f32>().unwrap();
        assert!(moved.iter().all(|&w| (w - 0.9).abs() < 1e-5), "{moved:?}");
    }
}
