"""Stage 2's search space comes from the config: no hard-coded rates, no silent fallback, no dead dimension."""

from __future__ import annotations

import copy

import optuna
import pytest

from ltm.config import default_config
from ltm.sweep import Objective


def _study(corpora=("a", "b", "c")):
    study = optuna.create_study(directions=["maximize", "minimize"])
    for k, name in enumerate(corpora):
        study.add_trial(optuna.trial.create_trial(values=[0.5 + 0.1 * k, 0.0], user_attrs={"stage": 1, "corpus": name}))
    return study


def _stage2(config, params: dict):
    study = _study()
    study.enqueue_trial(params, skip_if_exists=False)
    trial = study.ask()
    trial_config = copy.deepcopy(config)
    name, chosen = Objective(config, None, track=False)._stage2(trial, trial_config)
    return trial, trial_config, name, chosen


@pytest.fixture
def config():
    config = default_config()
    config.training.learning_rate = 2e-4  # a 7B recipe's rate: the old fixed range was 1e-3..1e-2
    config.sweep.top_k = 3
    return config


def test_learning_rate_range_is_around_the_configured_rate(config):
    for _ in range(5):
        trial, trial_config, _, _ = _stage2(config, {"corpora": "c"})
        assert 1e-4 <= trial_config.training.learning_rate <= 4e-4
    assert trial.distributions["learning_rate"].low == pytest.approx(1e-4)
    assert trial.distributions["learning_rate"].high == pytest.approx(4e-4)


def test_the_subset_space_has_no_empty_subset_and_every_other_one(config):
    from ltm.sweep import subsets

    trial, _, _, _ = _stage2(config, {"corpora": "c"})
    space = trial.distributions["corpora"].choices
    assert "" not in space and len(space) == 7 and set(space) == set(subsets(["c", "b", "a"]))


def test_a_lone_corpus_has_no_weight_dimension_and_single_choices_are_not_dimensions(config):
    config.sweep.ranks = [16]
    config.sweep.step_factors = [1.0]
    trial, trial_config, name, _ = _stage2(config, {"corpora": "c"})
    assert name == "c"
    assert not any(p.startswith("weight.") for p in trial.params)
    assert "rank" not in trial.params and "step_factor" not in trial.params and trial_config.training.rank == 16
    trial, trial_config, name, _ = _stage2(config, {"corpora": "c+b"})
    assert {"weight.b", "weight.c"} <= set(trial.params) and name.startswith("mix-")


def test_every_corpus_gets_every_seed_when_asked(config, tmp_path):
    from ltm.sweep import _extra_seeds

    config.sweep.seeds = [0, 1, 2]
    assert _extra_seeds(config, ["a", "b"]) == [("a", 1), ("a", 2)]
    config.sweep.seed_every_corpus = True
    assert _extra_seeds(config, ["a", "b"]) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
