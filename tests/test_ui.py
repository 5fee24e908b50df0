"""`ltm ui` runs a real MLflow server on 127.0.0.1 over the project's store."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from helpers import free_port

pytestmark = pytest.mark.slow


def test_ui_serves_health_and_the_experiment(tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text(f"name: uitest\nruns_dir: {tmp_path / 'runs'}\n")
    port = free_port()
    ltm = os.path.join(os.path.dirname(sys.executable), "ltm")
    process = subprocess.Popen([ltm, "ui", "--config", str(config), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        line = ""
        deadline = time.monotonic() + 90
        while "MLflow UI" not in line and time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line or process.poll() is None, "ltm ui exited early"
        assert f"http://127.0.0.1:{port}" in line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            assert response.status == 200
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=uitest"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert json.load(response)["experiment"]["name"] == "uitest"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid`, read from /proc (no psutil needed)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is gone, only not yet reaped
    except OSError:
        return False


def _ignore_sigint() -> None:
    # What a script's `ltm ui &` gets: a background job without job control starts with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["SIGTERM", "SIGINT", "SIGHUP"])
def test_ui_stopped_by_a_signal_stops_the_whole_server(tmp_path, signum):
    """No terminal, stdin closed: a signal to `ltm ui` alone (not to its group) stops the mlflow
    server and all its workers, which run in their own process group."""
    config = tmp_path / "exp.yaml"
    config.write_text(f"name: uisignal\nruns_dir: {tmp_path / 'runs'}\n")
    port = free_port()
    ltm = os.path.join(os.path.dirname(sys.executable), "ltm")
    process = subprocess.Popen([ltm, "ui", "--config", str(config), "--port", str(port)], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                               preexec_fn=_ignore_sigint)
    server: set[int] = set()
    try:
        line, deadline = "", time.monotonic() + 120
        while "MLflow UI" not in line and time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line or process.poll() is None, "ltm ui exited early"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            assert response.status == 200
        server = _descendants(process.pid)
        assert server, "ltm ui runs no mlflow server"
        os.kill(process.pid, signum)
        process.wait(timeout=60)
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
        left = sorted(pid for pid in server if _alive(pid))
        assert not left, f"server processes still running after {signum.name}: {left}"
    finally:
        for pid in server:  # never leak a server into the rest of the session, whatever failed above
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _start_ui(config, port: int) -> tuple[subprocess.Popen, str]:
    """`ltm ui` running; returns the process and the URL it prints."""
    ltm = os.path.join(os.path.dirname(sys.executable), "ltm")
    process = subprocess.Popen([ltm, "ui", "--config", str(config), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    line, deadline = "", time.monotonic() + 90
    while "MLflow UI" not in line and time.monotonic() < deadline:
        line = process.stdout.readline()
        assert line or process.poll() is None, "ltm ui exited early"
    return process, line.split("MLflow UI:", 1)[1].split()[0]


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _chromium() -> str | None:
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_ui_lists_the_sweeps_runs_over_rest_and_in_a_browser(tmp_path, repo_root):
    from ltm.config import load_config
    from ltm.sweep import run_sweep

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "s.yaml").write_text("scenes:\n  - id: d1\n    kind: choice\n    measure: depth\n    steps: 2\n"
                                   "    context: Anna is taller than Ben. Ben is taller than Carl.\n    prompt: So\n"
                                   "    choices: [Anna is taller than Carl., Carl is taller than Anna.]\n"
                                   "    answer: Anna is taller than Carl.\n")
    config_path = tmp_path / "exp.yaml"
    config_path.write_text(f"name: uisweep\nruns_dir: {tmp_path / 'runs'}\nbase:\n  model: ltm-nano\ncorpora:\n"
                           f"  root: {repo_root / 'corpora'}\n  include: [weather_log, syllogisms]\n"
                           "training:\n  max_steps: 4\n  batch_size: 4\n"
                           f"testbench:\n  scenes: {scenes}\n  latency: false\nsweep:\n  trials: 0\n  seeds: [0]\n")
    run_sweep(load_config(config_path))
    port = free_port()
    process, printed = _start_ui(config_path, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=5) as response:
            assert response.status == 200
        with urllib.request.urlopen(f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=uisweep",
                                    timeout=5) as response:
            experiment_id = json.load(response)["experiment"]["experiment_id"]
        trials = _post(f"{base}/api/2.0/mlflow/runs/search",
                       {"experiment_ids": [experiment_id], "filter": "tags.`ltm.kind` = 'trial'"})["runs"]
        assert sorted(r["info"]["run_name"] for r in trials) == ["trial-0", "trial-1"]
        adapters = _post(f"{base}/api/2.0/mlflow/runs/search",
                         {"experiment_ids": [experiment_id], "filter": "tags.`ltm.kind` = 'adapter'"})["runs"]
        assert len(adapters) == 2
        # Each adapter's evaluation is a nested run of its training run; the base's is top-level.
        evals = _post(f"{base}/api/2.0/mlflow/runs/search",
                      {"experiment_ids": [experiment_id], "filter": "tags.`ltm.kind` = 'eval'"})["runs"]
        tags_of = {r["info"]["run_name"]: {t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in evals}
        training = {r["info"]["run_name"]: r["info"]["run_id"] for r in adapters}
        for name, run_id in training.items():
            mine = [t for t in tags_of.values() if t.get("ltm.row") == name]
            assert mine and all(t.get("mlflow.parentRunId") == run_id for t in mine), name
        assert all("mlflow.parentRunId" not in t for t in tags_of.values() if t.get("ltm.row") == "base")
        # ltm score's numbers are metrics of the eval runs: the columns of the runs table.
        scored = [r["info"]["run_name"] for r in evals
                  if {"composite", "delta_vs_base", "forgetting"} <= {m["key"] for m in r["data"].get("metrics", [])}]
        assert {tags_of[name]["ltm.row"] for name in scored} == {"base", *training}, scored

        browser = _chromium()
        if browser is None:
            pytest.skip("no Chromium: install Debian's `chromium` package for the browser check (.ci/run does)")
        shot = tmp_path / "experiment.png"
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chrome'}", "--window-size=1400,900", "--virtual-time-budget=20000"]
        # The page ltm ui prints: the runs table in model-training mode (not MLflow 3's GenAI
        # "Overview" of traces), with ltm score's numbers as columns.
        assert printed.startswith(f"{base}/#/experiments/{experiment_id}/runs"), printed
        dom = subprocess.run([browser, *flags, "--dump-dom", printed], capture_output=True, text=True, timeout=120).stdout
        subprocess.run([browser, *flags, f"--screenshot={shot}", printed], capture_output=True, timeout=120)
        assert shot.exists() and shot.stat().st_size > 10_000
        assert "Run Name" in dom, "the page shows no runs table"
        assert "Overview" not in dom, "the page is in GenAI mode (Overview of traces)"
        header = dom[dom.index("Run Name"):]
        for column in ("composite", "delta_vs_base", "forgetting"):
            assert f">{column}<" in header, f"no {column} column in the runs table"
        assert all(f">{name}<" in dom for name in scored), "the runs table does not list the scored evaluations"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
