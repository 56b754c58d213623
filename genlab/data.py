"""Small, offline data sets for the course, split reproducibly.

Everything here comes from what a dependency ships (scikit-learn's 8x8 digits and
wine measurements) or is generated, so no notebook ever downloads anything. Splits
are stratified and seeded: the same seed gives the same split on every machine.

What this module leaves out: augmentation and loaders; the data sets are small
enough to live in memory as numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split

__all__ = [
    "Split",
    "load_digits",
    "load_wine_2d",
    "stratified_subset",
    "Fakes",
    "load_fakes",
    "requests",
    "NUMBER_WORDS",
]


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


# ---------------------------------------------------------------------------
# Module 08: fake digits and requests to a combined system

FAKES = Path(__file__).with_name("deepfakes.npz")


@dataclass(frozen=True)
class Fakes:
    """Digits drawn by module 04's diffusion model, at three stages of its training.

    Attributes:
        labels: (n,) int64, the digit each sample was asked to be.
        images: training steps of the generator -> (n, 64) float64 in [0, 1], on the 17
            grey levels of the real scans (k / 16), row-major 8x8 like `load_digits`.
    """

    labels: np.ndarray
    images: dict[int, np.ndarray]


def load_fakes(path: Path = FAKES) -> Fakes:
    """The fake digits that `scripts/make_deepfakes.py` drew and the package ships."""
    with np.load(path) as saved:
        steps = [int(s) for s in saved["steps"]]
        images = {s: saved[f"images_{s}"] / 16.0 for s in steps}
        return Fakes(saved["labels"].astype(np.int64), images)


_ASK_IMAGE = (
    "draw a {d}", "draw me the digit {d}", "show me a handwritten {d}", "sketch the number {d}",
    "can you make a picture of a {d}", "generate an image of {d}", "paint a {d} for me",
    "I need an image of the digit {d}", "render a {d}", "picture of a {d}, please",
    "please draw {d}", "make me a drawing of a {d}", "an 8x8 image of a {d}",
    "create a handwritten-looking {d}", "illustrate the number {d}",
)  # fmt: skip
_ASK_TEXT = (
    "continue: {p}", "finish this sentence: {p}", "complete the text '{p}'",
    "what comes next after '{p}'?", "write the next words of: {p}", "go on from here: {p}",
    "keep writing: {p}", "autocomplete '{p}'", "extend this line: {p}",
    "carry on the sentence {p}", "please continue the text: {p}", "what follows '{p}'?",
    "write more after: {p}", "finish the line '{p}'", "complete: {p}",
)  # fmt: skip
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_DIGITS = (*"0123456789", *NUMBER_WORDS)  # how a request names a digit
_OPENINGS = (
    "The capital of France is", "the pilot said that", "The object", "In 3 steps we",
    "A list of 7 items", "Mr. Knightley said", "Once upon a time", "The number two",
    "She drew a line and", "At 7 the party", "The model writes", "Draw conclusions",
    "The picture shows", "Nine out of ten", "An image file", "The capital of Peru is",
)  # fmt: skip


def requests(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Requests to a system that either draws a digit or continues a text, with what
    each asks for.

    Half ask for an image of a digit (a numeral or a word, in 15 phrasings); half ask
    to continue a text (15 phrasings around 16 openings, some of which mention numbers,
    drawing or pictures, so a single keyword does not decide). Different seeds give
    different mixes of the same phrasings.

    Returns:
        (requests, kinds): n strings, and n labels "image" or "text".
    """
    rng = np.random.default_rng(seed)
    out, kinds = [], []
    for k in range(n):
        if k % 2 == 0:
            text = _ASK_IMAGE[rng.integers(len(_ASK_IMAGE))].format(d=rng.choice(_DIGITS))
            kinds.append("image")
        else:
            text = _ASK_TEXT[rng.integers(len(_ASK_TEXT))].format(p=rng.choice(_OPENINGS))
            kinds.append("text")
        out.append(text[0].upper() + text[1:] if rng.random() < 0.5 else text)
    order = rng.permutation(n)
    return [out[i] for i in order], [kinds[i] for i in order]
