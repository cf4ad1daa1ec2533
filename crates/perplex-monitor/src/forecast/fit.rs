//! A robust fit of `L(t) = a + b·t^(−c)` to a validation curve.
//!
//! For a fixed exponent `c` the curve is linear in `(a, b)`, so the fit is a one-dimensional
//! search over `c` (a log-spaced grid, then a golden-section refinement) around a weighted
//! linear least squares. Robustness comes from iteratively reweighted least squares with
//! Huber weights: a point further than 1.345 robust standard deviations from the curve counts
//! less, so one noisy evaluation does not bend the forecast.

/// The fitted curve `L(t) = a + b·t^(−c)`: `a` is the floor the curve tends to (nats), `b`
/// how far above it the curve starts at step 1, `c` how fast it falls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerLaw {
    /// The asymptote, nats per token.
    pub a: f64,
    /// The scale, nats per token at step 1 above the asymptote.
    pub b: f64,
    /// The exponent (> 0 for a falling curve).
    pub c: f64,
}

impl PowerLaw {
    /// The curve's value at `step`, nats per token.
    pub fn at(&self, step: f64) -> f64 {
        self.a + self.b * step.powf(-self.c)
    }

    /// The step at which the curve reaches `loss` (nats), if it ever does: `None` when `loss`
    /// is at or below the asymptote (or the curve does not fall).
    pub fn step_reaching(&self, loss: f64) -> Option<f64> {
        (loss > self.a && self.b > 0.0 && self.c > 0.0)
            .then(|| (self.b / (loss - self.a)).powf(1.0 / self.c))
    }
}

/// A fit and how well it matches its points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fitted {
    /// The curve.
    pub curve: PowerLaw,
    /// Root-mean-square distance of the points from the curve, nats (unweighted).
    pub rmse: f64,
}

/// The exponents searched: the curves of language models fall with `c` between about 0.05
/// (slow) and 2 (fast); outside that the data say little about `c`.
const C_RANGE: (f64, f64) = (0.02, 3.0);
const GRID: usize = 48;
const HUBER_K: f64 = 1.345;
const REWEIGHTINGS: usize = 4;

/// Fits `points` (step > 0, finite loss, nats) robustly. `None` with fewer than three points.
pub fn fit_power_law(points: &[(f64, f64)]) -> Option<Fitted> {
    if points.len() < 3 {
        return None;
    }
    let mut weights = vec![1.0; points.len()];
    let mut best = best_over_c(points, &weights)?;
    for _ in 0..REWEIGHTINGS {
        weights = huber_weights(points, &best);
        best = best_over_c(points, &weights)?;
    }
    let sq: f64 = points.iter().map(|&(t, l)| (l - best.at(t)).powi(2)).sum();
    Some(Fitted {
        curve: best,
        rmse: (sq / points.len() as f64).sqrt(),
    })
}

/// The `c` (and its `a`, `b`) with the least weighted squared error: the best of a log grid,
/// then refined by golden-section search between its neighbours (each step reuses one of the
/// previous step's two trial exponents, so it costs one fit).
fn best_over_c(points: &[(f64, f64)], w: &[f64]) -> Option<PowerLaw> {
    let ln_t: Vec<f64> = points.iter().map(|p| p.0.ln()).collect();
    let mut x = vec![0.0; points.len()];
    let mut fit = |c: f64| linear_fit(points, &ln_t, &mut x, w, c);
    let (lo, hi) = (C_RANGE.0.ln(), C_RANGE.1.ln());
    let c_at = |i: usize| (lo + (hi - lo) * i as f64 / (GRID - 1) as f64).exp();
    let (i, _) = (0..GRID)
        .filter_map(|i| fit(c_at(i)).map(|(_, e)| (i, e)))
        .min_by(|x, y| x.1.total_cmp(&y.1))?;
    let (mut left, mut right) = (c_at(i.saturating_sub(1)), c_at((i + 1).min(GRID - 1)));
    let mut error = |c: f64| fit(c).map_or(f64::INFINITY, |(_, e)| e);
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let (mut m1, mut m2) = (right - phi * (right - left), left + phi * (right - left));
    let (mut e1, mut e2) = (error(m1), error(m2));
    for _ in 0..40 {
        if e1 < e2 {
            (right, m2, e2) = (m2, m1, e1);
            m1 = right - phi * (right - left);
            e1 = error(m1);
        } else {
            (left, m1, e1) = (m1, m2, e2);
            m2 = left + phi * (right - left);
            e2 = error(m2);
        }
    }
    fit((left + right) / 2.0).map(|(curve, _)| curve)
}

/// For a fixed `c`, the weighted least-squares `a`, `b` of `L = a + b·x` with `x = t^(−c)`
/// (written into `x` from each point's `ln t`, once), and the weighted squared error; `a`
/// is kept at 0 or above (a loss has no negative floor: an early, nearly straight curve in
/// log steps would otherwise fit a floor far below zero and extrapolate a fall that never
/// levels off). `None` when the `x` values do not vary.
fn linear_fit(
    points: &[(f64, f64)],
    ln_t: &[f64],
    x: &mut [f64],
    w: &[f64],
    c: f64,
) -> Option<(PowerLaw, f64)> {
    for (x, &l) in x.iter_mut().zip(ln_t) {
        *x = (-c * l).exp();
    }
    let sw: f64 = w.iter().sum();
    let mx = x.iter().zip(w).map(|(x, w)| w * x).sum::<f64>() / sw;
    let my = points.iter().zip(w).map(|(p, w)| w * p.1).sum::<f64>() / sw;
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for ((&(_, l), &w), &x) in points.iter().zip(w).zip(x.iter()) {
        let dx = x - mx;
        sxx += w * dx * dx;
        sxy += w * dx * (l - my);
    }
    if sxx <= f64::EPSILON * sw * mx.abs().max(1e-300) {
        return None;
    }
    let b = sxy / sxx;
    let (a, b) = if my - b * mx >= 0.0 {
        (my - b * mx, b)
    } else {
        // The best curve with its floor held at 0: `L = b·x`.
        let (sxx0, sxl0) = points
            .iter()
            .zip(w)
            .zip(x.iter())
            .fold((0.0, 0.0), |(xx, xl), ((&(_, l), w), &x)| {
                (xx + w * x * x, xl + w * x * l)
            });
        (0.0, sxl0 / sxx0)
    };
    let error = points
        .iter()
        .zip(w)
        .zip(x.iter())
        .map(|((&(_, l), w), &x)| w * (l - (a + b * x)).powi(2))
        .sum();
    Some((PowerLaw { a, b, c }, error))
}

/// Huber weights of the points' residuals from `curve`, scaled by their median absolute
/// deviation (a robust standard deviation).
fn huber_weights(points: &[(f64, f64)], curve: &PowerLaw) -> Vec<f64> {
    let residuals: Vec<f64> = points.iter().map(|&(t, l)| l - curve.at(t)).collect();
    let mut abs: Vec<f64> = residuals.iter().map(|r| r.abs()).collect();
    abs.sort_by(f64::total_cmp);
    let sigma = 1.4826 * abs[abs.len() / 2];
    if sigma <= 1e-12 {
        return vec![1.0; points.len()];
    }
    residuals
        .iter()
        .map(|r| {
            let z = r.abs() / (HUBER_K * sigma);
            if z <= 1.0 { 1.0 } else { 1.0 / z }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(a: f64, b: f64, c: f64, steps: &[f64]) -> Vec<(f64, f64)> {
        let law = PowerLaw { a, b, c };
        steps.iter().map(|&t| (t, law.at(t))).collect()
    }

    #[test]
    fn recovers_the_parameters_of_an_exact_power_law() {
        let steps: Vec<f64> = (1..=12).map(|i| 100.0 * i as f64).collect();
        let fit = fit_power_law(&curve(4.0, 30.0, 0.5, &steps)).unwrap();
        let p = fit.curve;
        assert!((p.a - 4.0).abs() < 1e-3, "{p:?}");
        assert!((p.b - 30.0).abs() < 0.1, "{p:?}");
        assert!((p.c - 0.5).abs() < 1e-3, "{p:?}");
        assert!(fit.rmse < 1e-6);
    }

    #[test]
    fn one_outlier_does_not_bend_the_extrapolation() {
        let steps: Vec<f64> = (1..=15).map(|i| 100.0 * i as f64).collect();
        let mut points = curve(4.0, 30.0, 0.5, &steps);
        let truth = PowerLaw {
            a: 4.0,
            b: 30.0,
            c: 0.5,
        }
        .at(5000.0);
        points[10].1 += 0.8;
        let robust = fit_power_law(&points).unwrap().curve.at(5000.0);
        assert!((robust - truth).abs() < 0.02, "{robust} vs {truth}");
    }

    #[test]
    fn the_floor_is_never_below_zero() {
        // Straight in log steps: the unconstrained fit would put the floor far below zero.
        let points: Vec<(f64, f64)> = (1..=8)
            .map(|i| {
                let t = 50.0 * i as f64;
                (t, 8.0 - 0.4 * t.ln())
            })
            .collect();
        let fit = fit_power_law(&points).unwrap();
        assert!(fit.curve.a >= 0.0, "{fit:?}");
        assert!(fit.curve.at(600.0) > 0.0);
    }

    #[test]
    fn the_step_reaching_a_loss_inverts_the_curve() {
        let p = PowerLaw {
            a: 4.0,
            b: 30.0,
            c: 0.5,
        };
        let t = p.step_reaching(p.at(900.0)).unwrap();
        assert!((t - 900.0).abs() < 1e-6);
        assert_eq!(p.step_reaching(3.9), None, "below the floor");
        assert!(fit_power_law(&[(1.0, 2.0), (2.0, 1.0)]).is_none());
    }
}
