"""The attention explorer of module 05: pick a line and a query position, see the weights it
gives every earlier character (computed by the student's `attention`). `attention_view`
computes, the explorer is the thin UI, `attention_snapshots` the static figure.

The design is shared by every topic: see `genlab.live`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..checks import check_array
from ..figures import token_label
from ..live import live_figure, make_live, png
from .figures import AttentionFigure, plot_attention_strips
from .recall import Trained

__all__ = ["AttentionView", "attention_view", "attention_snapshots", "attention_explorer"]


@dataclass(frozen=True)
class AttentionView:
    """One line as the attention model sees it, through the student's `attention`.

    Attributes:
        text: the line, one character per position.
        weights: (length, length) attention weights; row i is where position i looks.
        answer: the character the model names after the last position.
        confidence: the probability it gives that character.
    """

    text: str
    weights: np.ndarray
    answer: str
    confidence: float


def attention_view(model: Trained, vocab, attention: Callable, ids) -> AttentionView:
    """Where each position of a line looks, and what the model answers at its end.

    The queries, keys and values come from the trained `TinyAttention`; the weights and
    the mix the answer is read from come from the student's `attention(Q, K, V,
    causal=True)`, so the view is exactly as right as that function.

    Args:
        model: a `genlab.ingredients.Trained` attention model.
        vocab: the task's `genlab.text.Vocab`.
        ids: (length,) int ids of one line.
    """
    Q, K, V = model.net.qkv(ids)
    result = attention(Q, K, V, causal=True)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError("attention(Q, K, V, causal=True) should return a pair (output, weights)")
    output, weights = (np.asarray(part, dtype=float) for part in result)
    n = len(ids)
    check_array(output, "attention(...)[0], the output", shape=(n, V.shape[1]))
    check_array(weights, "attention(...)[1], the weights", shape=(n, n), low=0, high=1 + 1e-6)
    import torch

    probs = torch.softmax(torch.as_tensor(model.net.read_out(output[-1])), dim=0).numpy()
    best = int(np.argmax(probs))
    return AttentionView(vocab.decode(ids), weights, vocab.chars[best], float(probs[best]))


def _attention_title(view: AttentionView, query: int) -> str:
    looked_at = int(np.argmax(view.weights[query]))
    title = (
        f"position {query} ({token_label(view.text[query])!r}) looks hardest at position "
        f"{looked_at} ({token_label(view.text[looked_at])!r}, weight "
        f"{view.weights[query, looked_at]:.2f})"
    )
    if query == len(view.text) - 1:
        title += f"; the model answers {view.answer!r} (p = {view.confidence:.2f})"
    return title


def attention_snapshots(model: Trained, vocab, attention: Callable, lines: Mapping[str, object]):
    """The static companion of `attention_explorer`: each line shaded by the attention of
    its last position, the "?" where the model answers.

    Args:
        lines: a name for each line -> (length,) its ids.
    """
    rows = []
    for name, ids in lines.items():
        view = attention_view(model, vocab, attention, ids)
        last = len(view.text) - 1
        rows.append((f"{name}: {_attention_title(view, last)}", view.text, view.weights[last]))
    return plot_attention_strips(rows)


def attention_explorer(model: Trained, vocab, attention: Callable, lines: Mapping[str, object]):
    """Pick a line and a query position; see which earlier positions it attends to.

    The strip shades each character by the attention weight the chosen position gives
    it (the position itself is outlined; later ones, hidden by the causal mask, are
    grey); below, the whole matrix of weights with the chosen row outlined. At the last
    position, the "?", the caption also gives the model's answer.

    Args:
        model: a `genlab.ingredients.Trained` attention model.
        vocab: the task's `genlab.text.Vocab`.
        attention: the student's `attention(Q, K, V, causal=False) -> (output, weights)`.
        lines: a name for each line -> (length,) its ids; all of one length.
    """
    import ipywidgets as widgets

    if not lines:
        raise ValueError("no lines: pass a dict of name -> ids")
    names = list(lines)
    length = len(lines[names[0]])
    choose = widgets.Dropdown(options=names, value=names[0], description="line")
    query = widgets.IntSlider(
        value=length - 1, min=0, max=length - 1, description="query position",
        layout=widgets.Layout(width="70%"), style={"description_width": "initial"},
    )  # fmt: skip
    image, caption = widgets.Image(format="png"), widgets.HTML()
    figure, views = AttentionFigure(length), {}

    def redraw():
        name = choose.value
        if name not in views:
            try:
                views[name] = attention_view(model, vocab, attention, lines[name])
            except Exception as error:  # not written yet, or wrong: say so where it draws
                caption.value = (
                    f"<p style='color:#c0504d'>attention failed: "
                    f"{html.escape(type(error).__name__)}: {html.escape(str(error))}</p>"
                )
                return
        view = views[name]
        title = _attention_title(view, query.value)
        image.value = png(figure.draw(view.text, view.weights, query.value))
        caption.value = html.escape(title, quote=False)

    box = live_figure([widgets.HBox([choose]), query, image, caption])
    box.name, box.line, box.query, box.image, box.caption = (
        "attention explorer", choose, query, image, caption,
    )  # fmt: skip
    changes = [(query, q) for q in range(length - 1, -1, -4)] + [(query, length - 1)]
    changes += [(choose, n) for n in names[1:] + names[:1]]
    make_live(box, redraw, [choose, query], changes)
    return box
