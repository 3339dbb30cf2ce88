"""Small hostile .lvn files from issue 16: each declares far more work or memory than its size.

Each builder returns valid framing (CRCs right), so the bytes reach the parsers behind the
CRC checks. The graph bodies are written field by field (docs/format.md, section 3), not through
the encoder, which would refuse to write most of them.

    .venv/bin/python -m tests.coding.hostile OUTDIR    # write every case as OUTDIR/<name>.lvn
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

from levin.coding import container
from levin.coding.fields import ByteWriter
from levin.coding.graph_codec import CONSTANT, QUANTIZED, T_LIST, T_NONE

INT8 = 1


def lvn(kind: int, body: bytes) -> bytes:
    """A file of one graph section of `kind` with `body`, framing and CRCs right."""
    head = ByteWriter()
    head.raw(container.MAGIC)
    head.u8(container.VERSION[0])
    head.u8(container.VERSION[1])
    head.varint(1)
    head.u32(zlib.crc32(head.out))
    return bytes(head.out) + container._section(kind, body)


def deflated(body: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(body) + packer.flush()


def graph_body(strings: list[str], tensors: list[bytes], inputs: list[int], outputs: list[int],
               nodes: list[bytes], empty_strings: int = 0) -> bytes:
    """A graph section body; graph name = string 0; `tensors` and `nodes` are encoded records;
    `empty_strings` more strings of length 0 end the string table (one zero byte each)."""
    w = ByteWriter()
    w.varint(len(strings) + empty_strings)
    for s in strings:
        w.blob(s.encode())
    w.raw(bytes(empty_strings))
    w.varint(0)
    w.varint(len(tensors))
    for t in tensors:
        w.raw(t)
    for refs in (inputs, outputs):
        w.varint(len(refs))
        for i in refs:
            w.varint(i)
    w.varint(len(nodes))
    for n in nodes:
        w.raw(n)
    return bytes(w.out)


def tensor(name: int, shape: tuple[int, ...], int8: bool = True, constant: bool = False) -> bytes:
    """A tensor record: int8 quantized per tensor (scale 1.0), or float32; an activation or a constant."""
    w = ByteWriter()
    w.varint(name)
    w.u8((INT8 | QUANTIZED if int8 else 0) | (CONSTANT if constant else 0))
    w.varint(len(shape))
    for d in shape:
        w.varint(d)
    if int8:
        w.u8(0)                          # per tensor, zero points all 0
        w.raw(b"\x00\x00\x80\x3f")       # scale 1.0
    return bytes(w.out)


def node(name: int, op: int, inputs: list[int], output: int, attrs: bytes = b"", n_attrs: int = 0) -> bytes:
    w = ByteWriter()
    for v in (name, op, len(inputs), *inputs, output, n_attrs):
        w.varint(v)
    return bytes(w.out) + attrs


def relu_graph(shape: tuple[int, ...], attrs: bytes = b"", n_attrs: int = 0) -> bytes:
    """y = ReLU(x), x an int8 input of `shape`: strings g, x, y, ReLU, k."""
    return graph_body(["g", "x", "y", "ReLU", "k"], [tensor(1, shape), tensor(2, shape)], [0], [1],
                      [node(2, 3, [0], 1, attrs, n_attrs)])


def empty_strings(n: int = (1 << 24) - 16) -> bytes:
    """~16M empty strings in a deflated graph section of ~16 KB (17.9 s in `levin inspect` before)."""
    return lvn(container.GRAPH_DEFLATE, deflated(graph_body([""], [], [], [], [], n - 1)))


def none_list(n: int = (1 << 24) - 64) -> bytes:
    """A node attribute: a list of ~16M Nones, deflated (11 s before)."""
    w = ByteWriter()
    w.varint(4)                          # key "k"
    w.u8(T_LIST)
    w.varint(n)
    attrs = bytes(w.out) + bytes([T_NONE]) * n
    return lvn(container.GRAPH_DEFLATE, deflated(relu_graph((1, 4), attrs, 1)))


def many_outputs(n: int = 65_535) -> bytes:
    """n distinct graph outputs: n int8 inputs, each also an output (26.5 s before: quadratic)."""
    names = ["g"] + [f"t{i}" for i in range(n)]
    body = graph_body(names, [tensor(i + 1, (1,)) for i in range(n)], list(range(n)), list(range(n)), [])
    return lvn(container.GRAPH_DEFLATE, deflated(body))


def big_activation(elements: int = 1 << 27) -> bytes:
    """A 72-byte file: y = ReLU(x), x an int8 input of 128M elements (128 MB; 3.4 GB RSS in export)."""
    return lvn(container.GRAPH, relu_graph((1, elements)))


def huge_activation() -> bytes:
    """A 74-byte file: an int8 input of 2^31 elements (2 GB, then 16 GB as int64 in export)."""
    return big_activation(1 << 31)


CASES = {"empty_strings": empty_strings, "none_list": none_list, "many_outputs": many_outputs,
         "big_activation": big_activation, "huge_activation": huge_activation}


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for name, build in CASES.items():
        data = build()
        (out / f"{name}.lvn").write_bytes(data)
        print(f"{name}.lvn: {len(data):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
