"""report.html: every section present, plots embedded as real PNGs, nothing fetched from outside;
the C runtime check it shows was really run; it renders in headless Chromium where installed."""

import base64
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch

from levin.compressor import compress, parse
from levin.compressor.deploy import deploy
from levin.config import TrainConfig
from levin.report import figures
from levin.compressor.summary import layer_rows
from levin.report.html import build, tried_points
from levin.train.data import load
from levin.train.loop import train
from levin.zoo import create
from tests.conftest import require_cortex_m  # noqa: E402

RECIPE = parse("""
steps:
  - prune: {sparsity: 0.6, schedule: one_shot}
    finetune: {epochs: 0}
  - share: {bits: 4}
    finetune: {epochs: 0}
quantize: {per_channel: false, calibration_size: 100}
""")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = load("digits")
    torch.manual_seed(0)
    model = train(create("digits_cnn"), data, TrainConfig(epochs=3, batch_size=64), progress=False).model
    out = tmp_path_factory.mktemp("report")
    return compress(model, data, RECIPE, out, model_name="digits_cnn", progress=False), data, out


def test_report_has_every_section_and_embeds_its_plots(run):
    result, data, out = run
    check, export = deploy(result, data, out / "c", samples=100)
    assert check.bit_exact and check.samples == 100 and check.flash_bytes > export.weight_bytes
    page = build(result, RECIPE, out / "report.html", title="digits test", runtime=check).read_text()
    for heading in ("Layers", "Weights before and after", "Size vs top-1 accuracy", "Memory", "Device", "C runtime"):
        assert f"<h2>{heading}" in page, heading
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in images)
    assert "http://" not in page and "https://" not in page          # opens offline, no server
    assert f"{result.lvn_bytes:,} B (.lvn file)" in page
    assert "bit-exact" in page and "fits" in page and "Levin cost" in page


def test_the_device_section_shows_the_measured_build_per_layer(run):
    from levin.analyze import devices
    from levin.targets import device_numbers

    require_cortex_m()
    result, data, out = run
    numbers = device_numbers.measure(result.lvn_path, out / "m4", per_layer=True, cycles=True)
    page = build(result, RECIPE, out / "device.html", title="digits test", numbers=numbers).read_text()
    assert "<h2>On the cortex-m4, per layer" in page and f"{numbers.instructions:,}" in page
    assert f"flash {numbers.flash:,} B = weights {numbers.weight_bytes:,} B" in page
    fit = numbers.fit(devices.get("cortex-m4"))
    assert f"{fit.sram_needed:,} B" in page and fit.sram_needed == numbers.ram   # the stack counts
    assert "ESTIMATES, not measured" in page


def test_pareto_front_keeps_only_undominated_points():
    pts = [{"label": "a", "bytes": 100, "accuracy": 0.9}, {"label": "b", "bytes": 50, "accuracy": 0.95},
           {"label": "c", "bytes": 200, "accuracy": 0.99}, {"label": "d", "bytes": 60, "accuracy": 0.5}]
    assert [p["label"] for p in figures.pareto_front(pts)] == ["b", "c"]


def test_tried_points_are_measured_sizes(run):
    result, _, _ = run
    pts = tried_points(result)
    assert pts[0]["bytes"] == result.float32_bytes and pts[-1]["bytes"] == result.lvn_bytes
    assert all(p["bytes"] > 0 for p in pts)
    assert pts[1]["bytes"] > pts[2]["bytes"]                        # pruning shrank the coded weights
    # Whole files: every point but fp32 carries the .lvn's non-weight sections, measured.
    rest = result.lvn_bytes - sum(r["weight_bytes"] for r in layer_rows(result))
    assert 0 < rest < result.lvn_bytes and all(p["bytes"] > rest for p in pts[1:])
    assert [p.get("front", True) for p in pts][:2] == [False, True]


def test_sizes_read_in_readable_units():
    assert [figures.readable_bytes(n) for n in (512, 4000, 1500000)] == ["512 B", "4 KB", "1.5 MB"]


def test_memory_timeline_counts_live_activations(run):
    result, _, _ = run
    from levin.analyze.memory import plan_memory

    plan = plan_memory(result.graph)
    live = figures.live_bytes(result.graph, plan)
    assert len(live) == len(result.graph.nodes) and max(live) <= plan.arena_bytes


def test_memory_timeline_counts_streamed_buffers_once():
    import numpy as np

    from levin.analyze.memory import plan_memory
    from levin.ir.graph import Graph

    g = Graph("chain")
    t = g.add_input("x", (1, 16, 16, 8))
    for k in range(2):
        t = g.add_node("Conv2d", [t, g.add_constant(f"w{k}", np.zeros((8, 3, 3, 8), np.float32))], f"c{k}", padding=1)
    g.mark_output(t)
    plan = plan_memory(g, streamed=["c0", "c1"])
    tensor, lead = 16 * 16 * 8 * 4, 18 * 8 * 4          # float32; each conv leads by W + 2 pixels
    assert figures.live_bytes(g, plan) == [tensor + lead] * 2 and plan.arena_bytes == tensor + 2 * lead


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed (Debian: chromium)")
def test_report_renders_in_headless_chromium(run, tmp_path):
    result, _, out = run
    page = build(result, RECIPE, out / "report2.html", title="render test")
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1000,2400", page.resolve().as_uri()], capture_output=True, timeout=120)
    assert shot.exists()
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.std() > 10          # not a blank page: tables and plots drew something
