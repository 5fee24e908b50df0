"""What a row's summary says about where its figures come from: the row (kind, format, adapter,
corpus, training), the tokenizer, and the provenance shared by every row of an evaluation (chat
template, base fingerprint and content hash, library versions and machine) — the same scenes on
another machine or library version can score differently, and the table says so beside every row.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .. import basemodel
from .rows import Row


def provenance(config, ref) -> dict:
    """What every row's figures depend on beyond ltm's inputs, the same for the whole evaluation."""
    return {"chat_template": config.base.chat_template, "base_fingerprint": ref.fingerprint,
            "base_content": _content_hash(ref), "versions": _versions()}


def row_info(config, row: Row, tokenizer, shared: dict) -> dict:
    """The row's part of its summary; `shared`: the evaluation's `provenance`."""
    info = {"row": row.name, "kind": row.kind, "decoding": dataclasses.asdict(config.testbench.decoding),
            "quantization": row.quantization, "dtype": row.dtype,
            "base": config.base.model, "adapter": str(row.adapter) if row.adapter else None,
            "adapter_hash": row.adapter_hash or None, "weights_sha256": row.weights_sha256 or None,
            "corpus": row.corpus or None,
            "tokenizer": tokenizer_label(tokenizer),
            "corpus_files": [p.get("path") for p in row.manifest.get("corpora", [])] if row.manifest else [],
            **shared}
    if row.manifest:
        training = row.manifest.get("config", {}).get("training", {})
        info["training"] = {k: row.manifest.get(k) for k in ("tokens_seen", "tokens_per_epoch", "train_seconds", "steps",
                                                              "last_loss")}
        info["training"].update({"rank": training.get("rank"), "learning_rate": training.get("learning_rate"),
                                 "max_length": training.get("max_length"), "seed": training.get("seed"),
                                 "pages": sum(p.get("pages", 0) for p in row.manifest.get("corpora", []))})
        if row.manifest.get("merge"):  # a merged adapter: score sets it against its members
            merge = row.manifest["merge"]
            info["merge"] = {"method": merge["method"], "weights": merge["weights"],
                             "members": [m["adapter"] for m in merge["members"]]}
    return info


def tokenizer_label(tokenizer) -> str:
    """The results' tokenizer column: its name (hub id or folder) and vocabulary, len(tokenizer) with the
    added tokens. ltm-tiny's `bpe2048-…` asked BPE for 2,048 entries and its text gave 1,864."""
    name = str(getattr(tokenizer, "name_or_path", "") or "")
    name = Path(name).name if name and Path(name).is_dir() else name
    return f"{name or type(tokenizer).__name__} (vocabulary {len(tokenizer)})"


def _content_hash(ref) -> str | None:
    """The base folder's content hash: an embedded base rebuilt on another machine (or another
    library version) has the same recipe fingerprint but other weights, and this says so.
    A local folder's fingerprint already is that hash."""
    if ref.kind == "folder":
        return ref.fingerprint
    return basemodel.folder_fingerprint(ref.path) if ref.path and Path(ref.path).is_dir() else None


def _versions() -> dict:
    import platform

    from ..versions import library_versions

    return {**library_versions(), "machine": platform.machine()}
