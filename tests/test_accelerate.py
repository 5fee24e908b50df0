"""`ltm train` under `accelerate launch` with two CPU processes (gloo) on ltm-nano: one adapter,
one manifest, the steps counted for two processes, and no deadlock on the adapter's file lock
(every rank used to take it: rank 1 waited on the lock while rank 0 waited on rank 1 inside
the first all-reduce, so the run hung until the timeout below)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_two_processes_train_one_adapter_with_the_steps_of_two(tmp_path, repo_root, make_nano_config):
    make_nano_config()  # the session's ltm-nano is built (cached) before two processes want it
    from ltm import basemodel

    basemodel.resolve("ltm-nano", None)
    config = tmp_path / "exp.yaml"
    config.write_text(f"name: acc\nruns_dir: {tmp_path / 'runs'}\nbase:\n  model: ltm-nano\n"
                      f"corpora:\n  root: {repo_root / 'corpora'}\n"
                      "training:\n  batch_size: 4\n  max_length: 128\n  epochs: 1\n")
    accelerate = Path(sys.executable).with_name("accelerate")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    # --multi_gpu is accelerate's multi-process launcher; without CUDA the processes join with gloo.
    command = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29533",
               "-m", "ltm.cli", "train", "syllogisms", "--config", str(config), "--no-mlflow"]
    try:
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"two-process training did not finish in 300 s (deadlock?):\n{(exc.stderr or b'')[-2000:]}")
    assert done.returncode == 0, done.stderr[-3000:]

    adapters = [p for p in (tmp_path / "runs" / "adapters").iterdir() if not p.name.startswith(".")]
    assert len(adapters) == 1, adapters
    manifests = list(adapters[0].rglob("manifest.json"))
    assert manifests == [adapters[0] / "manifest.json"]
    manifest = json.loads(manifests[0].read_text())
    plan = manifest["plan"]
    assert plan["world_size"] == 2 and plan["per_step"] == 4 * 1 * 2
    assert manifest["steps"] == plan["steps"] == math.ceil(plan["sequences"] / 8)
    # every process read its own batches: the tokens seen are those of 2 × 4 sequences per step
    assert manifest["tokens_seen"] <= manifest["steps"] * 8 * 128
    assert manifest["tokens_seen"] > (manifest["steps"] - 1) * 8 * 128 * 0.5
    # one report, from the main process
    assert done.stdout.count("trained syllogisms-") == 1, done.stdout
