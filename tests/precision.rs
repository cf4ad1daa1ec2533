//! `train.precision = "bf16"`: on a CPU with AMX a run trains with bf16 products, learns
//! about as an f32 run does, and is evaluated in f32 (so `perplex eval` reproduces its logged
//! validation loss exactly); on any other CPU it is refused with a message that says why.

mod common;

use common::{corpus_dir, eval_json, metrics, perplex_owned, stderr, train_args};
use serde_json::Value;

/// Whether this CPU reports AMX's bf16 tiles (Linux's `/proc/cpuinfo` flags).
fn cpu_has_amx() -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|info| {
        info.lines()
            .filter(|line| line.starts_with("flags"))
            .any(|line| line.split_whitespace().any(|flag| flag == "amx_bf16"))
    })
}

fn eval_losses(run: &std::path::Path) -> Vec<(u64, f64)> {
    metrics(run)
        .iter()
        .filter(|r| r["kind"] == "eval")
        .map(|r| (r["step"].as_u64().unwrap(), r["loss"].as_f64().unwrap()))
        .collect()
}

#[test]
fn bf16_products_train_where_amx_is_and_are_refused_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    let data = corpus_dir(tmp.path());
    let runs = tmp.path().join("runs");
    let quick = |name: &str, precision: &str| {
        let sets = [
            "--set",
            "train.max_steps=40",
            "--set",
            "train.eval_every=20",
            "--set",
            "train.warmup_steps=5",
            "--set",
            "monitor.samples=0",
            "--set",
            precision,
        ];
        perplex_owned(&train_args("ptb-tiny.toml", &runs, name, &data, &sets))
    };
    let out = quick("bf16", "train.precision=bf16");
    if !cpu_has_amx() {
        assert!(!out.status.success(), "bf16 must be refused without AMX");
        let err = stderr(&out);
        assert!(
            err.contains("train.precision") && err.contains("AMX"),
            "{err}"
        );
        return;
    }
    assert!(out.status.success(), "bf16 run failed: {}", stderr(&out));
    let f32_run = quick("fp32", "train.precision=fp32");
    assert!(f32_run.status.success(), "{}", stderr(&f32_run));
    let (bf16, fp32) = (
        eval_losses(&runs.join("bf16")),
        eval_losses(&runs.join("fp32")),
    );
    assert_eq!(bf16.len(), 2, "evaluations at steps 20 and 40");
    for ((step, low), (_, full)) in bf16.iter().zip(&fp32) {
        // Same seed, same batches: bf16 rounding moves the loss a little, not a lot.
        assert!(
            (low - full).abs() < 0.05 * full,
            "step {step}: bf16 {low} against f32 {full}"
        );
        assert_ne!(low, full, "step {step}: bf16 products changed nothing");
    }
    let baseline: &Value = &metrics(&runs.join("bf16"))[0];
    let start = baseline["initial"].as_f64().unwrap();
    assert!(
        bf16[1].1 < start - 1.0,
        "bf16 run learned: {start} → {}",
        bf16[1].1
    );
    // The logged validation loss was measured with f32 products: `perplex eval` (always f32)
    // gives the same number to the last bit.
    let report = eval_json(&runs.join("bf16"), &data, &[]);
    let best = bf16.iter().map(|&(_, l)| l).fold(f64::INFINITY, f64::min);
    assert_eq!(report["mean_nll"].as_f64(), Some(best));
}
