"""levin.metrics: each task's metric on cases worked by hand, and its refusals."""

import numpy as np
import pytest

from levin.errors import LevinError
from levin.metrics import drop, roc_auc, score


def test_top_k_accuracy():
    out = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    y = np.array([2, 0, 1])
    top1, top2 = score("classification", out, None, y), score("classification", out, None, y, top_k=2)
    assert top1.value == pytest.approx(1 / 3) and top1.metric == "top-1 accuracy"
    assert top2.value == pytest.approx(1.0) and top2.extra == {"top1_accuracy": pytest.approx(1 / 3),
                                                               "top2_accuracy": 1.0}


def test_regression_and_reconstruction_errors():
    out = np.array([[1.0, 2.0], [3.0, 5.0]])
    r = score("regression", out, None, np.array([[1.0, 2.0], [3.0, 3.0]]))
    assert (r.value, r.extra["mae"], r.higher_is_better) == (1.0, 0.5, False)
    x = np.zeros((2, 1, 2))                                  # reconstruction: against the inputs
    assert score("reconstruction", out, x, None).value == pytest.approx((1 + 4 + 9 + 25) / 4)


def test_roc_auc_counts_ties_half():
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)   # sklearn's example
    assert roc_auc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5
    assert roc_auc([0, 1, 2, 3], [0, 0, 1, 1]) == 1.0


def test_anomaly_scores_reconstruction_error():
    x = np.zeros((4, 3))
    out = np.array([[0, 0, 0], [0.1, 0, 0], [1, 1, 1], [2, 0, 0]], float)
    s = score("anomaly", out, x, np.array([0, 0, 1, 1]))
    assert s.metric == "AUC" and s.value == 1.0 and s.text() == "100.00%"


def test_drop_speaks_the_metric():
    acc = lambda v: score("classification", np.eye(2)[[0, 1]] if v else np.eye(2)[[1, 0]], None, np.array([0, 1]))
    assert drop(acc(True), acc(False)) == pytest.approx(100.0)
    before = score("regression", np.array([[1.0]]), None, np.array([[1.1]]))
    after = score("regression", np.array([[1.0]]), None, np.array([[1.11]]))
    assert drop(before, after) == pytest.approx(100 * (0.11 ** 2 - 0.1 ** 2) / 0.1 ** 2)


@pytest.mark.parametrize("task, y, match", [
    ("classification", np.array([0, 5]), "labels span 0..5"),
    ("anomaly", np.array([0, 0]), "both present"),
    ("regression", None, "no targets"),
    ("segmentation", np.array([0, 1]), "not one of"),
])
def test_bad_targets_are_one_line_errors(task, y, match):
    with pytest.raises(LevinError, match=match):
        score(task, np.zeros((2, 3)), np.zeros((2, 3)), y)
