"""levin side by side with TFLite Micro on the four MLPerf Tiny int8 models, in one run.

Per model: bit-exactness of levin's integer reference against TFLite Micro and desktop TFLite
(ai-edge-litert, reference kernels) on >= 100 inputs (CIFAR-10 test images for ResNet-8, random
int8 inputs for the others), and of levin's .tflite export run by TFLite Micro; .tflite bytes vs
the lossless .lvn (file and weight part); host time per inference, batch 1, of levin's numpy
reference and of TFLite Micro's reference kernels (the Python wheel). Then ResNet-8 top-1 on the
CIFAR-10 test images for the original and each near-lossless variant (`levin.tflite_shrink`).

levin's C runtime (`levin.codegen`), exported twice: with raw int8 weights (as the
.tflite holds them; its convs stream over their inputs, `analyze.memory.stream_shift`) and with
the smallest lossless coding per tensor. For each: peak RAM = LEVIN_MODEL_ARENA_SIZE
(activations + weight-decoding scratch) against TFLite Micro's whole arena (RecordingMicroAllocator:
activations + interpreter bookkeeping) and flash = text + data of model and runtime (Cortex-M4,
arm-none-eabi-gcc -Os when installed) against the .tflite bytes. Int8, on the host: bit-exactness
on every checked input and time per inference vs TFLite Micro. `levin_arena_unstreamed` is the
plan without streaming, for comparison.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from levin import tflite_shrink
from levin.analyze.memory import plan_memory
from levin.errors import LevinError
from levin.ir import tflite, tflite_export, tflite_run
from levin.output import table, write_json
from levin import reference

NAME = "vs-tflm"
MODELS = {
    "kws": "keyword_spotting/kws_ref_model.tflite",
    "resnet8": "image_classification/pretrainedResnet_quant.tflite",
    "vww": "visual_wake_words/vww_96_int8.tflite",
    "ad01": "anomaly_detection/ad01_int8.tflite",
}
DEFAULT_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def cifar10(data_dir: Path, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    path = data_dir / "cifar10" / "cifar10_test.npz"
    if not path.is_file():
        raise LevinError(f"{path} is missing (pass --data DIR holding cifar10/cifar10_test.npz)")
    d = np.load(path)
    idx = np.arange(len(d["y"])) if n is None or n >= len(d["y"]) else np.linspace(0, len(d["y"]) - 1, n).astype(int)
    return d["x"][idx].astype(np.float32), d["y"][idx].astype(np.int64)


def inputs_for(key: str, graph, n: int, data_dir: Path) -> np.ndarray:
    if key == "resnet8":
        return reference.quantize_input(graph, cifar10(data_dir, n)[0])
    return np.random.default_rng(0).integers(-128, 128, (n,) + graph.tensors[graph.inputs[0]].shape[1:]).astype(np.int8)


def _per_inference(fn, xs) -> float:
    fn(xs[0])                                                 # warm up
    t = time.perf_counter()
    for x in xs:
        fn(x)
    return (time.perf_counter() - t) / len(xs)


def c_runtime(graph, x: np.ndarray, want: np.ndarray) -> dict:
    """levin's C runtime: peak RAM (arena + scratch) and flash (weights + code, Cortex-M4 -Os when
    arm-none-eabi-gcc is installed) with raw int8 weights and with the smallest lossless coding
    per tensor ("auto"); and, int8, ms per inference on the host and how many of the inputs `x`
    give exactly `want`. Timing and exactness are None where no host compiler is found."""
    import tempfile

    from levin.compressor.deploy import flash_bytes
    from levin.targets import build

    from levin import codegen

    row: dict = {}
    with tempfile.TemporaryDirectory() as d:
        for fmt, key in (("auto", "lossless"), ("int8", "int8")):
            export = codegen.export_c(graph, Path(d) / fmt, weight_format=fmt)
            row[f"c_ram_{key}"], row[f"c_scratch_{key}"] = export.arena_bytes, export.scratch_bytes
            try:
                row[f"c_flash_{key}"], row["flash_target"] = flash_bytes(export)
            except LevinError as exc:
                row[f"c_flash_{key}"], row["flash_target"] = None, str(exc)[:200]
        try:
            from levin.bench._host import time_inference
            ns, _ = time_inference(export, x[0].ravel(), Path(d) / "host")
            got, _ = build.run_harness(build.build_harness(export), x, export.output_size)
        except LevinError as exc:
            return dict(row, c_ms=None, c_exact=None, c_note=str(exc)[:200])
    exact = int((got.reshape(len(x), -1) == want.reshape(len(x), -1)).all(axis=1).sum())
    return dict(row, c_ms=ns / 1e6, c_exact=f"{exact}/{len(x)}", c_note="")


def model_row(key: str, path: Path, n: int, timed: int, data_dir: Path) -> dict:
    data = path.read_bytes()
    g = tflite.from_bytes(data, key)
    x = inputs_for(key, g, n, data_dir)
    ours = tflite_shrink.predict(g, x).reshape(n, -1)
    # Desktop TFLite's reference kernels round FULLY_CONNECTED once and CONV_2D twice.
    ours_single = tflite_shrink.predict(g, x, single_round={"Linear"}).reshape(n, -1)
    tflm = tflite_run.run_tflm(data, x).reshape(n, -1)
    litert = tflite_run.run_litert(data, x, "BUILTIN_REF").reshape(n, -1)
    exported = tflite_export.to_bytes(g)
    tflm_export = tflite_run.run_tflm(exported, x).reshape(n, -1)
    lossless = tflite_shrink.lossless(g)
    arena = tflite_run.tflm_arena(data, x[0])
    plan = plan_memory(g)
    it = tflite_run.tflm_interpreter(data)

    def tflm_one(s):
        it.set_input(s[None], 0)
        it.invoke()
        return it.get_output(0)

    t_levin = _per_inference(lambda s: reference.run(g, s[None]), x[:timed])
    t_tflm = _per_inference(tflm_one, x[:timed])
    c = c_runtime(g, x, ours)
    c["c_ms_over_tflm"] = c["c_ms"] / (1e3 * t_tflm) if c["c_ms"] is not None else None
    return dict(**c,
        model=key, file=str(path), inputs=n,
        exact_vs_tflm=int((ours == tflm).all(axis=1).sum()),
        exact_vs_litert_ref=int((ours == litert).all(axis=1).sum()),
        exact_vs_litert_ref_single_round=int((ours_single == litert).all(axis=1).sum()),
        export_exact_in_tflm=int((tflm_export == ours).all(axis=1).sum()),
        max_lsb_vs_tflm=int(np.abs(ours.astype(int) - tflm).max()),
        tflm_arena_total=arena.total, tflm_arena_head=arena.head, tflm_arena_tail=arena.tail,
        levin_arena_unstreamed=plan.arena_bytes, levin_ram=c["c_ram_int8"],
        ram_ratio=c["c_ram_int8"] / arena.total, ram_ratio_vs_head=c["c_ram_int8"] / arena.head,
        ram_ratio_lossless=c["c_ram_lossless"] / arena.total,
        flash_ratio_int8=c["c_flash_int8"] / len(data) if c["c_flash_int8"] else None,
        flash_ratio_lossless=c["c_flash_lossless"] / len(data) if c["c_flash_lossless"] else None,
        tflite_bytes=len(data), export_tflite_bytes=len(exported), lvn_bytes=lossless.lvn_bytes,
        lvn_weight_bytes=lossless.weight_bytes, weight_ratio=lossless.weight_bytes / len(data),
        lvn_ratio=lossless.lvn_bytes / len(data), order0_floor_ratio=tflite_shrink.order0_floor(g) / len(data),
        levin_ref_ms=1e3 * t_levin, tflm_ms=1e3 * t_tflm, time_ratio_levin_over_tflm=t_levin / t_tflm,
    )


def accuracy_rows(path: Path, data_dir: Path, images: int | None, variants: list[str]) -> list[dict]:
    g = tflite.load(path)
    xf, y = cifar10(data_dir, images)
    x = reference.quantize_input(g, xf)
    rows = []
    for name in ["original"] + variants:
        v = g if name == "original" else tflite_shrink.VARIANTS[name](g)
        size = tflite_shrink.lossless(v)
        t = time.perf_counter()
        acc = tflite_shrink.top1(v, x, y)
        rows.append(dict(variant=name, images=len(y), top1=acc, lvn_bytes=size.lvn_bytes,
                         weight_bytes=size.weight_bytes, weight_ratio=size.weight_bytes / path.stat().st_size,
                         seconds=time.perf_counter() - t))
        print(f"  {name}: top-1 {acc:.4f} on {len(y)} images, weights {size.weight_bytes:,} B", flush=True)
    return rows


def run(data_dir: Path = DEFAULT_DATA, n: int = 100, timed: int = 20, images: int | None = None,
        variants: list[str] | None = None) -> dict:
    if n < 1 or timed < 1:
        raise LevinError("--inputs and --timed must be positive")
    root = data_dir / "models" / "mlperf_tiny"
    rows = []
    for key, rel in MODELS.items():
        if not (root / rel).is_file():
            raise LevinError(f"{root / rel} is missing (pass --data DIR)")
        rows.append(model_row(key, root / rel, n, min(timed, n), data_dir))
        print(f"  {key}: done", flush=True)
    variants = list(tflite_shrink.VARIANTS) if variants is None else variants
    acc = accuracy_rows(root / MODELS["resnet8"], data_dir, images, variants)
    return dict(models=rows, resnet8_accuracy=acc)


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def render(result: dict) -> str:
    m = result["models"]
    t1 = table(["model", "inputs", "=TFLM", "=litert", "export=TFLM", "C =", "TFLM arena", "levin RAM",
                "RAM x", "RAM x lossless", ".tflite B", "flash x int8", "flash x lossless", ".lvn B",
                "weights x", "floor x", "levin ms", "TFLM ms", "time x", "C ms", "C/TFLM"],
               [[r["model"], r["inputs"], r["exact_vs_tflm"],
                 max(r["exact_vs_litert_ref"], r["exact_vs_litert_ref_single_round"]), r["export_exact_in_tflm"],
                 r["c_exact"], f"{r['tflm_arena_total']:,} ({r['tflm_arena_head']:,})", f"{r['levin_ram']:,}",
                 f"{r['ram_ratio']:.2f}", f"{r['ram_ratio_lossless']:.2f}", f"{r['tflite_bytes']:,}",
                 _ratio(r["flash_ratio_int8"]), _ratio(r["flash_ratio_lossless"]), f"{r['lvn_bytes']:,}",
                 f"{r['weight_ratio']:.3f}", f"{r['order0_floor_ratio']:.3f}", f"{r['levin_ref_ms']:.2f}", f"{r['tflm_ms']:.2f}",
                 f"{r['time_ratio_levin_over_tflm']:.2f}", "-" if r["c_ms"] is None else f"{r['c_ms']:.2f}",
                 "-" if r["c_ms"] is None else f"{r['c_ms_over_tflm']:.2f}"] for r in m])
    t2 = table(["ResNet-8 variant", "images", "top-1", ".lvn B", "weights B", "w x"],
               [[a["variant"], a["images"], f"{a['top1']:.4f}", f"{a['lvn_bytes']:,}", f"{a['weight_bytes']:,}",
                 f"{a['weight_ratio']:.3f}"] for a in result["resnet8_accuracy"]])
    flash = f"flash: {m[0]['flash_target']}" if m else ""
    return t1 + "\n" + flash + "\n\n" + t2


def main(argv: list[str] | None = None, json_path: str | None = None) -> int:
    p = argparse.ArgumentParser(prog="levin bench vs_tflm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding models/mlperf_tiny and cifar10")
    p.add_argument("--inputs", type=int, default=100, help="inputs per model for the bit-exact checks (>= 100)")
    p.add_argument("--timed", type=int, default=20, help="inferences timed per model and runtime")
    p.add_argument("--images", type=int, default=None, help="CIFAR-10 test images for top-1 (default all 10,000)")
    p.add_argument("--variants", default=",".join(tflite_shrink.VARIANTS),
                   help=f"near-lossless variants, comma-separated (of {', '.join(tflite_shrink.VARIANTS)})")
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in tflite_shrink.VARIANTS]
    if unknown:
        raise LevinError(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(tflite_shrink.VARIANTS)}")
    result = run(args.data, args.inputs, args.timed, args.images, variants)
    result["command"] = "levin bench vs_tflm " + " ".join(argv or [])
    print(render(result))
    if json_path:
        write_json(result, json_path)
    exact = all(r["exact_vs_tflm"] == r["inputs"] == r["export_exact_in_tflm"] for r in result["models"])
    return 0 if exact else 1
