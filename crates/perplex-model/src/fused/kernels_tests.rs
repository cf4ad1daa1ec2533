use super::*;
use std::mem::MaybeUninit;

fn erf_reference(x: f64) -> f64 {
    // Abramowitz & Stegun 7.1.28 is too coarse; integrate e^(-t²) with Simpson's rule.
    let n = 2_000;
    let h = x / n as f64;
    let f = |t: f64| (-t * t).exp();
    let mut s = f(0.0) + f(x);
    for i in 1..n {
        s += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    s * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
}

#[test]
fn exp_is_within_a_few_ulp_of_the_library_over_its_range() {
    let mut worst = 0.0f64;
    for i in 0..=100_000 {
        let x = -87.0 + 175.0 * i as f32 / 100_000.0;
        let want = (x as f64).exp();
        let got = exp(x) as f64;
        worst = worst.max(((got - want) / want).abs());
    }
    assert!(worst < 5e-7, "worst relative error {worst}");
}

#[test]
fn exp_keeps_nan_and_clamps_the_far_tails() {
    assert!(exp(f32::NAN).is_nan());
    assert!(exp(-1000.0) < 1e-37);
    assert!(exp(1000.0) > 1e38);
}

#[test]
fn erf_matches_a_numerical_integral() {
    for i in -60..=60 {
        let x = i as f32 / 10.0;
        let (erf, gauss) = erf_and_gauss(x * std::f32::consts::SQRT_2);
        let want = erf_reference(x as f64);
        assert!(
            (erf as f64 - want).abs() < 3e-7,
            "erf({x}) = {erf}, want {want}"
        );
        assert!((gauss - (-x * x).exp()).abs() < 1e-6);
    }
}

#[test]
fn softmax_normaliser_matches_a_direct_sum() {
    let row: Vec<f32> = (0..1_003)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
        .collect();
    let (max, sum) = nll_forward_row(&row);
    let want_max = row.iter().cloned().fold(f32::MIN, f32::max);
    let want_sum: f64 = row.iter().map(|&x| ((x - want_max) as f64).exp()).sum();
    assert_eq!(max, want_max);
    assert!((sum as f64 - want_sum).abs() / want_sum < 1e-6);
}

#[test]
fn a_nan_logit_makes_the_normaliser_nan() {
    let mut row = vec![0.5f32; 40];
    row[17] = f32::NAN;
    let (max, sum) = nll_forward_row(&row);
    assert!(max.is_nan() || sum.is_nan());
}

#[test]
fn gelu_derivative_matches_a_finite_difference() {
    let xs: Vec<f32> = (-40..=40).map(|i| i as f32 / 8.0).collect();
    let h = 1e-2f32;
    // GELU at x ± h, computed in place.
    let mut yp: Vec<f32> = xs.iter().map(|x| x + h).collect();
    let mut ym: Vec<f32> = xs.iter().map(|x| x - h).collect();
    gelu_forward(&mut yp);
    gelu_forward(&mut ym);
    let (mut out, mut slots) = (xs.clone(), vec![MaybeUninit::new(0.0); xs.len()]);
    gelu_forward_and_derivative(&mut out, &mut slots);
    // SAFETY: every slot was initialised (to zero) before the kernel wrote it.
    let derivative: Vec<f32> = slots.iter().map(|d| unsafe { d.assume_init() }).collect();
    let mut inference = xs.clone();
    gelu_forward(&mut inference);
    assert_eq!(
        out, inference,
        "training and inference compute the same GELU bits"
    );
    let mut grad = vec![1.0f32; xs.len()];
    gelu_backward(&derivative, &mut grad);
    for i in 0..xs.len() {
        let numeric = (yp[i] - ym[i]) / (2.0 * h);
        assert!(
            (grad[i] - numeric).abs() < 2e-3,
            "x={} {} vs {}",
            xs[i],
            grad[i],
            numeric
        );
    }
}

#[test]
fn dropout_keeps_the_expected_share_and_is_its_own_backward() {
    let n = 200_000;
    let drop_below = (0.1f64 * 4_294_967_296.0) as u32;
    let mut x = vec![1.0f32; n];
    dropout_forward(&mut x, 0, 12_345, drop_below, 1.0 / 0.9);
    let kept = x.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
    assert!((kept - 0.9).abs() < 0.005, "kept share {kept}");
    // A chunk starting at element 1,000 sees the same mask as the whole tensor there.
    let mut chunk = vec![1.0f32; 500];
    dropout_forward(&mut chunk, 1_000, 12_345, drop_below, 1.0 / 0.9);
    assert_eq!(&chunk[..], &x[1_000..1_500]);
    // Another seed, another mask.
    let mut other = vec![1.0f32; n];
    dropout_forward(&mut other, 0, 54_321, drop_below, 1.0 / 0.9);
    assert_ne!(x, other);
}

#[test]
fn the_gradient_row_gives_the_forward_and_backward_rows_bits_and_the_softmax_minus_onehot() {
    // 1,003 elements: 62 full lanes and a tail of 11, both paths of the in-place sum.
    let row: Vec<f32> = (0..1_003)
        .map(|i| ((i * 53 % 97) as f32 - 48.0) / 5.0)
        .collect();
    let (target, scale) = (417, 0.25f32);
    let (max, sum) = nll_forward_row(&row);
    let want_nll = max + sum.ln() - row[target];
    let mut gradient = row.clone();
    let nll = nll_gradient_row(&mut gradient, target, scale);
    assert_eq!(
        nll.to_bits(),
        want_nll.to_bits(),
        "the same bits as the forward row"
    );
    let mut backward = row.clone();
    nll_backward_row(&mut backward, max + sum.ln(), scale);
    backward[target] -= scale;
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&gradient), bits(&backward), "the backward row's bits");
    let lse = f64::from(max) + f64::from(sum).ln();
    for (j, (&g, &x)) in gradient.iter().zip(&row).enumerate() {
        let softmax = (f64::from(x) - lse).exp();
        let want = f64::from(scale) * (softmax - f64::from(u8::from(j == target)));
        assert!(
            (f64::from(g) - want).abs() < 1e-7,
            "element {j}: {g} vs {want}"
        );
    }
}
