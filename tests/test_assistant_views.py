"""Module 09's figures and assistant explorer, on the shipped creator, a reward model trained
with the reference Bradley-Terry loss, a small pool, its best-of-n sweep and two creators
tuned by a few steps of DPO.

What is checked is that the views show the measurements they are given (bar heights are
the rates, the answers are the ones kept or sampled, judged by `model.verdicts`), not that
the models are good: the checkpoint may be retrained.
"""

import gc
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # `make compat` runs without torch; `make test` with it

from assistant_answers import (  # noqa: E402
    best_of_n,
    bradley_terry_loss,
    dpo_loss,
    sequence_logprob,
)
from course import latency_report  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from genlab import assistant  # noqa: E402
from genlab.assistant import figures, model, widget  # noqa: E402
from genlab.figures import VERDICT_COLORS  # noqa: E402
from genlab.live import blitted_png, still  # noqa: E402

NS, BETAS = (1, 2, 4, 8), (0.1, 1.0)

# ---------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def creator():
    return model.load_creator()


@pytest.fixture(scope="module")
def reward_model():
    rm, _ = model.train_reward_model(model.preference_pairs(model.SEEN), bradley_terry_loss)
    return rm


@pytest.fixture(scope="module")
def pool(creator, reward_model):
    return model.draw_pool(creator, reward_model, list(model.REAL), groups=2, n=8)


@pytest.fixture(scope="module")
def sweep(pool):
    return model.best_of_n_sweep(pool, best_of_n, ns=NS)


@pytest.fixture(scope="module")
def base(creator, reward_model):
    return model.evaluate(creator, reward_model, draws=8)


@pytest.fixture(scope="module")
def tuned(creator, reward_model, pool):
    pairs = model.gold_pairs(pool, per_country=4)
    return {
        beta: model.evaluate(
            model.dpo(creator, pairs, beta, dpo_loss, sequence_logprob, steps=10).creator,
            reward_model,
            draws=8,
        )
        for beta in BETAS
    }


def test_the_measurements_vary_so_the_views_can_show_it(pool, sweep, base, tuned):
    """Guards the tests below: a sweep that kept the same answers at every n, or tuned
    creators that answered like the base, would pass them."""
    assert (sweep[1]["kept"] != sweep[8]["kept"]).any()
    assert sweep[8]["reward"] > sweep[1]["reward"]
    assert len({a for e in (base, *tuned.values()) for s in e.samples.values() for a in s}) > 50
    assert any(
        tuned[0.1].samples[c] != tuned[1.0].samples[c] or tuned[0.1].samples[c] != base.samples[c]
        for c in pool.countries
    )


# ---------------------------------------------------------------------------
# Figures


def _stacks(ax) -> list[dict[str, float]]:
    """Each stacked bar of `ax` as {verdict: height}, read from the bars drawn, after
    checking that each verdict's segment sits on the one below."""
    containers = ax.containers
    assert [c.get_label() for c in containers] == list(figures.VERDICTS)
    bars = []
    for i in range(len(containers[0].patches)):
        segments = [c.patches[i] for c in containers]
        bottom = 0.0
        for segment, verdict in zip(segments, figures.VERDICTS, strict=True):
            assert segment.get_y() == pytest.approx(bottom)
            assert segment.get_facecolor() == pytest.approx(to_rgba(VERDICT_COLORS[verdict]))
            bottom += segment.get_height()
        bars.append({v: s.get_height() for v, s in zip(figures.VERDICTS, segments, strict=True)})
    return bars


def _rates(true: float, false: float) -> dict[str, float]:
    return {"true": true, "false": false, "nonsense": 1 - true - false, "not_true": 1 - true}


def test_grounding_stacks_each_ways_rates_and_writes_the_hit_rate():
    results = {
        "seen countries": {
            "bare": {"rates": _rates(0.75, 0.0), "copied": 0.0},
            "retrieved": {"rates": _rates(0.95, 0.0), "copied": 0.95, "hits": 0.875},
            "wrong": {"rates": _rates(0.0, 0.5), "copied": 0.4375},
        },
        "misspelt questions": {
            "bare": {"rates": _rates(0.5, 0.25), "copied": 0.0},
            "retrieved": {"rates": _rates(0.625, 0.125), "copied": 0.5, "hits": 0.625},
            "wrong": {"rates": _rates(0.125, 0.5), "copied": 0.375},
        },
    }
    fig = figures.plot_grounding(results)
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == list(results)
    assert axes[0].get_ylabel() == "share of answers"
    for ax, result in zip(axes, results.values(), strict=True):
        expected = [{v: result[way]["rates"][v] for v in figures.VERDICTS} for way in figures.WAYS]
        assert _stacks(ax) == [pytest.approx(e) for e in expected]
        assert [t.get_text() for t in ax.get_xticklabels()] == list(figures.WAYS.values())
        texts = {t.get_text(): t.get_position()[0] for t in ax.texts}
        hits, copied = result["retrieved"]["hits"], result["wrong"]["copied"]
        assert texts[f"retriever hit\n{hits:.0%}"] == 1  # over the retrieved bar
        assert texts[f"copied\n{copied:.0%}"] == 2  # over the other country's line
    legend = axes[-1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == list(figures.VERDICTS)

    with pytest.raises(ValueError, match="no results"):
        figures.plot_grounding({})
    with pytest.raises(ValueError, match=r"results\['seen countries'\] has no 'wrong'"):
        figures.plot_grounding({"seen countries": {"bare": {}, "retrieved": {}}})
    bad = {"x": {**results["seen countries"], "retrieved": {"rates": _rates(1, 0), "copied": 1}}}
    with pytest.raises(ValueError, match='has no "hits"'):
        figures.plot_grounding(bad)


def test_grounding_draws_the_creators_own_measurement(creator):
    """On a real `grounded_rates`: the bars are its rates."""
    retriever = model.Retriever()

    def cosine(query, rows):  # the reference answer's cosine, written out
        norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(query)
        return np.divide(rows @ query, norms, out=np.zeros(len(rows)), where=norms > 0)

    result = model.grounded_rates(creator, retriever, cosine, list(model.SEEN)[:4], samples=2)
    fig = figures.plot_grounding({"seen countries": result})
    expected = [{v: result[w]["rates"][v] for v in figures.VERDICTS} for w in figures.WAYS]
    assert _stacks(fig.axes[0]) == [pytest.approx(e) for e in expected]


def test_reward_accuracy_groups_the_bars_and_marks_chance():
    accuracy = {
        "seen countries": {"another capital": 1.0, "misspelt": 0.99, "invented": 0.96},
        "unseen countries": {"another capital": 0.5, "misspelt": 0.75, "invented": 0.875},
    }
    fig = figures.plot_reward_accuracy(accuracy)
    ax = fig.axes[0]
    assert ax.get_ylabel().startswith("pair accuracy")
    assert [t.get_text() for t in ax.get_xticklabels()] == list(accuracy)
    kinds = ["another capital", "misspelt", "invented"]
    assert [c.get_label() for c in ax.containers] == kinds
    for kind, container in zip(kinds, ax.containers, strict=True):
        heights = [bar.get_height() for bar in container.patches]
        assert heights == pytest.approx([accuracy[g][kind] for g in accuracy])
        # the bars of a group stand side by side, around the group's tick
        centres = [bar.get_x() + bar.get_width() / 2 for bar in container.patches]
        assert np.round(centres) == pytest.approx([0, 1])
    assert "0.99" in [t.get_text() for t in ax.texts]
    (chance,) = [line for line in ax.lines if line.get_label() == "chance"]
    assert list(chance.get_ydata()) == [0.5, 0.5] and chance.get_linestyle() == "--"

    with pytest.raises(ValueError, match="no accuracies"):
        figures.plot_reward_accuracy({})
    with pytest.raises(ValueError, match=r"= 1.5: a pair accuracy is a share"):
        figures.plot_reward_accuracy({"seen": {"invented": 1.5}})


def test_best_of_n_draws_each_rate_reward_and_variety_against_n(sweep):
    fig = figures.plot_best_of_n(sweep)
    seen_ax, unseen_ax, reward_ax, distinct_ax = fig.axes
    for ax, part in ((seen_ax, "seen"), (unseen_ax, "unseen")):
        assert ax.get_title() == f"{part} countries"
        assert ax.get_ylabel() == "share of the answers kept"
        for line, verdict in zip(ax.lines, figures.VERDICTS, strict=True):
            assert list(line.get_xdata()) == list(NS)
            assert list(line.get_ydata()) == pytest.approx([sweep[n][part][verdict] for n in NS])
            assert line.get_color() == VERDICT_COLORS[verdict]
    assert list(reward_ax.lines[0].get_ydata()) == pytest.approx([sweep[n]["reward"] for n in NS])
    assert list(distinct_ax.lines[0].get_ydata()) == pytest.approx(
        [sweep[n]["distinct"] for n in NS]
    )
    assert reward_ax.get_ylabel() == "mean reward of the answers kept"
    for ax in fig.axes:
        assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4", "8"]
        assert ax.get_xlabel() == "n, answers drawn to keep one"


def test_best_of_n_takes_several_sweeps_told_apart_by_their_line(sweep):
    weaker = {n: {**s, "reward": s["reward"] - 1} for n, s in sweep.items()}
    fig = figures.plot_best_of_n({"reward model": sweep, "weak reward model": weaker})
    seen_ax, _, reward_ax, _ = fig.axes
    assert len(seen_ax.lines) == 6  # three verdicts, two sweeps
    assert {seen_ax.lines[0].get_linestyle(), seen_ax.lines[3].get_linestyle()} == {"-", "--"}
    assert [t.get_text() for t in reward_ax.get_legend().get_texts()] == [
        "reward model",
        "weak reward model",
    ]
    assert list(reward_ax.lines[1].get_ydata()) == pytest.approx(
        [sweep[n]["reward"] - 1 for n in NS]
    )
    for bad in ({}, {1: {"reward": 1.0}}, {"a": sweep, "b": {}}):
        with pytest.raises(ValueError, match="best_of_n_sweep"):
            figures.plot_best_of_n(bad)


def test_tuning_draws_each_measure_against_beta_beside_the_base(base, tuned):
    fig = figures.plot_tuning(base, tuned)
    true_ax, unseen_ax, distinct_ax, prose_ax = fig.axes

    def curve(ax, label):
        (line,) = [line for line in ax.lines if line.get_label() == label]
        return line

    measures = [
        (true_ax, "tuned", "base creator", lambda e: e.seen["true"]),
        (unseen_ax, "false, tuned", "false, base", lambda e: e.unseen["false"]),
        (unseen_ax, "nonsense, tuned", "nonsense, base", lambda e: e.unseen["nonsense"]),
        (distinct_ax, "tuned", "base creator", lambda e: e.distinct),
        (prose_ax, "tuned", "base creator", lambda e: e.prose_loss),
    ]
    for ax, tuned_label, base_label, value in measures:
        line = curve(ax, tuned_label)
        assert list(line.get_xdata()) == list(BETAS)
        assert list(line.get_ydata()) == pytest.approx([value(tuned[b]) for b in BETAS])
        dashed = curve(ax, base_label)
        assert list(dashed.get_ydata()) == pytest.approx([value(base)] * 2)
        assert dashed.get_linestyle() == "--"
    assert prose_ax.get_ylabel() == "nats per character" and "Emma" in prose_ax.get_title()
    for ax in fig.axes:
        assert ax.get_xscale() == "log" and ax.get_xlabel() == "DPO's beta"
        assert [t.get_text() for t in ax.get_xticklabels()] == ["0.1", "1"]

    with pytest.raises(ValueError, match="no tuned creators"):
        figures.plot_tuning(base, {})
    with pytest.raises(ValueError, match="beta = 0: DPO's beta is positive"):
        figures.plot_tuning(base, {0: base})
    with pytest.raises(ValueError, match=r"tuned\[0.1\] must be a model.Evaluation"):
        figures.plot_tuning(base, {0.1: {"seen": 1}})


def test_the_topic_exports_its_figures_and_widget():
    for name in ("plot_grounding", "plot_reward_accuracy", "plot_best_of_n", "plot_tuning",
                 "assistant_view", "assistant_explorer", "assistant_snapshots"):  # fmt: skip
        assert name in assistant.__all__ and hasattr(assistant, name)
    assert assistant.plot_tuning is figures.plot_tuning
    assert assistant.assistant_explorer is widget.assistant_explorer


# ---------------------------------------------------------------------------
# What the explorer shows


def test_a_view_shows_the_kept_and_tuned_answers_judged(pool, sweep, base, tuned):
    countries = ["Peru", "France", "Egypt"]  # not in the pool's order: rows follow this list
    view = widget.assistant_view(pool, sweep, base, tuned, 4, 1.0, countries)
    assert (view.n, view.beta, view.countries) == (4, 1.0, tuple(countries))
    rows = [pool.countries.index(c) for c in countries]  # the rows of "kept" follow the pool
    assert view.kept == tuple(sweep[4]["kept"][i, 0] for i in rows)
    assert view.kept_verdicts == tuple(model.verdicts(countries, list(view.kept)))
    for i, country in enumerate(countries):
        assert view.tuned_samples[i] == tuple(tuned[1.0].samples[country][:3])
        assert view.base_samples[i] == tuple(base.samples[country][:3])
        assert view.tuned_verdicts[i] == tuple(model.verdicts([country] * 3, view.tuned_samples[i]))
        assert view.base_verdicts[i] == tuple(model.verdicts([country] * 3, view.base_samples[i]))
    assert view.best_of_n == {k: sweep[4][k] for k in ("seen", "unseen", "reward", "distinct")}
    assert view.fewest["reward"] == sweep[1]["reward"] and view.fewest_n == 1
    assert view.groups == 2 and view.tuned is tuned[1.0] and view.base is base


def test_by_default_the_view_shows_the_least_sure_seen_countries_and_some_unseen(
    pool, sweep, base, tuned
):
    view = widget.assistant_view(pool, sweep, base, tuned, 1, 0.1)
    seen = [c for c in view.countries if c not in model.UNSEEN]
    unseen = [c for c in view.countries if c in model.UNSEEN]
    assert len(seen) == 4 and len(unseen) == 3
    assert list(view.countries) == [c for c in pool.countries if c in view.countries]
    true = {c: (pool.verdicts[i] == "true").mean() for i, c in enumerate(pool.countries)}
    others = [c for c in pool.countries if c not in model.UNSEEN and c not in seen]
    assert max(true[c] for c in seen) <= min(true[c] for c in others)


def test_a_view_refuses_what_it_cannot_show(pool, sweep, base, tuned):
    with pytest.raises(ValueError, match="n = 3 is not in the sweep: 1, 2, 4, 8"):
        widget.assistant_view(pool, sweep, base, tuned, 3, 0.1)
    with pytest.raises(ValueError, match="beta = 0.5 was not tuned: 0.1, 1"):
        widget.assistant_view(pool, sweep, base, tuned, 1, 0.5)
    with pytest.raises(ValueError, match="the pool asked nothing about 'Atlantis'"):
        widget.assistant_view(pool, sweep, base, tuned, 1, 0.1, ["France", "Atlantis"])


# ---------------------------------------------------------------------------
# The explorer


def _close(control) -> None:
    for child in getattr(control, "children", ()):
        _close(child)
    control.close()


@pytest.fixture
def explorer(pool, sweep, base, tuned):
    box = widget.assistant_explorer(pool, sweep, base, tuned)
    yield box
    _close(box)  # so that the latency report below drives only its own explorer


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _check_picture(box, view) -> None:
    """The picture's moving parts show `view`: the answers, their marks and colours, the
    bars' heights."""
    picture = box.picture
    assert picture.kept_header.get_text() == f"best of n = {view.n} keeps"
    assert picture.tuned_header.get_text() == f"tuned with β = {view.beta:g}: its answers"
    for text, answer, verdict in zip(picture.kept, view.kept, view.kept_verdicts, strict=True):
        assert text.get_text() == f"{widget.MARKS[verdict]} {widget.shown(answer, 20)}"
        assert text.get_color() == VERDICT_COLORS[verdict]
    for row, answers, judged in zip(
        picture.tuned, view.tuned_samples, view.tuned_verdicts, strict=True
    ):
        for text, answer, verdict in zip(row, answers, judged, strict=True):
            assert text.get_text() == f"{widget.MARKS[verdict]} {widget.shown(answer)}"
            assert text.get_color() == VERDICT_COLORS[verdict]
    strip = lambda r: {v: r[v] for v in figures.VERDICTS}  # noqa: E731
    b, f = view.best_of_n, view.fewest
    assert _stacks(picture.best_ax) == [
        pytest.approx(strip(r)) for r in (f["seen"], b["seen"], f["unseen"], b["unseen"])
    ]
    t, base = view.tuned, view.base
    assert _stacks(picture.tuned_ax) == [
        pytest.approx(strip(r)) for r in (base.seen, t.seen, base.unseen, t.unseen)
    ]
    assert f"mean reward kept {b['reward']:.2f}" in picture.best_ax.get_title()
    assert f"prose loss {t.prose_loss:.3f}" in picture.tuned_ax.get_title()


def test_moving_n_shows_what_best_of_n_kept(explorer, pool, sweep, base, tuned):
    box = explorer
    assert box.name == "assistant explorer" and (box.n.value, box.beta.value) == (1, 0.1)
    assert box.n.options == (("1", 1), ("2", 2), ("4", 4), ("8", 8))
    assert box.beta.options == (("0.1", 0.1), ("1", 1.0))
    for n in (2, 8, 4, 1):
        before = box.image.value
        box.n.value = n
        assert box.image.value != before  # redrawn
        view = widget.assistant_view(pool, sweep, base, tuned, n, 0.1)
        assert box.view == view
        _check_picture(box, view)
        caption = box.caption.value
        assert f"<b>Best of n = {n}.</b>" in caption
        seen = sweep[n]["seen"]
        assert (f"seen countries {seen['true']:.0%} true, {seen['false']:.0%} false, "
                f"{seen['nonsense']:.0%} nonsense") in caption  # fmt: skip
        assert f"Mean reward of the answers kept {sweep[n]['reward']:.2f}" in caption
        assert f"different answers kept per country {sweep[n]['distinct']:.2f} of 2" in caption


def test_moving_beta_shows_the_tuned_creator_beside_the_base(explorer, pool, sweep, base, tuned):
    box = explorer
    box.n.value = 4
    for beta in (1.0, 0.1):
        before = box.image.value
        box.beta.value = beta
        assert box.image.value != before
        view = widget.assistant_view(pool, sweep, base, tuned, 4, beta)
        assert box.view == view
        _check_picture(box, view)
        caption, e = box.caption.value, tuned[beta]
        assert f"<b>DPO at β = {beta:g}.</b>" in caption
        assert f"seen countries {e.seen['true']:.0%} true (base {base.seen['true']:.0%})" in caption
        assert f"among its draws {e.distinct:.2f} (base {base.distinct:.2f})" in caption
        assert (f"<i>Emma</i> {e.prose_loss:.3f} nats per character (base "
                f"{base.prose_loss:.3f})") in caption  # fmt: skip


def test_the_halves_kept_add_up_to_the_picture_drawn_whole(explorer):
    """A frame is put together from pixels kept for each slider's half of the picture; it
    must be the picture drawn at once, whatever was shown before."""
    box = explorer
    for n, beta in [(2, 0.1), (2, 1.0), (8, 1.0), (1, 1.0), (1, 0.1), (8, 0.1)]:
        box.n.value, box.beta.value = n, beta
        picture = box.picture
        whole = blitted_png(picture.canvas, picture.background, picture.moving)  # every artist
        np.testing.assert_array_equal(_pixels(box.image.value), _pixels(whole))


def test_the_explorer_leaves_a_still_and_refuses_bad_input(explorer, pool, sweep, base, tuned):
    box = explorer
    picture, sheet = (Image.open(io.BytesIO(png)) for png in (box.image.value, still(box)))
    assert sheet.size == picture.size
    bundle = box._repr_mimebundle_()
    assert "image/png" in bundle and bundle["text/plain"].startswith("[assistant explorer:")
    cases = [
        (({}, base, tuned), "an empty sweep"),
        (({1: {"seen": {}}}, base, tuned), "sweep\\[1\\] has no 'unseen', 'reward'"),
        (({1: {**sweep[1], "kept": sweep[1]["kept"][:5]}}, base, tuned), "5 rows, the pool 63"),
        ((sweep, base, {}), "no tuned creators"),
        ((sweep, base, {0.1: "tuned"}), "tuned\\[0.1\\] must be a model.Evaluation"),
        ((sweep, None, tuned), "base must be a model.Evaluation"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            widget.assistant_explorer(pool, *args)
    with pytest.raises(ValueError, match="no countries to show"):
        widget.assistant_explorer(pool, sweep, base, tuned, countries=[])


def test_the_explorer_redraws_once_per_change_within_its_budget(explorer):
    box = explorer
    assert {id(control) for control, _ in box.demo_changes} == {id(box.n), id(box.beta)}
    gc.collect()  # the explorers of the tests above, closed, leave `explorers()`
    box.n.value, box.beta.value = 1, 0.1  # where the demo starts
    report = latency_report()["assistant explorer"]
    assert report["changes"] == len(box.demo_changes)
    assert report["p95_ms"] <= report["budget_ms"] == 100, report


def test_the_snapshots_table_every_n_and_beta(pool, sweep, base, tuned):
    countries = ["France", "Peru"]
    fig = widget.assistant_snapshots(pool, sweep, base, tuned, countries)
    texts = {t.get_text(): t for t in fig.axes[0].texts}
    names = [f"best of n = {n}" for n in NS] + ["base creator", "DPO, β = 0.1", "DPO, β = 1"]
    assert all(name in texts for name in names)
    assert "Peru (unseen)" in texts
    for n in NS:
        answer = sweep[n]["kept"][pool.countries.index("Peru"), 0]
        (verdict,) = model.verdicts(["Peru"], [answer])
        cell = f"{widget.MARKS[verdict]} {widget.shown(answer, 14)}"
        assert cell in texts and texts[cell].get_color() == VERDICT_COLORS[verdict]
        assert f"{sweep[n]['seen']['true']:.0%}" in texts
    unseen = tuned[1.0].unseen
    assert f"{unseen['false']:.0%} / {unseen['nonsense']:.0%}" in texts
