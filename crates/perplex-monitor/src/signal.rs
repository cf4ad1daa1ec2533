//! What the monitor can say about a run: a [`SignalKind`], the step it was seen at and the
//! evidence, and the [`Verdict`] of one evaluation (the run's state, then any alarms).

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a run looks like at one moment.
///
/// Eight kinds are *states* (a run is in exactly one at each evaluation): `warming_up`,
/// `healthy`, `plateau`, `overfitting`, `diverging`, `stalled`, `diverged`, `non_finite`. The others are
/// *alarms*, named beside the state whenever their evidence is there.
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
pub enum SignalKind {
    /// One of the first evaluations: too early to judge the trend.
    WarmingUp,
    /// Validation loss is improving by more than `min_delta`.
    Healthy,
    /// No meaningful improvement for `patience` evaluations, and not rising.
    Plateau,
    /// Validation loss rising while the training loss keeps falling, or the gap between them
    /// past its bound: the model is memorising its training data.
    Overfitting,
    /// Validation loss climbing back above its best together with the training loss: the
    /// run is getting worse, not memorising (a learning rate too high for where the run is).
    Diverging,
    /// After a few evaluations, the best validation loss is still not below the unigram
    /// baseline: the model has learned no more than word frequencies.
    Stalled,
    /// A loss above the uniform guess (ln V) or the model's own step-0 loss: worse than
    /// guessing. Judged from the first evaluation on.
    Diverged,
    /// A NaN or infinite loss.
    NonFinite,
    /// Validation loss below the eval-mode training loss by a margin, or an implausibly sudden
    /// drop: held-out text may be in the training data.
    LeakSuspected,
    /// A training-loss spike far outside the recent spread.
    Unstable,
    /// Generated samples repeat themselves past the thresholds.
    DegenerateSamples,
}

impl SignalKind {
    /// Every kind, states first.
    pub const ALL: &'static [SignalKind] = <Self as strum::VariantArray>::VARIANTS;

    /// The snake_case name used in logs, `metrics.jsonl` and `metrics.csv` (derived from the
    /// variant by strum; serde reads and writes the same).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Whether this kind is a state of the run (one per evaluation) rather than an alarm.
    pub fn is_state(self) -> bool {
        matches!(
            self,
            SignalKind::WarmingUp
                | SignalKind::Healthy
                | SignalKind::Plateau
                | SignalKind::Overfitting
                | SignalKind::Diverging
                | SignalKind::Stalled
                | SignalKind::Diverged
                | SignalKind::NonFinite
        )
    }
}

impl std::str::FromStr for SignalKind {
    type Err = crate::names::UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::names::parse(s, "signal")
    }
}

impl TryFrom<String> for SignalKind {
    type Error = crate::names::UnknownName;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A signal with the step it fired at and the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Which state or alarm.
    pub kind: SignalKind,
    /// Optimizer step at which it fired.
    pub step: u64,
    /// Human-readable evidence: the numbers and the rule they met.
    pub evidence: String,
}

impl Signal {
    /// A signal of `kind` at `step` with its `evidence`.
    pub fn new(kind: SignalKind, step: u64, evidence: impl Into<String>) -> Self {
        Self {
            kind,
            step,
            evidence: evidence.into(),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.evidence)
    }
}

/// The signals of one evaluation: the run's state and the alarms beside it.
///
/// In files it is one list, `signals`, with the state first (the format of `metrics.jsonl`
/// since the monitor's first release); reading it back finds the state by its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "SignalList", try_from = "SignalList")]
pub struct Verdict {
    /// The run's state at this evaluation.
    pub state: Signal,
    /// Alarms raised at this evaluation (leakage, degenerate samples, …).
    pub alarms: Vec<Signal>,
}

impl Verdict {
    /// Whether the state or an alarm is of `kind`.
    pub fn has(&self, kind: SignalKind) -> bool {
        self.signals().any(|s| s.kind == kind)
    }

    /// The first signal of `kind`, state or alarm.
    pub fn find(&self, kind: SignalKind) -> Option<&Signal> {
        self.signals().find(|s| s.kind == kind)
    }

    /// Whether the state is `warming_up`.
    pub fn is_warming_up(&self) -> bool {
        self.state.kind == SignalKind::WarmingUp
    }

    /// The state, then the alarms.
    pub fn signals(&self) -> impl Iterator<Item = &Signal> {
        std::iter::once(&self.state).chain(&self.alarms)
    }

    /// The state and alarms as one list, the state first.
    pub fn into_signals(self) -> Vec<Signal> {
        std::iter::once(self.state).chain(self.alarms).collect()
    }
}

/// A [`Verdict`] as it is written: `{"signals": [state, alarms…]}`.
#[derive(Serialize, Deserialize)]
struct SignalList {
    signals: Vec<Signal>,
}

impl From<Verdict> for SignalList {
    fn from(v: Verdict) -> Self {
        Self {
            signals: v.into_signals(),
        }
    }
}

impl TryFrom<SignalList> for Verdict {
    type Error = String;

    fn try_from(list: SignalList) -> Result<Self, Self::Error> {
        let mut signals = list.signals;
        let at = signals.iter().position(|s| s.kind.is_state()).ok_or(
            "no state (warming_up, healthy, plateau, overfitting, diverging, stalled, diverged, \
             non_finite) among the signals",
        )?;
        let state = signals.remove(at);
        Ok(Self {
            state,
            alarms: signals,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_name_each_kind_in_snake_case_and_an_unknown_name_lists_the_known_ones() {
        let names: Vec<_> = SignalKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names[..3], ["warming_up", "healthy", "plateau"]);
        assert_eq!(names[8], "leak_suspected");
        assert!(SignalKind::ALL[..8].iter().all(|k| k.is_state()));
        assert!(!SignalKind::ALL[8..].iter().any(|k| k.is_state()));
        let json = serde_json::to_string(&SignalKind::DegenerateSamples).unwrap();
        assert_eq!(json, r#""degenerate_samples""#);
        let err = "healty".parse::<SignalKind>().unwrap_err().to_string();
        assert!(
            err.starts_with("unknown signal \"healty\": use one of warming_up, healthy"),
            "{err}"
        );
    }

    #[test]
    fn a_verdict_is_written_as_one_list_state_first_and_read_back_by_kind() {
        let verdict = Verdict {
            state: Signal::new(SignalKind::Healthy, 5, "fine"),
            alarms: vec![Signal::new(SignalKind::LeakSuspected, 5, "low")],
        };
        let json = serde_json::to_string(&verdict).unwrap();
        assert!(
            json.starts_with(r#"{"signals":[{"kind":"healthy""#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Verdict>(&json).unwrap(), verdict);
        // A list whose state is not first still reads back with the state found by kind.
        let swapped = r#"{"signals":[{"kind":"unstable","step":1,"evidence":""},
            {"kind":"plateau","step":1,"evidence":""}]}"#;
        let v: Verdict = serde_json::from_str(swapped).unwrap();
        assert_eq!(
            (v.state.kind, v.alarms[0].kind),
            (SignalKind::Plateau, SignalKind::Unstable)
        );
        let no_state = r#"{"signals":[{"kind":"unstable","step":1,"evidence":""}]}"#;
        assert!(serde_json::from_str::<Verdict>(no_state).is_err());
    }
}
