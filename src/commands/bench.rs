//! `perplex bench`.

use std::path::PathBuf;

use crate::bench::{BenchPlan, BenchReport, Machine, bench, median};
use anyhow::Result;
use clap::Args;
use perplex_train::{RunConfig, TrainData};

use super::torch_peer::{Peer, PeerReport};
use super::{device, ensure_corpus, print_json, shown};
use crate::DataDirArg;

/// Flags of `perplex bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The run config whose shape to time, e.g. configs/ptb-small.toml.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Override a config value (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Timed training steps.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Untimed warm-up steps before them.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Also time one evaluation as a run makes it (the full validation pass, the train
    /// slice, the samples) and its share of a run's wall time at the config's `eval_every`.
    #[arg(long)]
    pub eval: bool,
    /// Passes over the step's matrix products timed alone, to compare the step with the
    /// matrix library by itself (0: skip).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub matmul_passes: usize,
    /// Backend, as for `train`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also time the project's PyTorch peer (bench/torch_peer.py: the same model, data
    /// conventions and protocol, same thread count), alternating with perplex, and print
    /// the ratio of the medians. Needs python3 with torch.
    #[arg(long)]
    pub vs_pytorch: bool,
    /// Rounds of the side-by-side: each runs perplex, then the peer.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub rounds: usize,
    /// The Python interpreter for the peer.
    #[arg(long, default_value = "python3", value_name = "PATH")]
    pub python: String,
    /// The peer's torch device (`cpu`, `cuda`), for a GPU side-by-side.
    #[arg(long, default_value = "cpu")]
    pub peer_device: String,
    /// Train the peer through `torch.compile` instead of eagerly.
    #[arg(long)]
    pub peer_compile: bool,
    #[command(flatten)]
    pub data: DataDirArg,
}

/// Runs `perplex bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let config = RunConfig::load(&args.config, &args.overrides)?;
    if args.steps == 0 {
        anyhow::bail!("--steps must be at least 1");
    }
    let device = device(&args.device)?;
    let dir = args.data.resolve();
    ensure_corpus(&dir)?;
    let data = TrainData::prepare(&dir, config.data())?;
    let plan = BenchPlan {
        steps: args.steps,
        warmup: args.warmup,
        eval: args.eval,
        matmul: args.matmul_passes,
    };
    if args.vs_pytorch {
        if config.data().tokenizer.is_some() {
            anyhow::bail!(
                "--vs-pytorch compares the word-level PTB setup; {} sets data.tokenizer, which \
                 the PyTorch peer does not read",
                shown(&args.config)
            );
        }
        let peer = Peer {
            python: args.python.clone(),
            config: args.config.clone(),
            overrides: args.overrides.clone(),
            data_dir: dir.root().to_path_buf(),
            threads: Machine::this().threads,
            device: args.peer_device.clone(),
            compile: args.peer_compile,
        };
        let mut rounds = Vec::new();
        for round in 1..=args.rounds.max(1) {
            let ours = bench(&config, &data, &device, plan)?;
            let theirs = peer.bench(args.steps, args.warmup)?;
            if !args.json {
                println!(
                    "round {round}: perplex {:.0} tokens/s, PyTorch {:.0} tokens/s",
                    ours.median_tokens_per_s, theirs.median_tokens_per_s
                );
            }
            rounds.push((ours, theirs));
        }
        return side_by_side(&args, &rounds);
    }
    let r = bench(&config, &data, &device, plan)?;
    if args.json {
        print_json(&r);
        return Ok(());
    }
    print_text(&args, &r);
    Ok(())
}

/// The medians of alternating rounds and their ratio.
fn side_by_side(args: &BenchArgs, rounds: &[(BenchReport, PeerReport)]) -> Result<()> {
    let ours = median(
        &rounds
            .iter()
            .map(|r| r.0.median_tokens_per_s)
            .collect::<Vec<_>>(),
    );
    let theirs = median(
        &rounds
            .iter()
            .map(|r| r.1.median_tokens_per_s)
            .collect::<Vec<_>>(),
    );
    let (last_ours, last_theirs) = &rounds[rounds.len() - 1];
    if args.json {
        let reports: Vec<_> = rounds
            .iter()
            .map(|(ours, theirs)| serde_json::json!({ "perplex": ours, "pytorch": theirs }))
            .collect();
        print_json(&serde_json::json!({
            "rounds": reports,
            "perplex_median_tokens_per_s": ours,
            "pytorch_median_tokens_per_s": theirs,
            "ratio": ours / theirs,
        }));
        return Ok(());
    }
    print_text(args, last_ours);
    let compile = if args.peer_compile {
        "torch.compile"
    } else {
        "eager"
    };
    println!(
        "  PyTorch {} ({compile}, {} threads, {}): {:.2} cores busy, peak RSS {:.0} MiB",
        last_theirs.torch,
        last_theirs.threads,
        args.peer_device,
        last_theirs.cores_busy,
        last_theirs.peak_rss_mib
    );
    println!(
        "median of {} rounds: perplex {ours:.0} tokens/s, PyTorch {theirs:.0} tokens/s: \
         perplex {:.2}× PyTorch",
        rounds.len(),
        ours / theirs
    );
    Ok(())
}

/// The report as text, one fact per line.
fn print_text(args: &BenchArgs, r: &BenchReport) {
    println!(
        "{} on {}: {} params, {} tokens/step",
        shown(&args.config),
        args.device,
        r.params,
        r.tokens_per_step
    );
    println!(
        "  {} steps after {} warm-up: median {:.4} s/step (min {:.4}, max {:.4})",
        r.steps, r.warmup, r.median_s_per_step, r.min_s_per_step, r.max_s_per_step
    );
    println!(
        "  {:.0} tokens/s at the median step ({:.0} over all steps)",
        r.median_tokens_per_s, r.mean_tokens_per_s
    );
    println!(
        "  {:.3e} FLOPs/token → {:.1} GFLOP/s",
        r.flops_per_token, r.gflops
    );
    if let (Some(s), Some(pass), Some(t)) = (r.eval_s, r.eval_pass_s, r.eval_tokens) {
        println!(
            "  evaluation as a run makes it: {s:.2} s, of which the validation pass {pass:.2} s \
             ({t} tokens, {:.0} tokens/s), the rest the train slice and the samples",
            t as f64 / pass
        );
    }
    if let Some(share) = r.eval_share {
        println!(
            "  evaluating every {} steps (train.eval_every) costs {:.1}% of a run's wall time",
            r.eval_every,
            100.0 * share
        );
    }
    if r.precision == perplex_model::Precision::Bf16 {
        println!(
            "  products in bf16 on AMX tiles, f32 accumulation (train.precision); the \
             evaluation in f32"
        );
    }
    if let Some(rss) = r.peak_rss_mib {
        println!("  peak RSS {rss:.0} MiB");
    }
    let m = &r.machine;
    let busy = r
        .cores_busy
        .map(|c| format!("; {c:.2} cores busy on average during the timed steps"))
        .unwrap_or_default();
    println!(
        "  machine: {} ({}), {} threads on {} logical CPUs{busy}",
        m.cpu.as_deref().unwrap_or("CPU model unknown"),
        m.simd,
        m.threads,
        m.logical_cpus
    );
    if let (Some(s), Some(share)) = (r.products_in_step_s, r.products_in_step_share) {
        println!(
            "  matrix products inside the steps: {s:.3} s per step = {:.0}% of the mean step; \
             the other {:.0}% is everything else",
            100.0 * share,
            100.0 * (1.0 - share).max(0.0)
        );
    }
    if let (Some(t), Some(share)) = (&r.matmul, r.matmul_share) {
        println!(
            "  matrix products alone (operands in cache): {:.3} s per step at {:.1} GFLOP/s = \
             {:.0}% of the median step; the other {:.0}% is everything else",
            t.seconds,
            t.gflops,
            100.0 * share,
            100.0 * (1.0 - share).max(0.0)
        );
    }
    if let Some(s) = &r.subnormal {
        println!(
            "  subnormal operands ({}): {:.2}× the ordinary time when kept, {:.2}× when flushed \
             to zero (training flushes them: `train.flush_denormals`)",
            s.product, s.kept_slowdown, s.flushed_slowdown
        );
    }
}
