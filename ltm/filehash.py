"""Content hashes of files, each file read once: a 15 GB base folder is hashed on the first
command, not on every one.

Why: cache keys (base fingerprints, adapter weights, benchmark data) must change when a
file's *content* changes — sizes alone miss new weights of the same shape — but reading
every byte of a large model on each `ltm` command would cost minutes. So the sha256 of a
file is remembered in ``<user cache>/file-sha256.json`` by (absolute path, size, mtime_ns):
while all three are unchanged the remembered hash is used; any rewrite changes the mtime,
so the file is read again. Entries for files that no longer exist are dropped on write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from . import atomic, tinybase
from .keys import version

MEMO_VERSION = version("file hashes")  # ltm/keys.py: every cached artifact, its key and its code
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_CHUNK = 1 << 22


def memo_path() -> Path:
    return tinybase.cache_root() / "file-sha256.json"


def _read_memo(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("v") != MEMO_VERSION or not isinstance(data.get("files"), dict):
        return {}
    return data["files"]


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in chunks: one helper for downloads, weights and base folders."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_digests(paths: Iterable[Path], remember: bool = True) -> dict[Path, str]:
    """sha256 (hex) of each file's content, from the memo where its path, size and mtime match."""
    paths = [Path(p).resolve() for p in paths]
    if not paths:
        return {}
    memo = _read_memo(memo_path()) if remember else {}
    out: dict[Path, str] = {}
    new: dict[str, dict] = {}
    for path in paths:
        stat = path.stat()
        entry = memo.get(str(path))
        if entry and entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
            out[path] = entry["sha256"]
            continue
        out[path] = sha256_file(path)
        after = path.stat()
        if (after.st_size, after.st_mtime_ns) == (stat.st_size, stat.st_mtime_ns):  # not rewritten while read
            new[str(path)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": out[path]}
    if remember and new:
        _remember(new)
    return out


def file_sha256(path: Path, remember: bool = True) -> str:
    return next(iter(file_digests([path], remember).values()))


def _remember(new: dict[str, dict]) -> None:
    """Merge `new` into the memo under a lock (sweep workers share it); a read-only cache is skipped."""
    from filelock import FileLock

    path = memo_path()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            files = {k: v for k, v in _read_memo(path).items() if os.path.exists(k)}
            files.update(new)
            atomic.write_text(path, json.dumps({"v": MEMO_VERSION, "files": files}, sort_keys=True) + "\n")


def digest_of(named: dict[str, str]) -> str:
    """One sha256 over (name, content hash) pairs, in name order."""
    digest = hashlib.sha256()
    for name in sorted(named):
        digest.update(f"{name}\0{named[name]}\n".encode())
    return digest.hexdigest()


def weights_sha256(folder: Path, remember: bool = True) -> str:
    """Content hash of an adapter's (or model's) weight files: the top-level *.safetensors /
    *.bin / *.pt / *.pth files, each by name and sha256. Empty folder → the hash of nothing."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    digests = file_digests(files, remember)
    return digest_of({p.name: digests[p.resolve()] for p in files})
