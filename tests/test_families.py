"""Module 07's models and yardsticks: the VAE and the flow train with the student's formulas
(here, reference versions of them), the flow is exactly invertible and its density
integrates to one, and the yardsticks measure what they say on digits whose answers are
known."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # `make compat` runs without torch; `make test` with it

from families_answers import (  # noqa: E402
    coupling_forward,
    coupling_inverse,
    elbo,
    flow_log_likelihood,
    reparameterise,
)

from genlab import classifiers, data, families  # noqa: E402

SPLIT = data.load_digits()


# ---------------------------------------------------------------------------
# The digits as a density's data


def test_dequantise_spreads_each_level_over_its_own_cell_and_to_grid_undoes_it():
    levels = np.arange(17) / 16
    images = np.tile(levels, (200, 4))[:, :64]
    spread = families.dequantise(images, torch.Generator().manual_seed(0))
    k = np.round(images * 16)
    assert spread.dtype == torch.float32
    assert ((spread.numpy() >= k / 17) & (spread.numpy() < (k + 1) / 17)).all()
    np.testing.assert_array_equal(families.to_grid(spread), images)
    # the cells' edges and beyond: clipped into the grid
    np.testing.assert_array_equal(
        families.to_grid(np.array([[-0.3, 0.0, 0.999, 1.4]])), [[0, 0, 1, 1]]
    )


def test_bits_per_pixel_of_the_uniform_density_is_log2_17_and_falls_with_density():
    assert families.bits_per_pixel(torch.zeros(10)) == pytest.approx(math.log2(17))
    assert families.UNIFORM_BITS == pytest.approx(4.087, abs=1e-3)
    # a density of e^64 (one nat a pixel) saves 1 / ln 2 bits a pixel
    assert families.bits_per_pixel(torch.full((3,), 64.0)) == pytest.approx(
        math.log2(17) - 1 / math.log(2)
    )


# ---------------------------------------------------------------------------
# The VAE


@pytest.fixture(scope="module")
def vae_run():
    vae = families.VAE(latent=2, seed=0)
    training = families.train_vae(
        vae, SPLIT.X_train, reparameterise, elbo, steps=300, seed=0, progress=False
    )
    return vae, training


def test_the_vae_learns_a_bound_well_under_the_uniform_density(vae_run):
    vae, training = vae_run
    first, last = training.history[0][1], training.history[-1][1]
    assert last < first - 10  # nats per digit, from step 25 on
    bound = families.vae_elbo(vae, SPLIT.X_test, reparameterise, elbo)
    assert bound.shape == (len(SPLIT.X_test),)
    # 300 steps reach about 3.9 bits per pixel (the module's 1,000 steps: 3.4 to 3.8)
    assert families.bits_per_pixel(bound) < families.UNIFORM_BITS - 0.1


def test_vae_training_calls_the_students_functions_and_reports_a_wrong_shape():
    calls = []

    def counted(mu, logvar, eps):
        calls.append(mu.shape)
        return reparameterise(mu, logvar, eps)

    families.train_vae(families.VAE(latent=3), SPLIT.X_train, counted, elbo, steps=2,
                       batch_size=8, progress=False)  # fmt: skip
    assert calls == [torch.Size([8, 3])] * 2

    def summed(x, x_mean, log_sigma, mu, logvar):
        return elbo(x, x_mean, log_sigma, mu, logvar).sum()

    with pytest.raises(AssertionError, match=r"elbo\(x, x_mean, log_sigma, mu, logvar\)"):
        families.train_vae(families.VAE(), SPLIT.X_train, reparameterise, summed, steps=1,
                           progress=False)  # fmt: skip


def test_vae_samples_and_codes(vae_run):
    vae, _ = vae_run
    digits = vae.sample(50, seed=1)
    assert digits.shape == (50, 64)
    np.testing.assert_array_equal(digits, vae.sample(50, seed=1))
    np.testing.assert_array_equal(digits * 16, np.round(digits * 16))  # on the grid
    noisy = vae.sample(50, seed=1, noise=True)
    assert np.abs(noisy - digits).mean() > 0.02
    codes = vae.codes(SPLIT.X_train[:100])
    assert codes.shape == (100, 2)
    # the encoder separates the classes a little even after 300 steps: a 0's code is
    # nearer the 0s' centre than the 1s' centre, for most 0s
    codes = vae.codes(SPLIT.X_train)
    zeros, ones = codes[SPLIT.y_train == 0], codes[SPLIT.y_train == 1]
    to_own = np.linalg.norm(zeros - zeros.mean(0), axis=1)
    to_other = np.linalg.norm(zeros - ones.mean(0), axis=1)
    assert (to_own < to_other).mean() > 0.8


# ---------------------------------------------------------------------------
# The flow


def _shaken(flow, scale=0.3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator))
    return flow


def test_a_fresh_flow_is_the_identity_and_its_density_the_standard_gaussian():
    flow = families.ring_flow()
    x = torch.randn(5, 2)
    np.testing.assert_allclose(flow.warp(x, coupling_forward)[-1], x)
    want = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(-1)
    torch.testing.assert_close(flow_log_likelihood(x, flow.couplings), want)


def test_the_flow_samples_by_inverting_every_layer():
    flow = _shaken(families.ring_flow(n_layers=4))
    stages = flow.sample(20, coupling_inverse, seed=3, keep=True)
    assert len(stages) == 4 + 2  # z, after each layer, after postprocess
    back = flow.warp(stages[-1], coupling_forward)[-1]
    torch.testing.assert_close(back, stages[0], atol=1e-4, rtol=1e-4)


def test_the_digits_flows_logit_step_and_its_log_determinant():
    flow = families.digits_flow(n_layers=2, hidden=8)
    x = torch.rand(4, 64) * 0.9 + 0.05
    h, log_det = flow.preprocess(x)
    torch.testing.assert_close(flow.postprocess(h), x, atol=1e-5, rtol=1e-5)
    jac = torch.autograd.functional.jacobian(lambda v: flow.preprocess(v[None])[0][0], x[0])
    torch.testing.assert_close(log_det[0], torch.linalg.slogdet(jac)[1], atol=1e-3, rtol=1e-5)
    masks = [mask for mask, _ in flow.couplings]
    assert masks[0].sum() == 32 and torch.equal(masks[0] + masks[1], torch.ones(64))


def test_a_trained_2d_flow_has_a_density_that_integrates_to_one_and_fits_the_moons():
    moons = families.sample_moons(2000, seed=0)
    flow = families.ring_flow(n_layers=6, hidden=32)
    training = families.train_flow(flow, moons, flow_log_likelihood, steps=300, progress=False)
    assert training.history[-1][1] < training.history[0][1]
    # exact: the density on a fine grid sums to 1 (the tails beyond the box aside)
    side = np.linspace(-4, 4, 401)
    xx, yy = np.meshgrid(side, side)
    grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)
    density = families.flow_log_density(flow, grid, flow_log_likelihood).exp()
    assert float(density.sum()) * (side[1] - side[0]) ** 2 == pytest.approx(1.0, abs=0.02)
    held_out = families.sample_moons(1000, seed=1)
    gaussian = torch.distributions.MultivariateNormal(
        torch.as_tensor(moons.mean(0)), torch.as_tensor(np.cov(moons.T)).float()
    )
    ll = families.flow_log_density(flow, held_out, flow_log_likelihood).mean()
    assert ll > gaussian.log_prob(torch.as_tensor(held_out)).mean() + 0.3


def test_flow_training_reports_a_log_likelihood_of_the_wrong_shape():
    with pytest.raises(AssertionError, match=r"flow_log_likelihood\(x, couplings\)"):
        families.train_flow(
            families.ring_flow(), families.sample_moons(100),
            lambda x, couplings: flow_log_likelihood(x, couplings).mean(), steps=1,
            progress=False,
        )  # fmt: skip


# ---------------------------------------------------------------------------
# The yardsticks


def test_yardsticks_on_digits_whose_answers_are_known():
    critic = classifiers.digit_critic(SPLIT)
    train = SPLIT.X_train
    copies = families.yardsticks(train[:300], critic, train)
    assert copies.nearest == 0.0  # every digit is a training digit
    real = families.yardsticks(SPLIT.X_test[:300], critic, train)
    assert real.nearest > 0.8 and real.classes > 9.5
    one_class = train[SPLIT.y_train == 3][:100]
    collapsed = families.yardsticks(one_class, critic, train)
    assert collapsed.classes < 1.5
    same = families.yardsticks(np.repeat(train[:1], 50, axis=0), critic, train)
    assert same.diversity == 0.0 and same.classes == pytest.approx(1.0)
    noise = np.random.default_rng(0).random((300, 64))
    static = families.yardsticks(noise, critic, train)
    assert static.recognised < real.recognised
    # diversity is the mean distance over pairs of different digits
    two = families.yardsticks(np.stack([np.zeros(64), np.ones(64)]), critic, train)
    assert two.diversity == pytest.approx(8.0)


def test_sampling_seconds_times_the_call_it_is_given():
    sizes = []
    seconds = families.sampling_seconds(lambda n: sizes.append(n), n=1000, repeats=3)
    assert sizes == [16, 1000, 1000, 1000] and seconds >= 0
