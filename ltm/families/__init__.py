"""Scene families: seeded generators of reasoning items with difficulty knobs (docs/scenes.md).

The one registry of families: ltm's own (``logic``, ``stories``) and reasoning-gym's wrapped
ones (``gym``). ``ltm scenes generate`` writes any of them as ordinary scene YAML;
``ltm scenes calibrate`` picks each family's level for the base under test. A family of
your own is a ``Family`` added with ``register`` (see docs/scenes.md, "Your own family").
"""

from __future__ import annotations

import difflib

from ..errors import LtmError
from .base import Family, clean_items, generate, item_text
from .gym import GYM_FAMILIES, score_short
from .logic import SYLLOGISM_CHAIN, TRANSITIVE
from .stories import ARITHMETIC, WHO_HOLDS

FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    if family.name in FAMILIES:
        raise LtmError(f"scene family {family.name!r} is registered twice — give yours another name")
    FAMILIES[family.name] = family
    return family


for _family in [TRANSITIVE, SYLLOGISM_CHAIN, WHO_HOLDS, ARITHMETIC, *GYM_FAMILIES]:
    register(_family)


def load_files(paths) -> None:
    """Run the Python files that register families of a user's own (testbench.family_files), once each."""
    import importlib.util
    from pathlib import Path

    for path in map(Path, paths):
        key = f"ltm_user_families_{abs(hash(str(path.resolve())))}"
        if key in _LOADED:
            continue
        if not path.is_file():
            raise LtmError(f"{path}: no such family file — fix testbench.family_files")
        spec = importlib.util.spec_from_file_location(key, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _LOADED.add(key)


_LOADED: set[str] = set()


def get(name: str) -> Family:
    if name not in FAMILIES:
        hint = difflib.get_close_matches(name, sorted(FAMILIES), n=1)
        fix = f"did you mean {hint[0]!r}?" if hint else f"known families: {', '.join(sorted(FAMILIES))}"
        raise LtmError(f"no scene family {name!r} — {fix}")
    return FAMILIES[name]


__all__ = ["FAMILIES", "Family", "clean_items", "generate", "get", "item_text", "load_files", "register", "score_short"]
