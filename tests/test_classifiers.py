"""Module 01's topic, genlab.classifiers: measuring classifiers, their figures and the
boundary explorer; and the live-figure machinery every widget shares (genlab.live)."""

import base64
import io
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from genlab import classifiers, data, figures
from genlab.checks import CheckFailed
from genlab.classifiers import (
    accuracy,
    boundary_explorer,
    boundary_panels,
    boundary_snapshots,
    digit_critic,
    learning_curves,
)
from genlab.live import live_figure, still

MODELS = {"generative": GaussianNB, "discriminative": lambda: LogisticRegression(C=10)}


def test_two_views_figure_has_the_two_panels():
    fig = classifiers.two_views_figure()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Generative: P(x, y) = P(y) P(x | y)", "Discriminative: P(y | x)"]
    posterior = fig.axes[1].lines[0].get_ydata()
    assert 0 <= posterior.min() < 0.05 and 0.95 < posterior.max() <= 1


def test_show_digits_draws_one_image_per_digit():
    fig = figures.show_digits(data.load_digits().X_train[:13], titles=range(13), ncols=5)
    assert isinstance(fig, Figure)
    assert sum(bool(ax.images) for ax in fig.axes) == 13


def test_plot_learning_curves_draws_every_model():
    split = data.load_wine_2d()
    curves = learning_curves(
        MODELS,
        split.X_train,
        split.y_train,
        split.X_test,
        split.y_test,
        sizes=[6, 30],
        seeds=range(2),
        progress=False,
    )
    fig = classifiers.plot_learning_curves(curves)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["generative", "discriminative"]


def test_boundary_panels_predict_over_the_whole_grid():
    split = data.load_wine_2d()
    panels = boundary_panels(MODELS, split, size=12, steps=30)
    assert panels.models == ("generative", "discriminative")
    assert panels.xx.shape == panels.labels["generative"].shape == (30, 30)
    assert set(np.unique(panels.labels["discriminative"]).tolist()) == {0, 1, 2}
    assert len(panels.train_idx) == 12
    # the grid covers every data point
    assert panels.xx.min() < split.X_test[:, 0].min() and panels.yy.max() > split.X_test[:, 1].max()
    # golden: the generative accuracy is scikit-learn's on the same subset
    model = GaussianNB().fit(split.X_train[panels.train_idx], split.y_train[panels.train_idx])
    assert panels.accuracy["generative"] == np.mean(model.predict(split.X_test) == split.y_test)


def test_boundary_snapshots_draws_a_row_per_size():
    fig = boundary_snapshots(MODELS, data.load_wine_2d(), sizes=[6, 30], steps=20)
    assert len(fig.axes) == 4


def test_moving_the_slider_redraws_the_boundaries():
    widget = boundary_explorer(MODELS, data.load_wine_2d(), sizes=[3, 12, 48], steps=20)
    first = widget.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    widget.slider.value = 48
    assert widget.image.value != first
    widget.slider.value = 3
    assert widget.image.value == first  # cached, and drawn from the same subset


def test_widgets_do_not_import_torch_for_modules_without_a_language_model():
    imports = "genlab.classifiers, genlab.data, genlab.figures, genlab.live, genlab.text"
    code = f"import sys, {imports}; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_a_live_widget_carries_a_still_of_its_pictures():
    """Displayed, a live widget offers the widget, a PNG of its pictures side by side, and a
    line of text; a front end without widgets shows the PNG."""
    from IPython.core.interactiveshell import InteractiveShell
    from PIL import Image

    widget = boundary_explorer(MODELS, data.load_wine_2d(), sizes=[3, 12], steps=20)
    bundle, _ = InteractiveShell.instance().display_formatter.format(widget)
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == widget.model_id
    assert bundle["text/plain"] == "[boundary explorer: a live widget; run the notebook to use it]"
    shown = Image.open(io.BytesIO(base64.b64decode(bundle["image/png"])))
    assert shown.size == Image.open(io.BytesIO(widget.image.value)).size
    assert still(widget) == base64.b64decode(bundle["image/png"])


def test_a_still_puts_several_pictures_side_by_side():
    import ipywidgets as widgets
    from PIL import Image

    def png(width, height):
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), "black").save(buffer, format="png")
        return buffer.getvalue()

    box = live_figure([widgets.HBox([widgets.Image(value=png(30, 20)), widgets.HTML("x")])])
    box.children += (widgets.Image(value=png(10, 40)), widgets.Image())  # the last not drawn
    sheet = Image.open(io.BytesIO(still(box)))
    assert sheet.size == (30 + 8 + 10, 40)
    assert still(live_figure([widgets.HTML("no pictures")])) is None


def test_learning_curves_measure_each_model_on_the_same_subsets():
    split = data.load_wine_2d()
    curves = learning_curves(
        {"generative": GaussianNB, "discriminative": lambda: LogisticRegression(C=10)},
        split.X_train,
        split.y_train,
        split.X_test,
        split.y_test,
        sizes=[6, 24, len(split.y_train)],
        seeds=range(3),
        progress=False,
    )
    assert curves.sizes.tolist() == [6, 24, len(split.y_train)]
    for name in ("generative", "discriminative"):
        assert curves.scores[name].shape == (3, 3)
        assert ((0 <= curves.scores[name]) & (curves.scores[name] <= 1)).all()
        # on the full training set every seed sees the same data
        assert curves.std(name)[-1] == 0
        assert curves.mean(name)[-1] > curves.mean(name)[0]
    # golden value: scikit-learn's naive Bayes on all of the training wines
    full = GaussianNB().fit(split.X_train, split.y_train)
    assert curves.mean("generative")[-1] == pytest.approx(
        accuracy(full, split.X_test, split.y_test)
    )
    assert "generative" in curves.table() and "±" in curves.table()


def test_accuracy_explains_a_wrong_prediction_shape():
    class Transposed:
        def predict(self, X):
            return np.zeros((1, len(X)))

    with pytest.raises(CheckFailed, match=r"Transposed.predict\(X\)` to have shape \(4,\)"):
        accuracy(Transposed(), np.zeros((4, 2)), np.zeros(4))


def test_the_digit_critic_knows_real_digits():
    split = data.load_digits()
    critic = digit_critic(split)
    assert critic.score(split.X_test, split.y_test) > 0.95
    assert critic.predict_proba(split.X_test[:5]).shape == (5, 10)
