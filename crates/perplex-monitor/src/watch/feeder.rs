//! Feeds a foreign log's rows to the [`Monitor`] and keeps what a summary needs: the
//! learning rate last logged (attached to the next evaluation), the first non-finite loss,
//! the last state named. Pure numbers in, decisions out.

use crate::baselines::Baselines;
use crate::monitor::{Judgement, Monitor, Observation};
use crate::signal::{Signal, SignalKind};

use super::Row;

/// How far above the uniform or step-0 level a last training loss must be to be diverged,
/// nats (the detectors' default `diverge_margin`).
const DIVERGE_MARGIN: f64 = 0.1;

/// What the monitor said about one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Said {
    /// A training row raised a signal: `non_finite`, or `unstable` for a spike that has not
    /// come back at the next logged step.
    Step(Signal),
    /// A training loss spiked: a one-step blip if the next step is back to normal (then it
    /// is only counted), the start of trouble if not.
    Spike(Signal),
    /// An evaluation row was judged.
    Eval {
        /// The row's step.
        step: u64,
        /// The judgement.
        judgement: Judgement,
    },
    /// Which level the first loss is judged against, said once.
    Levels(String),
}

/// How a watched run ended, for its summary and `watch`'s exit status.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEnd {
    /// No loss was read at all.
    NothingRead,
    /// Training losses but no evaluation: nothing to judge a trend by.
    NoEvaluation {
        /// Training losses read.
        train_rows: usize,
    },
    /// Training losses only, the last of them far above the uniform guess or the untrained
    /// model's loss: the run blew up and did not come back.
    Diverged {
        /// The step of the last training loss.
        step: u64,
        /// That loss, nats.
        loss: f64,
        /// The level it is above, nats (the higher of uniform and step-0).
        level: f64,
    },
    /// A loss was NaN or infinite: the run is broken from there on, whatever came after.
    NonFinite {
        /// The step of the first non-finite loss.
        step: u64,
        /// `training` or `validation`.
        which: &'static str,
    },
    /// The last evaluation was judged.
    Judged {
        /// The run's health, 0–100.
        health: f64,
        /// The state of the last evaluation.
        last: SignalKind,
    },
}

/// Feeds rows to a monitor.
#[derive(Debug, Clone)]
pub struct Feeder {
    monitor: Monitor,
    lr: Option<f64>,
    non_finite: Option<(u64, &'static str)>,
    train_rows: usize,
    last_train: Option<(u64, f64)>,
    last: Option<SignalKind>,
    fresh: bool,
}

impl Feeder {
    /// A feeder for `monitor` (its baselines are the levels known before the log is read).
    pub fn new(monitor: Monitor) -> Self {
        Self {
            monitor,
            lr: None,
            non_finite: None,
            train_rows: 0,
            last_train: None,
            last: None,
            fresh: true,
        }
    }

    /// Sets the run's last step, which each evaluation's forecast is made for.
    pub fn set_horizon(&mut self, max_steps: Option<u64>) {
        self.monitor.set_horizon(max_steps);
    }

    /// The monitor, as fed so far.
    pub fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    /// Feeds one row (in nats); returns what the monitor said (often nothing). A perplex
    /// baseline record sets the levels. The first loss stands for the untrained model only
    /// when it was logged at step 0: a log that starts later has already learned.
    pub fn feed(&mut self, row: Row) -> Vec<Said> {
        if let Row::Baselines(b) = row {
            self.monitor.set_baselines(b);
            self.fresh = false;
            return Vec::new();
        }
        let levels = self.first_levels(&row);
        let said = match row {
            Row::Baselines(_) => None,
            Row::Lr { lr, .. } => {
                self.lr = Some(lr);
                None
            }
            Row::Train { step, loss } => {
                self.train_rows += 1;
                self.last_train = Some((step, loss));
                self.note_non_finite(step, loss, "training");
                let signal = self.monitor.on_step(step, loss, 1);
                self.judge_spike(signal)
            }
            Row::Eval {
                step,
                val,
                train_eval,
                lr,
            } => {
                self.note_non_finite(step, val, "validation");
                let judgement = self.monitor.on_eval(Observation {
                    step,
                    val_loss: val,
                    train_eval_loss: train_eval,
                    lr: lr.or(self.lr),
                    samples: &[],
                });
                self.last = Some(judgement.verdict.state.kind);
                Some(Said::Eval { step, judgement })
            }
        };
        levels.map(Said::Levels).into_iter().chain(said).collect()
    }

    /// How the run ended.
    pub fn end(&self) -> RunEnd {
        if let Some((step, which)) = self.non_finite {
            return RunEnd::NonFinite { step, which };
        }
        match (self.last, self.monitor.run_health()) {
            (Some(last), Some(health)) => RunEnd::Judged { health, last },
            _ if self.train_rows > 0 => self.end_without_evaluation(),
            _ => RunEnd::NothingRead,
        }
    }

    /// The end of a log of training losses only: diverged when its last loss is more than
    /// the detectors' margin above the higher of the uniform and step-0 levels.
    fn end_without_evaluation(&self) -> RunEnd {
        let b = self.monitor.baselines();
        let level = [b.uniform, b.initial]
            .into_iter()
            .flatten()
            .reduce(f64::max);
        match (self.last_train, level) {
            (Some((step, loss)), Some(level)) if loss > level + DIVERGE_MARGIN => {
                RunEnd::Diverged { step, loss, level }
            }
            _ => RunEnd::NoEvaluation {
                train_rows: self.train_rows,
            },
        }
    }

    /// What a training row's signal means: a spike the monitor found still there from the
    /// row before is `unstable` (it did not come back), a first spike only a spike.
    fn judge_spike(&self, signal: Option<Signal>) -> Option<Said> {
        let signal = signal?;
        if signal.kind != SignalKind::Unstable {
            return Some(Said::Step(signal));
        }
        Some(match self.monitor.spike_stayed() {
            Some(at) => Said::Step(Signal::new(
                SignalKind::Unstable,
                signal.step,
                format!(
                    "the spike at step {at} has not come back: {}",
                    signal.evidence
                ),
            )),
            None => Said::Spike(signal),
        })
    }

    fn note_non_finite(&mut self, step: u64, loss: f64, which: &'static str) {
        if !loss.is_finite() && self.non_finite.is_none() {
            self.non_finite = Some((step, which));
        }
    }

    /// At the first loss of a log without perplex's baselines: takes it as the untrained
    /// model's level when it was logged at step 0, and says which levels the run is judged
    /// against.
    fn first_levels(&mut self, row: &Row) -> Option<String> {
        let loss = row.loss()?;
        if !std::mem::take(&mut self.fresh) {
            return None;
        }
        let step = match *row {
            Row::Train { step, .. } | Row::Eval { step, .. } => step,
            _ => return None,
        };
        let known = *self.monitor.baselines();
        let uniform = known.uniform.map_or_else(
            || "no uniform level (give --vocab-size N for ln N)".to_string(),
            |u| format!("the uniform level ln V = {u:.4}"),
        );
        if step == 0 && loss.is_finite() && known.initial.is_none() {
            self.monitor.set_baselines(Baselines {
                initial: Some(loss),
                ..known
            });
            return Some(format!(
                "levels: the loss logged at step 0 ({loss:.4}) as the untrained model's, and \
                 {uniform}"
            ));
        }
        Some(format!(
            "levels: the log starts at step {step}, after training began, so its first loss is \
             not the untrained model's; judged against {uniform}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::DetectorConfig;
    use crate::stopping::EarlyStoppingConfig;

    fn feeder(uniform: Option<f64>) -> Feeder {
        let baselines = Baselines {
            uniform,
            ..Baselines::default()
        };
        Feeder::new(Monitor::new(
            DetectorConfig::default(),
            EarlyStoppingConfig::default(),
            baselines,
        ))
    }

    #[test]
    fn a_log_that_starts_late_is_not_judged_against_its_first_loss() {
        let mut f = feeder(Some(10_000f64.ln()));
        let said = f.feed(Row::eval(10, 5.4));
        assert!(matches!(&said[0], Said::Levels(l) if l.contains("starts at step 10")));
        assert!(matches!(&said[1], Said::Eval { step: 10, .. }));
        assert_eq!(f.monitor().baselines().initial, None);
        let said = f.feed(Row::eval(20, 5.6));
        let [Said::Eval { judgement, .. }] = &said[..] else {
            panic!("{said:?}")
        };
        assert_ne!(judgement.verdict.state.kind, SignalKind::Diverged);
        let mut f = feeder(None);
        f.feed(Row::eval(0, 9.3));
        assert_eq!(f.monitor().baselines().initial, Some(9.3));
    }

    #[test]
    fn a_nan_anywhere_ends_the_run_non_finite_even_after_it_recovers() {
        let mut f = feeder(None);
        f.feed(Row::Train { step: 0, loss: 9.0 });
        f.feed(Row::eval(0, 9.0));
        f.feed(Row::Train {
            step: 110,
            loss: f64::NAN,
        });
        f.feed(Row::eval(200, 4.0));
        assert_eq!(
            f.end(),
            RunEnd::NonFinite {
                step: 110,
                which: "training"
            }
        );
    }

    #[test]
    fn a_spike_is_a_spike_until_the_next_step_says_whether_it_stayed() {
        let mut f = feeder(None);
        let mut said = Vec::new();
        for (step, loss) in (0..30).map(|s| (s, 3.0 + 0.01 * (s % 3) as f64)) {
            said.extend(f.feed(Row::Train { step, loss }));
        }
        let kinds = |rows: &[(u64, f64)], f: &mut Feeder| -> Vec<String> {
            rows.iter()
                .flat_map(|&(step, loss)| f.feed(Row::Train { step, loss }))
                .map(|s| match s {
                    Said::Spike(s) => format!("spike {}", s.step),
                    Said::Step(s) => format!("{} {}", s.kind, s.step),
                    other => format!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(kinds(&[(30, 9.0), (31, 3.0)], &mut f), ["spike 30"]);
        assert_eq!(
            kinds(&[(32, 9.0), (33, 8.0)], &mut f),
            ["spike 32", "unstable 33"]
        );
        assert!(
            said.iter().all(|s| matches!(s, Said::Levels(_))),
            "{said:?}"
        );
    }

    #[test]
    fn the_learning_rate_of_train_lines_reaches_the_next_evaluation() {
        let mut f = feeder(None);
        f.feed(Row::Train { step: 9, loss: 3.0 });
        f.feed(Row::Lr { step: 9, lr: 1e-6 });
        f.feed(Row::eval(10, 3.1));
        let evals = f.monitor().evals_seen();
        assert_eq!(evals.last().and_then(|p| p.lr), Some(1e-6));
        assert_eq!(feeder(None).end(), RunEnd::NothingRead);
        let mut f = feeder(None);
        f.feed(Row::Train { step: 1, loss: 3.0 });
        assert_eq!(f.end(), RunEnd::NoEvaluation { train_rows: 1 });
    }
}
