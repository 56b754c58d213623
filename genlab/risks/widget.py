"""The risk dashboard of module 08: a temperature slider over the false-fact rate, the copied
span and the skew, side by side; `risk_snapshots` is the static figure.

The design is shared by every topic: see `genlab.live`.
"""

from __future__ import annotations

import html

from matplotlib.backends.backend_agg import FigureCanvasAgg

from ..live import blitted_png, live_figure, make_live
from .figures import mark_risks, plot_risks
from .measure import RiskSweep

__all__ = ["risk_snapshots", "risk_dashboard"]


def risk_snapshots(sweep: RiskSweep):
    """The static companion of `risk_dashboard`: the three risks against temperature."""
    return plot_risks(sweep)


def _risk_caption(sweep: RiskSweep, at: float) -> str:
    fact, sample, span, biased = sweep.examples[sweep.temperatures.index(at)]
    head, _, tail = sample.partition(span) if span else (sample, "", "")
    rows = [
        ("a fact it wrote", html.escape(fact)),
        ("prose, longest copy in bold",
         f"{html.escape(head)}<b>{html.escape(span)}</b>{html.escape(tail)}"),
        ("a line of the skewed model", html.escape(biased)),
    ]  # fmt: skip
    cells = "".join(
        f"<tr><td style='padding-right:1em;color:#666'>{name}</td><td><code>{text}</code></td></tr>"
        for name, text in rows
    )
    return f"<table style='font-size:90%'>{cells}</table>"


def risk_dashboard(sweep: RiskSweep):
    """A temperature slider over the three risks, side by side: the false-fact rate, the
    longest span copied from the training text, and the share of "he" in the skewed
    model's lines, each measured at every temperature; below, one line of each model at
    the chosen temperature (the copied span in bold).

    Args:
        sweep: `genlab.risks.risk_sweep(...)`, measured with the student's functions.
    """
    import ipywidgets as widgets

    temps = list(sweep.temperatures)
    if not temps:
        raise ValueError("an empty sweep: measure at least one temperature")
    slider = widgets.SelectionSlider(
        options=[(f"{t:g}", t) for t in temps], value=1.0 if 1.0 in temps else temps[0],
        description="temperature", style={"description_width": "initial"},
    )  # fmt: skip
    image, caption = widgets.Image(format="png"), widgets.HTML()
    figure, frames = plot_risks(sweep), {}
    canvas = FigureCanvasAgg(figure)
    moving = [a for ax, _, _, line, dot in figure.risk_marks for a in (line, dot, ax.title)]
    for artist in moving:
        artist.set_animated(True)  # left out of the background, drawn on it for each frame
    canvas.draw()
    background = canvas.copy_from_bbox(figure.bbox)

    def redraw():
        t = slider.value
        if t not in frames:
            mark_risks(figure, sweep, t)
            frames[t] = (blitted_png(canvas, background, moving), _risk_caption(sweep, t))
        image.value, caption.value = frames[t]

    box = live_figure([slider, image, caption])
    box.name, box.slider, box.image, box.caption = "risk dashboard", slider, image, caption
    changes = [(slider, t) for t in temps if t != slider.value] + [(slider, slider.value)]
    make_live(box, redraw, [slider], changes)
    return box
