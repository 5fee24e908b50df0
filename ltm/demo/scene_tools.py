"""What every shipped-scene generator shares: the guard that keeps an item from copying a
conclusion the sample corpora state, the size limit of an item, and small item helpers
(a two-way choice, a chain's order, renaming, the syllogism choice item).
"""

from __future__ import annotations

import random
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from .sample_corpora import generate_corpora
from .teaching import _PREMISE, _fact, syllogism
from .words import OBJECTS, PLACES, RELATIONS, _cap
from .words import SEED as CORPUS_SEED

TEACHING = ("transitive_relations", "syllogisms", "who_holds_what", "arithmetic_stories", "cause_and_effect")
# Input + longest choice, in words and punctuation marks (a number of two digits or more counts twice):
# at most about 90 tokens of the tiny base's 128-token context, with room left for a short answer.
MAX_PIECES = 56
_LEADS = ("So", "Therefore", "This means that", "It follows that")
_THINGS = [t for t in OBJECTS if f"the {t}" not in PLACES]  # no "puts the box in the box"
# Syllogism groups per measure (pressure, consistency). A group is one unit of its measure, and
# consistency and pressure score a group all-or-nothing, so their intervals are wide: 24 groups
# rather than 12 narrow them by about 1/sqrt(2) (measured: docs/benchmarks.md, ranking section).
SYLLOGISM_GROUPS = 24


# ------------------------------------------------------------------ guard against copies
def sentences(text: str) -> list[str]:
    """Split text into sentences at ., ? or ! followed by white space."""
    return [s.strip() for s in re.split(r"(?<=[.?!])\s+", text) if s.strip()]


def corpus_conclusions(texts: Iterable[str]) -> set[str]:
    """Every conclusion sentence of the texts ("So A is taller than C."), with and without its lead."""
    found: set[str] = set()
    for text in texts:
        for sentence in sentences(text):
            for lead in _LEADS:
                if sentence.startswith(lead + " "):
                    found.add(sentence)
                    found.add(_cap(sentence[len(lead) + 1:]))
    return found


def _sample_corpus_texts(seed: int = CORPUS_SEED) -> list[str]:
    """The sample corpora's texts, generated afresh (so a user's own files in corpora/ do not matter)."""
    with tempfile.TemporaryDirectory() as tmp:
        return [path.read_bytes().decode("utf-8", errors="replace") for path in generate_corpora(Path(tmp), seed)]


class _Guard:
    """Says whether an item copies a sentence the corpora state as a conclusion."""

    def __init__(self, conclusions: set[str]):
        self.conclusions = conclusions

    def fresh(self, item: dict) -> bool:
        texts = [item.get("context", ""), item["prompt"]]
        for choice in item.get("choices", []):
            texts += [choice, f"{item['prompt']} {choice}"]
        return not any(s in self.conclusions or _cap(s) in self.conclusions for t in texts for s in sentences(t))


# ------------------------------------------------------------------ small helpers
def _pieces(text: str) -> int:
    return len(re.findall(r"\w+|[^\w\s]", text)) + len(re.findall(r"\d\d", text))


def _size(item: dict, before: str = "") -> int:
    """Rough token count of the item's input and its longest choice (see MAX_PIECES)."""
    longest = max((_pieces(c) for c in item.get("choices", [])), default=0)
    return _pieces(f"{before} {item.get('context', '')} {item['prompt']}") + longest


def _choice_item(rng: random.Random, correct: str, wrong: str, **fields) -> dict:
    """A two-way choice item; which choice is listed first is random."""
    choices = [correct, wrong] if rng.random() < 0.5 else [wrong, correct]
    return {**fields, "choices": choices, "answer": correct}


def _order(premises: list[str]) -> tuple[str, str, list[str]]:
    """(more, less, people from most to least) of a chain written in any order and direction."""
    facts = [_fact(_PREMISE.match(p)) for p in premises]
    more = facts[0][0]
    less = dict(RELATIONS)[more]
    below = {hi: lo for _, hi, lo in facts}
    lows = {lo for _, _, lo in facts}
    people = [next(hi for _, hi, _ in facts if hi not in lows)]
    while people[-1] in below:
        people.append(below[people[-1]])
    return more, less, people


def _first_mentioned(text: str, names: Iterable[str]) -> str:
    return min(names, key=lambda n: re.search(rf"\b{n}\b", text).start())


def _rename(text: str, mapping: dict[str, str]) -> str:
    return re.sub(r"\b(" + "|".join(map(re.escape, mapping)) + r")\b", lambda m: mapping[m[1]], text)


def _base(comparative: str) -> str:
    """taller -> tall, heavier -> heavy."""
    stem = comparative[:-2]
    return stem[:-1] + "y" if stem.endswith("i") else stem


def _pick(rng: random.Random, make: Callable[[], dict | list[dict] | None], guard: _Guard, tries: int = 10_000):
    """Call `make` until it returns items that copy no corpus conclusion and fit the context."""
    for _ in range(tries):
        made = make()
        if made is None:
            continue
        items = made if isinstance(made, list) else [made]
        if all(guard.fresh(i) and _size(i) <= MAX_PIECES for i in items):
            return made
    raise RuntimeError("scenes: no fresh item found; loosen the generator's constraints")


def _syllogism_item(rng: random.Random, premises: int, negative: bool, seen: set[str] | None = None,
                    leads: list[str] | None = None) -> dict | None:
    """A two-way choice between a syllogism's conclusion and its contradiction (they differ by one
    "not", or "all" against "no"), so only the premises' form tells them apart."""
    lines, conclusion = syllogism(rng, premises, negative, leads=leads)
    context = " ".join(lines)
    if seen is not None:
        if context in seen:
            return None
        seen.add(context)
    lead = next(lead for lead in _LEADS if conclusion.startswith(lead + " "))
    body = conclusion[len(lead) + 1:]
    return _choice_item(rng, body, _negate(body), kind="choice", steps=premises - 1, context=context, prompt=lead)


def _negate(body: str) -> str:
    """The contradicting conclusion of a syllogism: all <-> no, is a <-> is not a."""
    for pattern, replace in ((r"^all (\w+) are (\w+)\.$", r"no \1 are \2."), (r"^no (\w+) are (\w+)\.$", r"all \1 are \2."),
                             (r"^(\w+) is not a (\w+)\.$", r"\1 is a \2."), (r"^(\w+) is a (\w+)\.$", r"\1 is not a \2.")):
        if re.match(pattern, body):
            return re.sub(pattern, replace, body)
    raise ValueError(f"scenes: unknown syllogism conclusion {body!r}")
