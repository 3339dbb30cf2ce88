"""How to train or fine-tune a model."""

from __future__ import annotations

from dataclasses import dataclass

from levin.config._base import ConfigMixin


@dataclass(frozen=True)
class TrainConfig(ConfigMixin):
    """How to train or fine-tune a model.

    The learning rate follows a cosine from `lr` to 0 over all steps, after a linear warm-up of
    `warmup_epochs`. Each step's randomness (shuffle order, augmentation, dropout) is derived
    from (seed, epoch, step) alone, so a resumed run is bit-identical to an uninterrupted one.
    """

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"          # "sgd" (Nesterov momentum) or "adam"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    shift: int = 0                  # augmentation: random translation by up to `shift` pixels
    seed: int = 0
    distill_alpha: float = 0.0      # weight of the teacher's soft targets (0 = no distillation)
    distill_temperature: float = 4.0
    checkpoint_every: int = 500     # steps between checkpoints (also one at every epoch end)
    task: str = "classification"    # levin.metrics.TASKS: the loss (cross-entropy or MSE) and the score
    output: int = 0                 # a model with several outputs: the one the task trains and scores
                                    # (the others follow the teacher's, which is then required)

    def __post_init__(self):
        self._check([
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.optimizer in ("sgd", "adam"), "optimizer must be 'sgd' or 'adam'"),
            (self.lr > 0, "lr must be > 0"),
            (0 <= self.distill_alpha <= 1, "distill_alpha must be in [0, 1]"),
            (self.distill_temperature > 0, "distill_temperature must be > 0"),
            (self.checkpoint_every >= 1, "checkpoint_every must be >= 1"),
            (self.shift >= 0, "shift must be >= 0"),
            (self.output >= 0, "output must be >= 0"),
            (self.task in ("classification", "regression", "reconstruction", "anomaly"),
             "task must be classification, regression, reconstruction or anomaly"),
        ])
