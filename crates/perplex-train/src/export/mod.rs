//! `perplex export --format hf`: a run's checkpoint as a directory 🤗 transformers loads with
//! `AutoModelForCausalLM.from_pretrained` and `AutoTokenizer.from_pretrained`:
//!
//! ```text
//! config.json              GPT2LMHeadModel's config (gpt2.rs)
//! model.safetensors        the weights under GPT-2's names
//! tokenizer.json           the run's tokenizer, as it is
//! tokenizer_config.json    PreTrainedTokenizerFast with <eos> and <unk>
//! special_tokens_map.json
//! README.md                a model card: data, steps, perplexities, tokenizer fingerprint
//! ```

mod card;
mod gpt2;
mod safetensors;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use perplex_data::{DataDir, Split};
use serde_json::json;

use crate::TrainError;
use crate::evaluate::evaluate;
use crate::run_dir::{CheckpointKind, OpenRun};

pub use safetensors::NamedTensor;

/// An export that cannot be made, and why.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The model has something GPT-2 cannot express.
    #[error("the model cannot be written as GPT-2: {what}")]
    Unsupported { what: String },
    /// The output directory already holds files.
    #[error("{path}: already holds files; choose an empty --out or pass --overwrite")]
    NotEmpty { path: PathBuf },
}

/// What an export wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Exported {
    /// The directory.
    pub dir: PathBuf,
    /// The files written in it.
    pub files: Vec<String>,
    /// The checkpoint's step.
    pub step: u64,
    /// Validation perplexity of the checkpoint as logged in training, if it was evaluated.
    pub val_ppl: Option<f64>,
    /// Test perplexity, measured on the corpus when one was given.
    pub test_ppl: Option<f64>,
}

/// Writes `run`'s `kind` checkpoint to `out` in the 🤗 transformers GPT-2 layout. With
/// `corpus` (checked to be the run's), the model card also gets the test perplexity.
pub fn export_hf(
    run: &OpenRun,
    kind: CheckpointKind,
    out: &Path,
    corpus: Option<&DataDir>,
    overwrite: bool,
) -> Result<Exported, TrainError> {
    let holds_files = std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some());
    if holds_files && !overwrite {
        return Err(ExportError::NotEmpty {
            path: out.to_owned(),
        }
        .into());
    }
    let (model, meta) = run.checkpoint(kind, &Device::flex())?;
    let test_ppl = match corpus {
        Some(dir) => {
            run.check_corpus(dir)?;
            let ids = run
                .tokenizer
                .encode_lines(&dir.read_split(Split::Test)?)?
                .ids;
            Some(evaluate(&model, &ids, run.config.train().eval_batch()).perplexity())
        }
        None => None,
    };
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    let tensors = gpt2::tensors(&model)?;
    let write = |name: &str, bytes: &[u8]| {
        let path = out.join(name);
        perplex_monitor::sinks::write_atomically(&path, bytes).map_err(|e| TrainError::io(&path, e))
    };
    let weights = safetensors::to_bytes(&tensors, &[("format", "pt")]);
    write("model.safetensors", &weights)?;
    let eos = run.tokenizer.eos_id();
    write("config.json", &pretty(&gpt2::config(&meta.model, eos)))?;
    write("tokenizer.json", run.tokenizer.to_json()?.as_bytes())?;
    write(
        "tokenizer_config.json",
        &pretty(&tokenizer_config(meta.model.ctx)),
    )?;
    write("special_tokens_map.json", &pretty(&special_tokens()))?;
    let exported = Exported {
        dir: out.to_owned(),
        files: [
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "README.md",
        ]
        .map(String::from)
        .to_vec(),
        step: meta.step,
        val_ppl: meta.val_loss.map(f64::exp),
        test_ppl,
    };
    write(
        "README.md",
        card::model_card(run, &meta, &exported).as_bytes(),
    )?;
    Ok(exported)
}

fn special_tokens() -> serde_json::Value {
    json!({"bos_token": "<eos>", "eos_token": "<eos>", "unk_token": "<unk>"})
}

fn tokenizer_config(ctx: usize) -> serde_json::Value {
    json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<eos>",
        "eos_token": "<eos>",
        "unk_token": "<unk>",
        "model_max_length": ctx,
        "clean_up_tokenization_spaces": false
    })
}

fn pretty(value: &serde_json::Value) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(value).expect("JSON values serialise");
    text.push(b'\n');
    text
}
