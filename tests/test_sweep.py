"""Sweep: stage 1 + stage 2 in one Optuna study, failures isolated, MLflow nesting, kill -9 and resume."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import CHOICE_SCENES as SCENES

TIME_COLUMNS = {"train_seconds", "ms_per_token"}


def _write_config(folder: Path, repo_root: Path, shelf: Path | None = None, trials: int = 1, seeds=(0, 1)) -> Path:
    scenes = folder / "scenes"
    scenes.mkdir(parents=True, exist_ok=True)
    (scenes / "s.yaml").write_text(SCENES)
    config = folder / "exp.yaml"
    config.write_text(f"""\
name: sweeptest
runs_dir: {folder / 'runs'}
base:
  model: ltm-nano
corpora:
  root: {shelf or repo_root / 'corpora'}
  include: [transitive_relations, weather_log]
training:
  max_steps: 8
  batch_size: 8
  logging_steps: 2
testbench:
  scenes: {scenes}
  latency: false
  decoding:
    max_new_tokens: 4
scoring:
  bootstrap: 200
sweep:
  trials: {trials}
  seeds: [{', '.join(map(str, seeds))}]
  top_k: 2
  prune_margin: 1.0
  heartbeat_seconds: 1
  grace_seconds: 3
""")
    return config


def _table(path: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIME_COLUMNS} for row in csv.DictReader(path.open())]


def test_sweep_runs_both_stages_logs_nested_mlflow_runs_and_writes_the_table(tmp_path, repo_root, monkeypatch):
    import optuna

    from ltm import tracking
    from ltm.config import load_config
    from ltm.sweep import run_sweep, storage_url, study_name
    from ltm.testbench.rows import LoadedBase

    loads = []
    original = LoadedBase.__init__
    monkeypatch.setattr(LoadedBase, "__init__", lambda self, *a, **k: (loads.append(a), original(self, *a, **k))[1])
    config = load_config(_write_config(tmp_path, repo_root))
    csv_path = run_sweep(config)
    # One base load per trial's evaluation: the stage-2 trial's pruning and full passes share it.
    assert len(loads) == 4, len(loads)
    study = optuna.load_study(study_name=study_name(config), storage=storage_url(config))
    trials = study.get_trials()
    assert len(trials) == 4  # two corpora + a second seed of the first + one stage-2 trial
    assert [t.user_attrs.get("stage", 2) for t in trials] == [1, 1, 1, 2]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials), [t.state for t in trials]
    rows = _table(csv_path)
    assert rows[0]["rank"] == "1" and {r["kind"] for r in rows} == {"base", "adapter", "corpus"}  # corpus: 2 seeds pooled
    assert any(r["noise_floor"] for r in rows), "two seeds of one corpus should give a noise floor"
    assert (csv_path.parent / "optuna" / "pareto_front.png").exists()
    # One pruning pass, for the stage-2 trial only, and on its choice items only: stage 1 never
    # prunes, and perplexity & co. are the full pass's (each trial used to evaluate twice).
    intermediate = config.runs_path / "results" / f"{study_name(config)}-intermediate"
    assert sorted(p.name.removesuffix(".summary.json") for p in intermediate.glob("*.summary.json")) \
        == sorted(["base", Path(trials[3].user_attrs["adapter"]).name])
    import json

    for summary in json.loads((intermediate / "summary.json").read_text())["rows"].values():
        assert "ppl_general" not in summary and "accuracy" in summary

    client, experiment_id = tracking.client(config)
    parent = client.search_runs([experiment_id], "tags.`ltm.kind` = 'sweep'")
    assert len(parent) == 1
    children = client.search_runs([experiment_id], "tags.`ltm.kind` = 'trial'")
    assert len(children) == 4
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent[0].info.run_id}
    assert all("composite" in c.data.metrics and c.data.tags.get("ltm.adapter") for c in children)
    assert {a.path for a in client.list_artifacts(parent[0].info.run_id, "optuna")} >= {"optuna/pareto_front.png"}


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path, repo_root):
    import optuna

    from ltm.config import load_config
    from ltm.sweep import results_run, run_sweep, storage_url, study_name

    shelf = tmp_path / "shelf"
    shelf.mkdir()
    for name in ("transitive_relations.txt", "weather_log.txt"):
        (shelf / name).write_bytes((repo_root / "corpora" / name).read_bytes())
    (shelf / "transitive_relations.txt").write_bytes(b"")  # the first corpus has no text: its trials fail
    config = load_config(_write_config(tmp_path, repo_root, shelf=shelf, trials=0, seeds=(0,)))
    csv_path = run_sweep(config, track=False)
    study = optuna.load_study(study_name=study_name(config), storage=storage_url(config))
    states = {t.user_attrs["corpus"]: t for t in study.get_trials()}
    assert states["transitive_relations"].state == optuna.trial.TrialState.FAIL
    assert "no readable text" in states["transitive_relations"].user_attrs["failure"]
    assert states["weather_log"].state == optuna.trial.TrialState.COMPLETE
    rows = _table(csv_path)
    failed = [r for r in rows if "failed" in r["behaviour"]]
    assert len(failed) == 1 and "no readable text" in failed[0]["behaviour"]
    assert (results_run(config) / "failures.json").exists()


def _sweep_process(config: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "ltm.cli", "sweep", "--config", str(config), "--no-mlflow"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)


def test_sigkill_mid_trial_then_resume_gives_the_same_table_and_trains_nothing_twice(tmp_path, repo_root):
    whole = _write_config(tmp_path / "whole", repo_root, trials=0)
    done = subprocess.run([sys.executable, "-m", "ltm.cli", "sweep", "--config", str(whole), "--no-mlflow"],
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    killed = _write_config(tmp_path / "killed", repo_root, trials=0)
    first_log = tmp_path / "first.log"
    process = _sweep_process(killed, first_log)
    deadline = time.time() + 600
    # Kill once the first trial is finished and the second one is training.
    while time.time() < deadline and process.poll() is None:
        text = first_log.read_text()
        if "trial 0 (" in text and text.count("training ") > text.split("trial 0 (")[0].count("training "):
            break
        time.sleep(0.2)
    assert process.poll() is None, "the sweep ended before it could be killed:\n" + first_log.read_text()[-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    leftovers = [p.name for p in (tmp_path / "killed" / "runs" / "adapters").iterdir() if not (p / "manifest.json").exists()]
    assert all(name.startswith(".") for name in leftovers), leftovers  # a killed training never looks complete

    second_log = tmp_path / "second.log"
    resumed = _sweep_process(killed, second_log)
    assert resumed.wait(timeout=900) == 0, second_log.read_text()[-3000:]
    trained = [line.split()[1].rstrip(":") for log in (first_log, second_log) for line in log.read_text().splitlines()
               if line.startswith("trained ")]
    assert len(trained) == len(set(trained)) == 3, trained  # 2 corpora + 1 extra seed, each trained once
    assert "(resuming)" in second_log.read_text()
    whole_table = _table(tmp_path / "whole" / "runs" / "results" / "sweeptest" / "ltm_results_table.csv")
    killed_table = _table(tmp_path / "killed" / "runs" / "results" / "sweeptest" / "ltm_results_table.csv")
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("corpus_files",)} for r in rows]  # noqa: E731
    assert strip(killed_table) == strip(whole_table)


def test_ctrl_c_stops_cleanly_says_how_to_resume_and_the_interrupted_trial_runs_again(tmp_path, repo_root):
    import optuna

    from ltm.config import load_config
    from ltm.sweep import storage_url, study_name

    config_path = _write_config(tmp_path, repo_root, trials=0)
    log = tmp_path / "first.log"
    process = _sweep_process(config_path, log)
    deadline = time.time() + 600
    while time.time() < deadline and process.poll() is None and "trial 0 (" not in log.read_text():
        time.sleep(0.2)
    time.sleep(1.0)  # into the second trial
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 130
    assert "run the same command again to resume" in log.read_text()
    assert "Traceback" not in log.read_text()

    resumed = _sweep_process(config_path, tmp_path / "second.log")
    assert resumed.wait(timeout=900) == 0, (tmp_path / "second.log").read_text()[-3000:]
    config = load_config(config_path)
    study = optuna.load_study(study_name=study_name(config), storage=storage_url(config))
    done = sorted((t.user_attrs["corpus"], t.user_attrs["seed"]) for t in study.get_trials()
                  if t.state == optuna.trial.TrialState.COMPLETE)
    assert done == [("transitive_relations", 0), ("transitive_relations", 1), ("weather_log", 0)]


def test_proxy_stage_ranks_every_corpus_cheaply_then_the_top_k_at_full_budget(tmp_path, repo_root, capsys):
    import json

    import optuna

    from ltm.config import load_config
    from ltm.sweep import run_sweep, storage_url, study_name

    path = _write_config(tmp_path, repo_root, trials=0, seeds=(0,))
    path.write_text(path.read_text().replace("  top_k: 2\n", "  top_k: 2\n  proxy_steps: 2\n"))
    config = load_config(path)
    csv_path = run_sweep(config, track=False)
    study = optuna.load_study(study_name=study_name(config), storage=storage_url(config))
    trials = study.get_trials()
    assert [bool(t.user_attrs.get("proxy")) for t in trials] == [True, True, False, False]
    assert sorted(t.user_attrs["corpus"] for t in trials[2:]) == ["transitive_relations", "weather_log"]
    adapters = {t.user_attrs["adapter"] for t in trials}
    steps = sorted(json.loads((Path(a) / "manifest.json").read_text())["steps"] for a in adapters)
    assert steps == [2, 2, 8, 8]
    check = json.loads((csv_path.parent / "proxy_check.json").read_text())
    assert check["corpora"] == ["transitive_relations", "weather_log"]
    assert "proxy check: Spearman" in capsys.readouterr().out


def test_sweep_merges_the_top_adapters_and_ranks_each_merge_beside_its_members(tmp_path, repo_root):
    from ltm.config import load_config
    from ltm.sweep import run_sweep

    path = _write_config(tmp_path, repo_root, trials=0, seeds=(0,))
    path.write_text(path.read_text() + "  merges: [cat, ties]\n")
    csv_path = run_sweep(load_config(path), track=False)
    rows = {r["row"]: r for r in csv.DictReader(csv_path.open())}
    merged = [r for r in rows.values() if r["merge_method"]]
    assert sorted(r["merge_method"] for r in merged) == ["cat", "ties"]
    for row in merged:
        members = row["merge_members"].split(";")
        assert len(members) == 2 and all(m in rows for m in members)
        assert all(f"{m} " in row["merge_vs_members"] for m in members)
        assert row["rank"], "a merge is a candidate of the ranking"
