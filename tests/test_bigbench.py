"""BIG-bench JSON tasks as lm-eval tasks (ltm/bigbench.py), on a tiny fake sdist with the real layout.

The real `bigbench==1.0.0` sdist is 342 MB: no test downloads it. Each test points the
module at a tar.gz built here and at a cache folder under tmp_path."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from ltm import bigbench
from ltm.errors import LtmError

ROOT = "bigbench-1.0.0/bigbench/benchmark_tasks"

THREE = {
    "name": "logical_deduction_three_objects",
    "task_prefix": "Solve the puzzle.",
    "examples": [
        {"input": "Ann is older than Ben. Ben is older than Cy. Who is youngest?",
         "target_scores": {"Ann": 0, "Ben": 0, "Cy": 1}},
        {"input": "A book is left of a cup. The cup is left of a pen. What is leftmost?",
         "target_scores": {"the book": 1, "the cup": 0, "the pen": 0}},
        # two choices score 1: not a single-answer item, must be dropped
        {"input": "Which is a fruit?", "target_scores": {"apple": 1, "pear": 1, "stone": 0}},
        # an exact duplicate of the first: BIG-bench drops those before scoring
        {"input": "Ann is older than Ben. Ben is older than Cy. Who is youngest?",
         "target_scores": {"Ann": 0, "Ben": 0, "Cy": 1}},
    ],
}
FIVE = {"name": "logical_deduction_five_objects",
        "examples": [{"input": f"Item {i}: which comes first?", "target_scores": {"x": int(i % 2 == 0), "y": int(i % 2 == 1)}}
                     for i in range(5)]}
STRATEGYQA = {
    "name": "strategyqa",
    "example_input_prefix": "\nQuestion: ",
    "example_output_prefix": "\nAnswer: ",
    "append_choices_to_input": False,
    "examples": [
        {"input": "Could a cat fit in a teacup?", "target": "No. Cats are too big.", "target_scores": {"Yes": 0, "No": 1}},
        {"input": "Is water wet?", "target": "Yes.", "target_scores": {"Yes": 1, "No": 0}},
        {"input": "Is the sky green?", "target": "No.", "target_scores": {"Yes": 0, "No": 1}},
    ],
}


def make_sdist(folder: Path, tasks: dict[str, dict] | None = None) -> Path:
    """A tar.gz laid out as the PyPI sdist: code beside the tasks, a container task.json above subtasks."""
    tasks = tasks if tasks is not None else {
        "logical_deduction/task.json": {"name": "logical_deduction", "description": "container", "subtasks": []},
        "logical_deduction/three_objects/task.json": THREE,
        "logical_deduction/five_objects/task.json": FIVE,
        "strategyqa/task.json": STRATEGYQA,
        "arithmetic/task.json": {"name": "arithmetic", "examples": [{"input": "1+1", "target": "2"}]},  # not supported
    }
    path = folder / "bigbench-1.0.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        members = {"bigbench-1.0.0/setup.py": b"from setuptools import setup\nsetup(name='bigbench')\n",
                   "bigbench-1.0.0/bigbench/api/json_task.py": b"# code\n"}
        members.update({f"{ROOT}/{name}": json.dumps(data).encode() for name, data in tasks.items()})
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def sdist(tmp_path, monkeypatch):
    """The fake sdist, pinned as the real one is (ltm/bigbench.py's SDIST_SHA256)."""
    from ltm.filehash import sha256_file

    path = make_sdist(tmp_path)
    monkeypatch.setattr(bigbench, "SDIST_SHA256", sha256_file(path))
    return path


@pytest.fixture
def extracted(sdist, tmp_path):
    cache = tmp_path / "cache"
    return bigbench.extract(sdist, root=cache, log=lambda _: None), cache


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_supported_names_do_not_collide_with_lm_evals_own_bigbench_tasks():
    names = bigbench.task_names()
    assert "bb_logical_deduction_three_objects" in names and "bb_strategyqa" in names
    assert "bb_tracking_shuffled_objects_seven_objects" in names
    assert all(n.startswith("bb_") and not n.startswith("bigbench_") for n in names)


def test_cache_dir_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.delenv("LTM_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert bigbench.cache_dir() == tmp_path / "xdg" / "ltm" / "bigbench"


def test_extract_keeps_only_the_supported_task_json_keyed_by_the_sdists_sha256(extracted, tmp_path):
    from ltm.filehash import sha256_file

    folder, cache = extracted
    sha = sha256_file(tmp_path / "bigbench-1.0.0.tar.gz")
    assert folder == cache / sha
    kept = sorted(str(p.relative_to(folder)) for p in folder.rglob("task.json"))
    assert kept == ["logical_deduction/five_objects/task.json", "logical_deduction/three_objects/task.json",
                    "strategyqa/task.json"]
    manifest = json.loads((folder / bigbench.MANIFEST).read_text())
    assert manifest["sdist_sha256"] == sha
    assert manifest["tasks"]["bb_logical_deduction_three_objects"] == {"examples": 4, "duplicates": 1, "dropped": 1,
                                                                       "items": 2}
    assert "bb_tracking_shuffled_objects_three_objects" in manifest["missing"]
    # A second run finds the cache and never opens the sdist (here: it is gone).
    (tmp_path / "bigbench-1.0.0.tar.gz").unlink()
    assert bigbench.cached(root=cache) == folder


def test_materialize_writes_jsonl_and_an_lm_eval_yaml_with_absolute_paths(extracted, tmp_path):
    folder, cache = extracted
    out = tmp_path / "lmeval_tasks"
    messages = []
    bigbench.materialize(["bb_logical_deduction_three_objects", "bb_strategyqa"], out, root=cache, log=messages.append)

    rows = _rows(out / "bb_logical_deduction_three_objects.jsonl")
    assert len(rows) == 2  # the duplicate and the two-answer item are gone
    first = rows[0]
    # task_prefix + "\nQ: " + input + the choices BIG-bench appends + "\nA: ", ends stripped
    # (lm-eval scores each choice after one space).
    assert first["context"].startswith("Solve the puzzle.\nQ: Ann is older than Ben.")
    assert first["context"].endswith("\nA:")
    assert first["context"].count("\n  choice: ") == 3
    assert first["choices"] == ["Ann", "Ben", "Cy"] and first["label"] == 2
    assert rows[1]["choices"][rows[1]["label"]] == "the book"
    assert any("bb_logical_deduction_three_objects" in m and "1 " in m and "dropped" in m for m in messages)

    qa = _rows(out / "bb_strategyqa.jsonl")
    assert qa[0] == {"context": "Question: Could a cat fit in a teacup?\nAnswer:", "choices": ["Yes", "No"], "label": 1}

    yaml_text = (out / "bb_strategyqa.yaml").read_text()
    import yaml

    spec = yaml.safe_load(yaml_text)
    assert spec["task"] == "bb_strategyqa"
    assert spec["dataset_path"] == "json" and spec["output_type"] == "multiple_choice"
    data = Path(spec["dataset_kwargs"]["data_files"]["test"])
    assert data.is_absolute() and data == (out / "bb_strategyqa.jsonl").resolve()
    assert spec["doc_to_text"] == "{{context}}" and spec["doc_to_choice"] == "{{choices}}"
    assert spec["doc_to_target"] == "{{label}}"
    assert [m["metric"] for m in spec["metric_list"]] == ["acc", "acc_norm"]


def test_materialize_twice_leaves_the_files_alone(extracted, tmp_path):
    _, cache = extracted
    out = tmp_path / "t"
    bigbench.materialize(["bb_strategyqa"], out, root=cache, log=lambda _: None)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    bigbench.materialize(["bb_strategyqa"], out, root=cache, log=lambda _: None)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_unknown_bb_name_is_one_line_listing_the_supported_ones(tmp_path):
    with pytest.raises(LtmError) as info:
        bigbench.materialize(["bb_logical_deduction_three_object"], tmp_path, root=tmp_path / "cache")
    message = str(info.value)
    assert "\n" not in message
    assert "did you mean 'bb_logical_deduction_three_objects'" in message
    assert "bb_strategyqa" in message and "bb_causal_judgment" in message


def test_configured_benchmarks_rejects_an_unknown_bb_name_before_fetching(nano_config, tmp_path, monkeypatch):
    from ltm.testbench.run import configured_benchmarks

    monkeypatch.setenv("LTM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(bigbench, "_pip_download", lambda *a, **k: pytest.fail("fetched for a bad name"))
    nano_config.runs_dir = str(tmp_path / "runs")
    nano_config.testbench.benchmarks = ["bb_strategyqaa"]
    with pytest.raises(LtmError, match=r"did you mean 'bb_strategyqa'\?.*supported: bb_"):
        configured_benchmarks(nano_config)


def test_a_supported_task_missing_from_the_sdist_says_so(extracted, tmp_path):
    _, cache = extracted
    with pytest.raises(LtmError, match="bb_causal_judgment.*not in"):
        bigbench.materialize(["bb_causal_judgment"], tmp_path / "t", root=cache)


def test_not_a_bigbench_sdist_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(bigbench, "SDIST_SHA256", None)
    sdist = make_sdist(tmp_path, tasks={"arithmetic/task.json": {"examples": []}})
    with pytest.raises(LtmError, match="no supported BIG-bench task"):
        bigbench.extract(sdist, root=tmp_path / "cache", log=lambda _: None)
    assert not [p for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")]  # nothing half-made kept


def test_an_sdist_with_another_sha256_than_the_pinned_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(bigbench, "SDIST_SHA256", "0" * 64)
    with pytest.raises(LtmError, match="is not the bigbench==1.0.0 sdist's 0000"):
        bigbench.extract(make_sdist(tmp_path), root=tmp_path / "cache", log=lambda _: None)


def test_an_unpinned_sdist_is_used_and_its_sha256_printed(tmp_path, monkeypatch):
    from ltm.filehash import sha256_file

    monkeypatch.setattr(bigbench, "SDIST_SHA256", None)
    sdist, messages = make_sdist(tmp_path), []
    folder = bigbench.extract(sdist, root=tmp_path / "cache", log=messages.append)
    assert any(sha256_file(sdist) in m and "pin" in m for m in messages)
    assert bigbench.cached(root=tmp_path / "cache") == folder


def test_offline_fetch_fails_in_one_line_naming_the_fix(tmp_path, monkeypatch):
    """pip cannot reach an index (PIP_NO_INDEX, no find-links): one line, what failed and how to fix it."""
    empty = tmp_path / "links"
    empty.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    messages = []
    with pytest.raises(LtmError) as info:
        bigbench.materialize(["bb_strategyqa"], tmp_path / "t", root=tmp_path / "cache", log=messages.append)
    message = str(info.value)
    assert "\n" not in message
    assert "bigbench==1.0.0" in message and "python -m ltm.bigbench" in message
    assert any("fetching bigbench==1.0.0 (342 MB) from PyPI" in m and "once per machine" in m for m in messages)


def test_main_lists_the_tasks_with_item_counts(sdist, tmp_path, capsys):
    assert bigbench.main(["--sdist", str(sdist), "--cache", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "bb_logical_deduction_three_objects" in x)
    assert " 2 " in f" {line} " and "1 dropped" in line
    assert "bb_causal_judgment" in out and "missing" in out


@pytest.mark.slow
def test_a_bigbench_task_runs_through_benchmarks_on_ltm_nano(sdist, nano_config, tmp_path, monkeypatch):
    """The whole path: fake sdist -> cache -> `configured_benchmarks` -> lm-eval on a real (tiny) model."""
    from ltm import basemodel
    from ltm.testbench.run import configured_benchmarks

    ref = basemodel.resolve("ltm-nano")  # loaded from the user cache before it is pointed elsewhere
    model, tokenizer = basemodel.load_model(ref), basemodel.load_tokenizer("ltm-nano")
    monkeypatch.setenv("LTM_CACHE_DIR", str(tmp_path / "cache"))
    bigbench.extract(sdist, log=lambda _: None)  # into the default cache, under LTM_CACHE_DIR
    monkeypatch.setattr(bigbench, "_pip_download", lambda *a, **k: pytest.fail("fetched although cached"))

    nano_config.runs_dir = str(tmp_path / "runs")
    nano_config.testbench.benchmarks = ["bb_logical_deduction_three_objects", "bb_strategyqa"]
    nano_config.testbench.benchmark_limit = 3
    bench = configured_benchmarks(nano_config)
    assert (nano_config.runs_path / "lmeval_tasks" / "bb_strategyqa.yaml").is_file()
    metrics, records = bench.run(model, tokenizer)
    assert set(metrics) == {"bb_logical_deduction_three_objects", "bb_strategyqa"}
    assert 0.0 <= metrics["bb_strategyqa"]["acc"] <= 1.0
    by_task = {}
    for record in records:
        by_task.setdefault(record["task"], []).append(record)
        assert record["acc"] in (0.0, 1.0) and "acc_norm" in record
    assert len(by_task["bb_logical_deduction_three_objects"]) == 2 and len(by_task["bb_strategyqa"]) == 3
    assert all(len(r["logprobs"]) == 3 for r in by_task["bb_logical_deduction_three_objects"])
    assert bench.cache_key().startswith("bench:bb_logical_deduction_three_objects,bb_strategyqa:3:")
