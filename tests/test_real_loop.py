"""The whole loop on a real model and a real book: SmolLM2-135M, a Hamlet slice, a few scenes, the table.

Short on purpose (2 LoRA steps, 6 scene items, a 300-word general text): it checks that a
real tokenizer, real weights and real prose go through train → eval → score, not what they
learn (docs/benchmarks.md has the learning curve).
"""

from __future__ import annotations

import csv

import pytest

from ltm.config import ExperimentConfig

SCENES = """\
scenes:
  - id: d1
    kind: choice
    measure: depth
    steps: 1
    context: All wugs are feps. All feps are daxes.
    prompt: So
    choices: [all wugs are daxes., no wugs are daxes.]
    answer: all wugs are daxes.
  - id: p1
    kind: choice
    measure: pressure
    context: Every wug is a fep. Sam is a wug.
    prompt: Therefore
    choices: [Sam is not a fep., Sam is a fep.]
    answer: Sam is a fep.
  - id: p1-swapped
    kind: choice
    measure: pressure
    variant_of: p1
    variant: swapped
    context: Sam is a wug. Every wug is a fep.
    prompt: Therefore
    choices: [Sam is not a fep., Sam is a fep.]
    answer: Sam is a fep.
  - id: c1
    kind: choice
    measure: consistency
    group: g1
    context: No wug is a fep. Sam is a wug.
    prompt: So
    choices: [Sam is not a fep., Sam is a fep.]
    answer: Sam is not a fep.
  - id: c2
    kind: choice
    measure: consistency
    group: g1
    context: No wug is a fep. Sam is a wug.
    prompt: It is false that
    choices: [Sam is not a fep., Sam is a fep.]
    answer: Sam is a fep.
  - id: s1
    kind: short
    context: Ann has the cup. Ann gives the cup to Bo.
    prompt: So now
    answer: Bo
"""


@pytest.mark.slow
def test_smollm2_trains_on_a_book_slice_and_the_table_ranks_it_beside_the_base(tmp_path, repo_root):
    from ltm import train
    from ltm.score import score_run
    from ltm.shelf import build_shelf
    from ltm.testbench.run import evaluate

    shelf = build_shelf(tmp_path / "shelf", pages=1, log=lambda _: None).out
    (tmp_path / "scenes.yaml").write_text(SCENES)
    general = (repo_root / "ltm" / "data" / "general_heldout_areopagitica.txt").read_text().split()[:300]
    (tmp_path / "general.txt").write_text(" ".join(general))
    config = ExperimentConfig(name="real-loop", runs_dir=str(tmp_path / "runs"))
    config.source = tmp_path / "exp.yaml"
    config.base.model = "smollm2-135m"
    config.corpora.root = str(shelf)
    config.training.max_steps, config.training.batch_size, config.training.max_length = 2, 2, 64
    config.training.learning_rate = 1e-3
    config.testbench.scenes = str(tmp_path / "scenes.yaml")
    config.testbench.latency = False
    config.testbench.decoding.max_new_tokens = 6
    config.scoring.general_text = str(tmp_path / "general.txt")
    config.scoring.weights = {"depth": 1.0, "consistency": 1.0, "pressure": 1.0}
    config.scoring.bootstrap = 200

    source = train.load_sources(config, ["hamlet"])[0]
    adapter = train.train_sources(config, [source], track=False)[0].path
    manifest = (adapter / "manifest.json").read_text()
    assert '"steps": 2' in manifest and "weights_sha256" in manifest and "smollm2-135m" in manifest

    result = evaluate(config, adapters=[adapter], run="real", track=False, quiet=True)
    assert set(result.summaries) == {"base", adapter.name}
    assert result.summaries["base"]["items"] == 6 and "49152" in result.summaries["base"]["tokenizer"]
    scored, csv_path = score_run(config, result.run_dir, quiet=True)
    rows = {r["row"]: r for r in csv.DictReader(csv_path.open(encoding="utf-8"))}
    assert set(rows) == {"base", adapter.name}
    for row in rows.values():
        assert row["composite"] and row["base_model"] == "smollm2-135m" and row["p_rank1"]
    assert float(rows[adapter.name]["forgetting_pct"]) > -100
    assert rows[adapter.name]["corpus"] == "hamlet"
