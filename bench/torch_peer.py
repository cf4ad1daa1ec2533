#!/usr/bin/env python3
"""perplex's PyTorch peer: the same GPT, the same data conventions and the same bench protocol.

`perplex bench --vs-pytorch` runs this script alternately with its own timing and prints the
ratio; it can also be run by hand. It reads a perplex run config (TOML), so both sides train
exactly the same shape:

  model  pre-LayerNorm GPT: token + learned position embeddings, dropout, `layers` blocks of
         x + drop(proj(causal_attention(ln1(x)))), x + drop(fc2(gelu_erf(fc1(ln2(x))))),
         final LayerNorm, logits through the token embedding (tied, no bias). Attention is
         F.scaled_dot_product_attention(is_causal=True), no dropout on the probabilities.
         Init as GPT-2: N(0, 0.02), the two residual projections N(0, 0.02/sqrt(2*layers)),
         biases 0, LayerNorm (1, 0), eps 1e-5.
  optim  AdamW(betas 0.9/0.95, eps 1e-8), weight decay on tensors of rank >= 2 only; lr
         lr*(s+1)/W for s < W, then cosine to min_lr over the remaining max_steps - W; the
         global gradient norm clipped to grad_clip (0: off).
  precision  train.precision = "bf16": the forward pass and the loss under
         torch.autocast(bfloat16) (PyTorch's mixed precision on a CPU), as perplex's bf16
         products; weights, gradients, AdamW and evaluation stay fp32.
  data   word-level PTB, one <eos> per line, perplex's vocabulary (train's words in order of
         first appearance, <unk> added when absent); a training batch is `batch_size`
         windows of ctx+1 tokens at uniformly random offsets.
  eval   non-overlapping windows of ctx tokens over the whole split, each from an empty
         context; every token but the first is predicted once; NLL summed in float64.
  bench  `--warmup` untimed steps, then `--steps` steps timed one by one; the median step
         gives tokens/s, as in `perplex bench`.

Output: one JSON object on stdout.
"""

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time
import tomllib

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_config(path, overrides):
    with open(path, "rb") as f:
        config = tomllib.load(f)
    for item in overrides:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value.strip()  # a bare word, as perplex's --set reads it
        config.setdefault(section, {})[name] = parsed
    model, train = config["model"], config["train"]
    train.setdefault("grad_clip", 1.0)
    train.setdefault("weight_decay", 0.1)
    train.setdefault("warmup_steps", 0)
    train.setdefault("min_lr", train["lr"])
    train.setdefault("seed", 0)
    return model, train


def read_split(data_dir, name, vocab=None):
    """A split as one id stream; the vocabulary (made from train when `vocab` is None) is
    perplex's: words in order of first appearance, `<eos>` after the first line's words,
    `<unk>` last when train lacks it."""
    words = []
    with open(os.path.join(data_dir, f"ptb.{name}.txt"), encoding="utf-8") as f:
        for line in f:
            words.extend(line.split())
            words.append("<eos>")
    if vocab is None:
        vocab = {}
        for word in words + ["<unk>"]:
            vocab.setdefault(word, len(vocab))
    unk = vocab["<unk>"]
    return torch.tensor([vocab.get(w, unk) for w in words], dtype=torch.long), vocab


class Block(nn.Module):
    def __init__(self, d, heads, dropout):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-5), nn.LayerNorm(d, eps=1e-5)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.drop = nn.Dropout(dropout)

    def attention(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        heads = [z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v)]
        y = F.scaled_dot_product_attention(*heads, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))

    def forward(self, x):
        x = x + self.drop(self.attention(self.ln1(x)))
        return x + self.drop(self.fc2(F.gelu(self.fc1(self.ln2(x)))))


class Gpt(nn.Module):
    def __init__(self, vocab, ctx, layers, heads, d_model, dropout):
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(ctx, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, heads, dropout) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d_model, eps=1e-5)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
        for block in self.blocks:
            for residual in (block.proj, block.fc2):
                nn.init.normal_(residual.weight, std=0.02 / math.sqrt(2 * layers))

    def forward(self, tokens):
        t = tokens.shape[1]
        x = self.drop(self.tok(tokens) + self.pos.weight[:t])
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.tok.weight.T


def lr_at(step, train):
    lr, min_lr, warmup, total = train["lr"], train["min_lr"], train["warmup_steps"], train["max_steps"]
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))


class Trainer:
    def __init__(self, model_config, train, vocab, train_stream, device, compile_model):
        torch.manual_seed(train["seed"])
        self.train, self.stream, self.device = train, train_stream, device
        self.ctx, self.batch = model_config["ctx"], train["batch_size"]
        shape = {k: model_config[k] for k in ("ctx", "layers", "heads", "d_model", "dropout")}
        self.model = Gpt(vocab, **shape).to(device)
        self.forward = torch.compile(self.model) if compile_model else self.model
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        rest = [p for p in self.model.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": train["weight_decay"]},
                  {"params": rest, "weight_decay": 0.0}]
        self.optimizer = torch.optim.AdamW(groups, lr=train["lr"], betas=(0.9, 0.95), eps=1e-8)
        self.generator = torch.Generator().manual_seed(train["seed"])
        self.offsets = torch.arange(self.ctx + 1)
        self.bf16 = train.get("precision", "fp32") == "bf16"
        self.step_index = 0

    def step(self):
        starts = torch.randint(0, len(self.stream) - self.ctx, (self.batch,), generator=self.generator)
        windows = self.stream[starts[:, None] + self.offsets].to(self.device)
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.step_index, self.train)
        kind = torch.device(self.device).type
        with torch.autocast(kind, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.forward(windows[:, :-1])
            loss = F.cross_entropy(logits.flatten(0, 1), windows[:, 1:].flatten())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.train["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.train["grad_clip"])
        self.optimizer.step()
        self.step_index += 1
        return loss.item()

    @torch.no_grad()
    def evaluate(self, stream, batch):
        self.model.eval()
        inputs, targets = stream[:-1], stream[1:]
        total, count = 0.0, 0
        windows = [(i, min(i + self.ctx, len(inputs))) for i in range(0, len(inputs), self.ctx)]
        for first in range(0, len(windows), batch):
            group = windows[first:first + batch]
            for length in sorted({b - a for a, b in group}):
                same = [(a, b) for a, b in group if b - a == length]
                x = torch.stack([inputs[a:b] for a, b in same]).to(self.device)
                y = torch.stack([targets[a:b] for a, b in same]).to(self.device)
                nll = F.cross_entropy(self.model(x).flatten(0, 1), y.flatten(), reduction="sum")
                total += nll.double().item()
                count += y.numel()
        self.model.train()
        return total / count, count


def cpu_seconds():
    t = os.times()
    return t.user + t.system


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench(trainer, args):
    for _ in range(args.warmup):
        trainer.step()
    times, started_cpu, started = [], cpu_seconds(), time.perf_counter()
    for _ in range(args.steps):
        sync(args.device)
        t0 = time.perf_counter()
        loss = trainer.step()
        sync(args.device)
        times.append(time.perf_counter() - t0)
    wall = time.perf_counter() - started
    median = statistics.median(times)
    tokens = trainer.batch * trainer.ctx
    return {
        "steps": args.steps,
        "warmup": args.warmup,
        "tokens_per_step": tokens,
        "median_s_per_step": median,
        "median_tokens_per_s": tokens / median,
        "mean_tokens_per_s": tokens * args.steps / sum(times),
        "cores_busy": (cpu_seconds() - started_cpu) / wall,
        "last_loss": loss,
    }


def train_for(trainer, valid, args):
    started = time.perf_counter()
    while trainer.step_index < trainer.train["max_steps"]:
        trainer.step()
        if time.perf_counter() - started >= args.time_budget_s:
            break
    trained = time.perf_counter() - started
    eval_started = time.perf_counter()
    loss, tokens = trainer.evaluate(valid, args.eval_batch or trainer.batch)
    return {
        "steps": trainer.step_index,
        "train_s": trained,
        "val_loss": loss,
        "val_ppl": math.exp(loss),
        "val_tokens": tokens,
        "eval_s": time.perf_counter() - eval_started,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="a perplex run config, e.g. configs/ptb-small.toml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true", help="train through torch.compile")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before them")
    parser.add_argument("--time-budget-s", type=float, default=0.0,
                        help="instead of timing steps: train this many seconds, then validate")
    parser.add_argument("--eval-batch", type=int, default=0)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model_config, train = read_config(args.config, args.set)
    stream, vocab = read_split(args.data_dir, "train")
    trainer = Trainer(model_config, train, len(vocab), stream, args.device, args.compile)
    if args.time_budget_s > 0:
        valid, _ = read_split(args.data_dir, "valid", vocab)
        report = train_for(trainer, valid, args)
    else:
        report = bench(trainer, args)
    report.update({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": args.device,
        "compile": args.compile,
        "params": sum(p.numel() for p in trainer.model.parameters()),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    })
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
