"""The GAN of module 03 and the denoiser of module 04, shipped trained, and what they draw.

Both took longer to train than the module "More ways to create" can spend, so
`scripts/train_rivals.py` trains them once, with the configurations of their modules, and
writes `rivals.pt` (about 1.2 MB: the GAN's generator, not its discriminator, and the
denoiser), which `load_rivals` reads. `gan_digits` draws digits with the generator (one
forward pass); `diffusion_digits` draws them with the DDPM sampler of Ho et al. (2020),
1,000 passes of the denoiser; `diffusion_bits_per_pixel` computes the diffusion model's
variational bound on the negative log-likelihood of digits, the number a GAN cannot give.

What this module leaves out: training (the script's job, with the modules' exercise
solutions, which the package does not hold); the likelihood of the GAN, which has none;
faster samplers (DDIM) and importance sampling of the timesteps in the bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import diffusion, gan
from ..checks import check_array
from ..threads import one_thread

__all__ = [
    "RIVALS",
    "Rivals",
    "save_rivals",
    "load_rivals",
    "gan_digits",
    "diffusion_digits",
    "diffusion_bits_per_pixel",
]

RIVALS = Path(__file__).with_name("rivals.pt")
GUIDANCE = 2.0  # module 04's default scale of classifier-free guidance
TOP_LEVEL = 16  # the digits' pixels are k / 16 for k = 0..16: 17 grey levels


# ---------------------------------------------------------------------------
# The shipped models


@dataclass(frozen=True)
class Rivals:
    """The trained generator of module 03's digits GAN and module 04's denoiser.

    Attributes:
        generator: (batch, latent_dim) standard normal noise -> (batch, 64) digits in
            [-1, 1] (a tanh), in eval mode.
        latent_dim: the size of the generator's noise.
        denoiser: a `genlab.diffusion.Denoiser`, in eval mode.
        betas, alpha_bar: (T,) float32, the linear schedule of Ho et al. (2020) the
            denoiser was trained with (T = 1000, betas from 1e-4 to 0.02), as module 04's
            `linear_beta_schedule(1000)` makes it.
        gan_seconds, denoiser_seconds: wall-clock seconds each took to train.
        gan_steps, denoiser_steps: optimiser steps of each.
        gan_cpu_seconds, denoiser_cpu_seconds: processor seconds of each training (on one
            torch thread; what a busy machine does not inflate).
    """

    generator: nn.Module
    latent_dim: int
    denoiser: diffusion.Denoiser
    betas: torch.Tensor
    alpha_bar: torch.Tensor
    gan_seconds: float
    denoiser_seconds: float
    gan_steps: int
    denoiser_steps: int
    gan_cpu_seconds: float = math.nan
    denoiser_cpu_seconds: float = math.nan


def _schedule(steps: int = diffusion.T) -> tuple[torch.Tensor, torch.Tensor]:
    """Ho et al.'s linear schedule (betas, alpha_bar): betas evenly spaced from 1e-4 to 0.02,
    alpha_bar the running product of 1 - beta."""
    betas = torch.linspace(1e-4, 0.02, steps)
    return betas, torch.cumprod(1 - betas, dim=0)


def save_rivals(rivals: Rivals, path: Path = RIVALS) -> None:
    """Write the two networks and their training records to one file: plain tensors,
    numbers and strings, which `torch.load(weights_only=True)` reads without running code.
    The schedule is not stored: `load_rivals` computes it."""

    def state(net: nn.Module) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in net.state_dict().items()}

    torch.save(
        {
            "torch": str(torch.__version__),
            "gan": {
                "generator": state(rivals.generator),
                "latent_dim": int(rivals.latent_dim),
                "steps": int(rivals.gan_steps),
                "seconds": float(rivals.gan_seconds),
                "cpu_seconds": float(rivals.gan_cpu_seconds),
            },
            "denoiser": {
                "state": state(rivals.denoiser),
                "steps": int(rivals.denoiser_steps),
                "seconds": float(rivals.denoiser_seconds),
                "cpu_seconds": float(rivals.denoiser_cpu_seconds),
            },
        },
        path,
    )


def load_rivals(path: Path = RIVALS) -> Rivals:
    """The networks `scripts/train_rivals.py` trained, in eval mode, with their schedule.

    Leaves torch's global random state as it found it (building a network seeds it)."""
    saved = torch.load(path, weights_only=True)
    g, d = saved["gan"], saved["denoiser"]
    with torch.random.fork_rng():
        # the sizes are read off the weights: the first layer maps latent_dim to hidden numbers
        hidden, latent_dim = g["generator"]["0.weight"].shape
        generator = gan.digits_gan(hidden=hidden, latent_dim=latent_dim).generator
        denoiser = diffusion.digits_denoiser(hidden=d["state"]["inp.weight"].shape[0])
    generator.load_state_dict(g["generator"])
    denoiser.load_state_dict(d["state"])
    betas, alpha_bar = _schedule()
    return Rivals(
        generator=generator.eval(),
        latent_dim=int(latent_dim),
        denoiser=denoiser.eval(),
        betas=betas,
        alpha_bar=alpha_bar,
        gan_seconds=float(g["seconds"]),
        denoiser_seconds=float(d["seconds"]),
        gan_steps=int(g["steps"]),
        denoiser_steps=int(d["steps"]),
        gan_cpu_seconds=float(g["cpu_seconds"]),
        denoiser_cpu_seconds=float(d["cpu_seconds"]),
    )


def _to_unit(x: torch.Tensor) -> np.ndarray:
    """(n, 64) digits in [-1, 1] (or a little beyond) -> float64 in [0, 1]."""
    return ((x.double() + 1) / 2).clamp(0, 1).numpy()


# ---------------------------------------------------------------------------
# Sampling


def gan_digits(rivals: Rivals, n: int, seed: int = 0) -> np.ndarray:
    """`n` digits from the GAN: one forward pass of the generator on seeded noise.

    Returns:
        (n, 64) float64 in [0, 1], like `genlab.data.load_digits`.
    """
    z = torch.randn(n, rivals.latent_dim, generator=torch.Generator().manual_seed(seed))
    with one_thread(), torch.inference_mode():
        return _to_unit(rivals.generator(z))


def _clipped_eps(eps, x_t, signal: float, spread: float):
    """The noise that points at the digit `eps` implies, x0 = (x_t - spread eps) / signal,
    clipped to [-1, 1], as `genlab.diffusion.sample` does with clip=True (signal =
    sqrt(alpha_bar_t), spread = sqrt(1 - alpha_bar_t))."""
    x0 = ((x_t - spread * eps) / signal).clamp(-1, 1)
    return (x_t - signal * x0) / spread


def _loop(net, labels, betas, alpha_bar, generator, guided: bool) -> torch.Tensor:
    """The DDPM sampler, `genlab.diffusion.sample`'s steps and draws in one loop: with
    `guided`, the network runs twice a step, with and without each label, mixed at w =
    GUIDANCE; without, once, on the labels given (NO_LABEL: where guidance changes nothing,
    so half the passes of `sample`).

    Returns:
        (n, 64) float32, the finished samples in about [-1, 1].
    """
    n = len(labels)
    both = torch.cat([labels, torch.full_like(labels, diffusion.NO_LABEL)]) if guided else labels
    abar = alpha_bar.double()
    x = torch.randn(n, 64, generator=generator)
    for t in range(len(betas) - 1, -1, -1):
        if guided:
            cond, uncond = net(torch.cat([x, x]), torch.full((2 * n,), t), both).chunk(2)
            eps = uncond + GUIDANCE * (cond - uncond)  # classifier-free guidance
        else:
            eps = net(x, torch.full((n,), t), both)
        eps = _clipped_eps(eps, x, abar[t].sqrt().item(), (1 - abar[t]).sqrt().item())
        # the mean of p(x_{t-1} | x_t), eq. (11) of Ho et al., then sigma_t = sqrt(beta_t)
        x = (x - betas[t] / (1 - alpha_bar[t]).sqrt() * eps) / (1 - betas[t]).sqrt()
        noise = torch.randn(n, 64, generator=generator)
        if t > 0:  # the last step adds no noise
            x = x + betas[t].sqrt() * noise
    return x


def diffusion_digits(rivals: Rivals, n: int, seed: int = 0, labels=None) -> np.ndarray:
    """`n` digits from the denoiser by the DDPM sampler (Algorithm 2 of Ho et al., 2020):
    T = 1000 steps from static, sigma_t^2 = beta_t, the predicted digit clipped to [-1, 1]
    at each step as `genlab.diffusion.sample` does.

    Args:
        n: the number of digits.
        labels: None for the unconditional model (any digit); else (n,) ints 0-9, the
            digit asked for each, drawn with classifier-free guidance at module 04's
            w = 2.
    Returns:
        (n, 64) float64 in [0, 1] (the sampler's output mapped from [-1, 1] and clipped).
    """
    generator = torch.Generator().manual_seed(seed)
    if labels is None:
        # `diffusion.sample` runs every step on a doubled batch (with and without the label);
        # with no label the two halves agree, so one half does: half the time.
        labels, guided = torch.full((n,), diffusion.NO_LABEL), False
    else:
        labels = np.asarray(labels)
        check_array(labels, "labels", shape=(n,), dtype="i", low=0, high=9)
        labels, guided = torch.as_tensor(labels, dtype=torch.int64), True
    with one_thread(), torch.inference_mode():
        x = _loop(rivals.denoiser, labels, rivals.betas, rivals.alpha_bar, generator, guided)
    return _to_unit(x)


# ---------------------------------------------------------------------------
# The variational bound


def _gaussian_kl(mean1, var1, mean2, var2):
    """KL(N(mean1, var1) || N(mean2, var2)), elementwise, in nats."""
    return 0.5 * (torch.log(var2 / var1) + (var1 + (mean1 - mean2) ** 2) / var2 - 1)


def _log1mexp(x):
    """log(1 - exp(x)) for x <= 0, accurate at both ends (Maechler, 2012)."""
    return torch.where(x > -math.log(2), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def _discretised_log_likelihood(x0, mean, std):
    """log p(x0) under the discretised Gaussian decoder of Ho et al. (section 3.3): the mass
    of N(mean, std^2) over x0's bin of the 17 levels of [-1, 1].

    The levels are 2k/16 - 1; a bin reaches halfway to the next level, the outermost ones
    to -inf and +inf. The mass is Phi(b) - Phi(a) for standardised edges a < b, taken as
    log Phi(b) + log(1 - Phi(a) / Phi(b)) from log-CDFs, after reflecting a bin that lies
    right of the mean (Phi(b) - Phi(a) = Phi(-a) - Phi(-b)), so both edges sit in the lower
    tail, where log_ndtr is accurate even 90 standard deviations out.

    Args:
        x0, mean, std: broadcastable float64 tensors; x0 on the levels.
    Returns:
        float64 log-probabilities, in nats, each finite.
    """
    half = 1 / TOP_LEVEL  # levels lie 2 / 16 apart
    lower = torch.where(x0 < -1 + half / 2, -math.inf, x0 - half)
    upper = torch.where(x0 > 1 - half / 2, math.inf, x0 + half)
    a, b = (lower - mean) / std, (upper - mean) / std
    right = a > 0
    a, b = torch.where(right, -b, a), torch.where(right, -a, b)
    log_b = torch.special.log_ndtr(b)
    return log_b + _log1mexp(torch.special.log_ndtr(a) - log_b)


class _Schedule64:
    """The schedule in float64 for the bound: alpha_bar as the running product of the
    float32 betas the denoiser was trained with, so that q is exactly the Markov chain of
    these betas, and 1 - alpha_bar without cancellation."""

    def __init__(self, betas: torch.Tensor):
        self.betas = betas.double()
        log_abar = torch.cumsum(torch.log1p(-self.betas), 0)
        self.abar, self.one_minus_abar = log_abar.exp(), -torch.expm1(log_abar)

    def noised(self, x0, t: int, noise):
        """x_t drawn from q(x_t | x_0): eq. (4) of Ho et al."""
        return self.abar[t].sqrt() * x0 + self.one_minus_abar[t].sqrt() * noise

    def posterior(self, x0, x_t, t: int):
        """Mean and variance of q(x_{t-1} | x_t, x_0), eqs. (6) and (7) of Ho et al.; t >= 1."""
        beta, abar_prev = self.betas[t], self.abar[t - 1]
        to_x0 = abar_prev.sqrt() * beta / self.one_minus_abar[t]
        to_x_t = (1 - beta).sqrt() * self.one_minus_abar[t - 1] / self.one_minus_abar[t]
        return to_x0 * x0 + to_x_t * x_t, self.one_minus_abar[t - 1] / self.one_minus_abar[t] * beta

    def model_mean(self, net, x_t, t: int):
        """mu_theta(x_t, t), eq. (11) of Ho et al., from the unconditional prediction of the
        noise, clipped as the sampler clips it."""
        n = len(x_t)
        eps = net(x_t.float(), torch.full((n,), t), torch.full((n,), diffusion.NO_LABEL))
        spread = self.one_minus_abar[t].sqrt()
        eps = _clipped_eps(eps.double(), x_t, self.abar[t].sqrt(), spread)
        return (x_t - self.betas[t] / spread * eps) / (1 - self.betas[t]).sqrt()


def _bound_terms(net, x0: torch.Tensor, betas, generator: torch.Generator) -> torch.Tensor:
    """The three parts of eq. (5) of Ho et al. for each image, in nats, summed over pixels.

    In the code's count t = 0..T-1 (the paper's t = 1..T). p_theta(x_{t-1} | x_t) is
    N(mu_theta, beta_t), the sampler's variance. The decoder p_theta(x_0 | x_1) takes the
    same choice at the last step, std sqrt(beta_1) = 0.01 (a sixth of a half-bin): the
    sampler adds no noise there, which as a density would give the discrete image
    probability 0 or 1, so it is not an option for a likelihood. (The released code of Ho
    et al. takes beta-tilde_2 there, a std of 0.0074; either way L_0 is about 1e-5 bits
    per pixel on real digits.)

    Args:
        x0: (n, 64) float64 on the 17 levels of [-1, 1].
        generator: draws one x_t per image and timestep.
    Returns:
        (n, 3) float64: L_T, the sum of L_{t-1} over t = 2..T, and L_0.
    """
    s = _Schedule64(betas)
    last = len(s.betas) - 1
    prior = _gaussian_kl(s.abar[last].sqrt() * x0, s.one_minus_abar[last], 0.0, 1.0)
    kl = torch.zeros(len(x0), dtype=torch.float64)
    for t in range(last, 0, -1):
        x_t = s.noised(x0, t, torch.randn(x0.shape, generator=generator, dtype=torch.float64))
        mean, var = s.posterior(x0, x_t, t)
        kl += _gaussian_kl(mean, var, s.model_mean(net, x_t, t), s.betas[t]).sum(1)
    x_1 = s.noised(x0, 0, torch.randn(x0.shape, generator=generator, dtype=torch.float64))
    decoder = _discretised_log_likelihood(x0, s.model_mean(net, x_1, 0), s.betas[0].sqrt())
    return torch.stack([prior.sum(1), kl, -decoder.sum(1)], 1)


def _on_levels(images01) -> torch.Tensor:
    """(n, 64) pixels k / 16 in [0, 1] -> float64 levels 2k / 16 - 1 in [-1, 1]."""
    check_array(images01, "images01", shape=(None, 64), low=0, high=1)
    k = np.rint(np.asarray(images01, dtype=np.float64) * TOP_LEVEL)
    if np.abs(np.asarray(images01) * TOP_LEVEL - k).max(initial=0) > 1e-4:
        raise ValueError("images01 should hold the 17 grey levels k / 16 of the digits only")
    return torch.as_tensor(2 * k / TOP_LEVEL - 1)


def diffusion_bits_per_pixel(rivals: Rivals, images01, seed: int = 0) -> np.ndarray:
    """The variational bound of Ho et al. (2020, eq. 5) on the negative log-likelihood of
    each digit under the unconditional diffusion model, in bits per pixel.

    The bound is L_T + sum over t = 2..T of L_{t-1} + L_0, every timestep summed (1,000
    passes of the network over the images), with one x_t drawn per image and timestep. It is
    the number of bits the model would need per pixel to encode the discrete image of 17
    grey levels; a model that knew nothing, all 17 levels equally likely, needs log2(17) =
    4.09. L_{t-1} compares the true reverse step q(x_{t-1} | x_t, x_0) with the model's,
    N(mu_theta, beta_t) with the mean clipped as the sampler clips it; L_0 is the
    discretised Gaussian decoder of section 3.3 with std sqrt(beta_1).

    On 300 held-out digits: 3.76 bits per pixel, three quarters of it from the 50 least
    noisy steps, where the network cannot tell the little noise from the digit (its mean
    squared error on the noise is 0.55 to 1 there, against 0.005 for t > 500); Nichol and
    Dhariwal (2021) find the first steps dominate the bound too. A histogram of each
    pixel's 17 levels, fitted on the training digits, needs 2.44.

    Args:
        images01: (n, 64) float digits in [0, 1] on the grid k / 16, like
            `genlab.data.load_digits`.
        seed: seeds the draws of x_t (drawn for all the images together, in order).
    Returns:
        (n,) float64 bits per pixel, an upper bound on -log2 p(image) / 64.
    """
    x0 = _on_levels(images01)
    generator = torch.Generator().manual_seed(seed)
    with one_thread(), torch.inference_mode():
        # 500 images at a time keep the memory to a few MB
        chunks = [_bound_terms(rivals.denoiser, c, rivals.betas, generator) for c in x0.split(500)]
        nats = torch.cat(chunks)
    return (nats.sum(1) / (64 * math.log(2))).numpy()
