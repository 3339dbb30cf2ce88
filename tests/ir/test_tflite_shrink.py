"""Shrinking imported int8 models without retraining: lossless coding keeps every code; k-means
and pruning keep what they promise (at most k values, the zeros asked for, scales untouched)."""

import numpy as np
import pytest

pytest.importorskip("tflite")

from levin import tflite_shrink as S  # noqa: E402
from levin.coding import container  # noqa: E402
from levin.errors import LevinError  # noqa: E402
from levin.ir import tflite as T  # noqa: E402
from levin import reference  # noqa: E402
from tests.conftest import shared_data  # noqa: E402
from tests.ir.test_tflite import model_path  # noqa: E402


@pytest.fixture(scope="module")
def kws():
    return T.load(model_path("kws"))


def test_lossless_lvn_decodes_to_the_same_graph_and_is_smaller(kws):
    size = S.lossless(kws)
    back = container.decode(size.lvn)
    for name, t in kws.tensors.items():
        if t.is_constant:
            np.testing.assert_array_equal(back.tensors[name].data, t.data)
    assert size.weight_bytes < size.lvn_bytes <= 0.6 * model_path("kws").stat().st_size


def test_order0_floor_by_hand_and_below_the_coded_bytes(kws):
    from levin.ir.graph import Graph
    g = Graph("t")
    w = g.add_constant("w", np.tile(np.arange(4, dtype=np.float32), 256).reshape(16, 64))  # 2 bits each
    g.mark_output(g.add_node("Linear", [g.add_input("x", (1, 64)), w], "fc"))
    assert S.order0_floor(g) == 16 * 64 * 2 // 8
    assert S.order0_floor(kws) < S.lossless(kws).weight_bytes


@pytest.mark.parametrize("k", [2, 5, 16])
def test_kmeans_leaves_at_most_k_values_and_keeps_zeros(kws, k):
    v = S.kmeans_codes(kws, k)
    for name in S.weight_names(kws):
        w, w0 = v.tensors[name].data, kws.tensors[name].data
        assert len(np.unique(w)) <= k
        assert np.all(w[w0 == 0] == 0)
        assert v.tensors[name].quant is kws.tensors[name].quant


def test_kmeans_1d_is_exact_when_k_covers_the_values():
    codes = np.array([-7, -7, 3, 3, 3, 120], np.int8)
    assert S.kmeans_1d_codes(codes, 3).tolist() == [-7, 3, 120]
    c = S.kmeans_1d_codes(np.arange(-128, 128).astype(np.int8), 4)
    assert len(c) == 4 and np.all(np.diff(c) > 0)
    with pytest.raises(LevinError, match="k=0"):
        S.kmeans_1d_codes(codes, 0)


def test_pruning_zeroes_the_smallest_fraction_only(kws):
    v = S.prune_codes(kws, 0.5)
    for name in S.weight_names(kws):
        w, w0 = v.tensors[name].data, kws.tensors[name].data
        assert (w == 0).mean() >= 0.5 - 1 / w.size
        kept = w != 0
        np.testing.assert_array_equal(w[kept], w0[kept])
        if kept.any() and (~kept).any():
            assert np.abs(w0[~kept].astype(int)).max() <= np.abs(w0[kept].astype(int)).min()


def test_resnet8_accuracy_check_on_cifar10():
    g = T.load(model_path("resnet8"))
    d = np.load(shared_data("cifar10") / "cifar10_test.npz")
    idx = np.arange(0, 10000, 50)
    x = reference.quantize_input(g, d["x"][idx].astype(np.float32))
    acc = S.top1(g, x, d["y"][idx])
    assert 0.8 <= acc <= 0.95                       # the model's published ~87%
    assert S.agreement(g, g, x) == 1.0
    assert S.top1(S.prune_codes(g, 0.9), x, d["y"][idx]) < acc   # the check can fail
