import numpy as np
import pytest

from levin.data import with_validation
from levin.errors import DatasetError
from levin.train.data import load


def test_validation_is_carved_from_train_with_a_seed_and_recorded():
    digits = load("digits")
    data = with_validation(digits, 0.1, seed=3)
    assert len(data.x_train) + len(data.x_val) == len(digits.x_train)
    assert len(data.x_val) == round(0.1 * len(digits.x_train))
    np.testing.assert_array_equal(data.x_test, digits.x_test)              # test untouched
    train_rows = {r.tobytes() for r in data.x_train}
    assert not any(r.tobytes() in train_rows for r in data.x_val[:50])    # held out, not copied
    assert data.split["validation"] == len(data.x_val) and data.split["validation_seed"] == 3
    assert not np.array_equal(with_validation(digits, 0.1, seed=4).y_val, data.y_val)


def test_tuning_view_puts_validation_where_test_was():
    data = with_validation(load("digits"))
    view = data.tuning()
    assert view.x_test is data.x_val and view.x_train is data.x_train
    with pytest.raises(DatasetError, match="no validation split"):
        load("digits").tuning()


@pytest.mark.parametrize("fraction", [0, 1, -0.1])
def test_a_validation_share_outside_0_1_is_refused(fraction):
    with pytest.raises(DatasetError, match=f"a validation split of {fraction:g}: expected a share between 0 and 1"):
        with_validation(load("digits"), fraction)
