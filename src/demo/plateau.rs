//! `plateau`: a constant learning rate stops improving where cosine annealing keeps going. On
//! a corpus sampled from a Markov chain, whose own loss is the floor no model can beat, so
//! the distance left is known.

use anyhow::{Context, Result};
use perplex_data::DataDir;
use perplex_data::markov::{ChainSpec, MarkovChain, sample_corpus};
use perplex_monitor::SignalKind;

use super::runs::{Finished, RunSpec, demo_config};
use super::{Demo, Learned};

/// What to look at while it runs.
pub const LOOK_AT: &str = "the constant-learning-rate run closing in on the corpus's floor, \
then hovering above it with no new best, and the monitor naming the plateau; then the same \
run with cosine annealing getting closer as its learning rate decays";

/// Train tokens of the sampled corpus (valid and test get a tenth each).
const TOKENS: usize = 100_000;

pub fn teach(demo: &Demo) -> Result<Learned> {
    let (data, floor) = markov_corpus(demo)?;
    let quick = ["train.max_steps=1200"];
    let spec = |name, config| RunSpec {
        name,
        config,
        overrides: demo.overrides(&quick),
        data: &data,
    };
    let constant = demo.train(&spec("constant-lr", demo_config!("demos/plateau-constant")))?;
    let cosine = demo.train(&spec("cosine", demo_config!("demos/plateau-cosine")))?;
    let named = constant
        .first(SignalKind::Plateau)
        .context("the constant-rate run was never called plateau")?;
    let cosine_then = at_step(&cosine, named.step)?;
    let (c, k) = (constant.best_loss(), cosine.best_loss());
    let mut learned = Learned {
        runs: vec![constant.dir.clone(), cosine.dir.clone()],
        ..Learned::default()
    };
    learned.text = format!(
        "Plateau. The corpus comes from a Markov chain whose own loss on the validation text, \
         {floor:.4} nats per token, no model can beat. At a constant learning rate of 0.05 the \
         run got within {:.3} nats of it and then stopped improving: at step {} the monitor \
         named `plateau` ({}), and said so at {} evaluations in all. The same model and \
         peak rate with cosine annealing was at {cosine_then:.4} at that step and, as its rate \
         decayed, reached {k:.4}, {:.4} from the floor — {:.0}× closer than the constant run. \
         A flat curve at a constant rate is often the rate's own noise, not the model's limit: \
         decay or lower the rate before giving up on the model.",
        c - floor,
        named.step,
        named.reading.verdict.state.evidence,
        constant.count(SignalKind::Plateau),
        k - floor,
        (c - floor) / (k - floor),
    );
    learned.figure("floor_nats", floor);
    learned.figure("plateau_step", named.step);
    learned.figure(
        "constant_plateau_evals",
        constant.count(SignalKind::Plateau),
    );
    learned.figure("constant_best_nats", c);
    learned.figure("cosine_best_nats", k);
    learned.figure("cosine_plateau_evals", cosine.count(SignalKind::Plateau));
    Ok(learned)
}

/// Samples the lesson's corpus into the demo's `markov/`; its directory and the chain's own
/// validation loss (nats per token).
fn markov_corpus(demo: &Demo) -> Result<(DataDir, f64)> {
    let chain = MarkovChain::new(ChainSpec {
        vocab: 50,
        order: 1,
        seed: 1,
        ..ChainSpec::default()
    })
    .map_err(anyhow::Error::msg)?;
    let sampled = sample_corpus(&chain, TOKENS, 2);
    let dir = DataDir::new(demo.dir.join("markov"));
    dir.write(&sampled.corpus, true)?;
    Ok((dir, sampled.report.valid.nll))
}

/// The validation loss of `run` at its evaluation at `step`, nats per token.
fn at_step(run: &Finished, step: u64) -> Result<f64> {
    run.evals()
        .find(|e| e.step == step)
        .map(|e| e.loss)
        .with_context(|| format!("{} has no evaluation at step {step}", run.name))
}
