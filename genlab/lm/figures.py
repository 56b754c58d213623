"""Figures of module 02: next-token bars, the bigram table, training curves, temperature sweeps
and fact checks.

The design is shared by every topic: see `genlab.figures`.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_array
from ..figures import (
    CLASS_COLORS,
    COLORS,
    VERDICT_COLORS,
    new_figure,
    token_label,
)

__all__ = ["draw_next_tokens", "plot_bigram", "plot_training", "plot_sweep", "plot_fact_check"]


# Characters that print as nothing get a visible stand-in on an axis.


def draw_next_tokens(ax, chars, probs, title: str = "", color: str = COLORS["generative"]):
    """Bars of next-token probabilities on `ax`, most likely first.

    Args:
        chars: the k tokens, as strings.
        probs: (k,) their probabilities.
    """
    probs = np.asarray(probs, dtype=float)
    ax.bar(range(len(probs)), probs, color=color)
    ax.set_xticks(range(len(probs)), [token_label(c) for c in chars], fontfamily="monospace")
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot_bigram(probs: np.ndarray, vocab, chars: str = " etaoinsrhlcdu.,"):
    """A heat map of P(next | previous) for a few frequent characters.

    Args:
        probs: (V, V) rows of next-character probabilities, row = previous character.
        vocab: the `genlab.text.Vocab` the rows and columns are indexed by.
        chars: the characters to show, in this order, on both axes.
    """
    probs = np.asarray(probs, dtype=float)
    V = len(vocab)
    check_array(probs, "probs", shape=(V, V), low=0, high=1)
    idx = vocab.encode(chars)
    fig = new_figure(figsize=(6.4, 5.4))
    ax = fig.subplots()
    image = ax.imshow(probs[np.ix_(idx, idx)], cmap="Oranges", vmin=0)
    labels = [token_label(c) for c in chars]
    ax.set_xticks(range(len(chars)), labels, fontfamily="monospace")
    ax.set_yticks(range(len(chars)), labels, fontfamily="monospace")
    ax.set(xlabel="next character", ylabel="previous character")
    ax.set_title("P(next | previous), counted from the corpus", fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def plot_training(history, held_out: dict[str, float], title: str = "Loss in nats per character"):
    """The neural model's training loss against steps, and each model's held-out loss.

    Args:
        history: (step, loss) pairs, as `genlab.lm.NeuralLM.history` holds them.
        held_out: model name -> held-out loss in nats per character (a dashed line each).
    """
    steps, losses = np.asarray(history, dtype=float).T
    fig = new_figure(figsize=(6.5, 3.8))
    ax = fig.subplots()
    ax.plot(steps, losses, color=COLORS["generative"], label="neural model, training batches")
    for (name, loss), color in zip(held_out.items(), CLASS_COLORS, strict=False):
        ax.axhline(loss, ls="--", color=color, label=f"{name}, held-out: {loss:.2f}")
    ax.set(xlabel="training step", ylabel="nats per character", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_sweep(temperatures, series: dict[str, list[float]], ylabel: str, title: str):
    """One line per measured quantity against temperature.

    Args:
        temperatures: (n,) the temperatures measured.
        series: label -> (n,) values, one per temperature.
    """
    fig = new_figure(figsize=(6.5, 3.8))
    ax = fig.subplots()
    for (label, values), color in zip(series.items(), CLASS_COLORS, strict=False):
        ax.plot(temperatures, values, marker="o", color=color, label=label)
    ax.set(xlabel="temperature", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend()
    fig.tight_layout()
    return fig


def plot_fact_check(temperatures, verdicts: dict[float, list[str]], title: str):
    """Stacked bars: the share of true, false and nonsense answers at each temperature.

    Args:
        temperatures: the temperatures, in drawing order.
        verdicts: temperature -> verdicts ("true", "false", "nonsense"), one per answer.
    """
    fig = new_figure(figsize=(6.5, 3.8))
    ax = fig.subplots()
    bottom = np.zeros(len(temperatures))
    for verdict, color in VERDICT_COLORS.items():
        share = np.array([np.mean([v == verdict for v in verdicts[t]]) for t in temperatures])
        ax.bar([str(t) for t in temperatures], share, bottom=bottom, color=color, label=verdict)
        bottom += share
    ax.set(xlabel="temperature", ylabel="share of answers", ylim=(0, 1), title=title)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig
