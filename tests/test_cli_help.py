"""The command line says what it does: no command is a usage error, help matches the code, tables label what they show."""

from __future__ import annotations

import pytest

from ltm.cli import build_parser, main


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    out = capsys.readouterr()
    text = out.out + out.err
    assert "usage: ltm" in text and "overnight" in text


def test_overnight_help_says_what_the_main_job_runs():
    commands = build_parser()._subparsers._group_actions[0].choices
    help_text = commands["overnight"].format_help()
    line = next(a.help for a in build_parser()._subparsers._group_actions[0]._choices_actions if a.dest == "overnight")
    assert "same as sweep" not in line
    # the stages ltm/pipeline.py runs, in order
    for stage in ("base", "shelf", "corpora", "benchmark", "calibrat", "sweep", "ranking"):
        assert stage in help_text, stage


def test_corpora_table_without_tokens_names_no_tokenizer(repo_root, capsys):
    assert main(["corpora", str(repo_root / "corpora" / "syllogisms.txt"), "--no-tokens"]) == 0
    out = capsys.readouterr().out
    assert "syllogisms" in out
    assert "tokenizer" not in out and "tokens" not in out


def test_corpora_table_with_tokens_names_the_tokenizer(repo_root, capsys):
    assert main(["corpora", str(repo_root / "corpora" / "syllogisms.txt"), "--set", "base.model=ltm-nano"]) == 0
    out = capsys.readouterr().out
    assert "ltm-nano tokenizer" in out and "tokens" in out


@pytest.fixture(scope="module")
def nano_tokenizer():
    from ltm import basemodel

    return basemodel.load_tokenizer("ltm-nano")


def test_tokenizer_label_names_the_tokenizer_and_its_vocabulary(nano_tokenizer):
    from pathlib import Path

    from ltm.testbench.run import tokenizer_label

    label = tokenizer_label(nano_tokenizer)
    assert Path(nano_tokenizer.name_or_path).name in label  # bpe2048-<hash>: the name, not the class
    assert f"vocabulary {len(nano_tokenizer)}" in label
    assert "tokens" not in label  # "1864 tokens" read as a count of text tokens


def test_eval_table_explains_its_columns_and_the_dash(capsys):
    from ltm.testbench.run import print_table

    summaries = {"base": {"accuracy": 0.5, "margin": -0.07, "depth": 0.5, "depth_max_steps": 0, "ppl_general": 90.0,
                          "ppl_heldout": None},
                 "syllogisms-abc": {"accuracy": 0.7, "margin": 0.4, "depth": 0.8, "depth_max_steps": 3,
                                    "ppl_general": 95.0, "ppl_heldout": 12.0}}
    print_table(summaries)
    out = capsys.readouterr().out
    legend = out.split("syllogisms-abc", 1)[1]
    for column in ("margin", "depth_max_steps", "ppl_heldout", "ppl_general"):
        assert f"{column}:" in legend, column
    # What a dash in the table means: a legend line of its own (the rows' cells hold dashes too).
    assert "\n  — : not measured for this row" in legend
    assert "base" in legend.split("ppl_heldout:", 1)[1]  # why the base has no held-out perplexity
    from ltm.testbench.metrics import DEPTH_THRESHOLD

    assert f"≥ {DEPTH_THRESHOLD}" in legend  # the legend's threshold is the one summarize uses
