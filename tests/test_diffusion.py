"""The denoiser, its training and sampling loops, the module-04 figures and widgets.

The schedule, `add_noise`, `ddpm_step`, `guided_eps` and the diversity measure are the
student's in the notebook; the ones here are written plainly for these tests, so genlab
is measured without holding an answer. The slow test at the end trains the module's
denoiser and holds it to the figures the module promises.
"""

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # `make compat` runs without torch; `make test` with it

from course import latency_report  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.metrics import pairwise_distances  # noqa: E402

from genlab import classifiers, data, diffusion, gan  # noqa: E402
from genlab.checks import CheckFailed  # noqa: E402


def linear_beta_schedule(T, beta_start=1e-4, beta_end=0.02):
    betas = torch.linspace(beta_start, beta_end, T)
    return betas, torch.cumprod(1 - betas, 0)


def add_noise(x0, noise, t, alpha_bar):
    weight = alpha_bar[t][:, None]
    return weight.sqrt() * x0 + (1 - weight).sqrt() * noise


def ddpm_step(eps_pred, x_t, t, betas, alpha_bar, noise):
    mean = (x_t - betas[t] / (1 - alpha_bar[t]).sqrt() * eps_pred) / (1 - betas[t]).sqrt()
    return mean + betas[t].sqrt() * noise if t > 0 else mean


def guided_eps(eps_cond, eps_uncond, w):
    return eps_uncond + w * (eps_cond - eps_uncond)


def diversity(images, labels):
    means = []
    for label in np.unique(labels):
        group = images[labels == label]
        means.append(pairwise_distances(group).sum() / (len(group) * (len(group) - 1)))
    return float(np.mean(means))


BETAS, ALPHA_BAR = linear_beta_schedule(1000)
SHORT_BETAS, SHORT_ALPHA_BAR = linear_beta_schedule(50, 1e-3, 0.2)  # 50 steps to static


@pytest.fixture(scope="module")
def split():
    return data.load_digits()


def train_on_digits(
    split, steps, hidden=16, net_seed=0, noiser=add_noise, alpha_bar=ALPHA_BAR, **training
):
    """A fresh denoiser trained on the training digits scaled to [-1, 1], quietly."""
    return diffusion.train_denoiser(
        diffusion.digits_denoiser(seed=net_seed, hidden=hidden),
        2 * split.X_train - 1,
        split.y_train,
        noiser,
        alpha_bar,
        steps=steps,
        progress=False,
        **training,
    )


@pytest.fixture(scope="module")
def short_training(split):
    """A denoiser trained for a few hundred steps: enough to test the loops, not to draw."""
    return train_on_digits(split, 200, hidden=32, alpha_bar=SHORT_ALPHA_BAR)


def short_samples(training, labels, **options):
    return diffusion.sample(
        training.net, labels, SHORT_BETAS, SHORT_ALPHA_BAR, ddpm_step, guided_eps, **options
    )


# ---------------------------------------------------------------------------
# The network and the training loop


def test_the_denoiser_predicts_noise_of_the_input_shape_for_any_timestep_and_label():
    net = diffusion.digits_denoiser(seed=0)
    x = torch.randn(5, 64)
    t = torch.tensor([0, 1, 500, 998, 999])
    labels = torch.tensor([0, 3, 9, diffusion.NO_LABEL, 5])
    out = net(x, t, labels)
    assert out.shape == (5, 64) and torch.isfinite(out).all()
    assert sum(p.numel() for p in net.parameters()) < 250_000  # small enough for CPU
    again = diffusion.digits_denoiser(seed=0)(x, t, labels)
    assert torch.equal(out, again)  # seeded
    label_only = net(x[:1].repeat(2, 1), t[:1].repeat(2), torch.tensor([1, 7]))
    assert not torch.allclose(label_only[0], label_only[1])  # the label reaches the output


def test_training_calls_add_noise_with_a_batch_of_timesteps_and_lowers_the_loss(split):
    calls = []

    def spy(x0, noise, t, alpha_bar):
        calls.append((x0.shape, noise.shape, t.shape, t.dtype, int(t.min()), int(t.max())))
        return add_noise(x0, noise, t, alpha_bar)

    training = train_on_digits(split, 400, hidden=64, noiser=spy, batch_size=128)
    assert len(calls) == 400
    assert calls[0][:4] == ((128, 64), (128, 64), (128,), torch.int64)
    assert min(c[4] for c in calls) >= 0 and max(c[5] for c in calls) <= 999
    steps, losses = np.array(training.history).T
    assert steps[-1] == 400 and training.seconds > 0
    assert losses[0] > 0.5  # near the noise's variance at first
    assert losses[-4:].mean() < 0.6 * losses[:2].mean()


def test_training_is_reproducible(split):
    runs = [train_on_digits(split, 60, net_seed=1, seed=3) for _ in range(2)]
    assert runs[0].history == runs[1].history


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda x0, noise, t, ab: (x0 + noise).numpy(), "to be a torch tensor"),
        (lambda x0, noise, t, ab: ab[t, None, None] * x0, r"\(64, 64\), got \(64, 64, 64\)"),
        (lambda x0, noise, t, ab: (x0 + noise)[:, :8], r"shape \(64, 64\), got \(64, 8\)"),
        (lambda x0, noise, t, ab: x0 / 0.0, "NaN or infinite values\\.$"),
    ],
)
def test_a_wrong_add_noise_stops_training_with_a_message_that_names_it(split, wrong, message):
    with pytest.raises((CheckFailed, RuntimeError), match=message):
        train_on_digits(split, 3, noiser=wrong, batch_size=64)


def test_training_refuses_digits_outside_the_model_range(split):
    with pytest.raises(CheckFailed, match="images"):
        diffusion.train_denoiser(
            diffusion.digits_denoiser(hidden=16),
            split.X_train * 16,
            split.y_train,
            add_noise,
            ALPHA_BAR,
            steps=1,
            progress=False,
        )


# ---------------------------------------------------------------------------
# Sampling


def test_sampling_keeps_the_trajectory_from_static_to_the_finished_digits(short_training):
    labels = np.tile(np.arange(10), 2)
    drawn = short_samples(short_training, labels, keep_every=10, seed=4)
    assert drawn.images.shape == (20, 64) and drawn.images.dtype == np.float32
    assert drawn.steps.tolist() == [0, 10, 20, 30, 40, 50]
    assert drawn.trajectory.shape == drawn.predictions.shape == (6, 20, 64)
    np.testing.assert_array_equal(drawn.trajectory[-1], drawn.images)
    start = torch.randn(20, 64, generator=torch.Generator().manual_seed(4)).numpy()
    np.testing.assert_array_equal(drawn.trajectory[0], start)  # pure static, seeded
    assert np.abs(drawn.predictions).max() <= 1
    assert np.abs(drawn.images).max() <= 1 + 1e-5  # the last step lands on the clipped guess
    assert drawn.seconds > 0 and drawn.w == 2.0
    np.testing.assert_array_equal(drawn.labels, labels)


def test_sampling_is_seeded_and_keeps_no_trajectory_unless_asked(short_training):
    a, b = (short_samples(short_training, [1, 2, 3], seed=5) for _ in range(2))
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, short_samples(short_training, [1, 2, 3], seed=6).images)
    assert a.steps.shape == (0,) and a.trajectory.shape == (0, 3, 64)


def test_at_guidance_zero_the_label_is_ignored(short_training):
    asked_a = short_samples(short_training, [0, 1, 2], w=0.0, seed=7)
    asked_b = short_samples(short_training, [7, 8, 9], w=0.0, seed=7)
    np.testing.assert_allclose(asked_a.images, asked_b.images, atol=1e-6)
    guided = short_samples(short_training, [7, 8, 9], w=1.0, seed=7)
    assert not np.allclose(asked_a.images, guided.images, atol=1e-3)


def test_sampling_calls_the_students_functions_once_per_step_in_order(short_training):
    seen = []

    def spy_step(eps, x, t, betas, alpha_bar, noise):
        seen.append(("step", t, tuple(eps.shape), tuple(noise.shape)))
        return ddpm_step(eps, x, t, betas, alpha_bar, noise)

    def spy_guidance(eps_cond, eps_uncond, w):
        seen.append(("guidance", w, tuple(eps_cond.shape), tuple(eps_uncond.shape)))
        return guided_eps(eps_cond, eps_uncond, w)

    diffusion.sample(
        short_training.net, [4, 5], SHORT_BETAS, SHORT_ALPHA_BAR, spy_step, spy_guidance, w=3.0
    )
    assert [s[1] for s in seen if s[0] == "step"] == list(range(49, -1, -1))
    assert {s for s in seen if s[0] == "guidance"} == {("guidance", 3.0, (2, 64), (2, 64))}
    assert {s[2:] for s in seen if s[0] == "step"} == {((2, 64), (2, 64))}


def test_clipping_only_changes_what_would_leave_the_pixel_range(short_training):
    clipped = short_samples(short_training, [3, 3], w=7.0, seed=8)
    free = short_samples(short_training, [3, 3], w=7.0, seed=8, clip=False)
    assert np.abs(free.images).max() > 1.5  # strong guidance overshoots without clipping
    assert np.abs(clipped.images).max() <= 1 + 1e-5


def test_clipping_hands_the_step_the_noise_of_the_clipped_digit(short_training):
    """The released DDPM code steps to the posterior mean of the clipped x0; handing the
    eps-form step the noise that x0 implies must give the same digit."""
    guided, stepped = [], []

    def spy_guidance(eps_cond, eps_uncond, w):
        guided.append(guided_eps(eps_cond, eps_uncond, w))
        return guided[-1]

    def spy_step(eps, x, t, betas, alpha_bar, noise):
        stepped.append((eps, x, t))
        return ddpm_step(eps, x, t, betas, alpha_bar, noise)

    diffusion.sample(
        short_training.net, [3, 8], SHORT_BETAS, SHORT_ALPHA_BAR, spy_step, spy_guidance, w=7.0
    )
    abar, betas = SHORT_ALPHA_BAR.double(), SHORT_BETAS.double()
    clipped_somewhere = False
    for raw, (eps, x, t) in zip(guided, stepped, strict=True):
        raw, eps, x = raw.double(), eps.double(), x.double()
        x0 = ((x - (1 - abar[t]).sqrt() * raw) / abar[t].sqrt()).clamp(-1, 1)
        clipped_somewhere |= not torch.allclose(raw, eps)
        previous = abar[t - 1] if t > 0 else torch.tensor(1.0, dtype=torch.float64)
        posterior_mean = (  # eq. (7) of Ho et al. with the clipped x0
            previous.sqrt() * betas[t] / (1 - abar[t]) * x0
            + (1 - betas[t]).sqrt() * (1 - previous) / (1 - abar[t]) * x
        )
        eps_form = (x - betas[t] / (1 - abar[t]).sqrt() * eps) / (1 - betas[t]).sqrt()
        torch.testing.assert_close(eps_form, posterior_mean, rtol=1e-4, atol=1e-4)
    assert clipped_somewhere


@pytest.mark.parametrize(
    "step, guidance, message",
    [
        (lambda *a: ddpm_step(*a).numpy(), guided_eps, r"`ddpm_step\(...\)` to be a torch tensor"),
        (lambda *a: ddpm_step(*a)[0], guided_eps, r"`ddpm_step\(...\)` to have shape \(2, 64\)"),
        (ddpm_step, lambda c, u, w: c.sum(), r"`guided_eps\(...\)` to have shape \(2, 64\)"),
    ],
)
def test_a_wrong_step_or_guidance_stops_sampling_with_a_message(
    short_training, step, guidance, message
):
    with pytest.raises(CheckFailed, match=message):
        diffusion.sample(short_training.net, [1, 2], SHORT_BETAS, SHORT_ALPHA_BAR, step, guidance)


def test_sampling_runs_on_one_thread_then_restores_the_setting(short_training):
    before = torch.get_num_threads()
    threads = []

    def spy_step(*args):
        threads.append(torch.get_num_threads())
        return ddpm_step(*args)

    torch.set_num_threads(3)  # not 1, so that a restore can be told from no restore
    try:
        diffusion.sample(
            short_training.net, [1], SHORT_BETAS, SHORT_ALPHA_BAR, spy_step, guided_eps
        )
        assert set(threads) == {1} and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------
# Figures and widgets


@pytest.fixture(scope="module")
def journey(short_training):
    return short_samples(short_training, np.tile(np.arange(10), 2), keep_every=5, seed=9)


@pytest.fixture(scope="module")
def sweep(short_training):
    labels = np.repeat(np.arange(10), 3)
    return {w: short_samples(short_training, labels, w=w, seed=10) for w in (0, 1, 4)}


def _png_size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


def test_the_stepper_moves_through_the_kept_frames(journey):
    box = diffusion.diffusion_stepper(journey, SHORT_ALPHA_BAR)
    now, guess = box.images
    first = now.value
    assert box.play.max == len(journey.steps) - 1 == 10
    assert "0 of 50 steps taken" in box.caption.value
    box.slider.value = 10
    assert now.value != first and "50 of 50 steps taken" in box.caption.value
    assert "sqrt(1 - alpha_bar) = 0.00" in box.caption.value
    # 10 digits per row, two rows (one per sample of each digit), 6x6-pixel squares
    assert _png_size(now.value) == _png_size(guess.value) == (10 * 50 + 2, 2 * 50 + 2)
    box.slider.value = 0
    assert now.value == first  # a frame is the same however we got there


def test_the_stepper_draws_one_label_per_column(journey):
    box = diffusion.diffusion_stepper(journey, SHORT_ALPHA_BAR)
    box.slider.value = 10
    grid = np.asarray(Image.open(io.BytesIO(box.images[0].value)), dtype=float)
    order = np.concatenate([np.flatnonzero(journey.labels == d) for d in range(10)])
    first, second = order[::2], order[1::2]  # the two samples of each digit
    for row, chosen in enumerate((first, second)):
        for col, index in enumerate(chosen):
            top, left = 2 + row * 50, 2 + col * 50
            tile = grid[top : top + 48 : 6, left : left + 48 : 6]  # one value per pixel
            ink = 1 - np.clip((journey.images[index].reshape(8, 8) + 1) / 2, 0, 1)
            np.testing.assert_allclose(tile, np.floor(ink * 255), atol=1)


def test_the_stepper_reports_its_frames_with_their_own_budget(journey):
    box = diffusion.diffusion_stepper(journey, SHORT_ALPHA_BAR)
    report = latency_report()["diffusion stepper"]
    assert report["changes"] == 10 and report["budget_ms"] == 50
    assert len(box.redraw_seconds) == 10


def test_the_stepper_needs_a_trajectory(short_training):
    with pytest.raises(ValueError, match="keep_every"):
        diffusion.diffusion_stepper(short_samples(short_training, [1, 2]), SHORT_ALPHA_BAR)


def test_denoising_snapshots_shows_a_row_per_step(journey):
    fig = diffusion.denoising_snapshots(journey, steps=[0, 25, 50])
    assert isinstance(fig, Figure)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 30
    assert [ax.get_title() for ax in fig.axes[::10]] == ["step 0", "step 25", "step 50"]
    final = shown[20].images[0].get_array()
    np.testing.assert_allclose(final, np.clip((journey.images[0].reshape(8, 8) + 1) / 2, 0, 1))
    with pytest.raises(ValueError, match="not kept"):
        diffusion.denoising_snapshots(journey, steps=[3])


def test_the_noising_slider_shows_the_students_mix_and_its_weights(split):
    digit = 2 * split.X_train[0] - 1
    box = diffusion.noising_slider(digit, add_noise, ALPHA_BAR, seed=0)
    clean = box.image.value
    assert "t = 0: x_t = 1.00 &middot; x_0 + 0.01 &middot; noise" in box.caption.value
    box.slider.value = 999
    assert box.image.value != clean
    assert "t = 999: x_t = 0.01 &middot; x_0 + 1.00 &middot; noise" in box.caption.value
    assert latency_report()["forward noising"]["changes"] == 39


def test_the_noising_slider_reports_a_failing_add_noise_instead_of_breaking(split):
    def unwritten(x0, noise, t, alpha_bar):
        raise NotImplementedError()

    box = diffusion.noising_slider(2 * split.X_train[0] - 1, unwritten, ALPHA_BAR)
    assert "add_noise failed at t = 0: NotImplementedError" in box.caption.value
    box.slider.value = 10
    assert "t = 10" in box.caption.value


def test_noising_snapshots_shows_the_digit_and_the_reason_when_add_noise_fails(split):
    def unwritten(x0, noise, t, alpha_bar):
        raise NotImplementedError()

    fig = diffusion.noising_snapshots(2 * split.X_train[0] - 1, unwritten, ALPHA_BAR, steps=[0, 9])
    assert fig._suptitle.get_text() == "add_noise failed (NotImplementedError: )"
    assert [ax.get_title() for ax in fig.axes] == ["x_0"]


def test_noising_snapshots_uses_the_students_function(split):
    digit = 2 * split.X_train[0] - 1
    fig = diffusion.noising_snapshots(digit, add_noise, ALPHA_BAR, steps=[0, 999])
    first, last = (ax.images[0].get_array() for ax in fig.axes if ax.images)
    assert [ax.get_title() for ax in fig.axes] == ["t = 0", "t = 999"]
    np.testing.assert_allclose(first, np.clip((digit.reshape(8, 8) + 1) / 2, 0, 1), atol=0.02)
    assert np.abs(last - first).mean() > 0.2


def test_the_guidance_slider_shows_the_critic_and_the_students_measure(split, sweep):
    critic = classifiers.digit_critic(split)
    box = diffusion.guidance_slider(sweep, critic, diversity)
    images = (sweep[0].images + 1) / 2
    expected = f"{critic.score(images, sweep[0].labels):.0%}"
    assert f"w = 0: the critic recognises <b>{expected}</b>" in box.caption.value
    assert f"<b>{diversity(images, sweep[0].labels):.2f}</b>" in box.caption.value
    first = box.image.value
    box.slider.value = 4
    assert box.caption.value.startswith("w = 4:") and box.image.value != first
    assert _png_size(first) == (10 * 50 + 2, 3 * 50 + 2)


def test_the_guidance_slider_notes_a_failing_measure(split, sweep):
    def broken(images, labels):
        raise ValueError("not yet")

    box = diffusion.guidance_slider(sweep, classifiers.digit_critic(split), broken)
    assert "diversity failed (ValueError: not yet)" in box.caption.value
    assert "the critic recognises" in box.caption.value


def test_guidance_snapshots_shows_a_row_per_scale(sweep):
    fig = diffusion.guidance_snapshots(sweep)
    assert len([ax for ax in fig.axes if ax.images]) == 30
    assert [ax.get_title() for ax in fig.axes[::10]] == ["w = 0", "w = 1", "w = 4"]


def test_module_04_figures():
    fig = diffusion.plot_schedule(BETAS, ALPHA_BAR)
    digit, noise = fig.axes[0].get_lines()
    np.testing.assert_allclose(digit.get_ydata() ** 2 + noise.get_ydata() ** 2, 1, atol=1e-6)
    fig = diffusion.plot_denoiser_training([(50, 0.9), (100, 0.5)])
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_ydata(), [0.9, 0.5])
    fig = diffusion.plot_guidance([0, 1, 7], [0.1, 0.9, 1.0], [2.2, 1.7, 1.3], 2.3)
    assert [line.get_ydata()[0] for line in fig.axes[1].get_lines()] == [2.2, 2.3]
    fig = diffusion.plot_speed({"GAN": 0.002, "diffusion": 8.0})
    assert [p.get_width() for p in fig.axes[0].patches] == [0.002, 8.0]
    assert fig.axes[0].get_xscale() == "log"


# ---------------------------------------------------------------------------
# The module's promises, on the module's own run


@pytest.fixture(scope="module")
def module_run(split):
    return train_on_digits(split, 5000, hidden=256), classifiers.digit_critic(split)


def test_the_module_denoiser_draws_the_digits_asked_for(module_run):
    training, critic = module_run
    asked = np.repeat(np.arange(10), 30)
    drawn = diffusion.sample(training.net, asked, BETAS, ALPHA_BAR, ddpm_step, guided_eps, seed=1)
    recognised = critic.predict((drawn.images + 1) / 2) == asked
    assert recognised.mean() >= 0.95  # the module's promise at the default w = 2
    assert all(recognised[asked == d].mean() >= 0.8 for d in range(10))  # no digit dropped
    assert training.history[-1][1] < 0.15


def test_the_module_guidance_trades_diversity_for_fidelity(module_run):
    training, critic = module_run
    asked = np.repeat(np.arange(10), 15)
    fidelity, spread = {}, {}
    for w in (0, 1, 7):
        drawn = diffusion.sample(training.net, asked, BETAS, ALPHA_BAR, ddpm_step, guided_eps, w=w)
        images = (drawn.images + 1) / 2
        fidelity[w], spread[w] = critic.score(images, asked), diversity(images, asked)
    assert fidelity[0] < 0.3 < 0.8 < fidelity[1] <= fidelity[7]
    assert spread[0] > spread[1] > spread[7]


def test_diffusion_is_thousands_of_times_slower_than_the_gan(module_run):
    training, _ = module_run
    drawn = diffusion.sample(
        training.net, np.arange(10).repeat(20), BETAS, ALPHA_BAR, ddpm_step, guided_eps
    )
    gan_seconds = gan.generation_seconds(gan.digits_gan(seed=0), n=200)
    assert drawn.seconds / gan_seconds > 500  # 2,000 passes against one, for 200 samples each
