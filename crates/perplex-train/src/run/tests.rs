use burn::tensor::Device;
use perplex_data::DataDir;
use perplex_data::markov::{ChainSpec, MarkovChain, sample_corpus};
use perplex_monitor::MetricRecord;
use perplex_monitor::sinks::jsonl::read_records;

use super::*;
use crate::checkpoint;
use crate::run_dir::CheckpointKind;
use crate::trainer::poison;

/// About 20,000 tokens of 60 words drawn from a nearly sparse Markov chain (two favoured
/// successors per word), in `dir/data`.
fn markov_data(dir: &std::path::Path) -> DataDir {
    let data_dir = DataDir::new(dir.join("data"));
    let chain = MarkovChain::new(ChainSpec {
        vocab: 61,
        branching: 2,
        eos: 0.1,
        mix: 0.02,
        seed: 11,
        ..ChainSpec::default()
    })
    .unwrap();
    data_dir
        .write(&sample_corpus(&chain, 20_000, 12).corpus, false)
        .unwrap();
    data_dir
}

/// A one-layer model on ctx 16, with `train` keys added to the `[train]` section.
fn config(train: &str) -> RunConfig {
    RunConfig::from_toml(&format!(
        r#"
        [model]
        ctx = 16
        layers = 1
        heads = 2
        d_model = 32
        dropout = 0.0
        [train]
        batch_size = 16
        lr = 1e-2
        min_lr = 1e-3
        warmup_steps = 10
        weight_decay = 0.0
        grad_clip = 1.0
        seed = 3
        {train}
        "#
    ))
    .unwrap()
}

/// Claims `dir/runs/run` for a new run; returns the claim and where the run will live.
fn new_run(dir: &std::path::Path) -> (NewRun, RunDir) {
    let claim = NewRun::claim(&dir.join("runs"), "run", false).unwrap();
    let root = claim.root().clone();
    (claim, root)
}

/// A short run on a generated Markov corpus must learn: validation loss far below ln(V),
/// the loss of a uniform guess, and the run directory complete.
#[test]
fn a_short_run_on_generated_data_learns_and_writes_its_run_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = markov_data(dir.path());
    let config = config("max_steps = 150\nlog_every = 50\neval_every = 75");
    let data = TrainData::prepare(&data_dir, config.data()).unwrap();
    let vocab = data.tokenizer.vocab_size();
    assert_eq!(vocab, 62, "60 words, <eos> and <unk>");
    let (claim, run) = new_run(dir.path());
    let summary = train(&config, &data, claim, &Device::flex(), &Control::default()).unwrap();

    let uniform = (vocab as f64).ln();
    let best = summary.best_val_loss.unwrap();
    assert!(
        best < uniform - 1.5,
        "val loss {best:.3} nats is not well below ln(V) = {uniform:.3}"
    );
    assert_eq!(summary.steps, 150);
    let evals: Vec<u64> = read_records(&run.metrics())
        .unwrap()
        .iter()
        .filter(|r| matches!(r, MetricRecord::Eval(_)))
        .map(MetricRecord::step)
        .collect();
    assert_eq!(evals, vec![75, 150]);
    for path in [run.config(), run.tokenizer(), run.summary()] {
        assert!(path.is_file(), "{} missing", path.display());
    }
    let meta = checkpoint::read_meta(&run.checkpoint(CheckpointKind::Best)).unwrap();
    assert_eq!(meta.val_loss, Some(best));
}

/// A step whose loss is NaN (through the test-only seam) stops the run at once: its update is
/// not applied, nothing is saved after it, the best checkpoint is the one before it, and the
/// summary says why.
#[test]
fn a_non_finite_loss_stops_at_once_and_keeps_the_best_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = markov_data(dir.path());
    let config = config("max_steps = 400\nlog_every = 3\neval_every = 50\ncheckpoint_every = 7");
    let data = TrainData::prepare(&data_dir, config.data()).unwrap();
    let (claim, run) = new_run(dir.path());
    poison::at(Some(103));
    let result = train(&config, &data, claim, &Device::flex(), &Control::default());
    poison::at(None);
    let returned = result.unwrap();
    let summary = run.read_summary().unwrap().unwrap();
    assert_eq!(returned, summary, "the run returns what it wrote");
    assert_eq!(summary.stop_reason, StopReason::NonFinite);
    let stop = summary.stop.unwrap();
    assert_eq!(stop.step, 103);
    assert!(
        stop.evidence.contains("training loss NaN"),
        "{}",
        stop.evidence
    );
    for kind in [CheckpointKind::Best, CheckpointKind::Last] {
        let meta = checkpoint::read_meta(&run.checkpoint(kind)).unwrap();
        assert_eq!(meta.step, 100, "{kind}: nothing was saved after the NaN");
    }
    let records = read_records(&run.metrics()).unwrap();
    assert_eq!(records.last().map(MetricRecord::step), Some(102));
}
