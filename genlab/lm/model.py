"""A tiny neural character-level language model, trained on CPU in seconds.

The model reads the last `context` characters and predicts the next one, the way
Bengio et al. (2003) built the first neural language model: embed each character, put
the embeddings side by side, and pass them through a small MLP to one logit per
character of the vocabulary. A transformer would replace the fixed window with
attention (module 05); everything else, from the loss to sampling, is the same.

`NeuralLM` offers the interface the course's language models share,
`next_logits(context_ids) -> (vocab_size,) logits`, so the student's own `generate`
drives it exactly as it drives their bigram model.

What this module leaves out: sampling (the student writes it), dropout, attention and
any trick that does not change what the module measures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..checks import check_array
from ..threads import one_thread

__all__ = [
    "CharMLP",
    "NeuralLM",
    "Sampler",
    "train_lm",
    "fit",
    "windows",
    "complete",
    "entropy_bits",
]


class CharMLP(nn.Module):
    """Embeddings of the last `context` characters -> MLP -> next-character logits."""

    def __init__(
        self,
        vocab_size: int,
        context: int,
        embed: int = 24,
        hidden: int = 256,
        dropout: float = 0.0,
    ):
        super().__init__()
        # One extra embedding, index `vocab_size`, stands for "before the start of the text".
        self.embed = nn.Embedding(vocab_size + 1, embed)
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(context * embed, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, vocab_size),
        )

    def forward(self, contexts: torch.Tensor) -> torch.Tensor:
        """(batch, context) int64 ids -> (batch, vocab_size) logits."""
        return self.net(self.embed(contexts))


def windows(ids: np.ndarray, context: int, pad: int) -> np.ndarray:
    """The `context` ids before each position of `ids`, padded with `pad` at the start.

    Returns:
        (len(ids), context) int64: row t holds ids[t - context : t].
    """
    padded = np.concatenate([np.full(context, pad, dtype=np.int64), ids])
    return np.lib.stride_tricks.sliding_window_view(padded, context)[: len(ids)]


@dataclass
class NeuralLM:
    """A trained `CharMLP` with the language-model interface of the course.

    Attributes:
        net: the torch module.
        vocab_size: characters it predicts.
        context: characters it reads.
        history: (step, training loss in nats per character) pairs.
        held_out_history: (step, loss on held-out text) pairs, if training was given some.
        seconds: wall-clock training time, held-out checks included.
    """

    net: CharMLP
    vocab_size: int
    context: int
    history: list[tuple[int, float]] = field(default_factory=list)
    held_out_history: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def parameters(self) -> int:
        """The number of weights."""
        return sum(p.numel() for p in self.net.parameters())

    def next_logits(self, context_ids: Sequence[int]) -> np.ndarray:
        """Logits of the next character after `context_ids` (any length, even 0).

        Returns:
            (vocab_size,) float64.
        """
        last = list(context_ids)[-self.context :]
        row = [self.vocab_size] * (self.context - len(last)) + [int(i) for i in last]
        return self.batch_logits(np.array([row]))[0]

    def batch_logits(self, contexts: np.ndarray) -> np.ndarray:
        """(n, context) ids, padded like `windows` -> (n, vocab_size) float64 logits."""
        with one_thread(), torch.inference_mode():
            return self.net(torch.tensor(np.asarray(contexts))).double().numpy()

    def loss(self, ids: np.ndarray, batch_size: int = 4096) -> float:
        """Mean negative log-likelihood of each character of `ids` given the ones before it.

        Returns:
            nats per character; `exp` of it is the perplexity.
        """
        check_array(ids, "ids", shape=(None,), dtype="i")
        X, y = windows(ids, self.context, self.vocab_size), torch.as_tensor(ids)
        total = 0.0
        # torch's thread setting: large batches gain from a second thread (train_lm's held-out
        # checks run on its one thread)
        with torch.inference_mode():
            for start in range(0, len(ids), batch_size):
                logits = self.net(torch.tensor(X[start : start + batch_size]))
                target = y[start : start + batch_size]
                total += nn.functional.cross_entropy(logits, target, reduction="sum").item()
        return total / len(ids)


def train_lm(
    ids: np.ndarray,
    vocab_size: int,
    context: int = 8,
    steps: int = 3000,
    batch_size: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
    desc: str = "training",
    held_out: np.ndarray | None = None,
    eval_every: int = 100,
    patience: int | None = None,
    **net_kwargs,
) -> NeuralLM:
    """Train a `CharMLP` to predict each character of `ids` from the ones before it.

    Adam on random mini-batches of windows, the learning rate decayed to a tenth along a
    cosine; seeded, so two runs on one machine give the same model.

    Args:
        ids: (n,) int character ids, the training text.
        vocab_size: number of distinct ids.
        context: characters the model reads.
        steps: optimiser steps.
        held_out: (m,) int ids of text it never trains on; its loss is measured every
            `eval_every` steps and after the last, into `held_out_history`.
        patience: with `held_out`, stop early once this many checks in a row found no
            better held-out loss than the best so far (None: run all the steps).
        net_kwargs: `embed`, `hidden`, `dropout` for `CharMLP`.
    Returns:
        The trained model, its loss history and its training time.
    """
    check_array(ids, "ids", shape=(None,), dtype="i", low=0, high=vocab_size - 1)
    if held_out is not None:
        check_array(held_out, "held_out", shape=(None,), dtype="i", low=0, high=vocab_size - 1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = CharMLP(vocab_size, context, **net_kwargs)
    X, y = windows(ids, context, vocab_size), torch.as_tensor(ids)
    model = NeuralLM(net, vocab_size, context)

    def batch_loss(step: int) -> torch.Tensor:
        batch = rng.integers(0, len(ids), batch_size)
        return nn.functional.cross_entropy(net(torch.as_tensor(X[batch])), y[batch])

    def check_held_out(step: int) -> bool:
        if held_out is None or not ((step + 1) % eval_every == 0 or step == steps - 1):
            return False
        net.eval()  # no dropout while measuring
        model.held_out_history.append((step + 1, model.loss(held_out)))
        net.train()
        return patience is not None and _checks_since_best(model.held_out_history) >= patience

    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    model.seconds = fit(net, optimiser, batch_loss, steps, model.history, desc, progress,
                        after_step=check_held_out)  # fmt: skip
    return model


def fit(
    net: nn.Module,
    optimiser: torch.optim.Optimizer,
    batch_loss: Callable[[int], torch.Tensor],
    steps: int,
    history: list[tuple[int, float]],
    desc: str = "training",
    progress: bool = True,
    warm_up: int = 0,
    after_step: Callable[[int], bool] | None = None,
) -> float:
    """The training loop of the course's language models, on one thread.

    Each step minimises `batch_loss(step)`, the learning rate warmed up linearly over the
    first `warm_up` steps (0: none) and decayed to a tenth along a cosine. A running mean
    of the loss lands in `history` every 50 steps and after the last. `after_step(step)`,
    if given, runs after each step and stops training by returning True. The network is
    left in eval mode.

    Returns:
        The wall-clock seconds the loop took.
    """

    def rate(step: int) -> float:
        cosine = 0.1 + 0.45 * (1 + math.cos(math.pi * step / steps))
        return min(1.0, (step + 1) / warm_up) * cosine if warm_up else cosine

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    start, running = time.perf_counter(), None
    bar = tqdm(range(steps), desc=desc, disable=not progress, mininterval=0.5)
    with one_thread():
        for step in bar:
            loss = batch_loss(step)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
            if step % 50 == 0 or step == steps - 1:
                history.append((step, running))
                bar.set_postfix(loss=f"{running:.3f}", refresh=False)
            if after_step is not None and after_step(step):
                break
    net.eval()
    return time.perf_counter() - start


def _checks_since_best(history: list[tuple[int, float]]) -> int:
    """How many held-out checks have passed since the best (lowest) loss of `history`."""
    losses = [loss for _, loss in history]
    return len(losses) - 1 - int(np.argmin(losses))


# ---------------------------------------------------------------------------
# Using a model through the student's sampler


@dataclass(frozen=True)
class Sampler:
    """The student's sampling functions, bundled so widgets and measurements can call them.

    Nothing here samples on its own: every number comes from the functions it is given.
    """

    softmax_with_temperature: Callable
    top_k_filter: Callable
    top_p_filter: Callable
    generate: Callable

    def distribution(
        self,
        logits: np.ndarray,
        temperature: float,
        top_k: int | None = None,
        top_p: float | None = None,
    ) -> np.ndarray:
        """The distribution a token is drawn from: top-k, then top-p, on the model's own
        logits, then the temperature (the order the module's `sample_next` documents).

        Returns:
            (vocab_size,) probabilities.
        """
        if top_k is not None:
            logits = self.top_k_filter(logits, top_k)
        if top_p is not None:
            logits = self.top_p_filter(logits, top_p)
        probs = np.asarray(self.softmax_with_temperature(logits, temperature), dtype=float)
        check_array(probs, "softmax_with_temperature(...)", shape=np.shape(logits), low=0, high=1)
        return probs


def complete(
    generate: Callable,
    model,
    vocab,
    prompt: str,
    n_new: int,
    temperature: float,
    rng: np.random.Generator,
    top_k: int | None = None,
    top_p: float | None = None,
) -> str:
    """The text `generate` writes after `prompt`: encode, generate, decode the new part.

    Args:
        generate: the student's `generate(model, prompt_ids, n_new, temperature, rng,
            top_k, top_p)`, returning the prompt's ids followed by `n_new` new ones.
        model: anything with `next_logits(context_ids)`.
        vocab: a `genlab.text.Vocab`.
    """
    prompt_ids = vocab.encode(prompt)
    ids = generate(model, prompt_ids, n_new, temperature, rng, top_k=top_k, top_p=top_p)
    check_array(np.asarray(ids), "generate(...)", shape=(len(prompt_ids) + n_new,), dtype="i")
    return vocab.decode(ids[len(prompt_ids) :])


def entropy_bits(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy of distributions over the last axis, in bits (0 log 0 counts as 0).

    Args:
        probs: (..., vocab_size) rows that sum to one.
    Returns:
        (...) float64: 0 for a certain outcome, log2(vocab_size) for a uniform one.
    """
    probs = np.asarray(probs, dtype=float)
    logs = np.log2(probs, out=np.zeros_like(probs), where=probs > 0)
    return -(probs * logs).sum(axis=-1)
