//! End-to-end tests of the monitor's levels: runs that produce each level-based signal
//! naturally (no injected NaN), and the shipped configs' own curves, which must never be
//! called diverged, stalled or unstable.

mod common;

use std::path::Path;

use common::{corpus_dir, metrics, perplex, stderr, stdout, tiny};

/// Each evaluation's state and alarms, e.g. `["diverged"]`.
fn signals(run: &Path) -> Vec<Vec<String>> {
    metrics(run)
        .iter()
        .filter(|r| r["kind"] == "eval")
        .map(|r| {
            let list = r["signals"].as_array().unwrap();
            list.iter()
                .map(|s| s["kind"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

/// The `hot` run of the issue: a learning rate of 1 with no warm-up and no clipping. Its loss
/// "falls" from far above a uniform guess, so every trend rule saw improvement; the levels do
/// not: it is `diverged` at its first evaluation, stopped there, health 0.
#[test]
fn a_learning_rate_too_high_is_diverged_at_the_first_evaluation_and_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let data = corpus_dir(tmp.path());
    let sets = [
        "--set",
        "train.lr=1",
        "--set",
        "train.min_lr=1",
        "--set",
        "train.warmup_steps=1",
        "--set",
        "train.grad_clip=0",
        "--set",
        "train.max_steps=300",
        "--set",
        "train.eval_every=100",
    ];
    let (run, summary) = tiny(tmp.path(), &data, "hot", &sets);
    assert_eq!(summary["stop_reason"], "diverged", "{summary}");
    assert_eq!(summary["stop"]["reason"], "diverged", "{summary}");
    assert_eq!(summary["steps"], 100);
    assert_eq!(summary["restored_best"], true);
    assert_eq!(summary["health"], 0.0);
    let records = metrics(&run);
    let baseline = &records[0];
    assert_eq!(baseline["kind"], "baseline");
    let vocab = baseline["vocab_size"].as_f64().unwrap();
    assert_eq!(baseline["uniform"].as_f64(), Some(vocab.ln()));
    // One evaluation, and it is `diverged`. At a rate of 1 the train loss swings so wildly
    // that whether `unstable` is raised beside it depends on the last bits of the arithmetic.
    let signals = signals(&run);
    assert_eq!(signals.len(), 1, "{signals:?}");
    assert!(signals[0].contains(&"diverged".to_string()), "{signals:?}");
    assert!(
        signals[0]
            .iter()
            .all(|s| s == "diverged" || s == "unstable"),
        "{signals:?}"
    );
    let eval = records.iter().find(|r| r["kind"] == "eval").unwrap();
    let evidence = eval["signals"][0]["evidence"].as_str().unwrap();
    assert!(
        evidence.contains(&format!("ln V = ln {vocab}")),
        "{evidence}"
    );
    assert!(eval["loss"].as_f64().unwrap() > vocab.ln());
}

/// A learning rate too small to learn: the model never gets below the unigram baseline, so
/// it is `stalled` from the third evaluation; it has not diverged, so nothing stops it.
#[test]
fn a_learning_rate_too_small_stalls_without_a_divergence_stop() {
    let tmp = tempfile::tempdir().unwrap();
    let data = corpus_dir(tmp.path());
    let sets = [
        "--set",
        "train.lr=1e-6",
        "--set",
        "train.min_lr=1e-6",
        "--set",
        "train.max_steps=100",
        "--set",
        "train.eval_every=25",
    ];
    let (run, summary) = tiny(tmp.path(), &data, "cold", &sets);
    assert_eq!(summary["stop_reason"], "max_steps", "{summary}");
    let states: Vec<String> = signals(&run).into_iter().map(|s| s[0].clone()).collect();
    assert_eq!(states.len(), 4);
    assert_eq!(&states[2..], ["stalled", "stalled"], "{states:?}");
    assert!(!states.contains(&"diverged".to_string()), "{states:?}");
    let eval = metrics(&run)
        .into_iter()
        .rfind(|r| r["kind"] == "eval")
        .unwrap();
    let evidence = eval["signals"][0]["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("nats above the unigram baseline"),
        "{evidence}"
    );
}

/// `perplex watch` over a shipped config's own curve, recorded step by step (the test fixture
/// is that run's metrics.jsonl, baseline record included): no level or spike alarm.
fn assert_never_alarmed(fixture: &str, evals: usize) {
    let path = common::repo().join("tests/fixtures").join(fixture);
    let out = perplex(&["watch", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let judged = text.lines().filter(|l| l.contains("(health ")).count();
    assert_eq!(judged, evals, "{text}");
    for alarm in ["diverged", "stalled", "unstable", "non_finite"] {
        assert!(!text.contains(alarm), "{fixture}: {alarm}\n{text}");
    }
}

#[test]
fn the_shipped_ptb_tiny_curve_is_never_called_diverged_stalled_or_unstable() {
    assert_never_alarmed("ptb-tiny.metrics.jsonl", 3);
}

#[test]
fn the_shipped_ptb_small_curve_is_never_called_diverged_stalled_or_unstable() {
    assert_never_alarmed("ptb-small-1000.metrics.jsonl", 2);
}

/// A foreign log knows no baselines; `--vocab-size` gives the uniform guess, and the first
/// record stands for the step-0 level.
#[test]
fn watch_judges_a_foreign_log_against_the_vocabulary_and_its_first_record() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("hot.csv");
    std::fs::write(
        &log,
        "step,train_loss,val_loss\n0,4.7,\n100,9.0,8.8\n200,7.5,7.0\n",
    )
    .unwrap();
    let out = perplex(&["watch", log.to_str().unwrap(), "--vocab-size", "100"]);
    // A run that ends diverged exits 4, so a script can gate on it.
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the run ends diverged"),
        "{}",
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("step 100: diverged"), "{text}");
    assert!(text.contains("ln V = ln 100 = 4.6052"), "{text}");
    assert!(text.contains("step 200: diverged"), "{text}");
    // Without the vocabulary, the first record (4.7 nats at step 0) is the only level.
    let out = perplex(&["watch", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("the loss logged at step 0 (4.7000)"),
        "{text}"
    );
    assert!(text.contains("step 100: diverged"), "{text}");
    assert!(text.contains("before training (4.7000)"), "{text}");
    let out = perplex(&["watch", log.to_str().unwrap(), "--vocab-size", "1"]);
    assert_eq!(out.status.code(), Some(1));
}
