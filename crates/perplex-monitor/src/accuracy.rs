//! Next-token accuracy: how often the token that came was the model's first guess, or among
//! its first five. A task metric beside perplexity: perplexity rewards spreading probability
//! well, accuracy only the top of the list, and the two can move apart (a model that learns
//! to hedge gains perplexity and no accuracy).

use serde::{Deserialize, Serialize};

/// Counts of predicted tokens whose target the model ranked first, or in its first five.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopK {
    /// Targets ranked first.
    pub top1: u64,
    /// Targets ranked in the first five.
    pub top5: u64,
    /// Predicted tokens counted.
    pub tokens: u64,
}

impl TopK {
    /// Counts one predicted token whose target had `above` logits strictly above its own
    /// (0: the model's first guess). A tie with the target counts for it.
    pub fn add(&mut self, above: u64) {
        self.top1 += u64::from(above == 0);
        self.top5 += u64::from(above < 5);
        self.tokens += 1;
    }

    /// Share of targets ranked first, 0–1 (NaN when none was counted).
    pub fn top1_rate(&self) -> f64 {
        self.top1 as f64 / self.tokens as f64
    }

    /// Share of targets ranked in the first five, 0–1 (NaN when none was counted).
    pub fn top5_rate(&self) -> f64 {
        self.top5 as f64 / self.tokens as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_count_toward_top1_and_top5() {
        let mut k = TopK::default();
        assert!(k.top1_rate().is_nan());
        for above in [0, 0, 1, 4, 5, 900] {
            k.add(above);
        }
        assert_eq!((k.top1, k.top5, k.tokens), (2, 4, 6));
        assert_eq!(k.top1_rate(), 2.0 / 6.0);
        assert_eq!(k.top5_rate(), 4.0 / 6.0);
    }
}
