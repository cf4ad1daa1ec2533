//! Helpers shared by the end-to-end tests: running the binary, finding or making a corpus,
//! reading a run's metrics.
#![allow(dead_code)] // each test binary uses its own subset

pub mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use std::io::Write;

use perplex_data::DataDir;
use perplex_data::markov::{ChainSpec, MarkovChain, sample_corpus};
use serde_json::Value;

/// Runs `perplex` with `args`, no data directory from the environment and an unreachable
/// download URL (tests never touch the network).
pub fn perplex(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perplex"))
        .args(args)
        .env_remove("PERPLEX_DATA_DIR")
        .env("PERPLEX_PTB_URL", "http://127.0.0.1:9/unreachable")
        .output()
        .expect("the perplex binary runs")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The canonical PTB directory, if this machine has it: `PERPLEX_DATA_DIR` when set (set it to
/// a missing path to run the suite on generated data only), else `../shared/data/ptb`.
pub fn ptb_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("PERPLEX_DATA_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo().join("../shared/data/ptb"),
    };
    DataDir::new(&dir).is_complete().then_some(dir)
}

/// PTB for a check that needs it. Without PTB, says "skipped: no PTB" on stderr, where
/// `cargo test` shows it (it captures only the print macros), and returns `None`; with
/// `PERPLEX_REQUIRE_PTB` set (CI sets it), a missing PTB fails the test instead.
pub fn ptb_or_skip(check: &str) -> Option<PathBuf> {
    let dir = ptb_dir();
    if dir.is_none() {
        assert!(
            std::env::var_os("PERPLEX_REQUIRE_PTB").is_none(),
            "PERPLEX_REQUIRE_PTB is set but no PTB was found ({check})"
        );
        let _ = writeln!(std::io::stderr(), "skipped: no PTB ({check})");
    }
    dir
}

/// A corpus sampled from a Markov chain over `words` words with `branching` favoured
/// successors each (and 5% of the probability spread over every word), about 20 words a line
/// and `train_tokens` train tokens, written in the PTB layout to `dir`. With `branching` 4,
/// held-out text shares no 13-gram with train by chance.
pub fn markov_dir(
    dir: &Path,
    words: usize,
    branching: usize,
    train_tokens: usize,
    seed: u64,
) -> PathBuf {
    let chain = MarkovChain::new(ChainSpec {
        vocab: words + 1,
        branching,
        seed,
        ..ChainSpec::default()
    })
    .unwrap();
    DataDir::new(dir)
        .write(&sample_corpus(&chain, train_tokens, seed + 1).corpus, true)
        .unwrap();
    dir.to_owned()
}

/// PTB if present, else a generated corpus of 300 words in `tmp`.
pub fn corpus_dir(tmp: &Path) -> PathBuf {
    ptb_dir().unwrap_or_else(|| markov_dir(&tmp.join("synthetic"), 300, 4, 30_000, 7))
}

/// A small generated corpus of 50 words in `tmp` (fast to train and evaluate on), whatever
/// the machine has.
pub fn synthetic_dir(tmp: &Path) -> PathBuf {
    markov_dir(&tmp.join("synthetic-small"), 50, 4, 4_000, 3)
}

/// The records of a run's `metrics.jsonl`.
pub fn metrics(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Arguments of `perplex train` with `configs/<config>` into `runs/<name>` on `data`, followed
/// by `extra` (e.g. `--set` overrides).
pub fn train_args(
    config: &str,
    runs: &Path,
    name: &str,
    data: &Path,
    extra: &[&str],
) -> Vec<String> {
    let config = repo().join("configs").join(config);
    let mut args: Vec<String> = vec![
        "train".into(),
        "--config".into(),
        config.to_string_lossy().into_owned(),
        "--runs-dir".into(),
        runs.to_string_lossy().into_owned(),
        "--run-name".into(),
        name.into(),
        "--data-dir".into(),
        data.to_string_lossy().into_owned(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// `perplex eval --run RUN --json --data-dir DATA` followed by `extra`, its report parsed;
/// fails the test with eval's stderr when it fails.
pub fn eval_json(run: &Path, data: &Path, extra: &[&str]) -> Value {
    let (run, data) = (run.to_str().unwrap(), data.to_str().unwrap());
    let args = [&["eval", "--run", run, "--json", "--data-dir", data], extra].concat();
    let out = perplex(&args);
    assert!(out.status.success(), "eval failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs `perplex` with owned arguments (see [`perplex`]).
pub fn perplex_owned(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    perplex(&args)
}

/// Whether `python3` imports every module of `modules`; otherwise says the check is skipped
/// (on stderr, past the test harness's capture), or fails when `require` is set in the
/// environment.
pub fn python_has(modules: &str, require: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os(require).is_none(),
            "{require} is set but python3 cannot import {modules}"
        );
        let _ = writeln!(
            std::io::stderr(),
            "skipped: python3 cannot import {modules}"
        );
    }
    ok
}

/// Reads the run's TensorBoard event files with TensorBoard's own reader
/// (`tests/tensorboard_readback.py`). Skipped when Python's `tensorboard` is missing, unless
/// `PERPLEX_REQUIRE_TENSORBOARD` is set, as CI sets it.
pub fn tensorboard_reads_back(run: &Path) {
    if !python_has("tensorboard", "PERPLEX_REQUIRE_TENSORBOARD") {
        return;
    }
    let out = Command::new("python3")
        .arg(repo().join("tests/tensorboard_readback.py"))
        .arg(run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "TensorBoard read-back failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// `--set` overrides that make ptb-tiny quick: a narrow model, a few dozen steps.
pub const QUICK: &[&str] = &[
    "--set",
    "train.max_steps=30",
    "--set",
    "train.eval_every=15",
    "--set",
    "train.log_every=10",
    "--set",
    "train.warmup_steps=5",
    "--set",
    "model.d_model=32",
];

/// Trains ptb-tiny with [`QUICK`] into `tmp/runs/<name>` on `data`.
pub fn train_quick(tmp: &Path, data: &Path, name: &str) -> Output {
    perplex_owned(&train_args(
        "ptb-tiny.toml",
        &tmp.join("runs"),
        name,
        data,
        QUICK,
    ))
}

/// Trains ptb-tiny on `data` into `tmp/runs/<name>` with `sets`, without samples; returns the
/// run directory and its summary, failing the test with train's stderr when it fails.
pub fn tiny(tmp: &Path, data: &Path, name: &str, sets: &[&str]) -> (PathBuf, Value) {
    let runs = tmp.join("runs");
    let mut all = vec!["--set", "monitor.samples=0"];
    all.extend_from_slice(sets);
    let out = perplex_owned(&train_args("ptb-tiny.toml", &runs, name, data, &all));
    assert!(out.status.success(), "{name}: {}", stderr(&out));
    let run = runs.join(name);
    let summary =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    (run, summary)
}
