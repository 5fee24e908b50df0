"""`ltm fork`: the KV-cache decode equals greedy generation, the latency model adds up, and a
person drives it through a real terminal (tmux send-keys / capture-pane)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROMPT = "Anna is taller than Ben. Ben is taller than Carl. So"


def test_with_no_forks_the_session_writes_what_greedy_generation_writes(nano_config, tmp_path, capsys):
    import torch

    from ltm import basemodel
    from ltm.fork import run_fork

    nano_config.runs_dir = str(tmp_path / "runs")
    nano_config.fork.threshold = 0.0  # never a fork: the model alone
    nano_config.fork.max_new_tokens = 10
    summary = run_fork(nano_config, PROMPT, selector="top1", track=False)
    ref = basemodel.resolve("ltm-nano")
    model, tokenizer = basemodel.load_model(ref), basemodel.load_tokenizer("ltm-nano")
    ids = torch.tensor([tokenizer.encode(PROMPT)])
    greedy = model.generate(ids, max_new_tokens=10, do_sample=False, attention_mask=torch.ones_like(ids))
    expected = tokenizer.decode(greedy[0, ids.shape[1]:])
    assert summary["text"] == PROMPT + expected
    assert summary["forks"] == 0 and summary["model_ms_per_token"] > 0
    assert "model alone, per token" in capsys.readouterr().out


def test_the_latency_model_adds_up_from_the_timed_steps():
    from ltm.fork import Step, latency_summary

    steps = [Step(0, True, 0.3, 1.0, token_ms=50.0, cloud_ms=1.0, select_ms=200.0, how="pick"),
             Step(1, False, 0.9, 0.1, token_ms=10.0),
             Step(2, True, 0.2, 2.0, token_ms=12.0, cloud_ms=1.0, select_ms=400.0, how="accept"),
             Step(3, False, 0.8, 0.2, token_ms=14.0)]
    s = latency_summary(50.0, 7, steps)
    assert s["model_ms_per_token"] == pytest.approx(12.0)            # steps 1..3; step 0 came from the prefill
    assert s["select_ms"] == pytest.approx(300.0) and s["cloud_ms"] == pytest.approx(1.0)
    assert s["every_step_ms_per_token"] == pytest.approx(12.0 + 1.0 + 300.0)
    assert s["forks_only_ms_per_token"] == pytest.approx(12.0 + (2.0 + 600.0) / 4)
    assert s["total_ms"] == pytest.approx(50.0 + 36.0 + 602.0)
    assert s["fork_share"] == 0.5 and s["forks"] == 2 and s["steps"] == 4


def _pane(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session, "-S", "-200"], capture_output=True,
                          text=True, check=True).stdout


def _wait(session: str, text: str, count: int = 1, timeout: float = 180.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pane = _pane(session)
        if pane.count(text) >= count:
            return pane
        time.sleep(0.3)
    raise AssertionError(f"{text!r} (x{count}) never appeared in the terminal:\n{_pane(session)}")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (Debian package tmux)")
def test_a_person_picks_accepts_and_types_at_forks_in_a_real_terminal(tmp_path, repo_root):
    runs = tmp_path / "runs"
    config = tmp_path / "exp.yaml"
    config.write_text(f"runs_dir: {runs}\nbase:\n  model: ltm-nano\nfork:\n  threshold: 1.0\n  top_k: 3\n")
    ltm = Path(sys.executable).with_name("ltm")
    session = f"ltm-fork-{time.monotonic_ns()}"
    command = (f"HF_HUB_OFFLINE=1 {ltm} fork --config {config} --prompt '{PROMPT}' --max-new-tokens 5 --no-mlflow; "
               "echo FORK-EXIT=$?; sleep 600")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "220", "-y", "60", command], check=True)
    try:
        marker = "Enter top"
        _wait(session, marker, 1)
        subprocess.run(["tmux", "send-keys", "-t", session, "2"], check=True)          # pick the second candidate
        _wait(session, marker, 2)
        subprocess.run(["tmux", "send-keys", "-t", session, "Enter"], check=True)      # take the top one
        _wait(session, marker, 3)
        subprocess.run(["tmux", "send-keys", "-t", session, "x"], check=True)          # not a key: ignored
        subprocess.run(["tmux", "send-keys", "-t", session, "t"], check=True)          # type my own text
        _wait(session, "your text:")
        subprocess.run(["tmux", "send-keys", "-t", session, "-l", " Carl"], check=True)
        subprocess.run(["tmux", "send-keys", "-t", session, "Enter"], check=True)
        _wait(session, marker, 4)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)          # stop
        pane = _wait(session, "FORK-EXIT=")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert "FORK-EXIT=0" in pane, pane
    assert "a person at forks only, per token" in pane and "forks: 3 of 3 steps" in pane
    transcripts = list((runs / "forks").glob("*-human.jsonl"))
    assert len(transcripts) == 1
    lines = [json.loads(line) for line in transcripts[0].read_text().splitlines()]
    steps = [line["step"] for line in lines if "step" in line]
    assert [s["how"] for s in steps] == ["pick", "accept", "typed", "stop"]
    assert steps[0]["chosen"] == steps[0]["candidates"][1][0]
    assert steps[1]["chosen"] == steps[1]["candidates"][0][0]
    assert steps[2]["chosen"] == " Carl"
    assert all(len(s["candidates"]) == 3 and s["select_ms"] > 0 for s in steps)
    final = lines[-1]
    assert final["text"].startswith(PROMPT) and " Carl" in final["text"]
    assert final["summary"]["forks"] == 3 and final["summary"]["steps"] == 3
    assert final["summary"]["select_ms"] > 0
