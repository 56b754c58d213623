"""Tiny GANs that train on CPU in seconds: a ring of Gaussians in 2D, then 8x8 digits.

A GAN (Goodfellow et al., 2014) is two networks in a game. The generator (the forger)
turns random noise z into samples; the discriminator (the detective) gives each sample
a logit whose sigmoid is its belief that the sample is real. This file builds the
players (`ring_gan`, `digits_gan`), the data, and the loop that plays the game
(`train_gan`), keeping snapshots for the figures and the training-step scrubber.

The moves themselves are the student's: `train_gan` calls their `train_step` with their
`discriminator_loss` and `generator_loss`, and nothing here computes either loss.

What this module leaves out: convolutions, batch norm, and the many stabilising tricks
of later GANs (spectral norm, gradient penalties, two time-scale schedules); plain MLPs
and Adam are enough to see both success and collapse on data this small.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..checks import check_array
from ..threads import one_thread

__all__ = [
    "RING_MODES",
    "RING_RADIUS",
    "RING_STD",
    "ring_centers",
    "sample_ring",
    "digits_for_gan",
    "GAN",
    "ring_gan",
    "digits_gan",
    "Snapshot",
    "Run",
    "train_gan",
    "generation_seconds",
]

# ---------------------------------------------------------------------------
# Data

RING_MODES = 8
RING_RADIUS = 2.0
# Wider than the 0.02 of Metz et al. (2017), whose ring defeats a plain GAN within this
# module's time budget; neighbouring modes still lie 1.5 apart, 15 standard deviations.
RING_STD = 0.1


def ring_centers(modes: int = RING_MODES, radius: float = RING_RADIUS) -> np.ndarray:
    """The centres of `modes` Gaussians evenly spaced on a circle.

    Returns:
        (modes, 2) float64.
    """
    angles = 2 * np.pi * np.arange(modes) / modes
    return radius * np.column_stack([np.cos(angles), np.sin(angles)])


def sample_ring(
    n: int, seed: int = 0, modes: int = RING_MODES, radius: float = RING_RADIUS, std=RING_STD
) -> np.ndarray:
    """`n` points from an equal mixture of Gaussians on a ring, each with spread `std`.

    Returns:
        (n, 2) float32.
    """
    rng = np.random.default_rng(seed)
    centers = ring_centers(modes, radius)[rng.integers(modes, size=n)]
    return (centers + std * rng.standard_normal((n, 2))).astype(np.float32)


def digits_for_gan(images: np.ndarray) -> np.ndarray:
    """Digits in [0, 1] (as `genlab.data.load_digits` gives them) rescaled to [-1, 1], the
    range of the generator's tanh output.

    Returns:
        (n, 64) float32.
    """
    check_array(images, "images", shape=(None, 64), low=0, high=1)
    return (2 * images - 1).astype(np.float32)


# ---------------------------------------------------------------------------
# The players


def _mlp(inputs: int, hidden: int, outputs: int, last: nn.Module | None = None) -> nn.Sequential:
    layers = [
        nn.Linear(inputs, hidden),
        nn.LeakyReLU(0.2),  # leaky, as in DCGAN: a dead unit would pass no gradient back
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, outputs),
    ]
    return nn.Sequential(*layers, *([last] if last else []))


@dataclass
class GAN:
    """The two players of the game and the optimiser of each.

    Attributes:
        generator: (batch, latent_dim) noise -> (batch, data_dim) samples.
        discriminator: (batch, data_dim) samples -> (batch, 1) logits; sigmoid(logit) is
            its belief that a sample is real.
        g_opt, d_opt: Adam over the generator's and over the discriminator's parameters.
        latent_dim: size of the noise vector z.
    """

    generator: nn.Module
    discriminator: nn.Module
    g_opt: torch.optim.Optimizer
    d_opt: torch.optim.Optimizer
    latent_dim: int

    def noise(self, n: int, seed: int | None = None) -> torch.Tensor:
        """(n, latent_dim) standard normal noise; seeded when `seed` is given."""
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        return torch.randn(n, self.latent_dim, generator=generator)

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """`n` samples from the generator, for seeded noise.

        Returns:
            (n, data_dim) float32 numpy array.
        """
        with torch.inference_mode():
            return self.generator(self.noise(n, seed)).numpy()


def _make_gan(data_dim, latent_dim, hidden, lr_g, lr_d, seed, out=None) -> GAN:
    torch.manual_seed(seed)
    generator = _mlp(latent_dim, hidden, data_dim, out)
    discriminator = _mlp(data_dim, hidden, 1)
    betas = (0.5, 0.999)  # a short momentum memory, as in DCGAN: the target keeps moving
    return GAN(
        generator,
        discriminator,
        torch.optim.Adam(generator.parameters(), lr=lr_g, betas=betas),
        torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=betas),
        latent_dim,
    )


def ring_gan(
    seed: int = 0, lr_g: float = 1e-3, lr_d: float = 1e-3, hidden: int = 128, latent_dim: int = 2
) -> GAN:
    """Players for 2D data: two MLPs with two hidden layers each, as GAN Lab draws them."""
    return _make_gan(2, latent_dim, hidden, lr_g, lr_d, seed)


def digits_gan(
    seed: int = 0, lr_g: float = 5e-4, lr_d: float = 5e-4, hidden: int = 256, latent_dim: int = 32
) -> GAN:
    """Players for 8x8 digits scaled to [-1, 1]: the generator ends in a tanh."""
    return _make_gan(64, latent_dim, hidden, lr_g, lr_d, seed, out=nn.Tanh())


# ---------------------------------------------------------------------------
# Playing the game


@dataclass(frozen=True)
class Snapshot:
    """The game at one training step.

    Attributes:
        step: optimiser steps taken so far.
        samples: (n_show, data_dim) generator outputs for a fixed batch of noise, so that
            consecutive snapshots show the same fakes moving.
        surface: (res, res) discriminator belief P(real | x) over `Run.extent`, rows from
            bottom to top; only for 2D data, else None.
    """

    step: int
    samples: np.ndarray
    surface: np.ndarray | None


@dataclass
class Run:
    """A finished training run.

    Attributes:
        gan: the trained players.
        real: (<= 1000, data_dim) real examples to draw the fakes against.
        snapshots: the game every `snapshot_every` steps, the first before any step.
        history: (step, discriminator loss, generator loss) triples.
        extent: (x_min, x_max, y_min, y_max) of the surfaces, for 2D data.
        seconds: wall-clock training time, snapshots included.
    """

    gan: GAN
    real: np.ndarray
    snapshots: list[Snapshot] = field(default_factory=list)
    history: list[tuple[int, float, float]] = field(default_factory=list)
    extent: tuple[float, float, float, float] | None = None
    seconds: float = 0.0

    def at(self, step: int) -> Snapshot:
        """The last snapshot taken at or before `step`."""
        taken = [s for s in self.snapshots if s.step <= step]
        if not taken:
            raise ValueError(f"no snapshot at or before step {step}; the first is at step 0")
        return taken[-1]


def _returned_losses(result, step: int) -> tuple[float, float]:
    """(d_loss, g_loss) from what `train_step` returned, or a message saying what it should."""
    wanted = "train_step should return (d_loss, g_loss), a tuple of two Python floats"
    if type(result) is not tuple or len(result) != 2:
        size = f" of {len(result)} values" if type(result) in (tuple, list) else ""
        raise TypeError(f"{wanted}; it returned a {type(result).__name__}{size}.")
    for which, value in zip(("first", "second"), result, strict=True):
        if type(value) is not float:
            raise TypeError(
                f"{wanted} (use .item() on each loss tensor); its {which} value is a "
                f"{type(value).__name__}."
            )
    d_loss, g_loss = result
    if not (math.isfinite(d_loss) and math.isfinite(g_loss)):
        raise FloatingPointError(
            f"the losses became {d_loss} and {g_loss} at step {step}: compute them from the "
            "logits with a stable formula (softplus or binary_cross_entropy_with_logits), "
            "not as log(sigmoid(...))."
        )
    return d_loss, g_loss


def train_gan(
    gan: GAN,
    data: np.ndarray,
    train_step: Callable,
    d_loss_fn: Callable,
    g_loss_fn: Callable,
    steps: int,
    batch_size: int = 256,
    seed: int = 0,
    snapshot_every: int = 100,
    n_show: int = 512,
    resolution: int = 64,
    progress: bool = True,
    desc: str = "GAN",
) -> Run:
    """Play `steps` rounds of the game: each one a call to the student's `train_step`.

    Each round draws a batch of real examples and a batch of noise and calls
    `train_step(gan, real, z, d_loss_fn, g_loss_fn)`, which updates the discriminator,
    then the generator, and returns their two losses. Both learning rates are decayed
    to a tenth along a cosine, which lets the samples settle at the end. Seeded: two runs
    on one machine give the same players.

    Args:
        gan: the players, e.g. `ring_gan()`; trained in place.
        data: (n, data_dim) float32 real examples.
        train_step: the student's function.
        d_loss_fn, g_loss_fn: the losses `train_step` is asked to use.
        steps: rounds to play.
        snapshot_every: steps between snapshots (kept for figures and the scrubber).
        n_show: fakes kept per snapshot.
        resolution: grid points per axis of the discriminator's surface (2D data only).
    Returns:
        A `Run`.
    """
    check_array(data, "data", shape=(None, None), dtype="f")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    X = torch.as_tensor(data, dtype=torch.float32)
    run = Run(gan, data[rng.permutation(len(data))[:1000]])
    z_show = gan.noise(n_show, seed=seed + 1)
    grid = None
    if data.shape[1] == 2:
        low, high = data.min(axis=0) - 1.0, data.max(axis=0) + 1.0
        run.extent = (float(low[0]), float(high[0]), float(low[1]), float(high[1]))
        half = (high - low) / (2 * resolution)  # grid points at the centres of the pixels
        xx, yy = np.meshgrid(
            np.linspace(low[0] + half[0], high[0] - half[0], resolution),
            np.linspace(low[1] + half[1], high[1] - half[1], resolution),
        )
        grid = torch.as_tensor(np.column_stack([xx.ravel(), yy.ravel()]), dtype=torch.float32)

    def snapshot(step: int) -> Snapshot:
        with torch.inference_mode():
            samples = gan.generator(z_show).numpy()
            surface = None
            if grid is not None:
                logits = gan.discriminator(grid)[:, 0]
                surface = torch.sigmoid(logits).reshape(resolution, resolution).numpy()
        return Snapshot(step, samples, surface)

    def cosine(step: int) -> float:  # the factor on each learning rate: 1 down to 0.1
        return 0.1 + 0.45 * (1 + math.cos(math.pi * step / steps))

    schedules = [torch.optim.lr_scheduler.LambdaLR(opt, cosine) for opt in (gan.d_opt, gan.g_opt)]
    start = time.perf_counter()
    with one_thread():
        run.snapshots.append(snapshot(0))
        bar = tqdm(range(1, steps + 1), desc=desc, disable=not progress, mininterval=0.5)
        for step in bar:
            real = X[rng.integers(0, len(X), batch_size)]
            z = torch.randn(batch_size, gan.latent_dim)
            result = train_step(gan, real, z, d_loss_fn, g_loss_fn)
            d_loss, g_loss = _returned_losses(result, step)
            for schedule in schedules:
                schedule.step()
            if step % 25 == 0 or step == steps:
                run.history.append((step, d_loss, g_loss))
                bar.set_postfix(d_loss=f"{d_loss:.3f}", g_loss=f"{g_loss:.3f}", refresh=False)
            if step % snapshot_every == 0 or step == steps:
                run.snapshots.append(snapshot(step))
    run.seconds = time.perf_counter() - start
    return run


# ---------------------------------------------------------------------------
# Speed


def generation_seconds(gan: GAN, n: int = 1000, repeats: int = 20) -> float:
    """Median wall-clock seconds to draw `n` samples: noise, then one forward pass, on one
    thread like training. Module 04 times its diffusion sampler the same way.
    """
    times = []
    with one_thread(), torch.inference_mode():
        gan.generator(gan.noise(n))  # warm-up: the first call allocates
        for _ in range(repeats):
            start = time.perf_counter()
            gan.generator(gan.noise(n))
            times.append(time.perf_counter() - start)
    return float(np.median(times))
