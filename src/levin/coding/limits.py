"""The limits a .lvn reader enforces, in one place: what a small hostile file may cost.

Read me first. A .lvn file is untrusted input: a 70-byte file can declare a 2 GB tensor, a 16 KB
deflated graph section can inflate into 16 million strings. Every limit below is checked before
the memory or the time it bounds is spent, and a violation is a LevinFormatError naming the limit
and the value found ("tensor 0 ('x'): shape (1, 134217728): 134,217,728 elements, over the limit
tensor_elements = 16,777,216"). Each value sits well above what a microcontroller model needs
(the largest device profile levin knows has 8 MB of SRAM); docs/format.md ("Limits") lists them, and
tests/coding/test_format_doc.py checks that table against this module.

`check_activation_bytes(graph)` is for code that runs or plans a graph it did not build (the
reference interpreter in `levin export` holds every activation): call it first, with a device's
RAM or the default ceiling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from levin.errors import LevinFormatError

KiB, MiB = 1 << 10, 1 << 20


def _limit(value: int, why: str):
    return field(default=value, metadata={"why": why})


@dataclass(frozen=True)
class Limits:
    """Named limits, each with a one-line why (`table()`); `LIMITS` holds the defaults."""

    file_bytes: int = _limit(256 * MiB, "a file is read whole: the largest valid one (constants at their cap, "
                                         "raw float32) is 128 MiB plus its graph")
    sections: int = _limit(1 << 17, "sections of a file: one per constant tensor, plus optional ones; bounds "
                                    "the framing loop")
    graph_bytes: int = _limit(4 * MiB, "a graph section, plain or inflated: 4,096 nodes and 16,384 named "
                                       "tensors take about 1 MiB")
    inflate_ratio: int = _limit(64, "a deflated graph section inflates to at most this many times its size; "
                                    "real graphs deflate 1.4-5x, deflate itself reaches 1032x")
    strings: int = _limit(1 << 15, "names, op names and attribute keys: at most one per tensor and node, "
                                   "and a few more")
    string_bytes: int = _limit(1 * KiB, "one string: names from PyTorch capture are tens of bytes")
    tensors: int = _limit(1 << 14, "graph inputs, node outputs and constants: 4,096 nodes with a weight and "
                                   "a bias each need 12,288")
    nodes: int = _limit(1 << 12, "hundreds of layers at most fit a microcontroller's flash")
    graph_inputs: int = _limit(1 << 10, "the C runtime takes one input; multi-input graphs have a handful")
    graph_outputs: int = _limit(1 << 10, "the C runtime writes one output; multi-head graphs have a handful")
    node_inputs: int = _limit(1 << 10, "inputs of one node: the widest op, Concat, joins a handful of branches")
    edges: int = _limit(1 << 16, "inputs of all nodes together (3 per conv): bounds the time to rebuild and "
                                 "check the graph")
    attributes: int = _limit(16, "attributes of one node: the op set's widest has 4")
    attribute_items: int = _limit(256, "one tuple or list value: shapes and paddings have at most 16 items")
    attribute_values: int = _limit(1 << 18, "attribute values of the whole graph, items of tuples included: "
                                            "bounds the decoding time")
    attribute_depth: int = _limit(8, "nesting of tuple and list values")
    rank: int = _limit(8, "dimensions of a tensor: NHWC feature maps have 4")
    tensor_elements: int = _limit(1 << 24, "elements of one tensor, activation or constant (64 MiB as float32)")
    constant_elements: int = _limit(1 << 25, "elements of all constant tensors together: 32M weights, far beyond "
                                             "any microcontroller's flash")
    activation_bytes: int = _limit(64 * MiB, "bytes of all activation tensors (graph inputs and node outputs) "
                                             "together, what the reference interpreter holds; a device arena "
                                             "is at most a few MiB")
    alphabet_symbols: int = _limit(1 << 16, "symbols of a frequency table or Huffman code (16-bit values)")
    codebook_entries: int = _limit(1 << 16, "entries of a codebook (16-bit values)")

    def table(self) -> list[tuple[str, int, str]]:
        """(name, value, why) of every limit, in order."""
        return [(f.name, getattr(self, f.name), f.metadata["why"]) for f in fields(self)]


LIMITS = Limits()


def exceeds(name: str, value: int, unit: str = "", limits: Limits = LIMITS) -> str:
    """The message tail for `value` over the limit `name`: "N units, over the limit name = M"."""
    return f"{value:,}{' ' + unit if unit else ''}, over the limit {name} = {getattr(limits, name):,}"


def check(name: str, value: int, what: str, unit: str = "", limits: Limits = LIMITS) -> None:
    """Raise LevinFormatError "what: N units, over the limit name = M" if `value` is over limit `name`."""
    if value > getattr(limits, name):
        raise LevinFormatError(f"{what}: {exceeds(name, value, unit, limits)}")


def check_activation_bytes(graph, ceiling: int | None = None, limits: Limits = LIMITS) -> int:
    """Return the bytes of all activation tensors of `graph` (inputs and node outputs together).

    Call it before running or planning a graph from outside (`reference.run` holds every
    activation, and int64 temporaries of the largest): it reads only shapes, allocates nothing.
    Every plan's arena is at most this sum, so it also bounds the arena.

    Args:
        graph: a levin.ir.graph.Graph.
        ceiling: bytes allowed, e.g. a device's RAM; default `limits.activation_bytes` (64 MiB).

    Raises:
        LevinFormatError: one activation over `tensor_elements`, or the sum over the ceiling.
    """
    ceiling = limits.activation_bytes if ceiling is None else ceiling
    total = 0
    for name in list(graph.inputs) + [n.output for n in graph.nodes]:
        t = graph.tensors[name]
        elements = math.prod(t.shape)
        check("tensor_elements", elements, f"graph {graph.name!r}: activation {name!r} {list(t.shape)}", "elements",
              limits)
        total += elements * t.dtype.itemsize
    if total > ceiling:
        raise LevinFormatError(f"graph {graph.name!r}: its activations need {total:,} bytes, more than the "
                               f"ceiling of {ceiling:,} (default: the limit activation_bytes)")
    return total
