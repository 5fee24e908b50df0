"""`ltm scenes list` and `ltm scenes generate`: the families, and their items as scene YAML."""

from __future__ import annotations

from pathlib import Path

import yaml

from .. import atomic
from ..errors import LtmError
from . import FAMILIES, generate, get


def parse_difficulty(text: str | None) -> tuple[int | None, dict]:
    """`3` is a level; `steps=6,distractors=2` are knobs (values read as YAML: numbers, true, lists)."""
    if not text:
        return None, {}
    text = text.strip()
    if text.isdigit():
        return int(text), {}
    knobs = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise LtmError(f"--difficulty {text!r}: expected a level (e.g. 3) or knobs like steps=6,distractors=2")
        knobs[key.strip()] = yaml.safe_load(value.strip())
    return None, knobs


def list_families() -> str:
    lines = []
    for name, family in FAMILIES.items():
        lines.append(f"{name}  ({family.source}; levels 1–{len(family.levels)}) — {family.about}")
        for knob, meaning in family.knobs.items():
            lines.append(f"    {knob}: {meaning}")
        lines.append(f"    easiest: {family.settings(1)[1]}")
        lines.append(f"    hardest: {family.settings(len(family.levels))[1]}")
    return "\n".join(lines)


def write_family(name: str, n: int, seed: int, level: int | None, difficulty: str | None, out: str | None) -> Path:
    """Generate `n` clean items (with their variants) and write them as one scene file."""
    from ..scene_yaml import render

    family = get(name)
    parsed_level, knobs = parse_difficulty(difficulty)
    level = level or parsed_level or (None if knobs else 1)
    items = generate(family, n, seed, level=level, difficulty=knobs)
    label = f"L{level}" if level else "custom"
    path = Path(out) if out else Path("scenes") / "generated" / f"{name}-{label}-s{seed}.yaml"
    if path.suffix not in (".yaml", ".yml"):
        path = path / f"{name}-{label}-s{seed}.yaml"
    text = render(f"Scene family {name} ({family.about}), {label}, seed {seed}.", items,
                  header=f"# Written by `ltm scenes generate --family {name}` (ltm/families); regenerate rather than edit.")
    atomic.write_text(path, text)
    return path
