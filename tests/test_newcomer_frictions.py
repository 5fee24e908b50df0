"""Frictions a new user hit (issue 15): commands that disagreed on a flat corpora folder, an estimate
that hid its max_steps cap and the age of its calibration, a tiny corpus repeated silently, and
messages that told the wrong story (a missing path, a binary file, Ctrl-C)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ltm import corpora, recipe
from ltm.cli import main
from ltm.config import TrainingConfig
from ltm.errors import LtmError

ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56 + b"\x03\x00\x3e\x00"


def _config(tmp_path: Path, root: Path, model: str = "ltm-nano", extra: str = "") -> str:
    path = tmp_path / "exp.yaml"
    path.write_text(f"name: newcomer\nruns_dir: {tmp_path / 'runs'}\nbase:\n  model: {model}\n"
                    f"corpora:\n  root: {root}\n{extra}")
    return str(path)


def _listed(capsys, *args) -> list[str]:
    assert main(["corpora", "--no-tokens", "--json", *map(str, args)]) == 0
    return [row["corpus"] for row in json.loads(capsys.readouterr().out)["corpora"]]


def _flat(tmp_path: Path) -> Path:
    root = tmp_path / "mine"
    root.mkdir()
    for name in ("alpha", "beta", "gamma"):
        (root / f"{name}.txt").write_text(f"The {name} text. " * 20)
    return root


def _shelf(tmp_path: Path) -> Path:
    root = tmp_path / "shelf"
    (root / "novel").mkdir(parents=True)
    (root / "novel" / "ch1.txt").write_text("Chapter one. " * 20)
    (root / "novel" / "ch2.txt").write_text("Chapter two. " * 20)
    (root / "notes.md").write_text("Some notes. " * 20)
    (root / "README.md").write_text("about this shelf")
    return root


# ----------------------------------------------------------------------------- 1. one rule for a root
@pytest.mark.parametrize("layout", [_flat, _shelf])
def test_ltm_corpora_lists_the_corpora_that_train_estimate_and_the_sweep_select(tmp_path, capsys, layout):
    root = layout(tmp_path)
    selected = [p.stem if p.is_file() else p.name for p in corpora.select(root, [])]
    config = _config(tmp_path, root)
    assert _listed(capsys, "--config", config) == selected        # the configured root
    assert _listed(capsys, "--config", config, root) == selected  # the same folder named on the command line
    assert corpora.discover([root], root=root) == corpora.select(root, [])


def test_a_flat_root_is_one_corpus_per_file(tmp_path):
    assert [p.name for p in corpora.corpora_of(_flat(tmp_path))] == ["alpha.txt", "beta.txt", "gamma.txt"]


def test_a_book_folder_named_on_the_command_line_is_still_one_corpus(tmp_path, capsys):
    root = _shelf(tmp_path)
    assert _listed(capsys, "--config", _config(tmp_path, root), root / "novel") == ["novel"]


# ----------------------------------------------------------------------------- 2. estimate
def _card_config(tmp_path, repo_root, extra: str = "") -> str:
    path = tmp_path / "card.yaml"
    path.write_text(
        f"name: card\nruns_dir: {tmp_path / 'runs'}\nbase:\n  model: Qwen/Qwen2.5-7B-Instruct\n  dtype: bf16\n"
        f"corpora:\n  root: {repo_root / 'corpora'}\n"
        f"training:\n  max_length: 2048\n  batch_size: 8\n  grad_accum: 2\n{extra}"
        f"testbench:\n  scenes: {repo_root / 'scenes'}\n")
    return str(path)


def test_the_page_table_says_where_max_steps_caps_training(tmp_path, repo_root, capsys):
    code = main(["estimate", "--config", _card_config(tmp_path, repo_root, "  max_steps: 10\n"), "syllogisms",
                 "--pages", "1", "1000"])
    out = capsys.readouterr().out
    assert code == 0, out
    table = out[out.index("   pages "):].splitlines()
    assert "passes" in table[0]
    one, thousand = table[1], table[2]
    # 1 page is one sequence: 10 steps repeat it 10 times; 1,000 pages are 318 sequences, 20 steps a pass
    assert one.split()[0] == "1" and one.split()[2:4] == ["10", "10"] and "!" in one, one
    assert thousand.split()[0] == "1000" and thousand.split()[2:4] == ["10", "0.50"] and "*" in thousand, thousand
    assert "* capped by training.max_steps=10: training stops before one full pass" in out
    assert "! training.max_steps=10 repeats the text more than 5 times" in out


def test_non_positive_page_counts_are_one_error(tmp_path, repo_root, capsys):
    code = main(["estimate", "--config", _card_config(tmp_path, repo_root), "syllogisms", "--pages", "0", "-5"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--pages" in err and "above 0" in err, err


def test_estimate_caches_its_calibrations_under_runs_dir_and_prints_when_they_were_measured(tmp_path, repo_root, capsys):
    from ltm import estimate, estimate_eval
    from ltm.config import load_config

    config_path = _config(tmp_path, repo_root / "corpora",
                          extra=f"training:\n  batch_size: 8\n  max_steps: 40\ntestbench:\n  scenes: {repo_root / 'scenes'}\n")
    config = load_config(config_path)
    runs = tmp_path / "runs"
    train_path, eval_path = estimate.calibration_path(config), estimate_eval.calibration_path(config)
    assert train_path.is_relative_to(runs) and eval_path.is_relative_to(runs)
    machine = estimate.machine_id()
    train_path.parent.mkdir(parents=True, exist_ok=True)
    train_path.write_text(json.dumps({"machine": machine, "seconds_per_step": 0.5, "startup_seconds": 1.0,
                                      "tokens_per_step": 4096, "tokens_per_second": 8192.0,
                                      "measured": "2024-03-05T06:07:08"}))
    eval_path.write_text(json.dumps({"machine": machine, "seconds_per_choice_item": 0.01, "seconds_per_generated_item": 0.2,
                                     "seconds_per_perplexity_token": 0.0001, "seconds_per_load": 1.0, "new_tokens": 64,
                                     "measured": "2024-03-06T01:02:03"}))
    assert main(["estimate", "--config", config_path, "syllogisms"]) == 0
    out = capsys.readouterr().out
    host = machine.split("|")[0]
    head = out.splitlines()[0]
    assert "measured 8,192 tokens/s" in head and "2024-03-05 06:07" in head and host in head and "cached" in head, head
    evaluation = next(line for line in out.splitlines() if line.startswith("evaluation, measured"))
    assert "2024-03-06 01:02" in evaluation, evaluation


# ----------------------------------------------------------------------------- 4. a tiny corpus repeated
def _training(**changes) -> TrainingConfig:
    training = TrainingConfig(max_length=512, batch_size=8, grad_accum=1, epochs=2)
    for key, value in changes.items():
        setattr(training, key, value)
    return training


def test_passes_count_what_the_trainer_really_runs_on_a_tiny_corpus():
    # 2 sequences at batch 8: one short batch per epoch, so each optimizer step is one pass
    assert recipe.plan(2, _training(max_steps=20), world=1).passes == 20


def test_max_steps_that_repeat_a_tiny_corpus_many_times_warn_in_one_line():
    warning = recipe.plan(2, _training(max_steps=20), world=1).repeat_warning("tiny", pages=1.35)
    assert warning is not None and "\n" not in warning
    assert "tiny" in warning and "1.35 pages" in warning and "20 passes" in warning
    assert "training.max_steps" in warning and "add text" in warning
    assert recipe.plan(2, _training(), world=1).repeat_warning("tiny", pages=1.35) is None  # epochs as asked
    assert recipe.plan(400, _training(max_steps=200), world=1).repeat_warning("big", pages=300) is None  # 4 passes


def test_the_tokens_trained_line_explains_itself():
    from ltm.train import tokens_text

    manifest = {"tokens_per_epoch": 2541, "tokens_seen": 50820, "epochs": 20.0}
    assert tokens_text(manifest) == "2,541 tokens per epoch × 20 epochs = 50,820 tokens trained"
    assert tokens_text({"tokens_per_epoch": 1000, "tokens_seen": 480, "epochs": 0.48}) == \
        "1,000 tokens per epoch × 0.48 epochs = 480 tokens trained (48 % of the corpus)"


@pytest.mark.slow
def test_training_a_tiny_corpus_many_passes_warns_naming_it(nano_config, tmp_path, capsys):
    from ltm import train

    tiny = tmp_path / "tiny.txt"
    tiny.write_text("Anna is taller than Ben. Ben is taller than Carl. So Anna is taller than Carl.\n\n" * 8)
    nano_config.training.max_steps = 8
    train.train(nano_config, [str(tiny)], track=False)
    err = capsys.readouterr().err
    line = next((line for line in err.splitlines() if "passes" in line), "")
    assert line.startswith("warning: tiny") and "8 passes" in line and "training.max_steps" in line, err


# ----------------------------------------------------------------------------- 5. messages that tell the truth
def test_a_missing_path_is_no_such_file_not_missing_from_the_shelf(tmp_path, repo_root):
    for name in ("/nope/book.txt", "book.txt", "sub/book"):
        with pytest.raises(LtmError, match="no such file") as caught:
            corpora.resolve(repo_root / "corpora", [name])
        assert name in str(caught.value) and "is not in" not in str(caught.value)
    with pytest.raises(LtmError, match="did you mean 'syllogisms'"):  # a plain name is still a corpus name
        corpora.resolve(repo_root / "corpora", ["sylogisms"])


def test_cli_train_on_a_missing_path_says_no_such_file(tmp_path, repo_root, capsys):
    assert main(["train", "/nope/book.txt", "--config", _config(tmp_path, repo_root / "corpora"), "--no-mlflow"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/nope/book.txt: no such file" in err, err


@pytest.mark.parametrize("name, data, what", [
    ("tool", ELF, "ELF"), ("tool.so", ELF, "ELF"), ("photo.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64, "JPEG"),
    ("report.docx", b"PK\x03\x04" + b"\x00" * 64, "zip"), ("data.bin", b"\x00\x01\x02\x03" * 64, "NUL"),
])
def test_a_binary_file_is_skipped_as_binary_without_rename_advice(tmp_path, name, data, what):
    path = tmp_path / name
    path.write_bytes(data)
    record, text = corpora.read_file(path)
    assert text == "" and "binary" in record.skipped and what in record.skipped, record.skipped
    assert "rename" not in record.skipped


def test_a_text_file_of_an_unknown_type_still_gets_the_rename_advice(tmp_path):
    path = tmp_path / "notes.xyz"
    path.write_text("Plain words in a file with an odd suffix.")
    record, _ = corpora.read_file(path)
    assert "rename it .txt or .md" in record.skipped


def test_ctrl_c_says_what_is_kept_and_that_an_unfinished_training_restarts(monkeypatch, capsys):
    import ltm.cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(ltm.cli, "cmd_corpora", interrupted)
    assert main(["corpora"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    # no checkpoint is kept mid-training (save_strategy="no"): the message must not promise one
    assert "finished adapters and results are kept" in err and "unfinished training starts again from its first step" in err


def test_cli_estimate_rejects_pages_before_loading_anything(tmp_path, repo_root, capsys, monkeypatch):
    from ltm import estimate

    monkeypatch.setattr(estimate, "local_base", lambda config: pytest.fail("loaded the base before checking --pages"))
    assert main(["estimate", "--config", _card_config(tmp_path, repo_root), "--pages", "-1"]) == 2
    assert re.search(r"--pages -1: .*above 0", capsys.readouterr().err)
