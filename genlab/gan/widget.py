"""The training scrubber of module 03. It draws snapshots saved during training
(`genlab.gan.Run`), so moving its slider replays the game instead of training anything;
`gan_snapshots` is the static figure beside it.

The design is shared by every topic: see `genlab.live`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from ..figures import COLORS, new_figure
from ..live import blitted_png, live_figure, make_live
from .figures import draw_gan_field
from .model import Run

__all__ = ["gan_snapshots", "gan_scrubber"]


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
    fig = new_figure(figsize=(2.6 * len(steps), 2.8 * len(runs)), layout="constrained")
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
        self.fig = new_figure(figsize=(9.0, 3.9), dpi=80, layout="constrained")
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
        return blitted_png(self.canvas, self.background, self.moving)


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
    make_live(box, redraw, [choose, slider], changes)
    return box
