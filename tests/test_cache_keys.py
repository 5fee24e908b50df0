"""Cache keys name what each cached result depends on, so a changed dependency is recomputed.

Every test here changes one dependency the way a user would — new adapter weights in place,
new base weights of the same shape, an edited benchmark YAML or its data, edited scenes —
and checks that the result is computed again instead of being read from the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from helpers import CHOICE_SCENES


def _cache_keys(config) -> dict[str, list[str]]:
    """Cache file name → the item keys it holds, in the order they were computed."""
    folder = config.runs_path / "cache" / "testbench"
    return {p.name: [json.loads(line)["key"] for line in p.read_text().splitlines()] for p in sorted(folder.glob("*.jsonl"))}


def _records(run_dir: Path, row: str) -> list[dict]:
    return [json.loads(line) for line in (run_dir / f"{row}.jsonl").read_text().splitlines()]


def _perturb(path: Path, pick=lambda name: True, scale: float = 1.5) -> None:
    """Rewrite a safetensors file with the same tensor names and shapes but different values."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    changed = {name: (t * scale if pick(name) and t.is_floating_point() else t).contiguous() for name, t in tensors.items()}
    assert any(not (changed[n] == tensors[n]).all() for n in tensors), "nothing was changed"
    save_file(changed, str(path), metadata={"format": "pt"})


@pytest.fixture
def choice_config(nano_config, tmp_path):
    """ltm-nano, the four two-choice scenes, no latency: the cheapest full evaluation."""
    scenes = tmp_path / "scenes.yaml"
    scenes.write_text(CHOICE_SCENES)
    nano_config.runs_dir = str(tmp_path / "runs")
    nano_config.testbench.scenes = str(scenes)
    nano_config.testbench.latency = False
    return nano_config


@pytest.fixture(scope="module")
def small_adapter(make_nano_config, tmp_path_factory):
    from ltm import train

    config = make_nano_config()
    config.runs_dir = str(tmp_path_factory.mktemp("adapters"))
    config.training.max_steps = 6
    return train.train(config, ["transitive_relations"], track=False)[0]


@pytest.mark.slow
def test_new_adapter_weights_in_place_recompute_the_adapter_row(choice_config, small_adapter, tmp_path):
    """`ltm train --force` (or a copy from another machine) puts new weights under the same
    adapter name and config hash; the row's records must come from the new weights."""
    from ltm.testbench.run import evaluate

    adapter = tmp_path / small_adapter.path.name
    shutil.copytree(small_adapter.path, adapter)
    first = evaluate(choice_config, adapters=[adapter], track=False, quiet=True)
    before, base_before = _records(first.run_dir, adapter.name), _records(first.run_dir, "base")

    _perturb(adapter / "adapter_model.safetensors", pick=lambda name: "lora_B" in name, scale=3.0)
    again = evaluate(choice_config, adapters=[adapter], track=False, quiet=True)
    after = _records(again.run_dir, adapter.name)
    assert [r["logprobs"] for r in after] != [r["logprobs"] for r in before], "the old weights' records were reused"
    # The base row did not change and is still read from its cache.
    assert _records(again.run_dir, "base") == base_before

    # Training records the weights' content hash; the row reports the hash of the weights it ran.
    from ltm import filehash

    assert small_adapter.manifest["weights_sha256"] == filehash.weights_sha256(small_adapter.path)
    assert again.summaries[adapter.name]["weights_sha256"] == filehash.weights_sha256(adapter)
    assert filehash.weights_sha256(adapter) != small_adapter.manifest["weights_sha256"]


@pytest.mark.slow
def test_base_folder_with_new_weights_of_the_same_shape_is_recomputed(choice_config, tmp_path):
    """A local base folder whose weights are replaced by a fine-tuned copy of the same shape is a
    different base: its fingerprint (which keys rows and adapters) must change."""
    from ltm import basemodel
    from ltm.testbench.run import evaluate

    folder = tmp_path / "my-base"
    shutil.copytree(basemodel.resolve("ltm-nano").path, folder)
    choice_config.base.model = str(folder)
    first = evaluate(choice_config, adapters=[], track=False, quiet=True)
    before = [r["logprobs"] for r in _records(first.run_dir, "base")]
    fingerprint = basemodel.resolve(str(folder)).fingerprint

    _perturb(folder / "model.safetensors", pick=lambda name: "embed" in name or "lm_head" in name)
    assert basemodel.resolve(str(folder)).fingerprint != fingerprint
    again = evaluate(choice_config, adapters=[], track=False, quiet=True)
    assert [r["logprobs"] for r in _records(again.run_dir, "base")] != before, "the old weights' records were reused"


def test_folder_fingerprint_hashes_each_file_once_until_it_changes(tmp_path, monkeypatch):
    """A 15 GB base folder is read once: later commands trust the remembered hash of a file
    whose path, size and mtime are unchanged, and hash it again when any of them changes."""
    from ltm import basemodel, filehash

    monkeypatch.setenv("LTM_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "base"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama"}')
    weights = folder / "model.safetensors"
    weights.write_bytes(b"\x01" * 4096)
    first = basemodel.resolve(str(folder)).fingerprint
    assert basemodel.resolve(str(folder)).fingerprint == first

    memo = json.loads(filehash.memo_path().read_text())
    entry = memo["files"][str(weights.resolve())]
    assert entry["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    # The remembered hash is what is used while the file's stat is unchanged (it is not re-read) ...
    entry["sha256"] = "0" * 64
    filehash.memo_path().write_text(json.dumps(memo))
    assert basemodel.resolve(str(folder)).fingerprint != first
    # ... and a rewrite (new mtime) is hashed again; same-size new content gives a new fingerprint.
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert basemodel.resolve(str(folder)).fingerprint == first
    weights.write_bytes(b"\x02" * 4096)
    assert basemodel.resolve(str(folder)).fingerprint != first


def _task(data, prefix: str = "") -> str:
    """ltm's own local-task YAML for `data`, its prompt optionally edited (the edit a user makes)."""
    from ltm.testbench.lmeval_bridge import task_yaml

    text = task_yaml("my_relations", data)
    edited = text.replace('doc_to_text: "{{context}}"', f'doc_to_text: "{prefix}{{{{context}}}}"')
    assert prefix == "" or edited != text
    return edited


@pytest.mark.slow
def test_edited_benchmark_task_or_its_data_recomputes_the_benchmark(choice_config, tmp_path, monkeypatch):
    """A benchmark result depends on its task YAML, its data and the lm-eval version, not only
    on the task's name: editing any of them must not return the old scores."""
    from ltm.testbench.lmeval_bridge import BUILTIN_TASKS
    from ltm.testbench.run import evaluate

    tasks = tmp_path / "tasks"
    tasks.mkdir()
    data = tasks / "my_relations.jsonl"
    shipped = (BUILTIN_TASKS / "ltm_relations.jsonl").read_text().splitlines()
    data.write_text("\n".join(shipped[:4]) + "\n")
    task = tasks / "my_relations.yaml"
    task.write_text(_task(data))
    choice_config.testbench.benchmarks = ["my_relations"]
    choice_config.testbench.benchmark_include = [str(tasks)]
    choice_config.testbench.benchmark_limit = 4

    def bench_keys():
        (keys,) = _cache_keys(choice_config).values()  # the base row only
        return [k for k in keys if k.startswith("bench:")]

    evaluate(choice_config, adapters=[], track=False, quiet=True)
    assert len(bench_keys()) == 1
    task.write_text(_task(data, "Question: "))
    evaluate(choice_config, adapters=[], track=False, quiet=True)
    assert len(bench_keys()) == 2, "the edited task YAML reused the old benchmark result"

    # The data and the lm-eval version go into the same key. Checked on the key, with a task index
    # of this folder alone: an evaluation spends most of its time indexing all of lm-eval's tasks.
    import lm_eval
    from lm_eval.tasks import TaskManager

    from ltm.testbench.lmeval_bridge import cache_key

    manager = TaskManager(include_path=[str(tasks)], include_defaults=False)
    key = cache_key(manager, ["my_relations"], 4, 0)
    assert key == bench_keys()[-1]
    data.write_text("\n".join(shipped[4:8]) + "\n")
    assert cache_key(manager, ["my_relations"], 4, 0) not in bench_keys(), "the edited data would reuse the old result"
    key = cache_key(manager, ["my_relations"], 4, 0)
    monkeypatch.setattr(lm_eval, "__version__", lm_eval.__version__ + ".post1")
    assert cache_key(manager, ["my_relations"], 4, 0) != key, "another lm-eval version would reuse the old result"


@pytest.mark.slow
def test_changed_scenes_recompute_attention_entropy(choice_config):
    """Attention entropy is measured on the scene prompts: new scenes must give a new measurement."""
    from ltm.testbench.run import evaluate

    evaluate(choice_config, adapters=[], track=False, quiet=True)
    (before,) = _cache_keys(choice_config).values()
    scenes = Path(choice_config.testbench.scenes)
    scenes.write_text(scenes.read_text().replace("Carl", "Dave"))
    evaluate(choice_config, adapters=[], track=False, quiet=True)
    (after,) = _cache_keys(choice_config).values()
    added = after[len(before):]
    assert len([k for k in added if k.startswith("attention")]) == 1, added
    assert len(added) == 2, added  # the edited item and the attention view; nothing else


# ---- every cached artifact keyed in one place (ltm/keys.py) -----------------------------------
def test_every_cached_artifact_has_its_code_pinned():
    """Fails when the code behind a cache changed and nobody decided whether its version moves."""
    from ltm import keys

    assert keys.unpinned() == []


def test_a_code_change_behind_an_artifact_is_caught_and_a_docstring_change_is_not(tmp_path, monkeypatch):
    from ltm import keys

    copy = tmp_path / "ltm"
    shutil.copytree(keys.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(keys, "PACKAGE", copy)
    monkeypatch.setattr(keys, "PINS", tmp_path / "pins.json")
    keys.pin()
    assert keys.unpinned() == []
    items = copy / "testbench" / "items.py"
    source = items.read_text(encoding="utf-8")
    items.write_text(source.replace('"""Prefix match', '"""A prefix match', 1) + "\n# a comment\n", encoding="utf-8")
    assert keys.unpinned() == []  # wording only: no artifact moves
    items.write_text(source.replace("return float(short_match(scene, answer))",
                                    "return float(short_match(scene, answer)) * 0.5", 1), encoding="utf-8")
    flagged = keys.unpinned()
    assert len(flagged) == 1 and flagged[0].startswith("scored items: its code changed")
    assert "testbench/items.py" in flagged[0] and "python -m ltm.keys --pin" in flagged[0]


def test_no_module_keeps_a_version_constant_of_its_own():
    import re

    from ltm import keys

    literal = re.compile(r"^[A-Z_]*VERSION = \d", re.MULTILINE)
    own = [p.relative_to(keys.PACKAGE).as_posix() for p in keys.PACKAGE.rglob("*.py") if literal.search(p.read_text())]
    assert own == [], f"version constants outside ltm/keys.py: {own}"
