"""Several workers: two `ltm sweep` processes share one Optuna study in PostgreSQL and one MLflow server.

The test starts both servers itself on 127.0.0.1 (PostgreSQL from Debian's packages, which
`.ci/run` installs) and skips with a reason where it cannot.
"""

from __future__ import annotations

import csv
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import CHOICE_SCENES as SCENES
from helpers import free_port, mlflow_server

pytestmark = pytest.mark.slow

def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A throw-away PostgreSQL cluster on 127.0.0.1, run as the `postgres` system user."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (Debian package `postgresql`; .ci/run installs it)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip("psycopg2 missing: pip install 'ltm[postgres]'")
    run_as = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without `runuser`: cannot start PostgreSQL as another user")
        run_as = ["runuser", "-u", "postgres", "--"]
    # Not under pytest's tmp folder: its parents are private to root, and the server runs as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="ltm-pg-"))
    tempfile_dir = str(folder)
    data = folder / "data"
    if run_as:
        shutil.chown(folder, "postgres")
        os.chmod(folder, 0o700)
    port = free_port()
    init = subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
                          capture_output=True, text=True)
    if init.returncode != 0:
        pytest.skip(f"initdb failed: {init.stderr.strip()[:200]}")
    start = subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w",
                            "-o", f"-p {port} -k {tempfile_dir} -c listen_addresses=127.0.0.1", "start"],
                           capture_output=True, text=True)
    if start.returncode != 0:
        pytest.skip(f"PostgreSQL did not start: {start.stderr.strip()[:200]}")
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}", port, bindir
    finally:
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _createdb(bindir: Path, port: int, name: str) -> None:
    subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", name],
                   check=True, capture_output=True)


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as (_, url):
        yield url


def _config(folder: Path, repo_root: Path, storage: str, tracking: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    scenes = folder / "scenes"
    scenes.mkdir(exist_ok=True)
    (scenes / "s.yaml").write_text(SCENES)
    path = folder / "exp.yaml"
    path.write_text(f"""\
name: shared
runs_dir: {folder / 'runs'}
base:
  model: ltm-nano
corpora:
  root: {repo_root / 'corpora'}
  include: [transitive_relations, weather_log]
training:
  max_steps: 8
  batch_size: 8
testbench:
  scenes: {scenes}
  latency: false
  decoding:
    max_new_tokens: 4
scoring:
  bootstrap: 200
sweep:
  storage: {storage}
  trials: 2
  seeds: [0, 1]
  top_k: 2
  prune_margin: 1.0
  heartbeat_seconds: 1
  grace_seconds: 5
tracking:
  uri: {tracking}
  experiment: {folder.name}
""")
    return path


def _worker(config: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "ltm.cli", "sweep", "--config", str(config)],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)


def _rows(csv_path: Path) -> dict[str, str]:
    return {row["row"]: row["composite"] for row in csv.DictReader(csv_path.open())}


def test_two_workers_share_one_study_without_doing_anything_twice(tmp_path, repo_root, postgres, tracking_server):
    import optuna

    url, port, bindir = postgres
    _createdb(bindir, port, "shared")
    _createdb(bindir, port, "single")
    shared = _config(tmp_path / "two", repo_root, f"{url}/shared", tracking_server)
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    workers = [_worker(shared, log) for log in logs]
    for worker, log in zip(workers, logs, strict=True):
        assert worker.wait(timeout=1200) == 0, log.read_text()[-3000:]
    text = "".join(log.read_text() for log in logs)

    study = optuna.load_study(study_name="shared", storage=f"{url}/shared")
    trials = study.get_trials()
    assert len(trials) == 5 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials), \
        [(t.number, t.state) for t in trials]
    stage1 = sorted((t.user_attrs["corpus"], t.user_attrs["seed"]) for t in trials if t.user_attrs.get("stage") == 1)
    assert stage1 == [("transitive_relations", 0), ("transitive_relations", 1), ("weather_log", 0)]
    evaluated = re.findall(r"^trial (\d+) \(", text, flags=re.M)
    assert sorted(evaluated) == sorted(set(evaluated)) and len(evaluated) == 5, evaluated
    trained = re.findall(r"^trained (\S+):", text, flags=re.M)
    assert len(trained) == len(set(trained)), trained
    assert all(re.search(r"^trial \d+ \(", log.read_text(), flags=re.M) for log in logs), "one worker did all the work"

    single = _config(tmp_path / "one", repo_root, f"{url}/single", tracking_server)
    alone = _worker(single, tmp_path / "single.log")
    assert alone.wait(timeout=1200) == 0, (tmp_path / "single.log").read_text()[-3000:]
    two = _rows(tmp_path / "two" / "runs" / "results" / "shared" / "ltm_results_table.csv")
    one = _rows(tmp_path / "one" / "runs" / "results" / "shared" / "ltm_results_table.csv")
    # Stage-1 trials are the same in both runs; stage-2 trials are sampled by TPE from whatever
    # finished first, which legitimately differs with two workers: compare the stage-1 rows.
    single_study = optuna.load_study(study_name="shared", storage=f"{url}/single")
    stage1_rows = ["base"] + sorted(Path(t.user_attrs["adapter"]).name for t in single_study.get_trials()
                                    if t.user_attrs.get("stage") == 1)
    assert [(n, one[n]) for n in stage1_rows] == [(n, two[n]) for n in stage1_rows]
    assert sorted(stage1_rows, key=lambda n: -float(one[n])) == sorted(stage1_rows, key=lambda n: -float(two[n]))
