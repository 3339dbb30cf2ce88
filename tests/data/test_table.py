import numpy as np
import pytest

from levin.data import DataOptions, describe, load_source
from levin.errors import DatasetError
from tests.data import make


def test_csv_inputs_and_named_label_column(tmp_path):
    path = make.csv_file(tmp_path / "har.csv", n=30)
    data = load_source(str(path), DataOptions(label_column="activity"))
    assert data.input_shape == (3,) and data.classes == ("run", "sit", "walk")
    assert "3 input column(s) (ax, ay, az), label column 'activity'" in describe(data)
    x = np.concatenate([data.x_train, data.x_test])
    y = np.concatenate([data.y_train, data.y_test])
    assert x[y == data.classes.index("sit")].mean() > x[y == data.classes.index("walk")].mean() + 1


@pytest.mark.parametrize("text, message", [
    ("a,b,label\n1,2,0\n", None),
    ("a,b,activity\n1,2,0\n", "no column 'label' \\(columns: a, b, activity\\); name the label column"),
    ("a,b,label\n1,x,0\n", "line 2, column 'b': 'x' is not a number"),
    ("a,b,label\n1,2\n", "line 2: 2 fields, the header has 3"),
    ("a,b,label\n1,nan,0\n1,2,1\n3,4,0\n5,6,1\n", "hold NaN or infinity"),
])
def test_bad_csv_says_where(tmp_path, text, message):
    (tmp_path / "t.csv").write_text(text)
    if message is None:
        with pytest.raises(DatasetError, match="cannot give a test split"):     # one row only
            load_source(str(tmp_path / "t.csv"))
        return
    with pytest.raises(DatasetError, match=message):
        load_source(str(tmp_path / "t.csv"))
