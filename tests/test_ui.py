"""`ltm ui` runs a real MLflow server on 127.0.0.1 over the project's store."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ui_serves_health_and_the_experiment(tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text(f"name: uitest\nruns_dir: {tmp_path / 'runs'}\n")
    port = _free_port()
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
