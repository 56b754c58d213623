"""The shipped GAN and denoiser of "More ways to create": the checkpoint, the two samplers,
the diffusion model's bound in bits per pixel and the script that trains them."""

import importlib.util
import math
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # `make compat` runs without torch; `make test` with it

from course import ROOT  # noqa: E402
from torch.distributions import Normal, kl_divergence  # noqa: E402

from genlab import classifiers, data, diffusion  # noqa: E402
from genlab.checks import CheckFailed  # noqa: E402
from genlab.families import rivals  # noqa: E402

UNIFORM_BITS = math.log2(17)  # every one of the 17 grey levels equally likely: 4.087


@pytest.fixture(scope="module")
def split():
    return data.load_digits()


@pytest.fixture(scope="module")
def shipped():
    return rivals.load_rivals()


def _script():
    spec = importlib.util.spec_from_file_location(
        "train_rivals", ROOT / "scripts" / "train_rivals.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


# ---------------------------------------------------------------------------
# The checkpoint


def test_the_checkpoint_is_plain_data_the_generator_and_the_denoiser():
    saved = torch.load(rivals.RIVALS, weights_only=True)  # no code runs to read it
    assert rivals.RIVALS.stat().st_size < 1.5e6
    assert set(saved) == {"torch", "gan", "denoiser"}
    linears = {f"{layer}.{p}" for layer in (0, 2, 4) for p in ("weight", "bias")}
    assert set(saved["gan"]["generator"]) == linears  # no discriminator
    for part in ("gan", "denoiser"):
        assert saved[part]["steps"] == 5000, part  # the modules' configurations
        assert 0 < saved[part]["cpu_seconds"] < 1000 and 0 < saved[part]["seconds"] < 1000, part


def test_load_rivals_rebuilds_the_networks_in_eval_mode_and_leaves_the_global_seed(shipped):
    state = torch.get_rng_state()
    loaded = rivals.load_rivals()
    assert torch.equal(torch.get_rng_state(), state)
    assert not loaded.generator.training and not loaded.denoiser.training
    assert isinstance(loaded.denoiser, diffusion.Denoiser) and loaded.latent_dim == 32
    assert (loaded.gan_steps, loaded.denoiser_steps) == (5000, 5000)
    assert loaded.gan_seconds > 1 and loaded.denoiser_seconds > 1


def test_the_schedule_is_ho_et_als_linear_one(shipped):
    betas, alpha_bar = shipped.betas, shipped.alpha_bar
    assert betas.dtype == alpha_bar.dtype == torch.float32 and betas.shape == (1000,)
    assert torch.allclose(betas[[0, -1]], torch.tensor([1e-4, 0.02]))
    assert torch.allclose(betas.diff(), torch.full((999,), 1.99e-2 / 999), rtol=1e-3)
    assert alpha_bar[-1].item() == pytest.approx(4.0358e-5, rel=1e-3)


def test_rivals_come_back_from_a_file(tmp_path, shipped):
    path = tmp_path / "rivals.pt"
    rivals.save_rivals(shipped, path)
    back = rivals.load_rivals(path)
    for name in ("generator", "denoiser"):
        a, b = getattr(shipped, name).state_dict(), getattr(back, name).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    for name in ("latent_dim", "gan_seconds", "denoiser_seconds", "gan_steps", "denoiser_steps"):
        assert getattr(back, name) == getattr(shipped, name), name


# ---------------------------------------------------------------------------
# Sampling


def test_gan_digits_are_seeded_digits_in_the_unit_interval(shipped, split):
    digits = rivals.gan_digits(shipped, 500, seed=0)
    assert digits.shape == (500, 64) and digits.dtype == np.float64
    assert digits.min() >= 0 and digits.max() <= 1 and digits.std() > 0.2
    assert np.array_equal(digits[:7], rivals.gan_digits(shipped, 7, seed=0))
    assert not np.allclose(digits[:7], rivals.gan_digits(shipped, 7, seed=1))
    critic = classifiers.digit_critic(split)
    confidence = critic.predict_proba(digits).max(axis=1).mean()
    # measured 0.79 (0.78 to 0.79 over seeds 0-3); real test digits 0.90, uniform noise 0.53
    assert confidence > 0.7, confidence


def test_unconditional_diffusion_is_diffusion_sample_with_no_label_on_half_the_batch(shipped):
    digits = rivals.diffusion_digits(shipped, 6, seed=3)
    assert digits.shape == (6, 64) and digits.dtype == np.float64
    assert digits.min() >= 0 and digits.max() <= 1
    assert np.array_equal(digits, rivals.diffusion_digits(shipped, 6, seed=3))
    assert not np.allclose(digits, rivals.diffusion_digits(shipped, 6, seed=4))
    reference = diffusion.sample(
        shipped.denoiser,
        np.full(6, diffusion.NO_LABEL),
        shipped.betas,
        shipped.alpha_bar,
        _ddpm_step,
        _guided_eps,
        w=0.0,
        seed=3,
    )
    assert np.allclose(digits, np.clip((reference.images + 1) / 2, 0, 1), atol=1e-5)


def _ddpm_step(eps, x_t, t, betas, alpha_bar, noise):  # module 04's step, written again
    mean = (x_t - betas[t] / (1 - alpha_bar[t]).sqrt() * eps) / (1 - betas[t]).sqrt()
    return mean + betas[t].sqrt() * noise if t > 0 else mean


def _guided_eps(eps_cond, eps_uncond, w):  # module 04's guidance, written again
    return eps_uncond + w * (eps_cond - eps_uncond)


def test_conditional_diffusion_is_diffusion_sample_at_module_04s_guidance(shipped):
    asked = np.array([3, 0, 7])
    digits = rivals.diffusion_digits(shipped, 3, seed=2, labels=asked)
    reference = diffusion.sample(
        shipped.denoiser, asked, shipped.betas, shipped.alpha_bar, _ddpm_step, _guided_eps,
        w=rivals.GUIDANCE, seed=2,
    )  # fmt: skip
    assert np.allclose(digits, np.clip((reference.images + 1) / 2, 0, 1), atol=1e-5)


def test_conditional_diffusion_draws_the_digits_asked_for(shipped, split):
    asked = np.arange(20) % 10
    digits = rivals.diffusion_digits(shipped, 20, seed=0, labels=asked)
    assert digits.shape == (20, 64) and digits.min() >= 0 and digits.max() <= 1
    three = rivals.diffusion_digits(shipped, 3, seed=5, labels=asked[:3])
    assert np.array_equal(three, rivals.diffusion_digits(shipped, 3, seed=5, labels=asked[:3]))
    recognised = (classifiers.digit_critic(split).predict(digits) == asked).mean()
    assert recognised >= 0.9, recognised  # measured 100% of 250, 500 and 1,000 at w = 2
    with pytest.raises(CheckFailed, match="shape"):
        rivals.diffusion_digits(shipped, 5, labels=asked)


# ---------------------------------------------------------------------------
# The bound in bits per pixel


def test_the_bound_on_real_digits_beats_uniform_levels_and_noise_is_far_worse(shipped, split):
    real = rivals.diffusion_bits_per_pixel(shipped, split.X_test[:20], seed=0)
    noise = np.random.default_rng(0).integers(0, 17, (10, 64)) / 16  # random levels k / 16
    noisy = rivals.diffusion_bits_per_pixel(shipped, noise, seed=0)
    assert real.shape == (20,) and real.dtype == np.float64
    assert np.isfinite(real).all() and (real > 0).all()
    # measured 3.80 on these 20, 3.76 on 300 test digits; single digits reach 6
    assert real.mean() < UNIFORM_BITS, real.mean()
    assert noisy.min() > 3 * UNIFORM_BITS, noisy  # measured 33 on average
    five = rivals.diffusion_bits_per_pixel(shipped, split.X_test[:5], seed=0)
    assert np.array_equal(five, rivals.diffusion_bits_per_pixel(shipped, split.X_test[:5]))
    again = rivals.diffusion_bits_per_pixel(shipped, split.X_test[:5], seed=1)
    # another draw of each x_t moves a digit's bound by about 0.2 bits (sd over 300 digits)
    assert not np.array_equal(five, again) and np.allclose(five, again, atol=1.0)
    with pytest.raises(ValueError, match="17 grey levels"):
        rivals.diffusion_bits_per_pixel(shipped, split.X_test[:2] * 0.99)


def test_gaussian_kl_is_torchs():
    generator = torch.Generator().manual_seed(0)
    m1, m2 = torch.randn(2, 100, generator=generator, dtype=torch.float64)
    v1, v2 = torch.rand(2, 100, generator=generator, dtype=torch.float64) * 2 + 1e-4
    want = kl_divergence(Normal(m1, v1.sqrt()), Normal(m2, v2.sqrt()))
    assert torch.allclose(rivals._gaussian_kl(m1, v1, m2, v2), want, rtol=1e-10, atol=1e-12)


def test_the_discretised_decoder_is_the_normal_mass_of_the_bins():
    levels = torch.arange(17, dtype=torch.float64) / 8 - 1  # 2k / 16 - 1
    inf = torch.tensor([math.inf], dtype=torch.float64)
    edges = torch.cat([-inf, (levels[1:] + levels[:-1]) / 2, inf])
    for mean, std in [(0.3, 0.2), (-0.97, 0.05), (1.2, 0.5), (0.0, 1.0)]:
        mean = torch.tensor(mean, dtype=torch.float64)
        normal = Normal(mean, std)
        want = (normal.cdf(edges[1:]) - normal.cdf(edges[:-1])).log()
        got = rivals._discretised_log_likelihood(levels, mean, std)
        assert torch.isfinite(got).all() and got.exp().sum().item() == pytest.approx(1, abs=1e-12)
        # where the difference of CDFs keeps its digits: torch's cdf, 0.5 (1 + erf), loses
        # them in the lower tail (and is 0 by 40 standard deviations)
        kept = want > -15
        assert torch.allclose(got[kept], want[kept], rtol=1e-9), (mean, std)
    # 94 standard deviations out, where the difference of CDFs is 0 in float64: the mass of
    # the top bin is Phi(-z) = pdf(z) / z (1 - 1/z^2 + 3/z^4 ...), Mills' ratio
    z = (1 - 1 / 16) / 0.01
    one, zero = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)
    top = rivals._discretised_log_likelihood(one, zero, 0.01)
    mills = Normal(0.0, 1.0).log_prob(torch.tensor(z, dtype=torch.float64)) - math.log(z)
    assert top.item() == pytest.approx(mills.item() + math.log1p(-1 / z**2 + 3 / z**4), rel=1e-9)
    bottom = rivals._discretised_log_likelihood(-one, zero, 0.01)
    assert bottom.item() == top.item()  # the mirror image


def test_one_reverse_step_kl_is_torchs_between_bayes_posterior_and_the_model(shipped):
    s = rivals._Schedule64(shipped.betas)
    t, generator = 37, torch.Generator().manual_seed(0)
    x0 = torch.as_tensor(np.rint(np.random.default_rng(0).random((4, 64)) * 16) / 8 - 1)
    x_t = s.noised(x0, t, torch.randn(x0.shape, generator=generator, dtype=torch.float64))
    # Bayes' rule: q(x_{t-1} | x_0) = N(sqrt(abar_{t-1}) x_0, 1 - abar_{t-1}) times
    # q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t), as a function of x_{t-1}
    abar = torch.cumprod(1 - shipped.betas.double(), 0)
    beta = shipped.betas.double()[t]
    precision = 1 / (1 - abar[t - 1]) + (1 - beta) / beta
    var = 1 / precision
    mean = var * (abar[t - 1].sqrt() * x0 / (1 - abar[t - 1]) + (1 - beta).sqrt() * x_t / beta)
    got_mean, got_var = s.posterior(x0, x_t, t)
    assert torch.allclose(got_mean, mean, rtol=1e-9) and got_var.item() == pytest.approx(var.item())
    with torch.inference_mode():
        model = s.model_mean(shipped.denoiser, x_t, t)
        eps = shipped.denoiser(x_t.float(), torch.full((4,), t), torch.full((4,), 10)).double()
    signal, spread = abar[t].sqrt(), (1 - abar[t]).sqrt()
    x0_hat = ((x_t - spread * eps) / signal).clamp(-1, 1)  # as diffusion.sample clips
    eps = (x_t - signal * x0_hat) / spread
    assert torch.allclose(model, (x_t - beta / spread * eps) / (1 - beta).sqrt(), rtol=1e-6)
    want = kl_divergence(Normal(mean, var.sqrt()), Normal(model, beta.sqrt())).sum(1)
    assert torch.allclose(rivals._gaussian_kl(got_mean, got_var, model, beta).sum(1), want)


def test_a_denoiser_that_knows_the_noise_pays_only_the_variances_and_the_prior():
    """With the true noise, every model mean is the posterior mean: the bound's reverse
    steps cost only the mismatch of the variances beta_t and beta-tilde_t."""
    betas = rivals._schedule()[0]
    x0 = torch.as_tensor(np.rint(np.random.default_rng(1).random((3, 64)) * 16) / 8 - 1)
    abar = torch.cumprod(1 - betas.double(), 0)

    def oracle(x_t, t, labels):
        assert (labels == diffusion.NO_LABEL).all()  # the unconditional model
        return (x_t.double() - abar[t[0]].sqrt() * x0) / (1 - abar[t[0]]).sqrt()

    terms = rivals._bound_terms(oracle, x0, betas, torch.Generator().manual_seed(0))
    prior = kl_divergence(Normal(abar[-1].sqrt() * x0, (1 - abar[-1]).sqrt()), Normal(0.0, 1.0))
    tilde = (1 - abar[:-1]) / (1 - abar[1:]) * betas.double()[1:]  # beta-tilde, t = 1..T-1
    steps = 64 * kl_divergence(Normal(0.0, tilde.sqrt()), Normal(0.0, betas.double()[1:].sqrt()))
    assert torch.allclose(terms[:, 0], prior.sum(1), rtol=1e-9)
    assert torch.allclose(terms[:, 1], steps.sum().expand(3), rtol=1e-6)  # 21.6 nats
    assert (terms[:, 2] >= 0).all() and (terms[:, 2] < 1e-6).all()  # bins 6 std wide each way


# ---------------------------------------------------------------------------
# The script


def test_the_script_trains_both_models_and_the_file_reads_back(tmp_path):
    trained = _script().train_both(seed=0, steps=20)
    assert (trained.gan_steps, trained.denoiser_steps) == (20, 20)
    assert trained.gan_cpu_seconds > 0 and trained.denoiser_seconds > 0
    rivals.save_rivals(trained, tmp_path / "rivals.pt")
    assert 1.0e6 < (tmp_path / "rivals.pt").stat().st_size < 1.4e6
    back = rivals.load_rivals(tmp_path / "rivals.pt")
    assert back.gan_steps == 20 and rivals.gan_digits(back, 3).shape == (3, 64)


def test_the_script_explains_itself():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train_rivals.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--seed" in done.stdout and "--out" in done.stdout
