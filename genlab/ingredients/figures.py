"""Figures of module 05: loss against data, operations per second, and attention strips.

The design is shared by every topic: see `genlab.figures`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..checks import check_array
from ..figures import (
    CLASS_COLORS,
    COLORS,
    log_bars,
    new_figure,
    token_label,
)

__all__ = [
    "plot_data_curve",
    "plot_rates",
    "plot_accuracy_by_distance",
    "AttentionFigure",
    "plot_attention_strips",
]


def plot_data_curve(sizes, losses, fit: tuple[float, float] | None = None):
    """Held-out loss against training-set size on log-log axes, with a fitted power law.

    Args:
        sizes: (k,) characters of training text.
        losses: (k,) held-out loss of the model trained on each, nats per character.
        fit: (exponent, constant) of loss = constant * size ** exponent, drawn as a line.
    """
    sizes, losses = np.asarray(sizes, dtype=float), np.asarray(losses, dtype=float)
    fig = new_figure(figsize=(6.5, 4.0), layout="constrained")
    ax = fig.subplots()
    ax.plot(sizes, losses, "o", color=COLORS["generative"], ms=8, label="one model per size")
    for size, loss in zip(sizes, losses, strict=True):
        ax.annotate(f"{loss:.2f}", (size, loss), xytext=(6, 6), textcoords="offset points")
    if fit is not None:
        exponent, constant = fit
        grid = np.geomspace(sizes.min() / 1.5, sizes.max() * 1.5, 50)
        ax.plot(
            grid,
            constant * grid**exponent,
            color="black",
            lw=1,
            ls="--",
            label=f"fit: loss = {constant:.3g} x size^({exponent:.3f})",
        )
    ax.set(xscale="log", yscale="log", xlabel="characters of training text (log scale)")
    ax.set(ylabel="held-out loss, nats per character (log scale)")
    ticks = [
        t for t in (0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8) if losses.min() / 1.3 < t < losses.max() * 1.3
    ]
    if len(ticks) >= 2:  # plain numbers instead of powers of ten; else matplotlib's own
        ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
    ax.set_title("More data, lower loss: the same model trained on more text", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig


def plot_rates(rates: dict[str, float], unit: str = "operations per second"):
    """One bar per way of computing, on a log scale, each labelled with its rate.

    Args:
        rates: name -> operations per second.
    """
    check_array(np.array(list(rates.values()), dtype=float), "rates", shape=(len(rates),), low=0)
    fig = new_figure(figsize=(6.5, 0.8 + 0.55 * len(rates)), layout="constrained")
    ax = fig.subplots()
    colors = ["grey", COLORS["discriminative"], COLORS["generative"], *CLASS_COLORS]
    log_bars(ax, rates, colors, "{:.3g}", gap=1.2, room=20)
    ax.set(xlabel=f"{unit} (log scale)")
    ax.set_title("One matrix product: the same operations, different speeds", fontsize=10)
    return fig


def plot_accuracy_by_distance(
    distances, accuracy: dict[str, np.ndarray], window: int | None = None
):
    """Accuracy of each model against how far back the answer is, with chance at 1 in 10.

    Args:
        distances: (k,) distances measured.
        accuracy: model name -> (k,) share of lines answered right.
        window: the characters the window model reads, marked as a shaded band.
    """
    fig = new_figure(figsize=(6.5, 3.8), layout="constrained")
    ax = fig.subplots()
    colors = [COLORS["discriminative"], COLORS["generative"], *CLASS_COLORS]
    for (name, values), color in zip(accuracy.items(), colors, strict=False):
        ax.plot(distances, values, marker="o", color=color, label=name)
    ax.axhline(0.1, color="grey", ls=":", label="chance (1 in 10)")
    if window is not None:
        ax.axvspan(0.8, window - 0.5, color=COLORS["discriminative"], alpha=0.08)
        ax.text(1.0, 0.5, "inside the\nwindow", fontsize=8, color=COLORS["discriminative"])
    ax.set(xscale="log", ylim=(0, 1.05), xlabel='distance from the digit to the "?" (log scale)')
    ax.set_xticks(list(distances), [str(d) for d in distances], fontsize=8)
    ax.minorticks_off()
    ax.set(ylabel="share of digits recalled")
    ax.set_title("Recalling a digit seen earlier in the line", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    return fig


class _Strip:
    """A line of text on `ax`, `per_row` characters a row, each shaded by a weight (square-root
    colour scale), one position outlined and the ones after it greyed. Drawn once, then
    updated in place by `show`."""

    def __init__(self, ax, length: int, per_row: int):
        from matplotlib.colors import PowerNorm
        from matplotlib.patches import Rectangle

        self.ax, self.length, self.per_row = ax, length, per_row
        rows = -(-length // per_row)
        self.image = ax.imshow(
            np.zeros((rows, per_row)), cmap="Oranges", norm=PowerNorm(0.5, 0, 1), aspect="auto"
        )
        self.chars = [
            ax.text(i % per_row, i // per_row, "", ha="center", va="center", family="monospace",
                    fontsize=10)
            for i in range(length)
        ]  # fmt: skip
        self.cursor = ax.add_patch(
            Rectangle((-0.5, -0.5), 1, 1, fill=False, ec=COLORS["discriminative"], lw=2.5)
        )
        ax.set_xticks([])
        ax.set_yticks([])

    def set_text(self, text: str) -> None:
        for label, char in zip(self.chars, text, strict=True):
            label.set_text(token_label(char))

    def show(self, weights: np.ndarray, query: int, title: str = "") -> None:
        """Shade by `weights` ((length,), the attention of position `query`) and outline it."""
        shade = np.zeros(self.image.get_array().size)
        shade[: self.length] = weights
        self.image.set_data(shade.reshape(-1, self.per_row))
        for position, label in enumerate(self.chars):
            label.set_color("#bbbbbb" if position > query else "black")
        self.cursor.set_xy((query % self.per_row - 0.5, query // self.per_row - 0.5))
        self.ax.set_title(title, fontsize=10, loc="left")


class AttentionFigure:
    """Where each position of a line looks: the line with its characters shaded by the
    attention of one query position, above the whole matrix of attention weights.

    Drawn once and updated in place, so moving the query costs a few tens of
    milliseconds. Rows of the matrix are query positions, columns the positions they
    look at; the colour scale is a square root, so weights of a few percent still show.
    """

    def __init__(self, length: int, per_row: int = 32, dpi: int = 80):
        from matplotlib.colors import PowerNorm
        from matplotlib.patches import Rectangle

        rows = -(-length // per_row)
        self.fig = new_figure(figsize=(9.0, 1.2 + 0.45 * rows + 4.2), dpi=dpi)
        grid = self.fig.add_gridspec(2, 1, height_ratios=[0.45 * rows + 0.4, 4.2], hspace=0.35)
        self.strip = _Strip(self.fig.add_subplot(grid[0]), length, per_row)
        self.matrix_ax = self.fig.add_subplot(grid[1])
        self.matrix = self.matrix_ax.imshow(
            np.zeros((length, length)), cmap="Oranges", norm=PowerNorm(0.5, vmin=0, vmax=1)
        )
        self.row = self.matrix_ax.add_patch(
            Rectangle((-0.5, -0.5), length, 1, fill=False, ec=COLORS["discriminative"], lw=1.5)
        )
        self.matrix_ax.set(xlabel="position looked at", ylabel="query position")
        self.fig.colorbar(self.matrix, ax=self.matrix_ax, shrink=0.8, label="attention weight")
        self._line = None

    def draw(self, text: str, weights: np.ndarray, query: int, title: str = "") -> Figure:
        """Show `text` (one character per position) and its (length, length) `weights`,
        with the row of position `query` picked out. Positions after the query, which the
        causal mask hides from it, are greyed in the strip."""
        if text != self._line:
            self.strip.set_text(text)
            self.matrix.set_data(weights)
            self._line = text
        self.strip.show(weights[query], query, title)
        self.row.set_y(query - 0.5)
        return self.fig


def plot_attention_strips(rows: list[tuple[str, str, np.ndarray]], per_row: int = 32):
    """Lines of text, each character shaded by the attention one position gives it.

    Args:
        rows: (title, text, weights) for each line: weights is (len(text),), the attention
            of the position the strip is about (outlined: the last one).
    """
    lines = max(-(-len(text) // per_row) for _, text, _ in rows)
    fig = new_figure(figsize=(9.0, (0.45 * lines + 0.5) * len(rows)), layout="constrained")
    for ax, (title, text, weights) in zip(
        np.atleast_1d(fig.subplots(len(rows), 1)), rows, strict=True
    ):
        strip = _Strip(ax, len(text), per_row)
        strip.set_text(text)
        strip.show(weights, len(text) - 1, title)
    return fig
