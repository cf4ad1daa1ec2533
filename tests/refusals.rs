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
