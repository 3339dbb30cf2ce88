"""Pruning schedules: the sparsity to hold at each point of fine-tuning, as plain functions.

    one_shot(final)                          the target at once
    iterative(final, round, rounds)          Han et al. 2015: each round removes the same
                                             fraction of the weights still left
    agp(final, step, begin, end, initial)    Zhu & Gupta 2017: s = f + (i - f)(1 - p)^3, p the
                                             progress from `begin` to `end` steps, clamped

`AGPSchedule` adds when to update masks (every `frequency` steps, and at `end` so the target
is reached exactly), for the `on_step` callback of the training loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from levin.config import PruneConfig


def one_shot(final: float) -> float:
    return final


def iterative(final: float, round_: int, rounds: int) -> float:
    """Sparsity after round `round_` of `rounds` (1-based): 1 - (1 - final)^(round/rounds)."""
    if rounds < 1 or not 0 <= round_ <= rounds:
        raise ValueError(f"round {round_} of {rounds}")
    return 1.0 - (1.0 - final) ** (round_ / rounds)


def agp(final: float, step: int, begin: int, end: int, initial: float = 0.0) -> float:
    """Automated gradual pruning: `initial` until `begin`, a cubic to `final` at `end`, then flat."""
    if end <= begin:
        return final if step >= end else initial
    progress = min(max((step - begin) / (end - begin), 0.0), 1.0)
    return final + (initial - final) * (1.0 - progress) ** 3


@dataclass(frozen=True)
class AGPSchedule:
    """AGP over a run of `total_steps` optimizer steps, from a PruneConfig's begin/end/frequency."""

    begin: int
    end: int
    frequency: int

    @classmethod
    def from_config(cls, config: PruneConfig, total_steps: int) -> "AGPSchedule":
        begin = int(round(config.begin * total_steps))
        end = max(int(round(config.end * total_steps)), begin + 1)
        return cls(begin, min(end, max(total_steps, begin + 1)), config.frequency)

    def sparsity(self, final: float, step: int) -> float:
        return agp(final, step, self.begin, self.end)

    def updates_at(self, step: int) -> bool:
        """Whether masks change after `step` optimizer steps."""
        return self.begin <= step <= self.end and ((step - self.begin) % self.frequency == 0
                                                    or step == self.end)
