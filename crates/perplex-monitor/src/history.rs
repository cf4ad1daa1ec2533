//! A run's curves, read back from its metrics records: what `perplex report` draws and
//! summarises.

use crate::baselines::Baselines;
use crate::forecast::{Forecast, Projection};
use crate::health::{EvalHealth, run_health};
use crate::records::MetricRecord;
use crate::signal::SignalKind;

/// One point of a curve: (optimizer step, value).
pub type Point = (u64, f64);

/// The curves and landmarks of one run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    /// Mean training loss (dropout on) of each train record, nats per token.
    pub train_loss: Vec<Point>,
    /// Validation loss of each evaluation, nats per token.
    pub val_loss: Vec<Point>,
    /// Loss of the fixed train slice in eval mode at each evaluation, nats per token.
    pub train_eval_loss: Vec<Point>,
    /// Validation bits per character at each evaluation.
    pub val_bits_per_char: Vec<Point>,
    /// Health score (0–100) at each evaluation.
    pub health: Vec<Point>,
    /// The lowest validation loss: (step, nats per token).
    pub best: Option<Point>,
    /// Where the run's state changed, and to what; plus the first firing of each signal that
    /// is not a state (leak, degenerate samples, unstable).
    pub onsets: Vec<(u64, SignalKind)>,
    /// The levels of the run's baseline record, if it has one.
    pub baselines: Option<Baselines>,
    /// The tokenizer fingerprint of the records (the first one found).
    pub tokenizer_sha256: Option<String>,
    /// The last step recorded.
    pub last_step: u64,
    /// The latest fitted forecast and the step it was made at, unless a later evaluation
    /// withdrew it (see [`crate::forecast::NoForecast::withdraws`]).
    pub forecast: Option<(u64, Projection)>,
    /// Each evaluation's health, for [`run_health`].
    healths: Vec<EvalHealth>,
}

impl History {
    /// Gathers the curves of `records` (in file order).
    pub fn from_records(records: &[MetricRecord]) -> Self {
        let mut h = History::default();
        let mut state = None;
        let mut seen_alarms: Vec<SignalKind> = Vec::new();
        for record in records {
            h.last_step = h.last_step.max(record.step());
            if h.tokenizer_sha256.is_none() {
                h.tokenizer_sha256 = record.tokenizer_sha256().map(str::to_owned);
            }
            let r = match record {
                MetricRecord::Baseline(b) => {
                    h.baselines = Some(b.baselines());
                    continue;
                }
                MetricRecord::Train(r) => {
                    h.train_loss.push((r.step, r.loss));
                    continue;
                }
                MetricRecord::Eval(r) => r,
            };
            h.val_loss.push((r.step, r.loss));
            if r.loss.is_finite() && h.best.is_none_or(|(_, b)| r.loss < b) {
                h.best = Some((r.step, r.loss));
            }
            let g = &r.reading;
            h.train_eval_loss.push((r.step, g.train_eval_loss));
            h.val_bits_per_char.push((r.step, g.bits_per_char));
            h.health.push((r.step, g.health));
            match &g.forecast {
                Some(Forecast::Fitted(p)) => h.forecast = Some((r.step, (**p).clone())),
                // A later evaluation that found the curve rising or the fit poor withdraws
                // the forecast; one that was merely early, or at the last step, does not.
                Some(Forecast::Unavailable { reason }) if reason.withdraws() => h.forecast = None,
                _ => {}
            }
            h.healths.push(EvalHealth {
                score: g.health,
                warming_up: g.verdict.is_warming_up(),
            });
            if state != Some(g.verdict.state.kind) {
                state = Some(g.verdict.state.kind);
                h.onsets.push((r.step, g.verdict.state.kind));
            }
            for alarm in &g.verdict.alarms {
                if !seen_alarms.contains(&alarm.kind) {
                    seen_alarms.push(alarm.kind);
                    h.onsets.push((r.step, alarm.kind));
                }
            }
        }
        h
    }

    /// The run's health, by the same rule as training's `summary.json`
    /// ([`run_health`]: the mean over evaluations after warm-up).
    pub fn run_health(&self) -> Option<f64> {
        run_health(&self.healths)
    }
}

/// Whether per-token losses and perplexities of `histories` may be drawn on one axis: only
/// when every run used the same tokenizer (runs without a recorded fingerprint count as
/// different, since nothing says they agree).
pub fn same_tokenizer(histories: &[&History]) -> bool {
    let first = histories.first().and_then(|h| h.tokenizer_sha256.as_ref());
    first.is_some()
        && histories
            .iter()
            .all(|h| h.tokenizer_sha256.as_ref() == first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::tests::{baseline, eval, train};

    #[test]
    fn onsets_mark_state_changes_and_first_alarms_only() {
        use SignalKind::*;
        let records = [
            baseline(),
            train(5, 7.0),
            eval(10, 6.0, &[WarmingUp]),
            eval(20, 5.0, &[Healthy]),
            eval(30, 4.5, &[Healthy, DegenerateSamples]),
            eval(40, 4.6, &[Plateau, DegenerateSamples]),
            eval(50, 4.8, &[Overfitting]),
        ];
        let h = History::from_records(&records);
        assert_eq!(
            h.onsets,
            vec![
                (10, WarmingUp),
                (20, Healthy),
                (30, DegenerateSamples),
                (40, Plateau),
                (50, Overfitting)
            ]
        );
        assert_eq!(h.best, Some((30, 4.5)));
        assert_eq!(h.last_step, 50);
        assert_eq!(h.run_health(), Some(80.0));
        assert_eq!((h.val_loss[0], h.train_loss[0]), ((10, 6.0), (5, 7.0)));
        assert_eq!(h.baselines.and_then(|b| b.unigram), Some(6.5));
    }

    #[test]
    fn a_forecast_is_kept_to_the_last_step_and_withdrawn_by_a_rise() {
        use crate::forecast::{Schedule, forecast};
        let curve: Vec<(u64, f64)> = (1..=6).map(|i| (100 * i, 6.0 - 0.1 * i as f64)).collect();
        let with = |step, f: Forecast| {
            let mut record = eval(step, 5.0, &[SignalKind::Healthy]);
            if let MetricRecord::Eval(e) = &mut record {
                e.reading.forecast = Some(f);
            }
            record
        };
        let fitted = forecast(&curve, SignalKind::Healthy, Some(1000), None, Schedule::Own);
        assert!(fitted.projection().is_some());
        let at_end = forecast(&curve, SignalKind::Healthy, Some(600), None, Schedule::Own);
        let rising = forecast(
            &curve,
            SignalKind::Diverging,
            Some(1000),
            None,
            Schedule::Own,
        );
        let kept = History::from_records(&[with(500, fitted.clone()), with(600, at_end)]);
        assert_eq!(kept.forecast.map(|(step, _)| step), Some(500));
        let withdrawn = History::from_records(&[with(500, fitted), with(600, rising)]);
        assert_eq!(withdrawn.forecast, None);
    }

    #[test]
    fn perplexity_is_overlaid_only_across_one_tokenizer() {
        let a = History::from_records(&[eval(10, 5.0, &[SignalKind::WarmingUp])]);
        let mut b = a.clone();
        assert!(same_tokenizer(&[&a, &b]));
        b.tokenizer_sha256 = Some("other".into());
        assert!(!same_tokenizer(&[&a, &b]));
        b.tokenizer_sha256 = None;
        assert!(!same_tokenizer(&[&b]));
    }
}
