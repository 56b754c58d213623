"""Module 07: a variational autoencoder and a normalizing flow small enough to train on a CPU
in seconds, and the yardsticks that put every family of creators side by side.

A VAE (Kingma & Welling, 2014) squeezes a digit into a few numbers and learns to decode
them back; a normalizing flow (here RealNVP's affine coupling layers, Dinh et al., 2017)
bends space, invertibly, until the data look like a standard Gaussian. This file builds
both (`VAE`, `Flow`), trains them (`train_vae`, `train_flow`) and measures what any
creator of digits draws (`yardsticks`).

The formulas are the student's: `train_vae` calls their `reparameterise` and `elbo`, and
`train_flow` their `flow_log_likelihood`; `Flow.sample` runs their `coupling_inverse`.

Both models see the digits *dequantised*: a digit's 17 grey levels k = 0..16 become
x = (k + u) / 17 with u uniform in [0, 1), one fresh u per pixel per step. A density on
[0, 1]^64 then gives an upper bound on the number of bits the 17-level digit takes
(Theis et al., 2016, section 3.1), the unit every family's likelihood is reported in.

What this module leaves out: convolutional encoders and couplings, importance-weighted
bounds (IWAE), and Glow's 1x1 convolutions and actnorm.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.metrics import pairwise_distances, pairwise_distances_argmin_min
from torch import nn
from tqdm.auto import tqdm

from ..checks import check_array, check_tensor
from ..threads import one_thread

__all__ = [
    "LEVELS",
    "UNIFORM_BITS",
    "dequantise",
    "to_grid",
    "bits_per_pixel",
    "VAE",
    "vae_elbo",
    "train_vae",
    "Coupling",
    "Flow",
    "ring_flow",
    "digits_flow",
    "train_flow",
    "flow_log_density",
    "sample_moons",
    "Training",
    "PixelHistogram",
    "Yardsticks",
    "yardsticks",
    "draw_timed",
    "sampling_seconds",
]

LEVELS = 17  # the digits' grey levels: scikit-learn counts ink from 0 to 16
UNIFORM_BITS = math.log2(LEVELS)  # bits per pixel of a model that knows nothing: 4.09


# ---------------------------------------------------------------------------
# The digits as a density's data


def dequantise(images: np.ndarray | torch.Tensor, generator=None) -> torch.Tensor:
    """Digits on the 17-level grid k/16 (as `load_digits` gives them) spread into [0, 1):
    x = (k + u) / 17, u uniform in [0, 1) for every pixel.

    Returns:
        (n, 64) float32 tensor.
    """
    k = torch.as_tensor(np.asarray(images) * (LEVELS - 1), dtype=torch.float32).round()
    return (k + torch.rand(k.shape, generator=generator)) / LEVELS


def to_grid(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """The inverse of `dequantise`, for samples: each pixel to the grey level whose cell it
    falls in, as k/16, so a critic trained on real digits reads them on their scale.

    Returns:
        (n, 64) float64 array on the grid k/16.
    """
    x = np.asarray(x.detach() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    return np.clip(np.floor(x * LEVELS), 0, LEVELS - 1) / (LEVELS - 1)


def bits_per_pixel(log_density: torch.Tensor | np.ndarray) -> float:
    """Mean bits per pixel of 17-level digits, from the log density (nats) of their
    dequantised versions on [0, 1]^64: -log p(x) / (64 ln 2) + log2 17 bounds the bits the
    digit takes (Theis et al., 2016). A model with the uniform density gets `UNIFORM_BITS`."""
    log_density = torch.as_tensor(log_density, dtype=torch.float64)
    pixels = 64
    return float((-log_density.mean() / (pixels * math.log(2))) + UNIFORM_BITS)


@dataclass
class Training:
    """A finished training run.

    Attributes:
        model: the trained network.
        history: (step, loss) pairs; the loss is the negative of the objective (the ELBO or
            the log-likelihood) in nats per example, on the training batch.
        seconds: wall-clock training time.
    """

    model: nn.Module
    history: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0


def _batches(data: torch.Tensor, steps: int, batch_size: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    for step in range(1, steps + 1):
        yield step, data[torch.randint(0, len(data), (batch_size,), generator=generator)]


def _fit(model, data, loss_fn, steps, batch_size, lr, seed, progress, desc, prepare=None):
    """Adam on `loss_fn(batch)` with a cosine decay to zero; one torch thread."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps))
    )
    training = Training(model)
    start = time.perf_counter()
    with one_thread():
        bar = tqdm(_batches(data, steps, batch_size, seed), total=steps, desc=desc,
                   disable=not progress, mininterval=0.5)  # fmt: skip
        for step, batch in bar:
            loss = loss_fn(prepare(batch) if prepare else batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
            if step % 25 == 0 or step == steps:
                training.history.append((step, loss.item()))
                bar.set_postfix(loss=f"{loss.item():.1f}", refresh=False)
    training.seconds = time.perf_counter() - start
    model.eval()
    return training


def _per_example(value, name: str, n: int) -> torch.Tensor:
    check_tensor(value, name, shape=(n,), grad=True)
    return value


# ---------------------------------------------------------------------------
# The variational autoencoder


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, outputs),
    )  # fmt: skip


class VAE(nn.Module):
    """An encoder to a diagonal Gaussian over `latent` numbers, a decoder back to 64 pixels.

    The decoder's distribution over a digit is a Gaussian around `decode(z)` with one
    standard deviation for every pixel, exp(`log_sigma`), learned with the rest.
    """

    def __init__(self, latent: int = 2, hidden: int = 256, pixels: int = 64, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.latent = latent
        self.encoder = _mlp(pixels, hidden, 2 * latent)
        self.decoder = nn.Sequential(_mlp(latent, hidden, pixels), nn.Sigmoid())
        self.log_sigma = nn.Parameter(torch.tensor(math.log(0.2)))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, 64) digits -> (mu, logvar), each (n, latent): the encoder's Gaussian q(z|x)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(n, latent) codes -> (n, 64) the decoder's mean digit, in [0, 1]."""
        return self.decoder(z)

    def sample(self, n: int, seed: int = 0, noise: bool = False) -> np.ndarray:
        """`n` digits: z from the prior N(0, I), decoded, each pixel put on the 17-level grid
        (`to_grid`). Without `noise` a digit is the decoder's mean, as VAE papers show them
        (Kingma & Welling, 2014, Figure 4); with it, the decoder's Gaussian noise is added,
        which is what the likelihood describes. Returns (n, 64) float64."""
        generator = torch.Generator().manual_seed(seed)
        with torch.inference_mode():
            mean = self.decode(torch.randn(n, self.latent, generator=generator))
            if noise:
                mean = mean + torch.randn(mean.shape, generator=generator) * self.log_sigma.exp()
        return to_grid(mean)

    def codes(self, images: np.ndarray) -> np.ndarray:
        """The encoder's means for (n, 64) digits on the grid (each digit at the centre of its
        grey levels' cells). Returns (n, latent) float64."""
        x = torch.as_tensor((np.asarray(images) * (LEVELS - 1) + 0.5) / LEVELS, dtype=torch.float32)
        with torch.inference_mode():
            return self.encode(x)[0].double().numpy()


def vae_elbo(
    vae: VAE, images: np.ndarray, reparameterise: Callable, elbo: Callable, seed: int = 0
) -> torch.Tensor:
    """The student's ELBO of each of (n, 64) digits, dequantised once (seeded), with one code
    drawn per digit: a lower bound on the log density, in nats (`bits_per_pixel` reads it)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x = dequantise(images, generator)
        mu, logvar = vae.encode(x)
        z = reparameterise(mu, logvar, torch.randn(mu.shape, generator=generator))
        return elbo(x, vae.decode(z), vae.log_sigma, mu, logvar)


def train_vae(
    vae: VAE,
    images: np.ndarray,
    reparameterise: Callable,
    elbo: Callable,
    steps: int = 1500,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    progress: bool = True,
) -> Training:
    """Train `vae` to maximise the student's ELBO on dequantised digits.

    Each step draws a batch, dequantises it, encodes it to (mu, logvar), draws the codes
    with the student's `reparameterise(mu, logvar, eps)`, decodes them, and takes a step
    of Adam on `-elbo(x, decode(z), log_sigma, mu, logvar).mean()`.

    Args:
        vae: e.g. `VAE(latent=2)`; trained in place.
        images: (n, 64) digits on the grid k/16, as `load_digits` gives them.
        reparameterise: the student's `reparameterise(mu, logvar, eps) -> z`.
        elbo: the student's `elbo(x, x_mean, log_sigma, mu, logvar) -> (n,)`.
    Returns:
        A `Training`; its history holds the negative ELBO in nats per digit.
    """
    check_array(images, "images", shape=(None, 64), low=0, high=1)
    data = torch.as_tensor(images, dtype=torch.float32)
    noise = torch.Generator().manual_seed(seed + 1)

    def loss(x):
        mu, logvar = vae.encode(x)
        eps = torch.randn(mu.shape, generator=noise)
        z = reparameterise(mu, logvar, eps)
        check_tensor(z, "reparameterise(mu, logvar, eps)", shape=tuple(mu.shape), grad=True)
        bound = elbo(x, vae.decode(z), vae.log_sigma, mu, logvar)
        return -_per_example(bound, "elbo(x, x_mean, log_sigma, mu, logvar)", len(x)).mean()

    return _fit(vae, data, loss, steps, batch_size, lr, seed, progress, "VAE",
                prepare=lambda batch: dequantise(batch, noise))  # fmt: skip


# ---------------------------------------------------------------------------
# The normalizing flow


class Coupling(nn.Module):
    """One affine coupling layer's parts: the `mask` (1 where a number passes unchanged and
    conditions the rest, 0 where it is scaled and shifted) and the network that reads the
    masked input and returns the log-scales s and the shifts t.

    Calling the layer, `coupling(x_masked)`, returns (s, t), each shaped like the input;
    s is bounded by a tanh (times a learned scale), as in Dinh et al.'s code, so that
    exp(s) stays in a range where training is stable.
    """

    def __init__(self, mask: torch.Tensor, hidden: int):
        super().__init__()
        d = len(mask)
        self.register_buffer("mask", mask.float())
        self.net = _mlp(d, hidden, 2 * d)
        self.scale = nn.Parameter(torch.ones(d))
        nn.init.zeros_(self.net[-1].weight)  # every layer starts as the identity
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x_masked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(x_masked).chunk(2, dim=-1)
        return self.scale * torch.tanh(s), t


class Flow(nn.Module):
    """A stack of affine couplings from data (left) to a standard Gaussian (right), with an
    optional fixed first step for data in [0, 1]: the logit, which opens the unit cube
    onto the whole space (Dinh et al., 2017, section 4.1).

    `couplings` is the list of (mask, layer) pairs the student's functions take.
    """

    def __init__(self, masks: list[torch.Tensor], hidden: int, logit: float | None = None):
        super().__init__()
        self.layers = nn.ModuleList(Coupling(mask, hidden) for mask in masks)
        self.dim = len(masks[0])
        self.logit = logit  # the squeeze alpha of the logit step, or None for no such step

    @property
    def couplings(self) -> list[tuple[torch.Tensor, Coupling]]:
        return [(layer.mask, layer) for layer in self.layers]

    def preprocess(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed first step: x -> logit(alpha + (1 - 2 alpha) x) and its log-determinant
        per example; (x, zeros) when the flow has no such step."""
        if self.logit is None:
            return x, torch.zeros(len(x))
        alpha = self.logit
        y = alpha + (1 - 2 * alpha) * x
        log_det = (math.log(1 - 2 * alpha) - torch.log(y) - torch.log1p(-y)).sum(-1)
        return torch.log(y) - torch.log1p(-y), log_det

    def postprocess(self, h: torch.Tensor) -> torch.Tensor:
        """The inverse of `preprocess`, back to the data's space."""
        if self.logit is None:
            return h
        return (torch.sigmoid(h) - self.logit) / (1 - 2 * self.logit)

    def sample(self, n: int, coupling_inverse: Callable, seed: int = 0, keep: bool = False):
        """Draw `n` points: z from N(0, I), then the student's `coupling_inverse(y, mask,
        layer)` through the layers from the last to the first, then `postprocess`.

        Returns:
            (n, dim) tensor; with `keep`, the list of every stage instead, from z (first) to
            the data (last).
        """
        z = torch.randn(n, self.dim, generator=torch.Generator().manual_seed(seed))
        stages = [z]
        with torch.no_grad():
            for mask, layer in reversed(self.couplings):
                x = coupling_inverse(stages[-1], mask, layer)
                check_tensor(x, "coupling_inverse(y, mask, layer)", shape=tuple(z.shape))
                stages.append(x)
            stages.append(self.postprocess(stages[-1]))
        return stages if keep else stages[-1]

    def warp(self, x: torch.Tensor, coupling_forward: Callable) -> list[torch.Tensor]:
        """The data's way to the Gaussian: `x` after each coupling of the student's
        `coupling_forward`, first stage `x` itself (after `preprocess`)."""
        stages = [self.preprocess(x)[0]]
        with torch.no_grad():
            for mask, layer in self.couplings:
                stages.append(coupling_forward(stages[-1], mask, layer)[0])
        return stages


def _alternating(d: int, n_layers: int) -> list[torch.Tensor]:
    if d == 2:
        halves = [torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])]
    else:  # a checkerboard of the 8x8 image and its complement (Dinh et al., section 3.4)
        board = ((torch.arange(d) // 8 + torch.arange(d) % 8) % 2).float()
        halves = [board, 1 - board]
    return [halves[i % 2] for i in range(n_layers)]


def ring_flow(n_layers: int = 6, hidden: int = 64, seed: int = 0) -> Flow:
    """A flow for 2-D points: couplings that alternate which coordinate they change."""
    torch.manual_seed(seed)
    return Flow(_alternating(2, n_layers), hidden)


def digits_flow(n_layers: int = 6, hidden: int = 128, seed: int = 0) -> Flow:
    """A flow for dequantised 8x8 digits: the logit step, then couplings alternating between
    the two colours of a checkerboard."""
    torch.manual_seed(seed)
    return Flow(_alternating(64, n_layers), hidden, logit=0.05)


def train_flow(
    flow: Flow,
    data: np.ndarray,
    flow_log_likelihood: Callable,
    steps: int = 1500,
    batch_size: int = 256,
    lr: float = 2e-3,
    dequantised: bool = False,
    seed: int = 0,
    progress: bool = True,
) -> Training:
    """Train `flow` by maximum likelihood, exactly: each step takes Adam on
    `-(flow_log_likelihood(h, flow.couplings) + log_det).mean()`, where (h, log_det) is the
    batch after the flow's fixed first step (`Flow.preprocess`).

    Args:
        flow: e.g. `ring_flow()`; trained in place.
        data: (n, d) points, or (n, 64) digits on the grid k/16 with `dequantised`.
        flow_log_likelihood: the student's `flow_log_likelihood(x, couplings) -> (n,)`.
        dequantised: spread each batch of digits over [0, 1) first (`dequantise`).
    Returns:
        A `Training`; its history holds the negative log-likelihood in nats per example.
    """
    check_array(data, "data", shape=(None, flow.dim))
    tensor = torch.as_tensor(data, dtype=torch.float32)
    noise = torch.Generator().manual_seed(seed + 1)

    def loss(x):
        h, log_det = flow.preprocess(x)
        ll = flow_log_likelihood(h, flow.couplings)
        return -(_per_example(ll, "flow_log_likelihood(x, couplings)", len(x)) + log_det).mean()

    prepare = (lambda batch: dequantise(batch, noise)) if dequantised else None
    return _fit(flow, tensor, loss, steps, batch_size, lr, seed, progress, "flow", prepare)


def flow_log_density(
    flow: Flow,
    data: np.ndarray,
    flow_log_likelihood: Callable,
    dequantised: bool = False,
    seed: int = 0,
) -> torch.Tensor:
    """The exact log density of each row of `data` under `flow`, in nats, by the student's
    `flow_log_likelihood` and the flow's fixed first step; digits (`dequantised`) are spread
    over [0, 1) once, seeded, first."""
    x = torch.as_tensor(data, dtype=torch.float32)
    if dequantised:
        x = dequantise(data, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        h, log_det = flow.preprocess(x)
        return flow_log_likelihood(h, flow.couplings) + log_det


def sample_moons(n: int, noise: float = 0.06, seed: int = 0) -> np.ndarray:
    """`n` points of scikit-learn's two moons, centred and scaled to about unit spread.

    Returns:
        (n, 2) float32.
    """
    from sklearn.datasets import make_moons

    points, _ = make_moons(n, noise=noise, random_state=seed)
    return ((points - [0.5, 0.25]) / [0.87, 0.5]).astype(np.float32)


# ---------------------------------------------------------------------------
# Side by side


class PixelHistogram:
    """The simplest likelihood model of digits: every pixel on its own, its 17 grey levels
    counted over the training digits (one count added to each, so no level has probability
    0). Its likelihood is exact and needs no dequantising; its digits are noise shaped by
    where ink tends to be.
    """

    def __init__(self, images: np.ndarray):
        check_array(images, "images", shape=(None, 64), low=0, high=1)
        k = np.rint(images * (LEVELS - 1)).astype(int)
        counts = np.stack([np.bincount(k[:, i], minlength=LEVELS) for i in range(64)]) + 1
        self.probs = counts / counts.sum(axis=1, keepdims=True)  # (64, 17)

    def bits_per_pixel(self, images: np.ndarray) -> float:
        """Mean -log2 P(digit) / 64 over (n, 64) digits on the grid k/16: exact."""
        k = np.rint(np.asarray(images) * (LEVELS - 1)).astype(int)
        return float(-np.log2(self.probs[np.arange(64), k]).mean())

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """`n` digits, each pixel drawn on its own. Returns (n, 64) float64 on the grid."""
        rng = np.random.default_rng(seed)
        cumulative = self.probs.cumsum(axis=1)
        k = (rng.random((n, 64, 1)) > cumulative[None]).sum(axis=2)
        return np.minimum(k, LEVELS - 1) / (LEVELS - 1)


@dataclass(frozen=True)
class Yardsticks:
    """What one creator's digits measure, by the course's yardsticks.

    Attributes:
        recognised: share of the digits the critic gives one class at least 90% (the class
            asked for, for a model asked for one).
        classes: how evenly the critic's labels spread over the ten digits, as a perplexity:
            10 when every digit is drawn equally often, 1 when one digit is all it draws.
        diversity: mean Euclidean distance between two of the digits (in pixels of [0, 1]).
        nearest: median distance from a digit to the training digit closest to it.
    """

    recognised: float
    classes: float
    diversity: float
    nearest: float


def yardsticks(images: np.ndarray, critic, train_images: np.ndarray, asked=None) -> Yardsticks:
    """Measure (n, 64) digits in [0, 1] against the critic and the training digits.

    Args:
        asked: for a model asked for a digit, the (n,) digits asked for; a digit is then
            recognised only as the one asked for.
    """
    check_array(images, "images", shape=(None, 64), low=0, high=1)
    probs = critic.predict_proba(images)
    sure = probs.max(axis=1) >= 0.9
    if asked is not None:
        sure &= probs.argmax(axis=1) == np.asarray(asked)
    counts = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1]) / len(images)
    spread = counts[counts > 0]
    _, nearest = pairwise_distances_argmin_min(images, train_images)  # no (n, m, 64) array
    pairs = pairwise_distances(images)  # (n, n), the diagonal 0
    return Yardsticks(
        recognised=float(sure.mean()),
        classes=float(np.exp(-(spread * np.log(spread)).sum())),
        diversity=float(pairs.sum() / (len(images) * (len(images) - 1))),
        nearest=float(np.median(nearest)),
    )


def draw_timed(draw: Callable[[int], np.ndarray], n: int) -> tuple[np.ndarray, float]:
    """`draw(n)` on one torch thread, and the seconds it took per 1,000 digits."""
    with one_thread(), torch.inference_mode():
        start = time.perf_counter()
        images = draw(n)
        seconds = time.perf_counter() - start
    return images, seconds * 1000 / n


def sampling_seconds(draw: Callable[[int], object], n: int = 1000, repeats: int = 5) -> float:
    """Median wall-clock seconds of `draw(n)`, on one torch thread, after one warm-up call."""
    times = []
    with one_thread(), torch.inference_mode():
        draw(min(n, 16))
        for _ in range(repeats):
            start = time.perf_counter()
            draw(n)
            times.append(time.perf_counter() - start)
    return float(np.median(times))
