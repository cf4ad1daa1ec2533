//! The fused ops against Burn's own: values and gradients.

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

/// Causal attention the long way, from Burn's own ops with an explicit mask and softmax: the
/// reference for both the fused kernel and the fallback.
fn reference_attention(qkv: Tensor<3>, heads: usize) -> Tensor<3> {
    let [batch, seq, width] = qkv.dims();
    let d_model = width / 3;
    let head_dim = d_model / heads;
    let split = |part: usize| {
        qkv.clone()
            .narrow(2, part * d_model, d_model)
            .reshape([batch, seq, heads, head_dim])
            .swap_dims(1, 2)
    };
    let (q, k, v) = (split(0), split(1), split(2));
    let scores = q.matmul(k.swap_dims(2, 3)) / (head_dim as f64).sqrt();
    let future = Tensor::<2, burn::tensor::Bool>::tril_mask([seq, seq], 0, &qkv.device());
    let scores = scores.mask_fill(future.unsqueeze::<4>(), f32::NEG_INFINITY);
    let probs = burn::tensor::activation::softmax(scores, 3);
    probs
        .matmul(v)
        .swap_dims(1, 2)
        .reshape([batch, seq, d_model])
}

#[test]
fn fused_attention_and_its_gradient_match_the_composed_ops() {
    let _rng = crate::device_rng_lock();
    let device = Device::flex().autodiff();
    device.seed(11);
    // Uneven sizes: 3 sequences of 7 positions, 2 heads of 5.
    let (batch, seq, d_model, heads) = (3, 7, 10, 2);
    let qkv = random([batch, seq, 3 * d_model], 1.5, &device).require_grad();
    let weights = random([batch, seq, d_model], 1.0, &device);
    let fused = causal_attention(qkv.clone(), heads);
    let reference = reference_attention(qkv.clone(), heads);
    let composed = composed_causal_attention(qkv.clone(), heads);
    assert_close(
        &values(fused.clone()),
        &values(reference.clone()),
        1e-5,
        "attention",
    );
    assert_close(
        &values(composed),
        &values(reference.clone()),
        1e-5,
        "Burn's attention",
    );
    let grad_fused = qkv
        .grad(&(fused * weights.clone()).sum().backward())
        .unwrap();
    let grad_reference = qkv.grad(&(reference * weights).sum().backward()).unwrap();
    assert_close(&values(grad_fused), &values(grad_reference), 1e-5, "∂/∂qkv");
}

#[test]
fn fused_attention_never_looks_ahead() {
    let _rng = crate::device_rng_lock();
    let device = Device::flex();
    device.seed(12);
    let qkv = random([1, 6, 12], 1.0, &device);
    let mut changed = values(qkv.clone());
    for v in &mut changed[4 * 12..] {
        *v += 3.0; // positions 4 and 5 only
    }
    let changed = Tensor::<3>::from_data(TensorData::new(changed, [1, 6, 12]), &device);
    let (a, b) = (
        values(causal_attention(qkv, 2)),
        values(causal_attention(changed, 2)),
    );
    assert_eq!(
        a[..4 * 4],
        b[..4 * 4],
        "positions 0..4 must not see 4 and 5"
    );
    assert_ne!(a[4 * 4..], b[4 * 4..]);
}

#[test]
fn fused_layer_norm_and_its_gradients_match_burns() {
    let _rng = crate::device_rng_lock();
    let device = Device::flex().autodiff();
    device.seed(13);
    // 150 rows: more than two of the kernel's 64-row blocks, the last one partial.
    let mut ln = burn::nn::LayerNormConfig::new(24)
        .with_epsilon(LAYER_NORM_EPSILON)
        .init(&device);
    // Fresh leaves, so that the two backward passes below share no recorded op.
    let leaf = |t: Tensor<1>| Tensor::<1>::from_data(t.into_data(), &device).require_grad();
    ln.gamma = burn::module::Param::from_tensor(leaf(random([24], 0.5, &device) + 1.0));
    ln.beta = Some(burn::module::Param::from_tensor(leaf(random(
        [24],
        0.5,
        &device,
    ))));
    let x = Tensor::<3>::from_data(
        (random([5, 30, 24], 2.0, &device) + 1.0).into_data(),
        &device,
    )
    .require_grad();
    let weights = random([5, 30, 24], 1.0, &device);
    let fused = layer_norm(&ln, x.clone());
    let reference = ln.forward(x.clone());
    assert_close(
        &values(fused.clone()),
        &values(reference.clone()),
        1e-5,
        "layer norm",
    );
    let grads_fused = (fused * weights.clone()).sum().backward();
    let grads_reference = (reference * weights).sum().backward();
    let same = |a: Vec<f32>, b: Vec<f32>, what| assert_close(&a, &b, 1e-4, what);
    same(
        values(x.grad(&grads_fused).unwrap()),
        values(x.grad(&grads_reference).unwrap()),
        "∂/∂x",
    );
    let gamma = ln.gamma.val();
    same(
        values(gamma.grad(&grads_fused).unwrap()),
        values(gamma.grad(&grads_reference).unwrap()),
        "∂/∂γ",
    );
    let beta = ln.beta.as_ref().unwrap().val();
    same(
        values(beta.grad(&grads_fused).unwrap()),
        values(beta.grad(&grads_reference).unwrap()),
        "∂/∂β",
    );
}

#[test]
fn fused_linear_and_its_gradients_match_matmul_plus_bias() {
    let _rng = crate::device_rng_lock();
    let device = Device::flex().autodiff();
    device.seed(14);
    let leaf = |shape: [usize; 2]| {
        Tensor::<2>::from_data(random(shape, 1.0, &device).into_data(), &device).require_grad()
    };
    // 150 rows: more than two of the bias gradient's 64-row blocks, the last one partial.
    let (x, w) = (leaf([150, 24]), leaf([24, 40]));
    let bias =
        Tensor::<1>::from_data(random([40], 1.0, &device).into_data(), &device).require_grad();
    // The output projection's case: the weight read through a transposed view.
    let embedding = leaf([40, 24]);
    let weights = random([150, 40], 1.0, &device);
    let run = |fused: bool| {
        let (y, logits) = if fused {
            let y = linear(x.clone(), w.clone(), Some(bias.clone()));
            (y, linear(x.clone(), embedding.clone().transpose(), None))
        } else {
            let y = x.clone().matmul(w.clone()) + bias.clone().unsqueeze();
            (y, x.clone().matmul(embedding.clone().transpose()))
        };
        let outputs = (values(y.clone()), values(logits.clone()));
        let grads = ((y + logits) * weights.clone()).sum().backward();
        let grads = [
            values(x.grad(&grads).unwrap()),
            values(w.grad(&grads).unwrap()),
            values(bias.grad(&grads).unwrap()),
            values(embedding.grad(&grads).unwrap()),
        ];
        (outputs, grads)
    };
    let ((y, logits), fused) = run(true);
    let ((y_ref, logits_ref), reference) = run(false);
    assert_close(&y, &y_ref, 1e-5, "x·W + b");
    assert_close(&logits, &logits_ref, 1e-5, "x·Eᵀ");
    for ((a, b), what) in fused.iter().zip(&reference).zip(["∂x", "∂W", "∂b", "∂E"]) {
        assert_close(a, b, 1e-4, what);
    }
}

#[test]
fn fused_ranks_count_the_logits_above_the_target_beside_the_same_nll() {
    let _rng = crate::device_rng_lock();
    let device = Device::flex();
    device.seed(15);
    // 503 logits a row: 31 vectors of 16 and a tail of 7, so both parts of the count run.
    let logits = random([3, 7, 503], 2.0, &device);
    let ids: Vec<i64> = (0..21).map(|i| i * 37 % 503).collect();
    let targets = Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [3, 7]), &device);
    let (nll, above) = token_nll_and_rank(logits.clone(), targets.clone());
    let rows = values(logits.clone());
    let want: Vec<u64> = rows
        .chunks(503)
        .zip(&ids)
        .map(|(row, &t)| row.iter().filter(|&&x| x > row[t as usize]).count() as u64)
        .collect();
    assert_eq!(above, want);
    assert!(above.iter().any(|&c| c > 0));
    // The NLL is token_nll's to the bit, so a pass that counts ranks reports the same loss.
    assert_eq!(nll, values(token_nll(logits, targets)));
}

#[test]
fn residual_add_sums_and_passes_the_gradient_to_both_sides() {
    let _rng = crate::device_rng_lock();
    let device = Device::flex().autodiff();
    device.seed(16);
    let leaf = || {
        Tensor::<3>::from_data(random([2, 9, 1_000], 1.0, &device).into_data(), &device)
            .require_grad()
    };
    let (a, b) = (leaf(), leaf());
    let weights = random([2, 9, 1_000], 1.0, &device);
    let sum = residual_add(a.clone(), b.clone() * 2.0);
    assert_eq!(values(sum.clone()), values(a.clone() + b.clone() * 2.0));
    let grads = (sum * weights.clone()).sum().backward();
    assert_eq!(values(a.grad(&grads).unwrap()), values(weights.clone()));
    let twice = values(weights * 2.0);
    assert_close(&values(b.grad(&grads).unwrap()), &twice, 1e-6, "∂/∂b");
}

/// The training loss against Burn's own mean of log-softmax and gather: its value, its
/// gradient under `loss.backward()` (incoming 1: the stored gradient as it is) and under a
/// scaled loss (incoming ≠ 1: the stored gradient scaled).
#[test]
fn the_fused_mean_nll_and_its_gradient_match_the_composed_mean() {
    let _rng = crate::device_rng_lock();
    let device = Device::flex().autodiff();
    device.seed(11);
    let (batch, seq, vocab) = (2, 7, 1_003);
    let ids: Vec<i64> = (0..(batch * seq) as i64)
        .map(|i| i * 131 % vocab as i64)
        .collect();
    let targets = Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, seq]), &device);
    let raw = random([batch, seq, vocab], 3.0, &device);
    for factor in [1.0f32, -2.5] {
        let logits = Tensor::<3>::from_data(raw.to_data(), &device).require_grad();
        let fused = mean_token_nll(logits.clone(), targets.clone());
        let composed = composed_token_nll(logits.clone(), targets.clone()).mean();
        assert_close(
            &values(fused.clone()),
            &values(composed.clone()),
            1e-5,
            "mean nll",
        );
        let grad_fused = logits.grad(&(fused * factor).backward()).unwrap();
        let grad_composed = logits.grad(&(composed * factor).backward()).unwrap();
        assert_close(
            &values(grad_fused),
            &values(grad_composed),
            1e-7,
            &format!("∂(mean · {factor})/∂logits"),
        );
    }
}

/// Under `loss.backward()` the training loss's gradient has the bits of the per-token op's
/// under Burn's mean, so a run trains exactly as it did with `token_nll(..).mean()`.
#[test]
fn same_bits_as_the_per_token_op_under_a_mean() {
    let _rng = crate::device_rng_lock();
    let device = Device::flex().autodiff();
    device.seed(13);
    // 1,760 rows (ptb-best's 10 × 176): `1/rows` is not a power of two.
    let (batch, seq, vocab) = (10, 176, 300);
    let ids: Vec<i64> = (0..(batch * seq) as i64)
        .map(|i| i * 7 % vocab as i64)
        .collect();
    let targets = Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, seq]), &device);
    let raw = random([batch, seq, vocab], 2.0, &device).to_data();
    let gradient = |fused_mean: bool| {
        let logits = Tensor::<3>::from_data(raw.clone(), &device).require_grad();
        let loss = if fused_mean {
            mean_token_nll(logits.clone(), targets.clone())
        } else {
            token_nll(logits.clone(), targets.clone()).mean()
        };
        let bits: Vec<u32> = values(logits.grad(&loss.backward()).unwrap())
            .iter()
            .map(|v| v.to_bits())
            .collect();
        bits
    };
    assert!(
        gradient(true) == gradient(false),
        "the gradients differ in their bits"
    );
}

/// Without autodiff (and on untracked logits) the mean is the mean of the per-token op's
/// figures, and a NaN logit makes it NaN, so the trainer's non-finite check still sees it.
#[test]
fn the_fused_mean_nll_is_the_mean_of_the_per_token_nll() {
    let _rng = crate::device_rng_lock();
    let device = Device::flex();
    device.seed(12);
    let logits = random([3, 5, 400], 2.0, &device);
    let ids: Vec<i64> = (0..15).map(|i| i * 26 % 400).collect();
    let targets = Tensor::<2, Int>::from_data(TensorData::new(ids, [3, 5]), &device);
    let want = values(token_nll(logits.clone(), targets.clone()).mean())[0];
    let got = values(mean_token_nll(logits.clone(), targets.clone()))[0];
    assert_eq!(got.to_bits(), want.to_bits());

    let mut raw = values(logits);
    raw[401] = f32::NAN;
    let poisoned = Tensor::<3>::from_data(TensorData::new(raw, [3, 5, 400]), &device);
    assert!(values(mean_token_nll(poisoned, targets))[0].is_nan());
}
