"""Frozen configuration dataclasses, one module per kind of pass; each field has a default.

    TrainConfig         training and fine-tuning (levin.config.train)
    CodeConfig          coding of constant tensors into a .lvn container (levin.config.code)
    WeightCodecConfig   the codec chain of one tensor (levin.config.code)
    PruneConfig         unstructured magnitude pruning and its schedule (levin.config.prune)
    NMConfig            N:M semi-structured sparsity (levin.config.prune)
    ChannelPruneConfig  structured channel pruning (levin.config.prune)
    SensitivityConfig   per-layer sensitivity scan (levin.config.prune)
    ShareConfig         k-means weight sharing (levin.config.share)
    QuantConfig         post-training quantization and QAT (levin.config.quant)
    MDLConfig           description-length training with a learned mixture prior (levin.config.mdl)
"""

from levin.config.code import CodeConfig, WeightCodecConfig
from levin.config.mdl import MDLConfig
from levin.config.prune import ChannelPruneConfig, NMConfig, PruneConfig, SensitivityConfig
from levin.config.quant import QuantConfig
from levin.config.share import ShareConfig
from levin.config.train import TrainConfig

__all__ = ["ChannelPruneConfig", "CodeConfig", "MDLConfig", "NMConfig", "PruneConfig", "QuantConfig",
           "SensitivityConfig", "ShareConfig", "TrainConfig", "WeightCodecConfig"]
