"""`ltm merge`: peft merges written as adapters, scored against their members and the mixture."""

from __future__ import annotations

import csv
import json

import pytest
from helpers import CHOICE_SCENES

from ltm.errors import LtmError


@pytest.fixture(scope="module")
def merge_setup(make_nano_config, tmp_path_factory):
    """Two corpus adapters and the mixture of the same two corpora, on ltm-nano."""
    from ltm import train

    root = tmp_path_factory.mktemp("merge")
    scenes = root / "scenes"
    scenes.mkdir()
    (scenes / "s.yaml").write_text(CHOICE_SCENES)
    config = make_nano_config()
    config.runs_dir = str(root / "runs")
    config.testbench.scenes = str(scenes)
    config.testbench.latency = False
    config.training.max_steps = 12
    config.corpora.mixtures = {"both": {"transitive_relations": 1.0, "syllogisms": 1.0}}
    folders = {name: train.train(config, [name], track=False)[0].path
               for name in ("transitive_relations", "syllogisms", "both")}
    return config, folders


def _records(run_dir, row):
    return {r["id"]: r["score"] for r in map(json.loads, (run_dir / f"{row}.jsonl").read_text().splitlines())}


def test_a_linear_merge_of_an_adapter_alone_at_weight_1_scores_as_that_adapter(merge_setup):
    from ltm.merge import merge
    from ltm.score import score_run
    from ltm.testbench.run import evaluate

    config, folders = merge_setup
    member = folders["transitive_relations"]
    alone = merge(config, [member], "linear", [1.0], track=False).path
    # cat of the adapter with itself at 0.5 + 0.5 is the same update, Σ wᵢ·ΔWᵢ = ΔW
    twice = merge(config, [member, member], "cat", [0.5, 0.5], track=False).path
    result = evaluate(config, adapters=[member, alone, twice], run="self", track=False, quiet=True)
    expected = _records(result.run_dir, member.name)
    for folder in (alone, twice):
        got = _records(result.run_dir, folder.name)
        assert got.keys() == expected.keys()
        for item, value in expected.items():
            assert got[item] == pytest.approx(value, abs=1e-5), (folder.name, item)
    scored, _csv = score_run(config, result.run_dir, quiet=True)
    by_name = {s.row.name: s for s in scored}
    assert by_name[alone.name].composite.value == pytest.approx(by_name[member.name].composite.value, abs=1e-5)
    manifest = json.loads((alone / "manifest.json").read_text())
    assert manifest["merge"]["method"] == "linear"
    assert [m["adapter"] for m in manifest["merge"]["members"]] == [member.name]


@pytest.mark.parametrize("method", ["cat", "linear", "ties", "dare_ties"])
def test_each_method_gives_a_row_compared_with_each_member_and_the_mixture(merge_setup, method):
    from ltm.merge import merge
    from ltm.score import score_run
    from ltm.testbench.run import evaluate

    config, folders = merge_setup
    members = [folders["transitive_relations"], folders["syllogisms"]]
    merged = merge(config, members, method, [0.5, 0.5], density=0.5, track=False)
    assert not merged.reused and merged.manifest["merge"]["method"] == method
    assert merge(config, members, method, [0.5, 0.5], density=0.5, track=False).reused
    result = evaluate(config, adapters=[merged.path, *members, folders["both"]], run=f"m-{method}", track=False,
                      quiet=True)
    _scored, csv_path = score_run(config, result.run_dir, quiet=True)
    rows = {r["row"]: r for r in csv.DictReader(csv_path.open())}
    row = rows[merged.path.name]
    assert row["merge_method"] == method
    assert row["merge_members"].split(";") == [m.name for m in members]
    for member in members:
        assert f"{member.name} " in row["merge_vs_members"] and "[" in row["merge_vs_members"]
    assert row["merge_vs_mixture"].startswith(folders["both"].name + " ")
    assert row["merge_beats_members"] in ("yes", "no", "~")
    assert rows[members[0].name]["merge_method"] == ""


def test_merge_refuses_what_peft_cannot_do_in_one_line(merge_setup, tmp_path):
    import shutil

    from ltm.merge import merge, resolve_members

    config, folders = merge_setup
    member = folders["transitive_relations"]
    other_rank = tmp_path / "r4"
    shutil.copytree(member, other_rank)
    adapter_config = json.loads((other_rank / "adapter_config.json").read_text())
    adapter_config["r"] = 4
    (other_rank / "adapter_config.json").write_text(json.dumps(adapter_config))
    with pytest.raises(LtmError, match="one LoRA rank.*--method cat"):
        merge(config, [member, other_rank], "ties", [0.5, 0.5], track=False)
    with pytest.raises(LtmError, match="one --weights value per adapter"):
        merge(config, [member, member], "cat", [1.0], track=False)
    with pytest.raises(LtmError, match="no adapter folder, adapter name or corpus"):
        resolve_members(config, ["no_such_corpus"])
    assert resolve_members(config, ["transitive_relations"]) == [member.resolve()]


def test_cli_merges_the_top_two_of_a_scored_run_with_weights_from_the_ranking(merge_setup, tmp_path, capsys):
    import yaml

    from ltm.cli import main
    from ltm.testbench.run import evaluate

    config, folders = merge_setup
    members = [folders["transitive_relations"], folders["syllogisms"]]
    evaluate(config, adapters=members, run="ranked", track=False, quiet=True)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"name": "tests", "runs_dir": config.runs_dir, "base": {"model": "ltm-nano"},
                                    "corpora": {"root": config.corpora.root},
                                    "testbench": {"scenes": config.testbench.scenes, "latency": False},
                                    "training": {"max_steps": 12, "batch_size": 8}}))
    code = main(["merge", "--config", str(path), "--top", "2", "--run", "ranked", "--no-mlflow", "--eval"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "merged merge-cat-" in out and "in ranked" in out
    assert "beats each member" in out
    assert main(["merge", "--config", str(path), "--no-mlflow"]) == 2
    assert "nothing to merge" in capsys.readouterr().err
