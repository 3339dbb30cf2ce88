"""A minimal on-disk form of a Graph (float or integer): `graph.json` + `graph.npz`.

Stopgap, not the product format: the .lvn container (levin.coding) is what levin ships and
measures; this exists so that `levin quantize` can hand an integer graph to later steps and
tests. Layout, version 1:
- graph.json: {"format": "levin-graph", "version": 1, "name", "inputs", "outputs",
  "tensors": [{"name", "shape", "dtype", "constant": bool, "quant": null | {"scale": [...],
  "zero_point": [...], "axis": int | null, "bits": int | null}}], "nodes": [{"name", "op",
  "inputs", "output", "attrs"}]}, in the graph's order. Scales are float32 values written as
  JSON numbers (exact: a float32 round-trips through its float64 repr).
- graph.npz: one array per constant, keyed by its position in "tensors" ("t<index>"), so any
  tensor name is allowed. Weights are stored as int8 whatever `bits` says (no packing here).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from levin.errors import LevinFormatError
from levin.ir.graph import Graph, QuantParams

FORMAT, VERSION = "levin-graph", 1


def _quant_dict(q: QuantParams | None):
    if q is None:
        return None
    return {"scale": [float(s) for s in q.scale], "zero_point": [int(z) for z in q.zero_point],
            "axis": q.axis, "bits": q.bits}


def _plain(v):
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def save(graph: Graph, directory: str | Path) -> tuple[Path, Path]:
    """Write `graph` to directory/graph.json and directory/graph.npz; return both paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tensors, arrays = [], {}
    for i, (name, t) in enumerate(graph.tensors.items()):
        tensors.append({"name": name, "shape": list(t.shape), "dtype": str(t.dtype),
                        "constant": t.is_constant, "quant": _quant_dict(t.quant)})
        if t.is_constant:
            arrays[f"t{i}"] = t.data
    doc = {"format": FORMAT, "version": VERSION, "name": graph.name, "inputs": graph.inputs,
           "outputs": graph.outputs, "tensors": tensors,
           "nodes": [{"name": n.name, "op": n.op, "inputs": list(n.inputs), "output": n.output,
                      "attrs": {k: _plain(v) for k, v in n.attrs.items()}} for n in graph.nodes]}
    json_path, npz_path = out / "graph.json", out / "graph.npz"
    json_path.write_text(json.dumps(doc, indent=1) + "\n")
    np.savez(npz_path, **arrays)
    return json_path, npz_path


def load(directory: str | Path) -> Graph:
    """Read a graph written by `save`. Raises LevinFormatError if the files are not one."""
    src = Path(directory)
    try:
        doc = json.loads((src / "graph.json").read_text())
        arrays = dict(np.load(src / "graph.npz", allow_pickle=False))
    except (OSError, ValueError) as exc:
        raise LevinFormatError(f"{src}: cannot read graph.json / graph.npz ({exc})") from None
    if doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise LevinFormatError(f"{src}/graph.json: not a {FORMAT} version {VERSION} file")
    g = Graph(doc["name"])
    specs = {t["name"]: t for t in doc["tensors"]}
    for i, t in enumerate(doc["tensors"]):
        q = t["quant"]
        quant = None if q is None else QuantParams(np.array(q["scale"], np.float32),
                                                   np.array(q["zero_point"], np.int32), q["axis"], q["bits"])
        if t["constant"]:
            if f"t{i}" not in arrays:
                raise LevinFormatError(f"{src}/graph.npz: constant {t['name']!r} (t{i}) is missing")
            g.add_constant(t["name"], arrays[f"t{i}"], quant)
        elif t["name"] in doc["inputs"]:
            g.add_input(t["name"], t["shape"], t["dtype"], quant)
    for n in doc["nodes"]:
        out = specs[n["output"]]
        q = out["quant"]
        quant = None if q is None else QuantParams(np.array(q["scale"], np.float32),
                                                   np.array(q["zero_point"], np.int32), q["axis"], q["bits"])
        g.add_node(n["op"], n["inputs"], n["name"], output=n["output"],
                   dtype=None if quant is None else out["dtype"], quant=quant, **n["attrs"])
    for name in doc["outputs"]:
        g.mark_output(name)
    g.validate()
    return g
