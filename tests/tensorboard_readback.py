"""Reads a perplex run's TensorBoard event files with TensorBoard's own reader and checks
them against the run's metrics.jsonl: every scalar at the right step with the right value
(to f32 precision), and the signals text of every evaluation.

Usage: python3 tests/tensorboard_readback.py RUN_DIR   (needs `pip install tensorboard`)
Exits 1 with the first disagreement; run by `cargo test --test cli` when tensorboard is
installed, and always in CI.
"""

import json
import math
import sys

from tensorboard.backend.event_processing.event_accumulator import (
    EventAccumulator,
    SCALARS,
    TENSORS,
)


def expected_scalars(records):
    """The scalars perplex promises, per tag: {step: value}."""
    want = {}

    def put(tag, step, value):
        want.setdefault(tag, {})[step] = value

    for r in records:
        if r["kind"] == "baseline":
            put("baseline/uniform", r["step"], r["uniform"])
            put("baseline/unigram", r["step"], r["unigram"])
            put("baseline/initial", r["step"], r["initial"])
        elif r["kind"] == "train":
            put("train/loss", r["step"], r["loss"])
            put("lr", r["step"], r["lr"])
            put("train/tokens_per_s", r["step"], r["tokens_per_s"])
        else:
            put("val/loss", r["step"], r["loss"])
            put("val/ppl", r["step"], r["ppl"])
            put("val/bits_per_char", r["step"], r["bits_per_char"])
            put("train/loss_eval", r["step"], r["train_eval_loss"])
            put("gap", r["step"], r["gap"])
            put("health", r["step"], r["health"])
    return want


def main(run_dir):
    with open(f"{run_dir}/metrics.jsonl") as f:
        records = [json.loads(line) for line in f if line.strip()]
    acc = EventAccumulator(run_dir, size_guidance={SCALARS: 0, TENSORS: 0})
    acc.Reload()
    tags = acc.Tags()
    failures = []
    want = expected_scalars(records)
    for tag, by_step in want.items():
        if tag not in tags["scalars"]:
            failures.append(f"scalar {tag} missing; have {sorted(tags['scalars'])}")
            continue
        events = acc.Scalars(tag)
        got = {e.step: e.value for e in events}
        if len(events) != len(got):
            failures.append(f"{tag}: {len(events)} events for {len(got)} steps (duplicates)")
            continue
        if sorted(got) != sorted(by_step):
            failures.append(f"{tag}: steps {sorted(got)} != {sorted(by_step)}")
            continue
        for step, value in by_step.items():
            if not math.isclose(got[step], value, rel_tol=1e-6, abs_tol=1e-6):
                failures.append(f"{tag} at step {step}: {got[step]} != {value}")
    eval_steps = sorted(r["step"] for r in records if r["kind"] == "eval")
    if "signals" not in tags["tensors"]:
        failures.append(f"text 'signals' missing; tensors: {sorted(tags['tensors'])}")
    else:
        events = acc.Tensors("signals")
        steps = sorted(e.step for e in events)
        if steps != eval_steps:
            failures.append(f"signals at steps {steps} != evaluations {eval_steps}")
        first = events[0].tensor_proto.string_val[0].decode()
        kind = next(r for r in records if r["kind"] == "eval")["signals"][0]["kind"]
        if kind not in first:
            failures.append(f"first signals text {first!r} lacks {kind!r}")
    if failures:
        for f in failures:
            print("FAIL:", f)
        sys.exit(1)
    n = sum(len(v) for v in want.values())
    print(f"ok: {n} scalars over {len(want)} tags and {len(eval_steps)} signal texts match")


if __name__ == "__main__":
    main(sys.argv[1])
