"""The arena planner: no two live tensors overlap, reuse only where legal, peak >= any live set."""

import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levin import zoo
from levin.analyze.memory import ArenaPlan, plan_memory
from levin.errors import LevinError
from levin.ir import ops
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
    p = plan.tensors
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
        assert src in node.inputs and pl.offset == p[src].offset and kind in ("alias", "elementwise")
        if kind == "elementwise":                    # everything in the buffer so far is dead after
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
@given(random_graphs(), st.sampled_from([1, 4, 16]), st.booleans())
def test_random_dags_never_overlap_live_tensors(g, alignment, inplace):
    plan = plan_memory(g, alignment=alignment, inplace=inplace)
    check_plan(g, plan)
    if not inplace:
        assert all(p.reuses is None or g.producer(t).op == "Reshape" for t, p in plan.tensors.items())


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
    (lambda d: d.update(version=99), "version 99 is not 1"),
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
