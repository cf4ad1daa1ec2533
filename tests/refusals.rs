//! Input that must be refused, each with one message naming the file, line or key, exit
//! status 1, and nothing on disk changed: bad corpus files, and a run resumed or evaluated with
//! a corpus, config, tokenizer or state it was not trained with.

mod common;

use std::path::{Path, PathBuf};

use common::process::{interrupted_run, resume, run_args};
use common::{perplex, perplex_owned, stderr, synthetic_dir};

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
        let out = perplex_owned(&run_args(&runs, "bad", &data));
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

/// Another corpus or an edited config: resume refuses it and the state is untouched.
#[test]
fn resume_refuses_another_corpus_and_an_edited_config() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let run = interrupted_run(&tmp.path().join("runs"), "mismatch", &data, 20);
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
    assert_eq!(
        std::fs::read(run.join("checkpoints/state.bin")).unwrap(),
        state_before
    );
}

/// A tokenizer edited after training: eval refuses the checkpoint and resume the corpus.
/// A truncated state file: a clear error naming it, not a panic.
#[test]
fn an_edited_tokenizer_or_a_truncated_state_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let run = interrupted_run(&tmp.path().join("runs"), "edited", &data, 20);
    let tokenizer = run.join("tokenizer.json");
    let original = std::fs::read_to_string(&tokenizer).unwrap();
    assert!(original.contains("\"w1\""), "the test edits the word w1");
    std::fs::write(&tokenizer, original.replace("\"w1\"", "\"w1x\"")).unwrap();
    let (r, d) = (run.to_str().unwrap(), data.to_str().unwrap());
    let out = perplex(&["eval", "--run", r, "--checkpoint", "last", "--data-dir", d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ids would mean other words"),
        "{}",
        stderr(&out)
    );
    let out = resume(&run, &data);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not the run's"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&tokenizer, original).unwrap();

    let state = run.join("checkpoints/state.bin");
    let bytes = std::fs::read(&state).unwrap();
    std::fs::write(&state, &bytes[..bytes.len() / 2]).unwrap();
    let out = resume(&run, &data);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("state.bin"), "{}", stderr(&out));
}

/// The same vocabulary with other text: resume refuses, since its best loss and its curves
/// would mix two datasets.
#[test]
fn resume_refuses_other_text_under_the_same_vocabulary() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let run = interrupted_run(&tmp.path().join("runs"), "swap", &data, 20);
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    for split in ["train", "valid", "test"] {
        let name = format!("ptb.{split}.txt");
        std::fs::copy(data.join(&name), other.join(&name)).unwrap();
    }
    // Valid in reverse line order: the same words, another stream.
    let valid = std::fs::read_to_string(data.join("ptb.valid.txt")).unwrap();
    let reversed: String = valid.lines().rev().map(|l| format!("{l}\n")).collect();
    std::fs::write(other.join("ptb.valid.txt"), reversed).unwrap();
    let out = resume(&run, &other);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("valid stream"), "{}", stderr(&out));
}

/// 1 KiB overwritten inside the state or a checkpoint: refused by name, not resumed or
/// evaluated with other numbers.
#[test]
fn damage_inside_the_state_or_a_checkpoint_is_refused_by_its_checksum() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let run = interrupted_run(&tmp.path().join("runs"), "damaged", &data, 20);
    let damage = |path: &Path| {
        let mut bytes = std::fs::read(path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid..mid + 1024].fill(0xff);
        std::fs::write(path, bytes).unwrap();
    };
    damage(&run.join("checkpoints/last.safetensors"));
    let (r, d) = (run.to_str().unwrap(), data.to_str().unwrap());
    let out = perplex(&["eval", "--run", r, "--checkpoint", "last", "--data-dir", d]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("last.safetensors") && err.contains("checksum"),
        "{err}"
    );
    damage(&run.join("checkpoints/state.bin"));
    let out = resume(&run, &data);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("state.bin") && err.contains("checksum"),
        "{err}"
    );
}

/// A damaged metrics history is mended on resume and said so: a garbled line rebuilt from
/// metrics.csv, a cut-short last line dropped, the damaged file kept; a missing one rebuilt.
#[test]
fn resume_mends_a_damaged_metrics_history_and_says_what_it_did() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let run = interrupted_run(&tmp.path().join("runs"), "mend", &data, 20);
    let path = run.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let last = lines.pop().unwrap();
    let damaged = format!(
        "garbage\n{}\n{}",
        lines[1..].join("\n"),
        &last[..last.len() / 2]
    );
    std::fs::write(&path, damaged).unwrap();
    // Killed between the two files: the cut line's CSV row was never written.
    let csv_path = run.join("metrics.csv");
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    std::fs::write(&csv_path, rows[..rows.len() - 1].join("\n") + "\n").unwrap();
    let out = resume(&run, &data);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("line 1 is not a record; rebuilt from metrics.csv"),
        "{err}"
    );
    assert!(err.contains("is cut short"), "{err}");
    let records = common::metrics(&run);
    assert_eq!(records[0]["kind"], "baseline", "rebuilt from the CSV");
    let kept = std::fs::read_dir(&run)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".damaged-")
        })
        .count();
    assert_eq!(kept, 1);
    // A missing metrics.jsonl is rebuilt from metrics.csv, and said so.
    let run = interrupted_run(&tmp.path().join("runs"), "lost", &data, 20);
    std::fs::remove_file(run.join("metrics.jsonl")).unwrap();
    let out = resume(&run, &data);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is missing; rebuilt"),
        "{}",
        stderr(&out)
    );
    assert_eq!(common::metrics(&run)[0]["kind"], "baseline");
}

/// A run whose lock cannot be taken (here its lock file's place is taken by a directory, as a
/// read-only runs directory would refuse it) says so, naming the run.
#[test]
fn a_run_that_cannot_be_locked_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let run = interrupted_run(&tmp.path().join("runs"), "locked", &data, 20);
    std::fs::remove_file(tmp.path().join("runs/.locked.lock")).unwrap();
    std::fs::create_dir(tmp.path().join("runs/.locked.lock")).unwrap();
    let out = resume(&run, &data);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot lock the run"),
        "{}",
        stderr(&out)
    );
}
