import numpy as np
import pytest

from audiotag.training.metrics import accuracy, average_precision_at_k, map3, per_class_map3, top_k


def test_map3_hand_computed():
    # 4 classes; true labels at rank 1, 2, 3 and outside the top 3.
    probs = np.array([
        [0.7, 0.1, 0.1, 0.1],   # true 0 -> rank 1 -> 1
        [0.5, 0.3, 0.1, 0.1],   # true 1 -> rank 2 -> 1/2
        [0.4, 0.3, 0.2, 0.1],   # true 2 -> rank 3 -> 1/3
        [0.4, 0.3, 0.2, 0.1],   # true 3 -> rank 4 -> 0
    ])
    targets = np.array([0, 1, 2, 3])
    np.testing.assert_allclose(average_precision_at_k(probs, targets), [1, 0.5, 1 / 3, 0])
    assert map3(probs, targets) == pytest.approx((1 + 0.5 + 1 / 3) / 4)
    assert accuracy(probs, targets) == pytest.approx(0.25)


def test_ties_are_broken_by_class_index():
    probs = np.array([[0.25, 0.25, 0.25, 0.25]])
    assert top_k(probs, 3).tolist() == [[0, 1, 2]]
    assert map3(probs, np.array([1])) == pytest.approx(0.5)


def test_per_class_table_matches_manual_means():
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0], [0.0, 0.1, 0.9]])
    targets = np.array([0, 1, 1, 2])
    public = np.array([True, False, True, False])
    table = per_class_map3(probs, targets, ["a", "b", "c"],
                           subsets={"whole": np.ones(4, bool), "private": ~public, "public": public})
    assert table.loc["a", "score(whole)"] == pytest.approx(1.0)
    assert table.loc["b", "score(whole)"] == pytest.approx((1 + 0.5) / 2)
    assert table.loc["b", "score(private)"] == pytest.approx(1.0)
    assert table.loc["b", "score(public)"] == pytest.approx(0.5)
    assert np.isnan(table.loc["c", "score(public)"])
    assert table.loc["b", "count(whole)"] == 2


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        map3(np.zeros((2, 3)), np.array([0, 1, 2]))
