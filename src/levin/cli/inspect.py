"""`levin inspect`: every byte of a .lvn file, per tensor (codec, bytes, bits per weight, order-0
entropy bound of its symbols) and in total (header, graph description, framing)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from levin.cli.common import check_output_file, human, write_output
from levin.output import table

if TYPE_CHECKING:
    from levin.coding import container

EXAMPLES = """examples:
  levin inspect model.lvn
  levin inspect model.lvn --json model-bytes.json
Columns: meta B = the tensor's record in the graph section (name, shape, dtype, scales);
data B = its tensor section (codec tables, payload, framing, CRC); bits/w = 8 * (meta + data) /
weights; H0 B = order-0 entropy of the symbol streams it codes (positions, values or indices),
the bound a static entropy coder approaches, without tables. The rows add up to the file size.
"""


def register(sub) -> None:
    p = sub.add_parser("inspect", help="per-tensor bytes, codecs and entropy bounds of a .lvn file",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="a .lvn file")
    p.add_argument("--json", metavar="FILE", help="also write everything as JSON ('-' for stdout: "
                                                  "then the table goes to stderr)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from levin.coding import container
    from levin.coding.cost import levin_cost

    check_output_file(args.json, "--json")
    report = container.inspect(container.read_bytes(args.file))
    print(render(report, args.file), file=human(args))
    if args.json:
        write_output(dict(file=args.file, **report.to_dict(), levin_cost=levin_cost(report).to_dict()), args.json)
    return 0


def _dims(shape) -> str:
    return "x".join(map(str, shape)) or "scalar"


def render(report: "container.ContainerReport", name: str = "model") -> str:
    from levin.coding.cost import levin_cost

    g = report.graph
    weights = sum(t.elements for t in report.tensors)
    h0 = sum(t.entropy_bits for t in report.tensors) / 8
    rows = [[t.name, _dims(t.shape), t.dtype, t.chain, f"{t.elements:,}", f"{t.meta_bytes:,}",
             f"{t.data_bytes:,}", f"{8 * t.nbytes / t.elements:.3f}", f"{t.entropy_bits / 8:,.0f}"]
            for t in report.tensors]
    total = report.tensor_bytes
    rows.append(["tensors", "", "", "", f"{weights:,}", f"{sum(t.meta_bytes for t in report.tensors):,}",
                 f"{sum(t.data_bytes for t in report.tensors):,}",
                 f"{8 * total / weights:.3f}" if weights else "-", f"{h0:,.0f}"])
    gb = report.graph_bytes
    overhead = [("header (magic, version, section count, CRC)", report.header_bytes),
                ("graph: string table (names, ops, attribute keys)", gb["strings"]),
                ("graph: activation tensors (shapes, dtypes, quantization)", gb["tensors"]),
                ("graph: inputs and outputs", gb["io"]),
                ("graph: nodes (ops, attributes)", gb["nodes"]),
                ("graph: section framing and CRC", gb["framing"])]
    if gb.get("deflate"):
        overhead.append(("graph: saved by deflating the graph section", gb["deflate"]))
    if report.skipped_bytes:
        overhead.append(("optional sections this levin does not read", report.skipped_bytes))
    width = max(len(k) for k, _ in overhead)
    lines = [f"{name}: .lvn {report.version[0]}.{report.version[1]}, {report.file_bytes:,} bytes; graph "
             f"{g.name!r}, {len(g.nodes)} nodes, {len(report.tensors)} constant tensors",
             table(["tensor", "shape", "dtype", "codec", "weights", "meta B", "data B", "bits/w", "H0 B"], rows),
             ""]
    lines += [f"{k:<{width}}  {v:>10,} B" for k, v in overhead]
    lines += [f"{'tensors (meta + data)':<{width}}  {total:>10,} B",
              f"{'file':<{width}}  {report.file_bytes:>10,} B"
              f"   ({8 * report.file_bytes / weights:.3f} bits per weight, all included)" if weights else ""]
    cost = levin_cost(report)
    lines.append(f"decode work: {cost.decode_steps:,} symbols decoded (a count, not cycles); Levin cost = "
                 f"{cost.bits:,} bits + log2({cost.decode_steps:,}) = {cost.cost:,.1f}")
    return "\n".join(lines)
