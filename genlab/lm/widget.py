"""The temperature explorer of module 02: the next-character probabilities under temperature,
top-k and top-p, with sampled continuations. `next_token_view` computes, the explorer is
the thin UI, `temperature_snapshots` the static figure beside it.

The design is shared by every topic: see `genlab.live`.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..figures import new_figure, token_label
from ..live import live_figure, make_live, png
from .figures import draw_next_tokens
from .model import Sampler, complete, entropy_bits

__all__ = ["NextTokenView", "next_token_view", "temperature_snapshots", "temperature_explorer"]


@dataclass(frozen=True)
class NextTokenView:
    """What the temperature explorer shows for one setting.

    Attributes:
        chars: the `k` most likely next characters, most likely first.
        probs: (k,) their probabilities after the filters and the temperature.
        entropy: entropy of the whole next-character distribution, in bits.
        samples: continuations of the prompt sampled with that setting.
    """

    chars: tuple[str, ...]
    probs: np.ndarray
    entropy: float
    samples: tuple[str, ...]


def next_token_view(
    model,
    vocab,
    sampler: Sampler,
    prompt: str,
    temperature: float,
    top_k: int | None = None,
    top_p: float | None = None,
    k: int = 15,
    n_samples: int = 3,
    n_new: int = 60,
    seed: int = 0,
) -> NextTokenView:
    """The next-character distribution after `prompt`, and a few sampled continuations.

    Every number comes from the student's functions in `sampler`; the seed fixes the
    random draws, so the same setting always shows the same samples.
    """

    if not prompt:
        raise ValueError("the prompt is empty: type at least one character")
    probs = sampler.distribution(
        model.next_logits(vocab.encode(prompt)), temperature, top_k=top_k, top_p=top_p
    )
    top = np.argsort(-probs, kind="stable")[:k]
    rng = np.random.default_rng(seed)
    samples = tuple(
        complete(sampler.generate, model, vocab, prompt, n_new, temperature, rng, top_k, top_p)
        for _ in range(n_samples)
    )
    return NextTokenView(
        tuple(vocab.chars[i] for i in top), probs[top], float(entropy_bits(probs)), samples
    )


def _caption(view: NextTokenView, temperature: float) -> str:
    return f"T = {temperature:g}: entropy {view.entropy:.2f} bits"


class _Bars:
    """One bar chart drawn once and updated in place: re-laying out a figure on every
    change would cost most of the 100 ms a redraw may take."""

    def __init__(self, k: int):
        self.fig = new_figure(figsize=(6.4, 3.0), dpi=80)
        self.fig.subplots_adjust(left=0.1, right=0.98, top=0.88, bottom=0.12)
        self.ax = self.fig.subplots()
        draw_next_tokens(self.ax, [""] * k, np.zeros(k))
        self.bars = self.ax.patches

    def png(self, view: NextTokenView, title: str) -> bytes:
        heights = np.zeros(len(self.bars))
        heights[: len(view.probs)] = view.probs
        for bar, height in zip(self.bars, heights, strict=True):
            bar.set_height(height)
        labels = [token_label(c) for c in view.chars] + [""] * (len(self.bars) - len(view.chars))
        self.ax.set_xticklabels(labels)
        self.ax.set_title(title, fontsize=10)
        return png(self.fig)


def temperature_snapshots(
    model, vocab, sampler: Sampler, prompt: str, temperatures=(0.3, 1.0, 2.0), seed: int = 0
):
    """The static companion of `temperature_explorer`: one column per temperature, the
    next-character bars on top and a sampled continuation below."""
    fig = new_figure(figsize=(4.4 * len(temperatures), 4.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(temperatures)))
    for ax, temperature in zip(axes, temperatures, strict=True):
        view = next_token_view(model, vocab, sampler, prompt, temperature, n_samples=1, seed=seed)
        draw_next_tokens(ax, view.chars, view.probs, _caption(view, temperature))
        text = textwrap.fill(prompt + view.samples[0], 36)
        ax.text(0.0, -0.22, text, transform=ax.transAxes, va="top", family="monospace", fontsize=8)
    fig.suptitle(f"Next character after {prompt!r}, and one sampled continuation", fontsize=11)
    fig.get_layout_engine().set(h_pad=0.1)
    return fig


def temperature_explorer(
    models: Mapping[str, tuple[object, object]],
    sampler: Sampler,
    prompt: str,
    seed: int = 0,
    n_new: int = 60,
):
    """Temperature, top-k and top-p controls over a model's next-character distribution.

    Shows the 15 most likely next characters, the entropy of the distribution and three
    continuations sampled with the current setting; every change redraws at once.

    Args:
        models: name -> (model with `next_logits`, its `genlab.text.Vocab`).
        sampler: the student's functions, as a `genlab.lm.Sampler`.
        prompt: the starting text (editable in the widget).
    """
    import ipywidgets as widgets

    names = list(models)
    choose = widgets.Dropdown(options=names, value=names[0], description="model")
    text = widgets.Text(value=prompt, description="prompt", layout=widgets.Layout(width="70%"))
    temperature = widgets.FloatSlider(
        value=1.0, min=0.0, max=2.0, step=0.05, description="temperature", readout_format=".2f"
    )
    top_k = widgets.IntSlider(value=0, min=0, max=40, description="top-k (0 off)")
    top_p = widgets.FloatSlider(
        value=1.0, min=0.05, max=1.0, step=0.05, description="top-p (1 off)", readout_format=".2f"
    )
    resample = widgets.Button(description="new samples", icon="refresh")
    image, samples = widgets.Image(format="png"), widgets.HTML()
    for control in (temperature, top_k, top_p):
        control.style.description_width = "initial"

    bars = _Bars(k=15)
    state = {"seed": seed}

    def redraw():
        model, vocab = models[choose.value]
        try:
            view = next_token_view(
                model,
                vocab,
                sampler,
                text.value,
                temperature.value,
                top_k=top_k.value or None,
                top_p=top_p.value if top_p.value < 1 else None,
                n_new=n_new,
                seed=state["seed"],
            )
        except Exception as error:  # a character the model does not know, or a bug of ours
            samples.value = f"<p style='color:#c0504d'>{html.escape(str(error))}</p>"
            return
        image.value = bars.png(view, _caption(view, temperature.value))
        prompt_html = html.escape(text.value)
        samples.value = "".join(
            f"<pre style='margin:2px 0;white-space:pre-wrap'><b>{prompt_html}</b>"
            f"{html.escape(s)}</pre>"
            for s in view.samples
        )

    def new_samples(_):
        state["seed"] += 1
        timed_redraw()

    box = live_figure(
        [
            widgets.HBox([choose, text]),
            temperature,
            widgets.HBox([top_k, top_p, resample]),
            image,
            samples,
        ]
    )
    box.name = "temperature explorer"
    box.model, box.prompt, box.temperature, box.top_k, box.top_p = (
        choose,
        text,
        temperature,
        top_k,
        top_p,
    )
    box.image, box.samples = image, samples
    sweep = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    changes = [(temperature, t) for t in sweep + sweep[-2::-1]]
    changes += [(top_k, k) for k in (1, 5, 10, 20, 0)] + [(top_p, p) for p in (0.5, 0.9, 1.0)]
    changes += [(text, prompt + " the"), (text, prompt)] + [
        (choose, n) for n in names[1:] + names[:1]
    ]
    timed_redraw = make_live(box, redraw, [choose, text, temperature, top_k, top_p], changes)
    resample.on_click(new_samples)
    return box
