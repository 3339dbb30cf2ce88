"""Frozen configuration dataclasses, one module per kind of pass; each field has a default.

    TrainConfig    training and fine-tuning (levin.config.train)
"""

from levin.config.train import TrainConfig

__all__ = ["TrainConfig"]
