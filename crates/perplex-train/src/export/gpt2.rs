//! perplex's GPT as a 🤗 transformers `GPT2LMHeadModel`: the tensor names and the config.
//!
//! The model is GPT-2's architecture (pre-LayerNorm blocks, learned positions, tied output,
//! biases, LayerNorm ε 1e-5, exact-erf GELU), so the mapping is one of names only: Burn's
//! `Linear` stores its weight `[in, out]`, as GPT-2's `Conv1D` does, and the joint projection
//! already orders queries, keys and values as `c_attn` does.

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::Tensor;
use perplex_model::{Gpt, GptConfig};
use serde_json::{Value, json};

use super::ExportError;
use super::safetensors::NamedTensor;

/// Every tensor of `model` under its GPT-2 name (`lm_head` is the tied `wte`).
pub fn tensors(model: &Gpt) -> Result<Vec<NamedTensor>, ExportError> {
    let mut out = vec![
        named("transformer.wte.weight", &model.tok_emb.weight),
        named("transformer.wpe.weight", &model.pos_emb.weight),
    ];
    for (i, b) in model.blocks.iter().enumerate() {
        let p = format!("transformer.h.{i}");
        out.extend(layer_norm(&format!("{p}.ln_1"), &b.ln1)?);
        out.extend(linear(&format!("{p}.attn.c_attn"), &b.attn.qkv)?);
        out.extend(linear(&format!("{p}.attn.c_proj"), &b.attn.proj)?);
        out.extend(layer_norm(&format!("{p}.ln_2"), &b.ln2)?);
        out.extend(linear(&format!("{p}.mlp.c_fc"), &b.mlp.fc1)?);
        out.extend(linear(&format!("{p}.mlp.c_proj"), &b.mlp.fc2)?);
    }
    out.extend(layer_norm("transformer.ln_f", &model.ln_f)?);
    Ok(out)
}

/// `config.json` of the model: GPT-2's field names for `shape`, `eos` as both the beginning
/// and the end of text (perplex's `<eos>` ends every line), and the run's dropout.
pub fn config(shape: &GptConfig, eos: u32) -> Value {
    json!({
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": shape.vocab_size,
        "n_positions": shape.ctx,
        "n_ctx": shape.ctx,
        "n_embd": shape.d_model,
        "n_layer": shape.layers,
        "n_head": shape.heads,
        "n_inner": 4 * shape.d_model,
        "activation_function": "gelu",
        "layer_norm_epsilon": 1e-5,
        "resid_pdrop": shape.dropout,
        "embd_pdrop": shape.dropout,
        "attn_pdrop": 0.0,
        "initializer_range": 0.02,
        "scale_attn_weights": true,
        "tie_word_embeddings": true,
        "bos_token_id": eos,
        "eos_token_id": eos,
        "use_cache": true,
        "torch_dtype": "float32"
    })
}

fn named<const D: usize>(name: &str, param: &Param<Tensor<D>>) -> NamedTensor {
    let tensor = param.val();
    let shape = tensor.dims().to_vec();
    let values = tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("a float tensor converts to f32");
    NamedTensor {
        name: name.to_string(),
        shape,
        values,
    }
}

fn linear(name: &str, layer: &Linear) -> Result<Vec<NamedTensor>, ExportError> {
    let bias = layer
        .bias
        .as_ref()
        .ok_or_else(|| ExportError::Unsupported {
            what: format!("{name} has no bias, which GPT-2's Conv1D always has"),
        })?;
    Ok(vec![
        named(&format!("{name}.weight"), &layer.weight),
        named(&format!("{name}.bias"), bias),
    ])
}

fn layer_norm(name: &str, layer: &LayerNorm) -> Result<Vec<NamedTensor>, ExportError> {
    let beta = layer
        .beta
        .as_ref()
        .ok_or_else(|| ExportError::Unsupported {
            what: format!("{name} has no shift (beta), which GPT-2's LayerNorm always has"),
        })?;
    Ok(vec![
        named(&format!("{name}.weight"), &layer.gamma),
        named(&format!("{name}.bias"), beta),
    ])
}
