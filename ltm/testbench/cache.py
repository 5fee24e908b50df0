"""Item-level result cache: a re-run only computes what changed.

A row's results are keyed by what determines them — the base fingerprint (a content hash for
folder bases) and format, the adapter's config hash and the content hash of its weight files,
the decoding settings and the judge (``row_key``); inside a row, each item is
keyed by its own content and the exact text the model sees (``item_key``), which is finer
than a scene-file hash: editing one item re-runs that item only. Row-wide results carry their
inputs in their names (run.py): benchmarks their task files, data and lm-eval version
(``lmeval_bridge.cache_key``), the attention view a hash of its prompts. Records are appended to
``runs/cache/testbench/<row_key>.jsonl`` as they are computed (flushed), so a killed
evaluation keeps what it finished; a torn last line is ignored on reading.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from ..keys import version

TESTBENCH_VERSION = version("scored items")  # ltm/keys.py: every cached artifact, its key and its code


def _digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def row_key(base_fingerprint: str, row, decoding, judge_name: str | None, generator: str = "hf") -> str:
    """`generator`: who wrote the row's answers (vLLM's differ from transformers' in the last bits);
    left out of the key for the default, so caches from before the vLLM backend stay valid."""
    fields = {"v": TESTBENCH_VERSION, "base": base_fingerprint, "quantization": row.quantization,
              "dtype": row.dtype, "adapter": row.adapter_hash, "weights": row.weights_sha256,
              "decoding": dataclasses.asdict(decoding), "judge": judge_name}
    if generator != "hf":
        fields["generator"] = generator
    return _digest(fields)


# Scene fields added after items were cached: left out of the key while empty, so the shipped
# scenes keep their cached records.
_LATER_FIELDS = {"scorer", "family", "level", "difficulty", "seed"}


def item_key(scene, input_text: str) -> str:
    fields = {f.name: getattr(scene, f.name) for f in dataclasses.fields(scene)
              if f.name != "source" and not (f.name in _LATER_FIELDS and getattr(scene, f.name) in (None, {}))}
    return _digest({"scene": fields, "input": input_text})


class ItemCache:
    def __init__(self, folder: Path, key: str):
        self.path = Path(folder) / f"{key}.jsonl"
        self.records: dict[str, dict] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line from a killed run
                self.records[entry["key"]] = entry["record"]

    def get(self, key: str) -> dict | None:
        return self.records.get(key)

    def put_many(self, entries: list[tuple[str, dict]]) -> None:
        if not entries:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            for key, record in entries:
                handle.write(json.dumps({"key": key, "record": record}, ensure_ascii=False) + "\n")
                self.records[key] = record
            handle.flush()
            os.fsync(handle.fileno())
