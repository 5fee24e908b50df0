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
            fix = f"did you mean {hint[0]!r}?" if hint else f"known keys: {', '.join(fields)}"
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
