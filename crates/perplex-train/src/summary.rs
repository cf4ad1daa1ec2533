//! How a run ended: [`RunSummary`], written to `summary.json` whatever stopped the run.

use perplex_monitor::{Baselines, StopDecision, StopReason};
use serde::{Deserialize, Serialize};

/// How a run ended, written to `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Why training stopped.
    pub stop_reason: StopReason,
    /// The same, with the step that decided it and the evidence (absent in summaries written
    /// before it was recorded; those kept only early stopping's, as `early_stop`).
    #[serde(default, alias = "early_stop")]
    pub stop: Option<StopDecision>,
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

/// Reads `summary.json`'s text. A summary written before the stop reasons became one type
/// says `"stop_reason": "early_stopping"` and names the cause in `early_stop.cause`: that
/// cause is its stop reason now.
pub fn parse_summary(text: &str) -> serde_json::Result<RunSummary> {
    let mut value: serde_json::Value = serde_json::from_str(text)?;
    if value["stop_reason"] == "early_stopping" {
        value["stop_reason"] = value["early_stop"]["cause"].clone();
    }
    serde_json::from_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_from_before_one_stop_type_reads_with_its_cause_as_the_reason() {
        let mut summary: serde_json::Value = serde_json::from_str(&example().to_json()).unwrap();
        summary["stop_reason"] = "early_stopping".into();
        summary["early_stop"] = serde_json::json!({
            "cause": "overfitting", "step": 300, "evidence": "val rose"
        });
        summary.as_object_mut().unwrap().remove("stop");
        let read = parse_summary(&summary.to_string()).unwrap();
        assert_eq!(read.stop_reason, StopReason::Overfitting);
        assert_eq!(read.stop.unwrap().step, 300);
        assert_eq!(parse_summary(&example().to_json()).unwrap(), example());
    }

    fn example() -> RunSummary {
        RunSummary {
            stop_reason: StopReason::MaxSteps,
            stop: Some(StopDecision {
                reason: StopReason::MaxSteps,
                step: 10,
                evidence: "all 10 steps ran".into(),
            }),
            steps: 10,
            tokens_seen: 640,
            params: 1000,
            best_step: Some(10),
            best_val_loss: Some(5.0),
            best_val_ppl: Some(5f64.exp()),
            val_tokens: 100,
            wall_s: 1.5,
            eval_s: 0.5,
            train_tokens_per_s: 640.0,
            device: "Cpu".into(),
            tokenizer_sha256: "ab".into(),
            health: Some(90.0),
            baselines: None,
            restored_best: true,
        }
    }
}
