"""Scene families: difficulty knobs, contamination control, variants, calibration, sensitivity warnings."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from ltm import families
from ltm.demo.words import NAMES
from ltm.errors import LtmError
from ltm.scene_yaml import render
from ltm.scenes import load_scenes

OWN = ["transitive", "syllogism_chain", "who_holds", "arithmetic"]


@pytest.mark.parametrize("name", sorted(families.FAMILIES))
def test_every_level_makes_valid_scenes_that_record_their_provenance(name, tmp_path):
    family = families.get(name)
    for level in range(1, len(family.levels) + 1):
        items = families.generate(family, 3, seed=7, level=level)
        assert items == families.generate(family, 3, seed=7, level=level)  # same seed, same items
        path = tmp_path / f"{name}-{level}.yaml"
        path.write_text(render("test", items), encoding="utf-8")
        scenes = load_scenes(path)  # the ordinary scene format, validated
        assert len(scenes.items) == len(items)
        for scene in scenes.items:
            assert (scene.family, scene.level, scene.seed) == (name, level, 7)
            assert scene.difficulty == family.settings(level)[1]


def test_the_knob_turns_the_difficulty():
    easy = families.generate(families.get("transitive"), 5, seed=1, level=1)
    hard = families.generate(families.get("transitive"), 5, seed=1, difficulty={"steps": 9})
    premises = [len(re.findall(r"\bthan\b", i["context"])) for i in hard if "variant" not in i]
    assert all(i["steps"] == 1 for i in easy if "variant" not in i)
    assert premises == [9] * 5
    with pytest.raises(LtmError, match="did you mean 'steps'"):
        families.generate(families.get("transitive"), 1, seed=1, difficulty={"stepz": 3})
    with pytest.raises(LtmError, match="levels 1..10"):
        families.generate(families.get("transitive"), 1, seed=1, level=12)


def _names_in(items) -> set[str]:
    text = " ".join(f"{i.get('context', '')} {i['prompt']} {' '.join(i.get('choices', []))}" for i in items)
    return {n for n in NAMES if re.search(rf"\b{n}\b", text)}


@pytest.mark.parametrize("name", sorted(families.FAMILIES))
def test_items_share_no_name_with_the_teaching_corpora_unless_the_control_asks(name):
    family = families.get(name)
    for level in range(1, len(family.levels) + 1):
        assert not _names_in(families.generate(family, 6, seed=3, level=level)), (name, level)
    if name in ("transitive", "who_holds", "arithmetic"):
        assert _names_in(families.generate(family, 6, seed=3, level=2, difficulty={"names": "seen"}))


@pytest.mark.parametrize("name", ["transitive", "syllogism_chain"])
def test_pressure_variants_exist_at_every_level_with_the_same_answer(name):
    family = families.get(name)
    for level in range(3 if name == "transitive" else 1, len(family.levels) + 1):  # swapped needs 2 premises
        items = families.generate(family, 2, seed=5, level=level)
        clean = {i["id"]: i for i in items if "variant_of" not in i}
        variants = [i for i in items if "variant_of" in i]
        assert {v["variant"] for v in variants} == {"swapped", "unseen_names", "paraphrase"}
        for v in variants:
            original = clean[v["variant_of"]]
            assert v["context"] != original["context"]
            if v["variant"] != "unseen_names":
                assert v["answer"] == original["answer"] and v["choices"] == original["choices"]
            else:
                assert v["answer"] != original["answer"] and len(v["choices"]) == len(original["choices"])


def test_reasoning_gym_short_form_is_scored_by_its_own_scorer():
    from ltm.scenes import Scene
    from ltm.testbench.items import short_score

    item = families.generate(families.get("rg_chain_sum"), 1, seed=2, level=2, difficulty={"form": "short"})[0]
    scene = Scene(**item)
    assert scene.scorer == "reasoning_gym:chain_sum"
    assert short_score(scene, item["answer"]) == 1.0
    assert short_score(scene, str(int(item["answer"]) + 1)) == 0.0


def test_choose_picks_the_level_nearest_the_band_middle():
    from ltm.calibrate import choose

    probed = [{"level": 1, "normalized": 0.95}, {"level": 2, "normalized": 0.62}, {"level": 3, "normalized": 0.45},
              {"level": 4, "normalized": 0.1}]
    assert choose(probed, [0.25, 0.70])[0]["level"] == 3
    level, why = choose(probed[:1], [0.25, 0.70])
    assert level["level"] == 1 and "ceiling" in why
    level, why = choose([{"level": 1, "normalized": -0.1}, {"level": 2, "normalized": 0.05}], [0.25, 0.70])
    assert level["level"] == 1 and "beyond the base" in why  # the easiest, not the luckiest probe


def _records(correct: list[bool], family: str = "transitive") -> list[dict]:
    return [{"id": f"x{k}", "kind": "choice", "measure": "depth", "steps": 2, "family": family, "correct": ok,
             "score": float(ok), "margin": 1.0, "logprobs": [-1.0, -2.0]} for k, ok in enumerate(correct)]


def test_ceiling_warning_fires_for_a_base_that_answers_a_family_perfectly_and_not_in_the_band():
    from ltm.testbench.sensitivity import base_warnings

    perfect = base_warnings(_records([True] * 20))
    assert "family.transitive: base 1.00 — at ceiling, no gain can show; run ltm scenes calibrate" in perfect
    assert any(line.startswith("depth: base 1.00 — at ceiling") for line in perfect)
    in_band = base_warnings(_records([True] * 15 + [False] * 5))  # 0.75: normalized 0.5
    assert in_band == []
    at_chance = base_warnings(_records([True] * 10 + [False] * 10))
    assert any(line.startswith("family.transitive: base 0.50 — at or below chance (0.50)") for line in at_chance)


def test_config_names_an_unknown_family_in_one_line(tmp_path):
    from ltm.config import load_config
    from ltm.errors import ConfigError

    path = tmp_path / "exp.yaml"
    path.write_text("testbench:\n  families: [transitive, who_hold]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "exp.yaml:2: testbench.families: no scene family 'who_hold' — did you mean 'who_holds'?" in str(info.value)


def test_scenes_generate_cli_writes_a_loadable_file_and_refuses_a_bad_knob(tmp_path):
    out = tmp_path / "t.yaml"
    done = subprocess.run([sys.executable, "-m", "ltm.cli", "scenes", "generate", "--family", "syllogism_chain",
                           "--difficulty", "premises=4,distractors=1", "--n", "3", "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    scenes = load_scenes(out)
    assert len([s for s in scenes.items if s.variant is None]) == 3
    assert all(s.difficulty["premises"] == 4 for s in scenes.items)
    bad = subprocess.run([sys.executable, "-m", "ltm.cli", "scenes", "generate", "--family", "syllogism_chain",
                          "--difficulty", "premisses=4", "--out", str(out)], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: family 'syllogism_chain' has no knob 'premisses' — did you mean 'premises'?"


@pytest.mark.slow
def test_calibrate_chooses_per_base_never_scores_a_probe_item_and_feeds_eval_and_score(nano_config, tmp_path):
    from ltm.calibrate import calibrate
    from ltm.score import load_run, score_run
    from ltm.testbench.run import evaluate, tested_scenes

    config = nano_config
    config.runs_dir = str(tmp_path / "runs")
    config.testbench.families = ["transitive", "who_holds"]
    config.testbench.family_items = 8
    config.testbench.calibration.probe_items = 8
    config.testbench.tags = ["syllogisms"]
    config.testbench.latency = False
    with pytest.raises(LtmError, match="run `ltm scenes calibrate"):
        tested_scenes(config)
    folder = calibrate(config, quiet=True)
    report = json.loads((folder / "calibration.json").read_text())
    assert set(report["families"]) == {"transitive", "who_holds"}
    for fam in report["families"].values():
        assert fam["probed"] and fam["level"] in [p["level"] for p in fam["probed"]] and fam["why"]
        assert fam["final"]["clean_items"] == 8
    # The final items are fresh: none of the probe's inputs (regenerated from the probe seed).
    from ltm import families as registry

    for name, fam in report["families"].items():
        family = registry.get(name)
        probe = {registry.item_text(i) for p in fam["probed"]
                 for i in registry.clean_items(family, 8, seed=0, level=p["level"])}
        final = load_scenes(folder / f"{name}.yaml")
        assert not probe & {f"{s.context} {s.prompt}" for s in final.items}
    assert calibrate(config, quiet=True) == folder  # cached
    scenes = tested_scenes(config)  # the tags filter keeps the family items
    assert {s.family for s in scenes.items} == {None, "transitive", "who_holds"}
    result = evaluate(config, adapters=[], track=False, quiet=True)
    assert "family" in result.summaries["base"]
    scored, _ = score_run(config, result.run_dir, quiet=True)
    from ltm.score import markdown

    assert "| row | family.transitive | family.who_holds |" in markdown(scored)
    header = (result.run_dir / "ltm_results_table.csv").read_text().splitlines()[0].split(",")
    for column in ("family.transitive", "family.transitive_lo", "family.transitive_hi", "family.who_holds"):
        assert column in header
    assert load_run(result.run_dir)


def test_a_family_of_your_own_from_the_docs_registers_through_family_files(repo_root, tmp_path, nano_config):
    from ltm.calibrate import calibrated_scenes_path

    doc = (repo_root / "docs" / "scenes.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n# families/parity.py\n(.*?)```", doc, re.S)[1]
    (tmp_path / "families").mkdir()
    (tmp_path / "families" / "parity.py").write_text(code, encoding="utf-8")
    config = nano_config
    config.source = tmp_path / "exp.yaml"
    config.runs_dir = str(tmp_path / "runs")
    config.testbench.family_files = ["families/parity.py"]
    config.testbench.families = ["parity", "transitive"]
    with pytest.raises(LtmError, match="run `ltm scenes calibrate"):  # known now, just not calibrated yet
        calibrated_scenes_path(config)
    items = families.generate(families.get("parity"), 4, seed=1, level=3)
    assert all(len(i["context"].split(" + ")) == 8 and i["answer"] in i["choices"] for i in items)
    config.testbench.families = ["parity", "parrity"]
    with pytest.raises(LtmError, match="no scene family 'parrity' — did you mean 'parity'"):
        calibrated_scenes_path(config)


def test_estimate_counts_family_items_before_any_calibration(nano_config, tmp_path):
    from ltm.estimate_eval import row_plan
    from ltm.testbench.run import tested_scenes

    config = nano_config
    config.runs_dir = str(tmp_path / "runs")
    shipped = row_plan(config, count=lambda text: len(text.split()))["choice"]
    config.testbench.families, config.testbench.family_items = ["transitive", "rg_chain_sum"], 10
    with pytest.raises(LtmError, match="run `ltm scenes calibrate"):
        tested_scenes(config)
    plan = row_plan(config, count=lambda text: len(text.split()))
    assert plan["choice"] == shipped + 10 * 4 + 10  # transitive: clean + 3 variants; chain_sum: clean only
