"""Line charts: PNG bytes and files, nothing global touched, bad curves refused."""

import io

import matplotlib
import pytest
from matplotlib.image import imread

from levin.errors import LevinError
from levin.report.plots import Panel, render

PNG = b"\x89PNG\r\n\x1a\n"


def test_render_returns_a_png_of_the_asked_size_and_writes_the_same_bytes(tmp_path):
    backend = matplotlib.get_backend()
    panels = [Panel("a", "x", "y", {"one": ([1, 2, 3], [3, 1, 2])}, reference=2.5),
              Panel("b", "bits", "acc", {"two": ([8, 4, 2], [99, 98, 50])}, xticks=[2, 4, 8],
                    invert_x=True)]
    png = render(panels, tmp_path / "sub" / "chart.png", panel_size=(3, 2), dpi=50)
    assert png[:8] == PNG
    assert (tmp_path / "sub" / "chart.png").read_bytes() == png
    height, width = imread(io.BytesIO(png)).shape[:2]
    assert (width, height) == (2 * 3 * 50, 2 * 50)
    assert matplotlib.get_backend() == backend          # no backend switch, no pyplot state


def test_an_empty_chart_and_a_ragged_curve_are_clear_errors():
    with pytest.raises(LevinError, match="at least one panel"):
        render([])
    with pytest.raises(LevinError, match="'bad' of panel 'p' has 2 x values and 1 y values"):
        render([Panel("p", "x", "y", {"bad": ([1, 2], [1])})])


def test_the_module_docstring_example_runs():
    import doctest

    import levin.report.plots as plots

    result = doctest.testmod(plots)
    assert result.attempted > 0 and result.failed == 0
