//! Helpers for tests that drive a training process: start it, wait for a step, signal it,
//! resume it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{perplex, stderr};

/// A small, quick run with dropout on (so resuming must also restore the dropout stream),
/// checkpoints every 7 steps and evaluations every 100.
pub const RUN: &[&str] = &[
    "--set",
    "train.max_steps=400",
    "--set",
    "train.eval_every=100",
    "--set",
    "train.log_every=3",
    "--set",
    "train.checkpoint_every=7",
    "--set",
    "train.warmup_steps=10",
    "--set",
    "train.batch_size=8",
    "--set",
    "model.ctx=16",
    "--set",
    "model.d_model=32",
    "--set",
    "model.dropout=0.1",
];

/// `perplex train` arguments for [`RUN`] as `runs/<name>` on `data`.
pub fn run_args(runs: &Path, name: &str, data: &Path) -> Vec<String> {
    super::train_args("ptb-tiny.toml", runs, name, data, RUN)
}

/// Starts `perplex` with `args` (stderr piped, no data directory from the environment).
pub fn spawn(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_perplex"))
        .args(args)
        .env_remove("PERPLEX_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the run has logged a training record at `step` or later.
pub fn wait_for_step(run: &Path, step: u64, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let reached = std::fs::read_to_string(run.join("metrics.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|r| r["step"].as_u64() >= Some(step));
        if reached {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before step {step}"
        );
        assert!(
            Instant::now() < deadline,
            "no step {step} within two minutes"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Starts the run `name`, interrupts it with SIGINT once it has logged `step`, and checks
/// that it saved and exited with status 130. Returns the run directory.
pub fn interrupted_run(runs: &Path, name: &str, data: &Path, step: u64) -> PathBuf {
    let run = runs.join(name);
    let mut child = spawn(&run_args(runs, name, data));
    wait_for_step(&run, step, &mut child);
    signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("--resume"), "{err}");
    run
}

/// Sends signal `name` (INT, TERM, …) to `child`.
pub fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name} failed");
}

/// `perplex train --resume run` on `data`.
pub fn resume(run: &Path, data: &Path) -> Output {
    perplex(&[
        "train",
        "--resume",
        run.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ])
}

/// The run's `summary.json`.
pub fn summary(run: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap()
}

/// The step of the run's `which` checkpoint, as `perplex eval` reports it.
pub fn checkpoint_step(run: &Path, which: &str) -> u64 {
    let out = perplex(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--checkpoint",
        which,
        "--json",
        "--data-dir",
        run.parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("synthetic-small")
            .to_str()
            .unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["step"].as_u64().unwrap()
}
