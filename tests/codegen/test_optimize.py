"""`export_c(prefer=...)` / `levin export --optimize`: what "auto" picks per tensor, and what it costs."""

import json

import pytest

from levin.bench._graphs import int8_graph
from levin.cli.main import main
from levin.codegen import export_c


@pytest.fixture(scope="module")
def graph():
    """4-bit weights: coding them saves flash, and a coded conv loses streaming (more RAM)."""
    return int8_graph("digits_cnn", n_inputs=1, weight_bits=4)[0]


@pytest.fixture(scope="module")
def exports(graph, tmp_path_factory):
    out = tmp_path_factory.mktemp("optimize")
    return {p: export_c(graph, out / p, prefer=p) for p in ("balanced", "flash", "ram", "speed")}


def test_flash_saves_flash_and_costs_ram_here(exports):
    flash = exports["flash"]
    assert flash.weight_bytes < flash.int8_weight_bytes
    assert flash.arena_bytes > flash.int8_arena_bytes      # the premise of the other tests


def test_balanced_stays_within_int8_ram_plus_one_kernels_scratch(exports):
    balanced, flash = exports["balanced"], exports["flash"]
    largest_scratch = max(c["scratch_bytes"] for c in flash.choices.values())
    assert balanced.arena_bytes <= balanced.int8_arena_bytes + largest_scratch
    assert flash.weight_bytes <= balanced.weight_bytes <= balanced.int8_weight_bytes


def test_ram_is_int8(exports):
    ram = exports["ram"]
    assert ram.arena_bytes == ram.int8_arena_bytes and ram.weight_bytes == ram.int8_weight_bytes
    assert set(ram.chains.values()) == {"raw"}


def test_every_choice_says_what_it_costs(exports):
    for result in exports.values():
        for choice in result.choices.values():
            assert {"chain", "flash_bytes", "int8_flash_bytes", "scratch_bytes"} <= set(choice)
            assert choice["flash_bytes"] > 0 and choice["scratch_bytes"] >= 0


def test_the_cli_prints_the_costs_and_pure_json(graph, tmp_path, capsys):
    from levin.coding import container

    lvn = tmp_path / "m.lvn"
    container.write(graph, lvn)
    assert main(["export", str(lvn), "-o", str(tmp_path / "c"), "--optimize", "flash"]) == 0
    text = capsys.readouterr().out
    assert "int8 B" in text and "scratch B" in text and "--optimize flash" in text
    assert main(["export", str(lvn), "-o", str(tmp_path / "c"), "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["prefer"] == "balanced" and data["int8_arena_bytes"] > 0 and data["choices"]
