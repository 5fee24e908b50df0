"""The rows of a test: the base, its format rows, and each adapter on one loaded base.

Loading a 7B–14B base takes minutes; switching a LoRA adapter takes under a millisecond.
So the base is loaded once, every adapter is attached to it with ``load_adapter`` and made
current with ``set_adapter``, and the base row runs inside ``disable_adapter()`` (which gives
exactly the base's output). Before an adapter row is scored we check on a probe that its
outputs really differ from the base's: an adapter that silently is not applied (zero
weights, wrong target modules, a failed load) would otherwise score as "the base" and look
like a corpus that taught nothing.
"""

from __future__ import annotations

import contextlib
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import basemodel
from ..errors import LtmError

PROBE = "Anna is taller than Ben. Ben is taller than Carl. So Anna is taller than"


@dataclass
class Row:
    """One column of the comparison: the base (adapter None), a format row, or an adapter."""

    name: str
    kind: str                      # "base" | "format" | "adapter" (results of older runs: "variant" for "format")
    adapter: Path | None = None
    manifest: dict = field(default_factory=dict)
    quantization: str = "none"
    dtype: str = "auto"

    @property
    def adapter_hash(self) -> str:
        return self.manifest.get("hash", "") if self.adapter else ""

    @functools.cached_property
    def weights_sha256(self) -> str:
        """Content hash of the adapter's weight files as they are now ("" for base rows).

        Computed from the files (each remembered by path, size and mtime, so this is a few
        stats), not read from the manifest: weights replaced in place — `ltm train --force`,
        a copy from another machine — must not reuse the old weights' results. Training writes
        the same hash into the manifest as ``weights_sha256``."""
        if self.adapter is None:
            return ""
        from ..filehash import weights_sha256

        return weights_sha256(self.adapter)

    @property
    def corpus(self) -> str:
        return self.manifest.get("source", "") if self.adapter else ""


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise LtmError(f"{folder}: not a finished ltm adapter (no manifest.json) — train it with `ltm train`")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LtmError(f"{path}:{exc.lineno}: broken manifest ({exc.msg}) — retrain with `ltm train --force`") from None


def adapter_rows(folders: list[Path]) -> list[Row]:
    rows, seen = [], set()
    for folder in folders:
        manifest = read_manifest(folder)
        name = Path(folder).name
        if name in seen:
            continue
        seen.add(name)
        rows.append(Row(name=name, kind="adapter", adapter=Path(folder), manifest=manifest,
                        quantization=manifest.get("quantization", "none")))
    return rows


class LoadedBase:
    """A base model loaded once, with any number of adapters attached by name."""

    def __init__(self, ref, quantization: str = "none", dtype: str = "auto", trust_remote_code: bool = False,
                 attn_implementation: str = "sdpa"):
        self.ref = ref
        self.model = basemodel.load_model(ref, quantization, dtype, trust_remote_code, attn_implementation)
        self.model.eval()
        self.peft = None
        self.loaded: set[str] = set()
        self._disabled_depth = 0

    @classmethod
    def of_config(cls, ref, base) -> LoadedBase:
        """The base as a config's `base:` section loads it (format, remote code, attention kernel)."""
        return cls(ref, base.quantization, base.dtype, base.trust_remote_code, base.attn_implementation)

    def attach(self, row: Row) -> None:
        from peft import PeftModel

        name = _adapter_name(row.name)
        if name in self.loaded:
            return
        try:
            if self.peft is None:
                self.peft = PeftModel.from_pretrained(self.model, str(row.adapter), adapter_name=name, is_trainable=False)
                self.peft.eval()
            else:
                self.peft.load_adapter(str(row.adapter), adapter_name=name, is_trainable=False)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise LtmError(f"{row.adapter}: could not load the adapter ({first}) — was it trained on this base? "
                           "retrain it with `ltm train --force`") from None
        self.loaded.add(name)

    def detach(self, row: Row) -> None:
        name = _adapter_name(row.name)
        if self.peft is not None and name in self.loaded and len(self.loaded) > 1:
            import warnings

            with warnings.catch_warnings():  # "adapter X was active which is now deleted": intended
                warnings.simplefilter("ignore", UserWarning)
                self.peft.delete_adapter(name)
            self.loaded.discard(name)

    @contextlib.contextmanager
    def use(self, row: Row):
        """Yield the model with `row` active: an adapter set, or every adapter disabled."""
        if row.adapter is None:
            with self.disabled():
                yield self.current
            return
        self.attach(row)
        self.peft.set_adapter(_adapter_name(row.name))
        yield self.peft

    @property
    def current(self):
        """The model to call: the PeftModel once an adapter is attached (it wraps the base in place)."""
        return self.peft if self.peft is not None else self.model

    @contextlib.contextmanager
    def disabled(self):
        """Adapters off, re-entrant: the base row and the judge inside it may both ask for it.

        peft's own ``disable_adapter()`` re-enables adapters when it exits, so nesting it
        would turn the adapter back on in the middle of the base row.
        """
        if self.peft is None or self._disabled_depth:
            self._disabled_depth += 1
            try:
                yield
            finally:
                self._disabled_depth -= 1
            return
        self._disabled_depth = 1
        try:
            with self.peft.disable_adapter():
                yield
        finally:
            self._disabled_depth = 0

    def check_active(self, row: Row, tokenizer, tolerance: float = 1e-6) -> float:
        """Largest |logit difference| adapter vs base on a probe; raise if the adapter changes nothing."""
        import torch

        ids = torch.tensor([tokenizer.encode(PROBE)], device=next(self.model.parameters()).device)
        with torch.no_grad():
            with self.use(row) as model:
                adapted = model(input_ids=ids).logits.float()
            with self.use(Row(name="base", kind="base")) as model:
                plain = model(input_ids=ids).logits.float()
        difference = float((adapted - plain).abs().max())
        if not difference > tolerance:
            raise LtmError(f"{row.adapter}: the adapter is not active — its outputs equal the base's on a probe "
                           f"(max difference {difference:.1e}); its weights may be zero or its target modules "
                           "missing — retrain it with `ltm train --force`")
        return difference


def _adapter_name(name: str) -> str:
    # peft adapter names become module attribute keys: keep them to word characters.
    return "a_" + "".join(c if c.isalnum() else "_" for c in name)
