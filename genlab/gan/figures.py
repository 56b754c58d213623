"""Figures of module 03: the ring and its modes, the players' losses, digits over training and
the critic's labels.

The design is shared by every topic: see `genlab.figures`.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_array
from ..figures import (
    CLASS_COLORS,
    COLORS,
    new_figure,
    show_digit_rows,
)

__all__ = [
    "plot_ring",
    "plot_generator_losses",
    "draw_gan_field",
    "plot_gan_losses",
    "digits_over_training",
    "plot_critic_labels",
    "DETECTIVE_CMAP",
]


DETECTIVE_CMAP = "Blues"  # the discriminator's belief P(real | x): white 0, dark blue 1


def plot_ring(panels: dict[str, np.ndarray], centers: np.ndarray, radius: float):
    """Points in the plane, one panel each, with a circle of `radius` around every mode.

    Args:
        panels: title -> (n, 2) points; the first panel (the data) in black, the rest orange.
        centers: (modes, 2) mode centres.
        radius: how near a point must be to count as near a mode.
    """
    from matplotlib.patches import Circle

    fig = new_figure(figsize=(3.6 * len(panels), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharex=True, sharey=True))
    for i, (ax, (title, points)) in enumerate(zip(axes, panels.items(), strict=True)):
        color = "black" if i == 0 else COLORS["generative"]  # the data, then generated points
        points = np.asarray(points, dtype=float)
        check_array(points, title, shape=(None, 2))
        for center in centers:
            ax.add_patch(Circle(center, radius, fill=False, color="grey", ls="--", lw=0.8))
        ax.scatter(points[:, 0], points[:, 1], s=3, alpha=0.5, color=color)
        ax.set_title(title, fontsize=10)
        ax.set_aspect("equal")
    axes[0].set(xlim=(-3.2, 3.2), ylim=(-3.2, 3.2))
    return fig


def plot_generator_losses():
    """The two losses a generator can minimise, against the detective's belief D(G(z)).

    Saturating, log(1 - D): flat where the detective is sure a fake is fake (D near 0),
    which is where an untrained forger starts. Non-saturating, -log D: steepest there.
    """
    belief = np.linspace(0.002, 0.998, 400)
    fig = new_figure(figsize=(6.5, 3.8))
    ax = fig.subplots()
    ax.plot(belief, np.log(1 - belief), color="grey", lw=2, label="saturating: log(1 - D)")
    ax.plot(
        belief, -np.log(belief), color=COLORS["generative"], lw=2, label="non-saturating: -log D"
    )
    ax.axvspan(0, 0.1, color=COLORS["discriminative"], alpha=0.1)
    ax.text(0.012, -4.6, "early training:\nfakes are easy\nto spot", fontsize=8)
    ax.set(
        xlabel="D(G(z)): the detective's belief that a fake is real",
        ylabel="generator loss (minimised)",
        title="Same goal, very different slopes where training starts",
        ylim=(-5.2, 5.2),
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def draw_gan_field(ax, run, snapshot):
    """The game at one snapshot on `ax`, as GAN Lab draws it: the detective's belief as a
    background, real data in black, the forger's samples in orange.

    Args:
        run: a `genlab.gan.Run` on 2D data (its `extent` and `real` are used).
        snapshot: one of `run.snapshots`.
    Returns:
        (image, real, fakes): the artists, for a widget that updates them in place.
    """
    image = ax.imshow(
        snapshot.surface,
        extent=run.extent,
        origin="lower",
        cmap=DETECTIVE_CMAP,
        vmin=0,
        vmax=1,
        alpha=0.8,
    )
    real = ax.scatter(run.real[:, 0], run.real[:, 1], s=2, color="black", alpha=0.4)
    fakes = ax.scatter(
        snapshot.samples[:, 0], snapshot.samples[:, 1], s=4, color=COLORS["generative"]
    )
    ax.set(xlim=run.extent[:2], ylim=run.extent[2:], xticks=[], yticks=[], aspect="equal")
    return image, real, fakes


def plot_gan_losses(runs: dict):
    """Both players' losses against training steps, one panel per run, with the values
    they take when the detective can only guess (D = 1/2 everywhere): 2 log 2 and log 2.

    Args:
        runs: name -> `genlab.gan.Run`.
    """
    fig = new_figure(figsize=(4.6 * len(runs), 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(runs), sharey=True))
    for ax, (name, run) in zip(axes, runs.items(), strict=True):
        steps, d_loss, g_loss = np.asarray(run.history, dtype=float).T
        ax.plot(steps, d_loss, color=COLORS["discriminative"], label="detective")
        ax.plot(steps, g_loss, color=COLORS["generative"], label="forger")
        for value in (2 * np.log(2), np.log(2)):
            ax.axhline(value, color="grey", ls="--", lw=0.8)
        ax.set(title=name, xlabel="training step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("loss")
    axes[0].legend(fontsize=8)
    return fig


def digits_over_training(run, steps, per_row: int = 10):
    """A row of the forger's digits at each of `steps`, always from the same noise.

    Args:
        run: a `genlab.gan.Run` on digits scaled to [-1, 1].
        steps: training steps to show; each row is the last snapshot at or before one.
    """
    rows = [run.at(step) for step in steps]
    return show_digit_rows([(f"step {s.step}", s.samples[:per_row]) for s in rows])


def plot_critic_labels(probs: dict[str, np.ndarray], class_names):
    """How a classifier labels several sets of images: the share given each class.

    Args:
        probs: name of the set -> (n, classes) predicted probabilities.
        class_names: one label per class.
    """
    fig = new_figure(figsize=(7.5, 3.6))
    ax = fig.subplots()
    k, width = len(class_names), 0.8 / len(probs)
    for j, ((name, p), color) in enumerate(zip(probs.items(), CLASS_COLORS, strict=False)):
        share = np.bincount(np.argmax(p, axis=1), minlength=k) / len(p)
        ax.bar(
            np.arange(k) + (j - (len(probs) - 1) / 2) * width, share, width, color=color, label=name
        )
    ax.set_xticks(range(k), class_names)
    ax.set(xlabel="the critic's label", ylabel="share of the images", title="What the critic sees")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
