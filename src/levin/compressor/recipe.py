"""Recipes: the passes of a compression run, in order, as data (YAML or Python).

A recipe is a list of steps that act on the float model (each followed by fine-tuning), then
the freeze: quantization to levin's integer graph and the weight codecs of the .lvn file.

```yaml
name: deep-compression-lenet300
distill: {alpha: 0.5, temperature: 4}   # optional: fine-tune against the uncompressed model
finetune: {lr: 0.02}                    # optional: defaults for every step's fine-tuning
steps:
  - prune: {sparsity: 0.925, schedule: agp}
    finetune: {epochs: 20}
  - share: {conv_bits: 8, linear_bits: 5}
    finetune: {epochs: 2, optimizer: adam, lr: 1.0e-4, weight_decay: 0}
quantize: {per_channel: false}          # QuantConfig fields
code: {}                                # CodeConfig fields
```

Step kinds and their configs: `prune` PruneConfig, `nm` NMConfig, `channels`
ChannelPruneConfig, `share` ShareConfig, `mdl` MDLConfig (description-length training with a
learned mixture prior, then snapped to its codebook: levin.mdl; its `finetune` sets that
training, e.g. {epochs: 10, optimizer: adam, lr: 5.0e-4}); a step with only `finetune` just trains. A step's `finetune`
holds TrainConfig fields applied over the recipe's `finetune`, itself over the model's own
training preset; `finetune: {epochs: 0}` skips training after a step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from levin.config import CodeConfig, QuantConfig, TrainConfig
from levin.errors import LevinError

RECIPE_KEYS = ("name", "description", "distill", "finetune", "steps", "quantize", "code")
DISTILL_KEYS = ("alpha", "temperature")


@dataclass(frozen=True)
class Step:
    kind: str
    config: Any                                   # the pass's frozen config (None for "finetune")
    finetune: dict[str, Any] = field(default_factory=dict)   # TrainConfig overrides

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {self.kind: self.config.to_dict() if self.config is not None else {}}
        if self.finetune:
            out["finetune"] = dict(self.finetune)
        return out


@dataclass(frozen=True)
class Recipe:
    steps: tuple[Step, ...] = ()
    quantize: QuantConfig = QuantConfig()
    code: CodeConfig = CodeConfig()
    finetune: dict[str, Any] = field(default_factory=dict)
    distill: dict[str, float] | None = None       # {"alpha": a, "temperature": t}
    name: str = "recipe"
    description: str = ""

    def train_config(self, base: TrainConfig, step: Step) -> TrainConfig | None:
        """The fine-tuning config of `step`: the model's preset, the recipe's, then the step's;
        None for `epochs: 0` (no fine-tuning)."""
        merged = {**base.to_dict(), **self.finetune, **step.finetune}
        if merged["epochs"] == 0:
            return None
        if self.distill:
            merged.update(distill_alpha=self.distill["alpha"],
                          distill_temperature=self.distill.get("temperature", 4.0))
        return _build(TrainConfig, merged, f"step {step.kind}: finetune")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.distill:
            out["distill"] = dict(self.distill)
        if self.finetune:
            out["finetune"] = dict(self.finetune)
        out["steps"] = [s.to_dict() for s in self.steps]
        out["quantize"] = self.quantize.to_dict()
        out["code"] = self.code.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "recipe") -> "Recipe":
        if not isinstance(data, dict):
            raise LevinError(f"{where}: a recipe is a mapping with keys {', '.join(RECIPE_KEYS)}")
        _known(data, RECIPE_KEYS, where)
        steps = data.get("steps") or []
        if not isinstance(steps, list):
            raise LevinError(f"{where}: 'steps' must be a list")
        finetune = _mapping(data.get("finetune"), f"{where}: finetune")
        _check_finetune(finetune, f"{where}: finetune")
        distill = data.get("distill")
        if distill is not None:
            distill = _mapping(distill, f"{where}: distill")
            _known(distill, DISTILL_KEYS, f"{where}: distill")
            if "alpha" not in distill:
                raise LevinError(f"{where}: distill needs 'alpha' (weight of the teacher's soft targets)")
        parsed = tuple(_step(s, f"{where}: step {i + 1}") for i, s in enumerate(steps))
        _check_order(parsed, where)
        return cls(
            steps=parsed,
            quantize=_build(QuantConfig, _mapping(data.get("quantize"), f"{where}: quantize"),
                            f"{where}: quantize"),
            code=_build(CodeConfig, _mapping(data.get("code"), f"{where}: code"), f"{where}: code"),
            finetune=finetune, distill=distill, name=str(data.get("name", "recipe")),
            description=str(data.get("description", "")))


def _steps() -> dict:
    """The registered step kinds (imported when a recipe is parsed: they pull in torch and the
    passes, which listing or locating a recipe does not need)."""
    from levin.compressor.steps import STEPS
    return STEPS


def _known(data: dict, keys: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise LevinError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; known: {', '.join(keys)}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LevinError(f"{where}: expected a mapping of fields, got {type(value).__name__}")
    return value


def _build(cls, fields: dict[str, Any], where: str):
    try:
        return cls.from_dict(fields)
    except TypeError as exc:            # a field of the wrong type deep in a dataclass
        raise LevinError(f"{where}: {exc}") from None
    except LevinError as exc:
        raise LevinError(f"{where}: {exc}") from None


def _check_finetune(overrides: dict[str, Any], where: str) -> None:
    """TrainConfig overrides must make a valid TrainConfig (epochs 0 = no fine-tuning is allowed)."""
    if overrides.get("epochs") == 0:
        overrides = {**overrides, "epochs": 1}
    _build(TrainConfig, {**TrainConfig().to_dict(), **overrides}, where)


def _check_order(steps: tuple[Step, ...], where: str) -> None:
    """Sharing (and MDL, which ends in a codebook) fixes each layer's values; a later pruning
    step would have to zero weights the codebook holds, so the order is refused up front."""
    shared = None
    for i, step in enumerate(steps, 1):
        kind = _steps()[step.kind]
        if kind.fixes_values and shared is None:
            shared = (i, step.kind)
        elif kind.removes_weights and shared is not None:
            raise LevinError(f"{where}: step {i}: {step.kind} after {shared[1]} (step {shared[0]}); "
                             f"prune first, then share, as Deep Compression does")


def _step(data: Any, where: str) -> Step:
    if not isinstance(data, dict):
        raise LevinError(f"{where}: a step is a mapping such as {{prune: {{sparsity: 0.9}}}}")
    passes = [k for k, v in _steps().items() if v.config is not None]
    kinds = [k for k in data if k in passes]
    others = sorted(set(data) - set(passes) - {"finetune"}, key=str)
    if others or len(kinds) > 1 or not data:
        raise LevinError(f"{where}: a step names one pass of {', '.join(passes)} and/or "
                         f"'finetune', got {', '.join(map(str, data)) or 'nothing'}")
    kind = kinds[0] if kinds else "finetune"
    config = None
    if kind != "finetune":
        config = _build(_steps()[kind].config, _mapping(data[kind], f"{where}: {kind}"), f"{where}: {kind}")
    finetune = _mapping(data.get("finetune"), f"{where}: finetune")
    _check_finetune(finetune, f"{where}: finetune")
    return Step(kind, config, finetune)


class _StrictLoader(yaml.SafeLoader):
    """safe_load, but a key given twice in one mapping is an error (YAML's last-wins would
    silently drop the user's first value)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def parse(text: str, where: str = "recipe") -> Recipe:
    """A Recipe from YAML text; errors name `where` and the step."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise LevinError(f"{where}: not valid YAML ({at}{problem})") from None
    return Recipe.from_dict(data, where)


PRESETS = Path(__file__).resolve().parent.parent / "recipes"


def preset_names() -> list[str]:
    """The recipes shipped with levin (src/levin/recipes, also at recipes/ in the repository)."""
    return sorted(p.stem for p in PRESETS.glob("*.yaml"))


def load(ref: str | Path) -> Recipe:
    """A recipe from a YAML file, or a shipped preset by name (see `preset_names()`)."""
    path = Path(ref)
    if not path.exists() and str(ref) in preset_names():
        path = PRESETS / f"{ref}.yaml"
    elif not path.exists():
        raise LevinError(f"no recipe file {ref}; presets: {', '.join(preset_names())}")
    try:
        text = path.read_text()
    except OSError as exc:
        raise LevinError(f"cannot read recipe {path}: {exc.strerror or exc}") from None
    return parse(text, str(path))
