"""The ranking on the embedded default tells the teaching corpus from the distractors.

`experiments/smoke.yaml` trains ltm-tiny on syllogisms (teaches the pattern of the scene
items tagged `syllogisms`) and on two distractors (weather_log, shopping_lists), then scores
every row on those items. The teaching corpus must rank first with a composite interval
lying above each distractor's; figures and what it took are in docs/benchmarks.md.
Runs the same two commands a user would (`ltm sweep`, `ltm score`); about 11 min on 2 cores.
"""

from __future__ import annotations

import csv

import pytest

from ltm.cli import main

pytestmark = pytest.mark.slow

TEACHING = "syllogisms"
DISTRACTORS = ("weather_log", "shopping_lists")


def test_smoke_ranking_separates_the_teaching_corpus_from_the_distractors(tmp_path, repo_root, capsys):
    config = str(repo_root / "experiments" / "smoke.yaml")
    runs = f"runs_dir={tmp_path / 'runs'}"
    assert main(["sweep", "--config", config, "--set", runs, "--no-mlflow"]) == 0
    assert main(["score", "--config", config, "--set", runs]) == 0
    printed = capsys.readouterr().out

    table = tmp_path / "runs" / "results" / "smoke" / "ltm_results_table.csv"
    rows = {row["corpus"] or row["kind"]: row for row in csv.DictReader(table.open(encoding="utf-8"))}
    assert set(rows) == {TEACHING, *DISTRACTORS, "base"}, rows.keys()
    teaching = rows[TEACHING]
    assert teaching["rank"] == "1", printed
    for other in DISTRACTORS:
        assert float(teaching["composite_lo"]) > float(rows[other]["composite_hi"]), (
            f"{TEACHING} {teaching['composite']} [{teaching['composite_lo']}, {teaching['composite_hi']}] does not lie "
            f"above {other} {rows[other]['composite']} [{rows[other]['composite_lo']}, {rows[other]['composite_hi']}]")
    # Better than the base by more than the paired interval, so the table does not mark it "~".
    assert float(teaching["delta_lo"]) > 0, teaching
    assert TEACHING in printed
