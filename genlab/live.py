"""Live figures: what every widget of the course shares.

A widget here is a pure compute function plus a thin ipywidgets UI: a slider calls
`observe(..., names="value")`, the redraw makes a PNG (`png`, or `blitted_png` where a
frame is a fixed background with moving parts) and puts it into an `ipywidgets.Image`,
which every front end shows the same way (JupyterLab 4, Notebook 7, Colab, ipywidgets 7
or 8). `live_figure` wraps the widget so that it also carries a still of its pictures:
a front end with widgets shows the live widget, any other (GitHub's viewer, nbviewer, an
HTML export) shows the still in its place. `make_live` makes a box live and records how long
each redraw took in the kernel (`box.redraw_seconds`); `explorers` lists them for the
benchmark. A topic's widget lives with its model (`genlab.lm.widget`, ...).

Each widget states, where it is made, the moves that exercise it (`changes`) and its own
redraw budget where it differs from 100 ms: they are part of what the widget promises, like
a docstring, and both its unit tests and the benchmark play them. How those moves are
timed and summarised is the benchmark's alone (bench/latency.py).

What this module leaves out: animation and styling options.
"""

from __future__ import annotations

import base64
import functools
import io
import time
import weakref
from collections.abc import Callable

import numpy as np
from PIL import Image  # matplotlib's own PNG writer, used directly where frames are blitted

__all__ = ["png", "blitted_png", "still", "live_figure", "make_live", "explorers", "WIDGET_VIEW"]


_LIVE: list[weakref.ref] = []  # every live explorer drawn so far (`explorers`)


def png(fig) -> bytes:
    """A figure as PNG bytes, for an `ipywidgets.Image`."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _pictures(widget) -> list:
    """The `ipywidgets.Image`s in a widget tree, in the order they are laid out."""
    import ipywidgets as widgets

    if isinstance(widget, widgets.Box):
        return [image for child in widget.children for image in _pictures(child)]
    return [widget] if isinstance(widget, widgets.Image) else []


def still(box) -> bytes | None:
    """The pictures of a live widget as they are now, side by side in one PNG (None if it
    has none yet)."""
    frames = [Image.open(io.BytesIO(p.value)).convert("RGB") for p in _pictures(box) if p.value]
    if not frames:
        return None
    pad = 8
    sheet = Image.new(
        "RGB",
        (sum(f.width for f in frames) + pad * (len(frames) - 1), max(f.height for f in frames)),
        "white",
    )
    x = 0
    for frame in frames:
        sheet.paste(frame, (x, 0))
        x += frame.width + pad
    buffer = io.BytesIO()
    sheet.save(buffer, format="png")
    return buffer.getvalue()


@functools.cache
def _live_figure_class():
    import ipywidgets as widgets

    class LiveFigure(widgets.VBox):
        """A VBox whose display also carries a still of its pictures.

        Its output holds three representations: the live widget, a PNG of its pictures
        as first drawn, and a line of text. JupyterLab, Notebook 7, Colab and VS Code show
        the widget; GitHub's viewer, nbviewer, and an HTML export without widget state
        (JupyterLab saves none by default) show the PNG; a terminal shows the text. The
        same bundle works with ipywidgets 7, which displays widgets through
        `_ipython_display_`, and 8, which uses `_repr_mimebundle_`, as ipympl does.
        """

        name = "live figure"

        def _repr_mimebundle_(self, **kwargs):
            if hasattr(self, "_handle_displayed"):  # ipywidgets 7's on_displayed callbacks
                self._handle_displayed()  # (not IPython's include/exclude: they are not for it)
            bundle = {"text/plain": f"[{self.name}: a live widget; run the notebook to use it]"}
            picture = still(self)
            if picture is not None:
                bundle["image/png"] = base64.b64encode(picture).decode("ascii")
            if self.comm is not None:
                bundle[WIDGET_VIEW] = {
                    "version_major": 2,
                    "version_minor": 0,
                    "model_id": self.model_id,
                }
            return bundle

        def _ipython_display_(self, **kwargs):
            # ipywidgets 7 displays through this hook, which would drop the still: stepping
            # aside makes IPython use `_repr_mimebundle_` above.
            raise NotImplementedError

    return LiveFigure


def live_figure(children) -> object:
    """A `LiveFigure`: an `ipywidgets.VBox` of `children` that also carries its still."""
    return _live_figure_class()(children)


def make_live(box, redraw: Callable, controls, changes: list[tuple[object, object]]) -> Callable:
    """Make `box` live: redraw it whenever one of `controls` changes value, and draw the
    first frame now. Every redraw's duration lands in `box.redraw_seconds`, and the box is
    listed by `explorers()`, with `changes`, (control, value) pairs that exercise it: the
    benchmark (bench/latency.py) plays them. A box may set `budget_ms`, its own limit at p95
    (default 100 ms).

    Returns:
        The timed redraw, for a control that redraws otherwise (a button's click).
    """
    box.redraw_seconds, box.demo_changes = [], changes
    _LIVE.append(weakref.ref(box))

    def timed():
        start = time.perf_counter()
        redraw()
        box.redraw_seconds.append(time.perf_counter() - start)

    for control in controls:
        control.observe(lambda change: timed(), names="value")
    timed()

    return timed


def explorers() -> list:
    """The live explorers drawn in this kernel that still exist, oldest first: each has
    `name`, `redraw_seconds`, `demo_changes` and maybe `budget_ms` (see `make_live`);
    bench/latency.py drives them."""
    return [box for box in (ref() for ref in _LIVE) if box is not None]


def blitted_png(canvas, background, moving) -> bytes:
    """A frame as PNG bytes: the saved `background` with only the `moving` artists drawn
    on it (they were set animated, so the background left them out)."""
    canvas.restore_region(background)
    for artist in moving:
        canvas.figure.draw_artist(artist)
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(canvas.buffer_rgba())).save(buffer, format="png")
    return buffer.getvalue()
