"""Device profiles and a cost model: fit verdict (measured sizes) and ESTIMATED latency/energy.

Read me first: the latency and energy figures are estimates from a deliberately simple model,
there to show where time and energy go per layer (data movement dominates), not to replace a
measurement on the device. The fit verdict compares the profile's arena and flash bytes (the
code part of flash is itself an estimate until the C runtime is measured) with the device.

Traffic model, per layer. Every MAC needs one weight and one activation operand; a core keeps
a loaded operand in registers for `reuse` MACs (CMSIS-NN's kernels compute 2 outputs from each
load; an accelerator's local buffers reuse far more). Each operand stream moves at least its
tensor once. Weights stream from their home memory (MCU flash, read in place) unless the device
caches them in SRAM (accelerator: DRAM once, then SRAM). Outputs are written once. Layers
without MACs read their inputs and write their output once; a Reshape moves nothing.

Latency = max(compute cycles, memory cycles) + a fixed per-layer overhead, at the clock.
Energy (Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm, per 32-bit access or op):
SRAM 5 pJ, DRAM 640 pJ, float32 mult 3.7 + add 0.9 pJ, int8 mult 0.2 pJ with an int32
accumulate 0.1 pJ, int8 add 0.03 pJ. On-chip flash has no figure there; we charge it as SRAM,
which understates the flash share.

Boards: every Cortex-M device names the `core` levin builds its C for (levin.targets.cores) and
an `active_power_w`, the part's typical run-mode power at that clock (datasheet run current x
3.3 V, rounded; a board's regulators, sensors and radio draw more). `levin profile model.lvn
--device D` multiplies it by the estimated time of one inference to give an estimated energy.
A user's own board is a YAML file (`load_board`, BOARD_YAML below); its cost-model figures for
float models are those of the built-in device with the same core.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from levin.analyze.profile import LayerProfile, ProfileResult
from levin.errors import LevinError

SRAM_PJ, DRAM_PJ = 5.0, 640.0                     # per 32-bit access
MAC_PJ = {"float32": 3.7 + 0.9, "int8": 0.2 + 0.1}  # multiply + accumulate (int32 accumulator)
OP_PJ = {"float32": 0.9, "int8": 0.03}            # one add / compare
KB, MB = 1024, 1024 * 1024


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    description: str
    clock_hz: float
    sram_bytes: int                    # for the arena (accelerator: on-chip buffer)
    flash_bytes: int                   # for weights + code (accelerator: its DRAM)
    weight_memory: str                 # "flash" or "DRAM"
    weight_access_pj: float            # per 32-bit read of a weight
    macs_per_cycle: dict               # effective, by dtype: {"float32": .., "int8": ..}
    ops_per_cycle: dict                # non-MAC element ops, by dtype
    reuse: float                       # MACs per loaded operand
    sram_bytes_per_cycle: float
    weight_bytes_per_cycle: float
    weights_cached: bool               # weights copied once into SRAM, then read from there
    layer_overhead_cycles: int
    assumptions: str
    core: str | None = None            # the Cortex-M core its C is built for (levin.targets.cores)
    active_power_w: float | None = None  # typical run-mode power at clock_hz (an estimate's input)
    power_source: str = ""             # where active_power_w comes from


DEVICES: dict[str, DeviceProfile] = {d.name: d for d in (
    DeviceProfile(
        "cortex-m4", "Arm Cortex-M4F @ 80 MHz, 256 KB SRAM, 1 MB flash (e.g. STM32L4)",
        80e6, 256 * KB, 1 * MB, "flash", SRAM_PJ,
        {"float32": 0.25, "int8": 0.5}, {"float32": 0.5, "int8": 1.0}, 2.0, 4.0, 4.0, False, 200,
        "int8 0.5 MAC/cycle: MLPerf Tiny ResNet-8 (12.5 M MACs) runs in ~0.2 s on a 120 MHz M4 "
        "with CMSIS-NN; float32 0.25 MAC/cycle: one FPU MAC plus its operand loads",
        "cortex-m4", 0.026, "STM32L4 run mode ~100 uA/MHz x 80 MHz x 3.3 V"),
    DeviceProfile(
        "cortex-m7", "Arm Cortex-M7 @ 480 MHz, 512 KB SRAM, 2 MB flash (e.g. STM32H7)",
        480e6, 512 * KB, 2 * MB, "flash", SRAM_PJ,
        {"float32": 0.5, "int8": 1.0}, {"float32": 1.0, "int8": 2.0}, 2.0, 8.0, 8.0, False, 200,
        "dual issue: about twice the M4's per-cycle throughput; flash behind a cache",
        "cortex-m7", 0.4, "STM32H7 run mode ~250 uA/MHz x 480 MHz x 3.3 V"),
    DeviceProfile(
        "cortex-m0plus", "Arm Cortex-M0+ @ 48 MHz, 32 KB SRAM, 256 KB flash (e.g. SAMD21)",
        48e6, 32 * KB, 256 * KB, "flash", SRAM_PJ,
        {"float32": 0.02, "int8": 0.15}, {"float32": 0.05, "int8": 0.5}, 1.0, 2.0, 2.0, False, 200,
        "no DSP or FPU: a soft-float MAC takes ~50 cycles, an int8 MAC ~7 (two 2-cycle loads, "
        "a multiply, an add, loop overhead)",
        "cortex-m0plus", 0.011, "SAMD21 run mode ~70 uA/MHz x 48 MHz x 3.3 V"),
    DeviceProfile(
        "cortex-m3", "Arm Cortex-M3 @ 72 MHz, 64 KB SRAM, 512 KB flash (e.g. STM32F103xE)",
        72e6, 64 * KB, 512 * KB, "flash", SRAM_PJ,
        {"float32": 0.03, "int8": 0.25}, {"float32": 0.1, "int8": 1.0}, 1.0, 4.0, 4.0, False, 200,
        "no DSP or FPU: soft-float MACs; int8 at half the M4's rate without its SIMD MACs",
        "cortex-m3", 0.12, "STM32F103 run mode ~36 mA at 72 MHz x 3.3 V"),
    DeviceProfile(
        "cortex-m33", "Arm Cortex-M33 @ 160 MHz, 768 KB SRAM, 2 MB flash (e.g. STM32U5)",
        160e6, 768 * KB, 2 * MB, "flash", SRAM_PJ,
        {"float32": 0.25, "int8": 0.5}, {"float32": 0.5, "int8": 1.0}, 2.0, 4.0, 4.0, False, 200,
        "DSP extension and FPU as on the M4, at the M4's per-cycle throughput",
        "cortex-m33", 0.01, "STM32U5 run mode ~19 uA/MHz (SMPS) x 160 MHz x 3.3 V"),
    DeviceProfile(
        "accelerator", "generic massively parallel accelerator @ 1 GHz: 4096 int8 MAC units, "
        "8 MB on-chip SRAM, weights in 8 GB DRAM at 64 GB/s",
        1e9, 8 * MB, 8 * 1024 * MB, "DRAM", DRAM_PJ,
        {"float32": 1024.0, "int8": 4096.0}, {"float32": 256.0, "int8": 1024.0}, 64.0, 1024.0, 64.0,
        True, 1000,
        "utilization 100% of the MAC array; 1 us launch overhead per layer; weights read from "
        "DRAM once per inference"),
)}


BOARD_YAML = """\
# board.yaml: a device of your own for `levin profile --device board.yaml`
name: my-board          # optional (default: the file's name)
core: cortex-m4         # cortex-m0plus, cortex-m3, cortex-m4, cortex-m7 or cortex-m33
clock_mhz: 64           # the core clock the estimates use
sram_kb: 128            # RAM for the arena, scratch, stack and the code's own data (1 KB = 1024 B)
flash_kb: 512           # flash for weights and code
active_mw: 12.5         # run-mode power at that clock (datasheet current x supply voltage)
"""
BOARD_FIELDS = {"core": str, "clock_mhz": float, "sram_kb": float, "flash_kb": float, "active_mw": float}
BOARD_OPTIONAL = {"name": str, "description": str}


def parse_board(data, where: str) -> DeviceProfile:
    """A DeviceProfile from a board mapping (BOARD_YAML's fields); LevinError naming the field."""
    if not isinstance(data, dict):
        raise LevinError(f"{where}: expected a mapping of {', '.join(BOARD_FIELDS)}, "
                         f"got {type(data).__name__}")
    unknown = sorted(map(str, set(data) - set(BOARD_FIELDS) - set(BOARD_OPTIONAL)))
    if unknown:
        raise LevinError(f"{where}: unknown field {unknown[0]!r}; a board has "
                         f"{', '.join([*BOARD_FIELDS, *BOARD_OPTIONAL])}")
    missing = [k for k in BOARD_FIELDS if k not in data]
    if missing:
        raise LevinError(f"{where}: missing field {missing[0]!r} (a board needs "
                         f"{', '.join(BOARD_FIELDS)})")
    values = {}
    for key, kind in {**BOARD_FIELDS, **BOARD_OPTIONAL}.items():
        if key not in data:
            continue
        v = data[key]
        if kind is float:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or v == float("inf"):
                raise LevinError(f"{where}: {key} must be a positive number, got {v!r}")
        elif not isinstance(v, str) or not v.strip():
            raise LevinError(f"{where}: {key} must be a non-empty string, got {v!r}")
        values[key] = v
    # The built-in devices name every core levin builds for (levin.targets.cores, which this
    # layer does not import): "m4", "M0+" and "cortex-m4" all name one.
    known = {d.core: d for d in sorted((d for d in DEVICES.values() if d.core), key=lambda d: _CORE_ORDER.index(d.core))}
    core = values["core"].strip().lower().replace("+", "plus")
    core = core if core.startswith("cortex-") else "cortex-" + core
    if core not in known:
        raise LevinError(f"{where}: unknown core {values['core']!r}; known cores: {', '.join(known)}")
    template = known[core]
    mhz, sram, flash, mw = (values[k] for k in ("clock_mhz", "sram_kb", "flash_kb", "active_mw"))
    name = values.get("name", Path(where).stem)
    return replace(template, name=name,
                   description=values.get("description", f"{core} @ {mhz:g} MHz, {sram:g} KB SRAM, "
                                                         f"{flash:g} KB flash ({where})"),
                   clock_hz=mhz * 1e6, sram_bytes=int(sram * KB), flash_bytes=int(flash * KB),
                   active_power_w=mw / 1e3, power_source=f"active_mw in {where}",
                   assumptions=f"cost model of the built-in {template.name}: {template.assumptions}")


def load_board(path: str | Path) -> DeviceProfile:
    """The board described by the YAML file `path` (BOARD_YAML); one-line LevinError otherwise."""
    import yaml

    from levin.fileio import read_bytes

    where = str(path)
    text = read_bytes(path).decode("utf-8", errors="replace")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise LevinError(f"{where}: not valid YAML{at}") from None
    return parse_board(data, where)


_CORE_ORDER = ("cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33")   # smallest first


def get(name: str) -> DeviceProfile:
    """A built-in device by name, or a board file (a path ending in .yaml / .yml)."""
    if str(name).endswith((".yaml", ".yml")):
        return load_board(name)
    try:
        return DEVICES[name]
    except KeyError:
        raise LevinError(f"unknown device {name!r}; known devices: {', '.join(DEVICES)}, "
                         f"or a board.yaml file") from None


@dataclass
class LayerEstimate:
    name: str
    cycles: float
    latency_s: float
    sram_bytes_moved: float
    weight_bytes_moved: float          # from flash / DRAM
    compute_pj: float
    memory_pj: float


@dataclass
class Fit:
    sram_needed: int
    sram_available: int
    flash_needed: int
    flash_available: int

    @property
    def sram_margin(self) -> int:
        return self.sram_available - self.sram_needed

    @property
    def flash_margin(self) -> int:
        return self.flash_available - self.flash_needed

    @property
    def fits(self) -> bool:
        return self.sram_margin >= 0 and self.flash_margin >= 0

    def to_dict(self) -> dict:
        return dict(asdict(self), sram_margin=self.sram_margin, flash_margin=self.flash_margin,
                    fits=self.fits)


@dataclass
class Estimate:
    device: DeviceProfile
    layers: list[LayerEstimate]
    fit: Fit

    @property
    def latency_s(self) -> float:
        return sum(layer.latency_s for layer in self.layers)

    @property
    def compute_pj(self) -> float:
        return sum(layer.compute_pj for layer in self.layers)

    @property
    def memory_pj(self) -> float:
        return sum(layer.memory_pj for layer in self.layers)

    @property
    def energy_pj(self) -> float:
        return self.compute_pj + self.memory_pj

    def to_dict(self) -> dict:
        d = self.device
        return {
            "device": device_dict(d),
            "fit": self.fit.to_dict(),
            "estimated": True,
            "latency_s": self.latency_s, "energy_pj": self.energy_pj,
            "compute_pj": self.compute_pj, "memory_pj": self.memory_pj,
            "layers": [asdict(layer) for layer in self.layers],
        }


def device_dict(d: DeviceProfile) -> dict:
    """What a report says about the device it used."""
    return {"name": d.name, "description": d.description, "clock_hz": d.clock_hz,
            "sram_bytes": d.sram_bytes, "flash_bytes": d.flash_bytes, "weight_memory": d.weight_memory,
            "core": d.core, "active_power_w": d.active_power_w, "power_source": d.power_source,
            "assumptions": d.assumptions}


def _dtype(layer: LayerProfile) -> str:
    return "float32" if layer.dtype.startswith("float") else "int8"


def estimate_layer(layer: LayerProfile, device: DeviceProfile) -> LayerEstimate:
    dt = _dtype(layer)
    item = 4 if dt == "float32" else 1          # bytes per weight and per activation
    if layer.op == "Reshape":
        sram = weights = 0.0
    elif layer.macs:
        w_stream = max(layer.weight_bytes, layer.macs * item / device.reuse)
        a_stream = max(layer.input_bytes, layer.macs * item / device.reuse)
        sram = a_stream + layer.output_bytes
        if device.weights_cached:
            weights, sram = layer.weight_bytes, sram + layer.weight_bytes + w_stream
        else:
            weights = w_stream
    else:
        sram, weights = layer.input_bytes + layer.output_bytes, layer.weight_bytes
    compute = layer.macs / device.macs_per_cycle[dt] + layer.ops / device.ops_per_cycle[dt]
    memory = sram / device.sram_bytes_per_cycle + weights / device.weight_bytes_per_cycle
    cycles = max(compute, memory) + device.layer_overhead_cycles
    return LayerEstimate(
        layer.name, cycles, cycles / device.clock_hz, sram, weights,
        compute_pj=layer.macs * MAC_PJ[dt] + layer.ops * OP_PJ[dt],
        memory_pj=sram / 4 * SRAM_PJ + weights / 4 * device.weight_access_pj)


def estimate(result: ProfileResult, device: DeviceProfile) -> Estimate:
    """Fit verdict and the (estimated) per-layer latency and energy of `result` on `device`."""
    layers = [estimate_layer(layer, device) for layer in result.layers]
    fit = Fit(result.arena_bytes, device.sram_bytes, result.flash_bytes, device.flash_bytes)
    return Estimate(device, layers, fit)
