//! `perplex watch` on the corpus of real logs in `tests/corpus/` (other trainers' logs from
//! public repositories, each with its provenance and a judgement written from its numbers
//! before perplex read it; `tests/corpus/corpus.toml`). Each log's exit status, reader,
//! final state, forbidden signals and required signals are asserted.

mod common;

use std::collections::BTreeMap;

use common::{perplex, repo, stderr, stdout};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Corpus {
    log: Vec<Entry>,
}

/// One log of `corpus.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    file: String,
    trainer: String,
    repo: String,
    path: String,
    commit: String,
    trimmed: String,
    judgement: String,
    args: Vec<String>,
    exit: i32,
    format: String,
    #[serde(rename = "final")]
    last: Vec<String>,
    never: Vec<String>,
    #[serde(default)]
    must: Vec<String>,
    #[serde(default)]
    step_must: Vec<String>,
}

fn corpus() -> Vec<Entry> {
    let text = std::fs::read_to_string(repo().join("tests/corpus/corpus.toml")).unwrap();
    toml::from_str::<Corpus>(&text).unwrap().log
}

/// What `watch` printed about one log: each evaluation's state and alarms, and the signals
/// printed at training steps.
#[derive(Debug, Default)]
struct Reading {
    states: Vec<String>,
    alarms: Vec<Vec<String>>,
    step_signals: Vec<String>,
}

impl Reading {
    /// How many evaluations named each state or alarm.
    fn counts(&self) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for (state, alarms) in self.states.iter().zip(&self.alarms) {
            for kind in std::iter::once(state).chain(alarms) {
                *counts.entry(kind.as_str()).or_default() += 1;
            }
        }
        counts
    }
}

fn read(text: &str) -> Reading {
    let mut r = Reading::default();
    for line in text.lines().filter(|l| l.starts_with("step ")) {
        let Some((_, rest)) = line.split_once(": ") else {
            continue;
        };
        let kind = rest.split([':', ' ']).next().unwrap_or("").to_string();
        if rest.contains(" (health ") {
            r.states.push(kind);
            r.alarms.push(Vec::new());
        } else if kind == "no" || kind == "forecast" {
            continue;
        } else if rest.contains("since the previous evaluation") || kind == "leak_suspected" {
            r.alarms.last_mut().unwrap().push(kind);
        } else {
            r.step_signals.push(kind);
        }
    }
    r
}

#[test]
fn every_corpus_log_is_read_and_judged_as_its_numbers_say() {
    let entries = corpus();
    assert!(entries.len() >= 15, "{} logs", entries.len());
    let trainers: std::collections::BTreeSet<&str> = entries
        .iter()
        .map(|e| e.trainer.split(" (").next().unwrap())
        .collect();
    assert!(trainers.len() >= 8, "{trainers:?}");
    let failures: Vec<String> = entries.iter().flat_map(check).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What is wrong with `watch`'s reading of one corpus log, line by line (nothing when it
/// holds to the entry's judgement).
fn check(e: &Entry) -> Vec<String> {
    assert!(!e.judgement.is_empty() && !e.repo.is_empty() && !e.path.is_empty());
    assert!(!e.commit.is_empty() && !e.trimmed.is_empty());
    let log = repo().join("tests/corpus/logs").join(&e.file);
    let mut args = vec!["watch".to_string(), log.display().to_string()];
    args.extend(e.args.iter().cloned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = perplex(&refs);
    let text = stdout(&out);
    let mut wrong = Vec::new();
    if out.status.code() != Some(e.exit) {
        let got = out.status.code();
        wrong.push(format!(
            "exit {got:?}, expected {}: {}",
            e.exit,
            stderr(&out)
        ));
    }
    if !text.contains(&format!(" as {},", e.format)) {
        wrong.push(format!("not read as {}", e.format));
    }
    let r = read(&text);
    if !e.last.is_empty() && !r.states.last().is_some_and(|s| e.last.contains(s)) {
        wrong.push(format!(
            "ends {:?}, expected one of {:?}",
            r.states.last(),
            e.last
        ));
    }
    let counts = r.counts();
    for kind in &e.never {
        if let Some(n) = counts.get(kind.as_str()) {
            wrong.push(format!("{kind} at {n} of {} evaluations", r.states.len()));
        }
    }
    for kind in e.must.iter().filter(|k| !counts.contains_key(k.as_str())) {
        wrong.push(format!("never {kind}: {counts:?}"));
    }
    for kind in e.step_must.iter().filter(|k| !r.step_signals.contains(k)) {
        wrong.push(format!("no training step called {kind}"));
    }
    wrong
        .into_iter()
        .map(|w| format!("{}: {w}", e.file))
        .collect()
}

#[test]
fn the_corpus_stays_small() {
    let dir = repo().join("tests/corpus/logs");
    let total: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| f.unwrap().metadata().unwrap().len())
        .sum();
    assert!(total <= 5 << 20, "{total} bytes");
    let listed: Vec<String> = corpus().into_iter().map(|e| e.file).collect();
    for f in std::fs::read_dir(&dir).unwrap() {
        let name = f.unwrap().file_name().into_string().unwrap();
        assert!(listed.contains(&name), "{name} has no entry in corpus.toml");
    }
}

#[test]
fn a_log_in_which_nothing_is_read_says_what_it_saw_and_fails() {
    let log = repo().join("tests/corpus/logs/sklearn_Emotion-detection_training.log");
    let out = perplex(&["watch", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for needle in [
        "no loss could be read",
        "line 1: 2025-05-16",
        "--format",
        "--val-col",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
}
