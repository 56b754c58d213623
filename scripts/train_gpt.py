"""Train module 06's three character models for the same processor time, and save them.

Module 06 compares a tiny transformer with the designs it replaced: a recurrent network
(a GRU) and module 02's window model, each with about 113,000 weights
(`genlab.gpt.DESIGNS`). A fair race gives each the same training time, and a few minutes
each is more than a module's 90 seconds can spend. So this script trains all three once,
on the training paragraphs of *Emma* (the module's corpus and split), each for the same
number of processor seconds on one torch thread, a step of each in turn (`gpt.race`), and
writes `genlab/gpt/checkpoints.pt` (about 1.4 MB), which the package ships and
`gpt.load_trained` reads. The notebook trains its own transformer for a few hundred steps
and compares it with these.

Run from the repository root (three times `--seconds`, about 6 minutes with the default):

    .venv/bin/python scripts/train_gpt.py

Training is seeded, but stops on a clock, so the number of steps (and the weights) depend on
the machine; the file records each design's steps, its processor and wall-clock seconds and
its training curve.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genlab import gpt, text

ROOT = Path(__file__).resolve().parents[1]


def train_all(seconds: float, max_steps: int, seed: int = 0) -> tuple[dict[str, gpt.Trained], str]:
    corpus = text.prose_corpus()
    train_text, _ = text.train_test_text(corpus)
    vocab = text.Vocab.from_text(corpus)
    ids = vocab.encode(train_text)
    nets = {name: gpt.build(name, len(vocab), seed=seed) for name in gpt.DESIGNS}
    trained = gpt.race(nets, ids, seconds, max_steps=max_steps, seed=seed)
    for name, t in trained.items():
        print(f"{name}: {gpt.parameters(t.net):,} weights, {t.steps} steps, "
              f"{t.cpu_seconds:.0f} s of processor, {t.seconds:.0f} s of clock, "
              f"last training loss {t.history[-1][1]:.3f}")  # fmt: skip
    return trained, vocab.chars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="processor seconds per design")
    parser.add_argument("--max-steps", type=int, default=20000)
    parser.add_argument(
        "--seed", type=int, default=0, help="the shipped file: 0; others for ranges"
    )
    parser.add_argument("--out", type=Path, default=gpt.CHECKPOINTS)
    args = parser.parse_args()
    trained, chars = train_all(args.seconds, args.max_steps, args.seed)
    gpt.save_trained(trained, chars, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
