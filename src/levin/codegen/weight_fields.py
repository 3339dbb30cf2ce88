"""Weight tensors for the C runtime: coded bodies -> the fields of a C `levin_weights`.

Weight formats (`weight_format`; the C reader, levin_weights.c, reads them all):
- "int8": raw int8, read in place from flash (no scratch);
- "packed": bit-packed at the width of the values' range (2..7 bits for low-bit weights);
- "codebook": sorted distinct values (flash) + bit-packed indices;
- "rans": rANS-coded values, decoded one output channel at a time into scratch;
- "generated" (only a .lvn's own body, never re-encoded: the coding is lossy): one index per
  block of weights that the C reader regenerates from a seeded hash and a prior table
  (`levin.coding.generated`), one output channel at a time into scratch, as rANS;
- "sparse": coded positions of the nonzeros + their values (smallest of raw/pack/rANS, with or
  without a codebook); the kernels iterate over the nonzeros only;
- "auto": per tensor the coding with the fewest flash bytes in C (`flash_bytes`: rANS tables
  count as the decoder stores them), among the formats above and, for a .lvn input, the file's
  own bytes when the C reader takes its chain (Huffman and varint it does not; kept on ties).

`prefer` says what "auto" and "sparse" choose by (`choose`):
- "flash": the fewest flash bytes, as above;
- "balanced" (the default): the fewest flash bytes among the codings within BALANCED_SLACK of the
  fastest estimate (a coding that decodes every weight of a layer read once, e.g. a fully
  connected layer's rANS, runs many times int8's instructions); `export_c` then moves tensors
  back to raw int8 until the arena is within int8's plus the largest decoding scratch of one kernel;
- "ram": "auto" stores every tensor raw int8 (no decoding scratch, every conv streams);
- "speed": the fewest Cortex-M4 instructions of the tensor's layer as `weight_cost` estimates
  them, among the same candidates plus sparse codings that decode fast (positions as a packed
  bitmask, values raw or packed); of the candidates within SPEED_SLACK of the fastest, the one
  with the fewest flash bytes (a coded conv whose decoding is amortized over many pixels costs
  about what int8 does, in less flash). Layers the model does not cover (transposed convs)
  choose by flash.

The payload bytes in flash are those of the .lvn tensor section (docs/format.md); rANS
frequency tables are stored decoded (cumulative uint16 array, K + 1 entries), as the decoder reads them.
"""

from __future__ import annotations

import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from levin import ops
from levin.codegen import weight_cost
from levin.coding import container, generated, sparse
from levin.coding.entropy_model import FrequencyModel
from levin.coding.fields import ByteReader
from levin.coding.symbols import CODER_IDS, read_stream_head
from levin.coding.varint import encode_varint, read_varint
from levin.coding.weights import CODEBOOK, GENERATED, SPARSE, encode_tensor, read_codebook
from levin.config.code import WeightCodecConfig
from levin.errors import GraphError, LevinError
from levin.ir.graph import Graph, Tensor
from levin.ops.cparams import POS_DENSE

_C_CODERS = ("raw", "pack", "rans")
FORMATS: dict[str, WeightCodecConfig] = {
    "int8": WeightCodecConfig(coders=("raw",), sparse="never", codebook="never"),
    "packed": WeightCodecConfig(coders=("pack",), sparse="never", codebook="never"),
    "codebook": WeightCodecConfig(coders=("pack",), sparse="never", codebook="always"),
    "rans": WeightCodecConfig(coders=("rans",), sparse="never", codebook="never"),
    "sparse": WeightCodecConfig(coders=_C_CODERS, sparse="always", codebook="auto"),
    "auto": WeightCodecConfig(coders=_C_CODERS, sparse="auto", codebook="auto"),
}
_CODER_IDS = {name: CODER_IDS[name] for name in _C_CODERS}   # the C reader's LEVIN_CODER_* ids
CODER_GEN = 16                  # LEVIN_CODER_GEN: generated weights (chain flag 4, no stream coder)
DENSE = POS_DENSE
PREFER = ("balanced", "flash", "ram", "speed")
SPEED_SLACK = 0.05              # prefer="speed": within 5% of the fastest estimate, fewest bytes
BALANCED_SLACK = 1.0            # prefer="balanced": within 2x of the fastest estimate
SLACK = {"speed": SPEED_SLACK, "balanced": BALANCED_SLACK}   # the preferences that weigh speed
# Sparse codings that decode fast (prefer="speed"): values raw, or packed (with a codebook where
# smaller); their positions are then recoded as a packed bitmask.
_FAST_SPARSE = (WeightCodecConfig(coders=("raw",), sparse="always", codebook="never"),
                WeightCodecConfig(coders=("pack",), sparse="always", codebook="auto"))



def _model_fields(model: FrequencyModel, prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    arrays[prefix + "_cum"] = model.cumulative().astype(np.uint16)   # the decoder needs no freq
    return {"cum": prefix + "_cum", "alphabet": model.alphabet_size,
            "precision": model.precision_bits}


def parse_weights(body: bytes, t: Tensor, cname: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Split a tensor section body into the fields of a C `levin_weights` and the const arrays
    it points to (`cname` prefixes their names). The payloads are slices of `body`."""
    n, channels = t.size, t.shape[0]
    arrays: dict[str, np.ndarray] = {}
    w: dict[str, Any] = {"size": n, "channels": channels, "pos_method": DENSE, "pos_states": 1,
                         "gap_bits": 0, "nnz": n, "pos_symbols": 0, "pos_data": None, "pos_len": 0,
                         "pos_model": None, "codebook": None, "codebook_size": 0}
    r = ByteReader(body, 0, len(body), f"tensor {t.name!r}")
    flags = r.u8("chain flags")
    if flags & GENERATED:
        return _generated_fields(r, flags, w, t, cname)
    if flags & SPARSE:
        blob = r.blob("positions")
        head = sparse.read_head(blob, n)
        nnz = head.nnz if head.nnz is not None else int(sparse.decode_positions(blob, n).sum())
        w.update(pos_method=head.method, pos_states=head.states, gap_bits=head.gap_bits,
                 pos_symbols=head.symbols, nnz=nnz)
        if head.model is not None:
            w["pos_model"] = _model_fields(head.model, cname + "_pos", arrays)
        if len(blob) > head.payload:
            arrays[cname + "_pos_data"] = np.frombuffer(blob[head.payload:], np.uint8)
            w.update(pos_data=cname + "_pos_data", pos_len=len(blob) - head.payload)
    if flags & CODEBOOK:
        book = read_codebook(r, t.dtype)
        arrays[cname + "_codebook"] = book.astype(np.int8)
        w.update(codebook=cname + "_codebook", codebook_size=book.size)
    coder, param, offset = read_stream_head(r, t.dtype, indices=bool(flags & CODEBOOK))
    if coder not in _CODER_IDS:
        raise LevinError(f"tensor {t.name!r}: the C runtime does not read coder {coder!r} "
                         f"(it reads {', '.join(_CODER_IDS)})")
    rest, model_fields = body[r.pos:], None
    if coder == "rans":
        model, pos = FrequencyModel.from_bytes(rest, 0)
        if model.alphabet_size > 256:
            raise LevinError(f"tensor {t.name!r}: rANS alphabet of {model.alphabet_size} symbols; "
                             f"the C reader decodes at most 256")
        model_fields, rest = _model_fields(model, cname + "_val", arrays), rest[pos:]
    w.update(coder=_CODER_IDS[coder], bits=param + 1 if coder == "pack" else 0,
             states=param + 1 if coder == "rans" else 1, offset=offset, model=model_fields,
             data=None, len=len(rest))
    if rest:
        arrays[cname + "_data"] = np.frombuffer(rest, np.uint8)
        w["data"] = cname + "_data"
    if w["codebook"] is not None:
        _pad_codebook(w, arrays, model_fields)
    w["crc_fields"], w["crc_data"] = descriptor_crcs(w, arrays)
    return w, arrays


def _generated_fields(r: ByteReader, flags: int, w: dict[str, Any], t: Tensor,
                      cname: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if flags != GENERATED or t.dtype != np.int8:
        raise LevinError(f"tensor {t.name!r}: chain flags {flags:#04x} on {t.dtype}; the C runtime reads "
                         f"generated int8 weights with no other flag")
    start = r.pos
    code = generated.read_body(r, t.size)
    # The generator's parameters ride in front of the indices (levin_weights.h): no descriptor
    # field that every other tensor would carry in flash.
    header = np.array([code.seed, code.block, code.sigma16, code.zero], "<u4").view(np.uint8)
    payload = np.concatenate([header, np.frombuffer(generated.pack_indices(code.indices, code.bits), np.uint8)])
    arrays = {cname + "_data": payload}
    w.update(coder=CODER_GEN, bits=code.bits, states=1, offset=0, model=None, data=cname + "_data",
             len=payload.size)
    assert r.pos - start > 0
    w["crc_fields"], w["crc_data"] = descriptor_crcs(w, arrays)
    return w, arrays


def _pad_codebook(w: dict[str, Any], arrays: dict[str, np.ndarray], model: dict[str, Any] | None) -> None:
    """Pad the codebook with zeros to every index its stream can hold (at most 2^8 entries), so
    the C reader needs no per-symbol bounds test to stay inside it: a corrupt index reads a pad
    entry (levin_model_verify's CRC catches it), never memory past the array."""
    top = (1 << w["bits"]) - 1 if model is None else model["alphabet"] - 1
    need = w["offset"] + top + 1
    name = w["codebook"]
    if 0 <= w["offset"] and w["codebook_size"] < need <= 256:
        arrays[name] = np.concatenate([arrays[name], np.zeros(need - w["codebook_size"], np.int8)])
        w["codebook_size"] = need


def descriptor_crcs(w: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[int, int]:
    """The two CRC32s of a `levin_weights` descriptor that `levin_weights_verify` recomputes in C
    (levin_weights.h): of its numeric fields (little-endian u32 each, in declaration order, then
    a word of bits for the pointers that are not NULL), and of the arrays it points to."""
    def model(m: dict[str, Any] | None) -> list[int]:
        return [m["alphabet"], m["precision"]] if m else [0, 0]
    pointers = (w["pos_data"], (w["pos_model"] or {}).get("cum"), w["codebook"],
                (w["model"] or {}).get("cum"), w["data"])
    fields = [w["size"], w["channels"], w["pos_method"], w["pos_states"], w["gap_bits"], w["nnz"],
              w["pos_symbols"], w["pos_len"], *model(w["pos_model"]), w["codebook_size"], w["coder"],
              w["bits"], w["states"], w["offset"], w["len"], *model(w["model"]),
              sum(1 << i for i, name in enumerate(pointers) if name)]
    crc_fields = zlib.crc32((np.array(fields, np.int64) & 0xFFFFFFFF).astype("<u4").tobytes())
    crc_data = 0
    for name in pointers:   # the order levin_weights_verify reads them in
        if name:
            crc_data = zlib.crc32(arrays[name].astype(arrays[name].dtype.newbyteorder("<")).tobytes(), crc_data)
    return crc_fields, crc_data


def tensor_bodies(path: Path) -> tuple[Graph, dict[str, bytes]]:
    """The graph of a .lvn file and the chain body of each constant tensor (after its index)."""
    data = container.read_bytes(path)
    graph = container.decode(data)
    names = list(graph.tensors)
    _, _, sections = container.read_sections(data)
    bodies = {}
    for s in sections:
        if s.kind == container.TENSOR:
            index, pos = read_varint(data, s.body, "tensor index")
            bodies[names[index]] = data[pos:s.end]
    return graph, bodies


def code_weights(graph: Graph, weight_format: str, stored: dict[str, bytes],
                 prefer: str = "flash") -> dict[str, bytes]:
    """The coded body of every weight tensor, by name (`prefer`: module docstring)."""
    if prefer not in PREFER:
        raise LevinError(f"prefer {prefer!r} is not one of {', '.join(PREFER)}")
    if prefer == "ram" and weight_format == "auto":
        weight_format = "int8"
    bodies = {}
    for node in graph.nodes:
        if ops.get(node.op).weighted:
            t = graph.tensors[node.inputs[1]]
            # Symmetric (zero point 0), as TFLite's; the oracle run in export_c rejects others.
            if t.dtype != np.int8:
                raise GraphError(f"weight {t.name!r}: the C kernels take int8 weights, got {t.dtype}")
            layer = weight_cost.layer_of(graph, node) if prefer in SLACK else None
            bodies[t.name] = _code_weight(t, weight_format, stored.get(t.name), layer, SLACK.get(prefer, 0.0))
    return bodies


def streamed(graph: Graph, bodies: dict[str, bytes]) -> list[str]:
    """Nodes whose C kernels write their output pixel by pixel, so the planner may stream them
    (analyze/memory.py, stream_shift): ops that always do (pooling), and those that do when their
    weights are read in place from flash (conv: raw, dense, no codebook: levin_weights_in_flash)."""
    def streams(n) -> bool:
        mode = ops.get(n.op).streams
        w = graph.tensors[n.inputs[1]] if mode == "weights_in_flash" else None
        return mode == "always" or (w is not None and in_flash(bodies[w.name], w))
    return [n.name for n in graph.nodes if streams(n)]


def in_flash(body: bytes, t: Tensor) -> bool:
    """True when the kernels read `t` in place from flash (raw int8, dense, no codebook:
    levin_weights_in_flash), with no decoder and no scratch."""
    w, _ = parse_weights(body, t, "w")
    return w["pos_method"] == DENSE and w["coder"] == _CODER_IDS["raw"] and w["codebook"] is None


def _code_weight(t: Tensor, weight_format: str, stored: bytes | None, layer: weight_cost.Layer | None,
                 slack: float = SPEED_SLACK) -> bytes:
    """The body of one tensor; `layer` given: chosen among the fast ones (module docstring)."""
    if weight_format not in ("auto", "sparse"):
        return _encode(t, weight_format)
    if weight_format == "sparse":
        candidates = [_encode(t, "sparse")]
    else:
        candidates = [stored] if stored is not None and _c_readable(stored, t) else []
        candidates += [_encode(t, f) for f in FORMATS]
    if layer is not None:
        candidates += _fast_sparse(t)
    return choose(candidates, t, layer, slack)


def choose(candidates: list[bytes], t: Tensor, layer: weight_cost.Layer | None = None,
           slack: float = SPEED_SLACK) -> bytes:
    """The body with the fewest flash bytes (the first on ties); with a `layer`, among those whose
    estimated M4 instructions are within `slack` of the fewest."""
    if layer is not None:
        cost = [weight_cost.instructions(parse_weights(b, t, "w")[0], layer) for b in candidates]
        fast = min(cost) * (1 + slack)
        candidates = [b for b, c in zip(candidates, cost) if c <= fast]
    return min(candidates, key=lambda body: flash_bytes(body, t))


def _fast_sparse(t: Tensor) -> list[bytes]:
    """Sparse bodies of `t` that decode fast: values raw or packed, positions a packed bitmask
    (one bit per weight, read 32 at a time) whatever method codes them smallest."""
    mask = t.data.reshape(-1) != 0
    if mask.all():
        return []
    packed = sparse.encode_candidates(mask)["packed"]
    out = []
    for config in _FAST_SPARSE:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            body = encode_tensor(t.data, config, t.name).body
        size, pos = read_varint(body, 1, "positions")     # body: flags, varint L, positions, rest
        out.append(body[:1] + encode_varint(len(packed)) + packed + body[pos + size:])
    return out


def flash_bytes(body: bytes, t: Tensor) -> int:
    """Bytes a coded weight tensor's arrays take in flash: payloads, codebook, and the rANS
    tables as the C decoder reads them (uint16 cumulative counts, larger than in the .lvn)."""
    return sum(a.nbytes for a in parse_weights(body, t, "w")[1].values())


def _c_readable(body: bytes, t: Tensor) -> bool:
    try:
        parse_weights(body, t, "w")
    except LevinError:                   # Huffman / varint streams: re-encoded for C
        return False
    return True


def _encode(t: Tensor, weight_format: str) -> bytes:
    with warnings.catch_warnings():  # "larger than raw" is expected for packed 8-bit values
        warnings.simplefilter("ignore")
        return encode_tensor(t.data, FORMATS[weight_format], t.name).body
