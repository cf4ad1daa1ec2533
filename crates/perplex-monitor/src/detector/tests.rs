use super::*;
use SignalKind::*;

fn point(step: u64, val: f64, train: f64, train_eval: Option<f64>) -> EvalPoint {
    EvalPoint {
        step,
        val_loss: val,
        train_loss: train,
        train_eval_loss: train_eval,
    }
}

/// Feeds (val, train) pairs as evaluations 100 steps apart; returns each state's kind.
fn states(config: DetectorConfig, curve: &[(f64, f64)]) -> Vec<SignalKind> {
    let mut d = Detector::new(config);
    curve
        .iter()
        .enumerate()
        .map(|(i, &(val, train))| {
            let step = 100 * (i as u64 + 1);
            d.on_eval(point(step, val, train, None), &[]).state.kind
        })
        .collect()
}

#[test]
fn a_steadily_improving_run_is_healthy_after_warm_up() {
    let curve: Vec<(f64, f64)> = (0..8)
        .map(|i| (6.0 - 0.2 * i as f64, 6.1 - 0.25 * i as f64))
        .collect();
    let got = states(DetectorConfig::default(), &curve);
    assert_eq!(got[0], WarmingUp);
    assert!(got[1..].iter().all(|k| *k == Healthy), "{got:?}");
}

#[test]
fn a_flat_run_becomes_a_plateau_after_patience() {
    let curve = [
        (5.0, 5.1),
        (4.5, 4.6),
        (4.5, 4.55),
        (4.5, 4.55),
        (4.5, 4.55),
        (4.5, 4.5),
    ];
    let got = states(DetectorConfig::default(), &curve);
    assert_eq!(
        got,
        vec![WarmingUp, Healthy, Healthy, Healthy, Plateau, Plateau]
    );
}

#[test]
fn val_rising_while_train_falls_is_overfitting_and_nothing_else_is() {
    let curve = [(5.0, 5.1), (4.5, 4.4), (4.4, 4.0), (4.5, 3.6), (4.7, 3.2)];
    let got = states(DetectorConfig::default(), &curve);
    assert_eq!(got, vec![WarmingUp, Healthy, Healthy, Healthy, Overfitting]);
    // Both rising (a bad learning rate, not memorisation) is not overfitting.
    let both = [(5.0, 5.1), (4.5, 4.4), (4.4, 4.3), (4.5, 4.4), (4.7, 4.6)];
    assert!(!states(DetectorConfig::default(), &both).contains(&Overfitting));
}

#[test]
fn a_gap_past_its_bound_is_overfitting() {
    let mut d = Detector::new(DetectorConfig {
        max_gap: Some(0.5),
        ..DetectorConfig::default()
    });
    let p = |step, val, train_eval: f64| point(step, val, train_eval + 0.1, Some(train_eval));
    d.on_eval(p(100, 5.0, 4.9), &[]);
    assert_eq!(d.on_eval(p(200, 4.6, 4.3), &[]).state.kind, Healthy);
    let v = d.on_eval(p(300, 4.5, 3.9), &[]);
    assert_eq!(v.state.kind, Overfitting, "{v:?}");
    assert!(v.state.evidence.contains("gap 0.6"), "{}", v.state.evidence);
}

#[test]
fn val_below_eval_mode_train_is_a_suspected_leak() {
    let mut d = Detector::new(DetectorConfig::default());
    let v = d.on_eval(point(100, 3.0, 3.5, Some(3.4)), &[]);
    assert!(v.has(LeakSuspected), "{v:?}");
    assert_eq!(
        v.state.kind, WarmingUp,
        "a leak is an alarm beside the state"
    );
    // Below the dropout-on train loss but above the eval-mode one is normal.
    let mut d = Detector::new(DetectorConfig::default());
    let v = d.on_eval(point(100, 3.45, 3.6, Some(3.4)), &[]);
    assert!(!v.has(LeakSuspected), "{v:?}");
}

#[test]
fn a_sudden_val_drop_without_a_train_drop_is_a_suspected_leak() {
    let mut d = Detector::new(DetectorConfig::default());
    let leaks: Vec<bool> = [(6.0, 6.1), (5.5, 5.6), (5.3, 5.4), (2.5, 5.3)]
        .iter()
        .enumerate()
        .map(|(i, &(val, train))| {
            let v = d.on_eval(point(100 * (i as u64 + 1), val, train, None), &[]);
            v.has(LeakSuspected)
        })
        .collect();
    assert_eq!(leaks, vec![false, false, false, true]);
}

#[test]
fn spikes_and_nans_in_training_loss_are_flagged_and_noise_is_not() {
    let mut d = Detector::new(DetectorConfig::default());
    let mut fired = Vec::new();
    for step in 1..=200u64 {
        // Gentle decline with ±0.02 noise, one spike at step 150, a NaN at 180.
        let noise = if step % 2 == 0 { 0.02 } else { -0.02 };
        let loss = match step {
            150 => 9.0,
            180 => f64::NAN,
            _ => 5.0 - step as f64 * 0.001 + noise,
        };
        if let Some(s) = d.on_train_step(step, loss) {
            fired.push((step, s.kind));
        }
    }
    assert_eq!(fired, vec![(150, Unstable), (180, NonFinite)]);
}

#[test]
fn a_non_finite_validation_loss_is_the_state() {
    let mut d = Detector::new(DetectorConfig::default());
    let v = d.on_eval(point(10, f64::INFINITY, 3.0, None), &[]);
    assert_eq!(v.state.kind, NonFinite);
    assert!(v.alarms.is_empty());
}

#[test]
fn repetitive_samples_raise_an_alarm_when_half_of_them_loop() {
    let looped = Sample::new("a".into(), "x y x y".into(), &[1, 2, 1, 2, 1, 2, 1, 2]);
    let varied = Sample::new("a".into(), "words".into(), &[1, 2, 3, 4, 5, 6, 7, 8]);
    let mut d = Detector::new(DetectorConfig::default());
    let v = d.on_eval(point(10, 5.0, 5.0, None), &[looped.clone(), varied.clone()]);
    assert!(v.has(DegenerateSamples), "{v:?}");
    let v = d.on_eval(point(20, 4.9, 4.9, None), &[looped, varied.clone(), varied]);
    assert!(!v.has(DegenerateSamples), "{v:?}");
}
