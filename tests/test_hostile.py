"""Hostile inputs, through the real `ltm` CLI: one line naming the file/key and the fix, no traceback,
nothing finished lost, no partial file that looks complete. docs/reliability.md lists every case."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import CHOICE_SCENES, mlflow_server

from ltm.cli import main

SCENE = ("  - id: {id}\n    kind: choice\n    context: Anna is taller than Ben.\n    prompt: So\n"
         "    choices: [Anna is taller., Ben is taller.]\n    answer: Anna is taller.\n")


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


PROGRESS = re.compile(r"^(training|building|evaluating) .* ETA \d+s$"  # progress lines on a non-TTY stderr
                      r"|^downloading .* into the Hugging Face cache$")


def one_error(err: str, *needles: str) -> str:
    """The one error line; progress lines and warnings printed before the failure (e.g. the
    too-few-steps warning of these short trainings) are not part of it."""
    lines = [line for line in err.splitlines()
             if line.strip() and not PROGRESS.match(line) and not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    print("OBSERVED", lines[0], file=sys.__stderr__)  # `pytest -s` shows every message; docs/reliability.md quotes them
    return lines[0]


def warning(err: str, *needles: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert lines, err
    for needle in needles:
        assert any(needle in line for line in lines), (needle, lines)
    print("OBSERVED", *lines, sep="\n  ", file=sys.__stderr__)
    return lines[0]


def _config(tmp_path: Path, repo_root: Path, extra: str = "", corpora: Path | None = None) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(f"runs_dir: {tmp_path / 'runs'}\nbase:\n  model: ltm-nano\ncorpora:\n  root: {corpora or repo_root / 'corpora'}\n"
                    f"training:\n  max_steps: 4\n  batch_size: 4\n{extra}")
    return path


# ----------------------------------------------------------------------------- corpora
def test_empty_and_zero_byte_files_are_skipped_with_a_warning(tmp_path, capsys):
    (tmp_path / "zero.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_text("  \n\n \t\n")
    for name in ("zero.txt", "blank.txt"):
        code, _, err = cli(capsys, "corpora", "--no-tokens", tmp_path / name)
        assert code == 0
        warning(err, str(tmp_path / name), "empty file")


def test_training_on_an_empty_corpus_is_one_error(tmp_path, repo_root, capsys):
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "empty.txt").write_bytes(b"")
    code, _, err = cli(capsys, "train", "empty", "--config", _config(tmp_path, repo_root, corpora=shelf), "--no-mlflow")
    assert code == 2
    one_error(err, "empty.txt", "no readable text")


def test_a_pdf_renamed_txt_is_skipped_as_binary(tmp_path, capsys):
    fake = tmp_path / "notes.txt"
    fake.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 5 >>\x00\x00stream\x01\x02")
    code, _, err = cli(capsys, "corpora", "--no-tokens", fake)
    assert code == 0
    warning(err, "notes.txt", "binary file skipped", "PDF")


def _peak_rss_mib(*args: str) -> tuple[int, str, str]:
    """Run `python -m ltm.cli ARGS` under a fresh parent, so ru_maxrss is that one process's peak."""
    probe = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "sys.stdout.write(done.stdout); sys.stderr.write(done.stderr); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, file=sys.stderr); "
             "sys.exit(done.returncode)")
    done = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "ltm.cli", *args],
                          capture_output=True, text=True, timeout=600)
    *err, peak = done.stderr.rstrip("\n").split("\n")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    return int(peak), done.stdout, "\n".join(err)


def test_a_200_mb_single_line_file_reads_with_bounded_memory(tmp_path):
    big, small = tmp_path / "dump.txt", tmp_path / "small.txt"
    small.write_text("word " * 10)
    block = ("word " * 200_000).encode()  # 1 MB, no newline anywhere
    with big.open("wb") as handle:
        for _ in range(200):
            handle.write(block)
    baseline, _, _ = _peak_rss_mib("corpora", "--no-tokens", "--json", str(small))
    peak, out, _ = _peak_rss_mib("corpora", "--no-tokens", "--json", str(big))
    row = json.loads(out)["corpora"][0]
    assert row["words"] == 40_000_000 and row["chars"] == 200_000_000 - 1  # the trailing space is stripped
    print(f"OBSERVED peak RSS {peak} MiB for 200 MB (a 50-byte file: {baseline} MiB)")
    assert peak < 1500, f"peak RSS {peak} MiB for a 200 MB file"
    assert peak - baseline < 256, f"reading is not streaming: {peak - baseline} MiB more than for a tiny file"


def test_mixed_encodings_in_one_folder_are_each_decoded(tmp_path, capsys):
    book = tmp_path / "book"
    book.mkdir()
    (book / "01.txt").write_text("Привет, мир. Hello.", encoding="utf-8")
    (book / "02.txt").write_bytes("Это глава вторая, написанная в cp1251.".encode("cp1251"))
    (book / "03.txt").write_bytes("Третья глава в кодировке koi8-r, и ещё немного текста.".encode("koi8-r"))
    code, out, _ = cli(capsys, "corpora", "--no-tokens", "--json", book)
    assert code == 0
    row = json.loads(out)["corpora"][0]
    assert {"utf-8", "cp1251", "koi8-r"} <= set(row["encodings"]), row["encodings"]


def test_mojibake_is_repaired_and_reported(tmp_path, capsys):
    broken = "Но я думаю, что всё будет хорошо.".encode().decode("mac_roman")
    path = tmp_path / "chat.txt"
    path.write_text(broken, encoding="utf-8")
    code, out, _ = cli(capsys, "corpora", "--no-tokens", "--json", path)
    assert code == 0
    row = json.loads(out)["corpora"][0]
    assert any("repaired" in e for e in row["encodings"]) and any("chat.txt" in w for w in row["warnings"])
    code, _, err = cli(capsys, "corpora", "--no-tokens", path)
    warning(err, "chat.txt", "repaired")


def test_a_symlink_loop_is_walked_once(tmp_path, capsys):
    book = tmp_path / "book"
    book.mkdir()
    (book / "a.txt").write_text("One chapter of text.")
    os.symlink(book, book / "again")
    code, out, _ = cli(capsys, "corpora", "--no-tokens", "--json", book)
    assert code == 0 and json.loads(out)["corpora"][0]["files"] == 1


def test_an_unreadable_file_is_skipped_with_the_reason(tmp_path, capsys):
    book = tmp_path / "book"
    book.mkdir()
    (book / "a.txt").write_text("Readable text here.")
    locked = book / "b.txt"
    locked.write_text("secret")
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # root reads anything: use a link to nowhere, which no one can read
        locked.chmod(0o644)
        locked.unlink()
        os.symlink(tmp_path / "gone.txt", locked)
    code, out, _ = cli(capsys, "corpora", "--no-tokens", "--json", book)
    assert code == 0
    row = json.loads(out)["corpora"][0]
    assert row["files"] == 1 and [Path(s["path"]).name for s in row["skipped_files"]] == ["b.txt"]
    code, _, err = cli(capsys, "corpora", "--no-tokens", book)
    warning(err, "b.txt", "permission denied" if locked.exists() else "missing file")


def test_paths_with_spaces_and_non_latin_letters(tmp_path, repo_root, capsys):
    shelf = tmp_path / "полка"
    book = shelf / "корпус с пробелами"
    book.mkdir(parents=True)
    (book / "глава 1.txt").write_text("Первая глава. Anna is taller than Ben. Ben is taller than Carl. " * 40)
    (book / "глава 2.txt").write_text("Вторая глава. Mia is older than Leo. " * 40)
    code, out, _ = cli(capsys, "corpora", "--no-tokens", "--json", book)
    assert code == 0
    row = json.loads(out)["corpora"][0]
    assert row["corpus"] == "корпус с пробелами" and row["files"] == 2
    code, _, err = cli(capsys, "train", "корпус с пробелами", "--config", _config(tmp_path, repo_root, corpora=shelf),
                       "--no-mlflow")
    assert code == 0, err
    [adapter] = _adapters(tmp_path)
    assert adapter.name.startswith("корпус с пробелами-") and (adapter / "manifest.json").exists()


# ----------------------------------------------------------------------------- configs
@pytest.mark.parametrize("body, needles", [
    ("training:\n  rnak: 8\n", ["exp.yaml:2", "training.rnak", "did you mean 'rank'"]),
    ("training:\n  rank: big\n", ["exp.yaml:2", "training.rank", "integer"]),
    ("training:\n  learning_rate: -0.001\n", ["exp.yaml:2", "training.learning_rate", "greater than 0"]),
    ("training:\n  rank: 0\n", ["exp.yaml:2", "training.rank", "at least 1"]),
], ids=["unknown-key", "wrong-type", "negative-lr", "rank-0"])
def test_bad_config_values_are_one_line_each(tmp_path, capsys, body, needles):
    config = tmp_path / "exp.yaml"
    config.write_text(body)
    code, _, err = cli(capsys, "train", "syllogisms", "--config", config)
    assert code == 2
    one_error(err, *needles)


def test_a_missing_base_model_folder(tmp_path, repo_root, capsys):
    config = tmp_path / "exp.yaml"
    config.write_text(f"runs_dir: {tmp_path}\nbase:\n  model: /no/such/model-folder\ncorpora:\n  root: {repo_root / 'corpora'}\n")
    code, _, err = cli(capsys, "train", "syllogisms", "--config", config)
    assert code == 2
    one_error(err, "exp.yaml:3", "base.model", "/no/such/model-folder", "fix the path")


def test_a_hub_id_while_offline_fails_fast(tmp_path, repo_root, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    # `ltm base ID` is the one command that downloads (also under HF_HUB_OFFLINE=1); with no
    # network, or no such model, it says so in one line, quickly
    code, _, err = cli(capsys, "base", "some-org/some-model-7b")
    assert code == 2 and time.monotonic() - started < 60
    one_error(err, "some-org/some-model-7b", "could not download", "local folder")
    config = tmp_path / "exp.yaml"
    config.write_text(f"runs_dir: {tmp_path / 'runs'}\nbase:\n  model: some-org/some-model\ncorpora:\n  root: {repo_root / 'corpora'}\n")
    started = time.monotonic()
    code, _, err = cli(capsys, "train", "syllogisms", "--config", config, "--no-mlflow")
    assert code == 2 and time.monotonic() - started < 30
    one_error(err, "some-org/some-model", "HF_HUB_OFFLINE=1", "`ltm base some-org/some-model`", "base.model")
    assert _adapters(tmp_path) == []


# ----------------------------------------------------------------------------- scenes
@pytest.mark.parametrize("text, needles", [
    ("scenes:\n  - id: a\n    kind: [choice\n", ["bad.yaml:", "invalid YAML"]),
    ("scenes:\n\t- id: a\n", ["bad.yaml:2", "tab"]),
    ("scenes:\n" + SCENE.format(id="a") + SCENE.format(id="a"), ["bad.yaml:8", "duplicate id 'a'"]),
    ("scenes:\n  - id: a\n    kind: choice\n    prompt: So\n    choices: [x, y]\n", ["bad.yaml:2", "missing answer"]),
    ("scenes:\n" + SCENE.format(id="a").replace("answer: Anna is taller.", "answer: Carl is taller."),
     ["bad.yaml:7", "not among the choices"]),
    ("scenes:\n" + SCENE.format(id="a") + "    follows: nowhere\n", ["bad.yaml:8", "unknown scene 'nowhere'"]),
], ids=["invalid-yaml", "tab", "duplicate-id", "missing-answer", "answer-not-a-choice", "unknown-chain"])
def test_bad_scene_files_are_one_line_with_file_and_line(tmp_path, repo_root, capsys, text, needles):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "bad.yaml").write_text(text)
    config = _config(tmp_path, repo_root, f"testbench:\n  scenes: {scenes}\n")
    code, _, err = cli(capsys, "eval", "--config", config, "--no-mlflow")
    assert code == 2
    one_error(err, *needles)


def test_a_10000_item_scene_file_loads_and_a_bad_item_in_it_is_found(tmp_path):
    from ltm.errors import LtmError
    from ltm.scenes import load_scenes

    items = "".join(SCENE.format(id=f"s{i}") for i in range(10_000))
    path = tmp_path / "big.yaml"
    path.write_text("scenes:\n" + items)
    started = time.monotonic()
    assert len(load_scenes(path).items) == 10_000
    print(f"10,000 items loaded in {time.monotonic() - started:.1f} s")
    path.write_text("scenes:\n" + items.replace("id: s9999\n", "id: s5\n"))
    with pytest.raises(LtmError, match=r"big.yaml:59996: scenes.9999.id: duplicate id 's5'"):
        load_scenes(path)


# ----------------------------------------------------------------------------- runtime
def _adapters(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "runs" / "adapters"
    return [p for p in folder.iterdir() if p.is_dir()] if folder.exists() else []


def test_nan_loss_stops_with_one_line_and_leaves_no_adapter(tmp_path, repo_root, capsys):
    config = _config(tmp_path, repo_root, "")
    code, _, err = cli(capsys, "train", "syllogisms", "--config", config, "--no-mlflow",
                       "--set", "training.learning_rate=1e12", "--set", "training.max_steps=30")
    assert code == 2
    one_error(err, "syllogisms", "loss became NaN/inf at step", "lower training.learning_rate")
    assert "30/30" not in err  # it stopped at the first NaN, not after the last step
    assert not any((p / "manifest.json").exists() for p in _adapters(tmp_path))


def test_out_of_memory_is_one_line_with_the_fix(tmp_path, repo_root, capsys, monkeypatch):
    import torch
    import transformers

    def oom(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(transformers.Trainer, "train", oom)
    code, _, err = cli(capsys, "train", "syllogisms", "--config", _config(tmp_path, repo_root), "--no-mlflow")
    assert code == 2
    one_error(err, "out of memory", "batch_size")
    assert _adapters(tmp_path) == []


@pytest.mark.parametrize("where", ["manifest", "weights"])
def test_disk_full_while_saving_an_adapter_keeps_nothing_half_written(tmp_path, repo_root, capsys, monkeypatch, where):
    import peft

    from ltm import atomic

    def full(*args, filename="adapter_model.safetensors", **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", filename)

    if where == "weights":
        monkeypatch.setattr(peft.PeftModel, "save_pretrained", full)
    else:
        real = atomic.write_json
        monkeypatch.setattr(atomic, "write_json",
                            lambda path, data: full(filename=str(path)) if Path(path).name == "manifest.json" else real(path, data))
    code, _, err = cli(capsys, "train", "syllogisms", "--config", _config(tmp_path, repo_root), "--no-mlflow")
    assert code == 2
    one_error(err, "no space left on device", "free disk space")
    assert _adapters(tmp_path) == []  # the temporary folder is gone, nothing looks complete
    left = [p.name for p in (tmp_path / "runs" / "adapters").iterdir() if not p.name.endswith(".lock")]
    assert left == []  # no hidden .tmp folder either (the empty .lock file is the per-adapter lock)


def test_the_mlflow_server_going_away_mid_run_costs_a_warning_not_the_adapter(tmp_path, repo_root):
    with mlflow_server(tmp_path) as (server, url):
        config = _config(tmp_path, repo_root, f"tracking:\n  uri: {url}\n")
        log = tmp_path / "train.log"
        train = subprocess.Popen([sys.executable, "-m", "ltm.cli", "train", "weather_log", "--config", str(config),
                                  "--set", "training.max_steps=60", "--set", "training.logging_steps=1"],
                                 stdout=log.open("w"), stderr=subprocess.STDOUT,
                                 env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 300
        while "training weather_log" not in log.read_text() and time.monotonic() < deadline and train.poll() is None:
            time.sleep(0.1)
        os.killpg(server.pid, signal.SIGKILL)  # the server dies in the middle of training
        assert train.wait(timeout=600) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "Traceback" not in text
    warnings = [line for line in text.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: MLflow logging failed"), warnings
    print("OBSERVED", warnings[0])
    assert [p for p in _adapters(tmp_path) if (p / "manifest.json").exists()], "the adapter was lost"


def test_a_benchmark_whose_data_cannot_be_read_stops_the_sweep_before_any_training(tmp_path, repo_root, capsys):
    """It used to train every trial and then fail in each one's evaluation."""
    from ltm.testbench.lmeval_bridge import task_yaml

    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "gone_task.yaml").write_text(task_yaml("gone_task", tmp_path / "moved-away.jsonl"))
    extra = (f"corpora:\n  root: {repo_root / 'corpora'}\n  include: [syllogisms]\n"
             f"testbench:\n  scenes: {repo_root / 'scenes'}\n  benchmarks: [gone_task]\n"
             f"  benchmark_include: [{tasks}]\nsweep:\n  trials: 0\n  seeds: [0]\n")
    config = tmp_path / "exp.yaml"
    config.write_text(f"runs_dir: {tmp_path / 'runs'}\nbase:\n  model: ltm-nano\n"
                      f"training:\n  max_steps: 4\n  batch_size: 4\n{extra}")
    code, _, err = cli(capsys, "overnight", "--config", config, "--no-mlflow")
    assert code == 2
    one_error(err, "gone_task", "moved-away.jsonl", "testbench.benchmarks")
    assert not list((tmp_path / "runs" / "adapters").glob("*/manifest.json"))


# ----------------------------------------------------------------------------- security
def test_yaml_tags_never_execute_in_configs_or_scenes(tmp_path, repo_root, capsys):
    marker = tmp_path / "pwned"
    evil = f"!!python/object/apply:os.system ['touch {marker}']"
    config = tmp_path / "evil.yaml"
    config.write_text(f"name: {evil}\n")
    code, _, err = cli(capsys, "train", "syllogisms", "--config", config)
    assert code == 2 and not marker.exists()
    one_error(err, "evil.yaml:1", "not allowed", "nothing was run")
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "evil.yaml").write_text(f"scenes:\n  - id: {evil}\n")
    code, _, err = cli(capsys, "eval", "--config", _config(tmp_path, repo_root, f"testbench:\n  scenes: {scenes}\n"),
                       "--no-mlflow")
    assert code == 2 and not marker.exists()
    one_error(err, "evil.yaml:2", "not allowed", "nothing was run")


def test_a_planted_api_key_never_reaches_mlflow_logs_or_tables(tmp_path, repo_root, capsys, monkeypatch):
    secret = "sk-planted-secret-123"
    monkeypatch.setenv("LTM_TEST_KEY", secret)
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "choice.yaml").write_text(CHOICE_SCENES)
    config = _config(tmp_path, repo_root, f"testbench:\n  scenes: {scenes}\n  latency: false\n  judge:\n"
                                          "    backend: openai\n    url: http://127.0.0.1:9/v1\n"
                                          "    model: judge\n    api_key_env: LTM_TEST_KEY\n")
    code, out, err = cli(capsys, "train", "weather_log", "--config", config)  # tracking on: sqlite in runs_dir
    assert code == 0, err
    code, out2, err2 = cli(capsys, "eval", "--config", config, "--run", "secret")
    assert code == 0, err2
    code, out3, err3 = cli(capsys, "score", "secret", "--config", config)
    assert code == 0, err3
    assert secret not in out + err + out2 + err2 + out3 + err3
    runs = tmp_path / "runs"
    for made in ("mlflow.db", "mlartifacts/*/artifacts/adapter/manifest.json", "mlartifacts/*/artifacts/transcripts/*.jsonl",
                 "adapters/*/manifest.json", "results/secret/*.jsonl", "results/secret/ltm_results_table.csv"):
        assert list(runs.glob(made)), made  # every kind of record was written, so the search below means something
    files = [p for p in runs.rglob("*") if p.is_file()]
    for path in files:
        assert secret.encode() not in path.read_bytes(), path
    print(f"OBSERVED secret absent from {len(files)} files under runs_dir")
