"""Rankings you can trust: clustered and seed-aware intervals, honest composites, damage flagged, controls."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import numpy as np
import pytest
from test_score import _records, _write_row  # the same synthetic rows as the scoring tests

from ltm.bootstrap import Plan, holm
from ltm.score import difference, load_run, markdown, score, table_rows

WEIGHTS = {"depth": 1.0, "consistency": 1.0, "pressure": 1.0}


def _clustered(p_right: float, seed: int, clusters: int = 40, size: int = 4) -> list[dict]:
    """Pressure clusters: a clean item and three variants that share its outcome."""
    rng = random.Random(seed)
    records = []
    for c in range(clusters):
        ok = rng.random() < p_right
        records.append({"id": f"p{c}", "kind": "choice", "measure": "pressure", "correct": ok, "score": float(ok)})
        for v in range(size - 1):
            records.append({"id": f"p{c}-{v}", "kind": "choice", "measure": "pressure", "variant_of": f"p{c}",
                            "variant": "swapped", "correct": ok, "score": float(ok)})
    return records


def _by_name(ranked):
    return {s.row.name: s for s in ranked}


def test_pressure_interval_resamples_a_clean_item_with_its_variants(tmp_path):
    """Variants share their clean item's outcome: resampling them one by one made the interval too narrow."""
    _write_row(tmp_path, "base", "base", _clustered(0.5, 1))
    row = load_run(tmp_path)[0]
    pressure = _by_name(score([row], {"pressure": 1.0}, resamples=2000))["base"].metrics["pressure"]
    ids = list(row.units["pressure"])
    naive = Plan(ids, 2000).replicates(ids, np.array([row.units["pressure"][i] for i in ids]))
    naive_width = np.quantile(naive, 0.975) - np.quantile(naive, 0.025)
    assert set(row.clusters["pressure"].values()) == {f"item:p{c}" for c in range(40)}
    assert pressure.hi - pressure.lo > 1.4 * naive_width  # 3 variants per cluster: about sqrt(3) wider


def test_clustered_intervals_cover_the_true_delta_and_item_resampling_does_not():
    spec = importlib.util.spec_from_file_location("coverage", Path(__file__).parents[1] / "bench" / "coverage.py")
    coverage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(coverage)
    clustered = coverage.simulate(datasets=500, clusters=150, resamples=600, clustered=True)
    items_only = coverage.simulate(datasets=500, clusters=150, resamples=600, clustered=False)
    assert 0.93 <= clustered <= 0.97
    assert items_only < 0.91


def test_composite_is_missing_when_a_row_lacks_a_measure_the_base_has(tmp_path):
    _write_row(tmp_path, "base", "base", _records(0.5, 1))
    _write_row(tmp_path, "partial", "adapter", [r for r in _records(0.9, 7) if r["measure"] != "consistency"],
               corpus="partial")
    partial = _by_name(score(load_run(tmp_path), WEIGHTS, resamples=200))["partial"]
    assert partial.composite.value is None and partial.rank is None
    assert "consistency" in partial.note


def test_a_damaged_adapter_is_marked_and_never_ranked_first(tmp_path):
    _write_row(tmp_path, "base", "base", _records(0.5, 1))
    _write_row(tmp_path, "fine", "adapter", _records(0.7, 2), corpus="fine", ppl=10.5)
    _write_row(tmp_path, "broken", "adapter", _records(0.95, 9), corpus="broken", ppl=10.0 * 2100)
    ranked = score(load_run(tmp_path), WEIGHTS, resamples=300, max_forgetting=50.0)
    broken = _by_name(ranked)["broken"]
    assert broken.damaged and broken.forgetting > 50 and "⚠" in broken.note
    assert ranked[0].row.name == "fine" and broken.rank == len([s for s in ranked if s.rank])
    assert broken.p_first is None and ranked[0].p_first > 0.5  # P(rank 1) among the rows that can be first
    assert next(r for r in table_rows(ranked) if r["row"] == "broken")["forgetting_flag"] == "⚠"
    assert "⚠" in markdown(ranked)


def test_two_seeds_of_one_corpus_are_never_a_gain_over_each_other(tmp_path):
    """Seed noise is in the intervals: items alone would call seed 0 better than seed 1."""
    _write_row(tmp_path, "base", "base", _records(0.5, 1, n=300))
    _write_row(tmp_path, "a-s0", "adapter", _records(0.80, 2, n=300), corpus="a", seed=0)
    _write_row(tmp_path, "a-s1", "adapter", _records(0.62, 3, n=300), corpus="a", seed=1)
    rows = load_run(tmp_path)
    scored = _by_name(score(rows, WEIGHTS, resamples=1000))
    delta, p = difference(scored["a-s0"], scored["a-s1"])
    assert delta.lo <= 0 <= delta.hi and p > 0.05
    first, second = (next(r for r in rows if r.name == n) for n in ("a-s0", "a-s1"))
    ids = sorted(first.units["depth"])
    plan = Plan(ids, 1000)
    gap = plan.replicates(ids, [first.units["depth"][i] for i in ids]) - plan.replicates(
        ids, [second.units["depth"][i] for i in ids])
    assert np.quantile(gap, 0.025) > 0  # by items alone, seed 0 "beats" seed 1


def test_holm_correction_over_many_distractors():
    assert holm({"a": 0.01, "b": 0.02, "c": 0.04}) == pytest.approx({"a": 0.03, "b": 0.04, "c": 0.04})


def test_no_distractor_at_the_base_level_is_marked_a_gain(tmp_path):
    _write_row(tmp_path, "base", "base", _records(0.5, 1))
    for k in range(8):  # eight rows of the base's quality: some look like gains by chance alone
        _write_row(tmp_path, f"d{k}", "adapter", _records(0.5, 100 + k), corpus=f"d{k}")
    ranked = score(load_run(tmp_path), WEIGHTS, resamples=1000)
    adapters = [s for s in ranked if s.row.summary.get("kind") == "adapter"]
    assert all(s.within_noise for s in adapters) and all(s.delta_p is not None for s in adapters)


def test_a_gain_the_controls_show_as_well_is_marked(tmp_path):
    _write_row(tmp_path, "base", "base", _records(0.5, 1))
    _write_row(tmp_path, "teach", "adapter", _records(0.70, 2), corpus="teach")
    _write_row(tmp_path, "weather", "adapter", _records(0.70, 3), corpus="weather")
    _write_row(tmp_path, "shopping", "adapter", _records(0.70, 4), corpus="shopping")
    scored = _by_name(score(load_run(tmp_path), WEIGHTS, resamples=500, controls=["weather", "shopping"]))
    teach = scored["teach"]
    assert teach.delta.lo > 0  # a gain over the base ...
    assert teach.control_explains and teach.within_noise  # ... that its controls show as well
    assert scored["weather"].control_explains and "control" in scored["weather"].note
    assert _by_name(score(load_run(tmp_path), WEIGHTS, resamples=500))["teach"].within_noise is False


def test_judged_measures_weigh_nothing_when_the_judge_is_the_toy_base(nano_config):
    from ltm.score import effective_weights

    nano_config.scoring.weights = {"depth": 1.0, "novelty": 0.5, "compression": 0.5}
    weights, why = effective_weights(nano_config)
    assert weights["novelty"] == 0 and weights["compression"] == 0 and "toy" in why
    nano_config.testbench.judge.backend = "openai"
    weights, why = effective_weights(nano_config)
    assert weights["novelty"] == 0.5 and why is None


def test_every_lm_eval_metric_and_group_aggregate_becomes_a_measure(tmp_path):
    _write_row(tmp_path, "base", "base", _records(0.5, 1))
    lines = [{"task": task, "doc_id": doc, "acc": float(doc % 2), "acc_norm": 1.0, "groups": ["mmlu"]}
             for task in ("mmlu_a", "mmlu_b") for doc in range(5)]
    lines += [{"task": "gsm8k", "doc_id": doc, "exact_match": float(doc < 2), "filter": "strict-match"} for doc in range(4)]
    (tmp_path / "base.benchmarks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    base = load_run(tmp_path)[0]
    assert len(base.units["bench.mmlu"]) == 10 and len(base.units["bench.mmlu_a.acc_norm"]) == 5
    assert base.units["bench.gsm8k.exact_match.strict-match"] == {"0": 1.0, "1": 1.0, "2": 0.0, "3": 0.0}


def test_task_groups_nest():
    from ltm.testbench.lmeval_bridge import task_groups

    groups = task_groups({"mmlu": ["mmlu_stem", "mmlu_other"], "mmlu_stem": ["mmlu_physics"], "mmlu_other": ["mmlu_law"]})
    assert groups == {"mmlu_physics": ["mmlu", "mmlu_stem"], "mmlu_law": ["mmlu", "mmlu_other"]}


def test_rows_from_different_base_weights_or_libraries_are_flagged(tmp_path):
    from ltm.score import mixed_provenance

    _write_row(tmp_path, "base", "base", _records(0.5, 1))
    _write_row(tmp_path, "a", "adapter", _records(0.6, 2), corpus="a")
    for name, content, torch in (("base", "abc", "2.13.0"), ("a", "def", "2.13.0")):
        summary = json.loads((tmp_path / f"{name}.summary.json").read_text())
        summary.update(base_content=content, versions={"torch": torch, "transformers": "5.25.0"})
        (tmp_path / f"{name}.summary.json").write_text(json.dumps(summary))
    warning = mixed_provenance(load_run(tmp_path))
    assert "base weights (abc, def)" in warning and "torch" not in warning
    assert table_rows(score(load_run(tmp_path), WEIGHTS, resamples=100))[0]["base_content"] in ("abc", "def")


def test_controls_named_but_not_trained_are_reported(tmp_path):
    from ltm.score import missing_controls

    _write_row(tmp_path, "base", "base", _records(0.5, 1))
    _write_row(tmp_path, "w", "adapter", _records(0.5, 2), corpus="weather")
    rows = load_run(tmp_path)
    assert missing_controls(rows, ["weather"]) is None
    message = missing_controls(rows, ["weather", "recipes"])
    assert "recipes" in message and "weather" not in message.split("have no row")[0].split("controls")[1]
    assert "no gain is checked" in missing_controls(rows, ["recipes"])


def test_seed_noise_never_pushes_a_share_outside_zero_and_one(tmp_path):
    _write_row(tmp_path, "base", "base", _records(0.5, 1))
    _write_row(tmp_path, "a-s0", "adapter", _records(0.95, 2), corpus="a", seed=0)
    _write_row(tmp_path, "a-s1", "adapter", _records(0.40, 3), corpus="a", seed=1)
    _write_row(tmp_path, "rare", "adapter", _records(0.03, 4), corpus="rare")
    rare = _by_name(score(load_run(tmp_path), WEIGHTS, resamples=500))["rare"]
    for interval in [*rare.metrics.values(), rare.composite]:
        if interval is not rare.metrics.get("margin"):
            assert 0.0 <= interval.lo <= interval.hi <= 1.0
