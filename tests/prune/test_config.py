"""Pass configs: defaults valid, dict round trips (YAML gives lists and dicts), one-line errors."""

import pytest

from levin.config import ChannelPruneConfig, NMConfig, PruneConfig, SensitivityConfig, ShareConfig
from levin.errors import LevinError

CONFIGS = [PruneConfig, NMConfig, ChannelPruneConfig, SensitivityConfig, ShareConfig]


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_defaults_round_trip_through_dicts(cls):
    config = cls()
    assert cls.from_dict(config.to_dict()) == config


def test_yaml_lists_become_tuples_and_mappings_are_copied():
    layers = {"fc1": 0.9}
    config = PruneConfig.from_dict({"sparsity": 0.95, "include": ["fc*"], "layer_sparsity": layers})
    layers["fc1"] = 0.1
    assert config.include == ("fc*",) and config.layer_sparsity == {"fc1": 0.9}
    assert PruneConfig.from_dict(config.to_dict()) == config
    assert config.with_(schedule="iterative", rounds=None).schedule == "iterative"
    share = ShareConfig.from_dict({"conv_bits": 8, "linear_bits": 5, "layer_bits": {"fc2": 6}})
    assert ShareConfig.from_dict(share.to_dict()) == share


@pytest.mark.parametrize("cls, fields, message", [
    (PruneConfig, {"sparsity": 1.0}, "sparsity must be in"),
    (PruneConfig, {"schedule": "cubic"}, "schedule must be one of"),
    (PruneConfig, {"begin": 0.5, "end": 0.5}, "begin < end"),
    (PruneConfig, {"layer_sparsity": {"fc1": -0.1}}, "layer_sparsity"),
    (NMConfig, {"m": 0}, "m must be"),
    (ChannelPruneConfig, {"importance": "random"}, "importance must be"),
    (ChannelPruneConfig, {"round_to": 0}, "round_to"),
    (SensitivityConfig, {"bits": (1,)}, "bit width"),
    (ShareConfig, {"linear_bits": 0}, "1..8"),
    (ShareConfig, {"init": "kmeans++"}, "init must be"),
])
def test_bad_values_name_the_config_and_the_field(cls, fields, message):
    with pytest.raises(LevinError, match=f"{cls.__name__}: .*{message}"):
        cls(**fields)


def test_unknown_fields_are_listed():
    with pytest.raises(LevinError, match="unknown field.*sparsty"):
        PruneConfig.from_dict({"sparsty": 0.5})
