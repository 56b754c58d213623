"""A tiny GPT, the recurrent network it replaced, and the measurements that compare them.

`TinyGPT` is a decoder-only transformer in the layout of GPT-2 (Radford et al., 2019) as
nanoGPT writes it: token and position embeddings, blocks of causal multi-head
self-attention and an MLP, each behind a layer norm and inside a residual connection, a
last layer norm and a linear head to one logit per character. Its modules hold the
weights; their `forward` methods are the library's reference, computed with torch's own
fused attention (`torch.nn.functional.scaled_dot_product_attention`). The module's
notebook has the student write the same computation as functions of their own, which
`train` and the measurements take in place of the reference (`forward=`).

`CharGRU` is the design the transformer replaced: a recurrent network (Cho et al., 2014)
that reads one character after another and carries a summary along. `lm.CharMLP`,
module 02's window model, is the third design compared. All three predict the next
character of a window of text from the characters before it, and `train` trains each for
a number of steps or of seconds.

What this module leaves out: dropout, weight tying, a learning-rate warm-up beyond a few
steps, key-value caching when generating (each new character runs the whole window again,
which at 64 characters costs nothing that matters), and any GPU code.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..checks import check_array
from ..lm import CharMLP
from ..threads import one_thread

__all__ = [
    "CausalSelfAttention",
    "Block",
    "TinyGPT",
    "CharGRU",
    "WindowMLP",
    "Trained",
    "train",
    "race",
    "held_out_loss",
    "loss_by_position",
    "step_seconds",
    "cores",
    "parameters",
    "logits",
    "attention_maps",
    "next_probabilities",
    "DESIGNS",
    "build",
    "save_trained",
    "load_trained",
    "CHECKPOINTS",
]


# ---------------------------------------------------------------------------
# The transformer


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: `qkv` makes the queries, keys and values of every
    head at once, `proj` mixes the heads' outputs.

    Layout (the one the notebook's exercise states): `qkv(x)` holds the queries, then the
    keys, then the values along its last axis, `d_model` numbers each; head h owns numbers
    `h * d_head` to `(h + 1) * d_head` of each, with `d_head = d_model // n_heads`.
    """

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be a multiple of n_heads={n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(batch, T, d_model) -> q, k, v, each (batch, n_heads, T, d_head)."""
        batch, T, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        return tuple(
            t.view(batch, T, self.n_heads, d // self.n_heads).transpose(1, 2) for t in (q, k, v)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, T, d_model) -> (batch, T, d_model); position t sees positions 0..t only."""
        q, k, v = self.heads(x)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # eq. (1) of Vaswani et al.
        return self.proj(out.transpose(1, 2).reshape(x.shape))

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights of every head: (batch, n_heads, T, T), each row summing to 1."""
        q, k, _ = self.heads(x)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        future = torch.ones(scores.shape[-2:], dtype=torch.bool).triu(1)
        return scores.masked_fill(future, float("-inf")).softmax(dim=-1)


class Block(nn.Module):
    """One transformer block, pre-norm as in GPT-2: x + attention(ln1(x)), then + MLP(ln2(x)).

    The MLP widens each position to 4 * d_model numbers, applies GELU and projects back
    (`fc`, then `proj`), as Vaswani et al. (2017, section 3.3) and GPT-2 do.
    """

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 4 * d_model)
        self.proj = nn.Linear(4 * d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.proj(F.gelu(self.fc(self.ln2(x))))


class TinyGPT(nn.Module):
    """A character-level GPT: (batch, T) ids, T <= context -> (batch, T, vocab_size) logits.

    Attributes:
        tok: nn.Embedding(vocab_size, d_model), one vector per character.
        pos: nn.Embedding(context, d_model), one vector per position 0..context-1.
        blocks: nn.ModuleList of `Block`.
        ln_f: the last layer norm; head: nn.Linear(d_model, vocab_size).
        context: the longest window it reads.
    """

    def __init__(
        self,
        vocab_size: int,
        context: int = 64,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
    ):
        super().__init__()
        self.vocab_size, self.context = vocab_size, context
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)
        self.apply(_gpt2_init)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.shape[-1]
        if T > self.context:
            raise ValueError(f"a window of {T} ids: this model reads at most {self.context}")
        x = self.tok(ids) + self.pos(torch.arange(T))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def _gpt2_init(module: nn.Module) -> None:
    """GPT-2's initialisation: weights from N(0, 0.02), biases 0 (nanoGPT's `_init_weights`)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


# ---------------------------------------------------------------------------
# The designs it is measured against


class CharGRU(nn.Module):
    """A recurrent character model: embed, a GRU over the window, a linear head.

    (batch, T) ids -> (batch, T, vocab_size) logits; position t has read positions 0..t,
    one after another, through the GRU's state.
    """

    def __init__(self, vocab_size: int, embed: int = 48, hidden: int = 144, layers: int = 1):
        super().__init__()
        self.vocab_size, self.context = vocab_size, None  # no limit on what it reads
        self.embed = nn.Embedding(vocab_size, embed)
        self.gru = nn.GRU(embed, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.gru(self.embed(ids))[0])


class WindowMLP(nn.Module):
    """Module 02's window model made to read a whole window: at each position t, a
    `lm.CharMLP` reads the `window` characters up to t (padded before the start).

    (batch, T) ids -> (batch, T, vocab_size) logits, like the two others, so one training
    loop and one loss serve all three.
    """

    def __init__(self, vocab_size: int, window: int = 8, embed: int = 24, hidden: int = 224):
        super().__init__()
        self.vocab_size, self.window, self.context = vocab_size, window, None
        self.mlp = CharMLP(vocab_size, window, embed=embed, hidden=hidden)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        batch, T = ids.shape
        pad = torch.full((batch, self.window - 1), self.vocab_size, dtype=ids.dtype)
        windows = torch.cat([pad, ids], dim=1).unfold(1, self.window, 1)  # (batch, T, window)
        return self.mlp(windows.reshape(batch * T, self.window)).view(batch, T, -1)


# The three designs compared, with about 113,000 weights each (within 1%): what
# `scripts/train_gpt.py` trains and `load_trained` rebuilds.
DESIGNS: dict[str, tuple[type, dict]] = {
    "transformer": (TinyGPT, {"context": 64, "d_model": 64, "n_heads": 4, "n_layers": 2}),
    "recurrent": (CharGRU, {"embed": 48, "hidden": 158}),
    "window": (WindowMLP, {"window": 8, "embed": 24, "hidden": 228}),
}


def build(design: str, vocab_size: int, seed: int = 0) -> nn.Module:
    """A fresh network of one of the `DESIGNS`, its weights drawn with torch seeded by `seed`."""
    kind, kwargs = DESIGNS[design]
    torch.manual_seed(seed)
    return kind(vocab_size, **kwargs)


def logits(net: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """The library's own forward pass of any of the designs: (batch, T) int64 ids ->
    (batch, T, vocab_size) logits. What `train` and the measurements use when no `forward`
    of the student's is given."""
    return net(ids)


def parameters(net: nn.Module) -> int:
    """The number of weights of a network."""
    return sum(p.numel() for p in net.parameters())


# ---------------------------------------------------------------------------
# Training


@dataclass
class Trained:
    """A trained network and what its training measured.

    Attributes:
        net: the network, in eval mode.
        history: (step, running mean of the training loss, nats per character) pairs.
        steps: optimiser steps taken.
        seconds: wall-clock training time.
        cpu_seconds: the processor time it used (on one thread, what a busy machine
            does not inflate).
        name: what the network is, for tables and legends.
    """

    net: nn.Module
    history: list[tuple[int, float]] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    name: str = ""


def _windows(ids: np.ndarray, length: int, starts: np.ndarray) -> torch.Tensor:
    """Rows ids[s : s + length] for each start s: (len(starts), length) int64."""
    return torch.as_tensor(ids[starts[:, None] + np.arange(length)])


def _steps(
    net: nn.Module,
    ids: np.ndarray,
    record: Trained,
    steps: int,
    seconds: float | None,
    window: int,
    batch_size: int,
    lr: float,
    seed: int,
    forward: Callable,
    loss: Callable,
) -> Iterator[None]:
    """Train `net` one step at a time, yielding after each; `record` keeps the count, the
    running loss and the time, processor and wall-clock, of the steps alone (not of whatever
    runs while the generator waits). Ends after `steps`, or once the steps have used
    `seconds` of processor time."""
    rng = np.random.default_rng(seed)
    optimiser = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
    running = None
    net.train()
    for step in range(steps):
        cpu, wall = time.process_time(), time.perf_counter()
        done = step / steps if seconds is None else max(step / steps, record.cpu_seconds / seconds)
        for group in optimiser.param_groups:  # warm up over 20 steps, then a cosine to a tenth
            warm = min(1.0, (step + 1) / 20)
            group["lr"] = lr * warm * (0.1 + 0.45 * (1 + math.cos(math.pi * min(done, 1.0))))
        batch = _windows(ids, window + 1, rng.integers(0, len(ids) - window - 1, batch_size))
        value = loss(forward(net, batch[:, :-1]), batch[:, 1:])
        optimiser.zero_grad()
        value.backward()
        optimiser.step()
        running = value.item() if running is None else 0.95 * running + 0.05 * value.item()
        record.steps = step + 1
        record.cpu_seconds += time.process_time() - cpu
        record.seconds += time.perf_counter() - wall
        out_of_time = seconds is not None and record.cpu_seconds >= seconds
        if step % 25 == 0 or step == steps - 1 or out_of_time:
            record.history.append((step + 1, running))
        if out_of_time:
            break
        yield
    net.eval()


def _loss_of(forward, loss):
    forward = forward or logits
    loss = loss or (
        lambda scores, y: F.cross_entropy(scores.reshape(-1, scores.shape[-1]), y.reshape(-1))
    )
    return forward, loss


def train(
    net: nn.Module,
    ids: np.ndarray,
    steps: int = 600,
    seconds: float | None = None,
    window: int = 64,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    forward: Callable | None = None,
    loss: Callable | None = None,
    progress: bool = True,
    name: str = "",
) -> Trained:
    """Train a network to predict every character of random windows of `ids` from the ones
    before it, with AdamW, on one torch thread.

    Each step takes `batch_size` windows of `window + 1` characters: the first `window` go
    in, and each position's target is the character after it. The learning rate warms up
    over 20 steps and decays to a tenth along a cosine over `steps`; with `seconds`, training
    stops once it has used that much processor time, or after `steps`, whichever comes
    first, and the cosine runs over whichever of the two is nearer its end.

    Args:
        net: a `TinyGPT`, `CharGRU` or `WindowMLP`, trained in place (and left in eval mode).
        ids: (n,) int character ids, the training text.
        forward: `forward(net, inputs) -> logits`, (batch, window) int64 ->
            (batch, window, vocab_size); None: `logits`, the library's own.
        loss: `loss(logits, targets) -> scalar tensor`, the mean cross-entropy in nats;
            None: torch's `cross_entropy`.
        seed: seeds the windows drawn (the network's weights are seeded by whoever made it).
    Returns:
        The network and its training record.
    """
    check_array(ids, "ids", shape=(None,), dtype="i", low=0)
    forward, loss = _loss_of(forward, loss)
    record = Trained(net, name=name)
    bar = tqdm(total=steps, desc=f"training {name}".strip(), disable=not progress, mininterval=0.5)
    with one_thread():
        for _ in _steps(
            net, ids, record, steps, seconds, window, batch_size, lr, seed, forward, loss
        ):
            bar.update(1)
            if record.history:
                bar.set_postfix(loss=f"{record.history[-1][1]:.3f}", refresh=False)
    bar.close()
    return record


def race(
    nets: dict[str, nn.Module],
    ids: np.ndarray,
    seconds: float,
    max_steps: int = 100_000,
    seed: int = 0,
    **kwargs,
) -> dict[str, Trained]:
    """Train several networks for the same processor time, their steps taken in turn.

    Each network is trained as by `train(net, ids, steps=max_steps, seconds=seconds, ...)`,
    but one step of each in turn, so that whatever else the machine does (another program,
    a busy neighbour on a shared core) slows all of them alike: measured alone one after
    another, the same network took 2,744 or 4,165 steps in the same 120 processor seconds,
    depending on what else ran. A network whose time is up waits for the others.

    Args:
        nets: name -> network, each trained in place.
        kwargs: `window`, `batch_size`, `lr` as for `train`.
    Returns:
        name -> training record, in the order of `nets`.
    """
    check_array(ids, "ids", shape=(None,), dtype="i", low=0)
    forward, loss = _loss_of(None, None)
    options = {"window": 64, "batch_size": 32, "lr": 3e-3, **kwargs}
    records = {name: Trained(net, name=name) for name, net in nets.items()}
    running = {
        name: _steps(
            net,
            ids,
            records[name],
            max_steps,
            seconds,
            options["window"],
            options["batch_size"],
            options["lr"],
            seed,
            forward,
            loss,
        )  # fmt: skip
        for name, net in nets.items()
    }
    with one_thread():
        while running:
            for name in list(running):
                if next(running[name], StopIteration) is StopIteration:
                    del running[name]
    return records


# ---------------------------------------------------------------------------
# Measuring


def _held_out_windows(ids: np.ndarray, window: int, count: int, blocks: int = 4) -> torch.Tensor:
    """`count` windows of `window + 1` ids: in each of `blocks` stretches spread evenly over
    `ids`, one window starting at every character.

    Overlapping on purpose: position t of the window starting at s predicts character
    s + t + 1, so within a stretch every position is scored on nearly the same characters,
    and a difference between positions comes from the context, not from which characters
    happened to be scored there."""
    per_block = count // blocks
    if per_block < 1 or blocks * (per_block + window + 1) > len(ids):
        raise ValueError(f"{len(ids)} ids are too few for {count} windows of {window + 1}")
    firsts = np.linspace(0, len(ids) - per_block - window - 1, blocks).astype(int)
    return _windows(ids, window + 1, (firsts[:, None] + np.arange(per_block)).ravel())


@torch.inference_mode()
def loss_by_position(
    net: nn.Module,
    ids: np.ndarray,
    window: int = 64,
    count: int = 2048,
    forward: Callable | None = None,
) -> np.ndarray:
    """Held-out loss at each position of a window: how well a network predicts a character
    when it has read t characters before it, over `count` overlapping windows (4 stretches of
    consecutive starts, spread over `ids`).

    Returns:
        (window,) float64, nats: entry t is the mean loss of predicting the character after
        position t, having read positions 0..t of the window (t + 1 characters).
    """
    forward = forward or logits
    windows = _held_out_windows(ids, window, count)
    total = torch.zeros(window, dtype=torch.float64)
    with one_thread():
        for batch in windows.split(256):  # 256 at a time: the activations of all 2,048 took 500 MB
            scores = forward(net, batch[:, :-1])
            losses = F.cross_entropy(scores.transpose(1, 2), batch[:, 1:], reduction="none")
            total += losses.double().sum(dim=0)
    return (total / len(windows)).numpy()


def held_out_loss(net: nn.Module, ids: np.ndarray, window: int = 64, count: int = 2048) -> float:
    """Mean held-out loss per character, in nats, over the second half of each window, where
    every prediction has read at least window / 2 characters."""
    return float(loss_by_position(net, ids, window, count)[window // 2 :].mean())


def cores() -> int:
    """The number of cores this process may use: the CPUs it may run on, less any quota its
    container sets (Binder and JupyterHub on Kubernetes give a share of a larger host)."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        allowed = os.cpu_count() or 1
    return max(1, min(allowed, _cgroup_quota() or allowed))


def _cgroup_quota() -> int | None:
    """Cores allowed by the cgroup's CPU quota (v2 `cpu.max`, or v1's cfs files), rounded up;
    None where there is none or it cannot be read."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text().strip()
            period = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1"):
        return None
    return math.ceil(int(quota) / int(period))


def step_seconds(
    net: nn.Module, window: int, batch_size: int = 32, threads: int = 1, repeats: int = 5
) -> float:
    """Wall-clock seconds of one training step (forward, backward, update) on windows of
    `window` characters, on `threads` torch threads; the fastest of `repeats` after one
    warm-up. The network is trained a little by it: time a copy."""
    vocab = net.vocab_size
    generator = torch.Generator().manual_seed(0)
    batch = torch.randint(0, vocab, (batch_size, window + 1), generator=generator)
    optimiser = torch.optim.SGD(net.parameters(), lr=1e-6)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        times = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            logits = net(batch[:, :-1])
            F.cross_entropy(logits.reshape(-1, vocab), batch[:, 1:].reshape(-1)).backward()
            optimiser.step()
            optimiser.zero_grad()
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return min(times[1:])


@torch.inference_mode()
def attention_maps(net: TinyGPT, ids) -> np.ndarray:
    """Where each position of a text looks, in every layer and head of a `TinyGPT`.

    Args:
        ids: (T,) int ids, T <= net.context.
    Returns:
        (n_layers, n_heads, T, T) float64: entry [l, h, i, j] is the weight position i
        gives position j in head h of layer l (0 for every j > i; each row sums to 1).
    """
    ids = torch.as_tensor(np.asarray(ids, dtype=np.int64))[None]
    maps = []
    with one_thread():
        x = net.tok(ids) + net.pos(torch.arange(ids.shape[1]))
        for block in net.blocks:
            maps.append(block.attn.weights(block.ln1(x))[0])
            x = block(x)
    return torch.stack(maps).double().numpy()


@torch.inference_mode()
def next_probabilities(net: nn.Module, ids) -> np.ndarray:
    """The distribution of the character after each position of a text.

    Args:
        ids: (T,) int ids (T <= net.context for a `TinyGPT`).
    Returns:
        (T, vocab_size) float64, each row summing to 1.
    """
    ids = torch.as_tensor(np.asarray(ids, dtype=np.int64))[None]
    with one_thread():
        return net(ids)[0].double().softmax(dim=-1).numpy()


# ---------------------------------------------------------------------------
# The shipped checkpoints

CHECKPOINTS = Path(__file__).with_name("checkpoints.pt")


def save_trained(trained: dict[str, Trained], vocab_chars: str, path: Path = CHECKPOINTS) -> None:
    """Write trained networks of the `DESIGNS` and their records to one file: plain tensors,
    numbers and strings, which `torch.load(weights_only=True)` reads without running code."""
    torch.save(
        {
            "vocab": vocab_chars,
            "torch": str(torch.__version__),
            "designs": {
                name: {
                    "state": {k: v.detach().clone() for k, v in t.net.state_dict().items()},
                    "history": [list(h) for h in t.history],
                    "steps": t.steps,
                    "seconds": t.seconds,
                    "cpu_seconds": t.cpu_seconds,
                }
                for name, t in trained.items()
            },
        },
        path,
    )


def load_trained(vocab_chars: str, path: Path = CHECKPOINTS) -> dict[str, Trained]:
    """The networks `scripts/train_gpt.py` trained, by design name, in eval mode.

    Args:
        vocab_chars: the characters of the vocabulary the notebook uses (`vocab.chars`);
            they must be the ones the networks were trained on.
    """
    saved = torch.load(path, weights_only=True)
    if saved["vocab"] != vocab_chars:
        raise ValueError("the checkpoints were trained on another vocabulary than this one")
    out = {}
    for name, entry in saved["designs"].items():
        net = build(name, len(vocab_chars))
        net.load_state_dict(entry["state"])
        net.eval()
        history = [(int(s), float(v)) for s, v in entry["history"]]
        out[name] = Trained(
            net, history, entry["steps"], entry["seconds"], entry["cpu_seconds"], name
        )
    return out
