//! Running the project's PyTorch peer (`bench/torch_peer.py`) for `perplex bench --vs-pytorch`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The peer script, compiled in so that `--vs-pytorch` works from any directory.
const PEER: &str = include_str!("../../bench/torch_peer.py");

/// How to run the peer.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The Python interpreter (it must import torch).
    pub python: String,
    /// The run config both sides read.
    pub config: PathBuf,
    /// `--set` overrides, passed on unchanged.
    pub overrides: Vec<String>,
    /// The corpus directory.
    pub data_dir: PathBuf,
    /// torch threads: the same count as perplex's pool.
    pub threads: usize,
    /// torch device: `cpu` or `cuda`.
    pub device: String,
    /// Train through `torch.compile`.
    pub compile: bool,
}

/// What one bench run of the peer reports (the fields `perplex bench` compares).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerReport {
    /// Tokens per second at the median step.
    pub median_tokens_per_s: f64,
    /// Seconds of the median step.
    pub median_s_per_step: f64,
    /// Average busy cores over the timed steps.
    pub cores_busy: f64,
    /// Peak resident memory, MiB.
    pub peak_rss_mib: f64,
    /// torch's version.
    pub torch: String,
    /// torch's thread count.
    pub threads: usize,
    /// Trainable parameters (the tied embedding counted once).
    pub params: usize,
    /// Loss of the last timed step, nats.
    pub last_loss: f64,
}

impl Peer {
    /// Times `steps` steps after `warmup` with the peer.
    pub fn bench(&self, steps: usize, warmup: usize) -> Result<PeerReport> {
        let script = write_script()?;
        let mut command = Command::new(&self.python);
        command
            .arg(&script)
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--threads", &self.threads.to_string()])
            .args(["--device", &self.device])
            .args(["--steps", &steps.to_string()])
            .args(["--warmup", &warmup.to_string()]);
        for item in &self.overrides {
            command.args(["--set", item]);
        }
        if self.compile {
            command.arg("--compile");
        }
        let output = command.output();
        let _ = std::fs::remove_file(&script);
        let output = output.with_context(|| {
            format!(
                "could not start `{}` for the PyTorch peer (--python sets the interpreter)",
                self.python
            )
        })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            let hint = if stderr.contains("No module named 'torch'") {
                "\n(the peer needs PyTorch: `pip install torch`)"
            } else {
                ""
            };
            bail!(
                "the PyTorch peer failed ({}):\n{}{hint}",
                output.status,
                tail.join("\n")
            );
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line)
            .with_context(|| format!("the PyTorch peer printed no report: {line:?}"))
    }
}

/// Writes the compiled-in script to a fresh file in the temp directory.
fn write_script() -> Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("perplex-torch-peer-{}.py", std::process::id()));
    std::fs::write(&path, PEER)
        .with_context(|| format!("could not write the PyTorch peer to {}", path.display()))?;
    Ok(path)
}
