//! The AMX products against an f64 product of the same bf16-rounded inputs.

use super::pack::to_bf16;
use super::*;

/// `x` as the product sees it: rounded to bf16 and back.
fn round_bf16(x: f32) -> f64 {
    f64::from(f32::from_bits(u32::from(to_bf16(x)) << 16))
}

#[test]
fn bf16_rounds_to_nearest_even_and_keeps_nan() {
    assert_eq!(to_bf16(1.0), 0x3f80);
    // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even (1.0).
    assert_eq!(to_bf16(1.0 + 2f32.powi(-8)), 0x3f80);
    assert_eq!(to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
    assert!(f32::from_bits(u32::from(to_bf16(f32::NAN)) << 16).is_nan());
    // The same bits as the `half` crate's conversion over a spread of every sign, exponent
    // and mantissa (subnormals, infinities and ties included); NaNs stay NaNs.
    let specials = [
        0x0000_8000,
        0x0001_8000,
        0x7f7f_ffff,
        0x7f80_0000,
        0x3f80_8000,
        0x3f81_8000,
    ];
    for bits in (0..=u32::MAX).step_by(65_521).chain(specials) {
        let x = f32::from_bits(bits);
        let want = half::bf16::from_f32(x);
        if x.is_nan() {
            assert!(want.is_nan() && f32::from_bits(u32::from(to_bf16(x)) << 16).is_nan());
        } else {
            assert_eq!(to_bf16(x), want.to_bits(), "{bits:#010x}");
        }
    }
}

/// Every shape, layout and scale the kernels use agrees with an f64 product
/// of the bf16-rounded inputs to f32 rounding; needs a CPU with AMX (elsewhere
/// `precision.rs` checks that bf16 is refused).
#[test]
fn products_match_the_rounded_inputs_product() {
    if !available() {
        // No tiles to test on this CPU; precision.rs checks that bf16 is refused here.
        eprintln!("skipped: this CPU has no AMX");
        return;
    }
    let value = |i: usize| ((i * 7919 % 1009) as f32 / 504.5 - 1.0) * 1.7;
    for &[m, k, n] in &[
        [1, 1, 1],
        [2, 0, 3],
        [37, 45, 50],
        [64, 256, 96],
        [130, 33, 300],
    ] {
        // Each operand row-major, transposed, or every other element of a wider matrix
        // (no stride 1): every packing path, with and without the transposed product.
        let layouts = |offset: usize, rows: usize, cols: usize| {
            [
                Strided::rows(offset, cols),
                Strided::rows(offset, rows).t(),
                Strided {
                    offset,
                    row: 2 * cols,
                    col: 2,
                },
            ]
        };
        let pairs = layouts(3, m, k)
            .into_iter()
            .flat_map(|l| layouts(5, k, n).map(|r| (l, r)));
        for (case, (l, r)) in pairs.enumerate() {
            let accumulate = case % 2 == 1;
            let lhs: Vec<f32> = (0..2 * m * k + 3).map(value).collect();
            let rhs: Vec<f32> = (0..2 * k * n + 5).map(|i| value(i + 11)).collect();
            let at =
                |x: &[f32], s: Strided, i: usize, j: usize| x[s.offset + i * s.row + j * s.col];
            let start: Vec<f32> = (0..m * n).map(|i| value(i + 29)).collect();
            let mut dst = start.clone();
            // Scale 1 lets whole blocks go straight into `dst`; 0.5 goes through the copy.
            let scale = if accumulate || case % 4 == 0 {
                1.0
            } else {
                0.5
            };
            let d = Strided::rows(0, n);
            // SAFETY: every matrix lies inside its vector; dst is distinct from the inputs.
            unsafe {
                matmul_bf16(
                    [m, k, n],
                    scale,
                    (dst.as_mut_ptr(), d),
                    (&lhs, l),
                    (&rhs, r),
                    accumulate,
                );
            }
            for i in 0..m {
                for j in 0..n {
                    let exact: f64 = (0..k)
                        .map(|p| round_bf16(at(&lhs, l, i, p)) * round_bf16(at(&rhs, r, p, j)))
                        .sum();
                    let base = if accumulate {
                        f64::from(start[i * n + j])
                    } else {
                        0.0
                    };
                    let want = base + f64::from(scale) * exact;
                    let tolerance = 1e-5 * (k as f64).sqrt() * (1.0 + want.abs());
                    let got = f64::from(dst[i * n + j]);
                    assert!(
                        (got - want).abs() <= tolerance,
                        "[{m},{k},{n}] ({i},{j}): {got} vs {want}"
                    );
                }
            }
        }
    }
}
