"""The training schedule: optimizer steps from the sequences a corpus really makes, warmup with a
floor, the world size, and a warning when a run makes too few steps to train (issue 16)."""

import math

import pytest

from ltm import recipe
from ltm.config import TrainingConfig, load_config
from ltm.errors import LtmError


def gpu_recipe(**changes) -> TrainingConfig:
    """experiments/qwen2.5-7b-96gb.yaml's training section."""
    training = TrainingConfig(epochs=2, max_length=2048, batch_size=8, grad_accum=2, warmup_ratio=0.03)
    for key, value in changes.items():
        setattr(training, key, value)
    return training


def test_steps_come_from_sequences_epochs_batch_accum_and_world():
    # 28,000 words ≈ 36k tokens = 17 blocks of 2,048; two passes at 8 × 2 per step
    plan = recipe.plan(17, gpu_recipe(), world=1)
    assert (plan.sequences, plan.per_step, plan.steps) == (17, 16, 3)
    assert plan.steps == math.ceil(17 * 2 / 16)
    # on two GPUs every optimizer step takes 2 × 16 sequences: the same two passes are 2 steps
    two = recipe.plan(17, gpu_recipe(), world=2)
    assert (two.per_step, two.steps) == (32, 2)
    # a pass is 3 micro-batches of 8 (8 + 8 + 1) shared by 2 processes: 2 each, one optimizer step
    assert (two.steps_per_pass, two.passes) == (1, 2)


def test_max_steps_is_honoured_and_a_short_run_says_it_covers_part_of_the_corpus():
    plan = recipe.plan(1000, gpu_recipe(max_steps=30), world=1)
    assert plan.steps == 30 and plan.full_steps == math.ceil(1000 * 2 / 16)
    assert plan.partial  # 30 × 16 = 480 of 1,000 sequences: not one full pass
    assert "max_steps" in plan.describe() and "48 %" in plan.describe()
    assert not recipe.plan(10, gpu_recipe(max_steps=30), world=1).partial


def test_warmup_has_a_floor_and_an_explicit_setting():
    assert recipe.warmup_steps(3, gpu_recipe()) == 0          # 3 steps: nothing to warm up
    assert recipe.warmup_steps(100, gpu_recipe()) == 10       # 3 % is 3; at least min(10, 100 // 10)
    assert recipe.warmup_steps(60, gpu_recipe()) == 6
    assert recipe.warmup_steps(1000, gpu_recipe()) == 30      # the ratio wins past the floor
    assert recipe.warmup_steps(100, gpu_recipe(warmup_ratio=0.0)) == 0   # ratio 0: no warmup, as asked
    assert recipe.warmup_steps(100, gpu_recipe(warmup_steps=4)) == 4     # explicit steps win
    assert recipe.warmup_steps(3, gpu_recipe(warmup_steps=50)) == 3      # never longer than the run


def test_too_few_steps_is_one_line_naming_the_settings_to_change():
    warning = recipe.plan(17, gpu_recipe(), world=1).warning("novel")
    assert warning is not None and "\n" not in warning
    assert "novel" in warning and "3 optimizer steps" in warning
    for setting in ("training.batch_size", "training.grad_accum", "training.epochs", "training.max_steps"):
        assert setting in warning
    assert recipe.plan(17 * 20, gpu_recipe(), world=1).warning("novel") is None  # 43 steps
    short = recipe.plan(1000, gpu_recipe(max_steps=8), world=1).warning("novel")
    assert "raise training.max_steps" in short


def test_world_size_from_the_environment():
    assert recipe.world_size({}) == 1
    assert recipe.world_size({"WORLD_SIZE": "4"}) == 4
    with pytest.raises(LtmError, match="WORLD_SIZE"):
        recipe.world_size({"WORLD_SIZE": "four"})


def test_warmup_steps_is_a_config_key_and_old_files_still_load(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text("training:\n  warmup_ratio: 0.1\n  epochs: 2\n")
    assert load_config(old).training.warmup_steps is None
    new = tmp_path / "new.yaml"
    new.write_text("training:\n  warmup_steps: 12\n")
    assert load_config(new).training.warmup_steps == 12
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  warmup_steps: -1\n")
    with pytest.raises(LtmError, match="warmup_steps"):
        load_config(bad)


def test_a_new_schedule_is_a_new_adapter(make_nano_config):
    """Warmup and the world size change what an adapter is: never reuse one trained otherwise."""
    from ltm import train

    config = make_nano_config()
    source = train.load_sources(config, ["syllogisms"])[0]
    one = train.adapter_hash("f" * 12, source, config)
    config.training.warmup_steps = 3
    assert train.adapter_hash("f" * 12, source, config) != one
    config.training.warmup_steps = None
    assert train.adapter_hash("f" * 12, source, config, world=2) != one
    assert train.adapter_hash("f" * 12, source, config, world=1) == one


@pytest.mark.slow
def test_training_runs_the_planned_steps_and_warns(make_nano_config, capsys):
    """A real (short) run on ltm-nano: the manifest records the plan the trainer followed."""
    from ltm import train

    config = make_nano_config()
    config.training.max_steps = -1
    config.training.epochs = 1
    config.training.batch_size = 64
    result = train.train(config, ["syllogisms"], track=False)[0]
    m = result.manifest
    plan = m["plan"]
    assert plan["steps"] == math.ceil(plan["sequences"] / 64) == m["steps"] < recipe.MIN_STEPS
    # what the trainer itself was told (its own get_warmup_steps), not only what we meant to tell it
    assert plan["trainer_warmup_steps"] == recipe.warmup_steps(plan["steps"], config.training)
    assert plan["world_size"] == 1
    err = capsys.readouterr().err
    assert f"{plan['steps']} optimizer steps" in err and "training.batch_size" in err
