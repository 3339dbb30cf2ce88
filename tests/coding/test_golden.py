"""Frozen bytes: the golden .lvn files decode to the golden graph and the encoder still writes
them byte for byte. A failure here is a format change: make it a decision (tests/golden/README.md)."""

from pathlib import Path

import pytest

from levin.coding import container
from tests.coding.test_container import assert_same_graph
from tests.golden.make_golden import HERE, golden_files, golden_graph


@pytest.mark.parametrize("name", sorted(golden_files()))
def test_golden_file_decodes_to_the_golden_graph(name):
    assert_same_graph(golden_graph(), container.read(HERE / name))


@pytest.mark.parametrize("name", sorted(golden_files()))
def test_encoder_writes_the_golden_bytes(name):
    stored = (HERE / name).read_bytes()
    assert golden_files()[name] == stored, (
        f"{name}: the encoder's bytes changed; if intended, bump the version if readers break and "
        f"run `.venv/bin/python -m tests.golden.make_golden --write`")


def test_golden_header_bytes_are_as_documented():
    data = (HERE / "golden.lvn").read_bytes()
    assert data[:4] == b"LEVN" and data[4:6] == bytes([3, 0])


V2 = Path(__file__).resolve().parent / "v2"


@pytest.mark.parametrize("name", ["golden-2.0.lvn", "golden-auto-2.0.lvn"])
def test_format_2_0_files_still_decode_to_the_golden_graph(name):
    """The golden files as format 2.0 wrote them (before kinds 4 and 5 and the golomb coder)."""
    data = (V2 / name).read_bytes()
    assert data[4:6] == bytes([2, 0])
    assert_same_graph(golden_graph(), container.decode(data))


V3 = Path(__file__).resolve().parent / "v3"


@pytest.mark.parametrize("name", ["golden-kind5.lvn", "golden-auto-kind5.lvn"])
def test_format_3_0_files_of_graph_kind_5_still_decode_to_the_golden_graph(name):
    """The golden files as written before kind 6 (the preset dictionary) was added: kind 5."""
    data = (V3 / name).read_bytes()
    assert container.read_sections(data)[2][0].kind == container.GRAPH_COMPACT_DEFLATE
    assert_same_graph(golden_graph(), container.decode(data))
