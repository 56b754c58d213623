"""Figures of module 06: training curves of the three designs, loss by position in the
window, the cost of a training step against sequence length, and a still of every
attention head.

Each function draws on a new figure and returns it. One colour per design in all of them
(the transformer in the course's "generative" orange, the recurrent network in blue, the
window model in green), so a design looks the same from one figure to the next.

The design is shared by every topic: see `genlab.figures`. What this module leaves out:
the attention explorer's own picture, which is updated in place (`genlab.gpt.widget`).
"""

from __future__ import annotations

import numpy as np

from ..checks import check_array
from ..figures import CLASS_COLORS, COLORS, new_figure, token_label
from .model import attention_maps

__all__ = [
    "DESIGN_COLORS",
    "plot_training",
    "plot_loss_by_position",
    "plot_step_seconds",
    "attention_snapshots",
]


DESIGN_COLORS = {
    "transformer": COLORS["generative"],
    "recurrent": COLORS["discriminative"],
    "window": CLASS_COLORS[0],
}
_LINE_STYLES = ("-", "--", ":", "-.")


def _color(label: str, i: int) -> str:
    """The colour of a curve: its design's, found by the label's first word
    ("transformer, 2 threads"); any other label takes the next of the spare colours."""
    design = label.replace(",", " ").split()[0] if label.strip() else ""
    return DESIGN_COLORS.get(design, CLASS_COLORS[1:][i % (len(CLASS_COLORS) - 1)])


# ---------------------------------------------------------------------------
# Measurements


def plot_training(records, x: str = "steps"):
    """Each design's training loss against steps, or against the processor time it used.

    Args:
        records: name -> `genlab.gpt.Trained`; its `history` holds (step, running mean of
            the training loss in nats per character) pairs.
        x: "steps", or "seconds": processor seconds, each step taken to cost the record's
            mean (`cpu_seconds / steps`), which is what a fair race holds equal.
    """
    if x not in ("steps", "seconds"):
        raise ValueError(f'x must be "steps" or "seconds", got {x!r}')
    fig = new_figure(figsize=(6.5, 3.8), layout="constrained")
    ax = fig.subplots()
    for i, (name, record) in enumerate(records.items()):
        steps, losses = np.asarray(record.history, dtype=float).reshape(-1, 2).T
        where = steps * (record.cpu_seconds / max(record.steps, 1)) if x == "seconds" else steps
        spent = f"{record.cpu_seconds:.3g} s" if x == "seconds" else f"{record.steps} steps"
        label = f"{name}: {losses[-1]:.2f} after {spent}" if len(losses) else name
        ax.plot(where, losses, color=_color(name, i), label=label)
    ax.set(ylabel="training loss, nats per character")
    ax.set(xlabel="training step" if x == "steps" else "processor seconds (one thread)")
    ax.set_title(
        "Training loss" + (" for the same processor time" if x == "seconds" else ""), fontsize=10
    )
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def plot_loss_by_position(curves, window: int = 8):
    """Held-out loss at each position of the window: how well each design predicts a
    character once it has read 1, 2, ... characters before it.

    Args:
        curves: name -> (T,) held-out loss in nats, entry t after reading t + 1 characters
            (what `genlab.gpt.loss_by_position` returns).
        window: the characters module 02's window model reads, marked by a dashed line.
    """
    fig = new_figure(figsize=(6.5, 3.8), layout="constrained")
    ax = fig.subplots()
    for i, (name, losses) in enumerate(curves.items()):
        losses = np.asarray(losses, dtype=float)
        check_array(losses, f"curves[{name!r}]", shape=(None,), low=0)
        ax.plot(np.arange(1, len(losses) + 1), losses, color=_color(name, i), label=name)
    ax.axvline(
        window, color="grey", ls="--", lw=1, label=f"module 02's window: {window} characters"
    )
    ax.set(xlabel="characters read", ylabel="held-out loss, nats per character")
    ax.set_title("Does reading further back help?", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def plot_step_seconds(lengths, seconds):
    """The time of one training step against the length of the windows, on log-log axes.

    Args:
        lengths: (k,) window lengths measured, in characters.
        seconds: label -> (k,) milliseconds per step at each length, e.g.
            "transformer, 1 thread"; labels of one design share its colour, and each
            further one takes the next line style.
    """
    lengths = np.asarray(lengths, dtype=float)
    fig = new_figure(figsize=(6.5, 3.8), layout="constrained")
    ax = fig.subplots()
    seen: dict[str, int] = {}
    for i, (label, ms) in enumerate(seconds.items()):
        ms = np.asarray(ms, dtype=float)
        check_array(ms, f"seconds[{label!r}]", shape=(len(lengths),), low=0)
        color = _color(label, i)
        style = _LINE_STYLES[seen.get(color, 0) % len(_LINE_STYLES)]
        seen[color] = seen.get(color, 0) + 1
        ax.plot(lengths, ms, marker="o", color=color, ls=style, label=label)
    ax.set(xscale="log", yscale="log")
    ax.set(xlabel="characters in each window (log scale)")
    ax.set(ylabel="milliseconds per training step (log scale)")
    ax.set_xticks(list(lengths), [f"{n:g}" for n in lengths])
    every = np.concatenate([np.asarray(ms, dtype=float) for ms in seconds.values()])
    ticks = [t * 10.0**e for e in range(-2, 5) for t in (1, 2, 5)]
    ticks = [t for t in ticks if every.min() / 1.2 < t < every.max() * 1.2]
    if len(ticks) >= 2:  # plain numbers instead of powers of ten; else matplotlib's own
        ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_title("The cost of one training step as windows grow", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------
# Attention


def attention_snapshots(net, vocab, text: str, max_chars: int = 24):
    """The static companion of `attention_explorer`: every head of every layer at once, a
    heat map each, rows the positions that look, columns the positions looked at.

    Future positions, which the causal mask hides, are grey; the colour scale is a square
    root, so weights of a few percent still show.

    Args:
        net: a `genlab.gpt.TinyGPT`.
        vocab: its `genlab.text.Vocab`.
        text: what it reads; cut to its last `max_chars` characters (the title says so),
            so that each character's label stays legible.
    """
    from matplotlib import colormaps
    from matplotlib.colors import PowerNorm

    if not text:
        raise ValueError("the text is empty: pass at least one character")
    shown = text[-max_chars:]
    maps = attention_maps(net, vocab.encode(shown))  # (layers, heads, T, T)
    layers, heads, T, _ = maps.shape
    future = np.triu(np.ones((T, T), dtype=bool), 1)
    cmap = colormaps["Oranges"].with_extremes(bad="#d9d9d9")
    labels = [token_label(c) for c in shown]
    fig = new_figure(figsize=(2.5 * heads + 0.9, 2.55 * layers + 0.5), layout="constrained")
    axes = fig.subplots(layers, heads, squeeze=False)
    for (layer, head), ax in np.ndenumerate(axes):
        image = ax.imshow(
            np.ma.masked_array(maps[layer, head], future),
            cmap=cmap,
            norm=PowerNorm(0.5, 0, 1),
            aspect="auto",
        )
        ax.set_xticks(
            range(T), labels if layer == layers - 1 else [], fontsize=6.5, family="monospace"
        )
        ax.set_yticks(range(T), labels if head == 0 else [], fontsize=6.5, family="monospace")
        ax.tick_params(length=0, pad=1)
        ax.set_title(f"layer {layer}, head {head}", fontsize=9)
    fig.supxlabel("position looked at (key)", fontsize=9)
    fig.supylabel("position looking (query)", fontsize=9)
    fig.colorbar(image, ax=axes, shrink=0.6, fraction=0.03, label="attention weight")
    cut = f" (its last {len(shown)} of {len(text)} characters)" if len(shown) < len(text) else ""
    fig.suptitle(f"Where each position looks, in every head{cut}; grey: the future", fontsize=10)
    return fig
