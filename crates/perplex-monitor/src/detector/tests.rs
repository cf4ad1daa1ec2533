use super::*;
use crate::baselines::Baselines;
use SignalKind::*;

fn point(step: u64, val: f64, train: f64, train_eval: Option<f64>) -> EvalPoint {
    EvalPoint {
        step,
        val_loss: val,
        train_loss: train,
        train_eval_loss: train_eval,
        lr: None,
    }
}

/// Feeds (val, train) pairs as evaluations 100 steps apart; returns each state's kind.
fn states(config: DetectorConfig, curve: &[(f64, f64)]) -> Vec<SignalKind> {
    let mut d = Detector::new(config, Baselines::default());
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
    let config = DetectorConfig {
        max_gap: Some(0.5),
        ..DetectorConfig::default()
    };
    let mut d = Detector::new(config, Baselines::default());
    let p = |step, val, train_eval: f64| point(step, val, train_eval + 0.1, Some(train_eval));
    d.on_eval(p(100, 5.0, 4.9), &[]);
    assert_eq!(d.on_eval(p(200, 4.6, 4.3), &[]).state.kind, Healthy);
    let v = d.on_eval(p(300, 4.5, 3.9), &[]);
    assert_eq!(v.state.kind, Overfitting, "{v:?}");
    assert!(v.state.evidence.contains("gap 0.6"), "{}", v.state.evidence);
}

#[test]
fn val_below_eval_mode_train_is_a_suspected_leak() {
    let mut d = Detector::new(DetectorConfig::default(), Baselines::default());
    let v = d.on_eval(point(100, 3.0, 3.5, Some(3.4)), &[]);
    assert!(v.has(LeakSuspected), "{v:?}");
    assert_eq!(
        v.state.kind, WarmingUp,
        "a leak is an alarm beside the state"
    );
    // Below the dropout-on train loss but above the eval-mode one is normal.
    let mut d = Detector::new(DetectorConfig::default(), Baselines::default());
    let v = d.on_eval(point(100, 3.45, 3.6, Some(3.4)), &[]);
    assert!(!v.has(LeakSuspected), "{v:?}");
}

#[test]
fn a_sudden_val_drop_without_a_train_drop_is_a_suspected_leak() {
    let mut d = Detector::new(DetectorConfig::default(), Baselines::default());
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
    let mut d = Detector::new(DetectorConfig::default(), Baselines::default());
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
    let mut d = Detector::new(DetectorConfig::default(), Baselines::default());
    let v = d.on_eval(point(10, f64::INFINITY, 3.0, None), &[]);
    assert_eq!(v.state.kind, NonFinite);
    assert!(v.alarms.is_empty());
}

#[test]
fn repetitive_samples_raise_an_alarm_when_half_of_them_loop() {
    let looped = Sample::new("a".into(), "x y x y".into(), &[1, 2, 1, 2, 1, 2, 1, 2]);
    let varied = Sample::new("a".into(), "words".into(), &[1, 2, 3, 4, 5, 6, 7, 8]);
    let mut d = Detector::new(DetectorConfig::default(), Baselines::default());
    let v = d.on_eval(point(10, 5.0, 5.0, None), &[looped.clone(), varied.clone()]);
    assert!(v.has(DegenerateSamples), "{v:?}");
    let v = d.on_eval(point(20, 4.9, 4.9, None), &[looped, varied.clone(), varied]);
    assert!(!v.has(DegenerateSamples), "{v:?}");
}

/// Baselines of a 10,000-word vocabulary: uniform 9.2103, unigram 6.53, step-0 9.25.
fn ptb_levels() -> Baselines {
    Baselines {
        uniform: Some(10_000f64.ln()),
        unigram: Some(6.53),
        initial: Some(9.25),
    }
}

/// The states of evaluations (val, mean train loss) 100 steps apart against `levels`.
fn judged(levels: Baselines, curve: &[(f64, f64)]) -> Vec<Verdict> {
    let mut d = Detector::new(DetectorConfig::default(), levels);
    curve
        .iter()
        .enumerate()
        .map(|(i, &(val, train))| d.on_eval(point(100 * (i as u64 + 1), val, train, None), &[]))
        .collect()
}

#[test]
fn a_loss_above_the_uniform_guess_is_diverged_from_the_first_evaluation() {
    // The `hot` run: falling, so every trend rule would call it healthy.
    let v = judged(ptb_levels(), &[(43.5, 60.0), (27.4, 30.0), (27.3, 29.0)]);
    assert!(v.iter().all(|v| v.state.kind == Diverged), "{v:?}");
    let evidence = &v[0].state.evidence;
    assert!(evidence.contains("ln V = ln 10000 = 9.2103"), "{evidence}");
    assert!(
        evidence.contains("val loss 43.5000 nats is 34.29 above"),
        "{evidence}"
    );
}

#[test]
fn a_diverged_run_raises_no_curve_based_leak_alarm() {
    // The `hot` run without early stopping: at 26 nats, validation 0.104 below the eval-mode
    // train slice is noise, not a leak; the same gap in a sane run is one.
    let mut d = Detector::new(DetectorConfig::default(), ptb_levels());
    let hot = d.on_eval(point(300, 26.4361, 26.7, Some(26.5403)), &[]);
    assert_eq!(hot.state.kind, Diverged);
    assert!(hot.alarms.is_empty(), "{:?}", hot.alarms);
    let mut d = Detector::new(DetectorConfig::default(), ptb_levels());
    let sane = d.on_eval(point(300, 5.2, 5.5, Some(5.35)), &[]);
    assert!(
        sane.alarms.iter().any(|a| a.kind == LeakSuspected),
        "{sane:?}"
    );
}

/// nanoGPT evaluates before its first update: a fresh model a little above ln V is at its
/// starting level, not diverged; the same loss after training steps is.
#[test]
fn an_evaluation_at_step_0_is_not_judged_against_the_levels() {
    let levels = ptb_levels();
    let above = levels.uniform.unwrap() + 0.3;
    let mut d = Detector::new(DetectorConfig::default(), levels);
    let v = d.on_eval(point(0, above, above, None), &[]);
    assert_eq!(v.state.kind, WarmingUp, "{v:?}");
    let v = d.on_eval(point(100, above, above, None), &[]);
    assert_eq!(v.state.kind, Diverged, "{v:?}");
}

#[test]
fn diverged_needs_more_than_the_margin_above_a_level() {
    let m = DetectorConfig::default().diverge_margin;
    let levels = ptb_levels();
    let (uniform, initial) = (levels.uniform.unwrap(), levels.initial.unwrap());
    // Val just within the margin of the lower level (uniform, here): not diverged.
    let within = judged(levels, &[(uniform + m - 1e-9, 7.0)]);
    assert_eq!(within[0].state.kind, WarmingUp);
    let past = judged(levels, &[(uniform + m + 1e-9, 7.0)]);
    assert_eq!(past[0].state.kind, Diverged);
    assert!(past[0].state.evidence.contains("above a uniform guess"));
    // The step-0 loss counts the same way when it is the lower level.
    let low_start = Baselines {
        initial: Some(uniform - 1.0),
        ..levels
    };
    let past = judged(low_start, &[(uniform - 1.0 + m + 1e-9, 7.0)]);
    assert!(
        past[0].state.evidence.contains("before training"),
        "{past:?}"
    );
    // A mean training loss past the higher level is enough, whatever val says.
    let train = judged(levels, &[(7.0, initial + m + 1e-9)]);
    assert_eq!(train[0].state.kind, Diverged);
    assert!(train[0].state.evidence.contains("mean training loss"));
    // Without baselines (a foreign log) there is nothing to diverge from.
    let unknown = judged(Baselines::default(), &[(43.5, 60.0)]);
    assert_eq!(unknown[0].state.kind, WarmingUp);
}

#[test]
fn a_run_too_slow_to_reach_the_unigram_baseline_stalls_and_a_fast_one_does_not() {
    let unigram = ptb_levels().unigram.unwrap();
    // 0.2 nats above unigram at the third evaluation: a fall of 0.07 a time would close it
    // in three more evaluations, one of 0.06 would not.
    let fast = [(8.0, 8.1), (unigram + 0.27, 7.0), (unigram + 0.2, 6.9)];
    assert_eq!(judged(ptb_levels(), &fast)[2].state.kind, Healthy);
    let slow = [(8.0, 8.1), (unigram + 0.26, 7.0), (unigram + 0.2, 6.9)];
    let v = judged(ptb_levels(), &slow);
    assert_eq!(v[2].state.kind, Stalled, "{v:?}");
    assert!(
        v[2].state
            .evidence
            .contains("still 0.20 nats above the unigram"),
        "{v:?}"
    );
}

#[test]
fn a_run_stuck_above_the_unigram_baseline_stalls_from_stall_evals_on() {
    let unigram = ptb_levels().unigram.unwrap();
    // Improving, slowly: still healthy at the third evaluation, with the level named; stuck
    // at the unigram level from the fourth on: stalled.
    let stuck = [
        (8.0, 8.1),
        (7.0, 7.1),
        (unigram, 6.6),
        (unigram, 6.55),
        (6.6, 6.5),
    ];
    let verdicts = judged(ptb_levels(), &stuck);
    let kinds: Vec<SignalKind> = verdicts.iter().map(|v| v.state.kind).collect();
    assert_eq!(kinds, vec![WarmingUp, Healthy, Healthy, Stalled, Stalled]);
    assert!(
        verdicts[2]
            .state
            .evidence
            .contains("still not below the unigram baseline")
    );
    // Not improving from the start: stalled exactly at stall_evals.
    let flat = [(7.0, 7.1), (7.0, 7.0), (7.0, 7.0)];
    let kinds: Vec<SignalKind> = judged(ptb_levels(), &flat)
        .iter()
        .map(|v| v.state.kind)
        .collect();
    assert_eq!(kinds, vec![WarmingUp, Healthy, Stalled]);
    // One evaluation below the unigram loss is enough never to be stalled.
    let learns = [(8.0, 8.1), (unigram - 1e-9, 6.6), (6.6, 6.5), (6.7, 6.4)];
    let kinds: Vec<SignalKind> = judged(ptb_levels(), &learns)
        .iter()
        .map(|v| v.state.kind)
        .collect();
    assert!(!kinds.contains(&Stalled), "{kinds:?}");
}

#[test]
fn spikes_are_judged_against_the_median_so_a_bouncing_run_is_unstable() {
    // A run bouncing between 20 and 80 nats: a mean and standard deviation would absorb the
    // spikes into their own threshold; the median (20 here) does not.
    let mut d = Detector::new(DetectorConfig::default(), Baselines::default());
    let fired: Vec<u64> = (1..=100u64)
        .filter_map(|step| {
            let loss = if step % 10 == 0 {
                80.0
            } else {
                20.0 + 0.01 * (step % 3) as f64
            };
            d.on_train_step(step, loss).map(|s| s.step)
        })
        .collect();
    assert_eq!(fired, vec![30, 40, 50, 60, 70, 80, 90, 100], "{fired:?}");
}

#[test]
fn a_jump_to_one_and_a_half_times_the_median_is_unstable_and_below_it_is_not() {
    let run = |jump: f64| {
        let mut d = Detector::new(DetectorConfig::default(), Baselines::default());
        // Wide noise (±1 nat around 4), so only the ratio rule can fire.
        for step in 1..=40u64 {
            let noise = [-1.0, 0.0, 1.0][(step % 3) as usize];
            assert!(d.on_train_step(step, 4.0 + noise).is_none());
        }
        d.on_train_step(41, jump).map(|s| s.evidence)
    };
    let evidence = run(6.0).expect("1.5 × the median of 4.0");
    assert!(evidence.contains("1.50× the median"), "{evidence}");
    assert!(run(5.99).is_none());
}

#[test]
fn thresholds_out_of_range_are_refused_with_their_key() {
    let bad = [
        DetectorConfig {
            spike_z: -1.0,
            ..DetectorConfig::default()
        },
        DetectorConfig {
            leak_margin: f64::NAN,
            ..DetectorConfig::default()
        },
        DetectorConfig {
            max_gap: Some(f64::INFINITY),
            ..DetectorConfig::default()
        },
        DetectorConfig {
            spike_ratio: 0.5,
            ..DetectorConfig::default()
        },
        DetectorConfig {
            diverge_margin: -0.1,
            ..DetectorConfig::default()
        },
    ];
    for (config, key) in bad.iter().zip([
        "spike_z",
        "leak_margin",
        "max_gap",
        "spike_ratio",
        "diverge_margin",
    ]) {
        let err = config.validate().unwrap_err();
        assert_eq!(err.key, format!("monitor.detectors.{key}"), "{err}");
    }
    assert!(DetectorConfig::default().validate().is_ok());
}

#[test]
fn overfitting_is_named_before_stalled_when_both_apply() {
    // Never below the unigram level (6.53), and rising twice while train falls.
    let curve = [(7.0, 7.5), (6.9, 6.5), (7.0, 6.0), (7.2, 5.5)];
    let kinds: Vec<SignalKind> = judged(ptb_levels(), &curve)
        .iter()
        .map(|v| v.state.kind)
        .collect();
    assert_eq!(kinds, vec![WarmingUp, Healthy, Stalled, Overfitting]);
}

#[test]
fn a_new_best_within_the_minimum_delta_is_named_as_one_and_counts_towards_patience() {
    // The end of a ptb-best run: 4.6295 → 4.6281, 0.0014 nats, under the default 0.1%.
    let curve = [(5.0, 5.1), (4.8, 4.9), (4.6295, 4.2), (4.6281, 4.1)];
    let verdicts = judged(Baselines::default(), &curve);
    let last = &verdicts[3].state;
    assert_eq!(last.kind, Healthy);
    assert!(
        last.evidence.contains("is a new best by 0.0014 nats")
            && last.evidence.contains("1 evaluation(s) without one"),
        "{}",
        last.evidence
    );
    // An evaluation above the best still names the best it trails.
    let verdicts = judged(
        Baselines::default(),
        &[(5.0, 5.1), (4.8, 4.9), (4.7, 4.2), (4.71, 4.1)],
    );
    assert!(verdicts[3].state.evidence.contains("since the best 4.7000"));
}
