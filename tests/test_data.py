import numpy as np
import pytest

from genlab import data


def test_digits_are_scaled_split_and_stratified():
    split = data.load_digits()
    X_train, X_test, y_train, y_test = split
    assert X_train.shape == (1257, 64) and X_test.shape == (540, 64)
    assert X_train.min() == 0 and X_train.max() == 1
    assert X_train.dtype == np.float64 and y_train.dtype == np.int64
    assert np.bincount(y_test).min() >= 50  # every digit is well represented in the test set
    again = data.load_digits()
    assert np.array_equal(again.X_train, X_train)  # same seed, same split


def test_wine_2d_is_standardised_on_the_training_part():
    split = data.load_wine_2d()
    assert split.X_train.shape[1] == 2 and len(split.class_names) == 3
    np.testing.assert_allclose(split.X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(split.X_train.std(axis=0), 1)
    assert split.feature_names == ("flavanoids", "color_intensity")


@pytest.mark.parametrize("size", [3, 4, 10, 57, 106])
def test_stratified_subset_keeps_every_class(size):
    y = data.load_wine_2d().y_train
    idx = data.stratified_subset(y, size, seed=1)
    assert len(idx) == size == len(set(idx.tolist()))
    assert set(y[idx].tolist()) == {0, 1, 2}
    assert np.array_equal(idx, data.stratified_subset(y, size, seed=1))


def test_stratified_subset_follows_class_shares_and_handles_tiny_classes():
    y = np.array([0] * 90 + [1] * 9 + [2])
    idx = data.stratified_subset(y, 20, seed=0)
    counts = np.bincount(y[idx], minlength=3)
    assert counts.tolist() == [16, 3, 1]  # one each, then 17 more by largest remainder
    assert data.stratified_subset(y, 100, seed=0).tolist() == list(range(100))


def test_stratified_subset_rejects_impossible_sizes():
    with pytest.raises(ValueError, match="between the number of classes \\(3\\)"):
        data.stratified_subset(np.array([0, 1, 2, 2]), 2, seed=0)
