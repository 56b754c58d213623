"""Figures of module 09: what retrieval does to the creator's answers, how well the reward
model ranks answers, what best-of-n keeps as n grows, and what preference tuning (DPO)
buys and costs as beta changes.

Each function draws on a new figure and returns it. An answer's verdict keeps one colour
in every figure and in the assistant explorer (`genlab.figures.VERDICT_COLORS`: true
green, false orange, nonsense grey), and the base creator's value is always a dashed
line.

The design is shared by every topic: see `genlab.figures`. What this module leaves out:
the explorer's own picture, which is updated in place (`genlab.assistant.widget`), and any
measuring: every number drawn comes from `genlab.assistant.model`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..figures import CLASS_COLORS, COLORS, VERDICT_COLORS, new_figure

__all__ = [
    "VERDICTS",
    "WAYS",
    "draw_verdict_bars",
    "plot_grounding",
    "plot_reward_accuracy",
    "plot_best_of_n",
    "plot_tuning",
]


VERDICTS = ("true", "false", "nonsense")
# the three ways `grounded_rates` asks, as the figures name them
WAYS = {"bare": "no line", "retrieved": "retrieved line", "wrong": "another\ncountry's line"}
_RUN_STYLES = ("-", "--", ":", "-.")
_RUN_COLORS = (COLORS["generative"], COLORS["discriminative"], *CLASS_COLORS)


def _check_rates(rates, where: str) -> dict[str, float]:
    """`rates` as {"true", "false", "nonsense"} -> share, or a ValueError naming `where`."""
    if not isinstance(rates, Mapping) or any(v not in rates for v in VERDICTS):
        raise ValueError(f'{where} must hold the shares of "true", "false" and "nonsense" '
                         f"(`model.rates`), got {rates!r}")  # fmt: skip
    return {v: float(rates[v]) for v in VERDICTS}


def draw_verdict_bars(ax, x, rates: list[dict[str, float]], width: float = 0.7) -> list:
    """Bars at `x` on `ax`, each a stack of the shares of true, false and nonsense answers
    of one `model.rates` dict, true at the bottom.

    Returns:
        One `BarContainer` per verdict, in the order of `VERDICTS`, labelled with it.
    """
    bottom, containers = np.zeros(len(rates)), []
    for verdict in VERDICTS:
        heights = np.array([r[verdict] for r in rates], dtype=float)
        containers.append(ax.bar(x, heights, width, bottom=bottom, color=VERDICT_COLORS[verdict],
                                 label=verdict))  # fmt: skip
        bottom += heights
    return containers


def _log2_axis(ax, ns) -> None:
    """A log-2 x axis ticked at each of `ns`."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(ns), [f"{n:g}" for n in ns])
    ax.minorticks_off()


# ---------------------------------------------------------------------------
# Retrieval


def plot_grounding(results: Mapping[str, Mapping]):
    """The creator's answers three ways, one panel per set of questions: with no line in
    its context, with the line the retriever picked, and with another country's line.
    Each bar stacks the shares of true, false and nonsense answers; above the retrieved
    bar, the share of questions the retriever gave their own country's line (its hit
    rate); above the other country's bar, the share of answers that copy the capital of
    that line.

    Args:
        results: label -> `model.grounded_rates(...)`, e.g. {"seen countries": ...,
            "unseen countries": ..., "misspelt questions": ...}.
    """
    if not results:
        raise ValueError("no results: pass a dict of label -> model.grounded_rates(...)")
    for label, result in results.items():
        missing = [way for way in WAYS if way not in result]
        if missing:
            raise ValueError(f"results[{label!r}] has no {', '.join(map(repr, missing))}: "
                             "pass the output of model.grounded_rates")  # fmt: skip
        if "hits" not in result["retrieved"]:
            raise ValueError(f'results[{label!r}]["retrieved"] has no "hits" (the retriever\'s '
                             "hit rate): pass the output of model.grounded_rates")  # fmt: skip
    fig = new_figure(figsize=(3.4 * len(results) + 1.2, 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(results), sharey=True))
    for ax, (label, result) in zip(axes, results.items(), strict=True):
        rates = [_check_rates(result[way]["rates"], f'results[{label!r}]["{way}"]["rates"]')
                 for way in WAYS]  # fmt: skip
        draw_verdict_bars(ax, np.arange(len(WAYS)), rates)
        hits, copied = float(result["retrieved"]["hits"]), float(result["wrong"]["copied"])
        ax.text(1, 1.02, f"retriever hit\n{hits:.0%}", ha="center", va="bottom", fontsize=8)
        ax.text(2, 1.02, f"copied\n{copied:.0%}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(WAYS)), list(WAYS.values()), fontsize=8)
        ax.set(ylim=(0, 1.22), xlabel="what the context held", title=label)
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("share of answers")
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False,
                    title="answer", title_fontsize=8)  # fmt: skip
    fig.suptitle("The creator's answers, without and with a line of the knowledge table",
                 fontsize=10)  # fmt: skip
    return fig


# ---------------------------------------------------------------------------
# The reward model


def plot_reward_accuracy(accuracy: Mapping[str, Mapping[str, float]]):
    """How often the reward model scores the true capital above a wrong answer: one group
    of bars per set of countries, one bar per kind of wrong answer, each bar's height its
    pair accuracy (written above it), and a dashed line at 0.5, what a coin would score.

    Args:
        accuracy: label -> kind of wrong answer -> `model.pair_accuracy(...)` in [0, 1],
            e.g. {"seen countries": {"another capital": 1.0, "misspelt": 0.99,
            "invented": 1.0}, "unseen countries": {...}}. A kind missing from a group
            leaves its place empty.
    """
    if not accuracy:
        raise ValueError("no accuracies: pass a dict of label -> {kind of wrong answer: "
                         "model.pair_accuracy(...)}")  # fmt: skip
    kinds: list[str] = []
    for label, by_kind in accuracy.items():
        if not isinstance(by_kind, Mapping) or not by_kind:
            raise ValueError(f"accuracy[{label!r}] must be a dict of kind of wrong answer -> "
                             f"pair accuracy, got {by_kind!r}")  # fmt: skip
        for kind, value in by_kind.items():
            if not 0 <= float(value) <= 1:
                raise ValueError(f"accuracy[{label!r}][{kind!r}] = {value}: a pair accuracy "
                                 "is a share, in [0, 1]")  # fmt: skip
            if kind not in kinds:
                kinds.append(kind)
    fig = new_figure(figsize=(1.6 + 0.55 * len(kinds) * len(accuracy), 3.6),
                     layout="constrained")  # fmt: skip
    ax = fig.subplots()
    width = 0.8 / len(kinds)
    for k, kind in enumerate(kinds):
        x = np.arange(len(accuracy)) + (k - (len(kinds) - 1) / 2) * width
        values = [float(by_kind.get(kind, np.nan)) for by_kind in accuracy.values()]
        bars = ax.bar(x, values, width * 0.92, color=CLASS_COLORS[k % len(CLASS_COLORS)],
                      label=kind)  # fmt: skip
        for bar, value in zip(bars, values, strict=True):
            if not np.isnan(value):
                ax.text(bar.get_x() + bar.get_width() / 2, value + 0.01, f"{value:.2f}",
                        ha="center", va="bottom", fontsize=7)  # fmt: skip
    ax.axhline(0.5, color="black", ls="--", lw=1, label="chance")
    ax.set_xticks(range(len(accuracy)), list(accuracy))
    ax.set(ylim=(0, 1.12), ylabel="pair accuracy\n(true capital scored higher)",
           title="The reward model against each kind of wrong answer")  # fmt: skip
    ax.title.set_fontsize(10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False,
              title="the true capital against", title_fontsize=8)  # fmt: skip
    return fig


# ---------------------------------------------------------------------------
# Best of n


def _is_sweep(value) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(v, Mapping) and "seen" in v and "unseen" in v for v in value.values())
    )


def _sweeps(sweep) -> dict[str, Mapping]:
    """label -> sweep, from one sweep (labelled "") or a dict of label -> sweep."""
    if _is_sweep(sweep):
        return {"": sweep}
    if isinstance(sweep, Mapping) and sweep and all(_is_sweep(s) for s in sweep.values()):
        return dict(sweep)
    raise ValueError("expected the output of model.best_of_n_sweep ({n: {\"seen\": ..., "
                     "\"unseen\": ..., \"reward\": ..., \"distinct\": ...}}) or a dict of "
                     "label -> such sweeps")  # fmt: skip


def plot_best_of_n(sweep: Mapping):
    """What best-of-n keeps as n grows, against n on a log-2 axis, in four panels: the
    shares of true, false and nonsense answers kept for the seen countries and for the
    unseen ones, the mean reward of the answers kept, and the mean number of different
    answers kept per country.

    Args:
        sweep: `model.best_of_n_sweep(...)`, {n: {"seen": rates, "unseen": rates,
            "reward": float, "distinct": float, ...}}; or several, as a dict of label ->
            sweep (e.g. {"reward model": sweep, "weak reward model": other}), told apart
            by their line style, which the legend of the reward panel names. Which of the
            two was given is read from the values: a sweep's are dicts holding "seen".
    """
    runs = _sweeps(sweep)
    fig = new_figure(figsize=(13, 3.5), layout="constrained")
    seen_ax, unseen_ax, reward_ax, distinct_ax = fig.subplots(1, 4)
    all_ns = set()
    for i, (label, run) in enumerate(runs.items()):
        ns = sorted(run)
        all_ns.update(ns)
        style = _RUN_STYLES[i % len(_RUN_STYLES)]
        for ax, part in ((seen_ax, "seen"), (unseen_ax, "unseen")):
            rates = [_check_rates(run[n][part], f"sweep[{n}][{part!r}]") for n in ns]
            for verdict in VERDICTS:
                ax.plot(ns, [r[verdict] for r in rates], style, marker="o", ms=4,
                        color=VERDICT_COLORS[verdict],
                        label=verdict if i == 0 else None)  # fmt: skip
        color = _RUN_COLORS[i % len(_RUN_COLORS)]
        for ax, key in ((reward_ax, "reward"), (distinct_ax, "distinct")):
            ax.plot(ns, [float(run[n][key]) for n in ns], style, marker="o", ms=4, color=color,
                    label=label or None)  # fmt: skip
    for ax, part in ((seen_ax, "seen"), (unseen_ax, "unseen")):
        ax.set(ylim=(-0.02, 1.02), ylabel="share of the answers kept",
               title=f"{part} countries")  # fmt: skip
    seen_ax.legend(fontsize=8, title="answer", title_fontsize=8)
    reward_ax.set(ylabel="mean reward of the answers kept", title="what the reward model sees")
    distinct_ax.set(ylabel="different answers kept per country", title="variety")
    if len(runs) > 1:
        reward_ax.legend(fontsize=8)
    for ax in (seen_ax, unseen_ax, reward_ax, distinct_ax):
        _log2_axis(ax, sorted(all_ns))
        ax.set_xlabel("n, answers drawn to keep one")
        ax.title.set_fontsize(10)
        ax.grid(alpha=0.3)
    return fig


# ---------------------------------------------------------------------------
# Preference tuning


def plot_tuning(base, tuned: Mapping[float, object]):
    """What DPO did to the creator, against beta on a log axis, in four panels: the share
    of true answers about the seen countries, the shares of false and of nonsense answers
    about the unseen ones, the mean number of different answers per country, and the loss
    on held-out *Emma* (what tuning costs ordinary text: the alignment tax). The base
    creator's value is a dashed line in each.

    Args:
        base: the base creator's `model.Evaluation`.
        tuned: beta (> 0) -> the `model.Evaluation` of the creator DPO tuned with it.
    """
    if not tuned:
        raise ValueError("no tuned creators: pass a dict of beta -> model.evaluate(...)")
    betas = sorted(tuned)
    for name, evaluation in [("base", base), *((f"tuned[{b!r}]", tuned[b]) for b in betas)]:
        if not all(hasattr(evaluation, a) for a in ("seen", "unseen", "distinct", "prose_loss")):
            raise ValueError(f"{name} must be a model.Evaluation (model.evaluate(...)), "
                             f"got {type(evaluation).__name__}")  # fmt: skip
    if betas[0] <= 0:
        raise ValueError(f"beta = {betas[0]}: DPO's beta is positive (and drawn on a log axis)")
    fig = new_figure(figsize=(13, 3.5), layout="constrained")
    true_ax, unseen_ax, distinct_ax, prose_ax = fig.subplots(1, 4)
    evaluations = [tuned[b] for b in betas]
    base_style = {"ls": "--", "lw": 1.2}
    panels = [
        (true_ax, [("true", lambda e: e.seen["true"], VERDICT_COLORS["true"])]),
        (unseen_ax, [(v, lambda e, v=v: e.unseen[v], VERDICT_COLORS[v])
                     for v in ("false", "nonsense")]),
        (distinct_ax, [("tuned", lambda e: e.distinct, COLORS["generative"])]),
        (prose_ax, [("tuned", lambda e: e.prose_loss, COLORS["generative"])]),
    ]  # fmt: skip
    for ax, curves in panels:
        for name, value, color in curves:
            ax.plot(betas, [value(e) for e in evaluations], marker="o", ms=4, color=color,
                    label=f"{name}, tuned" if ax is unseen_ax else "tuned")  # fmt: skip
            ax.axhline(value(base), color=color, **base_style,
                       label=f"{name}, base" if ax is unseen_ax else "base creator")  # fmt: skip
    true_ax.set(ylim=(-0.02, 1.02), ylabel="share of true answers", title="seen countries")
    unseen_ax.set(ylim=(-0.02, 1.02), ylabel="share of answers", title="unseen countries")
    distinct_ax.set(ylabel="different answers per country", title="variety")
    prose_ax.set(ylabel="nats per character", title="loss on held-out Emma (the tax)")
    for ax in (distinct_ax, prose_ax):
        ax.ticklabel_format(axis="y", useOffset=False)  # the values themselves, not "+1.734"
    for ax in (true_ax, unseen_ax, distinct_ax, prose_ax):
        ax.set_xscale("log")
        ax.set_xticks(betas, [f"{b:g}" for b in betas])
        ax.minorticks_off()
        ax.set_xlabel("DPO's beta")
        ax.title.set_fontsize(10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig
