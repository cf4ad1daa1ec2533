//! Faults a real run meets, injected for real: SIGKILL and resume, SIGINT, and a checkpoint
//! that cannot be written. Each asserts the message, the exit code and that nothing already on
//! disk was lost. (A non-finite loss is followed through the loop by perplex-train's own
//! tests, through a test-only seam.)

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use common::process::{
    RUN, checkpoint_step, interrupted_run, resume, run_args, signal, spawn, summary, wait_for_step,
};
use common::{metrics, perplex_owned, stderr, synthetic_dir};
use serde_json::Value;

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
    let out = perplex_owned(&run_args(&runs, "reference", data));
    assert!(out.status.success(), "{}", stderr(&out));
    deterministic(&metrics(&runs.join("reference")))
}

#[test]
fn a_run_killed_at_an_arbitrary_step_resumes_to_the_same_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let expected = reference_run(tmp.path(), &data);
    let runs = tmp.path().join("runs");
    let run = runs.join("killed");
    let mut child = spawn(&run_args(&runs, "killed", &data));
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
    let mut child = spawn(&args);
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
