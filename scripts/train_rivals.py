"""Train module 03's digits GAN and module 04's denoiser as their modules do, and save them.

The module "More ways to create" compares the families of generative models on the 8x8
digits. Two of them were trained in earlier modules, each for 5,000 steps, too slowly to
train again within this module's 90 seconds. So this script trains both once, with the
exact configurations of their modules (the same networks, data, steps, batches and seeds,
and the modules' exercise solutions, copied below, since the package holds no answers),
and writes `genlab/families/rivals.pt` (about 1.2 MB: the GAN's generator, not its
discriminator, and the denoiser), which the package ships and `rivals.load_rivals` reads.

Run from the repository root (a minute or two):

    .venv/bin/python scripts/train_rivals.py

Training is seeded, on one torch thread; the file records each model's steps, its
wall-clock and processor seconds of training, and the torch version.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from genlab import data, diffusion, gan
from genlab.families import rivals

# ---------------------------------------------------------------------------
# Module 03's solutions (source/03-forger-and-detective)


def discriminator_loss(real_logits, fake_logits):
    # -log sigmoid(l) = softplus(-l) and -log(1 - sigmoid(l)) = softplus(l), without overflow
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits):
    return F.softplus(-fake_logits).mean()


def train_step(players, real, z, d_loss_fn, g_loss_fn):
    fakes = players.generator(z)
    d_loss = d_loss_fn(players.discriminator(real), players.discriminator(fakes.detach()))
    players.d_opt.zero_grad()
    d_loss.backward()
    players.d_opt.step()
    g_loss = g_loss_fn(players.discriminator(fakes))
    players.g_opt.zero_grad()
    g_loss.backward()
    players.g_opt.step()
    return d_loss.item(), g_loss.item()


# ---------------------------------------------------------------------------
# Module 04's solutions (source/04-sculpting-from-static)


def linear_beta_schedule(T, beta_start=1e-4, beta_end=0.02):
    betas = torch.linspace(beta_start, beta_end, T)
    alpha_bar = torch.cumprod(1 - betas, dim=0)
    return betas, alpha_bar


def add_noise(x0, noise, t, alpha_bar):
    weight = alpha_bar[t][:, None]  # (batch, 1): one weight per row, the same for every pixel
    return weight.sqrt() * x0 + (1 - weight).sqrt() * noise


# ---------------------------------------------------------------------------


def _timed(train):
    """Run `train()`; return its result, wall-clock seconds and processor seconds."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = train()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def train_both(seed: int = 0, steps: int = 5000) -> rivals.Rivals:
    """Both models as their modules train them (steps=5000 there; fewer only for tests)."""
    split = data.load_digits()
    forger, gan_wall, gan_cpu = _timed(
        lambda: gan.train_gan(
            gan.digits_gan(seed=seed),
            gan.digits_for_gan(split.X_train),
            train_step,
            discriminator_loss,
            generator_loss,
            steps=steps,
            batch_size=128,
            snapshot_every=500,
            seed=seed,
            desc="digits GAN",
        )
    )
    betas, alpha_bar = linear_beta_schedule(1000)
    digits = 2 * split.X_train - 1  # (1257, 64): pixels from [0, 1] to [-1, 1]
    training, denoiser_wall, denoiser_cpu = _timed(
        lambda: diffusion.train_denoiser(
            diffusion.digits_denoiser(seed=seed),
            digits,
            split.y_train,
            add_noise,
            alpha_bar,
            steps=steps,
            seed=seed,
        )
    )
    _, d_loss, g_loss = forger.history[-1]
    print(f"GAN: {steps} steps, {gan_wall:.1f} s of clock, {gan_cpu:.1f} s of processor, "
          f"last losses {d_loss:.3f} (D) {g_loss:.3f} (G)")  # fmt: skip
    print(f"denoiser: {steps} steps, {denoiser_wall:.1f} s of clock, {denoiser_cpu:.1f} s of "
          f"processor, last loss {training.history[-1][1]:.3f}")  # fmt: skip
    return rivals.Rivals(
        generator=forger.gan.generator.eval(),
        latent_dim=forger.gan.latent_dim,
        denoiser=training.net.eval(),
        betas=betas,
        alpha_bar=alpha_bar,
        gan_seconds=gan_wall,
        denoiser_seconds=denoiser_wall,
        gan_steps=forger.history[-1][0],  # the last step taken
        denoiser_steps=training.history[-1][0],
        gan_cpu_seconds=gan_cpu,
        denoiser_cpu_seconds=denoiser_cpu,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seed", type=int, default=0, help="the shipped file: 0, the modules' seed"
    )
    parser.add_argument("--out", type=Path, default=rivals.RIVALS)
    args = parser.parse_args()
    rivals.save_rivals(train_both(args.seed), args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
