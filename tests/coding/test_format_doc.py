"""docs/format.md's worked example is the encoder's output, byte for byte, and decodes back."""

from pathlib import Path

import numpy as np

from levin.coding import container
from levin.coding.limits import LIMITS
from levin.config.code import CodeConfig, WeightCodecConfig
from levin.ir.graph import Graph, QuantParams

DOC = Path(__file__).resolve().parents[2] / "docs" / "format.md"


def documented_bytes() -> bytes:
    text = DOC.read_text().split("## 8. A worked example", 1)[1]
    block = text.split("```text", 1)[1].split("```", 1)[0]
    return bytes.fromhex(" ".join(line.split("#", 1)[0] for line in block.splitlines()))


def example_graph() -> Graph:
    g = Graph("g")
    x = g.add_input("x", (1, 3), np.int8, QuantParams(np.float32(0.5), 0))
    g.add_constant("w", np.array([[1, -1, 0], [2, 0, -2]], np.int8), QuantParams(np.float32(0.25), 0))
    g.add_node("Linear", [x, "w"], "y", dtype=np.int8, quant=QuantParams(np.float32(1.0), -1))
    g.mark_output("y")
    return g


def test_worked_example_matches_the_encoder():
    config = CodeConfig(default=WeightCodecConfig(coders=("pack",), sparse="never", codebook="never"), graph="plain")
    data = container.encode(example_graph(), config)
    assert len(data) == 91
    assert documented_bytes() == data
    back = container.decode(documented_bytes())
    np.testing.assert_array_equal(back.tensors["w"].data, example_graph().tensors["w"].data)
    assert back.tensors["y"].quant.zero_point.tolist() == [-1]


def documented_limits() -> list[tuple[str, int, str]]:
    """(name, value, why) of each row of the table in docs/format.md, "## 5. Limits"."""
    text = DOC.read_text().split("## 5. Limits", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| `")]
    return [(name.strip().strip("`"), int(value.split()[0].replace(",", "")), why.strip())
            for name, value, why in rows]


def test_the_limits_table_is_the_limits_module():
    """Every limit the reader enforces is in the table, with its value and why, and nothing else."""
    assert documented_limits() == LIMITS.table()
    assert len(LIMITS.table()) >= 20
