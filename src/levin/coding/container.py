"""The .lvn container: one file holding a whole Graph, its size in bytes IS the model size.

Read me first. Layout (every field little-endian; full spec in docs/format.md):

    header   magic "LEVN", u8 major, u8 minor, varint section count, u32 CRC32 of the header
    sections each: u8 kind, varint body length, body, u32 CRC32 of kind + length + body
             kind 1 GRAPH  exactly one graph section, first: tensors, nodes, inputs, outputs
                           (`graph_codec.py`); kind 3 is the same body, raw-DEFLATE compressed
                           (format 2.0: names and op names are a tenth of a small model's file
                           otherwise); kind 4 the compact form (`graph_compact.py`: derived
                           shapes, scales and default attributes left out) and kind 5 that
                           deflated (format 3.0); kind 6 is it deflated against a preset
                           dictionary of common names (`graph_dictionary.py`). The writer
                           ("auto") keeps the shortest.
             kind 2 TENSOR one per constant tensor, in tensor order: varint tensor index, then
                           the codec chain of its data (`weights.py`)
             kinds with bit 7 set are optional: a reader that does not know them skips them

A reader accepts any minor version of major versions 1, 2 and 3 (1.x files have no kind 3, only
3.x files have kinds 4, 5 and 6 and the golomb and adaptive value coders) and rejects a newer major version.
Format 3.0 broke 2.x readers (new graph kinds, a new coder), hence the major version.
Reading never trusts a length: every count is checked against the bytes left and against the
named limits of `limits.py` (docs/format.md, "Limits") before anything is allocated, each
section's CRC32 is checked before its body is parsed, and every error is a LevinFormatError
naming the part (header, section i, tensor 'name', field). `read` takes regular files only, of at
most `LIMITS.file_bytes`.
"""

from __future__ import annotations

import os
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from levin.coding import graph_codec, graph_compact, weights
from levin.coding.graph_dictionary import DICTIONARY
from levin.coding.fields import ByteReader, ByteWriter
from levin.coding.limits import LIMITS, check_activation_bytes, exceeds
from levin.config.code import CodeConfig
from levin.errors import LevinError, LevinFormatError
from levin.ir.graph import Graph

MAGIC = b"LEVN"
VERSION = (3, 0)
READS = (1, 2, 3)                      # major versions this reader reads
GRAPH, TENSOR, GRAPH_DEFLATE, GRAPH_COMPACT, GRAPH_COMPACT_DEFLATE, GRAPH_COMPACT_PRESET = 1, 2, 3, 4, 5, 6
OPTIONAL = 0x80
KIND_NAMES = {GRAPH: "graph", TENSOR: "tensor", GRAPH_DEFLATE: "graph (deflated)",
              GRAPH_COMPACT: "graph (compact)", GRAPH_COMPACT_DEFLATE: "graph (compact, deflated)",
              GRAPH_COMPACT_PRESET: "graph (compact, deflated with the preset dictionary)"}
GRAPH_KINDS = (GRAPH, GRAPH_DEFLATE, GRAPH_COMPACT, GRAPH_COMPACT_DEFLATE, GRAPH_COMPACT_PRESET)
COMPACT_KINDS = (GRAPH_COMPACT, GRAPH_COMPACT_DEFLATE, GRAPH_COMPACT_PRESET)
DEFLATED = {GRAPH_DEFLATE: b"", GRAPH_COMPACT_DEFLATE: b"", GRAPH_COMPACT_PRESET: DICTIONARY}  # kind -> preset
SINCE = {GRAPH_DEFLATE: 2, GRAPH_COMPACT: 3, GRAPH_COMPACT_DEFLATE: 3, GRAPH_COMPACT_PRESET: 3}  # first major version


@dataclass
class Section:
    kind: int
    offset: int      # of the kind byte
    body: int        # offset of the body
    end: int         # offset after the body (the CRC follows)

    @property
    def nbytes(self) -> int:
        return self.end + 4 - self.offset

    def describe(self, i: int, n: int) -> str:
        return f"section {i} of {n} ({KIND_NAMES.get(self.kind, f'kind {self.kind}')}, byte {self.offset})"


@dataclass
class TensorReport:
    """What `inspect` shows for one constant tensor."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    chain: str
    elements: int
    meta_bytes: int      # its record in the graph section (name, shape, dtype, quantization)
    data_bytes: int      # its tensor section, framing and CRC included
    entropy_bits: float  # order-0 entropy of the coded symbol streams
    streams: list[weights.StreamStats] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return self.meta_bytes + self.data_bytes


@dataclass
class ContainerReport:
    """Every byte of a file, on exactly one line: header, graph parts, tensors."""

    version: tuple[int, int]
    file_bytes: int
    header_bytes: int
    graph_bytes: dict[str, int]  # graph section parts not owned by a constant tensor
    tensors: list[TensorReport]
    skipped_bytes: int = 0       # optional sections this reader does not know
    graph: Graph | None = None

    @property
    def tensor_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    def to_dict(self) -> dict:
        tensors = [dict(name=t.name, shape=list(t.shape), dtype=t.dtype, chain=t.chain, elements=t.elements,
                        meta_bytes=t.meta_bytes, data_bytes=t.data_bytes, bytes=t.nbytes,
                        bits_per_weight=8 * t.nbytes / t.elements, entropy_bytes=t.entropy_bits / 8,
                        streams=[dict(vars(s)) for s in t.streams]) for t in self.tensors]
        return dict(format_version=f"{self.version[0]}.{self.version[1]}", file_bytes=self.file_bytes,
                    header_bytes=self.header_bytes, graph_bytes=dict(self.graph_bytes),
                    skipped_bytes=self.skipped_bytes, tensor_bytes=self.tensor_bytes,
                    weights=sum(t.elements for t in self.tensors),
                    entropy_bytes=sum(t.entropy_bits for t in self.tensors) / 8, tensors=tensors)


def encode(graph: Graph, config: CodeConfig | None = None, bodies: dict[str, bytes] | None = None) -> bytes:
    """Return the .lvn bytes of `graph`, each constant tensor coded as `config` says.

    `bodies`: ready-made tensor bodies by tensor name (generated weights, `weights.GENERATED`),
    stored as they are; each must decode to its tensor's data (LevinError otherwise).
    """
    config = config or CodeConfig()
    bodies = bodies or {}
    unknown = set(bodies) - {t.name for t in graph.tensors.values() if t.is_constant}
    if unknown:
        raise LevinError(f"ready-made bodies for tensors the graph does not hold as constants: {sorted(unknown)}")
    sections = [_section(*graph_section(graph, config.graph))]
    for i, t in enumerate(graph.tensors.values()):
        if t.is_constant:
            if t.name in bodies:
                body = bodies[t.name]
                got = weights.decode_tensor(ByteReader(body, 0, len(body), f"tensor {t.name!r}"),
                                            t.shape, t.dtype).data
                if not np.array_equal(got, t.data):
                    raise LevinError(f"tensor {t.name!r}: its ready-made body does not decode to its data")
            else:
                # context=True: positions may take the context model (sparse.py), which only the
                # Python reader decodes; the C export codes such tensors again for the C runtime.
                body = weights.encode_tensor(t.data, config.for_tensor(t.name), t.name, context=True).body
            w = ByteWriter()
            w.varint(i)
            sections.append(_section(TENSOR, bytes(w.out) + body))
    head = ByteWriter()
    head.raw(MAGIC)
    head.u8(VERSION[0])
    head.u8(VERSION[1])
    head.varint(len(sections))
    head.u32(zlib.crc32(head.out))
    return bytes(head.out) + b"".join(sections)


def _deflate(body: bytes, preset: bytes = b"") -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=preset)   # b"": no dictionary
    return packer.compress(body) + packer.flush()


def graph_section(graph: Graph, how: str = "auto") -> tuple[int, bytes]:
    """(kind, body) of the graph section: "plain" the plain form (kind 1), "auto" the shortest
    of the plain and compact forms, each as is or deflated, the compact one also against the
    preset dictionary (ties keep the lower kind)."""
    plain = graph_codec.encode_graph(graph)
    if how == "plain":
        return GRAPH, plain
    compact = graph_compact.encode_compact(graph)
    forms = [(GRAPH, plain), (GRAPH_DEFLATE, _deflate(plain)),
             (GRAPH_COMPACT, compact), (GRAPH_COMPACT_DEFLATE, _deflate(compact)),
             (GRAPH_COMPACT_PRESET, _deflate(compact, DICTIONARY))]
    return min(forms, key=lambda f: len(f[1]))


def _section(kind: int, body: bytes) -> bytes:
    w = ByteWriter()
    w.u8(kind)
    w.blob(body)
    w.u32(zlib.crc32(w.out))
    return bytes(w.out)


def read_sections(data: bytes) -> tuple[tuple[int, int], int, list[Section]]:
    """Check the header and every section's framing and CRC; return (version, header bytes, sections).

    Raises:
        LevinFormatError: wrong magic, newer major version, truncation, CRC mismatch, trailing bytes.
    """
    data = bytes(data)
    if data[:4] != MAGIC:
        raise LevinFormatError(f"header: not a .lvn file (magic bytes {data[:4]!r}, expected {MAGIC!r})")
    r = ByteReader(data, 4, len(data), "header")
    version = (r.u8("major version"), r.u8("minor version"))
    if version[0] not in READS:
        newer = version[0] > VERSION[0]
        raise LevinFormatError(
            f"header: format version {version[0]}.{version[1]} "
            + (f"is newer than this levin reads ({', '.join(f'{m}.x' for m in READS)}); upgrade levin"
               if newer else "is not a valid version"))
    n = r.count("section count", 6, limit="sections")
    crc = zlib.crc32(data[: r.pos])
    stored = r.u32("header CRC32")
    if stored != crc:
        raise LevinFormatError(f"header: CRC32 mismatch (stored {stored:#010x}, computed {crc:#010x}), corrupt")
    header_bytes, sections = r.pos, []
    for i in range(n):
        offset = r.pos
        r.what = f"section {i} of {n} (byte {offset})"
        if r.left == 0:
            raise r.fail(f"file truncated: the header declares {n} sections, {i} are present")
        kind = r.u8("kind")
        length = r.varint("body length")
        if length + 4 > r.left:
            raise r.fail(f"body of {length} bytes and its CRC need {length + 4}, {r.left} left (truncated)")
        sec = Section(kind, offset, r.pos, r.pos + length)
        r.pos = sec.end
        crc, stored = zlib.crc32(data[offset : sec.end]), r.u32("CRC32")
        if crc != stored:
            raise LevinFormatError(f"{sec.describe(i, n)}: CRC32 mismatch (stored {stored:#010x}, "
                                   f"computed {crc:#010x}), the file is corrupt")
        sections.append(sec)
    if r.left:
        raise LevinFormatError(f"{r.left} bytes after the last of {n} sections (byte {r.pos}), corrupt")
    return version, header_bytes, sections


def _parse(data: bytes, stats: bool) -> tuple[Graph, ContainerReport]:
    data = bytes(data)
    version, header_bytes, sections = read_sections(data)
    n = len(sections)
    known = [s for s in sections if not s.kind & OPTIONAL]
    for i, s in enumerate(sections):
        if (s.kind not in KIND_NAMES or version[0] < SINCE.get(s.kind, 1)) and not s.kind & OPTIONAL:
            raise LevinFormatError(f"{s.describe(i, n)}: unknown required section kind {s.kind}")
    graphs = [s for s in known if s.kind in GRAPH_KINDS]
    if not known or known[0] not in graphs or len(graphs) != 1:
        raise LevinFormatError("sections: the file needs exactly one graph section, before the tensor sections")
    g = known[0]
    decoder = graph_compact.decode_compact if g.kind in COMPACT_KINDS else graph_codec.decode_graph
    if g.kind in DEFLATED:
        body = _inflate(data[g.body:g.end], g.describe(sections.index(g), n), DEFLATED[g.kind])
        desc = decoder(body, 0, len(body))
        deflate = (g.end - g.body) - len(body)   # negative: the bytes deflate saved
    else:
        desc = decoder(data, g.body, g.end)
        deflate = 0
    records = desc.tensors   # shapes, counts and sizes already checked against LIMITS
    constant_ids = [i for i, t in enumerate(records) if t.constant]
    tensor_sections = [(i, s) for i, s in enumerate(sections) if s.kind == TENSOR]
    constants, reports = {}, []
    for k, (i, s) in enumerate(tensor_sections):
        r = ByteReader(data, s.body, s.end, s.describe(i, n))
        idx = r.varint("tensor index")
        if k >= len(constant_ids) or idx != constant_ids[k]:
            want = f"tensor {constant_ids[k]}" if k < len(constant_ids) else "no more tensor sections"
            raise r.fail(f"holds tensor {idx}, expected {want} (constant tensors in order)")
        t = records[idx]
        r.what = f"tensor section for {t.name!r} ({r.what})"
        dec = weights.decode_tensor(r, t.shape, t.dtype, stats)
        constants[t.name] = dec.data
        bits = sum(st.entropy_bits for st in dec.streams)
        reports.append(TensorReport(t.name, t.shape, str(t.dtype), dec.chain, int(dec.data.size), t.nbytes,
                                    s.nbytes, bits, dec.streams))
    if len(tensor_sections) < len(constant_ids):
        missing = records[constant_ids[len(tensor_sections)]].name
        raise LevinFormatError(f"sections: constant tensor {missing!r} has no tensor section")
    graph = graph_codec.build_graph(desc, constants)
    if g.kind in COMPACT_KINDS:
        check_activation_bytes(graph)    # shapes the file left out, now rebuilt: bound them
    parts = dict(desc.parts)
    parts["tensors"] -= sum(t.meta_bytes for t in reports)
    parts["framing"] = g.nbytes - (g.end - g.body)
    if deflate:
        parts["deflate"] = deflate
    report = ContainerReport(version, len(data), header_bytes, parts, reports,
                             sum(s.nbytes for s in sections if s.kind & OPTIONAL), graph)
    return graph, report


def _inflate(body: bytes, where: str, preset: bytes = b"") -> bytes:
    """A deflated graph section's body, inflated (against `preset`, a preset dictionary);
    bounded (never more than the limit is inflated), and complete to its last byte."""
    by_ratio = LIMITS.inflate_ratio * len(body)
    cap = min(by_ratio, LIMITS.graph_bytes)
    inflater = zlib.decompressobj(-15, zdict=preset)
    try:
        out = inflater.decompress(body, cap + 1)
    except zlib.error as exc:
        raise LevinFormatError(f"{where}: the deflate stream is corrupt ({exc})") from None
    if len(out) > cap:
        limit = (f"the limit inflate_ratio = {LIMITS.inflate_ratio} times its {len(body):,} bytes"
                 if by_ratio < LIMITS.graph_bytes else f"the limit graph_bytes = {LIMITS.graph_bytes:,}")
        raise LevinFormatError(f"{where}: inflates to more than {cap:,} bytes, {limit}")
    if not inflater.eof or inflater.unused_data:
        raise LevinFormatError(f"{where}: the deflate stream is truncated or has bytes after its end")
    return out


def decode(data: bytes) -> Graph:
    """Return the Graph stored in .lvn bytes. Raises LevinFormatError naming what is wrong."""
    return _parse(data, stats=False)[0]


def inspect(data: bytes) -> ContainerReport:
    """Decode .lvn bytes and account for every byte; per tensor, measure its streams' entropy."""
    return _parse(data, stats=True)[1]


def write(graph: Graph, path: str | Path, config: CodeConfig | None = None) -> int:
    """Write `graph` as a .lvn file; return its size in bytes."""
    data = encode(graph, config)
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise LevinError(f"cannot write {path}: {exc.strerror or exc}") from None
    return len(data)


def read(path: str | Path) -> Graph:
    """Read the Graph from a .lvn file."""
    return decode(read_bytes(path))


_NOT_REGULAR = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a pipe"), (stat.S_ISSOCK, "a socket"))


def read_bytes(path: str | Path) -> bytes:
    """The bytes of a regular file of at most `LIMITS.file_bytes`; never reads more than that.

    Raises:
        LevinFormatError: not a regular file (/dev/zero, a pipe, a directory), or too large.
        LevinError: the file cannot be opened or read.
    """
    try:
        # O_NONBLOCK: opening a pipe must not wait for a writer; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise LevinError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _NOT_REGULAR if test(info.st_mode)), "an unusual kind")
            raise LevinFormatError(f"{path}: not a regular file ({kind}); give a .lvn file")
        if info.st_size > LIMITS.file_bytes:
            raise LevinFormatError(f"{path}: {exceeds('file_bytes', info.st_size, 'bytes')}; not a .lvn model")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        try:
            want = min(info.st_size, LIMITS.file_bytes) + 1
            data = f.read(want)                     # buffered: reads until `want` bytes or the end
            if len(data) == want:                   # it grew since fstat: read on, still bounded
                data += f.read(LIMITS.file_bytes + 1 - len(data))
        except OSError as exc:
            raise LevinError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > LIMITS.file_bytes:
        raise LevinFormatError(f"{path}: more than {LIMITS.file_bytes:,} bytes (the limit file_bytes); "
                               f"not a .lvn model")
    return data
