//! A healthy run evaluated on a few batches is noisy: its validation loss scatters by a tenth
//! of a nat around a falling curve. Read as another trainer's log, such a run must carry
//! `diverging` or `overfitting` at no more than 2% of its evaluations, while a run that
//! really memorises (validation doubling as the training loss goes to zero) is called
//! `overfitting` to the end, its health falling as the distance grows.

use perplex_monitor::watch::{Feeder, Row, Said};
use perplex_monitor::{Baselines, DetectorConfig, EarlyStoppingConfig, Monitor, SignalKind};

/// A seeded normal deviate source (xorshift and Box–Muller): the same numbers every run.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

fn foreign(vocab: f64) -> Feeder {
    let mut m = Monitor::new(
        DetectorConfig::default(),
        EarlyStoppingConfig::default(),
        Baselines {
            uniform: Some(vocab.ln()),
            ..Baselines::default()
        },
    );
    m.set_foreign(true);
    Feeder::new(m)
}

/// The states of a character-level run (ln 65 = 4.17 at the start) evaluated every 10 steps
/// for 800 evaluations, its validation loss scattered by `sigma` nats and its batch-2 train
/// losses by `3 sigma`.
fn noisy_run(seed: u64, sigma: f64) -> Vec<SignalKind> {
    let (mut noise, mut f) = (Noise(seed), foreign(65.0));
    let mut states = Vec::new();
    for e in 0..800u64 {
        let step = 10 * e;
        let level = 1.45 + 2.7 * (-(step as f64) / 600.0).exp();
        for s in 1..10 {
            let loss = level + 3.0 * sigma * noise.normal();
            f.feed(Row::Train {
                step: step + s,
                loss,
            });
        }
        let val = level + 0.05 + sigma * noise.normal();
        let train = level + sigma * noise.normal();
        for said in f.feed(Row::Eval {
            step,
            val,
            train_eval: Some(train),
            lr: None,
        }) {
            if let Said::Eval { judgement, .. } = said {
                states.push(judgement.verdict.state.kind);
            }
        }
    }
    states
}

#[test]
fn a_noisy_healthy_run_is_rarely_called_diverging_or_overfitting() {
    for (seed, sigma) in [(1, 0.05), (2, 0.12), (3, 0.2)] {
        let states = noisy_run(seed, sigma);
        let alarms = states
            .iter()
            .filter(|k| matches!(k, SignalKind::Diverging | SignalKind::Overfitting))
            .count();
        assert_eq!(states.len(), 800);
        assert!(
            alarms * 50 <= states.len(),
            "sigma {sigma}: {alarms} of 800 evaluations diverging or overfitting"
        );
        let diverged = states
            .iter()
            .filter(|k| **k == SignalKind::Diverged)
            .count();
        assert!(diverged <= 2, "sigma {sigma}: {diverged} diverged");
    }
}

#[test]
fn validation_doubling_while_train_falls_stays_overfitting_with_falling_health() {
    let (mut noise, mut f) = (Noise(7), foreign(32_000.0));
    let mut judged = Vec::new();
    for e in 1..=40u64 {
        let step = 50 * e;
        let t = step as f64;
        let train = (2.0 * (-t / 300.0).exp()).max(0.05);
        let val = if step < 600 {
            1.2 + 0.8 * (-t / 200.0).exp()
        } else {
            1.3 + (t - 600.0) / 1400.0 * 1.5
        } + 0.01 * noise.normal();
        f.feed(Row::Train { step, loss: train });
        for said in f.feed(Row::eval(step, val)) {
            if let Said::Eval { judgement, .. } = said {
                judged.push((step, judgement.verdict.state.kind, judgement.health));
            }
        }
    }
    let late: Vec<&(u64, SignalKind, f64)> = judged.iter().filter(|j| j.0 >= 800).collect();
    assert!(
        late.iter().all(|j| j.1 == SignalKind::Overfitting),
        "{judged:?}"
    );
    assert!(late.windows(2).all(|w| w[1].2 <= w[0].2), "{late:?}");
    assert!(late.last().unwrap().2 < late[0].2 - 20.0, "{late:?}");
}
