"""The attention explorer of module 06: pick a text (or type one), a layer, a head and a
position; see where that position looks and what the tiny GPT predicts after it.
`attention_view` computes, the explorer is the thin UI; its static figure is
`genlab.gpt.attention_snapshots`.

The design is shared by every topic: see `genlab.live`. What this module leaves out: the
residual stream and the MLPs (the explorer shows attention weights, not what the heads
write), and sampling (module 02's explorer does that).
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..figures import COLORS, new_figure, token_label
from ..live import blitted_png, live_figure, make_live
from ..lm import draw_next_tokens
from .model import attention_maps, next_probabilities

__all__ = ["AttentionView", "attention_view", "attention_explorer"]


@dataclass(frozen=True)
class AttentionView:
    """One position of a text as one head of the tiny GPT sees it, and the model's guess.

    Attributes:
        text: what the model reads: the text, or its last `net.context` characters.
        dropped: how many characters were cut from the front of a longer text (0 if none).
        layer, head, position: what is shown; `position` indexes `text`.
        weights: (len(text),) the attention the position gives each position of `text`
            in that head (0 after `position`: the causal mask hides the future).
        chars: the most likely next characters after `position`, most likely first.
        probs: (len(chars),) their probabilities.
        actual: the character that does follow `position` in the text; None at its end.
    """

    text: str
    dropped: int
    layer: int
    head: int
    position: int
    weights: np.ndarray
    chars: tuple[str, ...]
    probs: np.ndarray
    actual: str | None


def attention_view(net, vocab, text: str, layer: int, head: int, position: int, k: int = 10):
    """Where one position of a text looks in one head, and what the model predicts after it.

    Args:
        net: a `genlab.gpt.TinyGPT`.
        vocab: its `genlab.text.Vocab`; a character outside it is a ValueError naming it.
        text: any length from 1 character; beyond `net.context`, only the last
            `net.context` characters are read (`dropped` says how many were not).
        layer, head: which head, as `genlab.gpt.attention_maps` indexes them.
        position: 0 <= position < the length of the text read.
        k: how many of the likeliest next characters to keep.
    Returns:
        An `AttentionView`.
    """
    if not text:
        raise ValueError("the text is empty: type at least one character")
    ids = vocab.encode(text)  # names any character outside the vocabulary
    dropped = max(0, len(text) - net.context)
    text, ids = text[dropped:], ids[dropped:]
    if not 0 <= position < len(text):
        raise ValueError(f"position {position} is outside the text: 0 to {len(text) - 1}")
    maps = attention_maps(net, ids)  # (layers, heads, T, T)
    if not (0 <= layer < maps.shape[0] and 0 <= head < maps.shape[1]):
        raise ValueError(
            f"layer {layer}, head {head}: the model has layers 0 to {maps.shape[0] - 1} "
            f"and heads 0 to {maps.shape[1] - 1}"
        )
    probs = next_probabilities(net, ids)[position]
    top = np.argsort(-probs, kind="stable")[:k]
    actual = text[position + 1] if position + 1 < len(text) else None
    return AttentionView(
        text, dropped, layer, head, position, maps[layer, head, position],
        tuple(vocab.chars[i] for i in top), probs[top], actual,
    )  # fmt: skip


def _caption(view: AttentionView, context: int) -> str:
    """What the picture shows, in a sentence or three."""
    p, w = view.position, view.weights
    looked_at = int(np.argmax(w))
    said = (
        f"In layer {view.layer}, head {view.head}, position {p} "
        f"({token_label(view.text[p])!r}) looks hardest at position {looked_at} "
        f"({token_label(view.text[looked_at])!r}, weight {w[looked_at]:.2f}). "
        f"The model's top guess for the next character: {token_label(view.chars[0])!r} "
        f"(p = {view.probs[0]:.2f}); "
    )
    if view.actual is None:
        said += "the text ends here."
    else:
        said += f"the actual next character: {token_label(view.actual)!r}."
    if view.dropped:
        said = (
            f"The text has {len(view.text) + view.dropped} characters; the model reads at "
            f"most {context}, so it reads the last {context}. " + said
        )
    return said


# ---------------------------------------------------------------------------
# The pictures


class _Strip:
    """The text, `per_row` characters a row, each on a cell shaded by the attention one
    position gives it (square-root colour scale, as `attention_snapshots`), the position
    outlined and the ones after it greyed.

    Numpy and PIL only, a few milliseconds a frame: 64 matplotlib text artists would cost
    most of the 100 ms a redraw may take. Each character's glyph is rendered once.
    """

    def __init__(self, length: int, per_row: int = 16, cell: int = 32, top: int = 26):
        from matplotlib import colormaps, font_manager
        from PIL import ImageFont

        self.per_row, self.rows, self.cell, self.top = per_row, -(-length // per_row), cell, top
        mono, sans = (
            font_manager.findfont(font_manager.FontProperties(family=family))
            for family in ("DejaVu Sans Mono", "DejaVu Sans")  # matplotlib's own fonts
        )
        self.font, self.title_font = ImageFont.truetype(mono, 20), ImageFont.truetype(sans, 14)
        self.colors = colormaps["Oranges"](np.linspace(0, 1, 256))[:, :3] * 255
        self.glyphs: dict[str, np.ndarray] = {}
        self.text, self.ink = None, None

    def _glyph(self, char: str) -> np.ndarray:
        """(cell, cell) coverage of a character's glyph, in [0, 1]."""
        from PIL import Image, ImageDraw

        if char not in self.glyphs:
            half = self.cell / 2
            image = Image.new("L", (self.cell, self.cell), 0)
            ImageDraw.Draw(image).text(
                (half, half), token_label(char), fill=255, font=self.font, anchor="mm"
            )
            self.glyphs[char] = np.asarray(image, dtype=float) / 255
        return self.glyphs[char]

    def _grid(self, cells: np.ndarray) -> np.ndarray:
        """(rows * per_row, ...) values, one a cell -> (rows * cell, per_row * cell, ...)."""
        grid = cells.reshape(self.rows, self.per_row, *cells.shape[1:])
        return grid.repeat(self.cell, axis=0).repeat(self.cell, axis=1)

    def png(self, view: AttentionView) -> bytes:
        """The strip of `view` as PNG bytes."""
        from PIL import Image, ImageDraw

        n, size, cell = len(view.text), self.rows * self.per_row, self.cell
        if view.text != self.text:  # the glyphs of a new text, laid out once
            tiles = np.zeros((size, cell, cell))
            tiles[:n] = [self._glyph(c) for c in view.text]
            rows = tiles.reshape(self.rows, self.per_row, cell, cell).transpose(0, 2, 1, 3)
            self.ink = rows.reshape(self.rows * cell, self.per_row * cell, 1)
            self.text = view.text
        shade = np.full((size, 3), 255.0)  # white beyond the text
        levels = np.sqrt(np.clip(view.weights, 0, 1))  # PowerNorm(0.5): small weights show
        shade[:n] = self.colors[np.round(levels * 255).astype(int)]
        ink = np.zeros((size, 1))
        ink[view.position + 1 : n] = 0xBB  # the future, which the causal mask hides: grey
        pixels = self._grid(shade) * (1 - self.ink) + self._grid(ink) * self.ink
        image = Image.new(
            "RGB", (self.per_row * cell + 2, self.top + self.rows * cell + 2), "white"
        )
        image.paste(Image.fromarray(pixels.astype(np.uint8)), (1, self.top + 1))
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, self.top, image.width - 1, image.height - 1), outline="#999999")
        row, column = divmod(view.position, self.per_row)
        x, y = 1 + column * cell, self.top + 1 + row * cell
        draw.rectangle(
            (x, y, x + cell - 1, y + cell - 1), outline=COLORS["discriminative"], width=3
        )
        title = f"layer {view.layer}, head {view.head}: where position {view.position} looks"
        draw.text((2, 4), title, fill="black", font=self.title_font)
        buffer = io.BytesIO()
        image.save(buffer, format="png")
        return buffer.getvalue()


class _Bars:
    """The likeliest next characters, the one that does follow in blue: one bar chart laid
    out once, whose bars, labels and title are drawn for each frame onto its saved
    background (as the GAN scrubber's frames are): a whole chart's text would cost half
    of the 100 ms a redraw may take."""

    def __init__(self, k: int):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.fig = new_figure(figsize=(4.4, 2.4), dpi=80)
        self.fig.subplots_adjust(left=0.15, right=0.98, top=0.88, bottom=0.14)
        self.canvas = FigureCanvasAgg(self.fig)
        self.ax = self.fig.subplots()
        draw_next_tokens(self.ax, [""] * k, np.zeros(k))
        self.ax.set_xticks(range(k), [""] * k)  # the characters are labels of their own:
        self.labels = [  # drawn with the bars, not into the background
            self.ax.text(i, -0.03, "", ha="center", va="top", family="monospace",
                         transform=self.ax.get_xaxis_transform())
            for i in range(k)
        ]  # fmt: skip
        self.bars = self.ax.patches
        self.moving = [*self.bars, *self.labels, self.ax.title]
        for artist in self.moving:
            artist.set_animated(True)  # left out of the saved background
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    def png(self, view: AttentionView) -> bytes:
        """The bars of `view` as PNG bytes."""
        heights = np.zeros(len(self.bars))
        heights[: len(view.probs)] = view.probs
        chars = list(view.chars) + [""] * (len(self.bars) - len(view.chars))
        for bar, label, height, char in zip(self.bars, self.labels, heights, chars, strict=True):
            bar.set_height(height)
            follows = char != "" and char == view.actual
            bar.set_color(COLORS["discriminative"] if follows else COLORS["generative"])
            label.set_text(token_label(char))
        self.ax.set_title(f"next character after position {view.position}", fontsize=10)
        return blitted_png(self.canvas, self.background, self.moving)


# ---------------------------------------------------------------------------
# The explorer


def attention_explorer(net, vocab, texts: Mapping[str, str]):
    """Pick a text, a layer, a head and a position; see where that position looks, and the
    model's next-character probabilities after it.

    The text's characters are shaded by the weight the chosen position gives each (the
    position itself outlined; later ones, hidden by the causal mask, grey); beside it, the
    10 likeliest next characters, the one that does follow in blue. The text box takes
    the student's own text (redrawn on Enter): a character the model does not know is
    named in the caption and the picture stays as it was; a text longer than the model's
    context is read from its last `net.context` characters, and the caption says so. A
    new text starts at its last position, where the model predicts what comes next.

    Args:
        net: a `genlab.gpt.TinyGPT`.
        vocab: its `genlab.text.Vocab`.
        texts: a name for each preset -> its text, e.g. a sentence of the corpus and one
            the model wrote.
    Returns:
        The live widget; its controls are `preset`, `layer`, `head`, `position` and
        `text`, its pictures `strip` and `bars` and its caption `caption`.
    """
    import ipywidgets as widgets

    if not texts:
        raise ValueError("no texts: pass a dict of name -> text")
    for name, preset_text in texts.items():  # a preset it cannot read is the caller's mistake
        if not preset_text:
            raise ValueError(f"the text {name!r} is empty")
        vocab.encode(preset_text)  # names a character outside the vocabulary
    names = list(texts)
    layers, heads = len(net.blocks), net.blocks[0].attn.n_heads
    small = {"description_width": "initial"}
    preset = widgets.Dropdown(options=names, value=names[0], description="text")
    layer = widgets.Dropdown(
        options=list(range(layers)), value=0, description="layer", style=small,
        layout=widgets.Layout(width="120px"),
    )  # fmt: skip
    head = widgets.Dropdown(
        options=list(range(heads)), value=0, description="head", style=small,
        layout=widgets.Layout(width="120px"),
    )  # fmt: skip
    last = min(len(texts[names[0]]), net.context) - 1
    position = widgets.IntSlider(
        value=last, min=0, max=last, description="position",
        style=small, layout=widgets.Layout(width="70%"),
    )  # fmt: skip
    text = widgets.Text(
        value=texts[names[0]], description="your text", continuous_update=False,
        placeholder="type a text, then press Enter", style=small,
        layout=widgets.Layout(width="90%"),
    )  # fmt: skip
    strip, bars, caption = widgets.Image(format="png"), widgets.Image(format="png"), widgets.HTML()
    strip_picture, bars_picture = _Strip(net.context), _Bars(k=10)
    # the text last drawn, whether the slider is being moved by a new text, and what the
    # bars show (they depend on the text and the position only)
    state = {"read": None, "quiet": False, "bars": None}

    def redraw():
        if texts.get(preset.value) != text.value:
            preset.value = None  # a typed text: no preset is chosen, and any can be again
        new = text.value != state["read"]
        try:
            view = attention_view(
                net, vocab, text.value, layer.value, head.value,
                # a new text starts at its last position
                min(len(text.value), net.context) - 1 if new else position.value,
            )  # fmt: skip
        except ValueError as error:  # an empty text, or characters the model does not know
            caption.value = (
                f"<p style='color:#c0504d'>{html.escape(str(error), quote=False)}. "
                "The picture shows the last text drawn.</p>"
            )
            return
        if new:
            state["read"], state["quiet"] = text.value, True
            last = len(view.text) - 1
            position.max, position.value = last, last  # (max first: it may clamp the value)
            state["quiet"] = False
        strip.value = strip_picture.png(view)
        if state["bars"] != (view.text, view.position):
            bars.value, state["bars"] = bars_picture.png(view), (view.text, view.position)
        caption.value = html.escape(_caption(view, net.context), quote=False)

    def choose(change):
        if change["new"] is not None:
            text.value = texts[change["new"]]  # which redraws

    box = live_figure(
        [widgets.HBox([preset, layer, head]), position, text, widgets.HBox([strip, bars]), caption]
    )
    box.name = "GPT attention explorer"
    box.preset, box.layer, box.head, box.position, box.text = preset, layer, head, position, text
    box.strip, box.bars, box.caption = strip, bars, caption
    changes = [(position, q) for q in range(last, -1, -4)] + [(position, last)]
    changes += [(layer, n) for n in range(1, layers)] + [(head, n) for n in range(1, heads)]
    changes += [(text, texts[names[0]][: len(texts[names[0]]) // 2])]
    changes += [(preset, n) for n in names[1:] + names[:1]]
    preset.observe(choose, names="value")
    timed = make_live(box, redraw, [text, layer, head], changes)
    # the slider redraws too, except while a new text moves it (that redraw is under way)
    position.observe(lambda change: None if state["quiet"] else timed(), names="value")
    return box
