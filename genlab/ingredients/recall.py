"""A task that needs long-range context, and two tiny models that try it.

The task: a line of real prose with one digit hidden in it, then a question mark; the
answer is the digit. How far back the digit sits (its *distance* from the "?") is what
we vary. Nothing near the "?" says which digit it was, so a model that reads only the
last few characters, like module 02's neural model with its fixed window, can only guess
once the digit is out of reach: one time in ten. A model with attention can look at
every earlier position at the same cost, however far back.

The two models:
- `WindowModel`: module 02's `CharMLP`, reading the last `context` characters, an
  n-gram model in neural form.
- `TinyAttention`: one head of causal self-attention (Vaswani et al., 2017) over
  character and position embeddings, and a linear read-out from the last position. It
  is the smallest piece of a transformer that shows the idea: no MLP block, no layer
  norm, one layer.

Both are trained on the answer only (the digit after each "?"), by the same loop
(`train_recall`).
`TinyAttention.qkv` hands out the queries, keys and values of one line, so the student's
own `attention(Q, K, V, causal=True)` can compute, and the widget draw, where each
position looks; nothing here returns attention weights itself.

What this module leaves out: multiple heads and layers, training on every character,
and tokenisers other than characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..checks import check_array
from ..lm import CharMLP, fit
from ..text import Vocab
from ..threads import one_thread

__all__ = [
    "DIGITS",
    "QUERY",
    "RecallTask",
    "recall_task",
    "TinyAttention",
    "WindowModel",
    "Trained",
    "train_recall",
    "accuracy_by_distance",
]

DIGITS = "0123456789"
QUERY = "?"

# ---------------------------------------------------------------------------
# The task


@dataclass(frozen=True)
class RecallTask:
    """Lines of prose with a digit to recall, all of one length.

    Attributes:
        vocab: the characters: the prose's, the ten digits and "?".
        length: characters per line, the "?" included (it is always last).
        train_text, test_text: the prose the lines are cut from; test lines come from
            paragraphs the models never train on.
    """

    vocab: Vocab
    length: int
    train_text: str
    test_text: str

    @property
    def max_distance(self) -> int:
        """The farthest a digit can sit from the "?": the line's first position."""
        return self.length - 1

    def lines(
        self,
        n: int,
        rng: np.random.Generator,
        distance: int | None = None,
        split: str = "train",
        digit: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`n` lines, each a stretch of prose with a random digit (or `digit`) put in at
        `distance` characters before the "?" (or at a random distance from 1 to
        `max_distance`), cut from the training paragraphs or, with split="test", the others.

        Returns:
            (ids, answers, distances): (n, length) int64 lines, (n,) int64 id of each
            line's digit, (n,) int64 distance of each digit.
        """
        if distance is not None and not 1 <= distance <= self.max_distance:
            raise ValueError(f"distance must be in [1, {self.max_distance}], got {distance}")
        if digit is not None and digit not in range(10):
            raise ValueError(f"digit must be an int from 0 to 9, got {digit!r}")
        if split not in ("train", "test"):
            raise ValueError(f'split must be "train" or "test", got {split!r}')
        prose = self.train_text if split == "train" else self.test_text
        filler = self.length - 2  # the prose around the digit, then "?"
        starts = rng.integers(0, len(prose) - filler, n)
        digits = rng.integers(0, 10, n) if digit is None else np.full(n, digit)
        distances = np.full(n, distance) if distance else rng.integers(1, self.length, n)
        query = self.vocab.encode(QUERY)[0]
        digit_ids = self.vocab.encode(DIGITS)
        ids = np.empty((n, self.length), dtype=np.int64)
        for row, (start, digit, d) in enumerate(zip(starts, digits, distances, strict=True)):
            stretch = self.vocab.encode(prose[start : start + filler])
            at = self.length - 1 - d  # the digit's position; the "?" is at length - 1
            ids[row] = np.concatenate([stretch[:at], [digit_ids[digit]], stretch[at:], [query]])
        return ids, digit_ids[digits], distances.astype(np.int64)


def recall_task(corpus: str, length: int = 64) -> RecallTask:
    """The task on a prose corpus (e.g. `genlab.text.prose_corpus()`): digits and question
    marks are taken out of the prose so that the only digit in a line is the one to recall;
    every 10th paragraph is kept for testing, as `genlab.text.train_test_text` splits it.
    """
    from ..text import train_test_text

    prose = re.sub(r"[0-9?]", "", corpus)
    train, test = train_test_text(prose)
    return RecallTask(Vocab.from_text(prose, DIGITS, QUERY), length, train, test)


# ---------------------------------------------------------------------------
# Two models


class WindowModel(nn.Module):
    """Module 02's `CharMLP` on the last `context` characters of a line: a fixed window."""

    def __init__(self, vocab_size: int, context: int = 8, hidden: int = 128):
        super().__init__()
        self.context = context
        self.net = CharMLP(vocab_size, context, embed=16, hidden=hidden)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(batch, length) ids -> (batch, vocab_size) logits of the character after the last."""
        return self.net(ids[:, -self.context :])


class TinyAttention(nn.Module):
    """One head of causal self-attention, then a linear read-out from the last position.

    Args:
        vocab_size: characters.
        length: the longest line it reads (one position embedding each).
        dim: the width of embeddings, queries, keys and values.
    """

    def __init__(self, vocab_size: int, length: int, dim: int = 32):
        super().__init__()
        self.token = nn.Embedding(vocab_size, dim)
        self.position = nn.Embedding(length, dim)
        self.query, self.key, self.value = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.out = nn.Linear(dim, vocab_size)

    def _qkv(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.token(ids) + self.position(torch.arange(ids.shape[-1]))
        return self.query(x), self.key(x), self.value(x)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(batch, length) ids -> (batch, vocab_size) logits of the character after the last."""
        q, k, v = self._qkv(ids)
        # Only the last position answers, so only its query is needed; with the causal mask
        # the last position may look at every position, itself included.
        mixed = nn.functional.scaled_dot_product_attention(q[:, -1:], k, v)
        return self.out(mixed[:, 0])

    def qkv(self, ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The queries, keys and values of one line, for an attention function to combine.

        Args:
            ids: (length,) int ids of one line.
        Returns:
            (Q, K, V), each (length, dim) float64: row i belongs to position i.
        """
        check_array(np.asarray(ids), "ids", shape=(None,), dtype="i")
        with one_thread(), torch.inference_mode():
            q, k, v = self._qkv(torch.as_tensor(np.asarray(ids))[None])
        return q[0].double().numpy(), k[0].double().numpy(), v[0].double().numpy()

    def read_out(self, mixed) -> np.ndarray:
        """Logits from the attention output of the last position.

        Args:
            mixed: (dim,) float, the last row of attention(Q, K, V).
        Returns:
            (vocab_size,) float64 logits.
        """
        with torch.inference_mode():
            return (
                self.out(torch.as_tensor(np.asarray(mixed), dtype=torch.float32)).double().numpy()
            )


# ---------------------------------------------------------------------------
# Training and measuring


@dataclass
class Trained:
    """A trained model with what it cost.

    Attributes:
        net: the torch module.
        parameters: its number of weights.
        history: (step, training loss in nats) pairs.
        seconds: wall-clock training time.
    """

    net: nn.Module
    parameters: int
    history: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0

    def predict(self, ids: np.ndarray) -> np.ndarray:
        """(n, length) lines -> (n,) the id each line's answer is predicted to be."""
        with one_thread(), torch.inference_mode():
            return self.net(torch.as_tensor(np.asarray(ids))).argmax(-1).numpy()


def train_recall(
    task: RecallTask,
    model: str = "attention",
    steps: int = 1500,
    batch_size: int = 32,
    lr: float = 1e-2,
    seed: int = 0,
    progress: bool = True,
    **net_kwargs,
) -> Trained:
    """Build a model and train it to name each line's digit, on random lines at random
    distances.

    Adam with the learning rate warmed up over the first fifth of the steps, then decayed
    to a tenth along a cosine. The attention model's queries and keys learn at a third of
    that rate: where to look is only worth learning once the values say something. Without
    the warm-up and the slower keys, a digit whose value was still useless got its key
    pushed away early, was never looked at again, and stayed unknown (accuracy stuck near
    80% or lower in about half of our seeds; with them, 9 seeds in 10 reach 100%).

    Args:
        model: "attention" (`TinyAttention`) or "window" (`WindowModel`).
        net_kwargs: the model's own options (`dim`, or `context` and `hidden`).
    Returns:
        The trained model with its size, loss history and training time. The lines are
        drawn before the clock starts, so it measures the network alone.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if model == "attention":
        net = TinyAttention(len(task.vocab), task.length, **net_kwargs)
        slow = [*net.query.parameters(), *net.key.parameters()]
    elif model == "window":
        net, slow = WindowModel(len(task.vocab), **net_kwargs), []
    else:
        raise ValueError(f'model must be "attention" or "window", got {model!r}')
    rest = [p for p in net.parameters() if all(p is not q for q in slow)]
    optimiser = torch.optim.Adam([{"params": rest}, {"params": slow, "lr": lr / 3}], lr=lr)
    ids, answers, _ = task.lines(steps * batch_size, rng)
    ids, answers = torch.as_tensor(ids), torch.as_tensor(answers)
    trained = Trained(net, sum(p.numel() for p in net.parameters()))

    def batch_loss(step: int) -> torch.Tensor:
        batch = slice(step * batch_size, (step + 1) * batch_size)
        return nn.functional.cross_entropy(net(ids[batch]), answers[batch])

    trained.seconds = fit(net, optimiser, batch_loss, steps, trained.history, f"{model} model",
                          progress, warm_up=max(1, steps // 5))  # fmt: skip
    return trained


def accuracy_by_distance(
    model: Trained, task: RecallTask, distances, n: int = 300, seed: int = 1
) -> np.ndarray:
    """The share of held-out lines whose digit the model names, at each distance.

    Args:
        distances: the distances to measure, each in [1, task.max_distance].
        n: lines per distance, cut from the test paragraphs.
    Returns:
        (len(distances),) float64 in [0, 1]; chance is 0.1.
    """
    rng = np.random.default_rng(seed)
    scores = []
    for d in distances:
        ids, answers, _ = task.lines(n, rng, distance=int(d), split="test")
        scores.append(float(np.mean(model.predict(ids) == answers)))
    return np.array(scores)
