"""Build C code for a Cortex-M core, run it under qemu, and measure it: bytes, instructions, stack.

Read me first. A firmware image is the shipped bare-metal harness (`c/cortexm/`: vector table,
reset code, linker script for the core's qemu machine, semihosting console) plus the code under
test plus one *case file*: C that defines `levin_case_count` and `levin_case_run(i, &out, &len)`
(`c/cortexm/harness.h`). Inputs are compiled into the case file as const arrays; the harness
prints each case's output bytes as hex over semihosting, with its instruction count and stack
high-water mark, and exits qemu with status 0.

Cores: `build(..., core="cortex-m4")` (the default; also cortex-m0plus, -m3, -m7, -m33) picks the
gcc flags, qemu machine, memory map and SysTick arithmetic from `levin.targets.cores`, where the
choices (the M0+ runs on the M3 machine, the M33 boots secure) are explained. `opt` is the code
under test's optimisation level, "-Os" (default) or "-O2"; the harness is always -Os.

Sizes come from the linker map, not from `size` on the whole image: every input section is
charged to the object file it came from, so the code under test (with any libc/libgcc routine it
pulled in) is counted apart from the harness and the case file's test data. `.vectors` and
`.ARM.exidx` are counted as text.

Instruction counts, two ways (both measured against each other in tests/targets/test_cortexm.py):
  - "icount" (default, fast): qemu 7.2 ships no TCG plugins in Debian (no libinsn.so), so the
    firmware runs with `-icount shift=3` (M4): every instruction advances virtual time by exactly
    2^3 = 8 ns. SysTick counts the 25 MHz core clock (40 ns a tick), so one tick is exactly 5
    instructions, and instructions = ticks * 5, rounded down to a multiple of 5 (25 on the M33,
    `Core.per_tick`). The window includes the few instructions that read SysTick and call the
    case (~10).
  - "trace" (exact, ~1000x slower): `-singlestep -d exec,nochain` makes qemu log every executed
    instruction as a one-instruction block; the lines between entering `levin_count_begin` and
    `levin_count_end` are counted (SysTick handler lines excluded).
Neither is a cycle count: a Cortex-M4 takes 1..n cycles per instruction, and qemu models none
(`levin.targets.estimate` weighs the executed instruction mix by the core's timing table instead).

Per layer (`model_firmware(..., per_layer=True)`, opt-in): model.c is compiled with
`c/cortexm/layer_hook.h`, which stores SysTick after every node, and `run` returns
`CaseResult.layers`, the instructions of each node (icount only). The hook adds 2-4 instructions
per node to the count (one SysTick load and one store, and the loads of their addresses where
gcc does not keep them in registers); without per_layer, model.c is compiled exactly as before.

No toolchain or no qemu: `require_*()` raise `ToolMissing` (a LevinError) that names the Debian
packages; tests turn it into a skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from levin import runtime
from levin.errors import LevinError
from levin.targets import cores

C_DIR = runtime.C_DIR
HARNESS_DIR = C_DIR / "cortexm"
HARNESS_SOURCES = ("startup.c", "harness.c", "semihost.c")
LAYER_HOOK = HARNESS_DIR / "layer_hook.h"
_M4 = cores.CORES[cores.DEFAULT]
LINKER_SCRIPT = HARNESS_DIR / _M4.linker_script

CPU_FLAGS = _M4.cpu_flags
OPT_LEVELS = ("-Os", "-O2")
CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-ffunction-sections",
          "-fdata-sections", "-fstack-usage")
# The harness alone: no loop may turn into a memset/memcpy call, so that every libc routine in the
# image is one the code under test asked for (and is charged to it). GNU asm needs gnu99.
HARNESS_CFLAGS = ("-Os", "-std=gnu99", "-Wall", "-Wextra", "-Werror", "-ffunction-sections",
                  "-fdata-sections", "-fno-tree-loop-distribute-patterns")
LDFLAGS = ("-nostartfiles", "-Wl,--gc-sections", "--specs=nano.specs", "--specs=nosys.specs")

SYSCLK_HZ = _M4.sysclk_hz  # mps2-an386 core clock in qemu: SysTick's "processor clock" source
SYST_PERIOD = 1 << 24
ICOUNT_SHIFT = _M4.icount_shift
NO_READING = 0xFFFFFFFF  # a node without a per-layer reading (harness.h)
DEBIAN_HINT = "install the Debian packages gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"


class ToolMissing(LevinError):
    """The cross compiler or qemu is not installed."""


class FirmwareError(LevinError):
    """A Cortex-M build or run failed (compiler error, fault, timeout, garbled output)."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(f"{name} not found; {DEBIAN_HINT}")
    return path


def require_toolchain() -> str:
    """Path of arm-none-eabi-gcc (with newlib, which the link needs), or raise ToolMissing."""
    gcc = _tool("arm-none-eabi-gcc")
    _tool("arm-none-eabi-size")
    libc = subprocess.run([gcc, *CPU_FLAGS, "-print-file-name=libc_nano.a"], capture_output=True, text=True)
    if "/" not in libc.stdout:
        raise ToolMissing(f"arm-none-eabi newlib (libc_nano.a) not found; {DEBIAN_HINT}")
    return gcc


def require_qemu() -> str:
    """Path of qemu-system-arm, or raise ToolMissing."""
    return _tool("qemu-system-arm")


# ---------------------------------------------------------------------------------------------
# Building

@dataclass(frozen=True)
class Sizes:
    """Bytes per output-section kind. flash = text + rodata + data (its initial values live in
    flash); ram = data + bss."""

    text: int = 0
    rodata: int = 0
    data: int = 0
    bss: int = 0

    @property
    def flash(self) -> int:
        return self.text + self.rodata + self.data

    @property
    def ram(self) -> int:
        return self.data + self.bss

    def to_dict(self) -> dict:
        return dict(text=self.text, rodata=self.rodata, data=self.data, bss=self.bss,
                    flash=self.flash, ram=self.ram)


@dataclass
class Firmware:
    """A linked image: `image` = every section of the ELF (from `arm-none-eabi-size -A`),
    `code` = the sections charged to the code under test (from the map), `stack_usage` = the
    deepest frame gcc reported in its `-fstack-usage` files for that code (static, per function),
    `core` and `opt` = what it was built for (levin.targets.cores) and with."""

    elf: Path
    image: Sizes
    code: Sizes
    stack_usage: dict[str, int] = field(default_factory=dict)
    core: str = cores.DEFAULT
    opt: str = "-Os"


_KIND = {".vectors": "text", ".text": "text", ".ARM.exidx": "text", ".rodata": "rodata",
         ".data": "data", ".bss": "bss"}
_MAP_ENTRY = re.compile(r"^\s+(?:(\S+)\s+)?0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")


def parse_map(text: str) -> dict[tuple[str, str], int]:
    """Bytes per (section kind, object file) from a GNU ld map file's memory map."""
    out: dict[tuple[str, str], int] = {}
    body = text.split("Linker script and memory map", 1)[-1]
    kind = None
    for line in body.splitlines():
        if line and not line[0].isspace():
            kind = _KIND.get(line.split()[0])
            continue
        m = _MAP_ENTRY.match(line)
        if kind is None or m is None or (m.group(1) or "").startswith("*fill*") or "*fill*" in line:
            continue
        size = int(m.group(3), 16)
        if size:
            key = (kind, m.group(4).strip())
            out[key] = out.get(key, 0) + size
    return out


def parse_size_a(text: str) -> Sizes:
    """Sizes from `arm-none-eabi-size -A` output of an image linked with our linker script."""
    got = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in _KIND and parts[1].isdigit():
            got[_KIND[parts[0]]] += int(parts[1])
    return Sizes(**got)


def _stack_usage(su_files: Sequence[Path]) -> dict[str, int]:
    """function -> static stack bytes, from gcc's .su files (`file:line:col:name  bytes  kind`)."""
    out = {}
    for su in su_files:
        for line in su.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and parts[1].strip().isdigit():
                out[parts[0].rsplit(":", 1)[-1]] = int(parts[1])
    return out


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if done.returncode:
        raise FirmwareError(f"{what} failed ({' '.join(cmd[:3])} ...): {done.stderr.strip()[:2000]}")
    return done.stdout


def binutils(tool: str, *args: str) -> str:
    """The output of `arm-none-eabi-<tool> args...` (objdump, nm, size); ToolMissing or
    FirmwareError when it is missing or fails."""
    name = f"arm-none-eabi-{tool}"
    return _run([_tool(name), *args], name)


def build(sources: Sequence[Path], case_file: Path, out_dir: Path, include_dirs: Sequence[Path] = (),
          cflags: Sequence[str] = (), stack_size: int = 0x10000, core: str = cores.DEFAULT,
          opt: str = "-Os", code_cflags: Sequence[str] = ()) -> Firmware:
    """Compile `sources` (the code under test) and `case_file` for `core`, link with the harness.

    Args:
        cflags: extra flags for every file; `code_cflags`: for `sources` only.
        opt: the optimisation level of `sources`, one of OPT_LEVELS (the harness is always -Os).

    Raises:
        ToolMissing: no arm-none-eabi-gcc / newlib.
        FirmwareError: a compile or link error (the compiler's message is in the error).
        LevinError: an unknown core or optimisation level.
    """
    spec = cores.get(core)
    if opt not in OPT_LEVELS:
        raise LevinError(f"unknown optimisation level {opt!r}; use one of {', '.join(OPT_LEVELS)}")
    gcc = require_toolchain()
    out_dir = Path(out_dir)
    obj_dir = out_dir / "obj"
    obj_dir.mkdir(parents=True, exist_ok=True)
    incs = [f"-I{d}" for d in (HARNESS_DIR, *include_dirs)]
    code_objs, other_objs = [], []
    for src in sources:
        obj = obj_dir / (Path(src).stem + ".o")
        _run([gcc, *spec.cpu_flags, opt, *CFLAGS, *cflags, *code_cflags, *incs, "-c", str(src),
              "-o", str(obj)], f"compiling {Path(src).name}", cwd=obj_dir)
        code_objs.append(obj)
    for src in [HARNESS_DIR / s for s in HARNESS_SOURCES] + [Path(case_file)]:
        obj = obj_dir / ("harness_" + Path(src).stem + ".o")
        _run([gcc, *spec.cpu_flags, *HARNESS_CFLAGS, *cflags, *incs, "-c", str(src), "-o", str(obj)],
             f"compiling {Path(src).name}")
        other_objs.append(obj)
    elf, map_file = out_dir / "fw.elf", out_dir / "fw.map"
    _run([gcc, *spec.cpu_flags, *LDFLAGS, f"-L{HARNESS_DIR}", "-T", str(HARNESS_DIR / spec.linker_script),
          f"-Wl,--defsym=STACK_SIZE={stack_size}", f"-Wl,-Map={map_file}", *map(str, code_objs + other_objs),
          "-o", str(elf)], "linking")
    image = parse_size_a(binutils("size", "-A", str(elf)))
    harness = {str(o) for o in other_objs}
    code = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for (kind, obj), size in parse_map(map_file.read_text()).items():
        if obj not in harness:
            code[kind] += size
    su = [obj_dir / (Path(s).stem + ".su") for s in sources]
    return Firmware(elf, image, Sizes(**code), _stack_usage([p for p in su if p.exists()]), spec.name, opt)


# ---------------------------------------------------------------------------------------------
# Running

@dataclass(frozen=True)
class CaseResult:
    """One case: its status, output bytes, executed instructions and stack high-water mark (bytes
    below the caller's stack pointer that the case overwrote); with per-layer readings,
    `layers[k]` = the instructions of node k, hook included (0 for a node without a reading)."""

    status: int
    output: bytes
    instructions: int
    stack_bytes: int
    layers: tuple[int, ...] = ()


_CASE = re.compile(r"^case (\d+) status (\d+) t0 (\d+) t1 (\d+) wraps (\d+) stack (\d+)$")


def layer_ticks(t0: int, readings: Sequence[int]) -> list[int]:
    """SysTick ticks per node from the per-layer readings of one case: SysTick counts down from
    t0, modulo 2^24; a node without a reading (NO_READING) took 0 and the next one is measured
    from the last reading before it."""
    out, last = [], t0
    for r in readings:
        if r == NO_READING:
            out.append(0)
            continue
        out.append((last - r) % SYST_PERIOD)
        last = r
    return out


def parse_output(text: str) -> list[dict]:
    """The harness's per-case lines (see c/cortexm/harness.h) as dicts; checks it got to 'done'.
    A case with per-layer readings gets `layer_ticks` (see `layer_ticks`)."""
    lines = text.splitlines()
    cases: list[dict] = []
    for k, line in enumerate(lines):
        if line.startswith("fault "):
            raise FirmwareError(f"the firmware stopped with a {line[6:]} fault after {len(cases)} cases")
        m = _CASE.match(line)
        if m:
            if k + 1 >= len(lines) or not lines[k + 1].startswith("out "):
                raise FirmwareError(f"harness output garbled after {line!r}")
            i, status, t0, t1, wraps, stack = map(int, m.groups())
            cases.append(dict(index=i, status=status, ticks=t0 - t1 + wraps * SYST_PERIOD,
                              stack=stack, output=bytes.fromhex(lines[k + 1][4:].strip())))
            if k + 2 < len(lines) and lines[k + 2].startswith("layers "):
                cases[-1]["layer_ticks"] = layer_ticks(t0, [int(v) for v in lines[k + 2].split()[1:]])
    if "done" not in lines:
        raise FirmwareError(f"the firmware did not finish; output ends with {lines[-3:]!r}")
    return cases


def qemu_cmd(elf: Path, console: Path, core: str = cores.DEFAULT) -> list[str]:
    """The qemu command line that runs `elf` on `core`'s machine, semihosting console to `console`."""
    # The semihosting console goes to a file of its own (without a chardev qemu writes it to
    # stderr, where the exec trace also goes); no serial port or monitor is opened.
    return [require_qemu(), "-M", cores.get(core).machine, "-nographic", "-monitor", "none",
            "-serial", "none", "-chardev", f"file,id=levin_console,path={console}",
            "-semihosting-config", "enable=on,target=native,chardev=levin_console", "-kernel", str(elf)]


def run(fw: Firmware | Path, timeout: float = 120.0, count: str = "icount",
        core: str = cores.DEFAULT) -> list[CaseResult]:
    """Run the firmware under qemu and return one CaseResult per case.

    Args:
        count: "icount" (fast, exact to a multiple of the core's `per_tick`, 5 on the M4) or
            "trace" (exact, slow; no per-layer counts).
        core: the core of an ELF given as a path (a Firmware knows its own).

    Raises:
        ToolMissing: no qemu-system-arm.
        FirmwareError: a fault, a non-zero exit, a timeout, or output the harness did not write.
    """
    elf = fw.elf if isinstance(fw, Firmware) else Path(fw)
    spec = cores.get(fw.core if isinstance(fw, Firmware) else core)
    if count not in ("icount", "trace"):
        raise ValueError(f"count must be 'icount' or 'trace', got {count!r}")
    console = elf.with_suffix(".console.txt")
    console.unlink(missing_ok=True)
    traced = None
    if count == "icount":
        cmd = qemu_cmd(elf, console, spec.name) + ["-icount", f"shift={spec.icount_shift}"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise FirmwareError(f"qemu did not finish within {timeout:g} s ({elf})") from None
        status, err = done.returncode, done.stderr
    else:
        status, traced = _run_traced(qemu_cmd(elf, console, spec.name) + ["-singlestep", "-d", "exec,nochain",
                                                                          "-D", "/dev/stderr"], timeout)
        err = ""
    cases = parse_output(console.read_text() if console.exists() else "")
    if status:
        raise FirmwareError(f"qemu exited with status {status}: {err.strip()[-500:]}")
    if traced is not None and len(traced) != len(cases):
        raise FirmwareError(f"trace saw {len(traced)} measured windows for {len(cases)} cases")
    if traced is not None:
        return [CaseResult(c["status"], c["output"], n, c["stack"]) for c, n in zip(cases, traced)]
    per_tick = spec.per_tick
    return [CaseResult(c["status"], c["output"], int(round(c["ticks"] * per_tick)), c["stack"],
                       tuple(int(round(t * per_tick)) for t in c.get("layer_ticks", ())))
            for c in cases]


def _run_traced(cmd: list[str], timeout: float) -> tuple[int, list[int]]:
    """Run qemu with the exec log on stderr; count log lines inside each measured window. A
    line that qemu follows with "Stopped execution of TB chain" (an interrupt came before the
    instruction ran) is not counted: the instruction is logged again when it does run."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    windows, n, inside, counted = [], 0, False, False
    try:
        for line in proc.stderr:
            if line.startswith("Stopped") and counted:
                n -= 1
            if not line.startswith("Trace "):
                continue
            sym = line.rsplit("]", 1)[-1].strip()
            if sym == "levin_count_begin":
                inside, n = True, 0
            elif sym == "levin_count_end" and inside:
                windows.append(n)
                inside = False
            counted = inside and sym != "levin_systick_handler"
            n += counted
        proc.wait()
    finally:
        timer.cancel()
    if proc.returncode < 0:
        raise FirmwareError(f"qemu (traced) did not finish within {timeout:g} s")
    return proc.returncode, windows


# ---------------------------------------------------------------------------------------------
# Case files

def c_array(name: str, data: np.ndarray | bytes, ctype: str = "uint8_t", per_line: int = 16) -> str:
    """`static const <ctype> name[N] = {...};` for a 1-D integer array (one line per 16 values)."""
    values = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else np.asarray(data)
    values = values.reshape(-1)
    body = ",\n".join("    " + ", ".join(str(int(v)) for v in values[k:k + per_line])
                      for k in range(0, max(values.size, 1), per_line)) if values.size else "    0"
    return f"static const {ctype} {name}[{max(values.size, 1)}] = {{\n{body}\n}};"


def render_template(name: str, **fields) -> str:
    """Fill `c/cortexm/<name>` (a `string.Template`: $field placeholders)."""
    from string import Template
    return Template((HARNESS_DIR / name).read_text()).substitute(**fields)


def rans_firmware(payload: bytes, model, count: int, n_states: int, out_dir: Path,
                  chunk: int = 64) -> Firmware:
    """Firmware that decodes `payload` (`count` symbols, a levin.coding FrequencyModel) on the M4
    with the shipped levin_rans.c: case 0 with the slot table, case 1 by binary search."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    case = out_dir / "rans_case.c"
    case.write_text(render_template(
        "rans_case.c.in", count=count, chunk=chunk, alphabet=model.alphabet_size,
        precision=model.precision_bits, payload_len=len(payload), n_states=n_states,
        payload=c_array("payload", payload), freq=c_array("freq", model.freqs, "uint16_t"),
        cum=c_array("cum", model.cumulative(), "uint16_t"),
        slots=c_array("slots", model.slot_table(), "uint16_t")))
    return build([C_DIR / "levin_rans.c"], case, out_dir, include_dirs=[C_DIR])


_HOOK_CALL = re.compile(r"^\s*LEVIN_LAYER_DONE\((\d+)\);")
_NODE_COMMENT = re.compile(r"^\s*/\* (.*) \(([A-Za-z_]\w*)\) \*/$")  # "/* conv1 (Conv2d) */"


def layer_nodes(export) -> dict[int, str]:
    """node index -> the node's name as model.c's comment gives it (levin.codegen.comment_text),
    for every LEVIN_LAYER_DONE hook the exported model.c calls, in call order. The indices are
    those of the graph the C code was generated from (after any fusion)."""
    model_c = Path(export.out_dir) / f"{export.name}.c"
    if not model_c.is_file():
        return {}
    out, name = {}, None
    for line in model_c.read_text().split(f"{export.name}_run(", 1)[-1].splitlines():
        if name is None and (m := _NODE_COMMENT.match(line)):
            name = m.group(1)          # the node's own comment comes first, its kernel's may follow
        elif (m := _HOOK_CALL.match(line)):
            out[int(m.group(1))], name = name or "", None
    return out


def model_firmware(export, inputs: np.ndarray, out_dir: Path, core: str = cores.DEFAULT,
                   opt: str = "-Os", per_layer: bool = False, code_cflags: Sequence[str] = ()) -> Firmware:
    """Firmware running an exported model (a `levin.codegen.ExportResult`) on `inputs`
    (N x input_size int8 codes, NHWC order flattened), one case per input, built for `core` at
    `opt`. With `per_layer`, model.c records SysTick after every node (c/cortexm/layer_hook.h)
    and `run` returns per-node counts; off, nothing of it is compiled in. `code_cflags`: more
    flags for the model's and the runtime's files."""
    x = np.asarray(inputs)
    if x.dtype != np.int8 or x.ndim != 2 or x.shape[1] != export.input_size or len(x) == 0:
        raise LevinError(f"inputs must be int8 of shape (N >= 1, {export.input_size}), "
                         f"got {x.dtype} {x.shape}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = ",\n".join("    {" + ", ".join(map(str, row.tolist())) + "}" for row in x)
    layers, code_cflags = "", tuple(code_cflags)
    if per_layer:
        nodes = layer_nodes(export)
        if not nodes:
            raise LevinError(f"{export.out_dir}/{export.name}.c calls no LEVIN_LAYER_DONE hook; re-export the model")
        layers = (f"volatile uint32_t levin_layer_ticks[{max(nodes) + 1}];\n"
                  f"const uint32_t levin_layer_count = {max(nodes) + 1}u;")
        code_cflags += ("-include", str(LAYER_HOOK))
    case = out_dir / "model_case.c"
    case.write_text(render_template("model_case.c.in", count=len(x), inputs=rows, layers=layers,
                                    model=export.name, MODEL=export.name.upper(),
                                    in_size=f"{export.input_size}u", out_size=f"{export.output_size}u",
                                    call=export.call("inputs[i]", "output", "arena", "sizeof arena")))
    return build(export.sources, case, out_dir / "fw", include_dirs=[Path(export.out_dir)], core=core,
                 opt=opt, code_cflags=code_cflags)
