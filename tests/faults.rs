//! Faults a real run meets, injected for real: SIGKILL and resume, SIGINT, and a checkpoint
//! that cannot be written. Each asserts the message, the exit code and that nothing already on
//! disk was lost. (A non-finite loss is followed through the loop by perplex-train's own
//! tests, through a test-only seam.)

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use common::process::{
    RUN, checkpoint_step, interrupted_run, resume, run_args, signal, spawn, summary, wait_for_step,
};
use common::{metrics, perplex, perplex_owned, stderr, synthetic_dir};
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

/// Two kills and two resumes (state saved every step) end where an uninterrupted run does, bit
/// for bit: the loss window read back from state.bin must be the same f64 each time. Word
/// dropout is on, so its per-step masks (drawn from the step's seed) must come back too.
#[test]
fn a_run_killed_and_resumed_twice_reproduces_the_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let runs = tmp.path().join("runs");
    let every_step: Vec<&str> = RUN
        .iter()
        .copied()
        .chain(["--set", "train.checkpoint_every=1"])
        .chain(["--set", "model.word_dropout=0.1"])
        .collect();
    let args = |name: &str| common::train_args("ptb-tiny.toml", &runs, name, &data, &every_step);
    let out = perplex_owned(&args("reference"));
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = deterministic(&metrics(&runs.join("reference")));
    let run = runs.join("twice");
    let mut child = spawn(&args("twice"));
    wait_for_step(&run, 5, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let mut child = common::process::spawn(&[
        "train".into(),
        "--resume".into(),
        run.to_string_lossy().into_owned(),
        "--data-dir".into(),
        data.to_string_lossy().into_owned(),
    ]);
    wait_for_step(&run, 21, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let out = resume(&run, &data);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(deterministic(&metrics(&run)), expected);
}

/// While a run is being written, a second `train` of the same name (even with --overwrite)
/// and a `--resume` of it are refused, naming the writer; once it stops, resume works.
#[test]
fn a_second_writer_of_a_run_is_refused_while_the_first_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let runs = tmp.path().join("runs");
    let run = runs.join("busy");
    let mut child = spawn(&run_args(&runs, "busy", &data));
    wait_for_step(&run, 10, &mut child);
    let mut again = run_args(&runs, "busy", &data);
    again.push("--overwrite".into());
    let out = perplex_owned(&again);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let pid = format!("pid {}", child.id());
    assert!(stderr(&out).contains(&pid), "{}", stderr(&out));
    let out = resume(&run, &data);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("being written by another"),
        "{}",
        stderr(&out)
    );
    signal(&child, "INT");
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let out = resume(&run, &data);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `generate` prints tokens as they come, and Ctrl-C stops it with exit status 130 and what it
/// printed kept; `--top-k 0` is refused.
#[test]
fn generate_streams_its_tokens_and_stops_cleanly_on_ctrl_c() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let out = common::train_quick(tmp.path(), &data, "g");
    assert!(out.status.success(), "{}", stderr(&out));
    let run = tmp.path().join("runs/g");
    let r = run.to_str().unwrap();
    let out = perplex(&["generate", "--run", r, "--top-k", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--top-k 0"), "{}", stderr(&out));
    let mut child = Command::new(env!("CARGO_BIN_EXE_perplex"))
        .args(["generate", "--run", r, "--max-tokens", "100000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while seen.iter().filter(|&&b| b == b' ').count() < 20 {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "generate ended before printing 20 words");
        seen.extend_from_slice(&buf[..n]);
    }
    signal(&child, "INT");
    stdout.read_to_end(&mut seen).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped by Ctrl-C"));
    assert!(String::from_utf8_lossy(&seen).split_whitespace().count() >= 20);
}
