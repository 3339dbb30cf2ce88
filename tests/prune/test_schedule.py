"""Schedules as functions of the step, and pruning with fine-tuning through the training loop."""

import pytest
import torch

from levin import zoo
from levin.config import PruneConfig, TrainConfig
from levin.prune import schedule
from levin.prune.finetune import prune_and_finetune
from levin.prune.masks import get_masks

from tests.prune.conftest import trained_digits


def test_agp_is_a_cubic_from_begin_to_end():
    assert schedule.agp(0.9, 0, 10, 110) == 0.0
    assert schedule.agp(0.9, 10, 10, 110) == 0.0
    assert schedule.agp(0.9, 60, 10, 110) == pytest.approx(0.9 * (1 - 0.5 ** 3))
    assert schedule.agp(0.9, 110, 10, 110) == 0.9
    assert schedule.agp(0.9, 500, 10, 110) == 0.9
    values = [schedule.agp(0.8, t, 0, 100, initial=0.1) for t in range(0, 120, 5)]
    assert values == sorted(values) and values[0] == pytest.approx(0.1)


def test_iterative_rounds_remove_the_same_fraction_of_what_is_left():
    s = [schedule.iterative(0.875, r, 3) for r in range(4)]
    assert s == pytest.approx([0.0, 0.5, 0.75, 0.875])
    assert schedule.one_shot(0.7) == 0.7
    with pytest.raises(ValueError):
        schedule.iterative(0.5, 4, 3)


def test_agp_schedule_updates_every_frequency_steps_and_at_the_end():
    s = schedule.AGPSchedule.from_config(PruneConfig(begin=0.1, end=0.55, frequency=20), 200)
    assert (s.begin, s.end) == (20, 110)
    updates = [t for t in range(0, 201) if s.updates_at(t)]
    assert updates == [20, 40, 60, 80, 100, 110]
    assert s.sparsity(0.9, 110) == 0.9


@pytest.mark.parametrize("config", [
    PruneConfig(sparsity=0.8, schedule="agp", end=0.5, frequency=3),
    PruneConfig(sparsity=0.8, schedule="iterative", rounds=2),
    PruneConfig(sparsity=0.8, schedule="one_shot", scope="layer"),
], ids=["agp", "iterative", "one-shot"])
def test_prune_and_finetune_reaches_the_target_and_keeps_accuracy(config, small_digits,
                                                                  trained_digits_state, tmp_path):
    model = trained_digits(trained_digits_state)
    result = prune_and_finetune(model, small_digits, config,
                                TrainConfig(epochs=2, batch_size=32, lr=0.05), tmp_path,
                                progress=False)
    report = result.report
    assert report["weights"] - report["nonzero"] == round(0.8 * report["weights"]) or \
        config.scope == "layer"
    assert report["density"] == pytest.approx(0.2, abs=2e-3)
    assert result.accuracy > 0.9                  # dense: 0.98; one-shot 80% unretrained: 0.94
    assert len(result.stages) == (2 if config.schedule == "iterative" else 1)
    assert {s["scored_on"] for s in result.stages} == {"test"}   # "validation" on Dataset.tuning()
    assert set(get_masks(model)) == {"conv1", "conv2", "fc"}
    if config.schedule == "agp":
        assert result.stages[0]["mask_updates"] >= 3


def test_iterative_rerun_reuses_finished_rounds(small_digits, tmp_path):
    config = PruneConfig(sparsity=0.6, schedule="iterative", rounds=2)
    train_config = TrainConfig(epochs=1, batch_size=64)
    torch.manual_seed(0)
    first = prune_and_finetune(zoo.create("digits_cnn"), small_digits, config, train_config,
                               tmp_path, progress=False)
    torch.manual_seed(0)
    again = prune_and_finetune(zoo.create("digits_cnn"), small_digits, config, train_config,
                               tmp_path, progress=False)
    assert again.wall_s == 0.0                                 # nothing was trained again
    assert again.accuracy == first.accuracy
