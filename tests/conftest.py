"""Shared fixtures: offline, CPU, the small `ltm-nano` base, one run folder per session.

Built models are cached under the user cache dir (keyed by recipe hash), so a second test
run is fast; a fresh machine builds them (about a minute for ltm-nano)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def session_runs(tmp_path_factory) -> Path:
    """One run folder per test session: the MLflow SQLite store is created once (~20 s)."""
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def make_nano_config(session_runs):
    """Factory for a fresh config on ltm-nano over the shipped corpora, with short training."""

    def make():
        from ltm.config import ExperimentConfig

        config = ExperimentConfig(name="tests", runs_dir=str(session_runs))
        config.source = ROOT / "experiments" / "tests.yaml"
        config.base.model = "ltm-nano"
        config.corpora.root = str(ROOT / "corpora")
        config.training.max_steps = 40
        config.training.batch_size = 8
        return config

    return make


@pytest.fixture
def nano_config(make_nano_config):
    return make_nano_config()
