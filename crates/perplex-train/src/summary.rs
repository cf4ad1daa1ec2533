//! How a run ended: [`RunSummary`], written to `summary.json` whatever stopped the run.

use std::fmt;

use perplex_monitor::{Baselines, StopDecision};
use serde::{Deserialize, Serialize};

/// Why training stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// All `max_steps` steps ran.
    MaxSteps,
    /// The loss or gradient norm became NaN or infinite.
    NonFinite,
    /// SIGINT or SIGTERM asked the run to stop; its state was saved for `--resume`.
    Interrupted,
    /// Early stopping decided (see the summary's `early_stop`).
    EarlyStopping,
    /// `train.time_budget_s` of wall-clock time ran out; the final model was validated.
    TimeBudget,
}

impl StopReason {
    /// The snake_case name used in `summary.json`, logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::MaxSteps => "max_steps",
            StopReason::NonFinite => "non_finite",
            StopReason::Interrupted => "interrupted",
            StopReason::EarlyStopping => "early_stopping",
            StopReason::TimeBudget => "time_budget",
        }
    }

    /// Whether the run reached an end of its own (all steps, early stopping, its time
    /// budget) rather than being cut off: a finished run is not resumed.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            StopReason::MaxSteps | StopReason::EarlyStopping | StopReason::TimeBudget
        )
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a run ended, written to `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Why training stopped.
    pub stop_reason: StopReason,
    /// Optimizer steps completed.
    pub steps: u64,
    /// Training tokens seen.
    pub tokens_seen: u64,
    /// Trainable parameters.
    pub params: usize,
    /// The step of the best checkpoint.
    pub best_step: Option<u64>,
    /// Best mean validation NLL per token, nats.
    pub best_val_loss: Option<f64>,
    /// Best validation perplexity.
    pub best_val_ppl: Option<f64>,
    /// Tokens predicted by each validation pass.
    pub val_tokens: u64,
    /// Wall-clock seconds of the whole run (across resumes).
    pub wall_s: f64,
    /// Seconds spent in evaluations.
    pub eval_s: f64,
    /// Training tokens per second over training steps only (evaluation excluded).
    pub train_tokens_per_s: f64,
    /// The device the run used.
    pub device: String,
    /// sha256 of the tokenizer.
    pub tokenizer_sha256: String,
    /// Why early stopping stopped the run, at which step, with what evidence.
    pub early_stop: Option<StopDecision>,
    /// Health of the run, 0–100 (mean over evaluations after warm-up).
    pub health: Option<f64>,
    /// The levels the run was judged against (uniform, unigram, step-0), nats per token.
    #[serde(default)]
    pub baselines: Option<Baselines>,
    /// Whether the final `last` checkpoint is the best one (early stopping's `restore_best`).
    pub restored_best: bool,
}

impl RunSummary {
    /// The summary as `summary.json`'s text.
    pub fn to_json(&self) -> String {
        let json = serde_json::to_string_pretty(self).expect("a summary always serialises");
        format!("{json}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_have_one_name_in_files_and_logs() {
        for reason in [
            StopReason::MaxSteps,
            StopReason::NonFinite,
            StopReason::Interrupted,
            StopReason::EarlyStopping,
            StopReason::TimeBudget,
        ] {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.name());
            assert_eq!(reason.to_string(), reason.name());
        }
    }
}
