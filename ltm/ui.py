"""`ltm ui`: the MLflow UI over the project's tracking store, on 127.0.0.1 by default.

People compare adapters in the MLflow UI. We start the real `mlflow server` on the same
SQLite store and artifact folder that training writes to, print the URL, and stop the
server and all its workers (its own process group) on Ctrl-C, SIGTERM or SIGHUP,
and when ltm ui exits any other way (atexit).
"""

from __future__ import annotations

import atexit
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


class _Stopped(Exception):
    """A stop signal arrived (SIGTERM, SIGINT, SIGHUP)."""


def _live_members(group: int) -> bool:
    """Whether any process of `group` is still running (zombies are gone, only not yet reaped)."""
    if not os.path.isdir("/proc"):
        try:
            os.killpg(group, 0)
            return True
        except OSError:
            return False
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def stop_server(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """Stop the server's whole process group (uvicorn and the job workers, not only `mlflow
    server`) and wait until none of it runs; SIGKILL what is left after `timeout`."""
    group = process.pid  # start_new_session: the server leads its own group
    for signum, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(group, signum)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process.poll() is not None and not _live_members(group):
                return
            time.sleep(0.2)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def serve(config, host: str = "127.0.0.1", port: int = 5000) -> int:
    command = server_command(config, host, port)
    page = tracking.runs_page(config)  # the runs table in model-training mode, ranked by composite
    process = subprocess.Popen(command, start_new_session=True, stdin=subprocess.DEVNULL)
    atexit.register(stop_server, process)  # ltm ui ending any other way still stops its server

    def stop(signum, _frame):
        raise _Stopped(signum)

    # SIGINT too: started in the background without a terminal, ltm ui inherits SIGINT ignored.
    # SIGHUP only when not ignored (nohup ltm ui must outlive its terminal).
    stops = [signal.SIGTERM, signal.SIGINT]
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        stops.append(signal.SIGHUP)
    previous = {signum: signal.signal(signum, stop) for signum in stops}
    url = f"http://{host}:{port}"
    try:
        wait_healthy(url, process)
        print(f"MLflow UI: {url}/{page}  (experiment {tracking.experiment_name(config)!r}; Ctrl-C stops it)", flush=True)
        return process.wait()
    except (KeyboardInterrupt, _Stopped):
        return 0
    finally:
        for signum in stops:  # a second signal must not cut the stopping short
            signal.signal(signum, signal.SIG_IGN)
        stop_server(process)
        atexit.unregister(stop_server)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
