//! Meeting users where their tools are: a run exported for 🤗 transformers (loaded and scored
//! by transformers itself when it is installed, and by a numpy GPT-2 everywhere), and
//! checkpoints read from Python with the `safetensors` package, as the README shows.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{corpus_dir, eval_json, perplex, python_has, repo, stderr, stdout, train_quick};
use serde_json::Value;

/// A quick run on PTB (or the generated corpus), exported to `tmp/hf`.
fn exported(tmp: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let data = corpus_dir(tmp);
    let out = train_quick(tmp, &data, "q");
    assert!(out.status.success(), "{}", stderr(&out));
    let run = tmp.join("runs/q");
    let hf = tmp.join("hf");
    let out = perplex(&[
        "export",
        "--run",
        run.to_str().unwrap(),
        "--format",
        "hf",
        "--out",
        hf.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    (data, run, hf)
}

#[test]
fn an_export_is_gpt2_by_name_and_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, run, hf) = exported(tmp.path());
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(hf.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model_type"], "gpt2");
    assert_eq!(
        config["activation_function"], "gelu",
        "exact erf, not gelu_new"
    );
    assert_eq!(config["tie_word_embeddings"], true);
    let (d, ctx) = (
        config["n_embd"].as_u64().unwrap(),
        config["n_positions"].as_u64().unwrap(),
    );
    assert_eq!((d, ctx), (32, 32), "ptb-tiny with model.d_model=32");
    let bytes = std::fs::read(hf.join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let shape = |name: &str| header[name]["shape"].clone();
    assert_eq!(
        shape("transformer.h.0.attn.c_attn.weight"),
        serde_json::json!([d, 3 * d])
    );
    assert_eq!(
        shape("transformer.h.1.mlp.c_proj.weight"),
        serde_json::json!([4 * d, d])
    );
    assert_eq!(shape("transformer.wpe.weight"), serde_json::json!([ctx, d]));
    assert!(
        header.get("lm_head.weight").is_none(),
        "tied to transformer.wte"
    );
    assert_eq!(header["__metadata__"]["format"], "pt");
    let card = std::fs::read_to_string(hf.join("README.md")).unwrap();
    assert!(
        card.contains("test perplexity |") && !card.contains("not measured (export"),
        "{card}"
    );
    // An export never writes over files unasked.
    let again = perplex(&[
        "export",
        "--run",
        run.to_str().unwrap(),
        "--out",
        hf.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("--overwrite"), "{}", stderr(&again));
    let _ = data;
}

/// Exports a quick run and has `script` score its validation split against `perplex eval`'s
/// mean NLL (the script fails past 1e-4 relative); returns what it printed.
fn score_export(script: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let (data, run, hf) = exported(tmp.path());
    let report = eval_json(&run, &data, &[]);
    let out = Command::new("python3")
        .arg(repo().join("tests").join(script))
        .arg(&hf)
        .arg(data.join("ptb.valid.txt"))
        .arg(report["mean_nll"].to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// transformers loads the export, scores the validation split with perplex's protocol to
/// within 1e-4 relative of `perplex eval`, and generates.
#[test]
fn transformers_scores_an_export_as_perplex_does() {
    if python_has("torch, transformers", "PERPLEX_REQUIRE_TRANSFORMERS") {
        let printed = score_export("hf_export.py");
        assert!(printed.contains("generate (greedy):"), "{printed}");
    }
}

/// GPT-2's forward pass in numpy, reading only the exported files, scores the validation split
/// to within 1e-4 relative of `perplex eval`: the export's names, shapes and transposes are
/// checked where torch is not installed (CI), beside the transformers check above.
#[test]
fn a_numpy_gpt2_scores_an_export_as_perplex_does() {
    if python_has("numpy, safetensors", "PERPLEX_REQUIRE_SAFETENSORS") {
        let printed = score_export("hf_export_numpy.py");
        assert!(printed.contains("numpy GPT-2:"), "{printed}");
    }
}

/// The README's snippet that reads a checkpoint with the `safetensors` package runs as
/// written and shows the model's facts and tensors.
#[test]
fn the_readme_snippet_reads_a_checkpoint_with_safetensors() {
    if !python_has("numpy, safetensors", "PERPLEX_REQUIRE_SAFETENSORS") {
        return;
    }
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let snippet = readme
        .split("<!-- snippet: load-checkpoint -->")
        .nth(1)
        .and_then(|s| s.split("```python\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("README holds the load-checkpoint snippet");
    let tmp = tempfile::tempdir().unwrap();
    let data = common::synthetic_dir(tmp.path());
    let out = train_quick(tmp.path(), &data, "s");
    assert!(out.status.success(), "{}", stderr(&out));
    let best = tmp.path().join("runs/s/checkpoints/best.safetensors");
    let script = snippet.replace(
        "runs/ptb-small/checkpoints/best.safetensors",
        best.to_str().unwrap(),
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("blocks.0.attn.qkv.weight (32, 96)"), "{text}");
    assert!(text.contains("'d_model': 32"), "{text}");
}
