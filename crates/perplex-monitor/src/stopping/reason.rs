//! Why a run stopped: [`StopReason`], the one answer the loop, the summary, the report and
//! the binary's exit status all read, and [`StopDecision`], that answer with its evidence.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a run stopped. The loop's own ends (all steps, the time budget, an interrupt, a
/// non-finite step) and early stopping's decisions are one type, so `summary.json` names
/// the cause in one field and the binary maps it to one exit status.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(into = "&'static str", try_from = "String")]
#[strum(serialize_all = "snake_case")]
pub enum StopReason {
    /// All `max_steps` steps ran.
    MaxSteps,
    /// `train.time_budget_s` of wall-clock time ran out; the final model was validated.
    TimeBudget,
    /// SIGINT or SIGTERM asked the run to stop; its state was saved for `--resume`.
    Interrupted,
    /// A training step's loss or gradient norm, or the watched metric, is NaN or infinite.
    NonFinite,
    /// `patience` evaluations without improvement.
    Patience,
    /// The watched metric became worse than `divergence_threshold`.
    DivergenceThreshold,
    /// The watched metric reached `stopping_threshold`.
    StoppingThreshold,
    /// The detector saw validation loss rise while training loss fell.
    Overfitting,
    /// The detector saw a loss above the uniform guess or the step-0 loss.
    Diverged,
    /// The detector saw validation and training loss climb back above the best.
    Diverging,
}

impl StopReason {
    /// The snake_case name used in `summary.json`, logs and reports (strum derives it from
    /// the variant, and serde writes and reads the same name through it).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Whether the run reached an end of its own (all steps, its time budget, an early stop
    /// on evidence) rather than being cut off: a finished run is not resumed.
    pub fn is_finished(self) -> bool {
        !matches!(self, StopReason::Interrupted | StopReason::NonFinite)
    }

    /// Whether early stopping (the monitor) made the decision, not the loop's schedule.
    pub fn is_early_stop(self) -> bool {
        !matches!(
            self,
            StopReason::MaxSteps | StopReason::TimeBudget | StopReason::Interrupted
        )
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<String> for StopReason {
    type Error = crate::names::UnknownName;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        crate::names::parse(&name, "stop reason")
    }
}

/// A decision to stop, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopDecision {
    /// Why.
    #[serde(alias = "cause")]
    pub reason: StopReason,
    /// The step of the evaluation or training step that decided it.
    pub step: u64,
    /// The numbers behind it.
    pub evidence: String,
}

impl fmt::Display for StopDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.evidence)
    }
}

#[cfg(test)]
mod tests {
    use strum::VariantArray;

    use super::*;

    #[test]
    fn only_the_loop_s_own_ends_are_not_early_stops_and_only_cut_offs_are_unfinished() {
        let early: Vec<_> = StopReason::VARIANTS
            .iter()
            .filter(|r| !r.is_early_stop())
            .map(|r| r.name())
            .collect();
        assert_eq!(early, ["max_steps", "time_budget", "interrupted"]);
        let unfinished: Vec<_> = StopReason::VARIANTS
            .iter()
            .filter(|r| !r.is_finished())
            .map(|r| r.name())
            .collect();
        assert_eq!(unfinished, ["interrupted", "non_finite"]);
    }

    #[test]
    fn a_decision_written_before_the_field_was_renamed_still_reads() {
        let old = r#"{"cause":"overfitting","step":300,"evidence":"val rose"}"#;
        let decision: StopDecision = serde_json::from_str(old).unwrap();
        assert_eq!(decision.reason, StopReason::Overfitting);
        let err =
            serde_json::from_str::<StopDecision>(r#"{"reason":"bored","step":1,"evidence":""}"#)
                .unwrap_err();
        assert!(
            err.to_string().contains("unknown stop reason \"bored\""),
            "{err}"
        );
    }
}
