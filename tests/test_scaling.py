"""Module 05's data and compute measurements: the data curve, early stopping in train_lm, the
three matrix products, and their figures."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # `make compat` runs without torch; `make test` with it

from genlab import ingredients, lm, text  # noqa: E402
from genlab.checks import CheckFailed  # noqa: E402


def markov_text(n: int, seed: int) -> str:
    """Text from a fixed random second-order Markov chain over five letters: learnable, but
    only from enough of it (25 contexts, each with its own next-letter distribution)."""
    rng = np.random.default_rng(0)  # the chain itself is the same for every seed
    table = rng.dirichlet(np.full(5, 0.3), size=(5, 5))
    draw = np.random.default_rng(seed)
    out = [0, 1]
    for _ in range(n - 2):
        out.append(int(draw.choice(5, p=table[out[-2], out[-1]])))
    return "".join("abcde"[i] for i in out)


VOCAB = text.Vocab.from_text("abcde")
TRAIN = VOCAB.encode(markov_text(20_000, seed=1))
HELD_OUT = VOCAB.encode(markov_text(3_000, seed=2))


@pytest.fixture(scope="module")
def curve():
    return ingredients.data_curve(
        TRAIN,
        HELD_OUT,
        len(VOCAB),
        fractions=[0.01, 0.1, 1.0],
        steps=600,
        progress=False,
        hidden=32,
    )


def test_the_data_curve_trains_one_model_per_slice_and_more_data_lowers_the_loss(curve):
    assert curve.sizes.tolist() == [200, 2_000, 20_000]
    assert curve.losses.shape == curve.steps.shape == curve.seconds.shape == (3,)
    assert (curve.tokens == curve.steps * 256).all()
    assert np.all(np.diff(curve.losses) < 0), curve.losses
    # the best model is close to the chain's own entropy and far below a uniform guess
    assert curve.losses[-1] < 0.8 * np.log(5)
    assert curve.parameters == sum(p.numel() for p in lm.CharMLP(5, 8, hidden=32).parameters())


def test_the_smallest_slice_stops_early_and_the_largest_runs_longer(curve):
    # 200 characters are learnt by heart within a few hundred steps; 20,000 keep improving
    assert curve.steps[0] < curve.steps[-1] and curve.steps[0] < 600
    assert curve.steps[0] % 50 == 0  # it stops at a held-out check


def test_the_data_curve_refuses_fractions_outside_zero_to_one():
    with pytest.raises(CheckFailed, match="fractions"):
        ingredients.data_curve(TRAIN, HELD_OUT, len(VOCAB), fractions=[0.5, 2.0], progress=False)


def test_train_lm_measures_the_held_out_loss_every_few_steps_and_after_the_last():
    model = lm.train_lm(
        TRAIN[:2000], 5, steps=250, held_out=HELD_OUT, eval_every=100, hidden=16, progress=False
    )
    steps = [step for step, _ in model.held_out_history]
    assert steps == [100, 200, 250]
    assert model.held_out_history[-1][1] == pytest.approx(model.loss(HELD_OUT), rel=1e-6)


def test_patience_stops_training_after_checks_without_a_new_best():
    model = lm.train_lm(
        TRAIN[:100], 5, steps=3000, held_out=HELD_OUT, eval_every=50, patience=2, progress=False
    )
    losses = [loss for _, loss in model.held_out_history]
    assert len(losses) < 3000 // 50  # it stopped early
    assert int(np.argmin(losses)) == len(losses) - 3  # two checks after the best, no more
    without = lm.train_lm(
        TRAIN[:100], 5, steps=300, held_out=HELD_OUT, eval_every=50, progress=False
    )
    assert len(without.held_out_history) == 6  # no patience: every step runs


def test_train_lm_refuses_held_out_ids_outside_the_vocabulary():
    with pytest.raises(CheckFailed, match="held_out"):
        lm.train_lm(TRAIN[:100], 5, steps=10, held_out=np.array([0, 7]), progress=False)


def test_python_matmul_is_the_matrix_product():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((3, 5)), rng.standard_normal((5, 2))
    np.testing.assert_allclose(ingredients.python_matmul(A.tolist(), B.tolist()), A @ B, rtol=1e-12)
    assert ingredients.python_matmul([[2.0]], [[3.0]]) == [[6.0]]


@pytest.mark.parametrize(
    "A, B",
    [([[1.0, 2.0]], [[1.0, 2.0]]), ([], [[1.0]]), ([[1.0, 2.0]], [[1.0], [2.0, 3.0]])],
    ids=["shapes-disagree", "empty", "ragged"],
)
def test_python_matmul_refuses_matrices_that_do_not_fit(A, B):
    with pytest.raises(ValueError):
        ingredients.python_matmul(A, B)


def test_time_matmul_times_each_way_and_the_libraries_beat_the_loops():
    # One torch thread: beside the other test process, a second thread waits ~16 ms for a core
    # on every product (the notebook's kernel has the machine to itself).
    before = torch.get_num_threads()
    torch.set_num_threads(3)  # not 1, so that a restore can be told from no restore
    try:
        seconds = {
            way: ingredients.time_matmul(way, 48, threads=1) for way in ("python", "numpy", "torch")
        }
        assert torch.get_num_threads() == 3  # restored
    finally:
        torch.set_num_threads(before)
    assert all(0 < s < 5 for s in seconds.values()), seconds
    # tens of thousands of times in our runs; ten is a bound no machine misses
    assert seconds["numpy"] * 10 < seconds["python"] and seconds["torch"] * 10 < seconds["python"]
    with pytest.raises(ValueError, match="python"):
        ingredients.time_matmul("fortran", 8)


def test_model_sizes_are_published_parameters_and_tokens():
    assert ingredients.MODEL_SIZES["GPT-3"] == {"parameters": 175e9, "tokens": 300e9}
    for size in ingredients.MODEL_SIZES.values():
        assert set(size) == {"parameters", "tokens"} and size["tokens"] > size["parameters"] > 1e9


def test_module_05_data_and_compute_figures():
    fig = ingredients.plot_data_curve([1e3, 1e4, 1e5], [3.0, 2.0, 1.4], fit=(-0.17, 9.0))
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert [line.get_label() for line in ax.lines] == [
        "one model per size",
        "fit: loss = 9 x size^(-0.170)",
    ]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1.5", "2", "3"]
    fig = ingredients.plot_rates({"Python loops": 5e7, "numpy": 1e11, "torch": 1.2e11})
    ax = fig.axes[0]
    assert len(ax.patches) == 3 and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.texts] == ["5e+07", "1e+11", "1.2e+11"]
