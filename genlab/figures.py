"""Figures every topic shares: one palette, a figure outside pyplot's registry, digits.

Each figure function in the course draws on a new matplotlib figure (`new_figure`) or on
axes it is given, and returns the figure, so a notebook shows it with a bare call and a
test can inspect it. The colours are one fixed palette, so "generative" and
"discriminative" look the same in every figure of the course. A topic's own figures live
with its model (`genlab.gan.figures`, ...); what two topics draw alike lives here.

What this module leaves out: styling options; a figure that needs them belongs in the
notebook.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .checks import check_array

__all__ = [
    "COLORS",
    "CLASS_COLORS",
    "VERDICT_COLORS",
    "new_figure",
    "token_label",
    "show_digits",
    "show_digit_rows",
    "log_bars",
]


COLORS = {"generative": "#d9822b", "discriminative": "#2b6cb0"}
CLASS_COLORS = ("#4c9f70", "#c0504d", "#7e57c2", "#e0a800", "#3a87ad")


def _show_figures_in_jupyter() -> None:
    """Make a figure that a cell returns display as a PNG, once (what `%matplotlib inline`
    registers; the figures here never pass through pyplot, so nothing else would)."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import select_figure_formats
    except ImportError:  # plain Python: nothing to display on
        return
    shell = get_ipython()
    if shell is not None:
        select_figure_formats(shell, {"png"})


_show_figures_in_jupyter()


def new_figure(**kwargs) -> Figure:
    """A figure outside pyplot's registry: shown once when a cell returns it, never twice,
    and freed as soon as nothing refers to it (the widgets draw hundreds)."""
    return Figure(**kwargs)


VERDICT_COLORS = {"true": "#4c9f70", "false": "#d9822b", "nonsense": "#9e9e9e"}
_VISIBLE = {" ": "\u2423", "\n": "\u21b5", "\t": "\u21e5"}


def token_label(char: str) -> str:
    """A character as an axis shows it: a space as a visible-space sign, a newline as an arrow."""
    return _VISIBLE.get(char, char)


def show_digits(images: np.ndarray, titles=None, ncols: int = 10, suptitle: str | None = None):
    """A grid of 8x8 digits.

    Args:
        images: (n, 64) or (n, 8, 8) pixel intensities, dark = high; any range.
        titles: optional n short strings, one above each image.
        ncols: images per row.
    """
    images = np.asarray(images, dtype=float)
    check_array(images, "images")
    images = images.reshape(len(images), 8, 8)
    nrows = int(np.ceil(len(images) / ncols))
    fig = new_figure(figsize=(ncols * 0.9, nrows * 1.0 + (0.4 if suptitle else 0)))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < len(images):
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=max(1.0, images.max()))
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_digit_rows(rows):
    """Rows of 8x8 digits in [-1, 1] (clipped there), each row named above its first digit.

    Args:
        rows: (name, (k, 64) digits) pairs, every row as long as the first.
    """
    names, digits = zip(*rows, strict=True)
    per_row = len(digits[0])
    images = np.clip((np.concatenate(digits) + 1) / 2, 0, 1)
    titles = [name if i == 0 else "" for name in names for i in range(per_row)]
    return show_digits(images, titles=titles, ncols=per_row)


def log_bars(ax, values: dict[str, float], colors, label: str, gap: float, room: float):
    """Horizontal bars on a log scale, top to bottom in the order of `values`, each
    labelled with `label.format(value)` at `gap` times its length; the axis reaches
    `room` times the longest bar, so the labels fit."""
    names, lengths = list(values), np.array(list(values.values()), dtype=float)
    ax.barh(names, lengths, color=list(colors)[: len(names)])
    for i, length in enumerate(lengths):
        ax.text(length * gap, i, label.format(length), va="center", fontsize=9)
    ax.set_xscale("log")
    ax.set_xlim(lengths.min() / 3, lengths.max() * room)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
