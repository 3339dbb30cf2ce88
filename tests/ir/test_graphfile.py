import json

import numpy as np
import pytest

from levin.errors import LevinFormatError
from levin.ir import graphfile
from levin import reference
from tests.runtime.helpers import one_op, run_all

X = np.random.default_rng(0).normal(size=(8, 5, 5, 3)).astype(np.float32)


def test_integer_graph_round_trip(tmp_path):
    g = one_op("Conv2d", (1, 5, 5, 3), weights=(4, 3, 3, 3), padding=(1, 1, 0, 2), stride=(1, 2))
    *_, codes, ig, _ = run_all(g, X)
    graphfile.save(ig, tmp_path)
    back = graphfile.load(tmp_path)
    assert str(back) == str(ig)
    for name, t in ig.tensors.items():
        u = back.tensors[name]
        assert (u.shape, u.dtype) == (t.shape, t.dtype)
        np.testing.assert_array_equal(u.quant.scale, t.quant.scale)
        assert u.quant.axis == t.quant.axis and u.quant.bits == t.quant.bits
        if t.is_constant:
            np.testing.assert_array_equal(u.data, t.data)
    np.testing.assert_array_equal(reference.run(back, reference.quantize_input(back, X))["y"], codes)


def test_float_graph_round_trip(tmp_path):
    g = one_op("Softmax", (1, 6), axis=-1)
    graphfile.save(g, tmp_path)
    assert str(graphfile.load(tmp_path)) == str(g)


def test_not_a_graph_file(tmp_path):
    with pytest.raises(LevinFormatError, match="cannot read"):
        graphfile.load(tmp_path)
    graphfile.save(one_op("ReLU", (1, 3)), tmp_path)
    doc = json.loads((tmp_path / "graph.json").read_text())
    doc["version"] = 99
    (tmp_path / "graph.json").write_text(json.dumps(doc))
    with pytest.raises(LevinFormatError, match="version 1"):
        graphfile.load(tmp_path)
