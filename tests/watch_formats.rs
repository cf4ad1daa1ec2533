//! `perplex watch` over the logs other trainers write: a PyTorch-style JSON-lines log with a
//! config record, nanoGPT's printed log, TensorBoard event directories (perplex's own, and
//! those of PyTorch, TensorBoard and Keras writers when Python has them), losses in bits or
//! perplexities, and `--follow` on a growing file and a growing event directory.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::process::signal;
use common::{perplex, python_has, repo, stderr, stdout, synthetic_dir, train_quick};
use perplex_monitor::sinks::tensorboard::EventWriter;

/// `step N: state` of every judged evaluation in `perplex watch`'s output.
fn states(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains("(health "))
        .map(|l| l.split(" (health").next().unwrap().to_string())
        .collect()
}

fn watch(args: &[&str]) -> String {
    let out = perplex(&[&["watch"], args].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn a_config_record_and_other_records_without_losses_are_skipped_and_said_once() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("train_log.jsonl");
    std::fs::write(
        &log,
        r#"{"config": {"lr": 0.0003, "batch_size": 64}}
{"step": 0, "train_loss": 10.9}
{"step": 200, "train_loss": 6.2}
{"step": 200, "val_loss": 6.4}
{"event": "checkpoint", "path": "ckpt.pt"}
{"step": 400, "train_loss": 5.5}
{"step": 400, "val_loss": 5.9}
"#,
    )
    .unwrap();
    let text = watch(&[log.to_str().unwrap()]);
    assert_eq!(
        text.matches("skipped: no numeric `step`").count(),
        1,
        "said once: {text}"
    );
    assert!(text.contains("line 1 skipped"), "{text}");
    assert!(text.contains("2 lines skipped"), "{text}");
    assert_eq!(
        states(&text),
        ["step 200: warming_up", "step 400: healthy"],
        "{text}"
    );
}

const NANOGPT: &str = "\
tokens per iteration will be: 16,384
number of parameters: 10.65M
step 0: train loss 4.2874, val loss 4.2823
iter 0: loss 4.2654, time 29820.38ms, mfu -100.00%
step 250: train loss 1.9669, val loss 2.0757
iter 250: loss 1.9500, time 101.20ms, mfu 3.68%
saving checkpoint to out-shakespeare-char
step 500: train loss 1.5307, val loss 1.7210
step 750: train loss 1.3650, val loss 1.4756
step 1000: train loss 1.2718, val loss 1.4870
step 1250: train loss 1.2063, val loss 1.4994
";

#[test]
fn a_nanogpt_log_is_judged_with_its_eval_mode_train_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("train.log");
    std::fs::write(&log, NANOGPT).unwrap();
    let text = watch(&[log.to_str().unwrap(), "--vocab-size", "65"]);
    assert!(text.contains("as nanoGPT text"), "{text}");
    assert!(text.contains("3 lines skipped"), "{text}");
    // Step 0 is a fresh model just above ln 65 = 4.17: its starting level, not divergence.
    assert_eq!(
        states(&text),
        [
            "step 0: warming_up",
            "step 250: healthy",
            "step 500: healthy",
            "step 750: healthy",
            "step 1000: healthy",
            "step 1250: overfitting"
        ],
        "{text}"
    );
    assert!(text.contains("(1.3650 → 1.2063)"), "{text}");
}

/// The same run read from its event files and from its metrics.jsonl is judged the same.
#[test]
fn a_perplex_run_directory_is_read_from_its_own_event_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let out = train_quick(tmp.path(), &data, "q");
    assert!(out.status.success(), "{}", stderr(&out));
    let run = tmp.path().join("runs/q");
    let from_events = watch(&[run.to_str().unwrap()]);
    assert!(
        from_events.contains("tags: train loss `train/loss`, val loss `val/loss`"),
        "{from_events}"
    );
    let from_jsonl = watch(&[run.join("metrics.jsonl").to_str().unwrap()]);
    assert_eq!(states(&from_events).len(), 2, "{from_events}");
    assert_eq!(states(&from_events), states(&from_jsonl));
}

/// Writes the overfitting curve of `tests/write_tb.py` with `writer` into `dir`.
fn write_events(writer: &str, dir: &Path) {
    let out = Command::new("python3")
        .arg(repo().join("tests/write_tb.py"))
        .args([writer, dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{writer}: {}", stderr(&out));
}

fn assert_overfitting_found(dir: &Path, tags: &str) {
    let text = watch(&[dir.to_str().unwrap()]);
    assert!(text.contains(tags), "{text}");
    assert_eq!(
        states(&text),
        [
            "step 100: warming_up",
            "step 200: healthy",
            "step 300: healthy",
            "step 400: healthy",
            "step 500: overfitting"
        ],
        "{text}"
    );
}

#[test]
fn event_directories_of_tensorboard_and_keras_writers_are_read() {
    if !python_has("tensorboard", "PERPLEX_REQUIRE_TENSORBOARD") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tb");
    write_events("tensorboard", &dir);
    assert_overfitting_found(&dir, "tags: train loss `train_loss`, val loss `val_loss`");
    let keras = tmp.path().join("keras");
    write_events("keras", &keras);
    assert_overfitting_found(
        &keras,
        "tags: train loss `train/epoch_loss`, val loss `validation/epoch_loss`",
    );
    let out = perplex(&["watch", dir.to_str().unwrap(), "--val-tag", "Loss/val"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no scalar tag `Loss/val`"), "{err}");
    assert!(err.contains("\"train_loss\", \"val_loss\""), "{err}");
}

#[test]
fn an_event_directory_of_pytorch_s_summary_writer_is_read() {
    if !python_has("torch.utils.tensorboard", "PERPLEX_REQUIRE_TORCH") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("torch");
    write_events("torch", &dir);
    assert_overfitting_found(&dir, "tags: train loss `Loss/train`, val loss `Loss/val`");
}

/// A perplexity of 90 with 100 words is below the uniform guess; read as nats it would be far
/// above it.
#[test]
fn losses_in_bits_and_perplexities_are_judged_in_nats() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = [(0, 4.6, None), (100, 4.5, Some(4.5)), (200, 4.0, Some(4.1))];
    let write = |name: &str, f: fn(f64) -> f64| {
        let path = tmp.path().join(name);
        let mut text = String::from("step,train_loss,val_loss\n");
        for (step, train, val) in nats {
            let val = val.map(|v| f(v).to_string()).unwrap_or_default();
            text += &format!("{step},{},{val}\n", f(train));
        }
        std::fs::write(&path, text).unwrap();
        path
    };
    let in_nats = write("nats.csv", |x| x);
    let in_bits = write("bits.csv", |x| x / std::f64::consts::LN_2);
    let in_ppl = write("ppl.csv", f64::exp);
    let reference = watch(&[in_nats.to_str().unwrap(), "--vocab-size", "100"]);
    assert_eq!(
        states(&reference),
        ["step 100: warming_up", "step 200: healthy"]
    );
    for (path, unit) in [(&in_bits, "bits"), (&in_ppl, "ppl")] {
        let text = watch(&[
            path.to_str().unwrap(),
            "--unit",
            unit,
            "--vocab-size",
            "100",
        ]);
        assert!(text.contains(&format!("losses in {unit}")), "{text}");
        assert_eq!(states(&text), states(&reference), "{unit}: {text}");
    }
    // Perplexities read as nats are far above ln 100: the run looks diverged, and exits 4.
    let out = perplex(&["watch", in_ppl.to_str().unwrap(), "--vocab-size", "100"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let misread = stdout(&out);
    assert!(misread.contains("step 100: diverged"), "{misread}");
}

/// Starts `perplex watch --follow` on `log` and waits for its first line (printed once the
/// Ctrl-C handler is in place).
fn follow(log: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_perplex"))
        .args(["watch", "--follow", log.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let stdout = child.stdout.as_mut().unwrap();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    (child, first)
}

/// Ctrl-C after the log stopped growing: the rest of the output, which must end in the
/// summary with status 0.
fn stop(mut child: Child) -> String {
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "INT");
    let mut rest = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut rest)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}: {rest}");
    rest
}

#[test]
fn follow_reads_a_csv_as_it_grows_even_mid_line() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log.csv");
    std::fs::write(&log, "step,train_loss,val_loss\n").unwrap();
    let (child, first) = follow(&log);
    assert!(first.contains("as CSV"), "{first}");
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(b"100,6.0,6.1\n200,5.0,5.").unwrap();
    file.flush().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    file.write_all(b"3\n").unwrap();
    let rest = stop(child);
    assert_eq!(
        states(&rest),
        ["step 100: warming_up", "step 200: healthy"],
        "{rest}"
    );
    assert!(rest.contains("val loss 5.3000 is a new best"), "{rest}");
    assert!(rest.trim_end().ends_with("run health 95/100"), "{rest}");
}

#[test]
fn follow_reads_an_event_directory_as_it_grows() {
    let tmp = tempfile::tempdir().unwrap();
    let (child, first) = follow(tmp.path());
    assert!(first.contains("as TensorBoard events"), "{first}");
    let mut events = EventWriter::create(tmp.path()).unwrap();
    for (step, loss) in [(100, 6.0), (200, 5.0)] {
        events.scalar("train/loss", step, loss).unwrap();
    }
    std::thread::sleep(Duration::from_millis(700));
    for (step, loss) in [(100, 6.1), (200, 5.3)] {
        events.scalar("val/loss", step, loss).unwrap();
    }
    let rest = stop(child);
    assert!(rest.contains("val loss `val/loss`"), "{rest}");
    assert_eq!(
        states(&rest),
        ["step 100: warming_up", "step 200: healthy"],
        "{rest}"
    );
}

/// `perplex watch LOG | head -1`: the reader goes away after one line; perplex must end
/// quietly, as `cat` does, not panic about printing to stdout.
#[test]
fn a_closed_pipe_ends_watch_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("long.csv");
    let rows: String = (1..=20_000)
        .map(|i| format!("{i},{:.4},{:.4}\n", 5.0 - i as f64 * 1e-4, 5.1))
        .collect();
    std::fs::write(&log, format!("step,train_loss,val_loss\n{rows}")).unwrap();
    let (child, first) = {
        let mut child = Command::new(env!("CARGO_BIN_EXE_perplex"))
            .args(["watch", log.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        (child, first) // the reader, and with it the pipe, is dropped here
    };
    assert!(first.contains("as CSV"), "{first}");
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.status.success(), "stopped by the closed pipe");
}

/// The Trainer rewrites `trainer_state.json` whole at each checkpoint: `--follow` reads it
/// again when it changes and judges only the evaluations it had not seen.
#[test]
fn follow_reads_a_trainer_state_again_when_the_trainer_rewrites_it() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("trainer_state.json");
    let state = |evals: &[(u64, f64)]| {
        let history: Vec<String> = evals
            .iter()
            .map(|(step, loss)| format!(r#"{{"step": {step}, "eval_loss": {loss}}}"#))
            .collect();
        format!(
            "{{\n  \"max_steps\": 100,\n  \"log_history\": [{}]\n}}\n",
            history.join(",")
        )
    };
    // Nothing to judge yet, so the first line printed is the only one `follow` reads.
    std::fs::write(&log, state(&[])).unwrap();
    let (child, first) = follow(&log);
    assert!(
        first.contains("as Hugging Face trainer_state.json"),
        "{first}"
    );
    std::fs::write(&log, state(&[(10, 2.0), (20, 1.8)])).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    std::fs::write(&log, state(&[(10, 2.0), (20, 1.8), (30, 1.7)])).unwrap();
    let rest = stop(child);
    assert_eq!(
        states(&rest),
        [
            "step 10: warming_up",
            "step 20: healthy",
            "step 30: healthy"
        ],
        "{rest}"
    );
}
