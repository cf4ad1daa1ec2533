//! The records of a run: one per training-loss log and one per evaluation, as written to
//! `metrics.jsonl` (one JSON object per line, `kind` first), `metrics.csv` and TensorBoard.
//!
//! Types only: writing and reading files is [`crate::sinks`]'s job.

use serde::{Deserialize, Serialize};

use crate::baselines::Baselines;
use crate::forecast::Forecast;
use crate::samples::Sample;
use crate::signal::Verdict;

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MetricRecord {
    /// The levels the run's losses are judged against, measured once before training.
    Baseline(BaselineRecord),
    /// The mean training loss since the previous train record (dropout on).
    Train(TrainRecord),
    /// A full validation pass in eval mode, with the monitor's reading of it.
    Eval(EvalRecord),
}

/// The baselines of a run, measured before its first step: a uniform guess, a unigram model
/// of the train stream, and the model itself (see [`crate::baselines`]). Nats per token over
/// the `eval_tokens` tokens the validation pass predicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineRecord {
    /// Optimizer steps completed when measured (0).
    pub step: u64,
    /// Token types of the run's tokenizer.
    pub vocab_size: usize,
    /// `ln V`, nats per token.
    pub uniform: f64,
    /// The unigram model's loss (add-one counts of `train_tokens` tokens), nats per token.
    pub unigram: f64,
    /// The model's validation loss before its first update, nats per token.
    pub initial: f64,
    /// Tokens of the train stream the unigram counts come from.
    pub train_tokens: u64,
    /// Validation tokens scored.
    pub eval_tokens: u64,
    /// Seconds the step-0 validation pass took.
    pub eval_s: f64,
    /// sha256 of the run's canonical `tokenizer.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_sha256: Option<String>,
}

impl BaselineRecord {
    /// The three levels.
    pub fn baselines(&self) -> Baselines {
        Baselines {
            uniform: Some(self.uniform),
            unigram: Some(self.unigram),
            initial: Some(self.initial),
        }
    }
}

/// A training-loss log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainRecord {
    /// Optimizer steps completed.
    pub step: u64,
    /// Training tokens seen so far (steps × batch × ctx).
    pub tokens_seen: u64,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Mean NLL per token over the steps since the previous train record, nats.
    pub loss: f64,
    /// Perplexity, `exp(loss)`.
    pub ppl: f64,
    /// Training throughput since the previous train record, tokens per second.
    pub tokens_per_s: f64,
    /// Seconds since the run started (across resumes).
    pub wall_s: f64,
    /// sha256 of the run's canonical `tokenizer.json` (absent in the oldest records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_sha256: Option<String>,
}

/// An evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Optimizer steps completed.
    pub step: u64,
    /// Training tokens seen so far.
    pub tokens_seen: u64,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Mean validation NLL per token, nats.
    pub loss: f64,
    /// Validation perplexity, `exp(loss)`.
    pub ppl: f64,
    /// Seconds since the run started (across resumes).
    pub wall_s: f64,
    /// Tokens the validation pass predicted.
    pub eval_tokens: u64,
    /// Seconds the whole evaluation took (validation, train slice, samples).
    pub eval_s: f64,
    /// Whether this evaluation is the best so far, saved as the `best` checkpoint.
    pub best: bool,
    /// sha256 of the run's canonical `tokenizer.json`: losses and perplexities are comparable
    /// only between records with the same fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_sha256: Option<String>,
    /// What the monitor read at this evaluation.
    #[serde(flatten)]
    pub reading: Reading,
}

/// The monitor's reading of one evaluation: the losses it compared, the state and alarms it
/// named, the health it scored, and the samples it checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Validation NLL per token in bits.
    pub bits_per_token: f64,
    /// Validation NLL per character of the evaluated text, in bits (comparable across
    /// tokenizers).
    pub bits_per_char: f64,
    /// Mean training loss (dropout on) of the steps since the previous evaluation, nats.
    pub train_loss: f64,
    /// Loss of the fixed train slice in eval mode, nats.
    pub train_eval_loss: f64,
    /// Generalisation gap: val − eval-mode train loss, nats.
    pub gap: f64,
    /// Health score, 0–100.
    pub health: f64,
    /// The run's state and alarms (written as one list, `signals`, state first).
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Generated samples with their repetition diagnostics.
    pub samples: Vec<Sample>,
    /// Share of validation tokens the model ranked first (top-1 next-token accuracy), 0–1;
    /// absent in records written before it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top1: Option<f64>,
    /// Share of validation tokens among the model's first five guesses, 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top5: Option<f64>,
    /// The validation loss forecast for the run's last step, or why there is none; absent in
    /// records written before forecasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<Forecast>,
}

impl MetricRecord {
    /// Optimizer steps completed when the record was made.
    pub fn step(&self) -> u64 {
        match self {
            MetricRecord::Baseline(r) => r.step,
            MetricRecord::Train(r) => r.step,
            MetricRecord::Eval(r) => r.step,
        }
    }

    /// The record's loss: training loss, validation loss, or the step-0 validation loss of a
    /// baseline record, nats per token.
    pub fn loss(&self) -> f64 {
        match self {
            MetricRecord::Baseline(r) => r.initial,
            MetricRecord::Train(r) => r.loss,
            MetricRecord::Eval(r) => r.loss,
        }
    }

    /// The tokenizer fingerprint the record carries.
    pub fn tokenizer_sha256(&self) -> Option<&str> {
        match self {
            MetricRecord::Baseline(r) => r.tokenizer_sha256.as_deref(),
            MetricRecord::Train(r) => r.tokenizer_sha256.as_deref(),
            MetricRecord::Eval(r) => r.tokenizer_sha256.as_deref(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::signal::{Signal, SignalKind};

    /// The baseline record of a 10,000-word run.
    pub(crate) fn baseline() -> MetricRecord {
        MetricRecord::Baseline(BaselineRecord {
            step: 0,
            vocab_size: 10_000,
            uniform: 10_000f64.ln(),
            unigram: 6.5,
            initial: 9.25,
            train_tokens: 929_589,
            eval_tokens: 73_759,
            eval_s: 3.0,
            tokenizer_sha256: Some("ab12".into()),
        })
    }

    /// A train record at `step` with `loss`.
    pub(crate) fn train(step: u64, loss: f64) -> MetricRecord {
        MetricRecord::Train(TrainRecord {
            step,
            tokens_seen: step * 64,
            lr: 1e-3,
            loss,
            ppl: loss.exp(),
            tokens_per_s: 1234.5,
            wall_s: 1.5,
            tokenizer_sha256: Some("ab12".into()),
        })
    }

    /// An eval record at `step` with `loss` whose signals are `kinds` (the state first).
    pub(crate) fn eval(step: u64, loss: f64, kinds: &[SignalKind]) -> MetricRecord {
        let signal = |kind| Signal::new(kind, step, "");
        MetricRecord::Eval(EvalRecord {
            step,
            tokens_seen: step * 64,
            lr: 1e-3,
            loss,
            ppl: loss.exp(),
            wall_s: 2.0,
            eval_tokens: 99,
            eval_s: 0.1,
            best: true,
            tokenizer_sha256: Some("ab12".into()),
            reading: Reading {
                bits_per_token: loss / std::f64::consts::LN_2,
                bits_per_char: loss / 4.0,
                train_loss: loss + 0.2,
                train_eval_loss: loss - 0.1,
                gap: 0.1,
                health: 80.0,
                verdict: Verdict {
                    state: signal(kinds[0]),
                    alarms: kinds[1..].iter().map(|&k| signal(k)).collect(),
                },
                samples: Vec::new(),
                top1: Some(0.25),
                top5: Some(0.5),
                forecast: None,
            },
        })
    }

    #[test]
    fn records_are_written_kind_first_in_the_documented_field_order() {
        let line = serde_json::to_string(&train(10, 5.0)).unwrap();
        assert_eq!(
            line,
            r#"{"kind":"train","step":10,"tokens_seen":640,"lr":0.001,"loss":5.0,"ppl":148.4131591025766,"tokens_per_s":1234.5,"wall_s":1.5,"tokenizer_sha256":"ab12"}"#
        );
        let line = serde_json::to_string(&eval(10, 4.0, &[SignalKind::Healthy])).unwrap();
        let keys: Vec<&str> = line
            .split(['{', ','])
            .filter_map(|f| f.strip_prefix('"')?.split('"').next())
            .collect();
        let head = "kind step tokens_seen lr loss ppl wall_s eval_tokens eval_s best \
                    tokenizer_sha256 bits_per_token bits_per_char train_loss train_eval_loss gap \
                    health signals";
        assert_eq!(keys[..18].join(" "), head);
        assert!(
            line.ends_with(r#""samples":[],"top1":0.25,"top5":0.5}"#),
            "{line}"
        );
    }

    #[test]
    fn records_round_trip_exactly() {
        for record in [
            baseline(),
            train(7, 5.123456789012345),
            eval(
                7,
                4.987654321098765,
                &[SignalKind::Plateau, SignalKind::Unstable],
            ),
        ] {
            let line = serde_json::to_string(&record).unwrap();
            assert_eq!(serde_json::from_str::<MetricRecord>(&line).unwrap(), record);
        }
    }
}
