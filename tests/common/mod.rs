//! Helpers shared by the end-to-end tests: running the binary, finding or making a corpus,
//! reading a run's metrics.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use perplex_data::DataDir;
use perplex_data::synth::{MarkovSpec, markov_corpus, write_ptb_layout};
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

/// PTB if present, else a generated corpus in `tmp`.
pub fn corpus_dir(tmp: &Path) -> PathBuf {
    if let Some(dir) = ptb_dir() {
        return dir;
    }
    let dir = tmp.join("synthetic");
    let spec = MarkovSpec {
        words: 300,
        successors: 3,
        train_lines: 3000,
        seed: 7,
    };
    write_ptb_layout(&markov_corpus(&spec), &DataDir::new(&dir)).unwrap();
    dir
}

/// A small generated corpus in `tmp` (fast to train and evaluate on), whatever the machine has.
pub fn synthetic_dir(tmp: &Path) -> PathBuf {
    let dir = tmp.join("synthetic-small");
    let spec = MarkovSpec {
        words: 50,
        successors: 2,
        train_lines: 400,
        seed: 3,
    };
    write_ptb_layout(&markov_corpus(&spec), &DataDir::new(&dir)).unwrap();
    dir
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

/// Runs `perplex` with owned arguments (see [`perplex`]).
pub fn perplex_owned(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    perplex(&args)
}

/// Reads the run's TensorBoard event files with TensorBoard's own reader
/// (`tests/tensorboard_readback.py`). Skipped when Python's `tensorboard` is missing, unless
/// `PERPLEX_REQUIRE_TENSORBOARD` is set, as CI sets it.
pub fn tensorboard_reads_back(run: &Path) {
    let have = Command::new("python3")
        .args(["-c", "import tensorboard"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            std::env::var_os("PERPLEX_REQUIRE_TENSORBOARD").is_none(),
            "PERPLEX_REQUIRE_TENSORBOARD is set but `import tensorboard` fails"
        );
        eprintln!("python3 with tensorboard not found: skipping the event-file read-back");
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
