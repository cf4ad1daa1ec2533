//! The model card of an export: what the model is, what it was trained on, how it scored.

use crate::checkpoint::CheckpointMeta;
use crate::run_dir::OpenRun;

use super::Exported;

/// `README.md` of an exported model.
pub fn model_card(run: &OpenRun, meta: &CheckpointMeta, e: &Exported) -> String {
    let s = &meta.model;
    let ppl = |p: Option<f64>, what: &str| match p {
        Some(p) => format!("{p:.2}"),
        None => format!("not measured ({what})"),
    };
    let data = &run.config.data();
    let train_tokens = data
        .max_train_tokens
        .map_or("the whole train split".to_string(), |n| {
            format!("the first {n} tokens of the train split")
        });
    format!(
        "---\nlibrary_name: transformers\ntags: [gpt2, perplex]\n---\n\n\
         # {name}\n\n\
         A GPT-2-architecture language model trained with [perplex](https://github.com/perplex-lm/perplex) \
         (run `{run_dir}`, checkpoint at step {step}).\n\n\
         | | |\n|---|---|\n\
         | shape | {layers} layers, {heads} heads, d_model {d}, context {ctx} tokens, vocabulary {v}: {params} parameters |\n\
         | data | {train_tokens} of the corpus the run was trained on |\n\
         | validation perplexity | {val} (per token, every validation token predicted once, windows of {ctx} tokens from an empty context) |\n\
         | test perplexity | {test} |\n\
         | tokenizer sha256 | `{fp}` (perplexities compare only under one tokenizer) |\n\n\
         ```python\n\
         from transformers import AutoModelForCausalLM, AutoTokenizer\n\
         model = AutoModelForCausalLM.from_pretrained(\"path/to/this/directory\")\n\
         tokenizer = AutoTokenizer.from_pretrained(\"path/to/this/directory\")\n\
         ```\n\n\
         Every line of the training text ended with `<eos>` (id {eos}); it is also the model's\n\
         beginning-of-text token.\n",
        name = run
            .dir
            .root()
            .file_name()
            .map_or("perplex model".into(), |n| n.to_string_lossy().into_owned()),
        run_dir = run.dir.root().display(),
        step = meta.step,
        layers = s.layers,
        heads = s.heads,
        d = s.d_model,
        ctx = s.ctx,
        v = s.vocab_size,
        params = s.num_params(),
        val = ppl(e.val_ppl, "this checkpoint was not a validated one"),
        test = ppl(e.test_ppl, "export with --data-dir to measure it"),
        fp = meta.tokenizer_sha256,
        eos = run.tokenizer.eos_id(),
    )
}
