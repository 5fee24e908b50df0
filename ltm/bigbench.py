"""BIG-bench's reasoning tasks as local lm-eval tasks (`bb_<task>[_<subtask>]`), from PyPI, never a hub.

Why: lm-eval's own `bigbench_*` tasks read a Hugging Face hub dataset, which ltm may not
download at run time. BIG-bench's task data (`bigbench/benchmark_tasks/<task>/task.json`,
Apache-2.0) ships in the PyPI sdist `bigbench==1.0.0`, which pip fetches wherever packages
can be installed. The sdist is 342 MB, so it is fetched once per machine (into the user
cache, `~/.cache/ltm/bigbench/`), read as a stream with tarfile, and only the supported
tasks' task.json files are kept, keyed by the sdist's sha256; the sdist itself is then
deleted, so later runs never need it again. A run that names a `bb_` benchmark gets each
task converted to JSONL (`{"context", "choices", "label"}`) and an lm-eval task YAML of the
same shape as ltm's builtin tasks (`lmeval_bridge.task_yaml`).

The prompt is BIG-bench's own multiple-choice format (`bigbench/api/json_task.py`):
task_prefix + example_input_prefix ("\\nQ: ") + input, the choices appended to the input
("\\n  choice: ...", in BIG-bench's seed-42 order) unless the task sets
`append_choices_to_input: false`, then example_output_prefix ("\\nA: "). The ends are
stripped, since lm-eval scores each choice after one space. Exact duplicate examples are
dropped (as BIG-bench does), and so are items without exactly one best-scoring choice:
an accuracy needs one right answer.

`python -m ltm.bigbench [--tasks ...] [--sdist FILE]` fetches (or reads an sdist downloaded
elsewhere) ahead of a run and lists the tasks with their item counts.
"""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import atomic
from .errors import LtmError
from .filehash import sha256_file
from .keys import version
from .shelf import _last_line
from .tinybase import _locked, cache_root

PREFIX = "bb_"
REQUIREMENT = "bigbench==1.0.0"
SDIST = "bigbench-1.0.0.tar.gz"
SDIST_MB = 342
# The sdist's sha256, checked after every fetch. None: not measured yet (PyPI refused this
# version where this module was written): a fetched sdist is then used and its sha256 printed,
# to be pinned here.
SDIST_SHA256: str | None = None
EXTRACT_VERSION = version("bigbench tasks")  # ltm/keys.py: every cached artifact, its key and its code
MANIFEST = "bigbench.json"  # written last: a folder without it is not finished
TASKS_IN_SDIST = "bigbench/benchmark_tasks"
_SUBTASKS = ("three_objects", "five_objects", "seven_objects")
# lm-eval task name -> task.json path under bigbench/benchmark_tasks/
SUPPORTED = {
    **{f"{PREFIX}logical_deduction_{s}": f"logical_deduction/{s}/task.json" for s in _SUBTASKS},
    **{f"{PREFIX}tracking_shuffled_objects_{s}": f"tracking_shuffled_objects/{s}/task.json" for s in _SUBTASKS},
    **{f"{PREFIX}{t}": f"{t}/task.json" for t in (
        "formal_fallacies_syllogisms_negation", "logic_grid_puzzle", "strategyqa", "date_understanding",
        "causal_judgment", "epistemic_reasoning", "misconceptions_russian")},
}


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def task_names() -> list[str]:
    return list(SUPPORTED)


def cache_dir() -> Path:
    """`<user cache>/bigbench` (`$LTM_CACHE_DIR`, else `$XDG_CACHE_HOME/ltm`, else `~/.cache/ltm`)."""
    return cache_root() / "bigbench"


def fetch_command(folder: Path | None = None) -> str:
    return f"python -m pip download --no-deps --no-binary :all: {REQUIREMENT} -d {folder or '.'}"


def check_names(names: list[str]) -> None:
    """One line for the first name that is not a supported task, with the closest one and the list."""
    for name in names:
        if name not in SUPPORTED:
            hint = difflib.get_close_matches(name, list(SUPPORTED), n=1)
            fix = f"did you mean {hint[0]!r}? " if hint else ""
            raise LtmError(f"benchmark {name!r} is not one of ltm's BIG-bench tasks — {fix}(supported: "
                           f"{', '.join(SUPPORTED)})")


# ---------------------------------------------------------------- cache, fetch, extract
def _manifest(folder: Path) -> dict | None:
    """The manifest of a finished extraction that holds every supported task's file, else None."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("extract_version") != EXTRACT_VERSION or set(data.get("wanted", [])) != set(SUPPORTED.values()):
        return None
    return data


def cached(root: Path | None = None) -> Path | None:
    """The extracted tasks of the pinned sdist (unpinned: the newest extraction), or None."""
    root = Path(root) if root is not None else cache_dir()
    if SDIST_SHA256:
        folder = root / SDIST_SHA256
        return folder if _manifest(folder) is not None else None
    done = [p for p in root.glob("*") if p.is_dir() and not p.name.startswith(".") and _manifest(p) is not None]
    return max(done, key=lambda p: (p / MANIFEST).stat().st_mtime_ns) if done else None


def fetch(root: Path | None = None, log: Callable[[str], None] = _stderr) -> Path:
    """The extracted tasks folder, downloading and extracting the sdist first when it is not cached."""
    from filelock import FileLock

    root = Path(root) if root is not None else cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / ".fetch.lock")):
        hit = cached(root)
        if hit is not None:
            return hit
        log(f"ltm: fetching {REQUIREMENT} ({SDIST_MB} MB) from PyPI for BIG-bench's task data — once per machine "
            f"(only the task files are kept, in {root})")
        with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as tmp:  # the sdist goes with it
            return extract(_pip_download(Path(tmp)), root, log)


def _pip_download(tmp: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-input",
               "--disable-pip-version-check", "--retries", "1", "--timeout", "30", "-d", str(tmp), REQUIREMENT]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    got = tmp / SDIST
    if done.returncode != 0 or not got.is_file():
        text = done.stderr + done.stdout
        errors = [line.strip().removeprefix("ERROR: ") for line in text.splitlines() if line.strip().startswith("ERROR")]
        why = ("; ".join(errors) or _last_line(text))[:240]
        raise LtmError(f"BIG-bench task data is not cached and pip could not fetch {REQUIREMENT} ({why}) — run "
                       f"`python -m ltm.bigbench` where PyPI serves it, or download the sdist there "
                       f"(`{fetch_command()}`) and run `python -m ltm.bigbench --sdist {SDIST}` here")
    return got


def _wanted_member(name: str) -> str | None:
    """`bigbench-1.0.0/bigbench/benchmark_tasks/<rel>` -> `<rel>` when it is a supported task's file."""
    parts = name.split("/", 1)
    if len(parts) == 2 and parts[1].startswith(TASKS_IN_SDIST + "/"):
        rel = parts[1][len(TASKS_IN_SDIST) + 1:]
        if rel in _WANTED:
            return rel
    return None


_WANTED = set(SUPPORTED.values())


def extract(sdist: Path, root: Path | None = None, log: Callable[[str], None] = _stderr) -> Path:
    """Keep the supported tasks' task.json out of `sdist` (one streamed pass) in `<root>/<sha256>/`."""
    sdist = Path(sdist)
    root = Path(root) if root is not None else cache_dir()
    if not sdist.is_file():
        raise LtmError(f"{sdist}: no such file — give the downloaded {SDIST} (`{fetch_command()}`)")
    sha = sha256_file(sdist)
    if SDIST_SHA256 and sha != SDIST_SHA256:
        raise LtmError(f"{sdist}: sha256 {sha[:16]}… is not the {REQUIREMENT} sdist's {SDIST_SHA256[:16]}… — delete "
                       f"it and fetch it again (`{fetch_command()}`)")
    if not SDIST_SHA256:
        log(f"ltm: {sdist.name} has sha256 {sha}; ltm/bigbench.py pins none yet (SDIST_SHA256): pin this one")
    final = root / sha
    with _locked(final):
        if _manifest(final) is not None:
            return final
        with atomic.directory(final) as tmp:
            found = []
            try:
                with tarfile.open(sdist, "r|gz") as tar:  # a stream: the 342 MB are read once, never unpacked
                    for member in tar:
                        rel = _wanted_member(member.name) if member.isfile() else None
                        if rel is None:
                            continue
                        target = tmp / rel
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(tar.extractfile(member).read())
                        found.append(rel)
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise LtmError(f"{sdist}: not a readable tar.gz ({exc}) — delete it and fetch it again "
                               f"(`{fetch_command()}`)") from None
            if not found:
                raise LtmError(f"{sdist}: no supported BIG-bench task under */{TASKS_IN_SDIST}/ — is this the "
                               f"{REQUIREMENT} sdist? (`{fetch_command()}`)")
            tasks, missing = {}, []
            for name, rel in SUPPORTED.items():
                if rel not in found:
                    missing.append(name)
                    continue
                _, tasks[name] = convert(_read_task(tmp / rel, name))
            atomic.write_json(tmp / MANIFEST, {"requirement": REQUIREMENT, "sdist_sha256": sha, "extract_version":
                                               EXTRACT_VERSION, "wanted": sorted(_WANTED), "tasks": tasks,
                                               "missing": missing})
    items = sum(t["items"] for t in tasks.values())
    log(f"ltm: BIG-bench: {len(tasks)} tasks ({items:,} items) kept in {final}"
        + (f"; not in this sdist: {', '.join(missing)}" if missing else ""))
    return final


def _read_task(path: Path, name: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LtmError(f"{path}: {name}'s task.json cannot be read ({exc}) — delete {path.parent} and run "
                       "`python -m ltm.bigbench` again") from None
    if not isinstance(data, dict) or not isinstance(data.get("examples"), list):
        raise LtmError(f"{path}: {name}'s task.json has no `examples` list — BIG-bench changed its format; "
                       "update ltm/bigbench.py")
    return data


# ---------------------------------------------------------------- conversion
def _choice_order(choices: list[str]) -> list[str]:
    """The order BIG-bench lists choices in the input: a seed-42 permutation of the sorted choices."""
    import numpy as np

    return [str(c) for c in np.random.RandomState(seed=42).permutation(sorted(choices))]


def convert(task: dict) -> tuple[list[dict], dict]:
    """BIG-bench task data -> (JSONL rows {context, choices, label}, counts)."""
    task_prefix = str(task.get("task_prefix", ""))
    input_prefix = str(task.get("example_input_prefix", "\nQ: "))
    output_prefix = str(task.get("example_output_prefix", "\nA: "))
    choice_prefix = str(task.get("choice_prefix", "\n  choice: "))
    append = bool(task.get("append_choices_to_input", True))
    seen: set[str] = set()
    rows: list[dict] = []
    duplicates = dropped = 0
    for example in task["examples"]:
        key = json.dumps(example)  # BIG-bench's own duplicate test
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        scores = example.get("target_scores") if isinstance(example, dict) else None
        if not isinstance(scores, dict) or len(scores) < 2:
            dropped += 1
            continue
        values = list(scores.values())
        best = [i for i, v in enumerate(values) if v == max(values)]
        if len(best) != 1:
            dropped += 1
            continue
        choices = [str(c) for c in scores]
        text = str(example.get("input", ""))
        if append:
            text += choice_prefix + choice_prefix.join(_choice_order(choices))
        rows.append({"context": (task_prefix + input_prefix + text + output_prefix).strip(), "choices": choices,
                     "label": best[0]})
    counts = {"examples": len(task["examples"]), "duplicates": duplicates, "dropped": dropped, "items": len(rows)}
    return rows, counts


def _counts_line(name: str, counts: dict) -> str:
    return (f"{name}: {counts['items']:,} items ({counts['dropped']:,} dropped: not exactly one best choice; "
            f"{counts['duplicates']:,} duplicates)")


def materialize(names: list[str], folder: Path, root: Path | None = None, log: Callable[[str], None] = _stderr) -> Path:
    """Write `<name>.jsonl` and `<name>.yaml` into `folder` for each named `bb_` task, fetching the data once."""
    from .testbench.lmeval_bridge import task_yaml

    check_names(names)
    tasks = fetch(root, log)
    manifest = _manifest(tasks) or {}
    folder = Path(folder)
    for name in dict.fromkeys(names):
        if name in manifest.get("missing", []):
            raise LtmError(f"benchmark {name!r}: {SUPPORTED[name]} is not in the {REQUIREMENT} sdist ({tasks}) — "
                           "remove it from testbench.benchmarks")
        rows, counts = convert(_read_task(tasks / SUPPORTED[name], name))
        data = folder / f"{name}.jsonl"
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        changed = _write_if_changed(data, text)
        source = f"ltm/bigbench.py (BIG-bench {SUPPORTED[name]}, {REQUIREMENT})"
        changed |= _write_if_changed(folder / f"{name}.yaml", task_yaml(name, data, source=source))
        if changed and (counts["dropped"] or counts["duplicates"]):
            log(f"ltm: BIG-bench {_counts_line(name, counts)}")
    return folder


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    atomic.write_text(path, text)
    return True


# ---------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    """`python -m ltm.bigbench`: fetch BIG-bench's task data ahead of a run and list the tasks."""
    parser = argparse.ArgumentParser(prog="python -m ltm.bigbench", description=main.__doc__)
    parser.add_argument("--tasks", nargs="+", metavar="NAME", help="list only these tasks (default: all supported)")
    parser.add_argument("--sdist", type=Path, metavar="FILE",
                        help=f"use this downloaded {SDIST} instead of fetching it (`{fetch_command()}`)")
    parser.add_argument("--cache", type=Path, metavar="DIR", help=f"cache folder (default: {cache_dir()})")
    args = parser.parse_args(argv)
    try:
        names = args.tasks or task_names()
        check_names(names)
        folder = extract(args.sdist, args.cache) if args.sdist else fetch(args.cache)
        manifest = _manifest(folder) or {}
    except LtmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    width = max(len(n) for n in names)
    print(f"BIG-bench tasks from {REQUIREMENT} (sha256 {manifest.get('sdist_sha256', '?')[:16]}…), in {folder}:")
    for name in names:
        counts = manifest.get("tasks", {}).get(name)
        if counts is None:
            print(f"  {name:<{width}}  missing from this sdist")
        else:
            print(f"  {name:<{width}}  {counts['items']:>6,} items  ({counts['dropped']:,} dropped: not exactly one "
                  f"best choice; {counts['duplicates']:,} duplicates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
