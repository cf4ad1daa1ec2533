//! Faults a real run meets, injected for real: SIGKILL and resume, SIGINT, a NaN loss, a
//! checkpoint that cannot be written, and bad input. Each asserts the message, the exit code
//! and that nothing already on disk was lost.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{metrics, perplex, perplex_owned, stderr, synthetic_dir};
use serde_json::Value;

/// A small, quick run with dropout on (so resuming must also restore the dropout stream),
/// checkpoints every 7 steps and evaluations every 100.
const RUN: &[&str] = &[
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

fn train_args(runs: &Path, name: &str, data: &Path) -> Vec<String> {
    common::train_args("ptb-tiny.toml", runs, name, data, RUN)
}

fn spawn(args: &[String], env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_perplex"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("PERPLEX_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the run has logged a training record at `step` or later.
fn wait_for_step(run: &Path, step: u64, child: &mut Child) {
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
fn interrupted_run(runs: &Path, name: &str, data: &Path, step: u64) -> PathBuf {
    let run = runs.join(name);
    let mut child = spawn(&train_args(runs, name, data), &[]);
    wait_for_step(&run, step, &mut child);
    signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("--resume"), "{err}");
    run
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name} failed");
}

/// The values a resumed run must reproduce exactly (wall-clock fields are left out).
fn deterministic(records: &[Value]) -> Vec<Vec<Value>> {
    let keys = [
        "kind",
        "step",
        "tokens_seen",
        "lr",
        "loss",
        "ppl",
        "eval_tokens",
        "best",
    ];
    records
        .iter()
        .map(|r| keys.iter().map(|k| r[*k].clone()).collect())
        .collect()
}

fn reference_run(tmp: &Path, data: &Path) -> Vec<Vec<Value>> {
    let runs = tmp.join("runs");
    let out = perplex_owned(&train_args(&runs, "reference", data));
    assert!(out.status.success(), "{}", stderr(&out));
    deterministic(&metrics(&runs.join("reference")))
}

fn resume(run: &Path, data: &Path) -> std::process::Output {
    perplex(&[
        "train",
        "--resume",
        run.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ])
}

fn summary(run: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap()
}

fn checkpoint_step(run: &Path, which: &str) -> u64 {
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

#[test]
fn a_run_killed_at_an_arbitrary_step_resumes_to_the_same_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let expected = reference_run(tmp.path(), &data);
    let runs = tmp.path().join("runs");
    let run = runs.join("killed");
    let mut child = spawn(&train_args(&runs, "killed", &data), &[]);
    wait_for_step(&run, 50, &mut child);
    child.kill().unwrap(); // SIGKILL: no chance to save anything
    child.wait().unwrap();
    assert!(
        !run.join("summary.json").exists(),
        "the run must not have finished"
    );

    let out = resume(&run, &data);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("resuming"), "{}", stderr(&out));
    assert_eq!(deterministic(&metrics(&run)), expected);
    // TensorBoard sees each step once: the records the killed session wrote after its last
    // saved state are replaced, not doubled.
    common::tensorboard_reads_back(&run);
}

#[test]
fn ctrl_c_saves_exits_130_and_resumes_to_the_same_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let expected = reference_run(tmp.path(), &data);
    let runs = tmp.path().join("runs");
    let run = interrupted_run(&runs, "interrupted", &data, 40);
    let s = summary(&run);
    assert_eq!(s["stop_reason"], "interrupted");
    let stopped_at = s["steps"].as_u64().unwrap();
    assert!(stopped_at < 400);
    assert_eq!(
        checkpoint_step(&run, "last"),
        stopped_at,
        "the last checkpoint is the stop"
    );

    let out = resume(&run, &data);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(deterministic(&metrics(&run)), expected);
    assert_eq!(summary(&run)["stop_reason"], "max_steps");

    // A finished run is not resumed again.
    let out = resume(&run, &data);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("already finished"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_second_ctrl_c_exits_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let runs = tmp.path().join("runs");
    // Slow steps (a wide model), so the run is still finishing its step when the second
    // signal comes: with fast steps the first interrupt completes before any second one.
    let mut sets: Vec<&str> = RUN.to_vec();
    sets.extend(["--set", "model.d_model=256", "--set", "train.batch_size=64"]);
    let args = common::train_args("ptb-tiny.toml", &runs, "twice", &data, &sets);
    let mut child = spawn(&args, &[]);
    wait_for_step(&runs.join("twice"), 3, &mut child);
    signal(&child, "INT");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("interrupt: finishing this step") {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "no interrupt message: {seen}"
        );
        seen.push_str(&line);
    }
    signal(&child, "INT");
    stderr.read_to_string(&mut seen).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}");
    assert!(seen.contains("second interrupt: exiting now"), "{seen}");
    assert!(
        !runs.join("twice/summary.json").exists(),
        "an immediate exit writes no summary"
    );
}

#[test]
fn a_nan_loss_stops_at_once_and_keeps_the_best_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let runs = tmp.path().join("runs");
    let run = runs.join("nan");
    let child = spawn(
        &train_args(&runs, "nan", &data),
        &[("PERPLEX_INJECT_NAN_AT_STEP", "103")],
    );
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("step 103") && err.contains("not finite"),
        "{err}"
    );
    assert_eq!(summary(&run)["stop_reason"], "non_finite");
    assert_eq!(checkpoint_step(&run, "best"), 100);
    assert_eq!(
        checkpoint_step(&run, "last"),
        100,
        "nothing was saved after the NaN"
    );
    let last_record = metrics(&run).last().unwrap().clone();
    assert!(last_record["step"].as_u64().unwrap() <= 102);
}

#[test]
fn a_checkpoint_that_cannot_be_written_is_an_error_and_the_previous_one_survives() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let runs = tmp.path().join("runs");
    let run = interrupted_run(&runs, "blocked", &data, 20);
    let saved_at = checkpoint_step(&run, "last");
    // A directory where the temporary file must go: the write fails as on a full disk.
    let blocker = run.join("checkpoints/.last.safetensors.tmp");
    std::fs::create_dir(&blocker).unwrap();
    let out = resume(&run, &data);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("last.safetensors"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir(&blocker).unwrap();
    assert_eq!(
        checkpoint_step(&run, "last"),
        saved_at,
        "the previous checkpoint is intact"
    );
}

/// Writes a PTB-layout directory whose `split` file holds `bytes`.
fn corpus_with(tmp: &Path, split: &str, bytes: &[u8]) -> PathBuf {
    let dir = synthetic_dir(tmp);
    std::fs::write(dir.join(format!("ptb.{split}.txt")), bytes).unwrap();
    dir
}

#[test]
fn bad_corpus_files_are_refused_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let cases: [(&str, &[u8], &str); 2] = [
        ("valid", b" \n\n", "ptb.valid.txt: the file is empty"),
        (
            "train",
            b" a b\n c d\n e \xff f\n",
            "ptb.train.txt:3: the text is not valid UTF-8",
        ),
    ];
    for (split, bytes, message) in cases {
        let case = tempfile::tempdir().unwrap();
        let data = corpus_with(case.path(), split, bytes);
        let out = perplex_owned(&train_args(&runs, "bad", &data));
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains(message), "{split}: {}", stderr(&out));
        assert!(
            !runs.join("bad").exists(),
            "no run directory for a refused run"
        );
    }
    // A split that cannot be read at all (a directory where the file should be).
    let data = synthetic_dir(tmp.path());
    std::fs::remove_file(data.join("ptb.test.txt")).unwrap();
    std::fs::create_dir(data.join("ptb.test.txt")).unwrap();
    let out = perplex(&["data", "stats", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ptb.test.txt"), "{}", stderr(&out));
}

#[test]
fn resume_and_eval_refuse_a_run_that_does_not_match() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let runs = tmp.path().join("runs");
    let run = interrupted_run(&runs, "mismatch", &data, 20);
    let state_before = std::fs::read(run.join("checkpoints/state.bin")).unwrap();

    // Another corpus means another vocabulary: the saved ids would mean other words.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    for split in ["train", "valid", "test"] {
        std::fs::write(other.join(format!("ptb.{split}.txt")), " x y z\n y z x\n").unwrap();
    }
    let out = resume(&run, &other);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("tokenizer"), "{}", stderr(&out));

    // A run config edited after the fact no longer fits the saved weights.
    let config = run.join("config.toml");
    let original = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, original.replace("layers = 2", "layers = 3")).unwrap();
    let out = resume(&run, &data);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("differs from the run's config"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&config, original).unwrap();
    assert_eq!(
        std::fs::read(run.join("checkpoints/state.bin")).unwrap(),
        state_before
    );

    // A checkpoint paired with a tokenizer it was not trained with.
    std::fs::copy(
        run.join("tokenizer.json"),
        tmp.path().join("tokenizer.json.bak"),
    )
    .unwrap();
    let out = perplex(&["data", "stats", "--data-dir", other.to_str().unwrap()]);
    assert!(out.status.success());
    let json = std::fs::read_to_string(run.join("tokenizer.json")).unwrap();
    std::fs::write(
        run.join("tokenizer.json"),
        json.replace("\"w1\"", "\"w1x\""),
    )
    .unwrap();
    let out = perplex(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--checkpoint",
        "last",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ids would mean other words"),
        "{}",
        stderr(&out)
    );

    // A corrupted state file is a clear error naming it, not a panic.
    std::fs::write(
        run.join("checkpoints/state.bin"),
        &state_before[..state_before.len() / 2],
    )
    .unwrap();
    let out = resume(&run, &data);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("state.bin"), "{}", stderr(&out));
}
