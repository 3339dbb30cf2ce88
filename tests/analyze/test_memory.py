"""The arena planner: no two live tensors overlap, reuse only where legal, peak >= any live set."""

import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levin import zoo
from levin.analyze.memory import SCRATCH_SUFFIX, ArenaPlan, plan_memory, stream_shift
from levin.errors import LevinError
from levin import ops
from levin.ir.capture import capture
from levin.ir.graph import Graph

F32 = np.float32


@st.composite
def random_graphs(draw) -> Graph:
    """A random DAG over the op set: branches, joins, aliases, in-place candidates."""
    g = Graph("random")
    tensors = [g.add_input("x", (1, draw(st.integers(2, 6)), 4, draw(st.integers(1, 4))))]
    if draw(st.booleans()):
        tensors.append(g.add_input("x2", g.tensors["x"].shape))
    for k in range(draw(st.integers(1, 16))):
        a = draw(st.sampled_from(tensors))
        shape = g.tensors[a].shape
        op = draw(st.sampled_from(["relu", "sigmoid", "add", "conv", "concat", "reshape", "pad", "pool"]))
        name = f"n{k}"
        same = [t for t in tensors if g.tensors[t].shape == shape]
        if op == "add":
            out = g.add_node("Add", [a, draw(st.sampled_from(same))], name)
        elif op == "conv" and len(shape) == 4:
            cout = draw(st.integers(1, 6))
            w = g.add_constant(f"{name}.w", np.zeros((cout, 1, 1, shape[3]), F32))
            out = g.add_node("Conv2d", [a, w], name)
        elif op == "conv":
            w = g.add_constant(f"{name}.w", np.zeros((draw(st.integers(1, 40)), shape[1]), F32))
            out = g.add_node("Linear", [a, w], name)
        elif op == "concat":
            peers = [t for t in tensors if g.tensors[t].shape[:-1] == shape[:-1]]
            out = g.add_node("Concat", [a, draw(st.sampled_from(peers))], name, axis=-1)
        elif op == "reshape":
            target = (1, -1) if len(shape) == 4 else (1, 1, 1, shape[1])
            out = g.add_node("Reshape", [a], name, shape=target)
        elif op == "pad" and len(shape) == 4:
            out = g.add_node("Pad", [a], name, pads=1)
        elif op == "pool" and len(shape) == 4 and min(shape[1:3]) >= 2:
            out = g.add_node("MaxPool2d", [a], name, kernel=2)
        else:
            out = g.add_node("Sigmoid" if op == "sigmoid" else "ReLU", [a], name)
        tensors.append(out)
    used = {i for n in g.nodes for i in n.inputs}
    for t in tensors:
        if t not in used and t not in g.inputs or draw(st.integers(0, 7)) == 0:
            g.mark_output(t)
    if not g.outputs:
        g.mark_output(tensors[-1])
    g.validate()
    return g


def liveness(g: Graph) -> dict[str, tuple[int, int]]:
    """Independent of the planner: written at the producer's step (-1 for inputs), read until
    the last consumer's step, or to the end for graph outputs."""
    steps = {n.output: k for k, n in enumerate(g.nodes)}
    live = {}
    for t in g.inputs + list(steps):
        reads = [k for k, n in enumerate(g.nodes) if t in n.inputs]
        first = steps.get(t, -1)
        live[t] = (first, len(g.nodes) if t in g.outputs else max(reads, default=first))
    return live


def check_plan(g: Graph, plan: ArenaPlan) -> None:
    live = liveness(g)
    p = dict(plan.tensors)
    step = {n.name: k for k, n in enumerate(g.nodes)}
    for name in [t for t in p if t.endswith(SCRATCH_SUFFIX)]:   # kernel scratch: its node's step only
        k = step[name[:-len(SCRATCH_SUFFIX)]]
        assert (p[name].first, p[name].last) == (k, k) and p[name].reuses is None
        for t, (a, b) in live.items():
            if a <= k <= b:
                assert p[name].offset + p[name].size <= p[t].offset or p[t].offset + p[t].size <= p[name].offset
        assert p[name].offset + p[name].size <= plan.arena_bytes
        del p[name]
    assert set(p) == set(live)
    producer = {n.output: n for n in g.nodes}
    group = {}                                       # tensor -> root of its reuse chain
    for t in live:
        assert (p[t].first, p[t].last) == live[t], t
        assert p[t].size == g.tensors[t].nbytes
        assert p[t].offset % plan.alignment == 0 and p[t].offset + p[t].size <= plan.arena_bytes
        root = t
        while p[root].reuses:
            root = p[root].reuses
        group[t] = root
    for t, pl in p.items():                          # every reuse is legal
        if pl.reuses is None:
            continue
        node, src = producer[t], pl.reuses
        kind = ops.get(node.op).kind
        assert src in node.inputs and pl.offset == p[src].offset - pl.shift
        if pl.shift or kind == "compute":            # streamed: far enough ahead of its input
            assert src == node.inputs[0] and pl.shift >= stream_shift(g, node, pl.ahead) and pl.shift % plan.alignment == 0
        else:
            assert kind in ("alias", "elementwise")
        if kind != "alias":                          # everything in the buffer so far is dead after
            k = live[t][0]
            for u in live:
                if group[u] == group[t] and live[u][0] < k:
                    assert live[u][1] <= k, f"{t} overwrites {u}, which is read later"
    names = sorted(live)
    for i, t in enumerate(names):                    # no overlap in both time and bytes
        for u in names[i + 1:]:
            if group[t] == group[u]:
                continue
            (a0, a1), (b0, b1) = live[t], live[u]
            bytes_overlap = p[t].offset < p[u].offset + p[u].size and p[u].offset < p[t].offset + p[t].size
            assert not (a0 <= b1 and b0 <= a1 and bytes_overlap), f"{t} and {u} overlap"
    for k in range(-1, len(g.nodes) + 1):            # peak >= every set of live buffers
        live_groups = {}
        for t, (a, b) in live.items():
            if a <= k <= b:
                live_groups[group[t]] = max(live_groups.get(group[t], 0), p[t].size)
        assert plan.arena_bytes >= sum(live_groups.values())


@settings(derandomize=True, max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(), st.sampled_from([1, 4, 16]), st.booleans(), st.booleans())
def test_random_dags_never_overlap_live_tensors(g, alignment, inplace, streamed):
    plan = plan_memory(g, alignment=alignment, inplace=inplace,
                       streamed=[n.name for n in g.nodes] if streamed else ())
    check_plan(g, plan)
    if streamed:
        assert plan.arena_bytes <= plan_memory(g, alignment=alignment, inplace=inplace).arena_bytes
    if not inplace:                                  # no elementwise op writes over its input
        assert all(p.reuses is None or ops.get(g.producer(t).op).kind != "elementwise"
                   for t, p in plan.tensors.items())


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_plans_are_valid(name):
    model = zoo.create(name)
    g = capture(model, torch.randn(1, *zoo.spec(name).input_shape))
    check_plan(g, plan_memory(g))


def test_lenet5_arena_by_hand():
    g = capture(zoo.create("lenet5"), torch.randn(1, 1, 28, 28))
    plan = plan_memory(g)
    t = plan.tensors
    # ReLUs run in place; the flatten is an alias. The peak is at pool1: conv1's 24x24x20 float
    # buffer (now relu1) plus pool1's 12x12x20 output.
    assert t["relu1"].reuses == "conv1" and t["relu1"].offset == t["conv1"].offset
    assert t["flatten"].reuses == "pool2" and t["flatten"].offset == t["pool2"].offset
    assert plan.arena_bytes == 4 * (24 * 24 * 20 + 12 * 12 * 20)
    without = plan_memory(g, inplace=False)
    assert without.tensors["relu1"].reuses is None
    assert without.arena_bytes == 4 * (24 * 24 * 20 * 2)          # conv1 + relu1 at once


def test_inplace_only_when_the_input_is_dead():
    g = Graph("t")
    x = g.add_input("x", (1, 4))
    a = g.add_node("ReLU", [x], "a")             # x is read again by b: a cannot overwrite x
    b = g.add_node("Add", [x, a], "b")           # x and a both die here: b takes over one
    g.mark_output(b)
    plan = plan_memory(g, alignment=1)
    assert plan.tensors["a"].reuses is None and plan.tensors["b"].reuses == "x"
    assert plan.arena_bytes == 32
    check_plan(g, plan)


def test_plan_round_trips_through_json():
    g = capture(zoo.create("resnet8"), torch.randn(1, 3, 32, 32))
    plan = plan_memory(g)
    again = ArenaPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan and again.offset("fc") == plan.tensors["fc"].offset


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.update(version=99), "version 99 is not 2"),
    (lambda d: d.pop("tensors"), "malformed"),
    (lambda d: d.update(arena_bytes=8), "lies outside the 8-byte arena"),
])
def test_bad_plan_files_are_refused(mutate, message):
    g = Graph("t")
    g.mark_output(g.add_node("ReLU", [g.add_input("x", (1, 8))], "r"))
    d = plan_memory(g).to_dict()
    mutate(d)
    with pytest.raises(LevinError, match=message):
        ArenaPlan.from_dict(d)


# --- streaming: the output overwrites input that no later pixel reads -------------------------


def _window_graph(op, shape, cout, kernel, stride, dilation, padding, groups):
    g = Graph("w")
    x = g.add_input("x", shape)
    if op == "Conv2d":
        w = g.add_constant("w", np.zeros((cout, *kernel, shape[3] // groups), F32))
        y = g.add_node("Conv2d", [x, w], "y", stride=stride, dilation=dilation, padding=padding, groups=groups)
    else:
        y = g.add_node(op, [x], "y", kernel=kernel, stride=stride, padding=padding)
    g.mark_output(y)
    return g


def _run_streamed(g, x, shift, weights):
    """Run the node pixel after pixel as the C kernels do, in ONE buffer with the output `shift`
    elements before the input; every output read from a clobbered input differs from the truth
    because clobbered cells hold values outside the input's range."""
    node = g.nodes[0]
    _, h, w, c = x.shape
    _, ho, wo, co = g.tensors[node.output].shape
    a = node.attrs
    if node.op == "Conv2d":
        (kh, kw), (dh, dw), groups = weights.shape[1:3], a["dilation"], a["groups"]
    else:
        (kh, kw), (dh, dw), groups = a["kernel"], (1, 1), c
    (sh, sw), (pt, _, pl, _) = a["stride"], a["padding"]
    buf = np.zeros(max(shift + x.size, ho * wo * co), np.int64)
    buf[shift:shift + x.size] = x.ravel()

    def pixel(mem, oy, ox, o):
        cg = c // groups
        cin = (o // (co // groups)) * cg
        vals = []
        for ky in range(kh):
            for kx in range(kw):
                iy, ix = oy * sh - pt + ky * dh, ox * sw - pl + kx * dw
                if 0 <= iy < h and 0 <= ix < w:
                    at = (iy * w + ix) * c + cin
                    vals.append((mem[at:at + cg], ky, kx))
        if node.op == "Conv2d":
            return sum(int((v * weights[o, ky, kx]).sum()) for v, ky, kx in vals)
        return max((int(v[0]) for v, _, _ in vals), default=0)

    truth = np.zeros(ho * wo * co, np.int64)
    for oy in range(ho):
        for ox in range(wo):
            for o in range(co):
                truth[(oy * wo + ox) * co + o] = pixel(x.ravel(), oy, ox, o)
    # A conv writes pixel q + 1 while it still reads pixel q (pairs): write it first, the worst case.
    ahead = 1 if node.op == "Conv2d" else 0
    for q in range(ho * wo):
        early = slice((q + 1) * co, min(q + 1 + ahead, ho * wo) * co)
        buf[early] = truth[early] + 10**6
        for o in range(co):
            buf[q * co + o] = pixel(buf[shift:], q // wo, q % wo, o) + 10**6
    return buf[:truth.size] - 10**6, truth


@settings(derandomize=True, max_examples=120, deadline=None)
@given(op=st.sampled_from(["Conv2d", "MaxPool2d"]), h=st.integers(1, 6), w=st.integers(1, 6),
       c=st.sampled_from([1, 2, 4]), cout=st.sampled_from([1, 2, 4, 8]), k=st.integers(1, 3),
       s=st.integers(1, 2), d=st.integers(1, 2), pad=st.integers(0, 2), depthwise=st.booleans())
def test_stream_shift_never_overwrites_input_still_to_be_read(op, h, w, c, cout, k, s, d, pad, depthwise):
    if op != "Conv2d":
        d, cout, pad = 1, c, min(pad, k - 1)
    groups = c if depthwise and op == "Conv2d" and cout % c == 0 else 1
    span = d * (k - 1) + 1
    if h + 2 * pad < span or w + 2 * pad < span:
        return
    g = _window_graph(op, (1, h, w, c), cout, (k, k), (s, s), (d, d), (pad, pad, pad, pad), groups)
    shift = stream_shift(g, g.nodes[0]) // 4                       # float32 bytes -> elements
    rng = np.random.default_rng(h * 100 + w)
    x = rng.integers(1, 100, (1, h, w, c))
    weights = rng.integers(1, 5, (cout, k, k, c // groups))
    got, truth = _run_streamed(g, x, shift, weights)
    np.testing.assert_array_equal(got, truth)


def test_stream_shift_by_hand():
    # 3x3, padding 1: pixel (y, x) writes up to input pixel (y, x + 2) (conv pixels go in pairs)
    # and still needs (y - 1, x - 1): the output must lead by W + 3 pixels (float32: 4 bytes each).
    g = _window_graph("Conv2d", (1, 8, 8, 4), 4, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1)
    assert stream_shift(g, g.nodes[0]) == (8 + 3) * 4 * 4
    # 1x1 expanding 2 -> 6 channels over P pixels: the pair before the last bounds it, P*6 - (P-2)*2.
    g = _window_graph("Conv2d", (1, 3, 3, 2), 6, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 1)
    assert stream_shift(g, g.nodes[0]) == (9 * 6 - 7 * 2) * 4
    # a 2x2 stride-2 pool shrinks 4x: only its first pixel leads (pixels are written whole).
    g = _window_graph("MaxPool2d", (1, 8, 8, 4), 4, (2, 2), (2, 2), (1, 1), (0, 0, 0, 0), 1)
    assert stream_shift(g, g.nodes[0]) == 4 * 4


def test_streaming_a_chain_of_convs_shrinks_the_arena():
    g = Graph("chain")
    t = g.add_input("x", (1, 16, 16, 8))
    for k in range(3):
        t = g.add_node("Conv2d", [t, g.add_constant(f"w{k}", np.zeros((8, 3, 3, 8), F32))], f"c{k}", padding=1)
    g.mark_output(t)
    plain = plan_memory(g, alignment=16)
    streamed = plan_memory(g, alignment=16, streamed=[n.name for n in g.nodes])
    check_plan(g, streamed)
    tensor, lead = 16 * 16 * 8 * 4, (16 + 2) * 8 * 4               # each conv leads by W + 2 pixels
    assert plain.arena_bytes == 2 * tensor
    assert streamed.arena_bytes == tensor + 3 * lead
    assert [streamed.tensors[f"c{k}"].shift for k in range(3)] == [lead] * 3
    assert plan_memory(g, streamed=["c1"]).tensors["c0"].shift == 0   # only the nodes named


def test_a_conv_writes_ahead_only_where_the_lead_is_free():
    # c0 streams after a 16x wider tensor made the peak: its lead for pixel pairs costs nothing.
    # In the chain above every extra byte of lead would grow the arena: no pairs there.
    g = Graph("ahead")
    t = g.add_input("x", (1, 8, 8, 4))
    t = g.add_node("Conv2d", [t, g.add_constant("w_wide", np.zeros((64, 1, 1, 4), F32))], "wide")
    t = g.add_node("Conv2d", [t, g.add_constant("w_narrow", np.zeros((4, 1, 1, 64), F32))], "narrow")
    g.mark_output(g.add_node("Conv2d", [t, g.add_constant("w0", np.zeros((4, 3, 3, 4), F32))], "c0", padding=1))
    plan = plan_memory(g, alignment=16, streamed=["c0"])
    check_plan(g, plan)
    assert plan.tensors["c0"].reuses == "narrow" and plan.tensors["c0"].ahead == 1
    assert plan.tensors["c0"].shift == stream_shift(g, g.nodes[2], 1) == (8 + 3) * 4 * 4
    assert plan.arena_bytes == plan_memory(g, alignment=16).arena_bytes


def test_kernel_scratch_only_where_the_arena_has_room():
    # x -> c0 (small) -> wide (16x) -> narrow: 64 bytes for c0 fit beside its small tensors under
    # the peak that `wide` makes later; 100 kB for `narrow` would grow the arena: refused.
    g = Graph("scratch")
    t = g.add_input("x", (1, 8, 8, 4))
    t = g.add_node("Conv2d", [t, g.add_constant("w0", np.zeros((4, 3, 3, 4), F32))], "c0", padding=1)
    t = g.add_node("Conv2d", [t, g.add_constant("w_wide", np.zeros((64, 1, 1, 4), F32))], "wide")
    g.mark_output(g.add_node("Conv2d", [t, g.add_constant("w_narrow", np.zeros((4, 1, 1, 64), F32))], "narrow"))
    plain = plan_memory(g, alignment=16)
    plan = plan_memory(g, alignment=16, scratch={"c0": 64, "narrow": 100_000})
    check_plan(g, plan)
    assert plan.arena_bytes == plain.arena_bytes
    entry = plan.tensors["c0" + SCRATCH_SUFFIX]
    assert (entry.first, entry.last, entry.size) == (0, 0, 64) and "narrow" + SCRATCH_SUFFIX not in plan.tensors
    for name in ("x", "c0"):   # live at step 0 with it: never overlapping
        other = plan.tensors[name]
        assert entry.offset + entry.size <= other.offset or other.offset + other.size <= entry.offset


def test_kernel_scratch_takes_the_first_size_that_fits():
    # the graph of the test above: c0 asks 100 kB or 64 B, best first (gets 64), narrow 100 kB or
    # 200 kB (neither fits: nothing)
    g = Graph("scratch")
    t = g.add_input("x", (1, 8, 8, 4))
    t = g.add_node("Conv2d", [t, g.add_constant("w0", np.zeros((4, 3, 3, 4), F32))], "c0", padding=1)
    t = g.add_node("Conv2d", [t, g.add_constant("w_wide", np.zeros((64, 1, 1, 4), F32))], "wide")
    g.mark_output(g.add_node("Conv2d", [t, g.add_constant("w_narrow", np.zeros((4, 1, 1, 64), F32))], "narrow"))
    plan = plan_memory(g, alignment=16, scratch={"c0": (100_000, 64), "narrow": (100_000, 200_000)})
    check_plan(g, plan)
    assert plan.arena_bytes == plan_memory(g, alignment=16).arena_bytes
    assert plan.tensors["c0" + SCRATCH_SUFFIX].size == 64
    assert "narrow" + SCRATCH_SUFFIX not in plan.tensors


def test_a_faster_unstreamed_kernel_only_where_the_arena_has_room():
    # x (4 ch) -> wide (64 ch: the peak) -> narrow (4 ch) -> c1 (4 ch) -> c2 (4 ch): c2 streams over
    # c1 for nothing (their tensors are far below the peak), so it may take its output apart and a
    # scratch, as c1 may; narrow streaming over `wide`'s 16x larger output keeps the arena down.
    g = Graph("apart")
    t = g.add_input("x", (1, 8, 8, 4))
    t = g.add_node("Conv2d", [t, g.add_constant("w_wide", np.zeros((64, 1, 1, 4), F32))], "wide")
    t = g.add_node("Conv2d", [t, g.add_constant("w_narrow", np.zeros((4, 1, 1, 64), F32))], "narrow")
    t = g.add_node("Conv2d", [t, g.add_constant("w1", np.zeros((4, 1, 1, 4), F32))], "c1")
    g.mark_output(g.add_node("Conv2d", [t, g.add_constant("w2", np.zeros((4, 1, 1, 4), F32))], "c2"))
    names = [n.name for n in g.nodes]
    streamed = plan_memory(g, alignment=16, streamed=names)
    plan = plan_memory(g, alignment=16, streamed=names, unstreamed={"c1": 32, "c2": 32, "narrow": 2048})
    check_plan(g, plan)
    assert plan.arena_bytes == streamed.arena_bytes
    assert streamed.tensors["c2"].reuses == "c1"
    for name in ("c1", "c2"):
        assert plan.tensors[name].reuses is None and plan.tensors[name + SCRATCH_SUFFIX].size == 32
    assert plan.tensors["narrow"].reuses == "wide" and "narrow" + SCRATCH_SUFFIX not in plan.tensors


def test_fully_connected_and_softmax_do_not_stream():
    g = Graph("fc")
    y = g.add_node("Linear", [g.add_input("x", (1, 8)), g.add_constant("w", np.zeros((8, 8), F32))], "fc")
    g.mark_output(g.add_node("Softmax", [y], "sm"))
    assert all(stream_shift(g, n) is None for n in g.nodes)
