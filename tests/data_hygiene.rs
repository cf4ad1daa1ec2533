//! End-to-end tests of data hygiene and other corpora: planted leaks found at their share,
//! `data.strict`, and a plain-text corpus with a learned BPE tokenizer.

mod common;

use std::path::Path;

use common::{QUICK, metrics, perplex, perplex_owned, stderr, stdout, train_args};
use serde_json::Value;

/// Writes a PTB-layout corpus from lists of lines.
fn write_corpus(dir: &Path, train: &[String], valid: &[String], test: &[String]) {
    let corpus = perplex_data::Corpus {
        train: train.to_vec(),
        valid: valid.to_vec(),
        test: test.to_vec(),
    };
    perplex_data::DataDir::new(dir)
        .write(&corpus, true)
        .unwrap();
}

fn read_split(dir: &Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(format!("ptb.{name}.txt")))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Writes the corpus of `base` with a block of 15% of its validation lines copied into train,
/// to `dir`; returns train, valid and the block.
fn plant_leak(base: &Path, dir: &Path) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut train = read_split(base, "train");
    let valid = read_split(base, "valid");
    let block = valid[10..10 + valid.len() * 15 / 100].to_vec();
    train.extend(block.iter().cloned());
    write_corpus(dir, &train, &valid, &read_split(base, "test"));
    (train, valid, block)
}

/// The seed's lesson: a block of 15% of validation copied into train must be reported at its
/// share (of lines, and of tokens, both counted independently here) and fail the check.
#[test]
fn data_check_reports_a_planted_leak_at_its_share() {
    let tmp = tempfile::tempdir().unwrap();
    let base = common::synthetic_dir(tmp.path());
    let leaky = tmp.path().join("leaky");
    let (train, valid, block) = plant_leak(&base, &leaky);
    let out = perplex(&[
        "data",
        "check",
        "--json",
        "--data-dir",
        leaky.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("past --max-overlap"),
        "{}",
        stderr(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = &report["overlap"]["splits"][0];
    let train_set: std::collections::HashSet<&str> = train.iter().map(|l| l.trim()).collect();
    let expected = valid
        .iter()
        .filter(|l| train_set.contains(l.trim()))
        .count();
    assert!(expected >= block.len());
    assert_eq!(v["lines_in_train"], expected as u64);
    assert_eq!(v["lines"], valid.len() as u64);
    // Every token of the block lies in a 13-gram of train; so may the <eos> just before it
    // (train has "<eos>" + the block's start too), and nothing else.
    let block_tokens: u64 = block
        .iter()
        .map(|l| l.split_whitespace().count() as u64 + 1)
        .sum();
    let covered = v["tokens_in_train_ngrams"].as_u64().unwrap();
    assert!(
        (block_tokens..=block_tokens + 1).contains(&covered),
        "{covered} covered tokens for a planted block of {block_tokens}"
    );
}

/// Splitting a leaky text by a hash of each line leaves no held-out line in train.
#[test]
fn hash_splitting_a_leaky_text_leaves_no_held_out_line_in_train() {
    let tmp = tempfile::tempdir().unwrap();
    let base = common::synthetic_dir(tmp.path());
    let (train, valid, _) = plant_leak(&base, &tmp.path().join("leaky"));
    let all = tmp.path().join("all.txt");
    std::fs::write(&all, [train.clone(), valid.clone()].concat().join("\n")).unwrap();
    let split = tmp.path().join("split");
    let out = perplex(&[
        "data",
        "split",
        "--input",
        all.to_str().unwrap(),
        "--valid",
        "0.1",
        "--test",
        "0.1",
        "--seed",
        "3",
        "--out",
        split.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (s_train, s_valid) = (read_split(&split, "train"), read_split(&split, "valid"));
    let s_train: std::collections::HashSet<&str> = s_train.iter().map(String::as_str).collect();
    assert!(s_valid.len() > 10);
    assert!(s_valid.iter().all(|l| !s_train.contains(l.as_str())));
    let out = perplex(&[
        "data",
        "check",
        "--json",
        "--data-dir",
        split.to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["overlap"]["splits"][0]["lines_in_train"], 0);
}

/// PTB's own natural overlap (boilerplate lines) is reported and passes the default threshold.
#[test]
fn ptb_natural_overlap_is_reported_and_passes() {
    let Some(ptb) = common::ptb_or_skip("PTB's natural overlap") else {
        return;
    };
    let out = perplex(&[
        "data",
        "check",
        "--json",
        "--data-dir",
        ptb.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "PTB passes the default threshold");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &r["overlap"]["splits"];
    assert_eq!(
        (s[0]["lines_in_train"].as_u64(), s[0]["lines"].as_u64()),
        (Some(85), Some(3370))
    );
    assert_eq!(
        (s[1]["lines_in_train"].as_u64(), s[1]["lines"].as_u64()),
        (Some(64), Some(3761))
    );
}

/// `data.strict = true` refuses to train on a leaky corpus, before creating anything; without
/// it the run warns and keeps the report in `data_check.json`. `eval` refuses a corpus whose
/// tokenizer is not the run's.
#[test]
fn train_checks_its_data_and_eval_refuses_another_tokenizer() {
    let tmp = tempfile::tempdir().unwrap();
    let base = common::synthetic_dir(tmp.path());
    let mut train = read_split(&base, "train");
    let valid = read_split(&base, "valid");
    train.extend(valid.iter().cloned());
    let leaky = tmp.path().join("leaky");
    write_corpus(&leaky, &train, &valid, &read_split(&base, "test"));
    let runs = tmp.path().join("runs");
    let strict = [QUICK, &["--set", "data.strict=true"]].concat();
    let out = perplex_owned(&train_args(
        "ptb-tiny.toml",
        &runs,
        "strict",
        &leaky,
        &strict,
    ));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("refusing to train because data.strict"),
        "{}",
        stderr(&out)
    );
    assert!(!runs.join("strict").exists());

    let out = perplex_owned(&train_args(
        "ptb-tiny.toml",
        &runs,
        "lenient",
        &leaky,
        QUICK,
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("overlap with train is past"),
        "{}",
        stderr(&out)
    );
    let check: Value = serde_json::from_str(
        &std::fs::read_to_string(runs.join("lenient/data_check.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(check["overlap"]["passed"], false);
    assert_eq!(check["overlap"]["splits"][0]["line_share"], 1.0);
    let records = metrics(&runs.join("lenient"));
    let fingerprint = records[0]["tokenizer_sha256"].as_str().unwrap();
    assert_eq!(fingerprint.len(), 64);
    assert!(records.iter().all(|r| r["tokenizer_sha256"] == fingerprint));

    let other = common::markov_dir(&tmp.path().join("other"), 60, 2, 3_000, 9);
    let run = runs.join("lenient");
    let out = perplex(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--data-dir",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not the run's"),
        "{}",
        stderr(&out)
    );
    let out = perplex(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--data-dir",
        leaky.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The synthetic corpus as one plain text, split by hash into `tmp/mytext` (5% valid, 5%
/// test) as a user would prepare their own text.
fn split_plain_text(tmp: &Path) -> std::path::PathBuf {
    let base = common::synthetic_dir(tmp);
    let text: Vec<String> = ["train", "valid", "test"]
        .iter()
        .flat_map(|s| read_split(&base, s))
        .collect();
    let input = tmp.join("corpus.txt");
    std::fs::write(&input, text.join("\n")).unwrap();
    let data = tmp.join("mytext");
    let out = perplex(&[
        "data",
        "split",
        "--input",
        input.to_str().unwrap(),
        "--out",
        data.to_str().unwrap(),
        "--valid",
        "0.05",
        "--test",
        "0.05",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    data
}

/// Learns a `kind` tokenizer of at most 120 types from `data`'s train split into
/// `data/tokenizer.json`, and returns its summary.
fn learn_tokenizer(data: &Path, kind: &str) -> Value {
    let out = perplex(&[
        "tokenizer",
        "train",
        "--input",
        data.join("ptb.train.txt").to_str().unwrap(),
        "--kind",
        kind,
        "--vocab-size",
        "120",
        "--out",
        data.join("tokenizer.json").to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A config naming a tokenizer that does not exist yet: the error says how to make it.
#[test]
fn a_missing_tokenizer_file_says_how_to_make_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = split_plain_text(tmp.path());
    let runs = tmp.path().join("runs");
    let out = perplex_owned(&train_args("text-bpe.toml", &runs, "early", &data, &[]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("perplex tokenizer train --input"),
        "{}",
        stderr(&out)
    );
    assert!(!runs.join("early").exists());
}

/// Any plain text: hash split, a BPE tokenizer learned from train, a run on configs/text-bpe
/// (shortened), eval and generate; a char tokenizer on the same text is another tokenizer,
/// refused.
#[test]
fn a_plain_text_corpus_trains_with_a_learned_bpe_tokenizer() {
    let tmp = tempfile::tempdir().unwrap();
    let data = split_plain_text(tmp.path());
    let summary = learn_tokenizer(&data, "bpe");
    // At most the asked size (fewer when merging runs out of pairs in this 50-word language).
    let vocab = summary["vocab_size"].as_u64().unwrap();
    assert!((20..=120).contains(&vocab), "{vocab} types");
    assert!(summary["chars_per_token"].as_f64().unwrap() > 1.0);
    let sets = [
        "--set",
        "train.max_steps=150",
        "--set",
        "train.eval_every=75",
        "--set",
        "train.warmup_steps=5",
        "--set",
        "model.d_model=32",
        "--set",
        "model.ctx=32",
    ];
    let runs = tmp.path().join("runs");
    let out = perplex_owned(&train_args("text-bpe.toml", &runs, "bpe", &data, &sets));
    assert!(out.status.success(), "{}", stderr(&out));
    let run = runs.join("bpe");
    assert_eq!(
        std::fs::read_to_string(run.join("tokenizer.json")).unwrap(),
        std::fs::read_to_string(data.join("tokenizer.json")).unwrap()
    );
    let records = metrics(&run);
    let last = records.iter().rev().find(|r| r["kind"] == "eval").unwrap();
    // A uniform guess costs ln(vocab) nats per token: the model must beat it clearly.
    let uniform = (vocab as f64).ln();
    assert!(
        last["loss"].as_f64().unwrap() < uniform - 0.75,
        "{last} vs {uniform}"
    );
    assert!(last["bits_per_char"].as_f64().unwrap() > 0.0);
    let (r, d) = (run.to_str().unwrap(), data.to_str().unwrap());
    let out = perplex(&["eval", "--run", r, "--data-dir", d, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let samples = perplex(&["generate", "--run", r, "--max-tokens", "20"]);
    assert!(samples.status.success(), "{}", stderr(&samples));
    let text = stdout(&samples);
    assert!(text.contains('w'), "BPE decodes back to text: {text}");

    learn_tokenizer(&data, "char");
    let out = perplex(&["eval", "--run", r, "--data-dir", d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not the run's"),
        "{}",
        stderr(&out)
    );
}
