//! Held-out text found in the training data by the data check: the validation loss is then
//! partly measured on text the model trained on, whatever its trend says. The monitor names
//! it `leak_suspected` at every evaluation, even when the leak is too small for the loss
//! curves to show it (a 15% leak never brings validation below the training loss).

use serde::{Deserialize, Serialize};

use crate::signal::{Signal, SignalKind, Verdict};

/// What the data check found of the validation split in train.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Contamination {
    /// Share of validation lines that also occur in train, 0–1.
    pub line_share: f64,
    /// Share of validation tokens inside `ngram`-grams that also occur in train, 0–1.
    pub token_share: f64,
    /// Shingle length of the check, tokens.
    pub ngram: usize,
    /// The token share past which the check fails, 0–1.
    pub threshold: f64,
}

impl Contamination {
    /// Whether the overlap is past the threshold.
    pub fn is_past_threshold(&self) -> bool {
        self.token_share > self.threshold
    }

    /// Quotes the check in `verdict`: appended to a `leak_suspected` alarm's evidence, or,
    /// past the threshold, as an alarm of its own.
    pub fn cite_in(&self, verdict: &mut Verdict) {
        let finding = format!(
            "the data check found {:.2}% of valid lines and {:.2}% of its tokens ({}-grams) in \
             train (threshold {:.2}%)",
            100.0 * self.line_share,
            100.0 * self.token_share,
            self.ngram,
            100.0 * self.threshold
        );
        let step = verdict.state.step;
        match verdict
            .alarms
            .iter_mut()
            .find(|s| s.kind == SignalKind::LeakSuspected)
        {
            Some(alarm) => alarm.evidence.push_str(&format!("; {finding}")),
            None if self.is_past_threshold() => verdict.alarms.push(Signal::new(
                SignalKind::LeakSuspected,
                step,
                format!("{finding}: validation loss is partly measured on training text"),
            )),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(alarms: Vec<Signal>) -> Verdict {
        Verdict {
            state: Signal::new(SignalKind::Healthy, 300, "val loss 5.1 is a new best"),
            alarms,
        }
    }

    fn found(token_share: f64) -> Contamination {
        Contamination {
            line_share: 0.15,
            token_share,
            ngram: 13,
            threshold: 0.05,
        }
    }

    #[test]
    fn an_overlap_past_the_threshold_is_an_alarm_of_its_own() {
        let mut v = verdict(Vec::new());
        found(0.16).cite_in(&mut v);
        assert_eq!(v.alarms.len(), 1);
        assert_eq!(
            (v.alarms[0].kind, v.alarms[0].step),
            (SignalKind::LeakSuspected, 300)
        );
        let evidence = &v.alarms[0].evidence;
        assert!(
            evidence.contains("15.00% of valid lines and 16.00% of its tokens"),
            "{evidence}"
        );
        let mut natural = verdict(Vec::new());
        found(0.03).cite_in(&mut natural);
        assert!(
            natural.alarms.is_empty(),
            "PTB's own 3% is below the threshold"
        );
    }

    #[test]
    fn a_leak_alarm_of_the_curves_quotes_the_check_once() {
        let curves = Signal::new(SignalKind::LeakSuspected, 300, "val below train");
        let mut v = verdict(vec![curves]);
        found(0.03).cite_in(&mut v);
        assert_eq!(v.alarms.len(), 1);
        assert!(
            v.alarms[0]
                .evidence
                .starts_with("val below train; the data check found")
        );
    }
}
