//! `perplex bench`: what its report carries, and the side-by-side with the PyTorch peer.

mod common;

use common::{perplex, python_has, repo, stderr, synthetic_dir};
use serde_json::Value;

/// `perplex bench --json` on ptb-tiny's shape over a small generated corpus, with `extra`.
fn bench_json(data: &std::path::Path, extra: &[&str]) -> Value {
    let config = repo().join("configs/ptb-tiny.toml");
    let (config, data) = (config.to_str().unwrap(), data.to_str().unwrap());
    let base = [
        "bench",
        "--config",
        config,
        "--data-dir",
        data,
        "--steps",
        "3",
        "--warmup",
        "1",
        "--json",
    ];
    let out = perplex(&[&base[..], extra].concat());
    assert!(out.status.success(), "bench failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn bench_names_the_machine_the_busy_cores_and_the_matmul_share() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let r = bench_json(&data, &[]);
    let machine = &r["machine"];
    assert!(machine["threads"].as_u64().unwrap() >= 1);
    assert!(["avx512", "avx2", "baseline"].contains(&machine["simd"].as_str().unwrap()));
    #[cfg(target_os = "linux")]
    assert!(machine["cpu"].as_str().is_some_and(|c| !c.is_empty()));
    let busy = r["cores_busy"].as_f64().unwrap();
    let threads = machine["threads"].as_f64().unwrap();
    assert!(
        busy > 0.2 && busy < threads + 0.5,
        "{busy} cores busy of {threads}"
    );
    // The replayed products: the model's 21, their FLOPs adding up to the total, and a share
    // of the step that is the ratio of the two timings.
    let timing = &r["matmul"];
    let products = timing["products"].as_array().unwrap();
    assert_eq!(products.len(), 21);
    let flops: f64 = products
        .iter()
        .map(|p| {
            let n = |k: &str| p[k].as_f64().unwrap();
            2.0 * n("m") * n("k") * n("n") * n("calls") * n("batch")
        })
        .sum();
    assert!((flops - timing["flops"].as_f64().unwrap()).abs() < 1.0);
    let share = timing["seconds"].as_f64().unwrap() / r["median_s_per_step"].as_f64().unwrap();
    assert!((share - r["matmul_share"].as_f64().unwrap()).abs() < 1e-9);

    // The products clocked inside the timed steps: part of each step, and their share is
    // of the mean step (tokens per step over the mean tokens/s).
    let inside = r["products_in_step_s"].as_f64().unwrap();
    let mean_step =
        r["tokens_per_step"].as_f64().unwrap() / r["mean_tokens_per_s"].as_f64().unwrap();
    let inside_share = r["products_in_step_share"].as_f64().unwrap();
    assert!(
        inside > 0.0 && inside_share < 1.0,
        "{inside} s, {inside_share} of a step"
    );
    assert!((inside_share - inside / mean_step).abs() < 1e-9);

    let skipped = bench_json(&data, &["--matmul-passes", "0"]);
    assert!(skipped["matmul"].is_null() && skipped["matmul_share"].is_null());
}

#[test]
fn bench_times_a_runs_whole_evaluation_and_its_share_at_the_configs_cadence() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let r = bench_json(&data, &["--eval", "--matmul-passes", "0"]);
    let n = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {r}"));
    let (whole, pass) = (n("eval_s"), n("eval_pass_s"));
    // The run's evaluation is the validation pass plus the train slice and the samples.
    assert!(
        pass > 0.0 && whole > pass,
        "evaluation {whole} s, pass {pass} s"
    );
    assert!(n("eval_tokens") > 0.0);
    assert_eq!(r["eval_every"], 200, "ptb-tiny evaluates every 200 steps");
    let share = whole / (200.0 * n("median_s_per_step") + whole);
    assert!((n("eval_share") - share).abs() < 1e-12 && share > 0.0 && share < 1.0);

    let without = bench_json(&data, &["--matmul-passes", "0"]);
    assert!(without["eval_s"].is_null() && without["eval_share"].is_null());
}

#[test]
fn the_pytorch_peer_trains_the_same_model_side_by_side() {
    if !python_has("torch", "PERPLEX_REQUIRE_TORCH") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let r = bench_json(&data, &["--vs-pytorch", "--rounds", "1"]);
    let round = &r["rounds"][0];
    let (ours, theirs) = (&round["perplex"], &round["pytorch"]);
    // The same shape on both sides: the same parameter count, and a first-steps loss near
    // ln(vocab) on both.
    assert_eq!(ours["params"], theirs["params"], "{round}");
    let (a, b) = (
        ours["last_loss"].as_f64().unwrap(),
        theirs["last_loss"].as_f64().unwrap(),
    );
    assert!(
        (a - b).abs() < 0.5,
        "losses after 4 steps: perplex {a}, PyTorch {b}"
    );
    assert_eq!(theirs["threads"], ours["machine"]["threads"]);
    let ratio = r["ratio"].as_f64().unwrap();
    let want = r["perplex_median_tokens_per_s"].as_f64().unwrap()
        / r["pytorch_median_tokens_per_s"].as_f64().unwrap();
    assert!((ratio - want).abs() < 1e-9 && ratio > 0.0);
}
