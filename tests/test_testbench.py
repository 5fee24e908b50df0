"""Testbench: lm-eval-exact scoring, one loaded base for every row, adapter checks, caching, results on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import CHOICE_SCENES

from ltm.errors import LtmError

SCENES = CHOICE_SCENES + """\
  - id: h1
    kind: short
    measure: consistency
    group: g1
    context: Emma has the cup. Emma gives the cup to Will.
    prompt: So now
    answer: Will
  - id: h2
    kind: short
    measure: consistency
    group: g1
    follows: h1
    context: Will gives the cup to Ivy.
    prompt: So now
    answer: Ivy
  - id: c1
    kind: open
    measure: compression
    max_words: 10
    context: Emma wants the cup but Will will not give it.
    prompt: "In at most 10 words, the tension is:"
"""


@pytest.fixture(scope="module")
def nano():
    from ltm import basemodel

    ref = basemodel.resolve("ltm-nano")
    return ref, basemodel.load_model(ref), basemodel.load_tokenizer("ltm-nano")


@pytest.fixture
def eval_config(nano_config, tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "s.yaml").write_text(SCENES)
    nano_config.runs_dir = str(tmp_path / "runs")
    nano_config.testbench.scenes = str(scenes)
    nano_config.testbench.decoding.max_new_tokens = 8
    nano_config.training.max_steps = 20
    return nano_config


@pytest.fixture(scope="module")
def trained_adapter(make_nano_config, tmp_path_factory):
    from ltm import train

    config = make_nano_config()
    config.runs_dir = str(tmp_path_factory.mktemp("adapters"))
    config.training.max_steps = 20
    return train.train(config, ["transitive_relations"], track=False)[0].path


def test_loglik_equals_lm_eval_on_the_same_local_multiple_choice_task(nano, tmp_path):
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from ltm.testbench.lmeval_bridge import BUILTIN_TASKS, materialize_builtin_tasks
    from ltm.testbench.loglik import loglikelihood

    _, model, tokenizer = nano
    folder = materialize_builtin_tasks(tmp_path / "tasks")
    out = simple_evaluate(model=HFLM(pretrained=model, tokenizer=tokenizer, batch_size=4), tasks=["ltm_relations"],
                          limit=12, task_manager=TaskManager(include_path=str(folder)), log_samples=True,
                          bootstrap_iters=0, cache_requests=False)
    docs = [json.loads(line) for line in (BUILTIN_TASKS / "ltm_relations.jsonl").read_text().splitlines()]
    samples = sorted(out["samples"]["ltm_relations"], key=lambda s: s["doc_id"])
    assert len(samples) == 12
    for sample in samples:
        doc = docs[sample["doc_id"]]
        ours = loglikelihood(model, tokenizer, [(doc["context"], " " + c) for c in doc["choices"]], batch_size=3)
        theirs = [float(r[0]) for r in sample["filtered_resps"]]
        assert [r.logprob for r in ours] == pytest.approx(theirs, abs=1e-4)
        assert float(max(range(2), key=lambda i: ours[i].logprob) == doc["label"]) == sample["acc"]


def test_eval_writes_rows_records_and_summaries_and_reruns_from_cache(eval_config, trained_adapter):
    from ltm.testbench.run import evaluate

    result = evaluate(eval_config, adapters=[trained_adapter], track=False, quiet=True)
    adapter_row = trained_adapter.name
    assert set(result.summaries) == {"base", adapter_row}
    records = [json.loads(line) for line in (result.run_dir / f"{adapter_row}.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["d1", "d2", "p1", "p1-swapped", "h1", "h2", "c1"]
    for record in records:
        assert {"prompt", "answer", "score", "decoding"} <= set(record)
    chained = next(r for r in records if r["id"] == "h2")
    assert chained["prompt"].startswith("Emma has the cup. Emma gives the cup to Will. Will gives the cup to Ivy.")
    summary = json.loads((result.run_dir / f"{adapter_row}.summary.json").read_text())
    for key in ("accuracy", "margin", "depth_by_steps", "depth_max_steps", "consistency", "pressure", "compression",
                "ppl_general", "ppl_heldout", "latency", "adapter_hash"):
        assert key in summary, key
    assert summary["latency"]["ms_per_token"] > 0
    assert (result.run_dir / "attention_entropy.png").stat().st_size > 1000
    # The adapter changes the answers' log-probabilities; the base row is the plain base.
    base = [json.loads(line) for line in (result.run_dir / "base.jsonl").read_text().splitlines()]
    assert base[0]["logprobs"] != records[0]["logprobs"]

    cache_files = sorted((eval_config.runs_path / "cache" / "testbench").glob("*.jsonl"))
    sizes = {p: len(p.read_text().splitlines()) for p in cache_files}
    again = evaluate(eval_config, adapters=[trained_adapter], track=False, quiet=True)
    assert {p: len(p.read_text().splitlines()) for p in cache_files} == sizes, "an unchanged re-run computed something"
    assert again.summaries[adapter_row]["accuracy"] == summary["accuracy"]

    # Editing one item re-runs that item only, in each row. The edited item is open-ended, so an
    # adapter row whose answer differs from the base's also re-judges that changed pair ("pairwise:");
    # it is among the prompts of the attention view, which is measured again ("attention:").
    def keys(path):
        return [json.loads(line)["key"] for line in path.read_text().splitlines()]

    before = {p: keys(p) for p in cache_files}
    scene_file = Path(eval_config.testbench.scenes) / "s.yaml"
    scene_file.write_text(scene_file.read_text().replace("Emma wants the cup", "Emma wants the hat"))
    evaluate(eval_config, adapters=[trained_adapter], track=False, quiet=True)
    for path in cache_files:
        added = keys(path)[len(before[path]):]
        assert len([k for k in added if not k.startswith(("pairwise:", "attention:"))]) == 1, (path, added)
        assert len([k for k in added if k.startswith("attention:")]) == 1, (path, added)
        assert len(added) <= 3, (path, added)


def test_base_row_under_disabled_adapters_equals_the_plain_base(eval_config, trained_adapter, nano):
    from ltm.scenes import load_scenes
    from ltm.testbench.loglik import loglikelihood
    from ltm.testbench.run import evaluate

    result = evaluate(eval_config, adapters=[trained_adapter], track=False, quiet=True)
    _, model, tokenizer = nano
    scenes = load_scenes(eval_config.testbench.scenes)
    base = {r["id"]: r for r in map(json.loads, (result.run_dir / "base.jsonl").read_text().splitlines())}
    for scene in scenes.items:
        if scene.kind == "choice":
            plain = loglikelihood(model, tokenizer, [(scenes.input_text(scene), " " + c) for c in scene.choices])
            assert base[scene.id]["logprobs"] == pytest.approx([r.logprob for r in plain], abs=1e-5)


def test_adapter_with_zero_weights_is_caught_by_the_active_check(eval_config, nano, tmp_path):
    from peft import LoraConfig, get_peft_model

    from ltm import basemodel
    from ltm.testbench.run import evaluate

    ref, _, tokenizer = nano
    model = basemodel.load_model(ref)
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear"))  # B = 0: no effect at all
    folder = tmp_path / "zero-000000000000"
    peft_model.save_pretrained(folder)
    (folder / "manifest.json").write_text(json.dumps({"hash": "000000000000", "source": "zero",
                                                      "base": {"fingerprint": ref.fingerprint}}))
    with pytest.raises(LtmError, match="not active"):
        evaluate(eval_config, adapters=[folder], track=False, quiet=True)


def test_benchmarks_run_per_row_without_sharing_lm_eval_cache(eval_config, trained_adapter):
    from ltm.testbench.run import evaluate

    eval_config.testbench.benchmarks = ["ltm_relations"]
    eval_config.testbench.benchmark_limit = 10
    result = evaluate(eval_config, adapters=[trained_adapter], track=False, quiet=True)
    base = result.summaries["base"]["benchmarks"]["ltm_relations"]
    adapted = result.summaries[trained_adapter.name]["benchmarks"]["ltm_relations"]
    assert 0.0 <= base["acc"] <= 1.0 and 0.0 <= adapted["acc"] <= 1.0
    cache = next(iter((eval_config.runs_path / "cache" / "testbench").glob("*.jsonl")))
    assert "bench:ltm_relations" in cache.read_text()
    # Different rows, different per-item log-likelihoods: nothing was answered from another row's cache.
    rows = {}
    for path in (eval_config.runs_path / "cache" / "testbench").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if entry["key"].startswith("bench:"):
                rows[path.name] = [r["logprobs"] for r in entry["record"]["value"]["records"]]
    assert len(rows) == 2 and len(set(map(str, rows.values()))) == 2


def test_unknown_benchmark_name_suggests_the_right_one(eval_config):
    from ltm.testbench.run import evaluate

    eval_config.testbench.benchmarks = ["ltm_relation"]
    with pytest.raises(LtmError, match="did you mean 'ltm_relations'"):
        evaluate(eval_config, adapters=[], track=False, quiet=True)


def test_eval_logs_one_mlflow_run_per_row(eval_config, trained_adapter):
    from ltm import tracking
    from ltm.testbench.run import evaluate

    evaluate(eval_config, adapters=[trained_adapter], quiet=True)
    mlflow_client, experiment_id = tracking.client(eval_config)
    runs = mlflow_client.search_runs([experiment_id], "tags.`ltm.kind` = 'eval'")
    assert sorted(r.data.tags["ltm.row"] for r in runs) == sorted(["base", trained_adapter.name])
    adapter_run = next(r for r in runs if r.data.tags["ltm.row"] == trained_adapter.name)
    assert "accuracy" in adapter_run.data.metrics and "latency.ms_per_token" in adapter_run.data.metrics
    assert {a.path for a in mlflow_client.list_artifacts(adapter_run.info.run_id, "transcripts")} >= {
        f"transcripts/{trained_adapter.name}.jsonl"}


def test_cli_eval_reports_a_bad_scene_in_one_line(tmp_path, capsys, repo_root):
    from ltm.cli import main

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "bad.yaml").write_text("scenes:\n  - id: x\n    kind: choice\n    prompt: So\n    choices: [a, b]\n    answer: c\n")
    config = tmp_path / "exp.yaml"
    config.write_text(f"runs_dir: {tmp_path / 'runs'}\nbase:\n  model: ltm-nano\ntestbench:\n  scenes: {scenes}\n")
    assert main(["eval", "--config", str(config), "--no-mlflow"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.yaml:6" in err and "not among the choices" in err


def test_format_rows_and_pairwise_judging_vs_the_base(eval_config, trained_adapter):
    from ltm.testbench.run import evaluate

    eval_config.testbench.formats = ["bf16"]
    result = evaluate(eval_config, adapters=[trained_adapter], track=False, quiet=True)
    assert list(result.summaries) == ["base", trained_adapter.name, "base-bf16"]
    fmt = result.summaries["base-bf16"]
    assert fmt["kind"] == "format" and fmt["dtype"] == "bf16"
    base = result.summaries["base"]
    assert fmt["margin"] != base["margin"]  # another format, slightly different numbers
    assert abs(fmt["ppl_general"] - base["ppl_general"]) / base["ppl_general"] < 0.05
    pairwise = result.summaries[trained_adapter.name].get("judge_pairwise_vs_base")
    assert pairwise is None or -1.0 <= pairwise <= 1.0


def test_an_adapter_row_carries_the_base_perplexity_on_its_own_held_out_text(eval_config, trained_adapter, nano):
    """ppl_heldout of an adapter means little alone: the base on the same held-out files is beside it."""
    from ltm.testbench.perplexity import perplexity
    from ltm.testbench.run import evaluate

    result = evaluate(eval_config, adapters=[trained_adapter], track=False, quiet=True)
    summary = result.summaries[trained_adapter.name]
    _, model, tokenizer = nano
    held = [p.read_text(encoding="utf-8") for p in sorted((trained_adapter / "heldout").glob("*.txt"))]
    tb = eval_config.testbench
    expected = sum(perplexity(model, tokenizer, t, max(1, tb.batch_size // 2), batch_tokens=tb.batch_tokens)
                   for t in held) / len(held)
    assert summary["ppl_heldout_base"] == pytest.approx(expected, rel=1e-4)
    assert summary["ppl_heldout"] < summary["ppl_heldout_base"]  # the adapter learned its own corpus
    assert "ppl_heldout_base" not in result.summaries["base"]
