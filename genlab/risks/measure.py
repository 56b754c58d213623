"""Module 08's measurements of what can go wrong: false facts, copied text, amplified skew,
fake digits, and a system that routes a request to the right generator.

Sampling here is batched: `draw` extends many prompts at once, one network pass per
character for the whole batch, so a notebook can draw hundreds of lines at each of several
temperatures in a fraction of a second. It uses torch's softmax and sampler, not the
student's module 02 functions, which this module's notebook does not have.

What this module leaves out: the judgements the exercises ask for. It does not parse or
check statements of fact, find copied spans, or turn shares into an amplification; it
calls the functions the student passes in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..checks import check_array
from ..data import NUMBER_WORDS
from ..threads import one_thread

__all__ = [
    "Draws",
    "draw",
    "whole_lines",
    "JOBS",
    "skewed_corpus",
    "bias_prompt",
    "pronoun_share",
    "detector_accuracy",
    "digit_asked",
    "RiskSweep",
    "risk_sweep",
]


@dataclass(frozen=True)
class Draws:
    """Continuations drawn from a language model.

    Attributes:
        texts: the new text after each prompt (cut before `stop`, if one was given).
        probs: (n, steps) the probability the model itself (at temperature 1) gave each
            character it drew; 1 past the end of a text.
    """

    texts: list[str]
    probs: np.ndarray

    def confidence(self) -> np.ndarray:
        """(n,) the model's probability of each whole continuation, stop included: the
        product of its characters' probabilities."""
        return self.probs.prod(axis=1)


def draw(
    model,
    vocab,
    prompts: Sequence[str],
    n_new: int,
    temperature: float,
    seed: int = 0,
    stop: str | None = None,
) -> Draws:
    """Extend every prompt by up to `n_new` characters drawn from `model` at `temperature`.

    Args:
        model: a `genlab.lm.NeuralLM` (anything with `context`, `vocab_size` and
            `batch_logits`).
        vocab: its `genlab.text.Vocab`.
        prompts: the texts to continue, one continuation each.
        temperature: 0 takes the most likely character (greedy); otherwise characters
            are drawn from softmax(logits / temperature).
        seed: the draws; the same seed gives the same texts.
        stop: a character that ends a continuation (kept out of `texts`, counted in
            `confidence`); drawing ends once every continuation has one.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if not prompts:
        raise ValueError("no prompts: pass a list of texts to continue")
    if n_new < 1:
        raise ValueError(f"n_new must be at least 1, got {n_new}")
    rows = [list(vocab.encode(p)) for p in prompts]
    n, width, pad = len(rows), model.context, model.vocab_size
    stop_id = int(vocab.encode(stop)[0]) if stop else -1
    generator = torch.Generator().manual_seed(seed)
    drawn = np.full((n, n_new), -1, dtype=np.int64)
    probs = np.ones((n, n_new))
    open_ = np.ones(n, dtype=bool)
    with one_thread():  # a few small products per character: a second thread only waits
        for step in range(n_new):
            contexts = np.array([([pad] * width + row)[-width:] for row in rows])
            logits = torch.as_tensor(model.batch_logits(contexts))
            if temperature == 0:
                choice = logits.argmax(dim=1)
            else:
                tempered = torch.softmax(logits / temperature, dim=1)
                choice = torch.multinomial(tempered, 1, generator=generator)[:, 0]
            choice = choice.numpy()
            own = torch.softmax(logits, dim=1).numpy()[np.arange(n), choice]
            drawn[open_, step], probs[open_, step] = choice[open_], own[open_]
            for row, token in zip(rows, choice, strict=True):
                row.append(int(token))
            open_ &= choice != stop_id
            if not open_.any():
                break
    drawn, probs = drawn[:, : step + 1], probs[:, : step + 1]
    texts = [vocab.decode(row[(row >= 0) & (row != stop_id)]) for row in drawn]
    return Draws(texts, probs)


def whole_lines(texts: Sequence[str]) -> list[str]:
    """The complete lines of each text: every line that a line break ends (a text's last,
    unfinished line is dropped)."""
    return [line for text in texts for line in text.split("\n")[:-1]]


# ---------------------------------------------------------------------------
# Bias: a corpus with a known skew

JOBS = ("doctor", "nurse", "pilot", "teacher", "engineer", "cook", "lawyer", "farmer")


def bias_prompt(job: str) -> str:
    """The start of a line of the skewed corpus, up to the pronoun."""
    return f"the {job} said that "


def skewed_corpus(share: float = 0.7, lines: int = 3000, seed: int = 0) -> str:
    """Lines "the <job> said that he was late." or "... she was late.", with "he" in
    exactly round(share * lines) of them, shuffled; the jobs are drawn at random.

    Whatever the job, the skew is the same: the text says nothing else about who is late.
    """
    if not 0 <= share <= 1:
        raise ValueError(f"share must be in [0, 1], got {share}")
    rng = np.random.default_rng(seed)
    he = round(share * lines)
    pronouns = rng.permutation(["he"] * he + ["she"] * (lines - he))
    jobs = rng.choice(JOBS, lines)
    return "".join(f"{bias_prompt(j)}{p} was late.\n" for j, p in zip(jobs, pronouns, strict=True))


def pronoun_share(texts: Sequence[str], word: str = "he", other: str = "she") -> float:
    """Among the texts that start with `word` or `other` as a whole word, the share that
    start with `word` (nan if none does)."""
    first = [re.match(r"\w*", t).group() for t in texts]
    chosen = [w for w in first if w in (word, other)]
    return chosen.count(word) / len(chosen) if chosen else float("nan")


# ---------------------------------------------------------------------------
# Deepfakes: telling real digits from generated ones


def detector_accuracy(real: np.ndarray, fake: np.ndarray, detector, seed: int = 0) -> float:
    """Train `detector` to tell `real` (label 0) from `fake` (label 1) on a random half of
    both, and return its accuracy on the other half.

    Args:
        real, fake: (n, d) images, one per row, on the same scale.
        detector: an unfitted scikit-learn classifier (it is fitted here).
    """
    check_array(real, "real", shape=(None, None))
    check_array(fake, "fake", shape=(None, real.shape[1]))
    X = np.concatenate([real, fake])
    y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    order = np.random.default_rng(seed).permutation(len(y))
    train, test = order[: len(y) // 2], order[len(y) // 2 :]
    detector.fit(X[train], y[train])
    return float(detector.score(X[test], y[test]))


# ---------------------------------------------------------------------------
# A combined system: which digit a request asks for


def digit_asked(request: str) -> int | None:
    """The digit a request names, as a numeral or a word ("a 7", "a seven"), or None."""
    for token in re.findall(r"[a-z]+|\d+", request.lower()):
        if token in NUMBER_WORDS:
            return NUMBER_WORDS.index(token)
        if len(token) == 1 and token.isdigit():
            return int(token)
    return None


# ---------------------------------------------------------------------------
# All three risks against temperature


@dataclass(frozen=True)
class RiskSweep:
    """The three risks measured at each temperature, with an example of each.

    Attributes:
        temperatures: the temperatures, in order.
        false_rate: share of false statements among the facts model's claims.
        copied: mean length, in characters, of the longest span each prose sample copies
            from its training text.
        share: share of "he" in the skewed model's lines (the training text had
            `train_share`).
        train_share: the share in the training text.
        examples: per temperature, one line of each model: (fact, prose sample, its
            longest copied span, biased line).
    """

    temperatures: list[float]
    false_rate: list[float]
    copied: list[float]
    share: list[float]
    train_share: float
    examples: list[tuple[str, str, str, str]]


def risk_sweep(
    temperatures: Sequence[float],
    facts: tuple,
    prose: tuple,
    bias: tuple,
    false_fact_rate: Callable,
    longest_copied_span: Callable,
    seed: int = 0,
    progress: Callable | None = None,
) -> RiskSweep:
    """Draw from three models at each temperature and measure each risk with the
    student's functions.

    Args:
        facts: (model, vocab, facts dict, prompts): lines are drawn after each prompt and
            judged by `false_fact_rate(lines, facts)`.
        prose: (model, vocab, training text, prompts): a 200-character sample after each
            prompt, measured by `longest_copied_span(sample, training text)`.
        bias: (model, vocab, train_share, prompts): a line after each prompt; the share of
            "he" among them.
        progress: called with each temperature as it starts (for a progress bar).
    """
    facts_model, facts_vocab, table, fact_prompts = facts
    prose_model, prose_vocab, prose_text, prose_prompts = prose
    bias_model, bias_vocab, train_share, bias_prompts = bias
    false_rate, copied, share, examples = [], [], [], []
    for t in temperatures:
        if progress is not None:
            progress(t)
        lines = whole_lines(draw(facts_model, facts_vocab, fact_prompts, 300, t, seed).texts)
        samples = draw(prose_model, prose_vocab, prose_prompts, 200, t, seed).texts
        spans = [longest_copied_span(s, prose_text) for s in samples]
        biased = draw(bias_model, bias_vocab, bias_prompts, 20, t, seed, stop="\n").texts
        false_rate.append(float(false_fact_rate(lines, table)))
        copied.append(float(np.mean([len(s) for s in spans])))
        share.append(pronoun_share(biased))
        examples.append(
            (lines[0] if lines else "", samples[0], spans[0], bias_prompts[0] + biased[0])
        )
    return RiskSweep(list(temperatures), false_rate, copied, share, train_share, examples)
