"""The boundary explorer of module 01: both models' decision boundaries against the
training-set size. `boundary_panels` computes, `boundary_explorer` is the thin UI,
`boundary_snapshots` the static figure beside it.

The design is shared by every topic: see `genlab.live`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..data import Split, stratified_subset
from ..figures import new_figure
from ..live import live_figure, make_live, png
from .figures import plot_boundaries
from .model import accuracy

__all__ = ["BoundaryPanels", "boundary_panels", "boundary_snapshots", "boundary_explorer"]


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
    fig = new_figure(figsize=(4.2 * len(models), 3.8), dpi=dpi, layout="constrained")
    return plot_boundaries(panels, split, fig)


def boundary_snapshots(models, split: Split, sizes: Sequence[int], seed: int = 0, steps: int = 120):
    """The static companion of `boundary_explorer`: one row of panels per size."""
    fig = new_figure(figsize=(4.2 * len(models), 3.6 * len(sizes)), layout="constrained")
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
            cache[size] = png(_draw(models, split, size, seed, steps))
        return cache[size]

    box = live_figure([slider, image])
    box.name, box.slider, box.image = "boundary explorer", slider, image  # handles for tests
    changes = [(slider, int(s)) for s in [*sizes[1:], *sizes[-2::-1]]]
    make_live(box, lambda: setattr(image, "value", render(slider.value)), [slider], changes)
    return box
