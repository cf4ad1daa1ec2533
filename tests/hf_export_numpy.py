"""Scores a `perplex export --format hf` directory with GPT-2's forward pass written in numpy
(float64), reading only the exported files: `config.json`, `model.safetensors` and the
word-level `tokenizer.json`. No torch, no transformers: CI runs it where those are not
installed, and it fails if a weight is exported under the wrong name, shape or transpose.

The protocol is perplex's: each line's tokens followed by `<eos>`, all lines as one stream;
every token but the first predicted once, in non-overlapping windows of the model's context
that each start from an empty context; NLL summed over all of them, divided once.

    python3 tests/hf_export_numpy.py EXPORT_DIR SPLIT_FILE PERPLEX_MEAN_NLL

Exits 1 when the perplexities differ by more than 1e-4 relative.
"""

import json
import math
import sys

import numpy as np
from safetensors.numpy import load_file


def erf(x):
    """erf to about 1e-12: a Taylor series near 0, a continued fraction's complement beyond."""
    a = np.abs(x)
    small = a < 2.5
    out = np.empty_like(x)
    s = a[small]
    term, total = s.copy(), s.copy()
    for n in range(1, 60):
        term = term * (-s * s) / n
        total = total + term / (2 * n + 1)
    out[small] = 2 / math.sqrt(math.pi) * total
    b = a[~small]
    frac = np.zeros_like(b)
    for k in range(60, 0, -1):
        frac = (k / 2) / (b + frac)
    out[~small] = 1 - np.exp(-b * b) / math.sqrt(math.pi) / (b + frac)
    return np.sign(x) * out


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def forward(weights, config, ids):
    """Next-token log-probabilities of one window, `[len(ids), vocab]`."""
    w = {name: t.astype(np.float64) for name, t in weights.items()}
    d, heads, eps = config["n_embd"], config["n_head"], config["layer_norm_epsilon"]
    t = len(ids)
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][:t]
    mask = np.triu(np.full((t, t), -np.inf), 1)
    for i in range(config["n_layer"]):
        p = f"transformer.h.{i}."
        h = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = (m.reshape(t, heads, d // heads).transpose(1, 0, 2) for m in np.split(qkv, 3, -1))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(d // heads) + mask
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        y = (scores / scores.sum(-1, keepdims=True)) @ v
        y = y.transpose(1, 0, 2).reshape(t, d)
        x = x + y @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        h = h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"]
        h = 0.5 * h * (1 + erf(h / math.sqrt(2)))
        x = x + h @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = layer_norm(x, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
    logits = x @ w["transformer.wte.weight"].T
    top = logits.max(-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))


def stream(tokenizer, path):
    """The split's ids as perplex makes them: whitespace-split words, unknown ones `<unk>`."""
    model = tokenizer["model"]
    if model["type"] != "WordLevel":
        sys.exit(f"this check reads word-level tokenizers only, not {model['type']}")
    vocab = model["vocab"]
    unk, eos = vocab["<unk>"], vocab["<eos>"]
    with open(path, encoding="utf-8") as f:
        text = f.read().removeprefix("\ufeff")
    ids = []
    for line in text.split("\n")[: -1 if text.endswith("\n") else None]:
        ids.extend(vocab.get(word, unk) for word in line.removesuffix("\r").split())
        ids.append(eos)
    return ids


def main(export_dir, split_file, expected):
    with open(f"{export_dir}/config.json") as f:
        config = json.load(f)
    with open(f"{export_dir}/tokenizer.json") as f:
        tokenizer = json.load(f)
    weights = load_file(f"{export_dir}/model.safetensors")
    ids = stream(tokenizer, split_file)
    ctx, predictions = config["n_positions"], len(ids) - 1
    total = 0.0
    for s in range(0, predictions, ctx):
        n = min(ctx, predictions - s)
        logp = forward(weights, config, ids[s : s + n])
        total -= logp[np.arange(n), ids[s + 1 : s + n + 1]].sum()
    got = total / predictions
    ppl, want = math.exp(got), math.exp(float(expected))
    rel = abs(ppl - want) / want
    print(f"numpy GPT-2: {predictions} tokens, mean NLL {got:.9f}, perplexity {ppl:.6f}")
    print(f"perplex eval: perplexity {want:.6f}; relative difference {rel:.2e}")
    if rel > 1e-4:
        print("FAIL: the perplexities differ by more than 1e-4 relative")
        sys.exit(1)


if __name__ == "__main__":
    main(*sys.argv[1:])
