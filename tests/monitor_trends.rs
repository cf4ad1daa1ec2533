//! End-to-end tests of the monitor's newer readings on real PTB runs: a loss that climbs back
//! (`diverging`, stopped with the best weights kept), the forecast in every record and in
//! `perplex watch`, and `perplex lr-find`.

mod common;

use std::path::{Path, PathBuf};

use common::{metrics, perplex, ptb_or_skip, stderr, stdout};
use serde_json::Value;

/// Trains ptb-tiny on PTB as `name` with `sets`, evaluating every 50 steps.
fn tiny(tmp: &Path, ptb: &Path, name: &str, sets: &[&str]) -> (PathBuf, Value) {
    let every = ["--set", "train.eval_every=50"];
    common::tiny(tmp, ptb, name, &[&every[..], sets].concat())
}

fn evals(run: &Path) -> Vec<Value> {
    metrics(run)
        .into_iter()
        .filter(|r| r["kind"] == "eval")
        .collect()
}

/// The slow blow-up: a warm-up that keeps raising the rate to 0.12 without clipping.
/// Validation falls below the unigram level, then climbs back with the training loss: that is
/// `diverging` (not `plateau`), the run stops, and its final weights are its best.
#[test]
fn a_loss_climbing_back_with_the_train_loss_is_diverging_and_stopped() {
    let Some(ptb) = ptb_or_skip("the slow blow-up") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let sets = [
        "--set",
        "train.lr=0.12",
        "--set",
        "train.min_lr=0.12",
        "--set",
        "train.warmup_steps=999",
        "--set",
        "train.max_steps=1000",
        "--set",
        "train.grad_clip=0",
    ];
    let (run, summary) = tiny(tmp.path(), &ptb, "slow", &sets);
    let records = evals(&run);
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["signals"][0]["kind"].as_str().unwrap())
        .collect();
    let at = kinds.iter().position(|k| *k == "diverging");
    let at = at.unwrap_or_else(|| panic!("never diverging: {kinds:?}"));
    assert_eq!(at, kinds.len() - 1, "stopped at the first: {kinds:?}");
    let stop = &summary["stop"];
    assert_eq!(stop["reason"], "diverging", "{summary}");
    let best_step = summary["best_step"].as_u64().unwrap();
    assert!(best_step < stop["step"].as_u64().unwrap(), "{summary}");
    assert!(summary["restored_best"].as_bool().unwrap(), "{summary}");
    let evidence = records[at]["signals"][0]["evidence"].as_str().unwrap();
    assert!(evidence.contains("still rising"), "{evidence}");
    assert!(!evidence.contains("cosine"), "{evidence}");
    let health = |r: &Value| r["health"].as_f64().unwrap();
    let best = records.iter().find(|r| r["best"] == true).unwrap();
    assert!(health(&records[at]) < health(best) - 30.0, "{kinds:?}");
}

/// Every evaluation of ptb-tiny after the fifth carries a fitted forecast for step 600 whose
/// interval holds the loss the run reached; `perplex watch --max-steps` prints the same.
#[test]
fn each_evaluation_forecasts_the_last_step_and_watch_shows_it() {
    let Some(ptb) = ptb_or_skip("the forecast") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (run, summary) = tiny(tmp.path(), &ptb, "tiny", &[]);
    let records = evals(&run);
    let last = &records[records.len() - 1];
    assert_eq!(last["forecast"]["reason"]["why"], "at_horizon", "{last}");
    let fitted: Vec<&Value> = records
        .iter()
        .map(|r| &r["forecast"])
        .filter(|f| f["status"] == "fitted")
        .collect();
    assert_eq!(fitted.len(), records.len() - 5, "{records:?}");
    let final_loss = summary["best_val_loss"].as_f64().unwrap();
    let mid = fitted[fitted.len() / 2];
    assert_eq!(mid["step"], 600);
    let (low, high) = (mid["low"].as_f64().unwrap(), mid["high"].as_f64().unwrap());
    assert!(
        low <= final_loss && final_loss <= high,
        "{final_loss} vs {mid}"
    );
    let log = run.join("metrics.jsonl");
    let out = perplex(&["watch", log.to_str().unwrap(), "--max-steps", "600"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("forecast for step 600: val loss"), "{text}");
    let out = perplex(&["watch", log.to_str().unwrap()]);
    assert!(stdout(&out).contains("no forecast: the run's last step is unknown"));
}

/// `perplex lr-find` on ptb-tiny: one JSON object with a suggestion in the range where Adam
/// trains a small GPT, the curve drawn, and no run directory left behind.
#[test]
fn lr_find_suggests_a_rate_draws_its_curve_and_leaves_no_run() {
    let Some(ptb) = ptb_or_skip("lr-find") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let config = common::repo().join("configs/ptb-tiny.toml");
    let png = tmp.path().join("curve.png");
    // `perplex lr-find` on ptb-tiny in `tmp`, drawing to `png`, with `flags` before the rest.
    let lr_find = |flags: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_perplex"))
            .current_dir(tmp.path())
            .arg("lr-find")
            .args(flags)
            .arg("--config")
            .arg(&config)
            .arg("--plot")
            .arg(&png)
            .arg("--data-dir")
            .arg(&ptb)
            .output()
            .unwrap()
    };
    let out = lr_find(&["--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lr = report["suggested_lr"].as_f64().unwrap();
    assert!((1e-4..1e-1).contains(&lr), "{report}");
    assert_eq!(report["rule"], "steepest_descent");
    assert!(
        ["exploded", "completed"].contains(&report["end"].as_str().unwrap()),
        "{report}"
    );
    assert!(report["steps"].as_u64().unwrap() <= 300, "{report}");
    assert!(std::fs::metadata(&png).unwrap().len() > 10_000);
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the picture: {left:?}");
    let out = perplex(&[
        "lr-find",
        "--config",
        config.to_str().unwrap(),
        "--steps",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--steps = 5 must be at least 20"),
        "{}",
        stderr(&out)
    );
    // Into a log (stderr not a terminal): a plain line at the first point and every tenth of
    // the sweep, not hundreds of carriage returns on one line.
    let log = stderr(&lr_find(&["--steps", "20", "--end-lr", "1e-2"]));
    assert!(!log.contains('\r'), "{log}");
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with("step ")).collect();
    let numbers: Vec<&str> = lines.iter().map(|l| l.split(':').next().unwrap()).collect();
    let every_other = ["1", "2", "4", "6", "8", "10", "12", "14", "16", "18", "20"];
    let expected: Vec<String> = every_other.iter().map(|n| format!("step {n}")).collect();
    assert_eq!(numbers, expected, "{log}");
    assert!(lines[0].contains("lr 1.00e-6: loss "), "{log}");
}
