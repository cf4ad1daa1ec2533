//! The data check at the start of training, and what the monitor is told of it.

use std::path::Path;

use perplex_data::hygiene::HygieneReport;
use perplex_data::{Corpus, CorpusTokenizer, DataDir, Split};
use perplex_monitor::Contamination;

use crate::TrainError;
use crate::config::DataConfig;
use crate::error::OverlapFound;
use perplex_monitor::sinks::write_atomically;

/// Checks `corpus` (read from `dir`) as `config` says: overlap of valid and test with train,
/// and unknown-word rates. Logs a warning for each problem; with `strict`, an overlap past the
/// threshold is an error.
pub fn check_data(
    dir: &DataDir,
    corpus: &Corpus,
    tokenizer: &CorpusTokenizer,
    config: &DataConfig,
) -> Result<HygieneReport, TrainError> {
    let report = HygieneReport::run(corpus, tokenizer, config.ngram, config.max_overlap)?;
    let lines = report.overlap.summary();
    for line in &lines {
        tracing::info!("data check: {line}");
    }
    for warning in &report.warnings {
        tracing::warn!("data check: {warning}");
    }
    if !report.overlap.passed {
        let found = OverlapFound {
            dir: dir.root().to_owned(),
            limit_pct: 100.0 * config.max_overlap,
        };
        if config.strict {
            return Err(TrainError::Overlap(found));
        }
        tracing::warn!("{found}");
    }
    Ok(report)
}

/// Writes the report to `path` (a run's `data_check.json`).
pub fn save_data_check(path: &Path, report: &HygieneReport) -> Result<(), TrainError> {
    let json = serde_json::to_string_pretty(report).expect("a hygiene report serialises");
    write_atomically(path, format!("{json}\n").as_bytes()).map_err(|e| TrainError::io(path, e))
}

/// The data check's finding of the validation split in train, from a run's
/// `data_check.json` at `path` (`None` when the run has no data check).
pub fn contamination(path: &Path) -> Option<Contamination> {
    let text = std::fs::read_to_string(path).ok()?;
    let report: HygieneReport = serde_json::from_str(&text).ok()?;
    let valid = report
        .overlap
        .splits
        .iter()
        .find(|o| o.split == Split::Valid)?;
    Some(Contamination {
        line_share: valid.line_share,
        token_share: valid.token_share,
        ngram: report.overlap.ngram,
        threshold: report.overlap.max_overlap,
    })
}
