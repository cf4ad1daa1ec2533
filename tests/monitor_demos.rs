//! End-to-end tests of the monitor on real runs: the overfitting and regularised demos in
//! shortened form, the report picture, and `perplex watch` on a foreign log.

mod common;

use std::path::{Path, PathBuf};

use common::{corpus_dir, eval_json, metrics, perplex, perplex_owned, stderr, stdout, train_args};
use serde_json::Value;

/// The overfitting demonstration in shortened form: a small model on 5,000 training tokens.
/// Without regularisation the monitor must call `overfitting`, stop, and make the best
/// checkpoint the final one.
fn demo(tmp: &Path, data: &Path, config: &str, extra: &[&str]) -> (PathBuf, Value) {
    let runs = tmp.join("runs");
    let name = config.trim_end_matches(".toml");
    let mut sets = vec![
        "--set",
        "model.d_model=64",
        "--set",
        "model.layers=2",
        "--set",
        "model.heads=2",
        "--set",
        "data.max_train_tokens=5000",
        "--set",
        "train.eval_every=25",
        "--set",
        "monitor.samples=0",
    ];
    sets.extend_from_slice(extra);
    let args = train_args(config, &runs, name, data, &sets);
    let out = perplex_owned(&args);
    assert!(out.status.success(), "{config}: {}", stderr(&out));
    let run = runs.join(name);
    let summary =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    (run, summary)
}

fn states(run: &Path) -> Vec<String> {
    metrics(run)
        .iter()
        .filter(|r| r["kind"] == "eval")
        .map(|r| r["signals"][0]["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_overfitting_demo_is_caught_and_its_best_weights_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let data = corpus_dir(tmp.path());
    let (run, summary) = demo(
        tmp.path(),
        &data,
        "ptb-overfit.toml",
        &[
            "--set",
            "train.max_steps=400",
            "--set",
            "train.lr=3e-3",
            "--set",
            "train.min_lr=3e-3",
        ],
    );
    assert_eq!(summary["stop_reason"], "overfitting", "{summary}");
    assert_eq!(summary["stop"]["reason"], "overfitting", "{summary}");
    let stopped = summary["steps"].as_u64().unwrap();
    assert!(stopped < 400, "stopped early, at {stopped}");
    assert_eq!(states(&run).last().unwrap(), "overfitting");
    assert!(summary["best_step"].as_u64().unwrap() < stopped);
    assert_eq!(summary["restored_best"], true);
    // The final model is the best one: evaluating `last` gives the best val loss.
    let report = eval_json(&run, &data, &["--checkpoint", "last"]);
    assert_eq!(report["mean_nll"], summary["best_val_loss"]);
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let column = header.iter().position(|c| *c == "signals").unwrap();
    let last: Vec<&str> = csv.lines().last().unwrap().split(',').collect();
    assert_eq!(last[column], "overfitting", "{csv}");
    common::tensorboard_reads_back(&run);
    // The report: a picture of the promised size with something drawn on it, and a summary
    // naming the best step and the stop.
    let out = perplex(&["report", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let best = summary["best_step"].as_u64().unwrap();
    assert!(text.contains(&format!("best: step {best},")), "{text}");
    assert!(text.contains("stopped: overfitting"), "{text}");
    assert!(text.contains("overfitting@"), "{text}");
    assert_picture(&run.join("report.png"));
    let svg = std::fs::read_to_string(run.join("report.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("overfitting"));
}

/// The PNG is 1200×900 and not blank: most pixels are the white background, but thousands
/// are drawn in several colours.
fn assert_picture(path: &Path) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1200, 900));
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| &p[..3])
        .collect();
    let drawn = pixels.iter().filter(|p| **p != [255, 255, 255]).count();
    assert!(
        drawn > 5_000 && drawn < pixels.len() / 2,
        "{drawn} drawn pixels"
    );
    let colours: std::collections::HashSet<&[u8]> = pixels.iter().copied().collect();
    assert!(colours.len() > 10, "{} colours", colours.len());
}

#[test]
fn the_regularized_demo_stays_healthy() {
    let tmp = tempfile::tempdir().unwrap();
    let data = corpus_dir(tmp.path());
    let (run, summary) = demo(
        tmp.path(),
        &data,
        "ptb-regularized.toml",
        &[
            "--set",
            "train.max_steps=200",
            "--set",
            "data.max_train_tokens=50000",
        ],
    );
    assert_eq!(summary["stop_reason"], "max_steps", "{summary}");
    let states = states(&run);
    assert_eq!(states.len(), 8, "{states:?}");
    assert!(
        states
            .iter()
            .skip(1)
            .all(|s| s == "healthy" || s == "plateau"),
        "{states:?}"
    );
}

#[test]
fn watch_reads_a_hand_written_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log.csv");
    std::fs::write(
        &log,
        "iter,train_loss,val_loss\n0,9.2,\n100,6.0,6.1\n200,5.0,5.3\n300,4.2,5.2\n400,3.6,5.4\n500,3.1,5.8\n",
    )
    .unwrap();
    let out = perplex(&["watch", log.to_str().unwrap(), "--step-col", "iter"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("step 500: overfitting"), "{text}");
    assert!(text.contains("step 300: healthy"), "{text}");
    assert!(text.contains("run health"), "{text}");
    // `iter` is one of the step names watch knows: the flag is not needed.
    let out = perplex(&["watch", log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("step 500: overfitting"),
        "{}",
        stdout(&out)
    );
    std::fs::write(
        &log,
        "tick,train_loss
0,9.2
",
    )
    .unwrap();
    let out = perplex(&["watch", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("no step column") && err.contains("--step-col"),
        "{err}"
    );
}
