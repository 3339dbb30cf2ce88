import json

import numpy as np
import pytest
import torch

from levin import zoo
from levin.config import TrainConfig
from levin.errors import CheckpointError, LevinError
from levin.train import checkpoint, data
from levin.train.loop import CHECKPOINT, FINAL, task_loss, evaluate, random_shift, train

CONFIG = TrainConfig(epochs=2, batch_size=64, lr=0.05, checkpoint_every=5)


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def fresh(seed=0):
    torch.manual_seed(seed)
    return zoo.create("digits_cnn")


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_training_learns_and_is_deterministic(digits, tmp_path):
    a = train(fresh(), digits, CONFIG, tmp_path / "a", progress=False)
    b = train(fresh(), digits, CONFIG, tmp_path / "b", progress=False)
    assert a.test_accuracy > 0.7          # chance is 0.1
    assert_same_weights(weights(a.model), weights(b.model))
    assert a.history == [{**h, "elapsed_s": a.history[i]["elapsed_s"]} for i, h in enumerate(b.history)]


class Crash(Exception):
    pass


def test_resume_after_crash_mid_epoch_is_bit_identical(digits, tmp_path):
    reference = train(fresh(), digits, CONFIG, tmp_path / "ref", progress=False)

    def crash(epoch, step):
        if (epoch, step) == (1, 7):      # after the checkpoint at step 5 of epoch 2
            raise Crash

    with pytest.raises(Crash):
        train(fresh(), digits, CONFIG, tmp_path / "run", on_step=crash, progress=False)
    assert not (tmp_path / "run" / FINAL).exists()
    resumed = train(fresh(seed=123), digits, CONFIG, tmp_path / "run", progress=False)
    assert resumed.resumed_at == (1, 5)
    assert_same_weights(weights(reference.model), weights(resumed.model))
    strip = lambda hs: [{k: v for k, v in h.items() if k != "elapsed_s"} for h in hs]
    assert strip(resumed.history) == strip(reference.history)


def test_completed_run_is_not_retrained(digits, tmp_path):
    first = train(fresh(), digits, CONFIG, tmp_path, progress=False)
    steps = []
    again = train(fresh(seed=5), digits, CONFIG, tmp_path, progress=False,
                  on_step=lambda e, s: steps.append((e, s)))
    assert steps == [] and again.test_accuracy == first.test_accuracy
    assert_same_weights(weights(first.model), weights(again.model))


def test_other_settings_in_out_dir_are_refused(digits, tmp_path):
    train(fresh(), digits, CONFIG, tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="lr 0.05, not 0.1"):
        train(fresh(), digits, CONFIG.with_(lr=0.1), tmp_path, progress=False)


def test_final_checkpoint_reloads_exactly(digits, tmp_path):
    result = train(fresh(), digits, CONFIG.with_(optimizer="adam", lr=0.01), tmp_path, progress=False)
    model = zoo.create("digits_cnn")
    meta = checkpoint.load(tmp_path / FINAL, model)
    assert meta["model"] == "custom" and meta["dataset"] == "digits"
    assert evaluate(model, digits.x_test, digits.y_test) == result.test_accuracy
    assert (tmp_path / "model.json").is_file()


def test_optimizer_state_round_trip(tmp_path):
    model = fresh()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(4, 1, 8, 8)).sum().backward()
    opt.step()
    checkpoint.save(tmp_path / "c.safetensors", {"x": 1}, model, opt)
    model2 = fresh(seed=9)
    opt2 = torch.optim.Adam(model2.parameters(), lr=0.5)
    assert checkpoint.load(tmp_path / "c.safetensors", model2, opt2)["x"] == 1
    s1, s2 = opt.state_dict(), opt2.state_dict()
    as_json = lambda groups: json.loads(json.dumps(groups))      # tuples come back as lists
    assert as_json(s1["param_groups"]) == as_json(s2["param_groups"])
    for i in s1["state"]:
        for k, v in s1["state"][i].items():
            assert torch.equal(v, s2["state"][i][k])


def test_corrupt_checkpoint_is_reported(digits, tmp_path):
    (tmp_path / CHECKPOINT).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(CheckpointError, match="not a levin checkpoint"):
        train(fresh(), digits, CONFIG, tmp_path, progress=False)


def test_checkpoint_of_another_model_is_reported(tmp_path):
    checkpoint.save(tmp_path / "m.safetensors", {}, zoo.create("lenet300"))
    with pytest.raises(CheckpointError, match="weights do not fit the model"):
        checkpoint.load(tmp_path / "m.safetensors", zoo.create("digits_cnn"))


def test_distillation_loss():
    logits = torch.randn(8, 10)
    labels = torch.randint(0, 10, (8,))
    config = TrainConfig(distill_alpha=1.0)
    assert float(task_loss(logits, labels, config, logits.clone())) == pytest.approx(0, abs=1e-6)
    assert float(task_loss(logits, labels, config, -logits)) > 0.1
    half = TrainConfig(distill_alpha=0.5)
    hard = float(task_loss(logits, labels, TrainConfig()))
    assert float(task_loss(logits, labels, half, logits.clone())) == pytest.approx(hard / 2, rel=1e-5)


def test_distillation_from_a_teacher_trains(digits, tmp_path):
    teacher = train(fresh(), digits, CONFIG.with_(epochs=8, batch_size=32), progress=False)
    assert teacher.test_accuracy > 0.95
    config = CONFIG.with_(distill_alpha=0.7, batch_size=32)
    student = train(fresh(seed=1), digits, config, progress=False, teacher=teacher.model)
    assert student.test_accuracy > 0.8
    with pytest.raises(LevinError, match="needs a teacher"):
        train(fresh(), digits, config, progress=False)


def test_random_shift_moves_content_and_keeps_mass():
    x = torch.zeros(50, 1, 8, 8)
    x[:, :, 3:5, 3:5] = 1
    y = random_shift(x, 2, np.random.default_rng(0))
    assert torch.equal(y.sum((1, 2, 3)), x.sum((1, 2, 3)))   # a 2x2 blob shifted by <=2 stays inside
    assert not torch.equal(x, y)


def test_config_validation():
    with pytest.raises(LevinError, match="optimizer must be"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(LevinError, match="unknown field"):
        TrainConfig.from_dict({"epochz": 3})


def test_epochs_are_scored_on_validation_and_test_once_at_the_end(digits):
    from levin.data.splits import with_validation

    held = with_validation(digits, 0.2)
    result = train(fresh(), held, CONFIG.with_(epochs=1), progress=False)
    assert [h["scored_on"] for h in result.history] == ["validation"]
    assert result.history[-1]["score"] == evaluate(result.model, held.x_val, held.y_val)
    assert result.test_accuracy == evaluate(result.model, held.x_test, held.y_test)
    tuned = train(fresh(), held.tuning(), CONFIG.with_(epochs=1), progress=False)
    assert tuned.history[-1]["scored_on"] == "validation" and tuned.test_accuracy == tuned.history[-1]["score"]
