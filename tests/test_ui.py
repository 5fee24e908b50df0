"""`ltm ui` runs a real MLflow server on 127.0.0.1 over the project's store."""

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


def _start_ui(config, port: int) -> subprocess.Popen:
    ltm = os.path.join(os.path.dirname(sys.executable), "ltm")
    process = subprocess.Popen([ltm, "ui", "--config", str(config), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    line, deadline = "", time.monotonic() + 90
    while "MLflow UI" not in line and time.monotonic() < deadline:
        line = process.stdout.readline()
        assert line or process.poll() is None, "ltm ui exited early"
    return process


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
    process = _start_ui(config_path, port)
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

        browser = _chromium()
        if browser is None:
            pytest.skip("no Chromium: install Debian's `chromium` package for the browser check (.ci/run does)")
        shot = tmp_path / "experiment.png"
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chrome'}", "--window-size=1400,900", "--virtual-time-budget=20000"]
        page = f"{base}/#/experiments/{experiment_id}/runs"
        dom = subprocess.run([browser, *flags, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
        subprocess.run([browser, *flags, f"--screenshot={shot}", page], capture_output=True, timeout=120)
        assert shot.exists() and shot.stat().st_size > 10_000
        adapter_names = [r["info"]["run_name"] for r in adapters]
        assert all(name in dom for name in adapter_names), "the experiment page does not list the adapters' runs"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
