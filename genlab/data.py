"""Small, offline data sets for the course, split reproducibly.

Everything here comes from what a dependency ships (scikit-learn's 8x8 digits and
wine measurements) or is generated, so no notebook ever downloads anything. Splits
are stratified and seeded: the same seed gives the same split on every machine.

What this module leaves out: augmentation and loaders; the data sets are small
enough to live in memory as numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split

__all__ = ["Split", "load_digits", "load_wine_2d", "stratified_subset"]


@dataclass(frozen=True)
class Split:
    """A train/test split. `X_*`: (n, features) float64; `y_*`: (n,) int64 labels."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]

    def __iter__(self):  # lets a notebook write `X_train, X_test, y_train, y_test = split`
        return iter((self.X_train, self.X_test, self.y_train, self.y_test))


# ---------------------------------------------------------------------------
# Data sets


def load_digits(test_size: float = 0.3, seed: int = 0) -> Split:
    """scikit-learn's 1,797 handwritten digits, 8x8 pixels, scaled to [0, 1].

    Returns:
        A `Split` with `X_*`: (n, 64) float64 in [0, 1] (row-major 8x8 images) and
        `y_*`: (n,) int64 digits 0-9.
    """
    bunch = datasets.load_digits()
    X = bunch.data / 16.0  # the raw pixels count ink from 0 to 16
    y = bunch.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y
    )
    names = tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8))
    return Split(X_train, X_test, y_train, y_test, names, tuple(str(d) for d in range(10)))


WINE_FEATURES = ("flavanoids", "color_intensity")


def load_wine_2d(test_size: float = 0.4, seed: int = 0) -> Split:
    """Two measurements of 178 Italian wines from three cultivars, standardised.

    The two features (flavanoids and colour intensity) are chosen because the three
    cultivars separate well in them, so a decision boundary can be drawn on a page.
    Standardisation uses the training part only.

    Returns:
        A `Split` with `X_*`: (n, 2) float64 with zero mean and unit variance on the
        training part, and `y_*`: (n,) int64 cultivars 0, 1, 2.
    """
    bunch = datasets.load_wine()
    columns = [list(bunch.feature_names).index(f) for f in WINE_FEATURES]
    X = bunch.data[:, columns]
    y = bunch.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y
    )
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    return Split(
        (X_train - mean) / std,
        (X_test - mean) / std,
        y_train,
        y_test,
        WINE_FEATURES,
        tuple(f"cultivar {k}" for k in range(3)),
    )


# ---------------------------------------------------------------------------
# Sub-sampling


def stratified_subset(y: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of `size` examples drawn without replacement, every class at least once.

    Classes are represented in proportion to their frequency in `y` (rounded), which
    keeps a learning curve from being dominated by a lucky or unlucky class mix.

    Args:
        y: (n,) labels.
        size: how many examples to draw; at least the number of classes, at most n.
        seed: seeds numpy's default generator.
    Returns:
        (size,) int64 indices into `y`, sorted.
    """
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    if not len(classes) <= size <= len(y):
        raise ValueError(
            f"size must be between the number of classes ({len(classes)}) and "
            f"the number of examples ({len(y)}), got {size}"
        )
    rng = np.random.default_rng(seed)
    # one of each class first, then the rest spread by largest remainder
    share = counts / counts.sum() * (size - len(classes))
    extra = np.floor(share).astype(int)
    leftover = size - len(classes) - extra.sum()
    extra[np.argsort(share - extra)[::-1][:leftover]] += 1
    take = np.minimum(1 + extra, counts)
    while take.sum() < size:  # a tiny class ran out: top up from classes with room
        room = np.flatnonzero(take < counts)
        take[room[rng.integers(len(room))]] += 1
    chosen = [
        rng.choice(np.flatnonzero(y == c), size=k, replace=False)
        for c, k in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(chosen))
