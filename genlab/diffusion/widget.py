"""The widgets of module 04: the stepper from static to digits (it draws the trajectories
`genlab.diffusion.sample` kept; its frames are made with numpy and PIL alone, a few
milliseconds each), the noising slider and the guidance slider, each with its static figure.

The design is shared by every topic: see `genlab.live`.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from PIL import Image

from ..checks import check_array, check_tensor
from ..figures import show_digit_rows, show_digits
from ..live import live_figure, make_live
from .model import Samples

__all__ = [
    "denoising_snapshots",
    "diffusion_stepper",
    "noising_snapshots",
    "noising_slider",
    "guidance_snapshots",
    "guidance_slider",
]


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
    make_live(box, redraw, [slider], [(slider, i) for i in range(1, len(samples.steps))])
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
    make_live(box, redraw, [slider], changes)
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
    make_live(box, redraw, [slider], changes)
    return box
