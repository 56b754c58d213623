"""Figures of module 08: confidence, amplification, detectors, and all three risks against
temperature.

The design is shared by every topic: see `genlab.figures`.
"""

from __future__ import annotations

import textwrap

import numpy as np

from ..figures import (
    CLASS_COLORS,
    COLORS,
    VERDICT_COLORS,
    new_figure,
)

__all__ = [
    "plot_confidence",
    "plot_amplification",
    "plot_detectors",
    "plot_risks",
    "mark_risks",
    "plot_responses",
    "RISK_PANELS",
]


def plot_confidence(confidence: dict[str, np.ndarray], title: str = ""):
    """Histograms of the model's confidence in its answers, one per verdict.

    Args:
        confidence: verdict ("true", "false", ...) -> (n,) probabilities in [0, 1].
    """
    fig = new_figure(figsize=(6.5, 3.6))
    ax = fig.subplots()
    bins = np.linspace(0, 1, 21)
    for verdict, values in confidence.items():
        color = VERDICT_COLORS.get(verdict, "grey")
        weights = np.full(len(values), 1 / max(len(values), 1))
        ax.hist(values, bins=bins, weights=weights, color=color, alpha=0.6,
                label=f"{verdict} ({len(values)})")  # fmt: skip
    ax.set(xlabel="the model's probability of its answer", ylabel="share of those answers",
           title=title or "Confidence of true and false answers")  # fmt: skip
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_amplification(temperatures, shares, train_share: float, model_share: float):
    """The share of the majority continuation in samples against temperature, beside the
    training text's share and what tempering the model's own probability predicts.

    Args:
        temperatures: (n,) temperatures (> 0).
        shares: (n,) measured shares in the samples.
        train_share: the share in the training text.
        model_share: the model's own probability of the majority continuation.
    """
    fig = new_figure(figsize=(6.5, 3.6))
    ax = fig.subplots()
    grid = np.linspace(min(temperatures), max(temperatures), 200)
    p, q = model_share ** (1 / grid), (1 - model_share) ** (1 / grid)
    ax.plot(grid, p / (p + q), color="grey", lw=1, label="the model's probability, tempered")
    ax.plot(temperatures, shares, "o", color=COLORS["generative"], label="measured in samples")
    ax.axhline(
        train_share, color="black", ls="--", lw=1, label=f"training text ({train_share:.0%})"
    )
    ax.set(xlabel="temperature", ylabel='share of "he"', ylim=(0.45, 1.02),
           title="A 70/30 skew, sampled at each temperature")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_detectors(steps, accuracy: dict[str, list[float]]):
    """Each detector's accuracy at telling real from fake, against the generator's training.

    Args:
        steps: (n,) training steps of each generator.
        accuracy: detector name -> (n,) held-out accuracies.
    """
    fig = new_figure(figsize=(6.5, 3.6))
    ax = fig.subplots()
    for (name, values), color in zip(accuracy.items(), CLASS_COLORS, strict=False):
        ax.plot(steps, values, marker="o", color=color, label=name)
    ax.axhline(0.5, color="grey", ls=":", lw=1, label="chance")
    ax.set(xscale="log", xlabel="generator training steps", ylabel="detector accuracy",
           ylim=(0.45, 1.02), title="The arms race: better fakes, fooled detectors")  # fmt: skip
    ax.set_xticks(list(steps), [f"{s:,}" for s in steps])
    ax.minorticks_off()
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


RISK_PANELS = (
    ("false_rate", "false-fact rate", "share of claims that are false", (0, 1)),
    ("copied", "copying", "mean longest copied span (characters)", None),
    ("share", "skew", 'share of "he"', (0.45, 1.02)),
)


def plot_risks(sweep, at: float | None = None):
    """The three risks of a `genlab.risks.RiskSweep` against temperature, side by side,
    with the temperature `at` (if given) marked and its values in the titles.

    `mark_risks` moves the mark on the returned figure without drawing it again."""
    fig = new_figure(figsize=(10, 3.2), dpi=80)  # the dashboard redraws it: 80 dpi keeps that fast
    axes = fig.subplots(1, 3)
    fig.risk_marks = []
    for ax, (field, name, ylabel, ylim) in zip(axes, RISK_PANELS, strict=True):
        ax.plot(
            sweep.temperatures, getattr(sweep, field), marker="o", color=COLORS["generative"], ms=4
        )
        if field == "share":
            ax.axhline(sweep.train_share, color="black", ls="--", lw=1, label="training text")
            ax.legend(fontsize=7, loc="upper right")
        line = ax.axvline(sweep.temperatures[0], color="grey", lw=1, visible=False)
        (dot,) = ax.plot([], [], "o", color="black", ms=7)
        fig.risk_marks.append((ax, field, name, line, dot))
        ax.set(xlabel="temperature", ylabel=ylabel, title=f"{name} at T = 0.00: 0.00")
        if ylim:
            ax.set_ylim(*ylim)
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    fig.tight_layout()  # laid out once, with titles as long as any mark makes them
    mark_risks(fig, sweep, at)
    return fig


def mark_risks(fig, sweep, at: float | None) -> None:
    """Mark temperature `at` on a figure of `plot_risks` (None: no mark)."""
    for ax, field, name, line, dot in fig.risk_marks:
        if at is None:
            line.set_visible(False)
            dot.set_data([], [])
            ax.set_title(name)
            continue
        value = getattr(sweep, field)[sweep.temperatures.index(at)]
        line.set_xdata([at, at])
        line.set_visible(True)
        dot.set_data([at], [value])
        ax.set_title(
            f"{name} at T = {at:g}: {value:.0f}"
            if field == "copied"
            else f"{name} at T = {at:g}: {value:.2f}"
        )


def plot_responses(responses):
    """What a combined system answered: a digit image or a text under each request.

    Args:
        responses: (request, kind, answer) triples; answer is a (64,) image in [0, 1]
            for kind "image", a string for kind "text".
    """
    fig = new_figure(figsize=(10, 1.9 * ((len(responses) + 2) // 3)))
    axes = np.atleast_1d(fig.subplots((len(responses) + 2) // 3, 3)).ravel()
    for ax, (request, kind, answer) in zip(axes, responses, strict=False):
        ax.set_title(textwrap.fill(f"{request!r} -> {kind}", 40), fontsize=8)
        if kind == "image":
            ax.imshow(np.asarray(answer).reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        else:
            ax.text(0.02, 0.5, textwrap.fill(str(answer), 40), fontsize=8, va="center",
                    family="monospace", transform=ax.transAxes)  # fmt: skip
        ax.set_xticks([]), ax.set_yticks([])
    for ax in axes[len(responses) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig
