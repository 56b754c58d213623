"""Measuring models: accuracy, learning curves, and a critic of generated digits.

The models measured are the student's: every function here takes a model class
(or any zero-argument factory) with scikit-learn's `fit(X, y)` / `predict(X)`
interface and measures it. That keeps the answers out of this package and lets the
same code measure scikit-learn's models in the unit tests. The one model built here,
`digit_critic`, is the judge that modules 03 and 04 share for generated digits.

What this module leaves out: cross-validation and hyper-parameter search; one
held-out test set and a handful of seeds are enough to see the effects taught here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from tqdm.auto import tqdm

from ..checks import check_array
from ..data import stratified_subset

__all__ = ["LearningCurves", "accuracy", "learning_curves", "digit_critic"]


def accuracy(model, X: np.ndarray, y: np.ndarray) -> float:
    """Share of `X` whose predicted label equals `y`.

    Args:
        model: anything with `predict(X)` returning (n,) labels.
        X: (n, features) inputs; y: (n,) true labels.
    Returns:
        A float in [0, 1].
    """
    y_hat = model.predict(X)
    check_array(y_hat, f"{type(model).__name__}.predict(X)", shape=(len(y),))
    return float(np.mean(y_hat == y))


@dataclass(frozen=True)
class LearningCurves:
    """Test accuracy of several models at several training-set sizes.

    Attributes:
        sizes: (n_sizes,) int training-set sizes.
        seeds: (n_seeds,) int seeds, one training subset per seed and size.
        scores: model name -> (n_seeds, n_sizes) test accuracy.
    """

    sizes: np.ndarray
    seeds: np.ndarray
    scores: dict[str, np.ndarray]

    def mean(self, name: str) -> np.ndarray:
        """(n_sizes,) mean accuracy of one model over the seeds."""
        return self.scores[name].mean(axis=0)

    def std(self, name: str) -> np.ndarray:
        """(n_sizes,) standard deviation of one model's accuracy over the seeds."""
        return self.scores[name].std(axis=0)

    def table(self) -> str:
        """A plain-text table: one row per size, mean ± std per model."""
        names = list(self.scores)
        lines = ["size  " + "  ".join(f"{n:>22}" for n in names)]
        for j, size in enumerate(self.sizes):
            cells = [f"{self.mean(n)[j]:.3f} ± {self.std(n)[j]:.3f}" for n in names]
            lines.append(f"{size:>4}  " + "  ".join(f"{c:>22}" for c in cells))
        return "\n".join(lines)


def learning_curves(
    models: Mapping[str, Callable[[], object]],
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    sizes: Iterable[int],
    seeds: Iterable[int] = range(5),
    progress: bool = True,
) -> LearningCurves:
    """Train every model on stratified subsets of the training set and score it on the test set.

    For each seed and size, all models see the same subset (`stratified_subset`), so
    their curves differ only by the model, not by luck of the draw.

    Args:
        models: name -> factory; `factory()` returns an unfitted model with `fit`/`predict`.
        X_train, y_train: the pool to draw training subsets from, (n, features) and (n,).
        X_test, y_test: the fixed held-out set every model is scored on.
        sizes: training-set sizes, each at least the number of classes.
        seeds: one subset per seed.
        progress: show a tqdm progress bar.
    Returns:
        A `LearningCurves`.
    """
    sizes = np.asarray(list(sizes), dtype=int)
    seeds = np.asarray(list(seeds), dtype=int)
    scores = {name: np.zeros((len(seeds), len(sizes))) for name in models}
    steps = [(i, j) for i in range(len(seeds)) for j in range(len(sizes))]
    for i, j in tqdm(steps, desc="learning curves", disable=not progress, leave=False):
        subset = stratified_subset(y_train, int(sizes[j]), seed=int(seeds[i]))
        for name, make in models.items():
            model = make()
            model.fit(X_train[subset], y_train[subset])
            scores[name][i, j] = accuracy(model, X_test, y_test)
    return LearningCurves(sizes, seeds, scores)


# ---------------------------------------------------------------------------
# A critic of generated digits


def digit_critic(split):
    """A discriminative classifier of real digits, to label the digits a model generates.

    Logistic regression (about 97% accurate on the held-out digits), fitted in well under
    a second. Its `predict_proba(X)` takes (n, 64) images in [0, 1], like the data.

    Args:
        split: `genlab.data.load_digits()`; the critic learns from its training part.
    """
    return LogisticRegression(max_iter=2000).fit(split.X_train, split.y_train)
