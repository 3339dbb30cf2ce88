import pytest

from levin.data import load_source
from levin.errors import DatasetError
from tests.data import make


@pytest.mark.parametrize("name, test_from", [("arrays", "carved"), ("dataset", "carved"), ("split", "given")])
def test_factory_returns_arrays_a_torch_dataset_or_a_split(tmp_path, name, test_from):
    file = make.models_file(tmp_path / "mine.py")
    data = load_source(f"{file}:{name}")
    assert data.input_shape == (3,) and data.num_classes == 2 and data.split["test_from"] == test_from
    assert len(data.x_train) + len(data.x_test) == 50


def test_an_exception_in_the_factory_is_reported_as_theirs(tmp_path):
    file = make.models_file(tmp_path / "mine.py")
    with pytest.raises(DatasetError) as err:
        load_source(f"{file}:broken")
    message = str(err.value)
    assert "your dataset factory broken() raised IndexError: list index out of range" in message
    line = make.MODELS.splitlines().index("    return values[5]            # an IndexError in the user's own code") + 1
    assert f"(at {file}:{line})" in message and "your code" in message


@pytest.mark.parametrize("ref, message", [
    ("{tmp}/nowhere.py:f", "data file {tmp}/nowhere.py not found"),
    ("{tmp}/mine.py:absent", "has no function 'absent'"),
    ("{tmp}/mine.py:wrong_type", "returned str; expected a torch Dataset"),
])
def test_bad_factories(tmp_path, ref, message):
    make.models_file(tmp_path / "mine.py")
    with pytest.raises(DatasetError, match=message.format(tmp=tmp_path)):
        load_source(ref.format(tmp=tmp_path))


def test_an_import_error_in_the_file_is_theirs_too(tmp_path):
    (tmp_path / "oops.py").write_text("import numpy\nraise RuntimeError('no sensor attached')\n")
    with pytest.raises(DatasetError, match="importing it raised RuntimeError: no sensor attached \\(at .*oops.py:2\\)"):
        load_source(f"{tmp_path / 'oops.py'}:f")
