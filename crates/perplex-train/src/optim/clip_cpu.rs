//! Global-norm clipping's two passes over the gradients, parallel on Burn's CPU backend.
//!
//! Composed from Burn ops, clipping squares and sums every gradient and then multiplies it by
//! the clip factor: three element-wise passes over all 5.7 M gradients of ptb-small per step,
//! each on one thread of Flex, while the rest of the pool waits (about 0.9% of a step's
//! `perf` samples on the Intel Xeon, all on the main thread). Here each is one pass on the
//! pool.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn::tensor::{Shape, TensorData};
use perplex_model::dense_f32;
use rayon::prelude::*;

use super::adamw_cpu::CHUNK;

/// The clipping passes as a Burn backend extension, for the CPU backend only (gradients carry
/// no autodiff).
#[backend_extension(Flex)]
pub trait ClipOps: Backend {
    /// `Σ g²` over a gradient, as a one-element tensor: per-chunk sums in `f64`, added in
    /// chunk order, so the result does not depend on the thread count.
    fn sum_of_squares(grad: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `g · factor`, over `g`'s buffer when nothing else holds it. The same `f32` product per
    /// element as Burn's `grad * factor`.
    fn scaled(grad: FloatTensor<Self>, factor: f32) -> FloatTensor<Self>;
}

impl ClipOps for Flex {
    fn sum_of_squares(grad: FlexTensor) -> FlexTensor {
        let grad = dense_f32(grad);
        let values = grad.as_slice::<f32>().expect("a dense f32 tensor");
        let partials: Vec<f64> = values
            .par_chunks(CHUNK)
            .map(|chunk| chunk.iter().map(|&g| f64::from(g) * f64::from(g)).sum())
            .collect();
        let total = partials.iter().sum::<f64>() as f32;
        FlexTensor::from_data(TensorData::new(vec![total], Shape::new([1])))
    }

    fn scaled(grad: FlexTensor, factor: f32) -> FlexTensor {
        let mut grad = dense_f32(grad);
        grad.storage_mut::<f32>()
            .par_chunks_mut(CHUNK)
            .for_each(|chunk| chunk.iter_mut().for_each(|g| *g *= factor));
        grad
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Dispatch;
    use burn::tensor::{Device, Distribution, Tensor};

    /// A gradient-like tensor spanning several chunks, values of very different scales.
    fn gradient() -> Tensor<2> {
        let device = Device::flex();
        device.seed(7);
        let g = Tensor::<2>::random([300, 250], Distribution::Normal(0.0, 1.0), &device);
        let scales = Tensor::<2>::random([300, 1], Distribution::Uniform(-6.0, 2.0), &device);
        g * scales.exp()
    }

    #[test]
    fn the_sum_of_squares_matches_burns_composition() {
        let g = gradient();
        let burn = g.clone().square().sum().into_scalar::<f32>();
        let ours =
            Tensor::<1>::from_dispatch(<Dispatch as ClipOps>::sum_of_squares(g.into_dispatch()))
                .into_scalar::<f32>();
        assert!(burn > 0.0);
        assert!(
            ((ours - burn) / burn).abs() < 1e-5,
            "ours {ours}, Burn's {burn}"
        );
    }

    #[test]
    fn scaling_is_bit_identical_to_burns_product() {
        let g = gradient();
        let factor = 0.297_f32;
        let bits = |t: Tensor<2>| {
            let values = t.into_data().try_to_vec::<f32>().expect("f32");
            values.into_iter().map(f32::to_bits).collect::<Vec<_>>()
        };
        let burn = bits(g.clone() * factor);
        let ours = bits(Tensor::from_dispatch(<Dispatch as ClipOps>::scaled(
            g.into_dispatch(),
            factor,
        )));
        assert_eq!(ours, burn);
    }
}
