"""levin's C99 runtime, shipped inside the package so the pip install and the C code never drift
apart: the weight readers, the rANS decoder and the int8 kernels in `c/`, and the Cortex-M
harness in `c/cortexm/`. The code generator (`levin.codegen`) copies these files next to a
model's `model.c`; `levin.targets` builds and runs them."""

from pathlib import Path

C_DIR = Path(__file__).resolve().parent / "c"
# Every export ships these (the kernels of the built-in ops and what they share); an op with a
# kernel of its own names its file in `CBinding.sources` (levin.ops).
SOURCES = ("levin_status.c", "levin_weights.c", "levin_rans.c", "levin_dot.c", "levin_conv.c",
           "levin_conv_coded.c", "levin_linear.c", "levin_pool.c", "levin_elementwise.c", "levin_softmax.c")
HEADERS = ("levin_runtime.h", "levin_weights.h", "levin_rans.h", "levin_kernels.h", "levin_dot.h",
           "levin_conv_window.h", "levin_config.h")


def include_dir() -> Path:
    """The folder to put on a C compiler's include path for the runtime's headers."""
    return C_DIR
