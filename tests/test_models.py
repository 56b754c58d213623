import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from genlab import data
from genlab.checks import CheckFailed
from genlab.models import accuracy, digit_critic, learning_curves


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
