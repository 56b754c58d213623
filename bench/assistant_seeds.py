"""The measurements of module 09 ("From predictor to assistant") over seeds: the ranges its
page and its text give.

The notebook runs one seed of each draw. This runs the same pipeline, with the exercises'
reference answers (`tests/assistant_answers.py`), for seeds 0, 1 and 2 of everything drawn
or trained in the notebook: the answers sampled, the reward models' training, the pool of
best-of-n, the DPO batches and the evaluations. The creator is the shipped one (its
training is `scripts/train_assistant.py`'s). It prints each figure per seed and its range,
and stores them in `bench/results/assistant_seeds.json`. About a minute per seed.

    python bench/assistant_seeds.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import assistant_answers as answers  # noqa: E402

from genlab import assistant  # noqa: E402


def measure(seed: int) -> dict[str, float]:
    """The module's figures for one seed (the notebook's seeds shifted by `seed`)."""
    creator = assistant.load_creator()
    countries = list(assistant.REAL)
    out: dict[str, float] = {}
    judge, weak = _judge(seed), _judge(seed, countries=[])
    base = assistant.evaluate(creator, judge, draws=32, seed=1 + seed)
    out["bare: seen false-fact rate"] = base.seen["not_true"]
    out["bare: unseen false (plausible)"] = base.unseen["false"]
    table = assistant.Retriever()
    for label, members, typos in [
        ("seen", assistant.SEEN, False),
        ("unseen", assistant.UNSEEN, False),
        ("misspelt", countries, True),
    ]:
        g = assistant.grounded_rates(
            creator, table, answers.cosine_scores, members, samples=8, typos=typos, seed=seed
        )
        out[f"grounding {label}: bare true"] = g["bare"]["rates"]["true"]
        out[f"grounding {label}: retrieved true"] = g["retrieved"]["rates"]["true"]
        out[f"grounding {label}: wrong line copied"] = g["wrong"]["copied"]
        out[f"grounding {label}: wrong line true"] = g["wrong"]["rates"]["true"]
        out[f"grounding {label}: retriever right"] = g["retrieved"]["hits"]
    for name, model in [("judge", judge), ("weak judge", weak)]:
        for group, members in [("seen", assistant.SEEN), ("unseen", assistant.UNSEEN)]:
            held_out = assistant.preference_pairs(members, per_country=12, seed=5 + seed)
            for k, kind in enumerate(["another capital", "misspelt", "invented"]):
                out[f"{name} accuracy, {group}, {kind}"] = assistant.pair_accuracy(
                    model, held_out[k::3]
                )
    pool = assistant.draw_pool(creator, judge, countries, groups=4, n=16, seed=2 + seed)
    weak_pool = assistant.rescore(pool, weak)
    for name, p in [("judge", pool), ("weak judge", weak_pool)]:
        sweep = assistant.best_of_n_sweep(p, answers.best_of_n, (1, 4, 16))
        for n, s in sweep.items():
            out[f"best of {n}, {name}: seen false-fact rate"] = s["seen"]["not_true"]
            out[f"best of {n}, {name}: reward"] = s["reward"]
            out[f"best of {n}, {name}: characters"] = s["length"]
    gold = assistant.gold_pairs(pool, per_country=16)
    for beta in (0.1, 0.3, 1.0, 3.0):
        run = assistant.dpo(
            creator, gold, beta, answers.dpo_loss, answers.sequence_logprob, steps=100, seed=seed
        )
        e = assistant.evaluate(run.creator, judge, draws=32, seed=1 + seed)
        out[f"DPO beta {beta}: seen false-fact rate"] = e.seen["not_true"]
        out[f"DPO beta {beta}: Emma loss rise"] = e.prose_loss - base.prose_loss
        out[f"DPO beta {beta}: different answers"] = e.distinct
    out["before DPO: different answers"] = base.distinct
    labels = assistant.judged_pairs(weak_pool, per_country=32)
    run = assistant.dpo(
        creator, labels, 1.0, answers.dpo_loss, answers.sequence_logprob, steps=100, seed=seed
    )
    e = assistant.evaluate(run.creator, judge, draws=32, seed=1 + seed)
    out["weak labels, beta 1: seen false-fact rate"] = e.seen["not_true"]
    out["weak labels, beta 1: characters"] = e.length
    out["before: characters"] = base.length
    out["weak labels, beta 1: weak judge reward"] = float(
        assistant.rescore(e.pool, weak).rewards.mean()
    )
    out["before: weak judge reward"] = float(assistant.rescore(base.pool, weak).rewards.mean())
    return out


def _judge(seed: int, countries=None):
    pairs = assistant.preference_pairs(assistant.SEEN, per_country=12, seed=seed)
    model, _ = assistant.train_reward_model(
        pairs, answers.bradley_terry_loss, countries=countries, seed=seed
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/assistant_seeds.json")
    args = parser.parse_args()
    runs = {seed: measure(seed) for seed in args.seeds}
    print(f"{'':55}" + "".join(f"{f'seed {s}':>10}" for s in args.seeds) + f"{'range':>20}")
    for key in runs[args.seeds[0]]:
        values = [runs[s][key] for s in args.seeds]
        print(
            f"{key:55}"
            + "".join(f"{v:10.4f}" for v in values)
            + f"{min(values):10.4f}{max(values):10.4f}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({str(s): r for s, r in runs.items()}, indent=1))


if __name__ == "__main__":
    main()
