"""The on-disk verdict cache: one JSON line per judgement, keyed by the judge's identity, the
full judge prompt and the answer, so a re-run or a resumed run pays for each judgement once.
A run killed mid-write leaves a torn last line, which the next load drops."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

from ...keys import version

log = logging.getLogger(__package__)  # "ltm.testbench.judge", the logger's name before the split

CACHE_VERSION = version("judge verdicts")  # ltm/keys.py: every cached artifact, its key and its code


def cache_key(kind: str, judge_name: str, *parts: str) -> str:
    """The key of one judgement: cache version, kind ("grade" or "pair"), judge name and the texts judged."""
    blob = json.dumps([CACHE_VERSION, kind, judge_name, *parts], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class VerdictCache:
    """Verdict records by key, loaded from a JSON-lines file and appended to it (in memory only without a path)."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else None
        self._records: dict[str, dict] = {}
        self._lock = threading.Lock()
        if self.path is not None:
            self._load()

    def get(self, key: str) -> dict | None:
        return self._records.get(key)

    def _load(self) -> None:
        path = self.path
        if not path.exists():
            return
        data = path.read_bytes()
        lines = data.split(b"\n")
        offset = 0
        for number, line in enumerate(lines, 1):
            start, offset = offset, offset + len(line) + 1
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                self._records[record["key"]] = record
            except (ValueError, KeyError, TypeError):
                if number == len(lines) or (number == len(lines) - 1 and not lines[-1]):
                    # a run killed mid-write: drop the torn last line so the next append starts clean
                    log.warning("%s: dropping a corrupt last line (an interrupted write)", path)
                    with open(path, "r+b") as handle:
                        handle.truncate(start)
                    return
                log.warning("%s:%d: skipping a corrupt cache line", path, number)
        if data and not data.endswith(b"\n"):
            with open(path, "ab") as handle:
                handle.write(b"\n")

    def put(self, record: dict) -> None:
        self._records[record["key"]] = record
        if self.path is None:
            return
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
