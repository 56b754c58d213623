"""Two of the three ingredients, measured at small scale: data and compute.

Data: `data_curve` trains the same small neural language model (module 02's `CharMLP`)
on growing slices of a corpus and measures each one's loss on the same held-out text.
Scaling-law studies (Kaplan et al., 2020; Hoffmann et al., 2022) find that this loss
falls as a power of the data size, a straight line on log-log axes; fitting that line
is the student's exercise.

Compute: a matrix product, the operation almost all of a network's arithmetic is made
of, timed three ways: Python loops, one operation at a time (`python_matmul`); numpy,
which hands the whole product to an optimised library (BLAS) that uses the processor's
vector units and every core; and torch, which does the same and is what the course's
models run on. Counting the operations of a product and of a training run is the
student's exercise, so nothing here counts them: `time_matmul` returns seconds only.

`MODEL_SIZES` lists the published sizes of a few well-known models, to put the measured
speed in perspective.

What this module leaves out: the third ingredient (the transformer, `genlab.ingredients.recall`),
fits with an irreducible loss term, and GPUs (the course runs on CPU).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..checks import check_array

__all__ = ["DataCurve", "data_curve", "python_matmul", "time_matmul", "MODEL_SIZES"]

# ---------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class DataCurve:
    """Held-out loss against training-set size, one model per size.

    Attributes:
        sizes: (k,) characters each model trained on.
        losses: (k,) its best loss on the held-out text, in nats per character.
        parameters: weights of each model (they are all the same size).
        steps: (k,) optimiser steps each model ran before early stopping ended it.
        tokens: (k,) characters each model processed in training (steps x batch size).
        seconds: (k,) wall-clock training time of each, held-out checks included.
    """

    sizes: np.ndarray
    losses: np.ndarray
    parameters: int
    steps: np.ndarray
    tokens: np.ndarray
    seconds: np.ndarray


def data_curve(
    train_ids: np.ndarray,
    held_out: np.ndarray,
    vocab_size: int,
    fractions: Sequence[float] = (0.01, 0.03, 0.1, 0.3, 1.0),
    steps: int = 1200,
    batch_size: int = 256,
    progress: bool = True,
    **lm_kwargs,
) -> DataCurve:
    """Train one `CharMLP` per slice of `train_ids` and measure each on `held_out`.

    Every model has the same size, the same number of steps and the same seed; only the
    data differ. Each slice is the start of the training text (the first 1%, 3%, ...), so
    a larger slice contains the smaller ones. A model that has read little soon learns its
    slice by heart and gets worse on new text, so its loss is checked on the held-out text
    every 50 steps, training stops after two checks without a new best, and the best is
    what counts: early stopping, as scaling studies do. Small slices stop after a few
    hundred steps; the largest use all `steps`.

    Args:
        train_ids: (n,) int character ids.
        held_out: (m,) int ids of text no model trains on (a few thousand are enough).
        vocab_size: the number of distinct ids.
        fractions: the slices, as fractions of `train_ids`, in (0, 1].
        steps: the most optimiser steps a model may take.
        batch_size: windows per step.
        progress: show a progress bar per model.
        lm_kwargs: passed to `genlab.lm.train_lm` (context, hidden, dropout, lr, seed).
    Returns:
        A `DataCurve`, one entry per fraction, in the order given.
    """
    from ..lm import train_lm

    check_array(np.asarray(fractions, dtype=float), "fractions", shape=(None,), low=1e-9, high=1)
    options = {"context": 8, "hidden": 128, "dropout": 0.1, "lr": 4e-3, "seed": 0} | lm_kwargs
    sizes, losses, steps_run, seconds, parameters = [], [], [], [], 0
    for fraction in fractions:
        size = int(round(len(train_ids) * fraction))
        model = train_lm(
            train_ids[:size],
            vocab_size,
            steps=steps,
            batch_size=batch_size,
            held_out=held_out,
            eval_every=50,
            patience=2,
            progress=progress,
            desc=f"{size:,} characters",
            **options,
        )
        sizes.append(size)
        losses.append(min(loss for _, loss in model.held_out_history))
        steps_run.append(model.held_out_history[-1][0])
        seconds.append(model.seconds)
        parameters = model.parameters
    steps_run = np.array(steps_run)
    return DataCurve(
        np.array(sizes),
        np.array(losses),
        parameters,
        steps_run,
        steps_run * batch_size,
        np.array(seconds),
    )


# ---------------------------------------------------------------------------
# Compute


def python_matmul(A: list[list[float]], B: list[list[float]]) -> list[list[float]]:
    """The product of two matrices stored as lists of rows, one multiply-add at a time,
    the way a first programming course writes it.

    Args:
        A: n rows of k floats.
        B: k rows of m floats.
    Returns:
        n rows of m floats.
    """
    if not A or not B or len(A[0]) != len(B):
        raise ValueError(
            f"cannot multiply: A's rows have {len(A[0]) if A else 0} numbers and B has "
            f"{len(B)} rows; they must be equal and non-zero"
        )
    columns = list(zip(*B, strict=True))  # B's columns, so the inner loop walks two lists
    C = []
    for row in A:
        C.append([sum(a * b for a, b in zip(row, column, strict=True)) for column in columns])
    return C


def time_matmul(
    way: str, n: int, repeats: int = 5, seed: int = 0, threads: int | None = None
) -> float:
    """Seconds to multiply two random n x n matrices, the best of `repeats` runs.

    numpy and torch multiply float32, what the course's models train in; Python's lists
    hold its own numbers, which are 64-bit.

    Args:
        way: "python" (`python_matmul` on lists), "numpy" (`A @ B`) or "torch" (`torch.mm`).
        n: the matrices' size; keep it below about 100 for "python", which is slow.
        threads: for "torch", the threads to use for the timing (None: torch's setting,
            by default one per core); the setting is restored afterwards.
    Returns:
        The fastest run's wall-clock seconds (the others were slowed by something else).
    """
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    if way == "python":
        return _best_of(python_matmul, A.tolist(), B.tolist(), repeats)
    if way == "numpy":
        return _best_of(np.matmul, A.astype(np.float32), B.astype(np.float32), repeats)
    if way != "torch":
        raise ValueError(f'way must be "python", "numpy" or "torch", got {way!r}')
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        A, B = torch.from_numpy(A).float(), torch.from_numpy(B).float()
        return _best_of(torch.mm, A, B, repeats)
    finally:
        torch.set_num_threads(previous)


def _best_of(product, A, B, repeats: int) -> float:
    product(A, B)  # once untimed: the first call may load libraries or start threads
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product(A, B)
        best = min(best, time.perf_counter() - start)
    return best


# Published sizes: parameters and training tokens.
MODEL_SIZES: dict[str, dict[str, float]] = {
    # Brown et al. (2020), "Language Models are Few-Shot Learners".
    "GPT-3": {"parameters": 175e9, "tokens": 300e9},
    # Hoffmann et al. (2022): a smaller model trained on more data, for the same compute.
    "Chinchilla": {"parameters": 70e9, "tokens": 1.4e12},
    # Touvron et al. (2023), "Llama 2".
    "Llama 2 7B": {"parameters": 7e9, "tokens": 2e12},
    "Llama 2 70B": {"parameters": 70e9, "tokens": 2e12},
}
