//! How another trainer's log is judged, through the same `Feeder` that `perplex watch` uses:
//! a recovery from a blow-up is no leak, advice speaks the field's words, a log that starts
//! late is not judged against its first loss.

use perplex_monitor::watch::{Feeder, Row, Said};
use perplex_monitor::{Baselines, DetectorConfig, EarlyStoppingConfig, Monitor, SignalKind};

fn feeder(uniform: Option<f64>) -> Feeder {
    let mut m = Monitor::new(
        DetectorConfig::default(),
        EarlyStoppingConfig::default(),
        Baselines {
            uniform,
            ..Baselines::default()
        },
    );
    m.set_foreign(true);
    Feeder::new(m)
}

/// Feeds `(step, train, val)` and returns every evaluation's state, alarms and evidence.
fn judge(f: &mut Feeder, curve: &[(u64, f64, f64)]) -> Vec<(SignalKind, Vec<SignalKind>, String)> {
    let mut out = Vec::new();
    for &(step, train, val) in curve {
        f.feed(Row::Train { step, loss: train });
        f.feed(Row::Lr { step, lr: 3e-4 });
        for said in f.feed(Row::eval(step, val)) {
            if let Said::Eval { judgement, .. } = said {
                let v = judgement.verdict;
                let alarms = v.alarms.iter().map(|a| a.kind).collect();
                out.push((v.state.kind, alarms, v.state.evidence));
            }
        }
    }
    out
}

#[test]
fn the_fall_back_after_a_blow_up_is_a_recovery_not_a_leak() {
    let curve = [
        (100, 6.0, 6.1),
        (200, 5.0, 5.2),
        (300, 4.6, 4.8),
        (400, 4.4, 4.6),
        // The blow-up comes late in the window: its train mean is up less than its val.
        (500, 6.0, 9.0),
        (600, 5.0, 4.7),
    ];
    let judged = judge(&mut feeder(Some(10_000f64.ln())), &curve);
    for (state, alarms, _) in &judged {
        assert!(!alarms.contains(&SignalKind::LeakSuspected), "{judged:?}");
        assert_ne!(*state, SignalKind::LeakSuspected);
    }
}

#[test]
fn advice_for_a_foreign_log_names_no_perplex_key() {
    // A warm-up that overshoots: validation and train climb back together.
    let curve: Vec<(u64, f64, f64)> = (1..=12)
        .map(|i| {
            let v = if i <= 5 {
                6.0 - 0.2 * i as f64
            } else {
                5.0 + 0.15 * (i - 5) as f64
            };
            (100 * i, v - 0.05, v)
        })
        .collect();
    let judged = judge(&mut feeder(Some(10_000f64.ln())), &curve);
    let diverging: Vec<&String> = judged
        .iter()
        .filter(|j| j.0 == SignalKind::Diverging)
        .map(|j| &j.2)
        .collect();
    assert!(!diverging.is_empty(), "{judged:?}");
    for evidence in diverging {
        assert!(!evidence.contains("train.lr"), "{evidence}");
        assert!(evidence.contains("learning rate"), "{evidence}");
        assert!(evidence.contains("constant at 3.000e-4"), "{evidence}");
    }
}

#[test]
fn a_resumed_run_climbing_three_evaluations_with_its_train_loss_is_diverging() {
    // 0Xero7/slm_training's resumed Lightning run, its four evaluations and train losses.
    let curve = [
        (154_813, 3.70, 3.5629),
        (168_887, 3.74, 3.5660),
        (182_961, 3.80, 3.5701),
        (197_035, 3.91, 3.6042),
    ];
    let judged = judge(&mut feeder(Some(50_257f64.ln())), &curve);
    assert_eq!(
        judged.last().unwrap().0,
        SignalKind::Diverging,
        "{judged:?}"
    );
    assert!(
        judged.iter().all(|j| j.0 != SignalKind::Plateau),
        "{judged:?}"
    );
}
