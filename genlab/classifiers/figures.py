"""Figures of module 01: the two views of one data set, learning curves and decision boundaries.

The design is shared by every topic: see `genlab.figures`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..figures import (
    CLASS_COLORS,
    COLORS,
    new_figure,
)

__all__ = ["two_views_figure", "plot_learning_curves", "plot_boundaries"]


def _normal_pdf(x, mean, std):
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))


def two_views_figure(seed: int = 0) -> Figure:
    """Two classes on one feature, seen by a generative and a discriminative model.

    Left: the generative view, P(x, y) = P(y) P(x | y): one bump per class, whose
    areas are the priors; drawing a class, then an x from its bump, makes new data.
    Right: the discriminative view, P(y | x): one curve from 0 to 1 that says which
    class an x belongs to, and nothing about where the x's come from.
    """
    priors, means, stds = np.array([0.6, 0.4]), np.array([-1.0, 1.5]), np.array([1.0, 0.8])
    x = np.linspace(-5, 5, 400)
    joint = priors[:, None] * _normal_pdf(x[None], means[:, None], stds[:, None])
    posterior = joint[1] / joint.sum(axis=0)

    fig = new_figure(figsize=(10, 3.4))
    left, right = fig.subplots(1, 2)
    for k, color in enumerate(CLASS_COLORS[:2]):
        left.fill_between(x, joint[k], alpha=0.35, color=color, label=f"P(x, y={k})")
        left.plot(x, joint[k], color=color)
    rng = np.random.default_rng(seed)
    labels = rng.choice(2, size=12, p=priors)
    samples = rng.normal(means[labels], stds[labels])
    left.scatter(
        samples,
        np.full_like(samples, -0.015),
        c=[CLASS_COLORS[k] for k in labels],
        marker="|",
        s=200,
        label="new samples",
    )
    left.set(title="Generative: P(x, y) = P(y) P(x | y)", xlabel="feature x", yticks=[])
    left.legend(loc="upper left", fontsize=8)

    right.plot(x, posterior, color=COLORS["discriminative"], lw=2, label="P(y=1 | x)")
    right.axhline(0.5, color="grey", lw=0.8, ls=":")
    right.axvline(
        x[np.argmin(np.abs(posterior - 0.5))],
        color="grey",
        lw=0.8,
        ls="--",
        label="decision boundary",
    )
    right.set(title="Discriminative: P(y | x)", xlabel="feature x", ylim=(-0.05, 1.05))
    right.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_learning_curves(curves, title: str = "Test accuracy against training-set size"):
    """Mean accuracy over seeds (line) and one standard deviation (band), log x axis.

    Args:
        curves: a `genlab.classifiers.LearningCurves`.
    """
    fig = new_figure(figsize=(6.5, 4))
    ax = fig.subplots()
    for name in curves.scores:
        mean, std = curves.mean(name), curves.std(name)
        color = COLORS.get(name)
        ax.plot(curves.sizes, mean, marker="o", label=name, color=color)
        ax.fill_between(curves.sizes, mean - std, mean + std, alpha=0.2, color=color)
    ax.set_xscale("log")
    ax.set_xticks(curves.sizes, [str(s) for s in curves.sizes])
    ax.minorticks_off()
    ax.set(xlabel="training examples", ylabel="test accuracy", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


# Decision boundaries


def plot_boundaries(panels, split, fig: Figure | None = None):
    """One panel per model: predicted class over the plane, training points on top.

    Args:
        panels: the result of `genlab.classifiers.boundary_panels` on `split`.
        split: the 2D `genlab.data.Split`; the training subset `panels.train_idx` is drawn
            as filled dots, the held-out points as small hollow dots.
        fig: a figure to draw on (the widget reuses one); a new one by default.
    """
    fig = fig or new_figure(figsize=(4.2 * len(panels.models), 3.8), layout="constrained")
    X_train, y_train = split.X_train[panels.train_idx], split.y_train[panels.train_idx]
    X_test, y_test = split.X_test, split.y_test
    axes = np.atleast_1d(fig.subplots(1, len(panels.models)))
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(CLASS_COLORS[:n_classes])
    for ax, name in zip(axes, panels.models, strict=True):
        ax.contourf(
            panels.xx,
            panels.yy,
            panels.labels[name],
            levels=np.arange(n_classes + 1) - 0.5,
            cmap=cmap,
            alpha=0.25,
        )
        ax.scatter(
            X_test[:, 0],
            X_test[:, 1],
            facecolors="none",
            edgecolors=[CLASS_COLORS[k] for k in y_test],
            s=14,
            lw=0.8,
        )
        ax.scatter(
            X_train[:, 0],
            X_train[:, 1],
            c=[CLASS_COLORS[k] for k in y_train],
            edgecolors="black",
            s=40,
            lw=0.8,
        )
        ax.set_title(
            f"{name}: test accuracy {panels.accuracy[name]:.2f}",
            fontsize=10,
            color=COLORS.get(name, "black"),
        )
        ax.set(xticks=[], yticks=[], xlabel=split.feature_names[0], ylabel=split.feature_names[1])
    fig.suptitle(f"trained on {len(y_train)} examples", fontsize=10)
    return fig
