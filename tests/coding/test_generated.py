"""Generated weights (levin.coding.generated): the program's bytes, its decoding, the encoder's
choice, and corrupt bodies."""

import re

import numpy as np
import pytest

from levin import runtime
from levin.coding import container, generated as G
from levin.coding.fields import ByteReader
from levin.coding.weights import decode_tensor
from levin.errors import LevinError, LevinFormatError
from levin.ir.graph import Graph, QuantParams


def _code(n=100, block=16, bits=6, seed=5, sigma16=320, zero=0, rng=0):
    idx = np.random.default_rng(rng).integers(0, 1 << bits, -(-n // block))
    return G.GeneratedCode(n, seed, block, bits, sigma16, zero, idx)


def test_frozen_bitstream_and_codes():
    # A format change must be a decision: these bytes and codes are frozen.
    code = G.GeneratedCode(10, 7, 4, 5, 384, 0, np.array([1, 30, 17]))
    assert code.body() == bytes([4, 1, 7, 4, 5, 0x80, 0x03, 0]) + bytes([0xc1, 0x47])
    assert G.mix(np.array([0, 1, 0xFFFFFFFF], np.uint32)).tolist() == [0, 1753845952, 1734902346]  # lowbias32, checked by hand
    assert code.codes().tolist() == [1, -9, 40, -14, -40, 2, -13, -13, 28, -8]


def test_round_trip_through_the_tensor_section():
    code = _code(n=1000, block=64, bits=10, zero=3)
    body = code.body()
    assert len(body) == G.body_bytes(1000, 64, 10, seed=5, sigma16=320)
    d = decode_tensor(ByteReader(body, 0, len(body), "t"), (10, 100), np.dtype(np.int8), stats=True)
    assert d.chain == "generated:B64xC10"
    np.testing.assert_array_equal(d.data.reshape(-1), code.codes())
    assert G.decode_body(body, 1000).indices.tolist() == code.indices.tolist()


def test_prior_table_is_a_symmetric_gaussian_with_a_dead_zone():
    t = G.prior_table(16 * 20)
    assert np.array_equal(t, -t[::-1]) and t[0] < 0 < t[-1] and np.all(np.diff(t.astype(int)) >= 0)
    assert abs(t.astype(float).std() - 20) < 1.5          # sigma in code units
    z = G.prior_table(16 * 20, zero=10)
    assert np.count_nonzero(z == 0) >= 20 and np.array_equal(z[:118], t[:118])
    assert G.prior_table(0xFFFF).max() == 127             # clamped to int8


def test_c_runtime_holds_the_same_quantile_table():
    src = (runtime.C_DIR / "levin_weights.c").read_text()
    body = re.search(r"normal_q12\[256\] = \{(.*?)\};", src, re.S).group(1)
    assert [int(v) for v in body.replace("\n", " ").split(",") if v.strip()] == G.NORMAL_Q12.tolist()


def test_blocks_are_random_access():
    code = _code(n=50, block=8)
    all_codes = code.codes()
    for b in range(code.blocks):
        n = min(8, 50 - 8 * b)
        got = G.block_codes(code.seed, 8, code.table(), b, int(code.indices[b]), n)
        np.testing.assert_array_equal(got, all_codes[8 * b: 8 * b + n])


def test_encoder_follows_the_posterior():
    rng = np.random.default_rng(1)
    n = 256
    mu = rng.normal(0, 20, n)
    code = G.encode_blocks(G.empty_code(n, 32, 12, 16 * 20), np.arange(8), mu, np.full(n, 6.0), 20.0)
    codes = code.codes().astype(float)
    assert np.corrcoef(codes, mu)[0, 1] > 0.6
    # more candidates, closer
    code4 = G.encode_blocks(G.empty_code(n, 32, 4, 16 * 20), np.arange(8), mu, np.full(n, 6.0), 20.0)
    assert np.mean((codes - mu) ** 2) < np.mean((code4.codes() - mu) ** 2)
    # sampling by importance weights is seeded and still follows the posterior
    s1 = G.encode_blocks(G.empty_code(n, 32, 12, 320), np.arange(8), mu, np.full(n, 6.0), 20.0,
                         np.random.default_rng(3))
    assert np.corrcoef(s1.codes(), mu)[0, 1] > 0.5


@pytest.mark.parametrize("cut, match", [
    (lambda b: b[:1] + b"\x02" + b[2:], "unknown weight generator"),
    (lambda b: b[:-1], "take 2 bytes"),
    (lambda b: b + b"\x00", "take 2 bytes"),
    (lambda b: b[:-1] + bytes([b[-1] | 0x80]), "padding bits"),
    (lambda b: b[:4] + b"\x00" + b[5:], "index bits 0"),
    (lambda b: b[:3] + b"\x00" + b[4:], "block size 0"),
    (lambda b: b[:1], "truncated|generator"),
])
def test_corrupt_bodies_are_named(cut, match):
    body = G.GeneratedCode(10, 7, 4, 5, 384, 0, np.array([1, 30, 17])).body()
    bad = cut(body)
    with pytest.raises(LevinFormatError, match=match):
        decode_tensor(ByteReader(bad, 0, len(bad), "tensor 'w'"), (10,), np.dtype(np.int8))


def test_generated_flag_takes_no_other_and_int8_only():
    body = _code(n=10, block=4).body()
    for bad, dtype in ((bytes([5]) + body[1:], np.int8), (body, np.int32)):
        with pytest.raises(LevinFormatError, match="generated"):
            decode_tensor(ByteReader(bad, 0, len(bad), "t"), (10,), np.dtype(dtype))


def _graph(codes):
    g = Graph("lin")
    q = QuantParams(np.float32(0.05), 0)
    g.add_input("x", (1, 8), np.int8, q)
    g.add_constant("w", codes.reshape(4, 8), QuantParams(np.float32(0.01), 0))
    g.add_constant("b", np.zeros(4, np.int32), QuantParams(np.float32(0.0005), 0))
    g.mark_output(g.add_node("Linear", ["x", "w", "b"], "y", quant=QuantParams(np.float32(0.1), 0)))
    return g


def test_container_stores_and_inspects_generated_tensors():
    code = _code(n=32, block=8, bits=4)
    g = _graph(code.codes())
    data = container.encode(g, bodies={"w": code.body()})
    back = container.decode(data)
    np.testing.assert_array_equal(back.tensors["w"].data.reshape(-1), code.codes())
    assert {t.name: t.chain for t in container.inspect(data).tensors}["w"] == "generated:B8xC4"
    other = _code(n=32, block=8, bits=4, rng=9)
    with pytest.raises(LevinError, match="does not decode to its data"):
        container.encode(g, bodies={"w": other.body()})
