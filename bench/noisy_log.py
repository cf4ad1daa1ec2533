#!/usr/bin/env python3
"""Writes a nanoGPT-style log of a healthy but noisy run to stdout, for timing and checking
`perplex watch` on a long foreign log (README, "perplex watch"):

    python3 bench/noisy_log.py > noisy.log
    /usr/bin/time perplex watch noisy.log --vocab-size 65 --max-steps 8000

800 evaluations every 10 steps of a character-level run (ln 65 = 4.17 at the start) whose
validation loss, measured on a few batches, scatters by --sigma nats around a falling curve,
and nine batch-2 training losses between evaluations. Seeded: the same log every time.
"""

import argparse
import math
import random


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evals", type=int, default=800)
    parser.add_argument("--sigma", type=float, default=0.12, help="validation noise, nats")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for e in range(args.evals):
        step = 10 * e
        level = 1.45 + 2.75 * math.exp(-step / 600)
        val = level + 0.05 + rng.gauss(0, args.sigma)
        train = level + rng.gauss(0, args.sigma)
        print(f"step {step}: train loss {train:.4f}, val loss {val:.4f}")
        for i in range(1, 10):
            loss = level + rng.gauss(0, 3 * args.sigma)
            print(f"iter {step + i}: loss {loss:.4f}, time 10.00ms, mfu 1.00%")


if __name__ == "__main__":
    main()
