"""Interactive figures: a pure `compute` function plus a thin ipywidgets UI.

Each widget here is split in two. The compute function (`boundary_panels`) takes
numbers and returns numbers, and is unit-tested without a browser. The UI
(`boundary_explorer`) wires a slider to it with `observe(..., names="value")` and
draws a PNG into an `ipywidgets.Image`, which every front end shows the same way
(JupyterLab 4, Notebook 7, Colab, ipywidgets 7 or 8). A static figure
(`boundary_snapshots`) goes beside each widget so that an exported HTML page or
GitHub's viewer, where no widget runs, still shows the point. The widget itself also
carries a still of its pictures (`LiveFigure`): a front end with widgets shows the live
widget, any other shows the still in its place.

The GAN scrubber draws snapshots saved during training (`genlab.gan.Run`), so moving
its slider replays the game instead of training anything. Likewise, the diffusion
stepper draws the trajectories that `genlab.diffusion.sample` kept; its frames are made
with numpy and PIL alone, a few milliseconds each.

Each explorer also records how long every redraw took in the kernel
(`box.redraw_seconds`) and registers itself, so `latency_report()` can drive the live
ones through their controls and report p50 and p95 (the benchmark does).

What this module leaves out: animation and styling options.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import textwrap
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image  # matplotlib's own PNG writer, used directly where frames are blitted

from .checks import check_array, check_tensor
from .data import Split, stratified_subset
from .models import accuracy
from .plots import (
    COLORS,
    AttentionFigure,
    _figure,
    draw_gan_field,
    draw_next_tokens,
    mark_risks,
    plot_attention_strips,
    plot_boundaries,
    plot_risks,
    show_digit_rows,
    show_digits,
    token_label,
)

if TYPE_CHECKING:  # genlab.lm, .gan and .diffusion import torch: other modules need not pay
    from .diffusion import Samples
    from .gan import Run
    from .lm import Sampler
    from .recall import Trained
    from .risks import RiskSweep

__all__ = [
    "BoundaryPanels",
    "boundary_panels",
    "boundary_snapshots",
    "boundary_explorer",
    "live_figure",
    "still",
    "NextTokenView",
    "next_token_view",
    "temperature_snapshots",
    "temperature_explorer",
    "gan_snapshots",
    "gan_scrubber",
    "noising_snapshots",
    "noising_slider",
    "denoising_snapshots",
    "diffusion_stepper",
    "guidance_snapshots",
    "guidance_slider",
    "AttentionView",
    "attention_view",
    "attention_snapshots",
    "attention_explorer",
    "risk_snapshots",
    "risk_dashboard",
    "latency_report",
]

# ---------------------------------------------------------------------------
# Redraw latency of the live explorers

_LIVE: list[weakref.ref] = []


def _png(fig) -> bytes:
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


def _timed(box, redraw: Callable, controls, changes: list[tuple[object, object]]) -> Callable:
    """Make `box` live: redraw it whenever one of `controls` changes value, and draw the
    first frame now. Every redraw's duration lands in `box.redraw_seconds`, and the box is
    registered for `latency_report`, which plays `changes`, (control, value) pairs that
    exercise it. A box may set `budget_ms`, its own limit at p95 (default 100 ms).

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


def latency_report() -> dict[str, dict[str, float]]:
    """Drive every live explorer through its demo changes; time each redraw in the kernel.

    Returns:
        explorer name -> {"changes": redraws timed, "p50_ms", "p95_ms", "max_ms",
        "budget_ms": its limit at p95}.
    """
    report = {}
    for ref in _LIVE:
        box = ref()
        if box is None:
            continue
        box.redraw_seconds.clear()
        for control, value in box.demo_changes:
            if control.value != value:  # setting the same value again redraws nothing
                control.value = value  # observers run synchronously, as a student's move does
        ms = np.array(box.redraw_seconds) * 1000
        report[box.name] = {
            "changes": len(ms),
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "max_ms": round(float(ms.max()), 1),
            "budget_ms": getattr(box, "budget_ms", 100),
        }
    return report


# ---------------------------------------------------------------------------
# Decision boundaries against training-set size


@dataclass(frozen=True)
class BoundaryPanels:
    """What the boundary widget draws for one training-set size.

    Attributes:
        models: model names, in drawing order.
        xx, yy: (steps, steps) grid coordinates covering the data.
        labels: name -> (steps, steps) int predicted class at each grid point.
        accuracy: name -> test accuracy in [0, 1].
        train_idx: (size,) indices of the training subset within `split.X_train`.
    """

    models: tuple[str, ...]
    xx: np.ndarray
    yy: np.ndarray
    labels: dict[str, np.ndarray]
    accuracy: dict[str, float]
    train_idx: np.ndarray


def boundary_panels(
    models: Mapping[str, Callable[[], object]],
    split: Split,
    size: int,
    seed: int = 0,
    steps: int = 120,
) -> BoundaryPanels:
    """Train each model on `size` examples of a 2D split; predict over a grid.

    Args:
        models: name -> factory of an unfitted model with `fit`/`predict`.
        split: a 2D data set, `X_*` of shape (n, 2).
        size: training examples to draw (stratified, seeded).
        seed: picks the subset.
        steps: grid resolution per axis.
    """
    X = np.vstack([split.X_train, split.X_test])
    low, high = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    xx, yy = np.meshgrid(np.linspace(low[0], high[0], steps), np.linspace(low[1], high[1], steps))
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    idx = stratified_subset(split.y_train, size, seed)
    labels, scores = {}, {}
    for name, make in models.items():
        model = make()
        model.fit(split.X_train[idx], split.y_train[idx])
        labels[name] = np.asarray(model.predict(grid)).reshape(xx.shape)
        scores[name] = accuracy(model, split.X_test, split.y_test)
    return BoundaryPanels(tuple(models), xx, yy, labels, scores, idx)


def _draw(models, split: Split, size: int, seed: int, steps: int, dpi: int = 80):
    panels = boundary_panels(models, split, size, seed, steps)
    fig = _figure(figsize=(4.2 * len(models), 3.8), dpi=dpi, layout="constrained")
    return plot_boundaries(panels, split, fig)


def boundary_snapshots(models, split: Split, sizes: Sequence[int], seed: int = 0, steps: int = 120):
    """The static companion of `boundary_explorer`: one row of panels per size."""
    fig = _figure(figsize=(4.2 * len(models), 3.6 * len(sizes)), layout="constrained")
    for row, size in zip(fig.subfigures(len(sizes), 1, squeeze=False)[:, 0], sizes, strict=True):
        plot_boundaries(boundary_panels(models, split, size, seed, steps), split, row)
    return fig


def boundary_explorer(
    models: Mapping[str, Callable[[], object]],
    split: Split,
    sizes: Sequence[int],
    seed: int = 0,
    steps: int = 80,
):
    """A training-set-size slider over the decision boundaries of several models.

    Moving the slider retrains every model on that many examples (a few milliseconds
    on 2D data) and redraws. Returns the widget; the notebook displays it.

    Args:
        models: name -> factory of an unfitted model with `fit`/`predict`.
        split: a 2D data set such as `genlab.data.load_wine_2d()`.
        sizes: the sizes the slider offers, smallest first.
    """
    import ipywidgets as widgets

    slider = widgets.SelectionSlider(
        options=[int(s) for s in sizes],
        value=int(sizes[0]),
        description="examples",
        continuous_update=False,  # retrain on release, not on every pixel of a drag
        layout=widgets.Layout(width="60%"),
    )
    image = widgets.Image(format="png")
    cache: dict[int, bytes] = {}

    def render(size: int) -> bytes:
        if size not in cache:
            cache[size] = _png(_draw(models, split, size, seed, steps))
        return cache[size]

    box = live_figure([slider, image])
    box.name, box.slider, box.image = "boundary explorer", slider, image  # handles for tests
    changes = [(slider, int(s)) for s in [*sizes[1:], *sizes[-2::-1]]]
    _timed(box, lambda: setattr(image, "value", render(slider.value)), [slider], changes)
    return box


# ---------------------------------------------------------------------------
# Next-token probabilities against temperature, top-k and top-p


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
    from .lm import complete, entropy_bits

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
        self.fig = _figure(figsize=(6.4, 3.0), dpi=80)
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
        return _png(self.fig)


def temperature_snapshots(
    model, vocab, sampler: Sampler, prompt: str, temperatures=(0.3, 1.0, 2.0), seed: int = 0
):
    """The static companion of `temperature_explorer`: one column per temperature, the
    next-character bars on top and a sampled continuation below."""
    fig = _figure(figsize=(4.4 * len(temperatures), 4.6), layout="constrained")
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
        timed()

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
    timed = _timed(box, redraw, [choose, text, temperature, top_k, top_p], changes)
    resample.on_click(new_samples)
    return box


# ---------------------------------------------------------------------------
# A GAN's training, snapshot by snapshot


def _coverage_series(run: Run, coverage: Callable) -> np.ndarray:
    """(n_snapshots, 2) modes covered and share of samples near a mode, one row per
    snapshot, from the student's `coverage(samples)`."""
    rows = [tuple(coverage(s.samples)) for s in run.snapshots]
    series = np.asarray(rows, dtype=float)
    if series.shape != (len(run.snapshots), 2):
        raise ValueError("coverage(samples) should return (modes covered, share near a mode)")
    return series


def _measure_runs(runs: Mapping[str, Run], coverage: Callable | None):
    """Run name -> coverage series (None without a measure), and a message when the
    measure failed: then every series is None, and the figures show the game without it."""
    if coverage is None:
        return dict.fromkeys(runs), ""
    try:
        return {name: _coverage_series(run, coverage) for name, run in runs.items()}, ""
    except Exception as error:  # not written yet, or wrong: the game is still worth seeing
        return dict.fromkeys(runs), f"coverage failed ({type(error).__name__}: {error})"


def _check_2d_runs(runs: Mapping[str, Run]) -> list[int]:
    """The snapshot steps the runs share; a clear error for runs these figures cannot draw."""
    if not runs:
        raise ValueError("no runs to show: pass a dict of name -> genlab.gan.Run")
    names = list(runs)
    steps = [s.step for s in runs[names[0]].snapshots]
    for name, run in runs.items():
        if run.extent is None:
            raise ValueError(f"run {name!r} is not on 2D data: there is no plane to draw")
        if [s.step for s in run.snapshots] != steps:
            raise ValueError(f"run {name!r} has snapshots at other steps than {names[0]!r}")
    return steps


def _field_title(step: int, measured) -> str:
    if measured is None:
        return f"step {step}"
    modes = "mode" if measured[0] == 1 else "modes"
    return f"step {step}: {measured[0]:.0f} {modes}, {measured[1]:.0%} near one"


def gan_snapshots(runs: Mapping[str, Run], steps: Sequence[int], coverage: Callable | None = None):
    """The static companion of `gan_scrubber`: one row per run, one panel per step.

    Args:
        runs: name -> `genlab.gan.Run` on 2D data, all with snapshots at the same steps.
        steps: training steps to show; each panel is the last snapshot at or before one.
        coverage: optional `coverage(samples) -> (modes covered, share near a mode)`,
            shown in each panel's title (left out, with a note, if it fails).
    """
    _check_2d_runs(runs)
    series, failure = _measure_runs(runs, coverage)
    fig = _figure(figsize=(2.6 * len(steps), 2.8 * len(runs)), layout="constrained")
    axes = fig.subplots(len(runs), len(steps), squeeze=False)
    for row, (name, run) in zip(axes, runs.items(), strict=True):
        for ax, step in zip(row, steps, strict=True):
            snapshot = run.at(step)
            draw_gan_field(ax, run, snapshot)
            measured = None
            if series[name] is not None:
                measured = series[name][run.snapshots.index(snapshot)]
            ax.set_title(_field_title(snapshot.step, measured), fontsize=9)
        row[0].set_ylabel(name, fontsize=10)
    if failure:
        fig.suptitle(failure, fontsize=9, color="#c0504d")
    return fig


class _Field:
    """The scrubber's figure: the game on the left; on the right, coverage (or the losses)
    over the whole run, with a marker at the step shown.

    Laid out and drawn once per run; each frame then redraws only what moves (the
    detective's surface, the points, the marker, the title) over a saved copy of the
    rest, which is what keeps a frame well under the 100 ms budget.
    """

    def __init__(self, run: Run, series: np.ndarray | None, most_modes: float = 8):
        self.fig = _figure(figsize=(9.0, 3.9), dpi=80, layout="constrained")
        self.canvas = FigureCanvasAgg(self.fig)
        self.ax, right = self.fig.subplots(1, 2, width_ratios=[1, 1.3])
        self.image, self.real, self.fakes = draw_gan_field(self.ax, run, run.snapshots[0])
        self.fig.colorbar(self.image, ax=self.ax, shrink=0.8, label="detective: P(real | x)")
        if series is not None:
            (self.first,) = right.plot([], [], color=COLORS["generative"])
            right.set(ylim=(-0.03, 1.03), ylabel="share near a mode (orange)")
            twin = right.twinx()
            (self.second,) = twin.plot([], [], color="black", drawstyle="steps-post")
            twin.set(ylim=(-0.3, max(most_modes, 1) + 0.3), ylabel="modes covered (black)")
            right.set_title("Coverage during training", fontsize=10)
        else:
            (self.first,) = right.plot([], [], color=COLORS["discriminative"], label="detective")
            (self.second,) = right.plot([], [], color=COLORS["generative"], label="forger")
            right.set(ylim=(0, 2.5), ylabel="loss")
            right.legend(fontsize=8, loc="upper right")
            right.set_title("Losses during training", fontsize=10)
        right.set(xlabel="training step", xlim=(0, run.snapshots[-1].step))
        right.grid(alpha=0.3)
        self.marker = right.axvline(0, color="grey", lw=1)
        self.ax.set_title(_field_title(0, None), fontsize=10)
        self.moving = [self.image, self.real, self.fakes, self.marker, self.ax.title]
        for artist in self.moving:
            artist.set_animated(True)  # left out of the saved background
        self.fig.draw_without_rendering()  # lay out once, then never again
        self.fig.set_layout_engine(None)
        self.run, self.series, self.background = None, None, None

    def show_run(self, run: Run, series: np.ndarray | None) -> None:
        """Switch to another run: its curves go into a freshly drawn background."""
        self.run, self.series = run, series
        self.image.set_extent(run.extent)
        self.ax.set(xlim=run.extent[:2], ylim=run.extent[2:])
        self.real.set_offsets(run.real)
        if series is not None:
            steps = [s.step for s in run.snapshots]
            self.first.set_data(steps, series[:, 1])
            self.second.set_data(steps, series[:, 0])
        else:
            steps, d_loss, g_loss = np.asarray(run.history, dtype=float).reshape(-1, 3).T
            self.first.set_data(steps, d_loss)
            self.second.set_data(steps, g_loss)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    def png(self, index: int) -> bytes:
        snapshot = self.run.snapshots[index]
        self.image.set_data(snapshot.surface)
        self.fakes.set_offsets(snapshot.samples)
        self.marker.set_xdata([snapshot.step, snapshot.step])
        measured = None if self.series is None else self.series[index]
        self.ax.set_title(_field_title(snapshot.step, measured), fontsize=10)
        return _blitted_png(self.canvas, self.background, self.moving)


def _blitted_png(canvas, background, moving) -> bytes:
    """A frame as PNG bytes: the saved `background` with only the `moving` artists drawn
    on it (they were set animated, so the background left them out)."""
    canvas.restore_region(background)
    for artist in moving:
        canvas.figure.draw_artist(artist)
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(canvas.buffer_rgba())).save(buffer, format="png")
    return buffer.getvalue()


def gan_scrubber(runs: Mapping[str, Run], coverage: Callable | None = None, interval: int = 200):
    """A training-step slider, with a Play button, over the snapshots of 2D GAN runs.

    The left panel shows the game at that step, as GAN Lab does: the detective's belief
    P(real | x) as a blue background, the real data in black and the forger's samples
    (always from the same noise) in orange. The right panel follows the whole run, with
    a marker at the step shown.

    Args:
        runs: name -> `genlab.gan.Run` on 2D data, all with snapshots at the same steps.
        coverage: the student's measure, `coverage(samples) -> (modes covered, share near
            a mode)`; the right panel shows the losses instead where it is missing or fails.
        interval: milliseconds between frames when playing.
    """
    import ipywidgets as widgets

    steps, names = _check_2d_runs(runs), list(runs)
    series, failure = _measure_runs(runs, coverage)
    note = widgets.HTML()
    if failure:
        note.value = (
            f"<p style='color:#c0504d'>{html.escape(failure)}; showing the losses instead.</p>"
        )
    measured = [s for s in series.values() if s is not None]
    most_modes = max((float(s[:, 0].max()) for s in measured), default=8)

    choose = widgets.Dropdown(options=names, value=names[0], description="run")
    slider = widgets.SelectionSlider(
        options=[(str(step), i) for i, step in enumerate(steps)],
        value=0,
        description="step",
        layout=widgets.Layout(width="60%"),
    )
    play = widgets.Play(min=0, max=len(steps) - 1, interval=interval, description="play")
    # linked in the browser: Play moves the slider, and each move asks the kernel for a frame
    widgets.jslink((play, "value"), (slider, "index"))
    image = widgets.Image(format="png")
    field = _Field(runs[names[0]], series[names[0]], most_modes)
    cache: dict[tuple[str, int], bytes] = {}

    def redraw():
        key = (choose.value, slider.value)
        if key not in cache:
            if field.run is not runs[choose.value]:
                field.show_run(runs[choose.value], series[choose.value])
            cache[key] = field.png(slider.value)
        image.value = cache[key]

    box = live_figure([widgets.HBox([choose, play, slider]), image, note])
    box.name = "GAN scrubber"
    box.run, box.slider, box.play, box.image, box.note = choose, slider, play, image, note
    changes = [(slider, i) for i in range(1, len(steps))]
    changes += [(choose, n) for n in names[1:]] + [
        (slider, i) for i in range(len(steps) - 2, -1, -1)
    ]
    _timed(box, redraw, [choose, slider], changes)
    return box


# ---------------------------------------------------------------------------
# Diffusion: static to digits, a digit to static, and guidance


def _digit_grid(images: np.ndarray, cols: int, scale: int = 6, pad: int = 2) -> bytes:
    """Digits in [-1, 1] (clipped there) as one PNG: `cols` per row, dark ink on white,
    each pixel a `scale` x `scale` square. Numpy and PIL only, a millisecond or two."""
    n = len(images)
    rows = -(-n // cols)
    ink = (1 - np.clip((images.reshape(n, 8, 8) + 1) / 2, 0, 1)) * 255
    cell = 8 * scale + pad
    canvas = np.full((rows * cell + pad, cols * cell + pad), 200, dtype=np.uint8)  # grey gaps
    big = np.kron(ink, np.ones((scale, scale))).astype(np.uint8)  # (n, 8 scale, 8 scale)
    for i, digit in enumerate(big):
        top, left = pad + (i // cols) * cell, pad + (i % cols) * cell
        canvas[top : top + 8 * scale, left : left + 8 * scale] = digit
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="png")
    return buffer.getvalue()


def _by_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first `per_class` samples of each label, row by row: the first of
    every label, then the second of every label, ... so a grid has one label per column."""
    classes = np.unique(labels)
    chosen = [np.flatnonzero(labels == c)[:per_class] for c in classes]
    if min(len(c) for c in chosen) < per_class:
        raise ValueError(f"every label needs {per_class} samples to fill the grid")
    return np.stack(chosen, axis=1).ravel()


def _titled(title: str, image):
    """A widget with a bold title above it."""
    import ipywidgets as widgets

    return widgets.VBox([widgets.HTML(f"<b>{html.escape(title)}</b>"), image])


def _noise_left(alpha_bar: np.ndarray, done: int) -> float:
    """sqrt(1 - alpha_bar) of the sample after `done` of T denoising steps (0 when done)."""
    t = len(alpha_bar) - 1 - done
    return float(np.sqrt(1 - alpha_bar[t])) if t >= 0 else 0.0


def denoising_snapshots(samples: Samples, steps: Sequence[int], per_row: int = 10):
    """The static companion of `diffusion_stepper`: one row of samples per denoising step.

    Args:
        samples: `genlab.diffusion.Samples` drawn with `keep_every`.
        steps: denoising steps to show (0 is pure static, T is finished), among
            `samples.steps`.
        per_row: samples per row: the first of each label, in label order.
    """
    kept = list(samples.steps)
    missing = [s for s in steps if s not in kept]
    if missing:
        raise ValueError(f"steps {missing} were not kept; choose among {kept[:3]}...{kept[-1]}")
    idx = _by_class(samples.labels, 1)[:per_row]
    return show_digit_rows([(f"step {s}", samples.trajectory[kept.index(s)][idx]) for s in steps])


def diffusion_stepper(samples: Samples, alpha_bar, interval: int = 100):
    """A Play button and a step slider from pure static to finished digits.

    Left, the samples after that many denoising steps; right, the digit the network
    predicted at that step, the finished image it is steering towards. Frames are drawn
    from the trajectories `sample` kept, so moving the slider computes nothing new.

    Args:
        samples: `genlab.diffusion.Samples` drawn with `keep_every`, one or more per label.
        alpha_bar: (T,) the schedule, for the noise level in the caption.
        interval: milliseconds between frames when playing.
    """
    import ipywidgets as widgets

    if len(samples.steps) < 2:
        raise ValueError("no trajectory to step through: call sample(..., keep_every=10)")
    alpha_bar = np.asarray(alpha_bar, dtype=float)
    classes = len(np.unique(samples.labels))
    per_class = len(samples.labels) // classes
    idx = _by_class(samples.labels, per_class)
    slider = widgets.SelectionSlider(
        options=[(str(s), i) for i, s in enumerate(samples.steps)],
        value=0,
        description="step",
        layout=widgets.Layout(width="60%"),
    )
    play = widgets.Play(min=0, max=len(samples.steps) - 1, interval=interval, description="play")
    widgets.jslink((play, "value"), (slider, "index"))
    now, guess = widgets.Image(format="png"), widgets.Image(format="png")
    caption = widgets.HTML()
    cache: dict[int, tuple[bytes, bytes]] = {}

    def redraw():
        i = slider.value
        if i not in cache:
            cache[i] = (
                _digit_grid(samples.trajectory[i][idx], classes),
                _digit_grid(samples.predictions[i][idx], classes),
            )
        now.value, guess.value = cache[i]
        done = int(samples.steps[i])
        caption.value = (
            f"<b>{done} of {len(alpha_bar)} steps taken</b>; noise left in the samples: "
            f"sqrt(1 - alpha_bar) = {_noise_left(alpha_bar, done):.2f}. Columns: the digits "
            f"{', '.join(map(str, np.unique(samples.labels)))} asked for; w = {samples.w:g}."
        )

    box = live_figure(
        [
            widgets.HBox([play, slider]),
            widgets.HBox(
                [
                    _titled("the samples x_t", now),
                    _titled("the network's guess of the finished digit", guess),
                ]
            ),
            caption,
        ]
    )
    box.name, box.budget_ms = "diffusion stepper", 50
    box.slider, box.play, box.images, box.caption = slider, play, (now, guess), caption
    _timed(box, redraw, [slider], [(slider, i) for i in range(1, len(samples.steps))])
    return box


def _noised(add_noise: Callable, image: np.ndarray, noise: np.ndarray, t: int, alpha_bar):
    """The student's add_noise on one digit at one timestep, as a (64,) numpy array."""
    import torch

    x0 = torch.as_tensor(image, dtype=torch.float32)[None]
    eps = torch.as_tensor(noise, dtype=torch.float32)[None]
    x_t = add_noise(x0, eps, torch.tensor([t]), alpha_bar)
    check_tensor(x_t, "add_noise(x0, noise, t, alpha_bar)", shape=(1, 64))
    return x_t[0].detach().numpy()


def noising_snapshots(image, add_noise: Callable, alpha_bar, steps: Sequence[int], seed: int = 0):
    """The static companion of `noising_slider`: one digit noised to each of `steps`.

    Args:
        image: (64,) a digit in [-1, 1].
        add_noise: the student's `add_noise(x0, noise, t, alpha_bar)`.
        alpha_bar: (T,) tensor from `linear_beta_schedule`.
        steps: timesteps to show.
    """
    check_array(np.asarray(image), "image", shape=(64,), low=-1, high=1)
    noise = np.random.default_rng(seed).standard_normal(64)
    try:
        noisy = [_noised(add_noise, image, noise, t, alpha_bar) for t in steps]
    except Exception as error:  # not written yet, or wrong: show the digit and say why
        fig = show_digits((image[None] + 1) / 2, titles=["x_0"], ncols=1)
        fig.suptitle(f"add_noise failed ({type(error).__name__}: {error})", color="#c0504d")
        return fig
    titles = [f"t = {t}" for t in steps]
    return show_digits(np.clip((np.stack(noisy) + 1) / 2, 0, 1), titles=titles, ncols=len(steps))


def noising_slider(image, add_noise: Callable, alpha_bar, seed: int = 0):
    """A timestep slider that noises one real digit with the student's `add_noise`.

    Shows x_0, the noise, and x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise
    as `add_noise` computes it, with the two weights in the caption. The noise is drawn
    once, so only the mix changes as the slider moves.

    Args:
        image: (64,) a digit in [-1, 1].
        add_noise: the student's `add_noise(x0, noise, t, alpha_bar)`.
        alpha_bar: (T,) tensor from `linear_beta_schedule`.
    """
    import ipywidgets as widgets

    check_array(np.asarray(image), "image", shape=(64,), low=-1, high=1)
    noise = np.random.default_rng(seed).standard_normal(64)
    weights = np.asarray(alpha_bar, dtype=float)
    slider = widgets.IntSlider(
        value=0, min=0, max=len(weights) - 1, description="t", layout=widgets.Layout(width="60%")
    )
    clean, static, mixed = (widgets.Image(format="png") for _ in range(3))
    clean.value, static.value = _digit_grid(image[None], 1, 12), _digit_grid(noise[None], 1, 12)
    caption = widgets.HTML()

    def redraw():
        t = slider.value
        try:
            mixed.value = _digit_grid(_noised(add_noise, image, noise, t, alpha_bar)[None], 1, 12)
        except Exception as error:  # not written yet, or wrong: say so where the image goes
            caption.value = (
                f"<p style='color:#c0504d'>add_noise failed at t = {t}: "
                f"{html.escape(type(error).__name__)}: {html.escape(str(error))}</p>"
            )
            return
        signal, spread = np.sqrt(weights[t]), np.sqrt(1 - weights[t])
        caption.value = f"t = {t}: x_t = {signal:.2f} &middot; x_0 + {spread:.2f} &middot; noise"

    box = live_figure(
        [
            slider,
            widgets.HBox([_titled("x_0", clean), _titled("noise", static), _titled("x_t", mixed)]),
            caption,
        ]
    )
    box.name, box.slider, box.image, box.caption = "forward noising", slider, mixed, caption
    changes = [(slider, t) for t in range(0, len(weights), max(1, len(weights) // 40))][1:]
    _timed(box, redraw, [slider], changes)
    return box


def _guidance_caption(samples: Samples, critic, diversity: Callable | None) -> str:
    """What the samples at one scale measure: the critic's accuracy and, with the student's
    `diversity(images, labels)`, their diversity (or why it is missing)."""
    images = (samples.images + 1) / 2
    caption = (
        f"w = {samples.w:g}: the critic recognises <b>{critic.score(images, samples.labels):.0%}"
        "</b> as the digit asked for"
    )
    if diversity is None:
        return caption + "."
    try:
        measured = float(diversity(images, samples.labels))
    except Exception as error:  # not written yet, or wrong: the samples are still worth seeing
        failure = html.escape(f"{type(error).__name__}: {error}")
        return caption + f". <span style='color:#c0504d'>diversity failed ({failure})</span>"
    return caption + f"; mean distance between two samples of a digit <b>{measured:.2f}</b>."


def guidance_snapshots(sweep: Mapping[float, Samples], per_row: int = 10):
    """The static companion of `guidance_slider`: one row of samples per guidance scale.

    Args:
        sweep: guidance scale -> `genlab.diffusion.Samples` drawn at that scale.
        per_row: samples per row: the first of each label, in label order.
    """
    return show_digit_rows(
        [(f"w = {w:g}", s.images[_by_class(s.labels, 1)[:per_row]]) for w, s in sweep.items()]
    )


def guidance_slider(
    sweep: Mapping[float, Samples], critic, diversity: Callable | None = None, per_class: int = 3
):
    """A guidance-scale slider over samples drawn at each scale, with what they measure.

    Args:
        sweep: guidance scale -> `genlab.diffusion.Samples` drawn at that scale, all from
            the same seed, so a column keeps its starting static as w changes.
        critic: a classifier of real digits in [0, 1], e.g. `models.digit_critic(split)`.
        diversity: the student's `within_class_diversity(images, labels) -> float`, shown
            in the caption (with a note instead where it fails).
        per_class: samples shown per label (one row each).
    """
    import ipywidgets as widgets

    if not sweep:
        raise ValueError("no samples: pass a dict of guidance scale -> Samples")
    scales = list(sweep)
    slider = widgets.SelectionSlider(
        options=[(f"{w:g}", w) for w in scales], value=scales[0], description="guidance w"
    )
    image, caption = widgets.Image(format="png"), widgets.HTML()
    frames = {}

    def redraw():
        w = slider.value
        if w not in frames:
            samples = sweep[w]
            classes = len(np.unique(samples.labels))
            idx = _by_class(samples.labels, per_class)
            frames[w] = (
                _digit_grid(samples.images[idx], classes),
                _guidance_caption(samples, critic, diversity),
            )
        image.value, caption.value = frames[w]

    box = live_figure([slider, image, caption])
    box.name, box.slider, box.image, box.caption = "guidance", slider, image, caption
    changes = [(slider, w) for w in scales[1:]] + [(slider, w) for w in scales[-2::-1]]
    _timed(box, redraw, [slider], changes)
    return box


# ---------------------------------------------------------------------------
# Attention: where each position of a line looks


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
        model: a `genlab.recall.Trained` attention model.
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
        model: a `genlab.recall.Trained` attention model.
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
        image.value = _png(figure.draw(view.text, view.weights, query.value))
        caption.value = html.escape(title, quote=False)

    box = live_figure([widgets.HBox([choose]), query, image, caption])
    box.name, box.line, box.query, box.image, box.caption = (
        "attention explorer", choose, query, image, caption,
    )  # fmt: skip
    changes = [(query, q) for q in range(length - 1, -1, -4)] + [(query, length - 1)]
    changes += [(choose, n) for n in names[1:] + names[:1]]
    _timed(box, redraw, [choose, query], changes)
    return box


# ---------------------------------------------------------------------------
# Risks: false facts, copying and skew against temperature


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
            frames[t] = (_blitted_png(canvas, background, moving), _risk_caption(sweep, t))
        image.value, caption.value = frames[t]

    box = live_figure([slider, image, caption])
    box.name, box.slider, box.image, box.caption = "risk dashboard", slider, image, caption
    changes = [(slider, t) for t in temps if t != slider.value] + [(slider, slider.value)]
    _timed(box, redraw, [slider], changes)
    return box
