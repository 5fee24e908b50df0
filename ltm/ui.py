"""`ltm ui`: the MLflow UI over the project's tracking store, on 127.0.0.1 by default.

People compare adapters in the MLflow UI. We start the real `mlflow server` on the same
SQLite store and artifact folder that training writes to, print the URL, and stop the
server cleanly on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from . import tracking
from .errors import LtmError


def server_command(config, host: str, port: int) -> list[str]:
    uri = tracking.tracking_uri(config)
    if uri.startswith("http"):
        raise LtmError(f"tracking.uri is a server already ({uri}) — open it in a browser instead of `ltm ui`")
    tracking.client(config)  # creates the store and experiment, so the UI is never empty-and-broken
    mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")
    return [mlflow if os.path.exists(mlflow) else "mlflow", "server", "--backend-store-uri", uri,
            "--default-artifact-root", tracking.artifact_root(config), "--host", host, "--port", str(port),
            "--workers", "1"]


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LtmError(f"mlflow server exited with code {process.returncode} — is port {url.rsplit(':', 1)[-1]} in use? try --port")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise LtmError(f"mlflow server did not answer {url}/health within {timeout:.0f} s")


def serve(config, host: str = "127.0.0.1", port: int = 5000) -> int:
    process = subprocess.Popen(server_command(config, host, port), start_new_session=True)
    url = f"http://{host}:{port}"
    try:
        wait_healthy(url, process)
        print(f"MLflow UI: {url}  (experiment {tracking.experiment_name(config)!r}; Ctrl-C stops it)", flush=True)
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
