"""Figures of module 04: the noise schedule, the denoiser's training, guidance and speed.

The design is shared by every topic: see `genlab.figures`.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_array
from ..figures import (
    CLASS_COLORS,
    COLORS,
    log_bars,
    new_figure,
)

__all__ = ["plot_schedule", "plot_denoiser_training", "plot_guidance", "plot_speed"]


def plot_schedule(betas, alpha_bar):
    """How much of the digit and how much noise a noisy sample x_t holds at each timestep:
    the weights sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t), with beta_t on the right.

    Args:
        betas, alpha_bar: (T,) noise schedule, numpy arrays or tensors.
    """
    betas, alpha_bar = np.asarray(betas, dtype=float), np.asarray(alpha_bar, dtype=float)
    check_array(alpha_bar, "alpha_bar", shape=(len(betas),), low=0, high=1)
    t = np.arange(len(betas))
    fig = new_figure(figsize=(6.5, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.plot(t, np.sqrt(alpha_bar), color="black", lw=2, label="digit: sqrt(alpha_bar_t)")
    ax.plot(
        t, np.sqrt(1 - alpha_bar), color="grey", lw=2, ls="--", label="noise: sqrt(1 - alpha_bar_t)"
    )
    ax.set(xlabel="timestep t", ylabel="weight in x_t", ylim=(-0.02, 1.02))
    ax.set_title("The forward process: the digit fades, the static grows", fontsize=10)
    ax.grid(alpha=0.3)
    twin = ax.twinx()
    twin.plot(t, betas, color=COLORS["generative"], lw=1)
    twin.set_ylabel("beta_t, noise added at step t (orange)", color=COLORS["generative"])
    twin.set_ylim(0, betas.max() * 1.05)
    ax.legend(loc="center right", fontsize=8)
    return fig


def plot_denoiser_training(history):
    """The denoiser's loss, the mean squared error of its predicted noise, against steps.

    Args:
        history: (step, loss) pairs, as `genlab.diffusion.Training.history` holds them.
    """
    steps, losses = np.asarray(history, dtype=float).reshape(-1, 2).T
    fig = new_figure(figsize=(6.5, 3.4), layout="constrained")
    ax = fig.subplots()
    ax.plot(steps, losses, color=COLORS["generative"])
    ax.axhline(1.0, color="grey", ls="--", lw=0.8, label="predicting 0: the noise's variance")
    ax.set(xlabel="training step", ylabel="mean squared error", ylim=(0, max(1.1, losses[0])))
    ax.set_title("One network, one loss that goes down", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_guidance(scales, accuracy, diversity, real_diversity: float):
    """The guidance trade-off: the critic's accuracy and the diversity within each class
    against the guidance scale w.

    Args:
        scales: (k,) guidance scales measured.
        accuracy: (k,) share of samples the critic labels as the digit asked for.
        diversity: (k,) mean distance between two samples of one class.
        real_diversity: the same measure on real digits (a dashed line).
    """
    fig = new_figure(figsize=(9.0, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2, sharex=True)
    left.plot(scales, accuracy, marker="o", color=COLORS["discriminative"])
    left.set(ylim=(0, 1.04), ylabel="recognised as the digit asked for")
    left.set_title("Fidelity: the critic's verdict", fontsize=10)
    right.plot(scales, diversity, marker="o", color=COLORS["generative"], label="samples")
    right.axhline(real_diversity, color="black", ls="--", lw=1, label="real digits")
    right.set(ylim=(0, max(max(diversity), real_diversity) * 1.1), ylabel="mean distance")
    right.set_title("Diversity: distance between two samples of a class", fontsize=10)
    right.legend(fontsize=8, loc="lower left")
    for ax in (left, right):
        ax.set_xlabel("guidance scale w")
        ax.grid(alpha=0.3)
    return fig


def plot_speed(seconds: dict[str, float], n: int = 1000):
    """Seconds to draw `n` samples, one bar per generator, on a log scale.

    Args:
        seconds: generator name -> wall-clock seconds for `n` samples.
    """
    fig = new_figure(figsize=(6.5, 0.6 + 0.5 * len(seconds)), layout="constrained")
    colors = [COLORS["generative"], "grey", *CLASS_COLORS]
    log_bars(fig.subplots(), seconds, colors, "{:.3g} s", gap=1.15, room=10)
    fig.axes[0].set(xlabel=f"seconds for {n:,} samples (log scale)")
    return fig
