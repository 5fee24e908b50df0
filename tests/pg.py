"""A throw-away PostgreSQL server on 127.0.0.1 for tests (Debian's `postgresql` package).

`postgres_server()` yields a `Postgres` (base URL, port, `createdb`) and always stops the
server. It calls `pytest.skip`, saying why, when the binaries, the psycopg2 driver or an
unprivileged user to run the server as are missing, or when the server does not start.
PostgreSQL refuses to run as root: as root, the server runs as the `postgres` system user
(via `runuser`, else `su`) in a folder that user owns.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers import free_port

USER = "postgres"


def _version(pg_ctl: str) -> tuple[int, str]:
    name = Path(pg_ctl).parts[-3]  # /usr/lib/postgresql/<version>/bin/pg_ctl
    return (int(name) if name.isdigit() else -1, name)


def bindir() -> Path | None:
    """The newest installed server's bin folder (Debian keeps them off PATH), or PATH's."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path and shutil.which("initdb") else None


def _as_user() -> list[str] | None:
    """Prefix that runs a command as an unprivileged user ([] when we are not root); None: impossible."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return None
    if shutil.which("runuser"):
        return ["runuser", "-u", USER, "--"]
    if shutil.which("su"):
        return ["__su__"]  # su takes one shell string: see _run
    return None


def _run(prefix: list[str], argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    if prefix == ["__su__"]:
        argv = ["su", USER, "-s", "/bin/sh", "-c", shlex.join(argv)]
    else:
        argv = [*prefix, *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _first_line(result: subprocess.CompletedProcess) -> str:
    text = (result.stderr or result.stdout or "").strip()
    return text.splitlines()[-1][:300] if text else f"exit code {result.returncode}"


@dataclasses.dataclass
class Postgres:
    url: str  # postgresql+psycopg2://postgres@127.0.0.1:PORT — append /DBNAME
    port: int
    bin: Path

    def createdb(self, name: str) -> str:
        """Create database `name` (trust auth, so no password) and return its SQLAlchemy URL."""
        result = subprocess.run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"createdb {name}: {_first_line(result)}"
        return f"{self.url}/{name}"


@contextlib.contextmanager
def postgres_server():
    folder_bin = bindir()
    if folder_bin is None:
        pytest.skip("PostgreSQL server binaries not found (Debian package `postgresql`; .ci/run installs it)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip("psycopg2 missing: pip install -e '.[postgres]'")
    prefix = _as_user()
    if prefix is None:
        pytest.skip(f"running as root without a `{USER}` user or runuser/su: PostgreSQL refuses to run as root")
    # Not under pytest's tmp folder: its parents are private to root, and the server runs as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="ltm-pg-"))
    data, log = folder / "data", folder / "server.log"
    started = False
    try:
        if prefix:
            shutil.chown(folder, USER, USER)
        os.chmod(folder, 0o700)
        port = free_port()
        init = _run(prefix, [str(folder_bin / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
                             "--encoding=UTF8", "--no-locale", "--no-sync"])
        if init.returncode != 0:
            pytest.skip(f"PostgreSQL initdb failed: {_first_line(init)}")
        # fsync off: a throw-away cluster; the unix socket goes in our folder, not /var/run/postgresql.
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
        start = _run(prefix, [str(folder_bin / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                              "-o", options, "start"])
        if start.returncode != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            pytest.skip(f"PostgreSQL did not start: {_first_line(start)} {' '.join(tail)}")
        started = True
        yield Postgres(f"postgresql+psycopg2://{USER}@127.0.0.1:{port}", port, folder_bin)
    finally:
        if started:
            _run(prefix, [str(folder_bin / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
