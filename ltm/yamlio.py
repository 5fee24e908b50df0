"""Safe YAML loading that remembers where each key was written.

Config and scene errors must say ``file:line``; PyYAML's safe loader knows the line of
every node, so we keep a map from the key path (``("training", "rank")``) to its line.
Only the safe loader (``yaml.CSafeLoader`` or ``yaml.SafeLoader``) is used: nothing in a user's file is ever executed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import LtmError

KeyPath = tuple[Any, ...]


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), lines)


def parse_yaml(text: str, source: str) -> tuple[Any, dict[KeyPath, int]]:
    """Parse YAML text; return (data, line map). Errors become one-line ``LtmError``s."""
    for line_no, line in enumerate(text.splitlines(), start=1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent and line.strip():
            raise LtmError(
                f"{source}:{line_no}: a tab is used for indentation; YAML needs spaces — "
                "replace the tab with spaces"
            )
    # The C loader (libyaml) is the same safe loader, ~10x faster on a 10,000-item scene file.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        lines: dict[KeyPath, int] = {}
        if node is None:
            return None, lines
        _walk(node, (), lines)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in problem:
            # e.g. !!python/object/apply: the safe loader refused it, nothing ran; say so, not "syntax"
            tag = problem.split("tag", 1)[1].strip(" '")
            raise LtmError(f"{where}: YAML tag {tag!r} is not allowed (only plain values; nothing was run) "
                           "— remove the tag") from None
        if exc.context and exc.context_mark and mark and exc.context_mark.line != mark.line:
            problem += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise LtmError(f"{where}: invalid YAML: {problem} — fix the syntax there") from None
    except yaml.YAMLError as exc:
        raise LtmError(f"{source}: invalid YAML: {exc} — fix the file's syntax") from None
    finally:
        loader.dispose()
    return data, lines


def load_yaml(path: Path) -> tuple[Any, dict[KeyPath, int]]:
    """Read and parse a YAML file, with one-line errors for unreadable or non-UTF-8 files."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise LtmError(f"{path}: no such file — check the path") from None
    except IsADirectoryError:
        raise LtmError(f"{path}: is a folder, expected a YAML file") from None
    except PermissionError:
        raise LtmError(f"{path}: permission denied — make the file readable") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LtmError(f"{path}:{line}: not UTF-8 text — save the file as UTF-8") from None
    return parse_yaml(text, str(path))
