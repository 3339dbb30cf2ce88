"""Hostile weight descriptors through the C readers, under AddressSanitizer and UBSan.

The readers (levin_weights.c, levin_rans.c) are built with tests/c/fuzz_weights.c, whose input
is a descriptor plus its arrays (`fuzz_input`), each array in a heap buffer of exactly its declared
size, so a read past a length the descriptor gives is a sanitizer report. Hand-built corruptions
(a 17-entry codebook in 5-bit fields with a flipped bit, short raw and packed payloads, corrupted
rANS, bad positions, inconsistent fields) must give LEVIN_ERR_CORRUPT with no report; the
checksums (levin_weights_verify) must catch every flipped bit of a payload the reader cannot
judge; a few seconds of mutation fuzzing (a minute under `make test-all`) must find nothing; and
exported models must run bit-exact with the sanitizers on (build_harness(sanitize=True), which
LEVIN_C_SANITIZE=1 turns on for every C test).
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from levin.coding import container, sparse
from levin.coding.varint import encode_varint, read_varint
from levin.coding.weights import SPARSE, encode_tensor
from levin.config.code import WeightCodecConfig
from levin.targets import build
from levin import codegen, reference, runtime
from levin.codegen.weight_fields import parse_weights

C_DIR = runtime.C_DIR
HARNESS = Path(__file__).resolve().parents[1] / "c" / "fuzz_weights.c"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "golden.lvn"
SOURCES = [C_DIR / f for f in ("levin_weights.c", "levin_rans.c", "levin_status.c")]
FORMATS = ("int8", "packed", "codebook", "rans", "sparse", "auto")


def _sanitizers_work(tmp: Path) -> bool:
    cc = build.compiler()
    if cc is None:
        return False
    src = tmp / "probe.c"
    src.write_text("int main(void) { return 0; }\n")
    proc = subprocess.run([cc, *build.SANITIZE, "-o", str(tmp / "probe"), str(src)], capture_output=True)
    return proc.returncode == 0 and subprocess.run([str(tmp / "probe")]).returncode == 0


@pytest.fixture(scope="module")
def sanitizers(tmp_path_factory) -> None:
    if not _sanitizers_work(tmp_path_factory.mktemp("probe")):
        pytest.skip("no C compiler with -fsanitize=address,undefined")


@pytest.fixture(scope="module")
def fuzzer(sanitizers, tmp_path_factory) -> Path:
    """tests/c/fuzz_weights.c and the readers, built under ASan + UBSan."""
    exe = tmp_path_factory.mktemp("fuzz") / "fuzz_weights"
    cmd = [build.compiler(), *build.STRICT, "-O1", *build.SANITIZE, "-I", str(C_DIR), "-o", str(exe),
           str(HARNESS), *map(str, SOURCES)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return exe


# ---- descriptors ---------------------------------------------------------------------------

def _tensor(data: np.ndarray) -> SimpleNamespace:
    return SimpleNamespace(name="w", size=data.size, shape=data.shape, dtype=data.dtype)


def descriptor(data: np.ndarray, config: WeightCodecConfig, positions: str | None = None,
               states: int = 1) -> tuple[dict, dict]:
    """parse_weights of `data` coded with `config`; `positions` forces a sparse method ("packed",
    "bitmask", "gaps3", ...) coded with `states` rANS states."""
    body = encode_tensor(data, config).body
    if positions is not None:
        assert body[0] & SPARSE
        size, pos = read_varint(body, 1, "positions")
        mask = data.reshape(-1) != 0
        blob = sparse.encode_candidates(mask, sparse.SparseConfig((3, 8), 12, states))[positions]
        body = body[:1] + encode_varint(len(blob)) + blob + body[pos + size:]
    return parse_weights(body, _tensor(data), "w")


def fuzz_input(w: dict, arrays: dict, verify: bool = True) -> bytes:
    """The input of tests/c/fuzz_weights.c (layout at the top of that file) for a descriptor."""
    def arr(name):
        return None if name is None else np.ascontiguousarray(arrays[name])
    pos_cum = arr(w["pos_model"]["cum"]) if w["pos_model"] else None
    val_cum = arr(w["model"]["cum"]) if w["model"] else None
    book, pos_data, data = arr(w["codebook"]), arr(w["pos_data"]), arr(w["data"])
    present = [book, pos_cum, val_cum, pos_data, data]
    flags = sum(1 << i for i, a in enumerate(present) if a is not None) | (verify << 5)
    pm, vm = w["pos_model"] or {"alphabet": 0, "precision": 0}, w["model"] or {"alphabet": 0, "precision": 0}
    head = struct.pack("<IIBBBBBBBBIIiBBHHHIIII", w["size"], w["channels"], w["pos_method"],
                       w["pos_states"], w["gap_bits"], w["coder"], w["bits"], w["states"], flags,
                       pm["precision"], w["nnz"], w["pos_symbols"], w["offset"], vm["precision"], 0,
                       pm["alphabet"], vm["alphabet"], w["codebook_size"] & 0xFFFF, w["pos_len"],
                       w["len"], w["crc_fields"], w["crc_data"])
    tail = b"".join(a.astype(a.dtype.newbyteorder("<")).tobytes() for a in (pos_cum, val_cum, book, pos_data, data)
                    if a is not None)
    return head + tail


def _weights(shape, sparsity: float, seed: int, lo: int = -40, hi: int = 41) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.integers(lo, hi, shape).astype(np.int8)
    data[rng.random(shape) < sparsity] = 0
    return data


def _seventeen() -> np.ndarray:
    """17 distinct values: a codebook of 17 entries takes 5-bit indices (0..16 of 0..31)."""
    values = np.arange(-8, 9, dtype=np.int8) * 7
    return np.random.default_rng(9).choice(values, (6, 3, 3, 2)).astype(np.int8)


def seed_descriptors() -> dict[str, tuple[dict, dict]]:
    """Valid descriptors: every coder, with and without a codebook, dense and every positions
    method, one and several rANS states."""
    dense = _weights((8, 3, 3, 4), 0.0, 1, -6, 7)   # 13 values: 4-bit packed, codebook of 13
    seeds = {
        "raw": descriptor(dense, WeightCodecConfig(coders=("raw",), sparse="never", codebook="never")),
        "pack": descriptor(dense, WeightCodecConfig(coders=("pack",), sparse="never", codebook="never")),
        "pack_codebook17": descriptor(_seventeen(), WeightCodecConfig(coders=("pack",), sparse="never",
                                                                      codebook="always")),
        "rans": descriptor(dense, WeightCodecConfig(coders=("rans",), sparse="never", codebook="never")),
        "rans4": descriptor(_weights((8, 40), 0.0, 2), WeightCodecConfig(coders=("rans",), sparse="never",
                                                                        codebook="never", n_states=4)),
        "rans_codebook": descriptor(_seventeen(), WeightCodecConfig(coders=("rans",), sparse="never",
                                                                    codebook="always")),
    }
    for density, method in ((0.6, "packed"), (0.5, "bitmask"), (0.85, "gaps3"), (0.97, "gaps8")):
        data = _weights((12, 24), density, 3)
        for coder in ("raw", "pack", "rans"):
            for book in ("never", "always") if coder != "raw" else ("never",):
                cfg = WeightCodecConfig(coders=(coder,), sparse="always", codebook=book)
                seeds[f"sparse_{method}_{coder}_{book}"] = descriptor(data, cfg, method, states=2)
    return seeds


def write_seeds(folder) -> list[Path]:
    """Write the seed inputs of the fuzz harness (one file per seed descriptor) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (w, arrays) in seed_descriptors().items():
        paths.append(folder / f"{name}.bin")
        paths[-1].write_bytes(fuzz_input(w, arrays))
    return paths


def run_inputs(exe: Path, inputs: dict[str, bytes], folder: Path) -> dict[str, tuple[str, str]]:
    """(reader status, verify status) of each input, one process; fails on a sanitizer report."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, blob in inputs.items():
        paths.append(folder / f"{name}.bin")
        paths[-1].write_bytes(blob)
    proc = subprocess.run([str(exe), *map(str, paths)], capture_output=True, text=True, cwd=folder)
    assert proc.returncode == 0 and "runtime error" not in proc.stderr, proc.stderr[-4000:]
    out = {}
    for line in proc.stdout.splitlines():
        read, verify, path = line.split(" ", 2)
        out[Path(path).stem] = (read, verify)
    assert len(out) == len(inputs)
    return out


def _copy(seed: tuple[dict, dict]) -> tuple[dict, dict]:
    w, arrays = seed
    return ({k: (dict(v) if isinstance(v, dict) else v) for k, v in w.items()},
            {k: v.copy() for k, v in arrays.items()})


def _flip(a: np.ndarray, bit: int) -> None:
    a.view(np.uint8)[bit // 8] ^= 1 << (bit % 8)


# ---- the cases -----------------------------------------------------------------------------

def hostile_cases() -> dict[str, bytes]:
    """Corrupted descriptors, each of which the reader must refuse (LEVIN_ERR_CORRUPT)."""
    seeds = seed_descriptors()
    cases: dict[str, bytes] = {}

    def case(name: str, seed: str, edit) -> None:
        w, arrays = _copy(seeds[seed])
        edit(w, arrays)
        cases[name] = fuzz_input(w, arrays, verify=False)

    def codebook_flip(w, a):   # the case: a 5-bit field of 1..15 gets bit 4 -> 17..31
        # levin pads a codebook it generates to every field (32 entries here); a descriptor
        # built by hand or by another tool need not be, and must still be safe:
        assert w["codebook_size"] == 32 and w["bits"] == 5 and w["offset"] == 0
        a[w["codebook"]], w["codebook_size"] = a[w["codebook"]][:17], 17
        stream = int.from_bytes(a[w["data"]].tobytes(), "little")
        i = next(i for i in range(w["nnz"]) if 1 <= (stream >> (5 * i)) & 31 <= 15)
        _flip(a[w["data"]], 5 * i + 4)
    case("codebook17_field_flip", "pack_codebook17", codebook_flip)

    def shorten(key, by=1):
        def edit(w, a):
            a[w[key]] = a[w[key]][:-by]
            w["len" if key == "data" else "pos_len"] -= by
        return edit
    case("raw_short", "raw", shorten("data"))
    case("packed_short", "pack", shorten("data"))
    case("packed_codebook_short", "pack_codebook17", shorten("data"))
    case("sparse_raw_short", "sparse_gaps3_raw_never", shorten("data"))
    case("sparse_packed_short", "sparse_bitmask_pack_never", shorten("data"))

    def lengthen(w, a):
        a[w["data"]] = np.append(a[w["data"]], 0).astype(np.uint8)
        w["len"] += 1
    case("raw_long", "raw", lengthen)
    case("packed_long", "pack", lengthen)

    def packed_padding(w, a):
        assert (w["nnz"] * w["bits"]) % 8, "needs padding bits"
        a[w["data"]][-1] |= 0x80
    case("packed_padding_set", "pack_codebook17", packed_padding)

    def value_above_int8(w, a):   # values 100..127 in 5 bits from 100: field 31 is 131
        data = np.full((4, 9), 100, np.int8) + np.arange(36, dtype=np.int8).reshape(4, 9) % 28
        w2, a2 = _copy(descriptor(data, WeightCodecConfig(coders=("pack",), sparse="never", codebook="never")))
        assert w2["bits"] == 5 and w2["offset"] == 100
        a2[w2["data"]][0] |= 31           # field 0 = 31
        w.clear(), w.update(w2), a.clear(), a.update(a2)
    case("packed_value_above_int8", "pack", value_above_int8)
    case("rans_offset_past_int8", "rans", lambda w, a: w.__setitem__("offset", 127 - w["model"]["alphabet"] // 2))
    case("rans_codebook_offset", "rans_codebook", lambda w, a: w.__setitem__("offset", 3))

    def xor(key, at, mask):
        def edit(w, a):
            a[w[key]][at] ^= mask
        return edit
    for seed in ("rans", "rans4", "rans_codebook", "sparse_gaps8_rans_always"):   # rANS values
        n = seeds[seed][1][seeds[seed][0]["data"]].size
        for k, at in enumerate(sorted({min(i, n - 1) for i in (0, 3, 5, n // 2, n - 2, n - 1)})):
            case(f"{seed}_byte{k}", seed, xor("data", at, 0x5A))
        case(f"{seed}_truncated", seed, shorten("data", 3))
    for seed in ("sparse_gaps3_pack_never", "sparse_bitmask_rans_always"):   # rANS positions
        n = seeds[seed][1][seeds[seed][0]["pos_data"]].size
        for k, at in enumerate(sorted({0, 4, n // 2, n - 1})):
            case(f"{seed}_pos_byte{k}", seed, xor("pos_data", at, 0x33))
    case("packed_positions_short", "sparse_packed_pack_never", shorten("pos_data"))

    def extra_position(w, a):   # one more nonzero than nnz
        bits = np.unpackbits(a[w["pos_data"]], bitorder="little")
        _flip(a[w["pos_data"]], int(np.flatnonzero(bits == 0)[0]))
    case("packed_positions_extra_bit", "sparse_packed_pack_never", extra_position)

    def positions_padding(w, a):   # 35 positions in 5 bytes: a padding bit set
        w2, a2 = _copy(descriptor(_weights((5, 7), 0.6, 4), WeightCodecConfig(coders=("raw",), sparse="always",
                                                                              codebook="never"), "packed"))
        a2[w2["pos_data"]][-1] |= 0x80
        w.clear(), w.update(w2), a.clear(), a.update(a2)
    case("packed_positions_padding", "sparse_packed_raw_never", positions_padding)
    case("gaps_past_tensor", "sparse_gaps3_raw_never",     # the last nonzeros lie beyond `size`
         lambda w, a: w.update(size=w["size"] - 24, channels=w["channels"] - 1))
    case("bitmask_symbols", "sparse_bitmask_raw_never", lambda w, a: w.update(pos_symbols=w["size"] - 1))
    case("nnz_above_size", "sparse_gaps3_raw_never", lambda w, a: w.update(nnz=w["size"] + 1))
    case("nnz_short", "sparse_gaps8_pack_never", lambda w, a: w.update(nnz=w["nnz"] - 1))

    # fields that do not agree with each other
    for name, seed, fields in [
        ("bits0", "pack", {"bits": 0}), ("bits9", "pack", {"bits": 9}), ("states0", "rans", {"states": 0}),
        ("states17", "rans", {"states": 17}), ("channels0", "raw", {"channels": 0}),
        ("size0", "rans", {"size": 0, "channels": 2**29}),   # the fuzzer's first find: 2^29 empty channels
        ("channels_not_dividing", "raw", {"channels": 7}), ("gap_bits0", "sparse_gaps3_raw_never", {"gap_bits": 0}),
        ("gap_bits9", "sparse_gaps3_raw_never", {"gap_bits": 9}), ("pos_states0", "sparse_bitmask_raw_never",
                                                                  {"pos_states": 0}),
        ("pos_states17", "sparse_gaps8_raw_never", {"pos_states": 17}),
        ("raw_with_codebook", "raw", {"codebook_size": 3}), ("offset_negative_index", "pack_codebook17",
                                                             {"offset": -1}),
        ("offset_past_codebook", "pack_codebook17", {"offset": 17}), ("offset_below_int8", "pack", {"offset": -129}),
        ("offset_huge", "pack", {"offset": 2**31 - 1}), ("count_overflows_bits", "pack", {"size": 2**31 + 8,
                                                                                          "channels": 8}),
        ("per_channel_over_65536", "sparse_packed_raw_never", {"size": 2 * 65537, "channels": 2}),
    ]:
        case(name, seed, lambda w, a, fields=fields: w.update(fields))

    def model(key, **change):
        def edit(w, a):
            w[key] = dict(w[key], **change)
        return edit
    case("precision16", "rans", model("model", precision=16))
    case("precision7", "rans", model("model", precision=7))
    case("cum_total_wrong", "rans", lambda w, a: a[w["model"]["cum"]].__setitem__(-1, a[w["model"]["cum"]][-1] - 1))
    case("cum_first_nonzero", "rans", lambda w, a: a[w["model"]["cum"]].__setitem__(0, 1))
    case("cum_not_increasing", "rans", lambda w, a: a[w["model"]["cum"]].__setitem__(1, 60000))
    case("alphabet_too_short", "rans", lambda w, a: (a.__setitem__(w["model"]["cum"], a[w["model"]["cum"]][:-1]),
                                                     model("model", alphabet=w["model"]["alphabet"] - 1)(w, a)))
    case("pos_precision16", "sparse_gaps3_raw_never", model("pos_model", precision=16))
    return cases


# ---- tests ---------------------------------------------------------------------------------

def test_valid_descriptors_read_and_verify(fuzzer, tmp_path):
    seeds = seed_descriptors()
    got = run_inputs(fuzzer, {k: fuzz_input(*v) for k, v in seeds.items()}, tmp_path)
    assert got == {k: ("ok", "ok") for k in seeds}
    methods = {w["pos_method"] for w, _ in seeds.values()}
    assert methods == {0, 1, 2, 255} and {w["coder"] for w, _ in seeds.values()} == {0, 1, 4}


def test_hostile_descriptors_are_corrupt_without_sanitizer_report(fuzzer, tmp_path):
    cases = hostile_cases()
    got = run_inputs(fuzzer, cases, tmp_path)
    wrong = {k: v[0] for k, v in got.items() if v[0] != "corrupt"}
    assert not wrong, wrong
    assert len(cases) > 60


def test_unknown_coder_or_method_is_unsupported(fuzzer, tmp_path):
    seeds = seed_descriptors()
    w, a = _copy(seeds["pack"])
    inputs = {"coder2": fuzz_input(dict(w, coder=2), a), "method3": fuzz_input(dict(w, pos_method=3), a)}
    got = run_inputs(fuzzer, inputs, tmp_path)
    assert got == {"coder2": ("unsupported", "corrupt"), "method3": ("unsupported", "corrupt")}


def test_checksum_catches_every_flipped_payload_bit(fuzzer, tmp_path):
    """A flipped bit of a packed payload still decodes (to another weight): only the CRC sees it."""
    seeds = seed_descriptors()
    inputs = {}
    for seed in ("pack", "sparse_packed_pack_always", "raw"):
        w, arrays = seeds[seed]
        for key in ("data", "pos_data", "codebook"):
            if w[key] is not None:
                for bit in range(arrays[w[key]].size * 8):
                    w2, a2 = _copy((w, arrays))
                    _flip(a2[w2[key]], bit)
                    inputs[f"{seed}_{key}_{bit}"] = fuzz_input(w2, a2)
    w, arrays = seeds["rans"]
    for field in ("size", "nnz", "offset", "bits", "states"):   # a field's value, not its array
        inputs[f"field_{field}"] = fuzz_input(dict(w, **{field: w[field] ^ 1}), arrays)
    inputs["field_len"] = fuzz_input(dict(w, len=w["len"] - 1), arrays)
    got = run_inputs(fuzzer, inputs, tmp_path)
    assert all(v == "corrupt" for _, v in got.values()), [k for k, v in got.items() if v[1] != "corrupt"]
    read_ok = sum(r == "ok" for r, _ in got.values())
    assert read_ok > len(got) // 2   # most flips decode fine: the checksum is what catches them


def _fuzz(exe: Path, seconds: float, seeds: list[Path], cwd: Path) -> dict[str, float]:
    proc = subprocess.run([str(exe), "-fuzz", str(seconds), "100000000", "12345", *map(str, seeds)],
                          capture_output=True, text=True, cwd=cwd, timeout=seconds * 10 + 60)
    assert proc.returncode == 0 and not (cwd / "fuzz-crash.bin").exists(), proc.stderr[-6000:]
    fields = proc.stdout.split()
    stats = {k: float(v) for k, v in zip(fields[::2], fields[1::2])}
    assert stats["slow"] == 0 and not (cwd / "fuzz-slow.bin").exists(), stats   # no input over 1 s
    return stats


def test_fuzz_a_few_seconds(fuzzer, tmp_path):
    stats = _fuzz(fuzzer, 3.0, write_seeds(tmp_path / "seeds"), tmp_path)
    assert stats["execs"] > 1000 and stats["ok"] > 0 and stats["corrupt"] > 0, stats


@pytest.mark.slow
def test_fuzz_a_minute(fuzzer, tmp_path):
    stats = _fuzz(fuzzer, 60.0, write_seeds(tmp_path / "seeds"), tmp_path)
    assert stats["execs"] > 20000, stats


def _export_verify_program(result, tmp_path: Path, patch=None) -> dict[str, str]:
    """Compile a program that includes the generated model.c and runs levin_weights_verify on
    each descriptor (sanitizers on); return {descriptor: status}."""
    model_c = result.out_dir / "model.c"
    text = model_c.read_text()
    if patch:
        text = patch(text)
    (tmp_path / "model_under_test.c").write_text(text)
    names = re.findall(r"static const levin_weights (\w+) =", text)
    main = tmp_path / "verify_main.c"
    main.write_text('#include <stdio.h>\n#include "model_under_test.c"\nint main(void) {\n' + "".join(
        f'    printf("{n} %s\\n", levin_status_str(levin_weights_verify(&{n})));\n' for n in names)
        + "    return 0;\n}\n")
    exe = tmp_path / "verify"
    sources = [s for s in result.sources if s.name != "model.c"]
    proc = subprocess.run([build.compiler(), *build.STRICT, "-O1", *build.SANITIZE, "-I", str(result.out_dir),
                           "-I", str(tmp_path), "-o", str(exe), str(main), *map(str, sources)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]
    return dict(line.rsplit(" ", 1) for line in run.stdout.replace("corrupt weight stream", "corrupt").splitlines())


@pytest.mark.parametrize("weight_format", ("packed", "sparse", "auto"))
def test_generated_checksums_verify(sanitizers, weight_format, tmp_path):
    result = codegen.export_c(GOLDEN, tmp_path / "m", weight_format)
    good = _export_verify_program(result, tmp_path)
    assert good and set(good.values()) == {"ok"}, good
    first = next(iter(good))
    # one weight of the first tensor's payload changes: its verify fails, the others pass
    prefix = first.replace("_weights", "")
    payload = re.compile(r"(static const uint8_t " + prefix + r"_(?:pos_)?data\[\d+\] = \{\s*)(\d+)")
    bad = _export_verify_program(result, tmp_path,
                                 lambda t: payload.sub(lambda m: m.group(1) + str(int(m.group(2)) ^ 4), t, count=1))
    assert bad[first] == "corrupt" and all(v == "ok" for k, v in bad.items() if k != first), bad


@pytest.mark.parametrize("weight_format", FORMATS)
def test_golden_bit_exact_under_sanitizers(sanitizers, weight_format, tmp_path):
    g = container.read(GOLDEN)
    inputs = np.random.default_rng(3).integers(-128, 128, (8, 5, 5, 3)).astype(np.int8)
    result = codegen.export_c(GOLDEN, tmp_path, weight_format)
    exe = build.build_harness(result, sanitize=True)
    got, _ = build.run_harness(exe, inputs, result.output_size)
    assert build.compare(got, reference.run(g, inputs)[g.outputs[0]]) is None


def test_zoo_model_bit_exact_under_sanitizers(sanitizers, tmp_path, monkeypatch):
    """A zoo model (pruned, so sparse decodes gap streams) through test_c_models' own check, with
    LEVIN_C_SANITIZE=1 as a user would set it."""
    from tests.runtime.test_c_models import check_bit_exact, integer_model
    monkeypatch.setenv("LEVIN_C_SANITIZE", "1")
    graph, inputs = integer_model("digits_cnn")
    check_bit_exact(graph, inputs, tmp_path / "sparse", "sparse")
    assert "-fsanitize=address,undefined" in build.SANITIZE and build.sanitize_requested()
