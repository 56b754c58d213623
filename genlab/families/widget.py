"""The latent explorer of module 07: move a point over the latent plane of a 2-D VAE and
see the digit the decoder draws there, or slide it along the straight line between two
training digits' codes. `latent_point` computes, the explorer is the thin UI; its static
figures are `genlab.families.plot_latent_map` and `plot_interpolation`.

The design is shared by every topic: see `genlab.live`. What this module leaves out:
latent spaces of more than two dimensions (a slider each would hide the map), the
decoder's noise (the explorer shows its mean digit), and any critic's verdict: the
caption reports only distances to the training codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.transforms import offset_copy

from ..checks import check_array
from ..figures import new_figure
from ..live import blitted_png, live_figure, make_live
from .figures import draw_codes, latent_extent

__all__ = ["LatentPoint", "latent_point", "latent_explorer"]


@dataclass(frozen=True)
class LatentPoint:
    """One point of the latent plane, what the decoder draws there and which training
    digits the encoder put near it.

    Attributes:
        z: (2,) the point.
        digit: (64,) the decoder's mean digit at `z`, in [0, 1].
        nearest: index of the training code closest to `z` (Euclidean distance).
        label: that training digit's class.
        distance: how far it is from `z`.
        nearby: (10,) how many of the `k` closest training codes belong to each class 0-9.
    """

    z: np.ndarray
    digit: np.ndarray
    nearest: int
    label: int
    distance: float
    nearby: np.ndarray


def latent_point(vae, codes: np.ndarray, labels: np.ndarray, z, k: int = 10) -> LatentPoint:
    """What the explorer shows at `z`: the decoded digit and the training codes around it.

    Args:
        vae: a `genlab.families.VAE` with `latent=2`.
        codes: (m, 2) the encoder's means of the training digits.
        labels: (m,) their classes 0-9.
        z: (2,) the point.
        k: how many of the closest codes `nearby` counts.
    Returns:
        A `LatentPoint`.
    """
    import torch

    z = np.asarray(z, dtype=float).reshape(2)
    with torch.inference_mode():
        digit = vae.decode(torch.as_tensor(z[None], dtype=torch.float32))[0].double().numpy()
    distances = np.linalg.norm(codes - z, axis=1)
    closest = np.argsort(distances, kind="stable")[:k]
    nearest = int(closest[0])
    return LatentPoint(
        z, digit, nearest, int(labels[nearest]), float(distances[nearest]),
        np.bincount(labels[closest], minlength=10),
    )  # fmt: skip


def _a(digit: int) -> str:
    """A digit with its article, as the menus and captions name a training digit."""
    return f"an {digit}" if digit == 8 else f"a {digit}"


def _caption(point: LatentPoint, line: str | None) -> str:
    """What the picture shows, in a sentence or two."""
    where = f"<b>z = ({point.z[0]:.2f}, {point.z[1]:.2f})</b>"
    where += f", {line}" if line else ", off the line (move t to return to it)"
    counts = sorted(((n, d) for d, n in enumerate(point.nearby) if n), reverse=True)
    around = ", ".join(f"{n} of class {d}" for n, d in counts)
    return (
        f"{where}. The nearest training code is {_a(point.label)}'s, at distance "
        f"{point.distance:.2f}; the {point.nearby.sum()} nearest: {around}."
    )


class _Map:
    """The explorer's figure: the training codes by class (left), the decoded digit at the
    point (middle, large) and the training digit whose code is nearest (right).

    Laid out and drawn once; each frame redraws only what moves (the point, the line and
    its ends, the two digits, a title) onto a saved copy of the rest, the scatter of a
    thousand codes and its legend, which keeps a frame far under the 100 ms budget.
    """

    def __init__(self, codes: np.ndarray, labels: np.ndarray, extent):
        self.fig = new_figure(figsize=(9.6, 3.9), dpi=80, layout="constrained")
        self.canvas = FigureCanvasAgg(self.fig)
        self.map_ax, self.digit_ax, self.near_ax = self.fig.subplots(
            1, 3, width_ratios=[1.25, 1, 0.6]
        )
        draw_codes(self.map_ax, codes, labels, extent)
        self.map_ax.set_title("The training digits' codes", fontsize=10)
        (self.line,) = self.map_ax.plot([], [], color="black", lw=1.2, ls="--")
        (self.ends,) = self.map_ax.plot([], [], "o", mfc="white", mec="black", ms=7)
        beside = offset_copy(self.map_ax.transData, self.fig, x=5, y=3, units="points")
        self.end_labels = [
            self.map_ax.text(0, 0, name, fontsize=9, weight="bold", transform=beside)
            for name in ("from", "to")
        ]
        (self.marker,) = self.map_ax.plot([], [], "X", color="black", mec="white", ms=14)
        blank = np.zeros((8, 8))
        self.digit = self.digit_ax.imshow(blank, cmap="gray_r", vmin=0, vmax=1)
        self.digit_ax.set_title("What the decoder draws at the point", fontsize=10)
        self.near = self.near_ax.imshow(blank, cmap="gray_r", vmin=0, vmax=1)
        self.near_ax.set_title(" ", fontsize=9)
        for ax in (self.digit_ax, self.near_ax):
            ax.set(xticks=[], yticks=[])
        frames = [*self.digit_ax.spines.values(), *self.near_ax.spines.values()]
        self.moving = [self.line, self.ends, *self.end_labels, self.marker, self.digit,
                       self.near, self.near_ax.title, *frames]  # fmt: skip  # frames on top
        for artist in self.moving:
            artist.set_animated(True)  # left out of the saved background
        self.fig.draw_without_rendering()  # lay out once, then never again
        self.fig.set_layout_engine(None)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    def png(self, point: LatentPoint, start, end, nearest_image) -> bytes:
        """A frame as PNG bytes: `point`, the line from `start` to `end`, the two digits."""
        ends = np.stack([start, end])
        self.line.set_data(ends[:, 0], ends[:, 1])
        self.ends.set_data(ends[:, 0], ends[:, 1])
        for label, (x, y) in zip(self.end_labels, ends, strict=True):
            label.set_position((x, y))
        self.marker.set_data([point.z[0]], [point.z[1]])
        self.digit.set_data(point.digit.reshape(8, 8))
        self.near.set_data(np.reshape(nearest_image, (8, 8)))
        self.near_ax.set_title(f"nearest training code:\n{_a(point.label)}", fontsize=9)
        return blitted_png(self.canvas, self.background, self.moving)


def latent_explorer(vae, codes: np.ndarray, labels: np.ndarray, images: np.ndarray):
    """Move a point over the latent plane of a 2-D VAE; see what the decoder draws there.

    The sliders z1 and z2 move the point anywhere over the codes' extent. Below them, two
    menus choose a training digit (the first of each class) to go from and one to go to:
    the slider t then puts the point on the straight line between their codes,
    z = z_from + t (z_to - z_from), and so does choosing another digit in a menu. Moving
    z1 or z2 afterwards leaves the line. The picture shows the codes of the training
    digits coloured by class, the line and the point; the digit the decoder draws at the
    point, large; and the training digit whose code is nearest. The caption gives the
    point's coordinates and the classes of the training codes around it.

    Args:
        vae: a `genlab.families.VAE` with `latent=2`.
        codes: (m, 2) the encoder's means of the training digits.
        labels: (m,) their classes 0-9.
        images: (m, 64) the training digits in [0, 1], in the same order.
    Returns:
        The live widget; its controls are `z1`, `z2`, `from_digit`, `to_digit` and `t`,
        its picture `image` (drawn by `picture`), its caption `caption`, and the point
        last drawn, a `LatentPoint`, is `point`.
    """
    import ipywidgets as widgets

    if vae.latent != 2:
        raise ValueError(f"the VAE has {vae.latent} latent numbers; the explorer needs 2")
    codes, labels = np.asarray(codes, dtype=float), np.asarray(labels)
    check_array(codes, "codes", shape=(None, 2))
    check_array(labels, "labels", shape=(len(codes),), dtype="i", low=0, high=9)
    check_array(np.asarray(images), "images", shape=(len(codes), 64), low=0, high=1)
    firsts = [(_a(d), int(np.flatnonzero(labels == d)[0])) for d in np.unique(labels)]
    if len(firsts) < 2:
        raise ValueError("the codes hold one class only: the line needs two digits to join")
    # the sliders reach every code the menus offer, so every point of a line is in range
    x0, x1, y0, y1 = latent_extent(codes)
    offered = codes[[i for _, i in firsts]]
    (x0, y0), (x1, y1) = np.minimum([x0, y0], offered.min(0)), np.maximum([x1, y1], offered.max(0))

    wide = {"description_width": "initial"}
    z1, z2 = (
        widgets.FloatSlider(
            value=0.0, min=low, max=high, step=(high - low) / 200, description=name,
            readout_format=".2f", style=wide, layout=widgets.Layout(width="45%"),
        )
        for name, low, high in (("z1", x0, x1), ("z2", y0, y1))
    )  # fmt: skip
    from_digit = widgets.Dropdown(options=firsts, value=firsts[0][1], description="from",
                                  style=wide, layout=widgets.Layout(width="130px"))  # fmt: skip
    to_digit = widgets.Dropdown(options=firsts, value=firsts[-1][1], description="to",
                                style=wide, layout=widgets.Layout(width="130px"))  # fmt: skip
    t = widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.01, description="t (from → to)",
                            readout_format=".2f", style=wide,
                            layout=widgets.Layout(width="50%"))  # fmt: skip
    image, caption = widgets.Image(format="png"), widgets.HTML()
    picture = _Map(codes, labels, (x0, x1, y0, y1))
    names = dict((i, name) for name, i in firsts)
    # the point, whether it lies on the line, whether the sliders are being moved by the
    # line (that redraw is under way), and what asked for the next redraw
    state = {"z": None, "on_line": True, "quiet": False, "moved": "line"}

    def redraw():
        start, end = codes[from_digit.value], codes[to_digit.value]
        if state["moved"] == "line":  # t or a menu: the point goes onto the line
            state["z"], state["on_line"] = start + t.value * (end - start), True
            state["quiet"] = True
            z1.value, z2.value = state["z"]  # (clamped by the sliders, not by the point)
            state["quiet"] = False
        else:  # z1 or z2: anywhere
            state["z"], state["on_line"] = np.array([z1.value, z2.value]), False
        point = latent_point(vae, codes, labels, state["z"])
        image.value = picture.png(point, start, end, images[point.nearest])
        line = None
        if state["on_line"]:
            line = (f"on the line from {names[from_digit.value]} to {names[to_digit.value]} "
                    f"at t = {t.value:.2f}")  # fmt: skip
        caption.value = _caption(point, line)
        box.point = point

    box = live_figure(
        [widgets.HBox([z1, z2]), widgets.HBox([from_digit, to_digit, t]), image, caption]
    )
    box.name = "VAE latent explorer"
    box.z1, box.z2, box.from_digit, box.to_digit, box.t = z1, z2, from_digit, to_digit, t
    box.image, box.caption, box.picture = image, caption, picture
    span = lambda low, high: np.linspace(low, high, 7)[1:-1]  # noqa: E731
    changes = [(t, round(v, 2)) for v in np.linspace(0.1, 1, 10)]
    changes += [(z1, float(v)) for v in span(x0, x1)] + [(z2, float(v)) for v in span(y0, y1)]
    changes += [(from_digit, i) for _, i in firsts[1:4]] + [(to_digit, i) for _, i in firsts[4:7]]
    changes += [(t, round(v, 2)) for v in np.linspace(0.9, 0, 10)]
    timed = make_live(box, redraw, [], changes)

    def moved(by):
        def observer(change):
            if not state["quiet"]:
                state["moved"] = by
                timed()

        return observer

    for control in (from_digit, to_digit, t):
        control.observe(moved("line"), names="value")
    for control in (z1, z2):
        control.observe(moved("point"), names="value")
    return box
