"""Figures of module 07: training curves, the VAE's latent map and interpolations, the
flow's stages and density, and every family's digits side by side.

Each function draws on a new figure and returns it. The ten digit classes keep one colour
each (`DIGIT_COLORS`, matplotlib's tab10) in every figure and in the latent explorer, so
a 3 looks the same from one picture to the next; a flow's points are shaded from the
course's blue to its orange by where they started, so the eye can follow them from stage
to stage (as in Figure 1 of Dinh et al., 2017).

The design is shared by every topic: see `genlab.figures`. What this module leaves out:
the latent explorer's own picture, which is updated in place (`genlab.families.widget`),
and latent spaces of more than two dimensions (the map needs a plane).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..checks import check_array, check_tensor
from ..figures import CLASS_COLORS, COLORS, new_figure
from .model import flow_log_density

__all__ = [
    "DIGIT_COLORS",
    "latent_extent",
    "draw_codes",
    "plot_training",
    "plot_latent_map",
    "plot_interpolation",
    "plot_flow_stages",
    "plot_flow_density",
    "show_families",
]


DIGIT_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip  # matplotlib's tab10: the digits 0 to 9
_RUN_COLORS = (COLORS["generative"], COLORS["discriminative"], *CLASS_COLORS)


def _decoded(vae, z: np.ndarray) -> np.ndarray:
    """(n, 2) codes -> (n, 64) the decoder's mean digits, float64 in [0, 1]."""
    import torch

    with torch.inference_mode():
        return vae.decode(torch.as_tensor(z, dtype=torch.float32)).double().numpy()


def _check_plane(vae) -> None:
    if vae.latent != 2:
        raise ValueError(f"the VAE has {vae.latent} latent numbers; a map needs 2: VAE(latent=2)")


def latent_extent(codes: np.ndarray, pad: float = 0.1) -> tuple[float, float, float, float]:
    """The part of the latent plane worth showing: the 1st to 99th percentile of the codes
    on each axis, widened by `pad` of that range on each side (a few codes far out would
    otherwise shrink the crowd to a dot).

    Args:
        codes: (n, 2) the encoder's means of the training digits.
    Returns:
        (z1_min, z1_max, z2_min, z2_max).
    """
    codes = np.asarray(codes, dtype=float)
    check_array(codes, "codes", shape=(None, 2))
    low, high = np.percentile(codes, [1, 99], axis=0)
    margin = pad * np.maximum(high - low, 1e-3)
    (x0, y0), (x1, y1) = low - margin, high + margin
    return float(x0), float(x1), float(y0), float(y1)


# ---------------------------------------------------------------------------
# Training


def plot_training(histories: Mapping[str, Sequence[tuple[int, float]]], ylabel: str):
    """The training loss of several runs against the step, one colour a run.

    Args:
        histories: run name -> (step, loss) pairs, e.g. `Training.history`.
        ylabel: what the loss is, e.g. "negative ELBO, nats per digit".
    """
    if not histories:
        raise ValueError("no runs: pass a dict of name -> Training.history")
    fig = new_figure(figsize=(6.5, 3.8), layout="constrained")
    ax = fig.subplots()
    for i, (name, history) in enumerate(histories.items()):
        steps, losses = np.asarray(history, dtype=float).reshape(-1, 2).T
        label = f"{name}: {losses[-1]:.1f} after {steps[-1]:.0f} steps" if len(losses) else name
        ax.plot(steps, losses, color=_RUN_COLORS[i % len(_RUN_COLORS)], label=label)
    ax.set(xlabel="training step", ylabel=ylabel)
    ax.set_title("Training loss (lower is better)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


# ---------------------------------------------------------------------------
# The VAE's latent plane


def draw_codes(ax, codes: np.ndarray, labels: np.ndarray, extent) -> None:
    """The training digits' codes on `ax`: (m, 2) points coloured by their (m,) labels 0-9,
    a legend, the window `extent` = (z1_min, z1_max, z2_min, z2_max), a square box."""
    for digit in range(10):
        chosen = labels == digit
        ax.scatter(*codes[chosen].T, s=5, color=DIGIT_COLORS[digit], label=str(digit),
                   alpha=0.7, linewidths=0)  # fmt: skip
    ax.set(xlim=extent[:2], ylim=extent[2:], xlabel="z1", ylabel="z2")
    ax.legend(title="digit", fontsize=8, title_fontsize=8, markerscale=2.5, frameon=False,
              loc="upper left", bbox_to_anchor=(1.0, 1.0), handletextpad=0.1)  # fmt: skip
    ax.set_box_aspect(1)


def plot_latent_map(vae, codes: np.ndarray, labels: np.ndarray, n: int = 15, extent=None):
    """The latent plane of a 2-D VAE, two ways (as Figure 4 of Kingma & Welling, 2014).

    Left, where the encoder puts the training digits: each code (the mean of q(z|x)) a
    point coloured by its class. Right, what the decoder draws over the same square: an
    n x n grid of points, z1 growing to the right and z2 upwards, each decoded to its mean
    digit and drawn centred on its point, grey lines between the digits.

    Args:
        vae: a `genlab.families.VAE` with `latent=2`.
        codes: (m, 2) the encoder's means of the training digits.
        labels: (m,) their digits 0-9.
        n: grid points on each axis, at least 2.
        extent: (z1_min, z1_max, z2_min, z2_max) of the grid; by default `latent_extent`.
    """
    from matplotlib import colormaps

    _check_plane(vae)
    if n < 2:
        raise ValueError(f"n = {n}: a grid needs at least 2 points on each axis")
    codes, labels = np.asarray(codes, dtype=float), np.asarray(labels)
    check_array(codes, "codes", shape=(None, 2))
    check_array(labels, "labels", shape=(len(codes),))
    x0, x1, y0, y1 = latent_extent(codes) if extent is None else extent
    z1, z2 = np.linspace(x0, x1, n), np.linspace(y1, y0, n)  # top row: the largest z2
    grid = np.stack(np.meshgrid(z1, z2), axis=-1).reshape(-1, 2)
    digits = _decoded(vae, grid).reshape(n, n, 8, 8)
    # one sheet, the digits 9 pixels apart: a grey line of one pixel between them, without
    # which the blank edge columns of the digits make neighbours above and below merge
    sheet = np.full((9 * n + 1, 9 * n + 1), np.nan)
    for (i, j), digit in zip(np.ndindex(n, n), digits.reshape(-1, 8, 8), strict=True):
        sheet[9 * i + 1 : 9 * i + 9, 9 * j + 1 : 9 * j + 9] = digit
    # a grid step is 9 pixels of the sheet and digit j's pixels are 9j + 1 to 9j + 8, so
    # the sheet reaches 5/9 of a step beyond the outer points and each digit sits on its own
    margin_x, margin_y = 5 / 9 * (x1 - x0) / (n - 1), 5 / 9 * (y1 - y0) / (n - 1)
    sheet_extent = (x0 - margin_x, x1 + margin_x, y0 - margin_y, y1 + margin_y)

    fig = new_figure(figsize=(10, 5), layout="constrained")
    left, right = fig.subplots(1, 2)
    draw_codes(left, codes, labels, sheet_extent)
    left.set_title(f"Where the encoder puts {len(codes)} training digits", fontsize=10)
    cmap = colormaps["gray_r"].with_extremes(bad="#c8c8c8")
    right.imshow(sheet, cmap=cmap, vmin=0, vmax=1, extent=sheet_extent, aspect="auto",
                 interpolation="nearest")  # fmt: skip
    right.set(xlim=sheet_extent[:2], ylim=sheet_extent[2:], xlabel="z1", ylabel="z2")
    right.set_box_aspect(1)
    right.set_title(f"What the decoder draws on a {n} x {n} grid of points", fontsize=10)
    return fig


def plot_interpolation(vae, x_a: np.ndarray, x_b: np.ndarray, steps: int = 9):
    """Two digits' codes and the straight line between them, decoded: z = z_A + t (z_B - z_A)
    for `steps` values of t from 0 to 1, the two real digits at the ends.

    Args:
        vae: a `genlab.families.VAE`, any number of latent numbers.
        x_a, x_b: (64,) digits on the grid k/16; their codes are the encoder's means
            (`VAE.codes`, as the latent map and the explorer place digits).
        steps: points along the line, both ends included.
    """
    for name, x in (("x_a", x_a), ("x_b", x_b)):
        check_array(np.asarray(x, dtype=float), name, shape=(64,), low=0, high=1)
    z_a, z_b = vae.codes(np.stack([x_a, x_b]))
    t = np.linspace(0, 1, steps)
    line = z_a[None] + t[:, None] * (z_b - z_a)[None]
    digits = _decoded(vae, line)

    fig = new_figure(figsize=(0.9 * (steps + 2) + 0.6, 1.45), layout="constrained")
    ratios = [1, 0.25, *[1] * steps, 0.25, 1]
    axes = fig.subplots(1, steps + 4, width_ratios=ratios)
    shown = [(axes[0], x_a, "digit A")]
    shown += [(ax, d, f"t = {s:.2g}") for ax, d, s in zip(axes[2:-2], digits, t, strict=True)]
    shown += [(axes[-1], x_b, "digit B")]
    for ax in axes:
        ax.set_axis_off()
    for ax, image, title in shown:
        ax.imshow(np.reshape(image, (8, 8)), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
    for ax in (axes[0], axes[-1]):  # the real digits, framed in blue
        ax.set_axis_on()
        ax.set(xticks=[], yticks=[])
        for spine in ax.spines.values():
            spine.set(color=COLORS["discriminative"], linewidth=2)
    fig.suptitle("Decoded along the line from A's code to B's", fontsize=10)
    return fig


# ---------------------------------------------------------------------------
# The flow


def _shades(start: np.ndarray) -> np.ndarray:
    """(n, 4) RGBA colours, blue to orange by the first coordinate of the starting stage."""
    from matplotlib.colors import LinearSegmentedColormap

    cmap = LinearSegmentedColormap.from_list(
        "start", [COLORS["discriminative"], "#bbbbbb", COLORS["generative"]]
    )
    order = np.argsort(np.argsort(start[:, 0]))  # by rank: evenly spread over the colours
    return cmap(order / max(len(start) - 1, 1))


def _square_limits(stages: list[np.ndarray]) -> tuple[tuple[float, float], tuple[float, float]]:
    """One square window holding the 0.5th to 99.5th percentile of every stage of a row."""
    points = np.concatenate(stages)
    low, high = np.percentile(points, [0.5, 99.5], axis=0)
    centre, half = (low + high) / 2, 0.55 * float((high - low).max())
    return (centre[0] - half, centre[0] + half), (centre[1] - half, centre[1] + half)


def plot_flow_stages(forward_stages, backward_stages, titles=None):
    """A 2-D flow at work, layer by layer. Top row: the data on their way to the Gaussian
    (`Flow.warp`); bottom row: Gaussian samples on their way back to data
    (`Flow.sample(..., keep=True)`). Each point keeps its colour from stage to stage; a
    row shares one square window. A last stage equal to the one before (a flow without a
    fixed first step, whose last step changes nothing) is drawn once.

    Args:
        forward_stages: list of (n, 2) tensors or arrays, the data first.
        backward_stages: list of (m, 2) tensors or arrays, the Gaussian samples first.
        titles: optional pair (top titles, bottom titles), one title a panel.
    """
    import torch

    rows = []
    for name, stages in (("forward_stages", forward_stages), ("backward_stages", backward_stages)):
        arrays = [np.asarray(torch.as_tensor(s).detach(), dtype=float) for s in stages]
        for k, array in enumerate(arrays):
            check_array(array, f"{name}[{k}]", shape=(None, 2))
        if len(arrays) > 1 and np.array_equal(arrays[-1], arrays[-2]):
            arrays = arrays[:-1]
        rows.append(arrays)
    forward, backward = rows
    if titles is None:
        top = ["the data"] + [f"after layer {k}" for k in range(1, len(forward))]
        layers = len(backward) - 1  # counted back: the last layer's inverse runs first
        bottom = ["z ~ N(0, I)"] + [f"layer {layers - k + 1} undone" for k in range(1, layers + 1)]
        titles = (top, bottom)
    columns = max(len(forward), len(backward))
    fig = new_figure(figsize=(2.0 * columns, 4.5), layout="constrained")
    axes = fig.subplots(2, columns, squeeze=False)
    for row, stages, names in zip(axes, rows, titles, strict=True):
        if len(names) != len(stages):
            raise ValueError(f"{len(names)} titles for a row of {len(stages)} stages")
        colors = _shades(stages[0])
        xlim, ylim = _square_limits(stages)
        for ax, points, name in zip(row, stages, names, strict=False):
            ax.scatter(*points.T, s=2, c=colors, linewidths=0)
            ax.set(xlim=xlim, ylim=ylim, xticks=[], yticks=[], aspect="equal")
            ax.set_title(name, fontsize=8)
        for ax in row[len(stages) :]:
            ax.set_axis_off()
    axes[0, 0].set_ylabel("data to noise", fontsize=9)
    axes[1, 0].set_ylabel("noise to data", fontsize=9)
    return fig


def plot_flow_density(flow, flow_log_likelihood: Callable, data, extent=None,
                      resolution: int = 120):  # fmt: skip
    """The density a 2-D flow gives the plane, exp(log p(x)), as a heat map, the data on top.

    log p(x) is `flow_log_density`: the student's `flow_log_likelihood(x, flow.couplings)`
    plus the log-determinant of the flow's fixed first step, if it has one, computed
    without gradients at the centre of each of resolution x resolution cells.

    Args:
        flow: a `genlab.families.Flow` on 2-D points, e.g. `ring_flow()`.
        flow_log_likelihood: the student's `flow_log_likelihood(x, couplings) -> (n,)`.
        data: (n, 2) points, e.g. `sample_moons(500)`.
        extent: (x_min, x_max, y_min, y_max); by default the data's range widened by 15%.
        resolution: cells on each axis.
    """
    data = np.asarray(data, dtype=float)
    check_array(data, "data", shape=(None, 2))
    if flow.dim != 2:
        raise ValueError(f"the flow is on {flow.dim} numbers; a heat map needs 2: ring_flow()")
    if extent is None:
        low, high = data.min(axis=0), data.max(axis=0)
        margin = 0.15 * (high - low)
        extent = (low[0] - margin[0], high[0] + margin[0], low[1] - margin[1], high[1] + margin[1])
    x0, x1, y0, y1 = extent
    xs = x0 + (np.arange(resolution) + 0.5) * (x1 - x0) / resolution  # cell centres
    ys = y0 + (np.arange(resolution) + 0.5) * (y1 - y0) / resolution
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)  # row 0: the lowest y

    def log_p(points):
        ll = flow_log_density(flow, points, flow_log_likelihood)
        check_tensor(ll, "flow_log_likelihood(x, couplings)", shape=(len(points),))
        return ll.double().numpy()

    density = np.exp(log_p(grid)).reshape(resolution, resolution)
    fig = new_figure(figsize=(5.4, 4.4), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(density, origin="lower", extent=extent, cmap="Oranges", aspect="equal",
                      interpolation="nearest")  # fmt: skip
    ax.scatter(*data.T, s=2, color="black", alpha=0.5, linewidths=0)
    ax.set(xlim=extent[:2], ylim=extent[2:], xlabel="x1", ylabel="x2")
    fig.colorbar(image, ax=ax, shrink=0.8, label="density p(x)")
    ax.set_title(
        f"The flow's density; mean log p of the {len(data)} points: {log_p(data).mean():.2f} nats",
        fontsize=10,
    )
    return fig


# ---------------------------------------------------------------------------
# Side by side


def show_families(samples: Mapping[str, np.ndarray], per_family: int = 10):
    """One row of digits for each family of creators, its name on the left.

    Args:
        samples: family -> (n, 64) digits in [0, 1], e.g. {"real digits": ...,
            "GAN (module 03)": ..., "VAE": ...}; the first `per_family` of each are shown
            (a family with fewer leaves the rest of its row empty).
        per_family: digits a row.
    """
    if not samples:
        raise ValueError("no samples: pass a dict of family -> (n, 64) digits")
    rows = []
    for name, images in samples.items():
        images = np.asarray(images, dtype=float)
        check_array(images, f"samples[{name!r}]", shape=(None, 64), low=0, high=1)
        rows.append((name, images[:per_family]))
    fig = new_figure(figsize=(0.75 * per_family + 1.9, 0.8 * len(rows) + 0.2))
    axes = fig.subplots(len(rows), per_family, squeeze=False)
    fig.subplots_adjust(left=1.9 / fig.get_figwidth(), right=0.99, top=0.97, bottom=0.03,
                        wspace=0.08, hspace=0.12)  # fmt: skip
    for row, (name, images) in zip(axes, rows, strict=True):
        for ax, image in zip(row, images, strict=False):
            ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        for ax in row:
            ax.set_axis_off()
        row[0].text(-0.15, 0.5, name, transform=row[0].transAxes, ha="right", va="center",
                    fontsize=9)  # fmt: skip
    return fig
