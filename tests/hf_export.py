"""Loads a `perplex export --format hf` directory with 🤗 transformers, scores a split with
perplex's protocol, and checks the perplexity against `perplex eval`'s.

The protocol: each line's tokens followed by `<eos>`, all lines as one stream; every token but
the first predicted exactly once, in non-overlapping windows of the model's context that each
start from an empty context (the last one shorter); the NLL summed in float64 over all of them
and divided once by their count.

    python3 tests/hf_export.py EXPORT_DIR SPLIT_FILE PERPLEX_MEAN_NLL

Prints both perplexities and a greedy `generate` sample; exits 1 when they differ by more than
1e-4 relative.
"""

import math
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def stream(tokenizer, path, eos):
    """The split's token ids, as perplex makes them (Rust's `str::lines`, a BOM dropped)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = text.removeprefix("\ufeff")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    ids = []
    for line in lines:
        ids.extend(tokenizer(line.removesuffix("\r"), add_special_tokens=False)["input_ids"])
        ids.append(eos)
    return ids


def mean_nll(model, ids, ctx, batch=64):
    """Sum of per-token NLL over every window, in float64, divided once by the count."""
    predictions = len(ids) - 1
    starts = list(range(0, predictions, ctx))
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(starts), batch):
            group = starts[i : i + batch]
            lengths = [min(ctx, predictions - s) for s in group]
            for n in sorted(set(lengths)):
                rows = [s for s, m in zip(group, lengths) if m == n]
                x = torch.tensor([ids[s : s + n] for s in rows])
                y = torch.tensor([ids[s + 1 : s + n + 1] for s in rows])
                logits = model(x).logits.double()
                nll = torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"
                )
                total += nll.item()
                count += y.numel()
    assert count == predictions, (count, predictions)
    return total / count


def main(export_dir, split_file, expected):
    tokenizer = AutoTokenizer.from_pretrained(export_dir)
    model = AutoModelForCausalLM.from_pretrained(export_dir, dtype=torch.float32)
    model.eval()
    eos = tokenizer.convert_tokens_to_ids("<eos>")
    ids = stream(tokenizer, split_file, eos)
    got = mean_nll(model, ids, model.config.n_positions)
    ppl, want = math.exp(got), math.exp(float(expected))
    rel = abs(ppl - want) / want
    print(f"transformers: {len(ids) - 1} tokens, mean NLL {got:.9f}, perplexity {ppl:.6f}")
    print(f"perplex eval: perplexity {want:.6f}; relative difference {rel:.2e}")
    prompt = torch.tensor([[eos]])
    out = model.generate(prompt, max_new_tokens=12, do_sample=False, pad_token_id=eos)
    print("generate (greedy):", tokenizer.decode(out[0][1:]))
    if rel > 1e-4:
        print("FAIL: the perplexities differ by more than 1e-4 relative")
        sys.exit(1)


if __name__ == "__main__":
    main(*sys.argv[1:])
