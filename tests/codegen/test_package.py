"""An export is a package: prefixed symbols, two models in one image (host and Cortex-M4), an
arena-size check, a header that says what the model is, and a README/Makefile/CMake/example that
build as they are."""

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import levin
from levin import reference
from levin.bench._graphs import int8_graph
from levin.cli.main import main
from levin.codegen import export_c
from levin.codegen.package import check_name
from levin.errors import LevinError
from levin.targets import build, cortexm
from tests.conftest import require_cortex_m  # noqa: E402

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "golden.lvn"
STATUS_ARENA = 4   # LEVIN_ERR_ARENA

pytestmark = pytest.mark.skipif(build.compiler() is None, reason="needs a host C compiler")

# Runs both models on compiled-in inputs, one after the other in one shared arena, and prints
# each output in hex; then the arena-size and alignment checks.
TWO_MODELS_MAIN = """
#include <stdio.h>
#include "a.h"
#include "b.h"

static const int8_t in_a[A_INPUT_SIZE] = { %(in_a)s };
static const int8_t in_b[B_INPUT_SIZE] = { %(in_b)s };
static int8_t out_a[A_OUTPUT_SIZE], out_b[B_OUTPUT_SIZE];
static uint8_t buffer[(A_ARENA_BYTES > B_ARENA_BYTES ? A_ARENA_BYTES : B_ARENA_BYTES) + 32];

static void hex(const int8_t *p, unsigned n) {
    unsigned i;
    for (i = 0; i < n; ++i) printf("%%02x", (unsigned)(uint8_t)p[i]);
    printf("\\n");
}

int main(void) {
    uint8_t *arena = buffer + (16u - (uintptr_t)buffer %% 16u) %% 16u;
    size_t bytes = sizeof buffer - 16u;
    if (a_run(in_a, out_a, arena, bytes) != LEVIN_OK || b_run(in_b, out_b, arena, bytes) != LEVIN_OK) return 1;
    hex(out_a, A_OUTPUT_SIZE);
    hex(out_b, B_OUTPUT_SIZE);
    printf("%%d %%d\\n", (int)a_run(in_a, out_a, arena, A_ARENA_BYTES - 1u),
           (int)a_run(in_a, out_a, arena + 1, bytes - 1u));
    return 0;
}
"""


@pytest.fixture(scope="module")
def models():
    """Two different integer graphs and one input each."""
    a, xa = int8_graph("digits_cnn", n_inputs=1, weight_bits=4)
    b, xb = int8_graph("lenet5", n_inputs=1, weight_bits=8)
    return (a, xa[0]), (b, xb[0])


def reference_codes(graph, x):
    shape = graph.tensors[graph.inputs[0]].shape
    return reference.run(graph, x.reshape(shape))[graph.outputs[0]].reshape(-1)


def export_both(models, out: Path):
    (a, _), (b, _) = models
    ea = export_c(a, out, weight_format="int8", name="a")
    eb = export_c(b, out, weight_format="rans", name="b")
    return ea, eb


def c_list(x):
    return ", ".join(map(str, np.asarray(x, np.int8).reshape(-1).tolist()))


def test_two_models_link_into_one_host_program_bit_exact(models, tmp_path):
    (a, xa), (b, xb) = models
    ea, eb = export_both(models, tmp_path / "pkg")
    main_c = tmp_path / "two.c"
    main_c.write_text(TWO_MODELS_MAIN % {"in_a": c_list(xa), "in_b": c_list(xb)})
    sources = sorted({*map(str, ea.sources), *map(str, eb.sources)})
    exe = tmp_path / "two"
    subprocess.run([build.compiler(), *build.STRICT, "-O2", "-I", str(ea.out_dir), str(main_c), *sources,
                    "-o", str(exe)], check=True, capture_output=True, text=True)
    lines = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    assert bytes.fromhex(lines[0]) == reference_codes(a, xa).astype(np.int8).tobytes()
    assert bytes.fromhex(lines[1]) == reference_codes(b, xb).astype(np.int8).tobytes()
    assert lines[2:] == [str(STATUS_ARENA), str(STATUS_ARENA)]   # one byte short; misaligned


def test_two_models_link_into_one_cortex_m4_image(models, tmp_path):
    require_cortex_m()
    (a, xa), (b, xb) = models
    ea, eb = export_both(models, tmp_path / "pkg")
    case = tmp_path / "case.c"
    case.write_text(f"""
#include "harness.h"
#include "a.h"
#include "b.h"
static const int8_t in_a[A_INPUT_SIZE] = {{ {c_list(xa)} }};
static const int8_t in_b[B_INPUT_SIZE] = {{ {c_list(xb)} }};
static int8_t out[A_OUTPUT_SIZE + B_OUTPUT_SIZE];
static uint8_t arena[A_ARENA_BYTES > B_ARENA_BYTES ? A_ARENA_BYTES : B_ARENA_BYTES] __attribute__((aligned(16)));
const uint32_t levin_case_count = 3u;
int32_t levin_case_run(uint32_t i, const uint8_t **o, uint32_t *n) {{
    levin_status s = i == 0 ? a_run(in_a, out, arena, sizeof arena)
                   : i == 1 ? b_run(in_b, out, arena, sizeof arena)
                   : b_run(in_b, out, arena, B_ARENA_BYTES - 1u);
    *o = (const uint8_t *)out;
    *n = i == 0 ? A_OUTPUT_SIZE : B_OUTPUT_SIZE;
    return (int32_t)s;
}}
""")
    sources = sorted({*ea.sources, *eb.sources})
    results = cortexm.run(cortexm.build(sources, case, tmp_path / "fw", include_dirs=[ea.out_dir]))
    assert [r.status for r in results] == [0, 0, STATUS_ARENA]
    assert results[0].output == reference_codes(a, xa).astype(np.int8).tobytes()
    assert results[1].output == reference_codes(b, xb).astype(np.int8).tobytes()


def test_the_package_builds_and_runs_with_make_and_cmake(models, tmp_path):
    out = tmp_path / "pkg"
    out.mkdir()
    (out / "harness.c").write_text("int main(void) { return 0; }\n")   # an old export's, not the package's
    export_both(models, out)
    assert {"README.md", "Makefile", "CMakeLists.txt", "LICENSE", "a.c", "a.h", "b.c", "b.h"} <= \
        {p.name for p in out.iterdir()}
    assert "harness" not in (out / "Makefile").read_text()    # levin's harness builds elsewhere
    make = subprocess.run(["make", "-C", str(out), "run", "CFLAGS=-O2 -Wall -Wextra -Werror -pedantic"],
                          capture_output=True, text=True)
    assert make.returncode == 0, make.stderr
    assert "a output (levin" in make.stdout and "b output (levin" in make.stdout
    if shutil.which("cmake") is None:
        pytest.skip("cmake not installed")
    built = tmp_path / "cmake-build"
    for cmd in (["cmake", "-S", str(out), "-B", str(built)], ["cmake", "--build", str(built)],
                [str(built / "levin_example")]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_header_says_what_the_model_is(tmp_path):
    export_c(GOLDEN, tmp_path, name="kws")
    header = (tmp_path / "kws.h").read_text()
    assert f'#define KWS_LEVIN_VERSION "{levin.__version__}"' in header
    assert f'#define KWS_SHA256 "{hashlib.sha256(GOLDEN.read_bytes()).hexdigest()}"' in header
    for macro in ("KWS_ARENA_BYTES", "KWS_INPUT_SHAPE {", "KWS_OUTPUT_SCALE", "KWS_INPUT_ZERO_POINT",
                  "kws_quantize_input(float", "kws_dequantize_output(int8_t", "SPDX-License-Identifier"):
        assert macro in header
    readme = (tmp_path / "README.md").read_text()
    assert "kws_run(input, output, arena, sizeof arena)" in readme and "Zephyr" in readme


def test_raw_only_holds_only_when_every_model_in_the_folder_is_raw(models, tmp_path):
    (a, _), (b, _) = models
    export_c(a, tmp_path, weight_format="int8", name="a")
    assert "#define LEVIN_WEIGHTS_RAW_ONLY" in (tmp_path / "levin_config.h").read_text()
    export_c(b, tmp_path, weight_format="rans", name="b")
    assert "#define LEVIN_WEIGHTS_RAW_ONLY" not in (tmp_path / "levin_config.h").read_text()


@pytest.mark.parametrize("name", ["", "Kws", "1kws", "main", "levin_x", "int", "a-b", "k" * 33, "x.y"])
def test_a_bad_name_is_refused(name):
    with pytest.raises(LevinError, match="model name"):
        check_name(name)


def test_cli_name_errors_in_one_line(tmp_path, capsys):
    assert main(["export", str(GOLDEN), "-o", str(tmp_path), "--name", "my-model"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--name 'my-model'" in err
    assert not list(tmp_path.iterdir())
