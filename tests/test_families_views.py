"""Module 07's figures and latent explorer, on a VAE and a flow trained for a few hundred
steps with reference versions of the student's functions.

The models are far from good; what is checked is that the views show the models' own
numbers (the decoder's digits at the grid points, the flow's stages and density), not
that the models are good.
"""

import gc
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # `make compat` runs without torch; `make test` with it

from course import latency_report  # noqa: E402
from families_answers import (  # noqa: E402
    coupling_forward,
    coupling_inverse,
    elbo,
    flow_log_likelihood,
    reparameterise,
)
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from genlab import data  # noqa: E402
from genlab.families import figures, model, widget  # noqa: E402
from genlab.live import still  # noqa: E402

# ---------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def split():
    return data.load_digits()


@pytest.fixture(scope="module")
def vae(split):
    vae = model.VAE(latent=2)
    model.train_vae(vae, split.X_train, reparameterise, elbo, steps=200, progress=False)
    return vae


@pytest.fixture(scope="module")
def codes(vae, split):
    return vae.codes(split.X_train)


@pytest.fixture(scope="module")
def flow():
    flow = model.ring_flow()
    model.train_flow(flow, model.sample_moons(1000), flow_log_likelihood, steps=200, progress=False)
    return flow


def decode(vae, z) -> np.ndarray:
    with torch.no_grad():
        return vae.decode(torch.as_tensor(np.atleast_2d(z), dtype=torch.float32)).double().numpy()


def test_the_models_vary_so_the_views_can_show_it(vae, codes, flow):
    """Guards the tests below: a decoder that drew one digit everywhere would pass them."""
    assert codes.std(axis=0).min() > 0.3
    digits = decode(vae, [[-1, -1], [1, 1], [-1, 1]])
    assert np.abs(digits[0] - digits[1]).max() > 0.2 and np.abs(digits[0] - digits[2]).max() > 0.2
    stages = flow.warp(torch.as_tensor(model.sample_moons(50)), coupling_forward)
    assert (stages[-1] - stages[0]).abs().max() > 0.2  # the couplings moved the points


# ---------------------------------------------------------------------------
# Training curves


def test_the_training_figure_draws_one_curve_per_run():
    histories = {"VAE": [(25, 40.0), (50, 10.5), (75, -3.25)], "flow": [(25, 30.0), (50, 20.0)]}
    fig = figures.plot_training(histories, "negative ELBO, nats per digit")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == [
        "VAE: -3.2 after 75 steps",
        "flow: 20.0 after 50 steps",
    ]
    assert ax.lines[0].get_xdata().tolist() == [25, 50, 75]
    assert ax.lines[1].get_ydata().tolist() == [30, 20]
    assert ax.lines[0].get_color() != ax.lines[1].get_color()
    assert ax.get_ylabel() == "negative ELBO, nats per digit"
    with pytest.raises(ValueError, match="no runs"):
        figures.plot_training({}, "loss")


# ---------------------------------------------------------------------------
# The latent map and interpolation


def test_the_extent_spans_the_central_codes_with_a_margin():
    codes = np.stack([np.arange(101.0), np.arange(101.0) * 2 - 50], axis=1)  # 0..100, -50..150
    x0, x1, y0, y1 = figures.latent_extent(codes)
    assert (x0, x1) == pytest.approx((1 - 9.8, 99 + 9.8))  # percentiles 1 and 99, 10% of 98
    assert (y0, y1) == pytest.approx((-48 - 19.6, 148 + 19.6))


def test_the_latent_map_scatters_the_codes_and_decodes_the_grid(vae, codes, split):
    n = 5
    fig = figures.plot_latent_map(vae, codes, split.y_train, n=n)
    assert isinstance(fig, Figure)
    left, right = fig.axes[:2]
    for digit, points in enumerate(left.collections):  # one scatter a class, in its colour
        np.testing.assert_allclose(points.get_offsets(), codes[split.y_train == digit])
        assert points.get_facecolor()[0][:3] == pytest.approx(to_rgb(figures.DIGIT_COLORS[digit]))
    assert len(left.collections) == 10
    assert [t.get_text() for t in left.get_legend().get_texts()] == [str(d) for d in range(10)]

    x0, x1, y0, y1 = figures.latent_extent(codes)
    sheet = right.images[0].get_array()
    assert sheet.shape == (9 * n + 1, 9 * n + 1)
    z1, z2 = np.linspace(x0, x1, n), np.linspace(y1, y0, n)  # the top row is the largest z2
    for i, j in [(0, 0), (0, n - 1), (n - 1, 0), (2, 3), (n - 1, n - 1)]:
        shown = sheet[9 * i + 1 : 9 * i + 9, 9 * j + 1 : 9 * j + 9]
        expected = decode(vae, [z1[j], z2[i]])[0].reshape(8, 8)
        np.testing.assert_allclose(shown, expected, atol=1e-6)
    assert sheet.mask[0].all() and sheet.mask[:, 9].all()  # grey lines between the digits
    # each digit sits on its grid point: the picture's extent puts the centre of digit j
    # (pixel 9 j + 5 of 9 n + 1) at z1[j]
    left_edge, right_edge, bottom, top = right.images[0].get_extent()
    step = (right_edge - left_edge) / (9 * n + 1)
    assert left_edge + 5 * step == pytest.approx(z1[0]) and right_edge - 5 * step == pytest.approx(
        z1[-1]
    )
    assert top - 5 * (top - bottom) / (9 * n + 1) == pytest.approx(z2[0])
    assert left.get_xlim() == right.get_xlim() and left.get_ylim() == right.get_ylim()


def test_the_latent_map_takes_an_extent_and_needs_a_plane(vae, codes, split):
    fig = figures.plot_latent_map(vae, codes, split.y_train, n=3, extent=(-1, 1, -2, 2))
    sheet = fig.axes[1].images[0].get_array()
    top_left, bottom_middle = sheet[1:9, 1:9], sheet[19:27, 10:18]  # rows z2 = 2, 0, -2
    np.testing.assert_allclose(top_left, decode(vae, [-1, 2])[0].reshape(8, 8), atol=1e-6)
    np.testing.assert_allclose(bottom_middle, decode(vae, [0, -2])[0].reshape(8, 8), atol=1e-6)
    with pytest.raises(ValueError, match="has 3 latent numbers; a map needs 2"):
        figures.plot_latent_map(model.VAE(latent=3), codes, split.y_train)


def test_the_interpolation_decodes_the_line_between_two_codes(vae, split):
    x_a, x_b = split.X_train[0], split.X_train[7]
    fig = figures.plot_interpolation(vae, x_a, x_b, steps=5)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 7
    assert [ax.get_title() for ax in shown] == [
        "digit A", "t = 0", "t = 0.25", "t = 0.5", "t = 0.75", "t = 1", "digit B",
    ]  # fmt: skip
    np.testing.assert_allclose(shown[0].images[0].get_array(), x_a.reshape(8, 8))
    np.testing.assert_allclose(shown[-1].images[0].get_array(), x_b.reshape(8, 8))
    z_a, z_b = vae.codes(np.stack([x_a, x_b]))  # where the map and the explorer put them
    for ax, t in zip(shown[1:-1], [0, 0.25, 0.5, 0.75, 1], strict=True):
        expected = decode(vae, z_a + t * (z_b - z_a))[0].reshape(8, 8)
        np.testing.assert_allclose(ax.images[0].get_array(), expected, atol=1e-5)
    assert np.abs(shown[1].images[0].get_array() - shown[5].images[0].get_array()).max() > 0.1


# ---------------------------------------------------------------------------
# The flow


def test_the_stages_show_the_data_going_to_noise_and_samples_coming_back(flow):
    moons = model.sample_moons(300)
    forward = flow.warp(torch.as_tensor(moons), coupling_forward)
    backward = flow.sample(200, coupling_inverse, keep=True)
    assert len(forward) == 7 and len(backward) == 8  # the last of 8: the identity, drawn once
    fig = figures.plot_flow_stages(forward, backward)
    axes = np.array(fig.axes).reshape(2, 7)
    np.testing.assert_allclose(axes[0, 0].collections[0].get_offsets(), moons)
    np.testing.assert_allclose(axes[0, -1].collections[0].get_offsets(), forward[-1].numpy())
    np.testing.assert_allclose(axes[1, 0].collections[0].get_offsets(), backward[0].numpy())
    np.testing.assert_allclose(axes[1, -1].collections[0].get_offsets(), backward[-1].numpy())
    top, bottom = ([ax.get_title() for ax in row[:3]] for row in axes)
    assert top == ["the data", "after layer 1", "after layer 2"]
    assert bottom == ["z ~ N(0, I)", "layer 6 undone", "layer 5 undone"]
    for row in axes:  # one square window a row
        assert len({(ax.get_xlim(), ax.get_ylim()) for ax in row}) == 1
        (x0, x1), (y0, y1) = row[0].get_xlim(), row[0].get_ylim()
        assert x1 - x0 == pytest.approx(y1 - y0)
    # a point keeps its colour from stage to stage
    np.testing.assert_array_equal(
        axes[0, 0].collections[0].get_facecolor(), axes[0, 4].collections[0].get_facecolor()
    )
    titled = figures.plot_flow_stages(forward[:2], backward[:2], titles=(["a", "b"], ["c", "d"]))
    assert [ax.get_title() for ax in titled.axes] == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="3 titles for a row of 2 stages"):
        figures.plot_flow_stages(forward[:2], backward[:2], titles=(["a", "b", "c"], ["c", "d"]))


def test_the_density_is_the_flows_own_likelihood_over_the_plane(flow):
    moons = model.sample_moons(200)
    fig = figures.plot_flow_density(flow, flow_log_likelihood, moons, extent=(-2, 2, -1, 1),
                                    resolution=40)  # fmt: skip
    ax = fig.axes[0]
    density = ax.images[0].get_array()
    assert density.shape == (40, 40) and ax.images[0].origin == "lower"
    # cell (row 3, column 10) is centred on x = -2 + 10.5 * 0.1, y = -1 + 3.5 * 0.05
    with torch.no_grad():
        ll = flow_log_likelihood(torch.tensor([[-0.95, -0.825], [0.0, 0.0]]), flow.couplings)
    assert density[3, 10] == pytest.approx(float(ll[0].exp()), rel=1e-4)
    assert density.max() > 5 * density.min()  # not flat: the couplings bent the Gaussian
    np.testing.assert_allclose(ax.collections[0].get_offsets(), moons)
    with torch.no_grad():
        mean = flow_log_likelihood(torch.as_tensor(moons), flow.couplings).mean()
    assert f"mean log p of the 200 points: {mean:.2f} nats" in ax.get_title()
    # a density: over a window holding nearly all its mass, it integrates to about 1
    wide = figures.plot_flow_density(flow, flow_log_likelihood, moons, extent=(-4, 4, -4, 4))
    mass = wide.axes[0].images[0].get_array().sum() * (8 / 120) ** 2
    assert 0.9 < mass < 1.02

    def wrong(x, couplings):
        return torch.zeros(len(x), 1)

    with pytest.raises(AssertionError, match="shape"):
        figures.plot_flow_density(flow, wrong, moons)


# ---------------------------------------------------------------------------
# The families side by side


def test_each_family_gets_a_row_named_on_its_left(split):
    samples = {"real digits": split.X_train[:12], "VAE": split.X_test[:4]}
    fig = figures.show_families(samples, per_family=6)
    axes = np.array(fig.axes).reshape(2, 6)
    assert [ax.texts[0].get_text() for ax in axes[:, 0]] == ["real digits", "VAE"]
    np.testing.assert_allclose(axes[0, 5].images[0].get_array(), split.X_train[5].reshape(8, 8))
    np.testing.assert_allclose(axes[1, 3].images[0].get_array(), split.X_test[3].reshape(8, 8))
    assert not axes[1, 4].images  # VAE has 4: the rest of its row stays empty
    with pytest.raises(AssertionError, match="<= 1"):
        figures.show_families({"raw": split.X_train[:3] * 16})


# ---------------------------------------------------------------------------
# The latent explorer


def test_a_point_shows_its_decoded_digit_and_the_codes_near_it(vae, codes, split):
    point = widget.latent_point(vae, codes, split.y_train, [0.3, -0.2])
    np.testing.assert_allclose(point.digit, decode(vae, [0.3, -0.2])[0], atol=1e-6)
    distances = np.linalg.norm(codes - [0.3, -0.2], axis=1)
    assert point.nearest == distances.argmin() and point.distance == pytest.approx(distances.min())
    assert point.label == split.y_train[point.nearest]
    closest = np.argsort(distances)[:10]
    np.testing.assert_array_equal(point.nearby, np.bincount(split.y_train[closest], minlength=10))


def _close(control) -> None:
    for child in getattr(control, "children", ()):
        _close(child)
    control.close()


@pytest.fixture
def explorer(vae, codes, split):
    box = widget.latent_explorer(vae, codes, split.y_train, split.X_train)
    yield box
    _close(box)  # so that the latency report below drives only its own explorer


def _digit_pixels(box) -> np.ndarray:
    """The 8x8 grey levels of the decoded digit as the picture shows them, 0 white, 1 black:
    the PNG read at the centre of each of the panel's 64 cells."""
    rgb = np.asarray(Image.open(io.BytesIO(box.image.value)).convert("RGB"), dtype=float)
    bbox = box.picture.digit_ax.get_window_extent()
    height = rgb.shape[0]
    xs = bbox.x0 + (np.arange(8) + 0.5) * bbox.width / 8
    ys = bbox.y1 - (np.arange(8) + 0.5) * bbox.height / 8  # from the top row down
    rows, cols = (height - ys).astype(int), xs.astype(int)
    return 1 - rgb[rows[:, None], cols[None, :], 0] / 255


def test_moving_t_puts_the_point_on_the_line_between_the_two_codes(explorer, vae, codes, split):
    box = explorer
    start, end = codes[box.from_digit.value], codes[box.to_digit.value]
    assert split.y_train[box.from_digit.value] == 0 and split.y_train[box.to_digit.value] == 9
    for t in (0.0, 0.3, 0.75, 1.0):
        box.t.value = t
        z = start + t * (end - start)
        np.testing.assert_allclose(box.point.z, z, atol=1e-12)
        np.testing.assert_allclose(box.point.digit, decode(vae, z)[0], atol=1e-6)
        assert (box.z1.value, box.z2.value) == pytest.approx(tuple(z))  # the sliders follow
        np.testing.assert_allclose(_digit_pixels(box), box.point.digit.reshape(8, 8), atol=0.02)
        assert f"on the line from a 0 to a 9 at t = {t:.2f}" in box.caption.value
    # the marker and the line in the picture
    np.testing.assert_allclose(np.ravel(box.picture.marker.get_data()), z)
    np.testing.assert_allclose(np.column_stack(box.picture.line.get_data()), [start, end])


def test_the_sliders_move_the_point_freely_and_t_brings_it_back(explorer, vae, codes):
    box = explorer
    box.t.value = 0.5
    box.z1.value = 0.25
    np.testing.assert_allclose(box.point.z, [0.25, box.z2.value])
    box.z2.value = -0.5
    np.testing.assert_allclose(box.point.z, [0.25, -0.5])
    np.testing.assert_allclose(box.point.digit, decode(vae, [0.25, -0.5])[0], atol=1e-6)
    assert "<b>z = (0.25, -0.50)</b>, off the line" in box.caption.value and box.t.value == 0.5
    box.t.value = 0.6
    start, end = codes[box.from_digit.value], codes[box.to_digit.value]
    np.testing.assert_allclose(box.point.z, start + 0.6 * (end - start), atol=1e-12)


def test_the_menus_choose_the_ends_of_the_line(explorer, vae, codes, split):
    box = explorer
    three = dict(box.from_digit.options)["a 3"]
    box.from_digit.value = three  # at t = 0 the point is the 3's own code
    np.testing.assert_allclose(box.point.z, codes[three], atol=1e-12)
    assert box.point.nearest == three and box.point.distance == pytest.approx(0, abs=1e-9)
    assert "The nearest training code is a 3's, at distance 0.00" in box.caption.value
    nearest = box.picture.near.get_array()
    np.testing.assert_allclose(nearest, split.X_train[three].reshape(8, 8))
    seven = dict(box.to_digit.options)["a 7"]
    box.to_digit.value = seven
    box.t.value = 0.5
    np.testing.assert_allclose(box.point.z, (codes[three] + codes[seven]) / 2, atol=1e-12)
    assert "on the line from a 3 to a 7 at t = 0.50" in box.caption.value


def test_every_control_changes_what_the_explorer_draws(explorer):
    box = explorer
    first = box.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    seen = [first]
    for control, value in [
        (box.to_digit, dict(box.to_digit.options)["a 4"]),  # the line's end moves
        (box.t, 0.4),
        (box.z1, box.z1.value + 0.5),
        (box.z2, box.z2.value - 0.5),
        (box.from_digit, dict(box.from_digit.options)["a 6"]),
    ]:
        control.value = value
        assert box.image.value not in seen, control.description
        seen.append(box.image.value)


def test_the_explorer_leaves_a_still_and_refuses_what_it_cannot_show(explorer, vae, codes, split):
    box = explorer
    picture, sheet = (Image.open(io.BytesIO(png)) for png in (box.image.value, still(box)))
    assert sheet.size == picture.size
    bundle = box._repr_mimebundle_()
    assert "image/png" in bundle and bundle["text/plain"].startswith("[VAE latent explorer:")
    with pytest.raises(ValueError, match="the explorer needs 2"):
        widget.latent_explorer(model.VAE(latent=3), codes, split.y_train, split.X_train)
    with pytest.raises(ValueError, match="one class only"):
        widget.latent_explorer(vae, codes, np.zeros(len(codes), dtype=int), split.X_train)


def test_the_explorer_redraws_once_per_change_within_its_budget(explorer):
    box = explorer
    played = {id(control) for control, _ in box.demo_changes}
    controls = (box.z1, box.z2, box.from_digit, box.to_digit, box.t)
    assert played == {id(control) for control in controls}  # every control is exercised
    gc.collect()  # the explorers of the tests above, closed, leave `explorers()`
    report = latency_report()["VAE latent explorer"]
    # every change redraws, once: moving t sets z1 and z2 without redrawing again
    assert report["changes"] == len(box.demo_changes)
    assert report["p95_ms"] <= report["budget_ms"] == 100, report
