"""What a scene family is: a seeded generator of scene items with a difficulty knob.

A family makes one *clean* item (and, for ltm's own families, its pressure variants) from a
random stream and a setting of its knobs (chain length, entities, distractor sentences,
names, ...). Its ``levels`` are ready-made settings ordered from easiest to hardest, so a
difficulty can be one number (``ltm scenes calibrate`` walks them) or explicit knobs
(``--difficulty steps=6,distractors=2``). Every generated item records its family, level,
knob settings and seed, and is an ordinary scene (docs/scenes.md): the YAML format stays
the interface between generators and the testbench.
"""

from __future__ import annotations

import difflib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import LtmError

# Names no ltm teaching corpus uses (ltm.demo.words.NAMES) and none that the pressure variant
# "unseen names" uses (ltm.demo.words.UNSEEN_NAMES): a family item shares no entity with the
# corpora unless its `names: seen` control asks for exactly that.
FRESH_NAMES = ["Aaron", "Bruno", "Clara", "Derek", "Elsa", "Felix", "Greta", "Henry", "Irene", "Jonas", "Karla",
               "Lucas", "Marta", "Nadia", "Otto", "Paula", "Quinn", "Rita", "Simon", "Tessa", "Ulla", "Viktor",
               "Wanda", "Yusuf", "Zelda", "Agnes", "Boris", "Cecil", "Dalia", "Edgar", "Flora", "Gideon", "Hilda",
               "Igor", "Judith", "Kevin", "Lionel", "Mabel", "Norma", "Philip"]
# Category words of no meaning, none of them in ltm.demo.words' NONSENSE_WORDS or UNSEEN_WORDS.
FRESH_WORDS = ["bliv", "crunt", "dalp", "frell", "gazz", "hoob", "jeck", "lurn", "mofe", "nerp", "pilk", "rask",
               "sloob", "teff", "vorn", "wemp", "yilt", "zusk", "chab", "drom", "bren", "clof", "dusp", "fint", "grub",
               "holm", "jart", "kelp", "lomp", "mirk", "nuff", "pobb", "quell", "rint", "shab", "trog", "vell", "whin",
               "yorp", "zamb"]


@dataclass(frozen=True)
class Family:
    """A generator of reasoning items whose difficulty can be turned.

    ``make(rng, knobs)`` returns one clean item and its variants (dicts in the scene format,
    without ids: ``generate`` numbers them). ``levels`` are knob settings, easiest first.
    """

    name: str
    about: str
    knobs: dict[str, str]  # knob -> what it changes
    levels: tuple[dict, ...]
    make: Callable[[random.Random, dict], list[dict]]
    source: str = "ltm"
    defaults: dict = field(default_factory=dict)  # knobs every level shares unless set

    def settings(self, level: int | None = None, difficulty: dict | None = None) -> tuple[int | None, dict]:
        """The knob values of `level` (1 = easiest) overridden by explicit `difficulty` knobs."""
        if level is not None and not 1 <= level <= len(self.levels):
            raise LtmError(f"family {self.name!r} has levels 1..{len(self.levels)}, not {level} — pick one of those")
        unknown = [k for k in (difficulty or {}) if k not in self.knobs]
        if unknown:
            hint = difflib.get_close_matches(unknown[0], list(self.knobs), n=1)
            fix = f"did you mean {hint[0]!r}?" if hint else f"its knobs are {', '.join(self.knobs)}"
            raise LtmError(f"family {self.name!r} has no knob {unknown[0]!r} — {fix}")
        knobs = {**self.defaults, **(self.levels[(level or 1) - 1]), **(difficulty or {})}
        return level, knobs


def generate(family: Family, n: int, seed: int, level: int | None = None, difficulty: dict | None = None,
             tags: list[str] | None = None, avoid: set[str] | None = None) -> list[dict]:
    """`n` clean items of `family` (each followed by its variants), ids ``<family>-L<level>-s<seed>-<k>``.

    `avoid` holds input texts already used (e.g. by a calibration probe): an item whose text
    is there is drawn again, so a final set never scores a probe item.
    """
    if n < 1:
        raise LtmError(f"family {family.name!r}: --n must be at least 1, got {n}")
    level, knobs = family.settings(level, difficulty)
    rng = random.Random(f"ltm-family:{family.name}:{seed}:{sorted(knobs.items())}")
    stamp = {"family": family.name, "level": level, "difficulty": dict(sorted(knobs.items())), "seed": seed}
    label = f"{family.name}-L{level}" if level is not None else f"{family.name}-custom"
    out: list[dict] = []
    seen = set(avoid or ())
    made = 0
    for _ in range(n * 200):
        if made == n:
            break
        group = family.make(rng, knobs)
        if not group:
            continue
        key = item_text(group[0])
        if key in seen:
            continue
        seen.add(key)
        made += 1
        clean_id = f"{label}-s{seed}-{made:03d}"
        for item in group:
            variant = item.get("variant")
            entry = {"id": clean_id if variant is None else f"{clean_id}-{variant}", **item, **stamp,
                     "tags": list(tags or [family.name])}
            if variant is not None:
                entry["variant_of"] = clean_id
            out.append(entry)
    if made < n:
        raise LtmError(f"family {family.name!r}: only {made} distinct items at {knobs} (asked {n}) — "
                       "ask fewer items or a harder setting with more room")
    return out


def item_text(item: dict) -> str:
    """What the model reads of an item (context and prompt): the key under which items are told apart."""
    return f"{item.get('context', '')} {item['prompt']}"


def clean_items(family: Family, n: int, seed: int, level: int, avoid: set[str] | None = None) -> list[dict]:
    """`n` clean items at `level` without pressure variants: what a calibration probe (or a teaching
    text) needs, and no variant to generate and throw away."""
    return generate(family, n, seed, level=level, difficulty={"variants": []} if "variants" in family.knobs else None,
                    avoid=avoid)


def choice_item(rng: random.Random, correct: str, wrong: list[str] | str, **fields) -> dict:
    """A choice item whose right answer stands at a random place among the choices."""
    options = [correct] + ([wrong] if isinstance(wrong, str) else list(wrong))
    rng.shuffle(options)
    return {"kind": "choice", **fields, "choices": options, "answer": correct}


def rename(text: str, mapping: dict[str, str]) -> str:
    if not mapping:
        return text
    return re.sub(r"\b(" + "|".join(map(re.escape, mapping)) + r")\b", lambda m: mapping[m[1]], text)


def rename_item(item: dict, mapping: dict[str, str]) -> dict:
    out = dict(item)
    for key in ("context", "prompt", "answer"):
        if isinstance(out.get(key), str):
            out[key] = rename(out[key], mapping)
    if out.get("choices"):
        out["choices"] = [rename(c, mapping) for c in out["choices"]]
    return out


def name_pool(knobs: dict) -> list[str]:
    """Fresh names (the default), or the teaching corpora's own names (`names: seen`, the control)."""
    from ..demo.words import NAMES

    return list(NAMES) if knobs.get("names") == "seen" else list(FRESH_NAMES)


def interleave(rng: random.Random, sentences: list[str], extra: list[str]) -> list[str]:
    """Put each extra sentence at a random place among `sentences` (not first, so a story starts with it)."""
    out = list(sentences)
    for sentence in extra:
        out.insert(rng.randint(1, len(out)), sentence)
    return out
