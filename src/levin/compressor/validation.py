"""Choices on the validation split, the test split scored once.

`levin.quant.pipeline.quantize` picks mixed-precision widths on training samples (it has no other
held-out data). When the data has a validation split (levin.data.with_validation), the widths are
picked here on that split instead, and quantize then runs with them fixed, so its accuracies on
the test split are a report, never a choice.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from torch import nn

from levin.config import QuantConfig
from levin.ir.graph import Graph
from levin.train.data import Dataset


def choose_bits_on_validation(model: nn.Module | Graph, data: Dataset, config: QuantConfig
                              ) -> tuple[QuantConfig, dict[str, Any]]:
    """(config with `layer_bits` chosen and `max_drop` spent, what to record) for mixed precision
    scored on `data`'s validation split; `config` unchanged when it asks for no mixed precision."""
    if config.max_drop is None or data.x_val is None:
        return config, {}
    from levin.quant import ptq
    from levin.quant.pipeline import choose_bits, float_graph_of

    float_graph = float_graph_of(model, data.x_train)
    calib = ptq.calibration_set(data.x_train, config.calibration_size, config.calibration_seed)
    # choose_bits samples its scoring set from x_train: hand it the validation split there.
    held_out = replace(data, x_train=data.x_val, y_train=data.y_val)
    chosen = choose_bits(float_graph, calib, held_out, config)
    mixed = {"bits": chosen.bits, "validation_drop_pp": 100 * chosen.drop,
             "validation_size": chosen.samples, "scored_on": "validation split",
             "total_weight_bits": chosen.total_bits, "max_drop_pp": config.max_drop}
    return replace(config, layer_bits=chosen.bits, max_drop=None), {"mixed": mixed}
