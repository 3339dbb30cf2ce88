"""The sweep page (benchmarks/mdl.py's lambda sweep): the plot embedded, one table per sweep."""

import base64

from levin.report.html import sweep_page


def test_sweep_page_embeds_the_plot_and_escapes_every_cell(tmp_path):
    png = b"\x89PNG\r\n\x1a\n fake"
    out = sweep_page("sweep <1>", "note & more", png,
                     [("lenet5: cmd --x", ["lambda", ".lvn B"], [["0.05", "3,966"], ["0.15", "3,749"]])],
                     tmp_path / "s.html")
    text = out.read_text()
    assert base64.b64encode(png).decode() in text
    assert "sweep &lt;1&gt;" in text and "note &amp; more" in text
    assert text.count("<tr>") == 3 and '<td class="n">3,966</td>' in text
