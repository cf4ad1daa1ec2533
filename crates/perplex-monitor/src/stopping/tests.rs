use super::*;
use crate::signal::Signal;

fn run(config: EarlyStoppingConfig, values: &[f64]) -> Option<(usize, StopReason)> {
    let mut es = EarlyStopping::new(config);
    values.iter().enumerate().find_map(|(i, &v)| {
        let best = es.watched_best(values[..i].iter().copied());
        es.on_eval(
            100 * (i as u64 + 1),
            v,
            best,
            &healthy(100 * (i as u64 + 1)),
        )
        .map(|d| (i, d.reason))
    })
}

fn healthy(step: u64) -> Verdict {
    Verdict {
        state: Signal::new(SignalKind::Healthy, step, ""),
        alarms: Vec::new(),
    }
}

fn with(f: impl FnOnce(&mut EarlyStoppingConfig)) -> EarlyStoppingConfig {
    let mut c = EarlyStoppingConfig::default();
    f(&mut c);
    c
}

#[test]
fn patience_counts_evaluations_without_improvement() {
    let values = [5.0, 4.0, 4.1, 4.2, 4.05, 3.9];
    assert_eq!(
        run(with(|c| c.patience = Some(3)), &values),
        Some((4, StopReason::Patience))
    );
    assert_eq!(run(with(|c| c.patience = Some(4)), &values), None);
    assert_eq!(
        run(EarlyStoppingConfig::default(), &values),
        None,
        "no patience by default"
    );
}

#[test]
fn min_delta_absolute_and_relative_decide_what_counts_as_better() {
    let values = [5.0, 4.99, 4.98, 4.97];
    let abs = with(|c| {
        c.patience = Some(2);
        c.min_delta = 0.05;
    });
    assert_eq!(run(abs, &values), Some((2, StopReason::Patience)));
    let rel = with(|c| {
        c.patience = Some(2);
        c.min_delta_rel = 0.01; // 1% of 5.0 = 0.05
    });
    assert_eq!(run(rel, &values), Some((2, StopReason::Patience)));
    let none = with(|c| c.patience = Some(2));
    assert_eq!(
        run(none, &values),
        None,
        "every 0.01 counts without a delta"
    );
}

#[test]
fn thresholds_stop_at_once_in_either_mode() {
    let falling = [6.0, 5.0, 4.0, 3.0];
    let target = with(|c| c.stopping_threshold = Some(4.0));
    assert_eq!(
        run(target, &falling),
        Some((2, StopReason::StoppingThreshold))
    );
    let limit = with(|c| c.divergence_threshold = Some(5.5));
    assert_eq!(
        run(limit, &falling),
        Some((0, StopReason::DivergenceThreshold))
    );
    let max_mode = with(|c| {
        c.mode = Mode::Max;
        c.stopping_threshold = Some(0.9);
    });
    assert_eq!(
        run(max_mode, &[0.5, 0.8, 0.95]),
        Some((2, StopReason::StoppingThreshold))
    );
}

#[test]
fn non_finite_stops_unless_disabled_and_start_from_ignores_early_evals() {
    let values = [5.0, f64::NAN, 4.0];
    assert_eq!(
        run(EarlyStoppingConfig::default(), &values),
        Some((1, StopReason::NonFinite))
    );
    assert_eq!(run(with(|c| c.check_finite = false), &values), None);
    let late = with(|c| {
        c.start_from = 2;
        c.divergence_threshold = Some(5.5);
    });
    assert_eq!(
        run(late, &[9.0, 9.0, 5.0, 6.0]),
        Some((3, StopReason::DivergenceThreshold))
    );
}

#[test]
fn the_overfitting_signal_stops_unless_disabled() {
    let overfit = Verdict {
        state: Signal::new(SignalKind::Overfitting, 300, "val rose"),
        alarms: Vec::new(),
    };
    let mut es = EarlyStopping::new(EarlyStoppingConfig::default());
    let decision = es.on_eval(300, 4.0, None, &overfit).unwrap();
    assert_eq!(decision.to_string(), "overfitting: val rose");
    let mut es = EarlyStopping::new(with(|c| c.stop_on_overfitting = false));
    assert!(es.on_eval(300, 4.0, None, &overfit).is_none());
}

/// Turns one stop off in a config.
type Disable = fn(&mut EarlyStoppingConfig);

#[test]
fn each_stopping_state_stops_at_once_by_default_unless_disabled() {
    let cases: [(SignalKind, StopReason, Disable); 2] = [
        (SignalKind::Diverged, StopReason::Diverged, |c| {
            c.stop_on_divergence = false
        }),
        (SignalKind::Diverging, StopReason::Diverging, |c| {
            c.stop_on_diverging = false
        }),
    ];
    for (kind, cause, disable) in cases {
        let verdict = Verdict {
            state: Signal::new(kind, 600, "the evidence"),
            alarms: Vec::new(),
        };
        let mut es = EarlyStopping::new(EarlyStoppingConfig::default());
        let decision = es.on_eval(600, 6.7, None, &verdict).unwrap();
        assert_eq!((decision.reason, decision.step), (cause, 600), "{kind}");
        let mut es = EarlyStopping::new(with(disable));
        assert!(es.on_eval(600, 6.7, None, &verdict).is_none(), "{kind}");
    }
}

#[test]
fn settings_out_of_range_are_refused_with_their_key() {
    let err = with(|c| c.min_delta = -1.0).validate().unwrap_err();
    assert_eq!(err.key, "early_stopping.min_delta", "{err}");
    let err = with(|c| c.patience = Some(0)).validate().unwrap_err();
    assert_eq!(
        err.to_string(),
        "early_stopping.patience = 0 must be at least 1 when set"
    );
    assert!(EarlyStoppingConfig::default().validate().is_ok());
}
