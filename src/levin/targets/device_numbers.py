"""What the C build of an integer model uses on a Cortex-M core: measured bytes, stack and
instructions, per layer and in total, and the estimates derived from them for a device.

Read me first. `measure(model, work)` exports the model's C (`levin.codegen.export_c`, the build
`levin export` makes), links it into a Cortex-M image (`levin.targets.cortexm.model_firmware`)
and runs it under qemu. Everything it returns is measured unless its name says estimate:

  flash     .text + .rodata + .data of model.c, the runtime and any libgcc/libc routine they
            pull in (from the linker map; the harness and test inputs excluded), split into
            `weight_bytes` (weights, biases, codebooks, tables: the export's count) and code;
  per layer the bytes of each node's const arrays (`n<k>_*` symbols in the ELF, descriptors
            excluded; they add up to `weight_bytes`);
  RAM       arena (activations + weight-decoding scratch, <NAME>_ARENA_BYTES) + the code's own
            .data/.bss + the stack high-water mark of one inference (the harness paints the
            stack and reads how deep the run wrote);
  instr     instructions per inference under qemu -icount (exact to 5 on the M4; not cycles);
  per layer instructions of each node (input 0) from a second build with model.c's per-layer
            hook (each count includes the hook's 2-4 instructions; `levin.targets.cortexm`).

With `cycles=True`, the per-layer run is an exec-log run instead (`levin.targets.estimate`): the
same instruction counts, and cycles ESTIMATED from the executed instruction mix and the core's
timing table (qemu models no timing). `DeviceNumbers.on(device)` turns them into estimated time
at the device's clock and estimated energy (its active power x that time), and the fit verdict,
which counts stack and scratch.

Used by `levin profile model.lvn --device D` and `levin bench runtime` (one function, so the
two never disagree).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from levin import reference
from levin.analyze.devices import DeviceProfile, Fit, device_dict
from levin.analyze.memory import ArenaPlan
from levin.analyze.profile import count_macs
from levin.errors import LevinError
from levin.ir.graph import Graph
from levin.targets import cores, cortexm
from levin.targets import estimate as cycle_estimate

_LAYER_SYMBOL = re.compile(r"^n(\d+)_\w+$")
_DESCRIPTORS = ("_params", "_weights")   # structs that point at the arrays: not weights


@dataclass
class LayerNumbers:
    """One node of the C code's graph (after activation fusion: a fused ReLU is part of its
    producer, `fused` names it)."""

    index: int
    name: str
    op: str
    macs: int
    weight_bytes: int          # its const arrays in the ELF (measured)
    activation_bytes: int      # extent of the arena live while it runs (the plan)
    scratch_bytes: int         # weight-decoding scratch its kernel uses
    instructions: int          # measured, input 0, hook included (0: a node with no code)
    cycles: float | None = None  # ESTIMATE (instruction mix x timing table)
    fused: str = ""


@dataclass
class DeviceNumbers:
    """The measured C build of one model on one core (see the module docstring)."""

    source: str
    core: str
    weight_format: str
    prefer: str
    chains: dict[str, str]
    text: int
    rodata: int
    data: int
    bss: int
    weight_bytes: int
    arena: int
    activation: int
    scratch: int
    stack: int
    instructions: int                     # median over the inputs
    instructions_per_input: list[int]
    exact: bool                           # the core's outputs == the integer reference's
    layers: list[LayerNumbers] = field(default_factory=list)
    rest: dict = field(default_factory=dict)   # after the last node: output copy, return
    cycles: float | None = None           # ESTIMATE, input 0 (per-layer build: hooks included)
    export_s: float = 0.0
    export: object = None                 # the levin.codegen.ExportResult (not serialized)

    @property
    def flash(self) -> int:
        return self.text + self.rodata + self.data

    @property
    def code_bytes(self) -> int:
        """Flash that is not weights: code, constants of the runtime, layer descriptors."""
        return self.flash - self.weight_bytes

    @property
    def ram(self) -> int:
        return self.arena + self.data + self.bss + self.stack

    def fit(self, device: DeviceProfile) -> Fit:
        """RAM (arena + scratch + the code's data + stack) and flash against the device."""
        return Fit(self.ram, device.sram_bytes, self.flash, device.flash_bytes)

    def seconds(self, device: DeviceProfile, cycles: float | None = None) -> float | None:
        """ESTIMATED time of `cycles` (default: one inference) at the device's clock."""
        cycles = self.cycles if cycles is None else cycles
        return None if cycles is None else cycles / device.clock_hz

    def joules(self, device: DeviceProfile, cycles: float | None = None) -> float | None:
        """ESTIMATED energy: the device's active power x the estimated time."""
        s = self.seconds(device, cycles)
        return None if s is None or device.active_power_w is None else s * device.active_power_w

    def to_dict(self, device: DeviceProfile | None = None) -> dict:
        out = {"source": self.source, "core": self.core, "weight_format": self.weight_format,
               "prefer": self.prefer, "chains": self.chains,
               "flash": self.flash, "weight_bytes": self.weight_bytes, "code_bytes": self.code_bytes,
               "text": self.text, "rodata": self.rodata, "data": self.data, "bss": self.bss,
               "ram": self.ram, "arena": self.arena, "activation": self.activation,
               "scratch": self.scratch, "stack": self.stack, "instructions": self.instructions,
               "instructions_per_input": self.instructions_per_input, "exact": self.exact,
               "cycles_estimate": self.cycles, "export_s": self.export_s,
               "layers": [asdict(layer) for layer in self.layers], "rest": self.rest,
               "estimated": ["cycles_estimate", "layers[].cycles"]}
        if device is not None:
            out["device"] = device_dict(device)
            out["fit"] = self.fit(device).to_dict()
            out["ms_estimate"] = None if self.cycles is None else 1e3 * self.seconds(device)
            j = self.joules(device)
            out["energy_uj_estimate"] = None if j is None else 1e6 * j
            for layer, d in zip(self.layers, out["layers"]):
                s, e = self.seconds(device, layer.cycles), self.joules(device, layer.cycles)
                d["ms_estimate"] = None if layer.cycles is None else 1e3 * s
                d["energy_uj_estimate"] = None if e is None else 1e6 * e
            out["estimated"] += ["ms_estimate", "energy_uj_estimate", "layers[].ms_estimate",
                                 "layers[].energy_uj_estimate"]
        return out


def random_inputs(graph: Graph, n: int = 1, seed: int = 0) -> np.ndarray:
    """`n` seeded random int8 input codes for `graph`, flattened NHWC (n x input size). Sizes and
    instruction counts of levin's kernels do not depend on the values."""
    size = graph.tensors[graph.inputs[0]].size
    return np.random.default_rng(seed).integers(-128, 128, (n, size)).astype(np.int8)


def _graph(model: Graph | str | Path) -> Graph:
    if isinstance(model, Graph):
        return model
    from levin.coding import container

    return container.read(model)


def _layer_bytes(elf: Path) -> dict[int, int]:
    """node index -> bytes of its const arrays in the ELF (descriptor structs left out)."""
    out: dict[int, int] = {}
    for name, (_, size) in cycle_estimate.symbols(elf).items():
        m = _LAYER_SYMBOL.match(name)
        if m and not name.endswith(_DESCRIPTORS):
            out[int(m.group(1))] = out.get(int(m.group(1)), 0) + size
    return out


def _live_extent(plan: ArenaPlan, k: int) -> int:
    """Bytes of the arena in use while node k runs: the end of the highest tensor live then."""
    return max((p.offset + p.size for p in plan.tensors.values() if p.first <= k <= p.last), default=0)


def _describe(graph: Graph, export, plan: ArenaPlan, weights: dict[int, int]) -> dict[int, dict]:
    """node index -> what a per-layer row says about it (graph after activation fusion)."""
    from levin.codegen.fusion import fuse_activations

    original = graph
    graph, _ = fuse_activations(graph)
    kept = {n.name for n in graph.nodes}
    fused = {}
    for node in original.nodes:
        if node.name not in kept:
            producer = original.producer(node.inputs[0])
            fused[producer.name if producer else ""] = node.name
    out = {}
    for k, node in enumerate(graph.nodes):
        scratch = max((export.choices[i]["scratch_bytes"] for i in node.inputs if i in export.choices),
                      default=0)
        out[k] = dict(index=k, name=node.name, op=node.op, macs=count_macs(graph, node),
                      weight_bytes=weights.get(k, 0), activation_bytes=_live_extent(plan, k),
                      scratch_bytes=scratch, fused=fused.get(node.name, ""))
    return out


def measure(model: Graph | str | Path, work: str | Path, inputs: np.ndarray | None = None,
            weight_format: str = "auto", prefer: str = "balanced", core: str = cores.DEFAULT,
            per_layer: bool = False, cycles: bool = False, timeout: float = 600.0) -> DeviceNumbers:
    """Export `model` (an integer Graph or a .lvn path) to C, build it for `core`, run it under
    qemu on `inputs` (N x input size int8 codes; default one seeded random input) and check its
    outputs against the integer reference. `per_layer`: instructions per node (input 0);
    `cycles`: estimated cycles, in total and per node with `per_layer` (an exec-log run).

    Raises:
        ToolMissing: no arm-none-eabi-gcc / qemu (a LevinError naming the Debian packages).
        LevinError / GraphError: a model the C runtime cannot run; FirmwareError: a failed run.
    """
    from levin.codegen import arena_plan, export_c

    work = Path(work).resolve()      # the compilers run in their own folders
    cortexm.require_toolchain()
    cortexm.require_qemu()
    spec = cores.get(core)
    graph = _graph(model)
    t = time.perf_counter()
    export = export_c(model, work / "c", weight_format=weight_format, prefer=prefer)
    export_s = time.perf_counter() - t
    x = random_inputs(graph) if inputs is None else np.asarray(inputs)
    if x.dtype != np.int8 or x.ndim != 2 or x.shape[1] != export.input_size or not len(x):
        raise LevinError(f"inputs must be int8 of shape (N >= 1, {export.input_size}), "
                         f"got {x.dtype} {x.shape}")
    shape = graph.tensors[graph.inputs[0]].shape[1:]
    want = reference.run(graph, x.reshape((len(x),) + tuple(shape)))[graph.outputs[0]]
    want = want.reshape(len(x), -1).astype(np.int8)
    fw = cortexm.model_firmware(export, x, work / spec.name, core=spec.name)
    results = cortexm.run(fw, timeout=timeout)
    exact = all(r.status == 0 and np.array_equal(np.frombuffer(r.output, np.int8), w)
                for r, w in zip(results, want))
    instr = [r.instructions for r in results]
    numbers = DeviceNumbers(
        source=str(model) if not isinstance(model, Graph) else f"graph {graph.name}", core=spec.name,
        weight_format=weight_format, prefer=prefer, chains=dict(export.chains),
        text=fw.code.text, rodata=fw.code.rodata, data=fw.code.data, bss=fw.code.bss,
        weight_bytes=export.weight_bytes, arena=export.arena_bytes, activation=export.activation_bytes,
        scratch=export.scratch_bytes, stack=max(r.stack_bytes for r in results),
        instructions=int(np.median(instr)), instructions_per_input=instr, exact=exact,
        export_s=round(export_s, 3), export=export)
    if per_layer:
        hooked = cortexm.model_firmware(export, x[:1], work / f"{spec.name}-layers", core=spec.name,
                                        per_layer=True)
        rows = _describe(graph, export, arena_plan(model, weight_format, prefer), _layer_bytes(fw.elf))
        if cycles:
            (est,) = cycle_estimate.estimate(hooked, timeout=timeout)[:1]
            numbers.cycles, numbers.rest = est.cycles, dict(instructions=est.rest["instructions"],
                                                            cycles=est.rest["cycles"])
            counts = {k: (d["instructions"], d["cycles"]) for k, d in est.layers.items()}
        else:
            (counted,) = cortexm.run(hooked, timeout=timeout)
            counts = {k: (n, None) for k, n in enumerate(counted.layers)}
        numbers.layers = [LayerNumbers(**rows[k], instructions=counts.get(k, (0, None))[0],
                                       cycles=counts.get(k, (0, None))[1])
                          for k in sorted(rows)]
    elif cycles:
        est = cycle_estimate.estimate(fw, timeout=timeout)[0]
        numbers.cycles = est.cycles
    return numbers
