use super::*;

/// A loss that a model of this field shows against lr: flat at 5 nats while the rate is too
/// small to move the weights, falling fastest near 1e-3, lowest near 1e-2, exploding past 5e-2.
fn loss_at(lr: f64) -> f64 {
    let x = lr.log10();
    let learned = 3.0 / (1.0 + (-(x + 3.0) * 4.0).exp());
    let explosion = if lr > 0.05 {
        200.0 * (lr / 0.05).log10().powi(2)
    } else {
        0.0
    };
    5.0 - learned + explosion
}

fn sweep_over(test: &mut RangeTest, loss: impl Fn(f64) -> f64) {
    while let Some(lr) = test.next_lr() {
        if !test.record(lr, loss(lr)) {
            break;
        }
    }
}

#[test]
fn the_rates_are_log_spaced_from_start_to_end() {
    let sweep = Sweep {
        start_lr: 1e-6,
        end_lr: 1.0,
        steps: 61,
    };
    assert!((sweep.lr_at(0) - 1e-6).abs() < 1e-18);
    assert!((sweep.lr_at(30) - 1e-3).abs() < 1e-12);
    assert!((sweep.lr_at(60) - 1.0).abs() < 1e-12);
}

#[test]
fn it_stops_when_the_loss_explodes_and_suggests_the_steepest_fall() {
    let mut test = RangeTest::new(Sweep::default());
    sweep_over(&mut test, loss_at);
    assert_eq!(test.end, Some(SweepEnd::Exploded));
    assert!(
        test.points.len() < 300,
        "stopped early: {}",
        test.points.len()
    );
    let s = test.suggest().unwrap();
    assert_eq!(s.rule, Rule::SteepestDescent);
    // The raw curve falls fastest at 1e-3; the smoothing lags it by a few steps.
    assert!((5e-4..5e-3).contains(&s.lr), "{s:?}");
    assert!(s.min_loss_lr > s.lr, "{s:?}");
    // The smoothed loss is the bias-corrected average: the first point is the loss itself.
    assert!((test.points[0].smoothed - test.points[0].loss).abs() < 1e-12);
}

#[test]
fn a_nan_ends_the_sweep_and_what_came_before_still_counts() {
    let mut test = RangeTest::new(Sweep::default());
    sweep_over(
        &mut test,
        |lr| if lr > 0.02 { f64::NAN } else { loss_at(lr) },
    );
    assert_eq!(test.end, Some(SweepEnd::NonFinite));
    assert!(test.suggest().is_ok());
}

#[test]
fn no_suggestion_says_why() {
    let mut flat = RangeTest::new(Sweep::default());
    sweep_over(&mut flat, |lr| 5.0 + lr);
    assert_eq!(flat.end, Some(SweepEnd::Completed));
    assert_eq!(flat.suggest(), Err(NoSuggestion::NeverFell));
    let mut early = RangeTest::new(Sweep::default());
    sweep_over(&mut early, |lr| if lr > 1.5e-6 { f64::NAN } else { 5.0 });
    assert!(matches!(
        early.suggest(),
        Err(NoSuggestion::TooFewSteps { .. })
    ));
}

#[test]
fn a_sweep_that_cannot_run_is_refused() {
    let bad = |f: fn(&mut Sweep)| {
        let mut s = Sweep::default();
        f(&mut s);
        s.validate().unwrap_err()
    };
    assert_eq!(bad(|s| s.start_lr = 0.0).key, "--start-lr");
    let end = bad(|s| s.end_lr = 1e-7);
    assert_eq!(
        (end.key.as_str(), end.value.as_str()),
        ("--end-lr", "0.0000001")
    );
    assert_eq!(
        bad(|s| s.steps = 5).to_string(),
        "--steps = 5 must be at least 20: the suggestion skips the first 10 steps"
    );
    assert!(Sweep::default().validate().is_ok());
}
