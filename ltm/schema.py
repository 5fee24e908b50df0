"""Turn parsed YAML into typed dataclasses, collecting every problem instead of the first.

A config section is a plain dataclass whose fields carry type hints and, optionally,
``field(metadata={"help": ..., "min": ..., "gt": ...})``. ``build`` checks types, rejects
unknown keys (with a "did you mean" hint) and returns the instance together with the list
of problems, each written as ``file:line: key: problem — fix``. The same code serves
experiment configs and scene files, so both speak the same error language.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import types
import typing
from typing import Any, Literal, Union

from .yamlio import KeyPath

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


class Problems:
    """Accumulates problems for one source file, each located by its key path."""

    def __init__(self, source: str, lines: dict[KeyPath, int]):
        self.source = source
        self.lines = lines
        self.items: list[str] = []

    def where(self, path: KeyPath) -> str:
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe)
        return f"{self.source}:{line}" if line else self.source

    def add(self, path: KeyPath, message: str) -> None:
        key = ".".join(str(p) for p in path) or "(top level)"
        self.items.append(f"{self.where(path)}: {key}: {message}")


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp in _TYPE_NAMES:
        return _TYPE_NAMES[tp]
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _coerce(tp: Any, value: Any, path: KeyPath, problems: Problems) -> Any:
    """Check ``value`` against ``tp``; return the converted value (or None after a problem)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return build(tp, value, problems, path)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            trial = Problems(problems.source, problems.lines)
            result = _coerce(arg, value, path, trial)
            if not trial.items:
                return result
        problems.add(path, f"expected {_describe(tp)}, got {value!r}")
        return None
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            hint = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
            extra = f" — did you mean {hint[0]!r}?" if hint else ""
            problems.add(path, f"expected one of {', '.join(map(repr, allowed))}, got {value!r}{extra}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            problems.add(path, f"expected a list, got {value!r}")
            return []
        (item_type,) = typing.get_args(tp)[:1] or (Any,)
        return [_coerce(item_type, v, path + (i,), problems) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            problems.add(path, f"expected a mapping, got {value!r}")
            return {}
        key_type, value_type = typing.get_args(tp) or (Any, Any)
        return {
            _coerce(key_type, k, path + (k,), problems): _coerce(value_type, v, path + (k,), problems)
            for k, v in value.items()
        }
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # YAML 1.1 reads "5e-3" (no dot) as a string; accept numeric strings.
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            problems.add(path, f"expected a number, got {value!r}")
            return None
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.add(path, f"expected an integer, got {value!r}")
            return None
        return value
    if tp is bool:
        if not isinstance(value, bool):
            problems.add(path, f"expected true or false, got {value!r}")
            return None
        return value
    if tp is str:
        if not isinstance(value, str):
            problems.add(path, f"expected a string, got {value!r}")
            return None
        return value
    raise TypeError(f"schema: unsupported type {tp!r} at {path}")


def _check_bounds(meta: dict, value: Any, path: KeyPath, problems: Problems) -> None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if "gt" in meta and not value > meta["gt"]:
        problems.add(path, f"must be greater than {meta['gt']}, got {value!r}")
    if "min" in meta and not value >= meta["min"]:
        problems.add(path, f"must be at least {meta['min']}, got {value!r}")
    if "max" in meta and not value <= meta["max"]:
        problems.add(path, f"must be at most {meta['max']}, got {value!r}")


# ------------------------------------------------------------------ the same settings elsewhere


@dataclasses.dataclass(frozen=True)
class OtherTool:
    """One ltm config key and its names in Axolotl and LLaMA-Factory (flat YAML keys there).

    `ltm`, `axolotl` and `llama_factory` are Markdown cells for README's table; every key in
    them is in backticks, `key` or `key: value` (a switch there that is a value in ltm), and
    only keys are. An ltm config that uses one of the other names gets the ltm key suggested."""

    ltm: str
    axolotl: str
    llama_factory: str
    meaning: str

    @property
    def ltm_key(self) -> str:
        return _keys(self.ltm)[0][0]


OTHER_TOOLS: tuple[OtherTool, ...] = (
    OtherTool("`base.model`", "`base_model`", "`model_name_or_path`",
              "the base model: hub id or local folder (ltm also builds ltm-tiny/ltm-nano and fetches smollm2-135m)"),
    OtherTool("`base.revision`", "`revision_of_model`", "`model_revision`", "hub branch, tag or commit"),
    OtherTool("`base.quantization: nf4`", "`load_in_4bit: true` (with adapter: qlora)", "`quantization_bit: 4`",
              "QLoRA: the base in 4-bit NF4 (bitsandbytes)"),
    OtherTool("`base.dtype: bf16`", "`bf16: true`", "`bf16: true`", "weights and compute dtype (ltm: one key, auto/bf16/fp16/fp32)"),
    OtherTool("`base.dtype: fp16`", "`fp16: true`", "`fp16: true`", "the same, in fp16"),
    OtherTool("`base.trust_remote_code`", "`trust_remote_code`", "`trust_remote_code`", "run modelling code shipped with a hub model"),
    OtherTool("`base.attn_implementation: flash_attention_2`", "`flash_attention: true`", "`flash_attn: fa2`",
              "attention kernel: flash-attention 2"),
    OtherTool("`base.attn_implementation: sdpa`", "`sdp_attention: true`", "`flash_attn: sdpa`",
              "attention kernel: torch's fused attention (ltm's default)"),
    OtherTool("`corpora.heldout_fraction`", "`val_set_size`", "`val_size`",
              "share kept out of training (ltm: each corpus's last share, for perplexity; theirs: a random evaluation split)"),
    OtherTool("`training.rank`", "`lora_r`", "`lora_rank`", "LoRA rank r"),
    OtherTool("`training.alpha`", "`lora_alpha`", "`lora_alpha`", "LoRA alpha (scale = alpha / rank)"),
    OtherTool("`training.dropout`", "`lora_dropout`", "`lora_dropout`", "LoRA dropout"),
    OtherTool("`training.target_modules`", "`lora_target_modules`", "`lora_target`", "modules to adapt, by name"),
    OtherTool("`training.target_modules: all-linear`", "`lora_target_linear: true`", "`lora_target: all`",
              "every linear layer but the output head (ltm's default)"),
    OtherTool("`training.learning_rate`", "`learning_rate`", "`learning_rate`", "peak learning rate"),
    OtherTool("`training.lr_scheduler`", "`lr_scheduler`", "`lr_scheduler_type`", "learning-rate schedule"),
    OtherTool("`training.warmup_ratio`", "`warmup_ratio`", "`warmup_ratio`", "share of the steps spent warming up"),
    OtherTool("`training.warmup_steps`", "`warmup_steps`", "`warmup_steps`", "warmup in optimizer steps"),
    OtherTool("`training.weight_decay`", "`weight_decay`", "`weight_decay`", "AdamW weight decay"),
    OtherTool("`training.epochs`", "`num_epochs`", "`num_train_epochs`", "passes over the corpus"),
    OtherTool("`training.max_steps`", "`max_steps`", "`max_steps`", "stop after this many optimizer steps"),
    OtherTool("`training.max_length`", "`sequence_len`", "`cutoff_len`",
              "tokens per training sequence (ltm always packs every token into blocks of this length: Axolotl's "
              "sample_packing, LLaMA-Factory's packing)"),
    OtherTool("`training.batch_size`", "`micro_batch_size`", "`per_device_train_batch_size`", "sequences per device step"),
    OtherTool("`training.grad_accum`", "`gradient_accumulation_steps`", "`gradient_accumulation_steps`",
              "gradient accumulation steps"),
    OtherTool("`training.gradient_checkpointing`", "`gradient_checkpointing`", "`disable_gradient_checkpointing`",
              "recompute activations to save memory (LLaMA-Factory's key is the opposite switch, on by default)"),
    OtherTool("`training.seed`", "`seed`", "`seed`", "seed of initialisation and data order"),
    OtherTool("`training.logging_steps`", "`logging_steps`", "`logging_steps`", "log the loss every N steps"),
)

_TICKED = re.compile(r"`([a-z][a-z0-9_.]*)(?::\s*([^`]*))?`")


def _keys(cell: str) -> list[tuple[str, str | None]]:
    """The (key, value or None) pairs in backticks in a Markdown cell."""
    return [(m.group(1), m.group(2)) for m in _TICKED.finditer(cell)]


@functools.cache
def other_tool_names() -> dict[str, tuple[OtherTool, str]]:
    """Each Axolotl / LLaMA-Factory key that is not ltm's -> (its row, the tool that calls it so)."""
    names: dict[str, tuple[OtherTool, str]] = {}
    for row in OTHER_TOOLS:
        for tool, cell in (("Axolotl", row.axolotl), ("LLaMA-Factory", row.llama_factory)):
            for key, _value in _keys(cell):
                names.setdefault(key, (row, tool))
    return names


def other_tools_markdown() -> str:
    """README's table of ltm keys and their names in Axolotl and LLaMA-Factory."""
    lines = ["| ltm | Axolotl | LLaMA-Factory | meaning |", "| --- | --- | --- | --- |"]
    lines += [f"| {r.ltm} | {r.axolotl} | {r.llama_factory} | {r.meaning} |" for r in OTHER_TOOLS]
    return "\n".join(lines)


def _other_tool_hint(key: str, path: KeyPath, fields) -> str | None:
    """"ltm calls it ..." for a key the other tools use, when ltm's key belongs here or below here."""
    known = other_tool_names().get(key)
    if known is None:
        return None
    row, tool = known
    (target, value), = _keys(row.ltm)
    *section, name = target.split(".")
    here = [str(p) for p in path]
    said = f"{name}: {value}" if value else name
    if here == section and name in fields:
        return f"ltm calls it {said!r} ({key} in {tool})"
    if not here and section and section[0] in fields:
        return f"ltm calls it {target}" + (f": {value}" if value else "") + (f" ({key} in {tool})" if key != name else "")
    return None


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def build(cls: type, data: Any, problems: Problems, path: KeyPath = ()) -> Any:
    """Build dataclass ``cls`` from ``data``; record problems, never raise for user mistakes."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.add(path, f"expected a mapping of keys, got {data!r}")
        data = {}
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            hint = difflib.get_close_matches(str(key), list(fields), n=1)
            fix = (_other_tool_hint(str(key), path, fields)
                   or (f"did you mean {hint[0]!r}?" if hint else f"known keys: {', '.join(fields)}"))
            problems.add(path + (key,), f"unknown key — {fix}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            value = _coerce(hints[name], data[name], path + (name,), problems)
            _check_bounds(dict(f.metadata), value, path + (name,), problems)
            if value is not None or data[name] is None:
                kwargs[name] = value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            problems.add(path + (name,), "missing required key")
    try:
        instance = cls(**kwargs)
    except TypeError:
        # A required key was missing: fill with None so later checks can still run.
        for name in fields:
            kwargs.setdefault(name, None)
        instance = cls(**kwargs)
    check = getattr(instance, "check", None)
    if callable(check):
        for key, message in check():  # key: a field, a path of fields (a check across sections), or None
            problems.add(path + (key if isinstance(key, tuple) else (key,) if key else ()), message)
    return instance


if __name__ == "__main__":
    print(other_tools_markdown())
