"""Figures for the notebooks: digits, learning curves, boundaries, language models, GANs,
diffusion, the ingredients of module 05 (data, compute, attention) and the risks of
module 06.

Each function draws on a new matplotlib figure (or on axes it is given) and returns
the figure, so a notebook shows it with a bare call and a test can inspect it. The
colours are one fixed palette, so "generative" and "discriminative" look the same in
every figure of the course.

What this module leaves out: styling options; a figure that needs them belongs in
the notebook.
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.figure import Figure

from .checks import check_array

__all__ = [
    "COLORS",
    "two_views_figure",
    "show_digits",
    "plot_learning_curves",
    "plot_boundaries",
    "token_label",
    "draw_next_tokens",
    "plot_bigram",
    "plot_training",
    "plot_sweep",
    "plot_fact_check",
    "plot_ring",
    "plot_generator_losses",
    "draw_gan_field",
    "plot_gan_losses",
    "digits_over_training",
    "show_digit_rows",
    "plot_critic_labels",
    "plot_schedule",
    "plot_denoiser_training",
    "plot_guidance",
    "plot_speed",
    "plot_data_curve",
    "plot_rates",
    "plot_accuracy_by_distance",
    "AttentionFigure",
    "plot_attention_strips",
    "plot_confidence",
    "plot_amplification",
    "plot_detectors",
    "plot_risks",
    "mark_risks",
    "plot_responses",
]

COLORS = {"generative": "#d9822b", "discriminative": "#2b6cb0"}
CLASS_COLORS = ("#4c9f70", "#c0504d", "#7e57c2", "#e0a800", "#3a87ad")


def _show_figures_in_jupyter() -> None:
    """Make a figure that a cell returns display as a PNG, once (what `%matplotlib inline`
    registers; the figures here never pass through pyplot, so nothing else would)."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import select_figure_formats
    except ImportError:  # plain Python: nothing to display on
        return
    shell = get_ipython()
    if shell is not None:
        select_figure_formats(shell, {"png"})


_show_figures_in_jupyter()


def _figure(**kwargs) -> Figure:
    """A figure outside pyplot's registry: shown once when a cell returns it, never twice,
    and freed as soon as nothing refers to it (the widgets draw hundreds)."""
    return Figure(**kwargs)


# ---------------------------------------------------------------------------
# The two views of one data set


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

    fig = _figure(figsize=(10, 3.4))
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


# ---------------------------------------------------------------------------
# Digits


def show_digits(images: np.ndarray, titles=None, ncols: int = 10, suptitle: str | None = None):
    """A grid of 8x8 digits.

    Args:
        images: (n, 64) or (n, 8, 8) pixel intensities, dark = high; any range.
        titles: optional n short strings, one above each image.
        ncols: images per row.
    """
    images = np.asarray(images, dtype=float)
    check_array(images, "images")
    images = images.reshape(len(images), 8, 8)
    nrows = int(np.ceil(len(images) / ncols))
    fig = _figure(figsize=(ncols * 0.9, nrows * 1.0 + (0.4 if suptitle else 0)))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < len(images):
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=max(1.0, images.max()))
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# Learning curves


def plot_learning_curves(curves, title: str = "Test accuracy against training-set size"):
    """Mean accuracy over seeds (line) and one standard deviation (band), log x axis.

    Args:
        curves: a `genlab.models.LearningCurves`.
    """
    fig = _figure(figsize=(6.5, 4))
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


# ---------------------------------------------------------------------------
# Decision boundaries


def plot_boundaries(panels, split, fig: Figure | None = None):
    """One panel per model: predicted class over the plane, training points on top.

    Args:
        panels: the result of `genlab.widgets.boundary_panels` on `split`.
        split: the 2D `genlab.data.Split`; the training subset `panels.train_idx` is drawn
            as filled dots, the held-out points as small hollow dots.
        fig: a figure to draw on (the widget reuses one); a new one by default.
    """
    fig = fig or _figure(figsize=(4.2 * len(panels.models), 3.8), layout="constrained")
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


# ---------------------------------------------------------------------------
# Language models

# Characters that print as nothing get a visible stand-in on an axis.
_VISIBLE = {" ": "\u2423", "\n": "\u21b5", "\t": "\u21e5"}
VERDICT_COLORS = {"true": "#4c9f70", "false": "#d9822b", "nonsense": "#9e9e9e"}


def token_label(char: str) -> str:
    """A character as an axis shows it: a space as a visible-space sign, a newline as an arrow."""
    return _VISIBLE.get(char, char)


def draw_next_tokens(ax, chars, probs, title: str = "", color: str = COLORS["generative"]):
    """Bars of next-token probabilities on `ax`, most likely first.

    Args:
        chars: the k tokens, as strings.
        probs: (k,) their probabilities.
    """
    probs = np.asarray(probs, dtype=float)
    ax.bar(range(len(probs)), probs, color=color)
    ax.set_xticks(range(len(probs)), [token_label(c) for c in chars], fontfamily="monospace")
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot_bigram(probs: np.ndarray, vocab, chars: str = " etaoinsrhlcdu.,"):
    """A heat map of P(next | previous) for a few frequent characters.

    Args:
        probs: (V, V) rows of next-character probabilities, row = previous character.
        vocab: the `genlab.text.Vocab` the rows and columns are indexed by.
        chars: the characters to show, in this order, on both axes.
    """
    probs = np.asarray(probs, dtype=float)
    V = len(vocab)
    check_array(probs, "probs", shape=(V, V), low=0, high=1)
    idx = vocab.encode(chars)
    fig = _figure(figsize=(6.4, 5.4))
    ax = fig.subplots()
    image = ax.imshow(probs[np.ix_(idx, idx)], cmap="Oranges", vmin=0)
    labels = [token_label(c) for c in chars]
    ax.set_xticks(range(len(chars)), labels, fontfamily="monospace")
    ax.set_yticks(range(len(chars)), labels, fontfamily="monospace")
    ax.set(xlabel="next character", ylabel="previous character")
    ax.set_title("P(next | previous), counted from the corpus", fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def plot_training(history, held_out: dict[str, float], title: str = "Loss in nats per character"):
    """The neural model's training loss against steps, and each model's held-out loss.

    Args:
        history: (step, loss) pairs, as `genlab.lm.NeuralLM.history` holds them.
        held_out: model name -> held-out loss in nats per character (a dashed line each).
    """
    steps, losses = np.asarray(history, dtype=float).T
    fig = _figure(figsize=(6.5, 3.8))
    ax = fig.subplots()
    ax.plot(steps, losses, color=COLORS["generative"], label="neural model, training batches")
    for (name, loss), color in zip(held_out.items(), CLASS_COLORS, strict=False):
        ax.axhline(loss, ls="--", color=color, label=f"{name}, held-out: {loss:.2f}")
    ax.set(xlabel="training step", ylabel="nats per character", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_sweep(temperatures, series: dict[str, list[float]], ylabel: str, title: str):
    """One line per measured quantity against temperature.

    Args:
        temperatures: (n,) the temperatures measured.
        series: label -> (n,) values, one per temperature.
    """
    fig = _figure(figsize=(6.5, 3.8))
    ax = fig.subplots()
    for (label, values), color in zip(series.items(), CLASS_COLORS, strict=False):
        ax.plot(temperatures, values, marker="o", color=color, label=label)
    ax.set(xlabel="temperature", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend()
    fig.tight_layout()
    return fig


def plot_fact_check(temperatures, verdicts: dict[float, list[str]], title: str):
    """Stacked bars: the share of true, false and nonsense answers at each temperature.

    Args:
        temperatures: the temperatures, in drawing order.
        verdicts: temperature -> verdicts ("true", "false", "nonsense"), one per answer.
    """
    fig = _figure(figsize=(6.5, 3.8))
    ax = fig.subplots()
    bottom = np.zeros(len(temperatures))
    for verdict, color in VERDICT_COLORS.items():
        share = np.array([np.mean([v == verdict for v in verdicts[t]]) for t in temperatures])
        ax.bar([str(t) for t in temperatures], share, bottom=bottom, color=color, label=verdict)
        bottom += share
    ax.set(xlabel="temperature", ylabel="share of answers", ylim=(0, 1), title=title)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# GANs

DETECTIVE_CMAP = "Blues"  # the discriminator's belief P(real | x): white 0, dark blue 1


def plot_ring(panels: dict[str, np.ndarray], centers: np.ndarray, radius: float):
    """Points in the plane, one panel each, with a circle of `radius` around every mode.

    Args:
        panels: title -> (n, 2) points; the first panel (the data) in black, the rest orange.
        centers: (modes, 2) mode centres.
        radius: how near a point must be to count as near a mode.
    """
    from matplotlib.patches import Circle

    fig = _figure(figsize=(3.6 * len(panels), 3.6), layout="constrained")
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
    fig = _figure(figsize=(6.5, 3.8))
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
    fig = _figure(figsize=(4.6 * len(runs), 3.4), layout="constrained")
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


def show_digit_rows(rows):
    """Rows of 8x8 digits in [-1, 1] (clipped there), each row named above its first digit.

    Args:
        rows: (name, (k, 64) digits) pairs, every row as long as the first.
    """
    names, digits = zip(*rows, strict=True)
    per_row = len(digits[0])
    images = np.clip((np.concatenate(digits) + 1) / 2, 0, 1)
    titles = [name if i == 0 else "" for name in names for i in range(per_row)]
    return show_digits(images, titles=titles, ncols=per_row)


def plot_critic_labels(probs: dict[str, np.ndarray], class_names):
    """How a classifier labels several sets of images: the share given each class.

    Args:
        probs: name of the set -> (n, classes) predicted probabilities.
        class_names: one label per class.
    """
    fig = _figure(figsize=(7.5, 3.6))
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


# ---------------------------------------------------------------------------
# Diffusion


def plot_schedule(betas, alpha_bar):
    """How much of the digit and how much noise a noisy sample x_t holds at each timestep:
    the weights sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t), with beta_t on the right.

    Args:
        betas, alpha_bar: (T,) noise schedule, numpy arrays or tensors.
    """
    betas, alpha_bar = np.asarray(betas, dtype=float), np.asarray(alpha_bar, dtype=float)
    check_array(alpha_bar, "alpha_bar", shape=(len(betas),), low=0, high=1)
    t = np.arange(len(betas))
    fig = _figure(figsize=(6.5, 3.6), layout="constrained")
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
    fig = _figure(figsize=(6.5, 3.4), layout="constrained")
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
    fig = _figure(figsize=(9.0, 3.4), layout="constrained")
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
    fig = _figure(figsize=(6.5, 0.6 + 0.5 * len(seconds)), layout="constrained")
    colors = [COLORS["generative"], "grey", *CLASS_COLORS]
    _log_bars(fig.subplots(), seconds, colors, "{:.3g} s", gap=1.15, room=10)
    fig.axes[0].set(xlabel=f"seconds for {n:,} samples (log scale)")
    return fig


def _log_bars(ax, values: dict[str, float], colors, label: str, gap: float, room: float):
    """Horizontal bars on a log scale, top to bottom in the order of `values`, each
    labelled with `label.format(value)` at `gap` times its length; the axis reaches
    `room` times the longest bar, so the labels fit."""
    names, lengths = list(values), np.array(list(values.values()), dtype=float)
    ax.barh(names, lengths, color=list(colors)[: len(names)])
    for i, length in enumerate(lengths):
        ax.text(length * gap, i, label.format(length), va="center", fontsize=9)
    ax.set_xscale("log")
    ax.set_xlim(lengths.min() / 3, lengths.max() * room)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)


# ---------------------------------------------------------------------------
# What changed: data, compute and attention


def plot_data_curve(sizes, losses, fit: tuple[float, float] | None = None):
    """Held-out loss against training-set size on log-log axes, with a fitted power law.

    Args:
        sizes: (k,) characters of training text.
        losses: (k,) held-out loss of the model trained on each, nats per character.
        fit: (exponent, constant) of loss = constant * size ** exponent, drawn as a line.
    """
    sizes, losses = np.asarray(sizes, dtype=float), np.asarray(losses, dtype=float)
    fig = _figure(figsize=(6.5, 4.0), layout="constrained")
    ax = fig.subplots()
    ax.plot(sizes, losses, "o", color=COLORS["generative"], ms=8, label="one model per size")
    for size, loss in zip(sizes, losses, strict=True):
        ax.annotate(f"{loss:.2f}", (size, loss), xytext=(6, 6), textcoords="offset points")
    if fit is not None:
        exponent, constant = fit
        grid = np.geomspace(sizes.min() / 1.5, sizes.max() * 1.5, 50)
        ax.plot(
            grid,
            constant * grid**exponent,
            color="black",
            lw=1,
            ls="--",
            label=f"fit: loss = {constant:.3g} x size^({exponent:.3f})",
        )
    ax.set(xscale="log", yscale="log", xlabel="characters of training text (log scale)")
    ax.set(ylabel="held-out loss, nats per character (log scale)")
    ticks = [
        t for t in (0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8) if losses.min() / 1.3 < t < losses.max() * 1.3
    ]
    if len(ticks) >= 2:  # plain numbers instead of powers of ten; else matplotlib's own
        ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
    ax.set_title("More data, lower loss: the same model trained on more text", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig


def plot_rates(rates: dict[str, float], unit: str = "operations per second"):
    """One bar per way of computing, on a log scale, each labelled with its rate.

    Args:
        rates: name -> operations per second.
    """
    check_array(np.array(list(rates.values()), dtype=float), "rates", shape=(len(rates),), low=0)
    fig = _figure(figsize=(6.5, 0.8 + 0.55 * len(rates)), layout="constrained")
    ax = fig.subplots()
    colors = ["grey", COLORS["discriminative"], COLORS["generative"], *CLASS_COLORS]
    _log_bars(ax, rates, colors, "{:.3g}", gap=1.2, room=20)
    ax.set(xlabel=f"{unit} (log scale)")
    ax.set_title("One matrix product: the same operations, different speeds", fontsize=10)
    return fig


def plot_accuracy_by_distance(
    distances, accuracy: dict[str, np.ndarray], window: int | None = None
):
    """Accuracy of each model against how far back the answer is, with chance at 1 in 10.

    Args:
        distances: (k,) distances measured.
        accuracy: model name -> (k,) share of lines answered right.
        window: the characters the window model reads, marked as a shaded band.
    """
    fig = _figure(figsize=(6.5, 3.8), layout="constrained")
    ax = fig.subplots()
    colors = [COLORS["discriminative"], COLORS["generative"], *CLASS_COLORS]
    for (name, values), color in zip(accuracy.items(), colors, strict=False):
        ax.plot(distances, values, marker="o", color=color, label=name)
    ax.axhline(0.1, color="grey", ls=":", label="chance (1 in 10)")
    if window is not None:
        ax.axvspan(0.8, window - 0.5, color=COLORS["discriminative"], alpha=0.08)
        ax.text(1.0, 0.5, "inside the\nwindow", fontsize=8, color=COLORS["discriminative"])
    ax.set(xscale="log", ylim=(0, 1.05), xlabel='distance from the digit to the "?" (log scale)')
    ax.set_xticks(list(distances), [str(d) for d in distances], fontsize=8)
    ax.minorticks_off()
    ax.set(ylabel="share of digits recalled")
    ax.set_title("Recalling a digit seen earlier in the line", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    return fig


class _Strip:
    """A line of text on `ax`, `per_row` characters a row, each shaded by a weight (square-root
    colour scale), one position outlined and the ones after it greyed. Drawn once, then
    updated in place by `show`."""

    def __init__(self, ax, length: int, per_row: int):
        from matplotlib.colors import PowerNorm
        from matplotlib.patches import Rectangle

        self.ax, self.length, self.per_row = ax, length, per_row
        rows = -(-length // per_row)
        self.image = ax.imshow(
            np.zeros((rows, per_row)), cmap="Oranges", norm=PowerNorm(0.5, 0, 1), aspect="auto"
        )
        self.chars = [
            ax.text(i % per_row, i // per_row, "", ha="center", va="center", family="monospace",
                    fontsize=10)
            for i in range(length)
        ]  # fmt: skip
        self.cursor = ax.add_patch(
            Rectangle((-0.5, -0.5), 1, 1, fill=False, ec=COLORS["discriminative"], lw=2.5)
        )
        ax.set_xticks([])
        ax.set_yticks([])

    def set_text(self, text: str) -> None:
        for label, char in zip(self.chars, text, strict=True):
            label.set_text(token_label(char))

    def show(self, weights: np.ndarray, query: int, title: str = "") -> None:
        """Shade by `weights` ((length,), the attention of position `query`) and outline it."""
        shade = np.zeros(self.image.get_array().size)
        shade[: self.length] = weights
        self.image.set_data(shade.reshape(-1, self.per_row))
        for position, label in enumerate(self.chars):
            label.set_color("#bbbbbb" if position > query else "black")
        self.cursor.set_xy((query % self.per_row - 0.5, query // self.per_row - 0.5))
        self.ax.set_title(title, fontsize=10, loc="left")


class AttentionFigure:
    """Where each position of a line looks: the line with its characters shaded by the
    attention of one query position, above the whole matrix of attention weights.

    Drawn once and updated in place, so moving the query costs a few tens of
    milliseconds. Rows of the matrix are query positions, columns the positions they
    look at; the colour scale is a square root, so weights of a few percent still show.
    """

    def __init__(self, length: int, per_row: int = 32, dpi: int = 80):
        from matplotlib.colors import PowerNorm
        from matplotlib.patches import Rectangle

        rows = -(-length // per_row)
        self.fig = _figure(figsize=(9.0, 1.2 + 0.45 * rows + 4.2), dpi=dpi)
        grid = self.fig.add_gridspec(2, 1, height_ratios=[0.45 * rows + 0.4, 4.2], hspace=0.35)
        self.strip = _Strip(self.fig.add_subplot(grid[0]), length, per_row)
        self.matrix_ax = self.fig.add_subplot(grid[1])
        self.matrix = self.matrix_ax.imshow(
            np.zeros((length, length)), cmap="Oranges", norm=PowerNorm(0.5, vmin=0, vmax=1)
        )
        self.row = self.matrix_ax.add_patch(
            Rectangle((-0.5, -0.5), length, 1, fill=False, ec=COLORS["discriminative"], lw=1.5)
        )
        self.matrix_ax.set(xlabel="position looked at", ylabel="query position")
        self.fig.colorbar(self.matrix, ax=self.matrix_ax, shrink=0.8, label="attention weight")
        self._line = None

    def draw(self, text: str, weights: np.ndarray, query: int, title: str = "") -> Figure:
        """Show `text` (one character per position) and its (length, length) `weights`,
        with the row of position `query` picked out. Positions after the query, which the
        causal mask hides from it, are greyed in the strip."""
        if text != self._line:
            self.strip.set_text(text)
            self.matrix.set_data(weights)
            self._line = text
        self.strip.show(weights[query], query, title)
        self.row.set_y(query - 0.5)
        return self.fig


def plot_attention_strips(rows: list[tuple[str, str, np.ndarray]], per_row: int = 32):
    """Lines of text, each character shaded by the attention one position gives it.

    Args:
        rows: (title, text, weights) for each line: weights is (len(text),), the attention
            of the position the strip is about (outlined: the last one).
    """
    lines = max(-(-len(text) // per_row) for _, text, _ in rows)
    fig = _figure(figsize=(9.0, (0.45 * lines + 0.5) * len(rows)), layout="constrained")
    for ax, (title, text, weights) in zip(
        np.atleast_1d(fig.subplots(len(rows), 1)), rows, strict=True
    ):
        strip = _Strip(ax, len(text), per_row)
        strip.set_text(text)
        strip.show(weights, len(text) - 1, title)
    return fig


# ---------------------------------------------------------------------------
# Risks: confidence, amplification, detectors, all three against temperature


def plot_confidence(confidence: dict[str, np.ndarray], title: str = ""):
    """Histograms of the model's confidence in its answers, one per verdict.

    Args:
        confidence: verdict ("true", "false", ...) -> (n,) probabilities in [0, 1].
    """
    fig = _figure(figsize=(6.5, 3.6))
    ax = fig.subplots()
    bins = np.linspace(0, 1, 21)
    for verdict, values in confidence.items():
        color = VERDICT_COLORS.get(verdict, "grey")
        weights = np.full(len(values), 1 / max(len(values), 1))
        ax.hist(values, bins=bins, weights=weights, color=color, alpha=0.6,
                label=f"{verdict} ({len(values)})")  # fmt: skip
    ax.set(xlabel="the model's probability of its answer", ylabel="share of those answers",
           title=title or "Confidence of true and false answers")  # fmt: skip
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_amplification(temperatures, shares, train_share: float, model_share: float):
    """The share of the majority continuation in samples against temperature, beside the
    training text's share and what tempering the model's own probability predicts.

    Args:
        temperatures: (n,) temperatures (> 0).
        shares: (n,) measured shares in the samples.
        train_share: the share in the training text.
        model_share: the model's own probability of the majority continuation.
    """
    fig = _figure(figsize=(6.5, 3.6))
    ax = fig.subplots()
    grid = np.linspace(min(temperatures), max(temperatures), 200)
    p, q = model_share ** (1 / grid), (1 - model_share) ** (1 / grid)
    ax.plot(grid, p / (p + q), color="grey", lw=1, label="the model's probability, tempered")
    ax.plot(temperatures, shares, "o", color=COLORS["generative"], label="measured in samples")
    ax.axhline(
        train_share, color="black", ls="--", lw=1, label=f"training text ({train_share:.0%})"
    )
    ax.set(xlabel="temperature", ylabel='share of "he"', ylim=(0.45, 1.02),
           title="A 70/30 skew, sampled at each temperature")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_detectors(steps, accuracy: dict[str, list[float]]):
    """Each detector's accuracy at telling real from fake, against the generator's training.

    Args:
        steps: (n,) training steps of each generator.
        accuracy: detector name -> (n,) held-out accuracies.
    """
    fig = _figure(figsize=(6.5, 3.6))
    ax = fig.subplots()
    for (name, values), color in zip(accuracy.items(), CLASS_COLORS, strict=False):
        ax.plot(steps, values, marker="o", color=color, label=name)
    ax.axhline(0.5, color="grey", ls=":", lw=1, label="chance")
    ax.set(xscale="log", xlabel="generator training steps", ylabel="detector accuracy",
           ylim=(0.45, 1.02), title="The arms race: better fakes, fooled detectors")  # fmt: skip
    ax.set_xticks(list(steps), [f"{s:,}" for s in steps])
    ax.minorticks_off()
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


RISK_PANELS = (
    ("false_rate", "false-fact rate", "share of claims that are false", (0, 1)),
    ("copied", "copying", "mean longest copied span (characters)", None),
    ("share", "skew", 'share of "he"', (0.45, 1.02)),
)


def plot_risks(sweep, at: float | None = None):
    """The three risks of a `genlab.risks.RiskSweep` against temperature, side by side,
    with the temperature `at` (if given) marked and its values in the titles.

    `mark_risks` moves the mark on the returned figure without drawing it again."""
    fig = _figure(figsize=(10, 3.2), dpi=80)  # the dashboard redraws it: 80 dpi keeps that fast
    axes = fig.subplots(1, 3)
    fig.risk_marks = []
    for ax, (field, name, ylabel, ylim) in zip(axes, RISK_PANELS, strict=True):
        ax.plot(
            sweep.temperatures, getattr(sweep, field), marker="o", color=COLORS["generative"], ms=4
        )
        if field == "share":
            ax.axhline(sweep.train_share, color="black", ls="--", lw=1, label="training text")
            ax.legend(fontsize=7, loc="upper right")
        line = ax.axvline(sweep.temperatures[0], color="grey", lw=1, visible=False)
        (dot,) = ax.plot([], [], "o", color="black", ms=7)
        fig.risk_marks.append((ax, field, name, line, dot))
        ax.set(xlabel="temperature", ylabel=ylabel, title=f"{name} at T = 0.00: 0.00")
        if ylim:
            ax.set_ylim(*ylim)
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    fig.tight_layout()  # laid out once, with titles as long as any mark makes them
    mark_risks(fig, sweep, at)
    return fig


def mark_risks(fig, sweep, at: float | None) -> None:
    """Mark temperature `at` on a figure of `plot_risks` (None: no mark)."""
    for ax, field, name, line, dot in fig.risk_marks:
        if at is None:
            line.set_visible(False)
            dot.set_data([], [])
            ax.set_title(name)
            continue
        value = getattr(sweep, field)[sweep.temperatures.index(at)]
        line.set_xdata([at, at])
        line.set_visible(True)
        dot.set_data([at], [value])
        ax.set_title(
            f"{name} at T = {at:g}: {value:.0f}"
            if field == "copied"
            else f"{name} at T = {at:g}: {value:.2f}"
        )


def plot_responses(responses):
    """What a combined system answered: a digit image or a text under each request.

    Args:
        responses: (request, kind, answer) triples; answer is a (64,) image in [0, 1]
            for kind "image", a string for kind "text".
    """
    fig = _figure(figsize=(10, 1.9 * ((len(responses) + 2) // 3)))
    axes = np.atleast_1d(fig.subplots((len(responses) + 2) // 3, 3)).ravel()
    for ax, (request, kind, answer) in zip(axes, responses, strict=False):
        ax.set_title(textwrap.fill(f"{request!r} -> {kind}", 40), fontsize=8)
        if kind == "image":
            ax.imshow(np.asarray(answer).reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        else:
            ax.text(0.02, 0.5, textwrap.fill(str(answer), 40), fontsize=8, va="center",
                    family="monospace", transform=ax.transAxes)  # fmt: skip
        ax.set_xticks([]), ax.set_yticks([])
    for ax in axes[len(responses) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig
