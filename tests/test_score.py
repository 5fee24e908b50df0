"""Scoring: intervals that cover, paired deltas, the seed noise floor, and the table files."""

from __future__ import annotations

import csv
import json
import random

import pytest

from ltm.errors import LtmError
from ltm.score import load_run, score, score_run

WEIGHTS = {"depth": 1.0, "consistency": 1.0, "pressure": 1.0}


def _records(p_right: float, seed: int, n: int = 80) -> list[dict]:
    rng = random.Random(seed)
    records = []
    for i in range(n):
        ok = rng.random() < p_right
        records.append({"id": f"d{i}", "kind": "choice", "measure": "depth", "steps": 2 + i % 3, "correct": ok,
                        "score": float(ok), "margin": 1.0 if ok else -1.0})
    for g in range(20):
        for k in range(2):
            ok = rng.random() < p_right
            records.append({"id": f"c{g}-{k}", "kind": "choice", "measure": "consistency", "group": f"g{g}",
                            "correct": ok, "score": float(ok), "margin": 0.5 if ok else -0.5})
    for c in range(20):
        clean, variant = rng.random() < p_right, rng.random() < p_right
        records.append({"id": f"p{c}", "kind": "choice", "measure": "pressure", "correct": clean, "score": float(clean)})
        records.append({"id": f"p{c}-s", "kind": "choice", "measure": "pressure", "variant_of": f"p{c}",
                        "variant": "swapped", "correct": variant, "score": float(variant)})
    return records


def _write_row(folder, name, kind, records, corpus=None, seed=0, ppl=10.0):
    summary = {"row": name, "kind": kind, "corpus": corpus, "ppl_general": ppl, "base": "ltm-nano",
               "training": {"seed": seed, "rank": 16, "learning_rate": 0.005, "max_length": 128} if corpus else None}
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / f"{name}.summary.json").write_text(json.dumps(summary))


@pytest.fixture
def run_dir(tmp_path):
    folder = tmp_path / "results" / "demo"
    folder.mkdir(parents=True)
    _write_row(folder, "base", "base", _records(0.5, 1))
    _write_row(folder, "teach-s0", "adapter", _records(0.85, 2), corpus="teach", seed=0, ppl=10.5)
    _write_row(folder, "teach-s1", "adapter", _records(0.82, 3), corpus="teach", seed=1, ppl=10.4)
    _write_row(folder, "distract", "adapter", _records(0.52, 4), corpus="distract", ppl=12.0)
    return folder


def test_teaching_rows_rank_above_distractors_with_separated_intervals(run_dir):
    ranked = score(load_run(run_dir), WEIGHTS, resamples=500)
    names = [s.row.name for s in ranked]
    # the two seeds of one corpus are pooled into one ranked row; the seeds are listed, unranked
    assert names[0] == "teach (2 seeds)" and ranked[0].seeds == [0, 1]
    teach = ranked[0]
    distract = next(s for s in ranked if s.row.name == "distract")
    assert teach.composite.lo > distract.composite.hi
    assert teach.delta.lo > 0 and teach.within_noise is False
    assert distract.within_noise is True  # its CI includes 0
    assert {s.row.name for s in ranked if s.rank is None} == {"teach-s0", "teach-s1"}
    for item in ranked:
        assert item.composite.lo <= item.composite.value <= item.composite.hi
    assert sum(s.p_first for s in ranked if s.p_first is not None) == pytest.approx(1.0, abs=1e-6)
    assert teach.p_first > 0.9


def test_paired_delta_of_a_row_against_itself_is_exactly_zero(run_dir):
    _write_row(run_dir, "copy", "adapter", _records(0.5, 1), corpus="copy")
    (run_dir / "teach-s1.summary.json").unlink()  # no corpus with two seeds: no seed noise to add
    copy = next(s for s in score(load_run(run_dir), WEIGHTS, resamples=300) if s.row.name == "copy")
    assert (copy.delta.value, copy.delta.lo, copy.delta.hi) == (0.0, 0.0, 0.0)


def test_a_row_trained_once_carries_the_seed_spread_of_the_corpora_trained_twice(run_dir):
    _write_row(run_dir, "copy", "adapter", _records(0.5, 1), corpus="copy")
    ranked = score(load_run(run_dir), WEIGHTS, resamples=2000)
    copy = next(s for s in ranked if s.row.name == "copy")
    s0, s1 = (next(s for s in ranked if s.row.name == n) for n in ("teach-s0", "teach-s1"))
    spread = abs(s0.composite.value - s1.composite.value) / 2 ** 0.5  # the pooled seed SD of one pair
    assert copy.delta.value == 0.0 and copy.delta.lo < 0 < copy.delta.hi
    assert copy.delta.hi - copy.delta.lo == pytest.approx(2 * 1.96 * spread, rel=0.15)


def test_noise_floor_comes_from_seed_pairs_and_marks_small_deltas(run_dir):
    ranked = score(load_run(run_dir), WEIGHTS, resamples=300)
    s0 = next(s for s in ranked if s.row.name == "teach-s0")
    s1 = next(s for s in ranked if s.row.name == "teach-s1")
    floor = s0.row.summary["_noise_floor"]
    assert floor == pytest.approx(abs(s0.composite.value - s1.composite.value), abs=1e-6)


def test_forgetting_is_relative_general_perplexity_rise(run_dir):
    distract = next(s for s in score(load_run(run_dir), WEIGHTS, resamples=200) if s.row.name == "distract")
    assert distract.forgetting == pytest.approx(20.0)  # percent


def test_score_run_writes_csv_markdown_and_png(run_dir, nano_config):
    nano_config.scoring.weights = WEIGHTS
    nano_config.scoring.bootstrap = 200
    scored, csv_path = score_run(nano_config, run_dir)
    rows = list(csv.DictReader(csv_path.open()))
    assert [r["row"] for r in rows] == [s.row.name for s in scored]
    assert rows[0]["rank"] == "1" and {"composite_lo", "delta_vs_base", "delta_p_holm", "within_noise", "forgetting_pct",
                                       "forgetting_flag", "p_rank1", "behaviour"} <= set(rows[0])
    assert "| rank |" in (run_dir / "ltm_results_table.md").read_text()
    assert (run_dir / "ltm_results_table.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(run_dir.glob("*.tmp*"))


def test_failed_trials_are_listed_with_their_reason(run_dir):
    (run_dir / "failures.json").write_text(json.dumps({"mix-1": "NaN loss at step 12"}))
    ranked = score(load_run(run_dir), WEIGHTS, resamples=100)
    failed = next(s for s in ranked if s.row.name == "mix-1")
    assert failed.rank is None and "NaN loss" in failed.note


def test_missing_results_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(LtmError, match="run `ltm eval`"):
        load_run(tmp_path / "nope")


def test_format_rows_of_older_runs_still_score(run_dir):
    """Results written before the rename call a format row's kind "variant": read as "format"."""
    _write_row(run_dir, "base-nf4", "variant", _records(0.5, 5))
    _write_row(run_dir, "base-bf16", "format", _records(0.5, 6))
    rows = {r.name: r for r in load_run(run_dir)}
    assert rows["base-nf4"].summary["kind"] == rows["base-bf16"].summary["kind"] == "format"
    names = [s.row.name for s in score(list(rows.values()), WEIGHTS, resamples=200)]
    assert "base-nf4" in names and "base-bf16" in names
