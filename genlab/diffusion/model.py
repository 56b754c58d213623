"""A denoising diffusion model (Ho et al., 2020) for 8x8 digits that trains on CPU in seconds.

Diffusion turns data into static by adding a little Gaussian noise at each of T steps,
and learns to undo one step at a time: a network looks at a noisy image, the timestep
and, here, the digit asked for, and predicts the noise in it. Sampling starts from pure
static and applies that learned step T times. This file builds the network
(`digits_denoiser`), the loop that trains it (`train_denoiser`), the loop that samples
with it (`sample`).

The formulas are the student's: `train_denoiser` calls their `add_noise`, and `sample`
calls their `ddpm_step` and `guided_eps`, so nothing here computes the forward process,
a reverse step or guidance for them.

What this module leaves out: the U-Net of the paper (an MLP is enough for 64 pixels),
learned variances, faster samplers that skip steps (DDIM), and latent diffusion.
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

from ..checks import check_array, check_tensor
from ..threads import one_thread

__all__ = [
    "T",
    "NO_LABEL",
    "Denoiser",
    "digits_denoiser",
    "Training",
    "train_denoiser",
    "Samples",
    "sample",
]

T = 1000  # timesteps, as in Ho et al. (2020); their betas run from 1e-4 to 0.02 over these
NO_LABEL = 10  # the label that means "no digit asked for": the unconditional model


# ---------------------------------------------------------------------------
# The network


class Denoiser(nn.Module):
    """Predicts the noise in a noisy digit, given its timestep and the digit asked for.

    The timestep enters as sinusoidal features (the positional encoding of Vaswani et
    al., 2017, which DDPM uses too), the label as a learned vector; both are concatenated
    with the pixels and go through an MLP with residual blocks.
    """

    def __init__(self, pixels: int = 64, hidden: int = 256, embed: int = 64, blocks: int = 2):
        super().__init__()
        self.embed = embed
        self.label = nn.Embedding(NO_LABEL + 1, embed)  # ten digits, then "no digit"
        self.time = nn.Sequential(nn.Linear(embed, embed), nn.SiLU())
        self.inp = nn.Linear(pixels + 2 * embed, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden)) for _ in range(blocks)
        )
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(hidden, pixels))
        half = embed // 2
        self.register_buffer("freqs", torch.exp(-math.log(10_000) * torch.arange(half) / half))

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Args:
            x: (batch, 64) noisy digits x_t.
            t: (batch,) int64 timesteps in [0, T).
            labels: (batch,) int64 digits asked for, or NO_LABEL.
        Returns:
            (batch, 64) the predicted noise.
        """
        angles = t.float()[:, None] * self.freqs
        features = [x, self.time(torch.cat([angles.sin(), angles.cos()], 1)), self.label(labels)]
        h = self.inp(torch.cat(features, 1))
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


def digits_denoiser(seed: int = 0, hidden: int = 256) -> Denoiser:
    """A fresh, seeded denoiser for 8x8 digits (about 200,000 weights at hidden=256)."""
    torch.manual_seed(seed)
    return Denoiser(hidden=hidden)


# ---------------------------------------------------------------------------
# Training


@dataclass
class Training:
    """A finished training run.

    Attributes:
        net: the trained denoiser.
        history: (step, loss) pairs, the mean squared error of the predicted noise.
        seconds: wall-clock training time.
    """

    net: Denoiser
    history: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0


def _checked(value, name: str, like: torch.Tensor) -> torch.Tensor:
    """`value` as float32 after checking it is a tensor shaped like `like`."""
    check_tensor(value, name, shape=tuple(like.shape))
    return value.float()


def train_denoiser(
    net: Denoiser,
    images: np.ndarray,
    labels: np.ndarray,
    add_noise: Callable,
    alpha_bar: torch.Tensor,
    steps: int = 5000,
    batch_size: int = 256,
    lr: float = 2e-3,
    p_unconditional: float = 0.15,
    seed: int = 0,
    progress: bool = True,
) -> Training:
    """Train `net` to predict the noise that the student's `add_noise` put into a digit.

    Each step draws a batch of digits, a timestep for each, and Gaussian noise; the noisy
    digits are `add_noise(x0, noise, t, alpha_bar)`, and the loss is the mean squared
    error between `net`'s prediction and that noise (the "simple" loss, eq. (14) of Ho et
    al.). A share `p_unconditional` of the labels is replaced by NO_LABEL, so the same
    network also learns the unconditional model that classifier-free guidance needs (Ho &
    Salimans, 2022). The learning rate decays to zero along a cosine. Torch runs on one
    thread, as for the GANs of module 03.

    Args:
        net: e.g. `digits_denoiser()`; trained in place.
        images: (n, 64) float digits scaled to [-1, 1].
        labels: (n,) int digits 0-9.
        add_noise: the student's `add_noise(x0, noise, t, alpha_bar) -> x_t`.
        alpha_bar: (T,) tensor, the cumulative product of (1 - beta).
    Returns:
        A `Training`.
    """
    check_array(images, "images", shape=(None, 64), low=-1, high=1)
    check_array(labels, "labels", shape=(len(images),), low=0, high=NO_LABEL - 1)
    check_tensor(alpha_bar, "alpha_bar", shape=(None,))
    torch.manual_seed(seed)
    X = torch.as_tensor(images, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.int64)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps))
    )
    training = Training(net)
    start = time.perf_counter()
    with one_thread():
        bar = tqdm(range(1, steps + 1), desc="denoiser", disable=not progress, mininterval=0.5)
        for step in bar:
            idx = torch.randint(0, len(X), (batch_size,))
            x0, c = X[idx], y[idx].clone()
            c[torch.rand(batch_size) < p_unconditional] = NO_LABEL
            t = torch.randint(0, len(alpha_bar), (batch_size,))
            noise = torch.randn_like(x0)
            x_t = _checked(add_noise(x0, noise, t, alpha_bar), "add_noise(x0, noise, t, ...)", x0)
            loss = ((net(x_t, t, c) - noise) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
            if step % 50 == 0 or step == steps:
                training.history.append((step, loss.item()))
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    training.seconds = time.perf_counter() - start
    return training


# ---------------------------------------------------------------------------
# Sampling


@dataclass(frozen=True)
class Samples:
    """Digits drawn by `sample`, with the way there.

    Attributes:
        images: (n, 64) float32 finished digits in [-1, 1].
        labels: (n,) int the digit asked for each.
        w: the guidance scale used.
        seconds: wall-clock time of the T denoising steps.
        steps: (frames,) int denoising steps taken at each kept frame, 0 (pure static)
            to T (finished); empty unless `keep_every` was given.
        trajectory: (frames, n, 64) the samples at those steps.
        predictions: (frames, n, 64) the network's guess of the finished digit at those
            steps: x_0 as the predicted noise implies it, clipped to [-1, 1].
    """

    images: np.ndarray
    labels: np.ndarray
    w: float
    seconds: float
    steps: np.ndarray
    trajectory: np.ndarray
    predictions: np.ndarray


def sample(
    net: Denoiser,
    labels,
    betas: torch.Tensor,
    alpha_bar: torch.Tensor,
    ddpm_step: Callable,
    guided_eps: Callable,
    w: float = 2.0,
    seed: int = 0,
    keep_every: int | None = None,
    clip: bool = True,
    progress: bool = False,
) -> Samples:
    """Draw one digit per label: start from static, then take T steps of the student's sampler.

    At each timestep t, from T-1 down to 0, the network predicts the noise twice in one
    batch, once with the label and once with NO_LABEL; `guided_eps(eps_cond, eps_uncond,
    w)` mixes the two and `ddpm_step(eps, x_t, t, betas, alpha_bar, noise)` takes the step.

    With `clip`, the guided noise is first corrected so that the digit it implies,
    x0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t), stays within the pixel
    range [-1, 1], as the released code of Ho et al. does. The step itself is unchanged.
    Without it, strong guidance pushes pixels far outside the range (to about +-25 at
    w = 7 in our runs).

    Args:
        net: a trained denoiser.
        labels: (n,) int digits to draw, 0-9 (NO_LABEL for "any digit").
        betas, alpha_bar: (T,) tensors from the student's `linear_beta_schedule`.
        w: guidance scale: 0 ignores the label, 1 is the conditional model alone.
        keep_every: keep the samples every this many steps, for the stepper widget.
    Returns:
        `Samples`; torch runs on one thread, so `seconds` compares with
        `genlab.gan.generation_seconds`.
    """
    labels = np.asarray(labels)
    check_array(labels, "labels", shape=(None,), low=0, high=NO_LABEL)
    check_tensor(betas, "betas", shape=(None,))
    check_tensor(alpha_bar, "alpha_bar", shape=(len(betas),))
    steps_total, n = len(betas), len(labels)
    generator = torch.Generator().manual_seed(seed)
    c = torch.as_tensor(labels, dtype=torch.int64)
    both = torch.cat([c, torch.full_like(c, NO_LABEL)])
    abar = alpha_bar.double()
    x = torch.randn(n, 64, generator=generator)
    kept_steps, trajectory, predictions = [], [], []
    start = time.perf_counter()
    with one_thread(), torch.inference_mode():
        bar = tqdm(range(steps_total - 1, -1, -1), desc="sampling", disable=not progress)
        for t in bar:
            eps_cond, eps_uncond = net(torch.cat([x, x]), torch.full((2 * n,), t), both).chunk(2)
            eps = _checked(guided_eps(eps_cond, eps_uncond, w), "guided_eps(...)", eps_cond)
            signal, spread = abar[t].sqrt().item(), (1 - abar[t]).sqrt().item()
            x0 = ((x - spread * eps) / signal).clamp(-1, 1)
            if clip:  # the noise that points at the clipped digit
                eps = (x - signal * x0) / spread
            done = steps_total - 1 - t
            if keep_every and done % keep_every == 0:
                kept_steps.append(done)
                trajectory.append(x.numpy().copy())
                predictions.append(x0.numpy().copy())
            noise = torch.randn(n, 64, generator=generator)
            x = _checked(ddpm_step(eps, x, t, betas, alpha_bar, noise), "ddpm_step(...)", x)
    seconds = time.perf_counter() - start
    if keep_every:
        kept_steps.append(steps_total)
        trajectory.append(x.numpy().copy())
        predictions.append(x.clamp(-1, 1).numpy().copy())
    frames = (len(kept_steps), n, 64)
    return Samples(
        images=x.numpy(),
        labels=labels,
        w=float(w),
        seconds=seconds,
        steps=np.asarray(kept_steps, dtype=int),
        trajectory=np.asarray(trajectory, dtype=np.float32).reshape(frames),
        predictions=np.asarray(predictions, dtype=np.float32).reshape(frames),
    )
