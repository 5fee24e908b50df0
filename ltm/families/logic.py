"""ltm's own logic families: transitive chains and syllogism chains, with pressure variants.

Both are choice items between a conclusion and its reverse (or its negation): only the
premises tell the two apart. Difficulty grows with the chain (steps), shuffled premise
order, mixed phrasing ("taller" / "shorter") and distractor sentences. Every clean item comes
with the pressure variants that catch shortcuts (docs/scenes.md): ``swapped`` premise order,
``unseen_names`` (names or words held back from every corpus) and ``paraphrase``.
"""

from __future__ import annotations

import random

from ..demo.words import RELATIONS, UNSEEN_NAMES, plural
from .base import FRESH_WORDS, Family, choice_item, interleave, name_pool, rename, rename_item

_LEADS = ["So", "Therefore", "It follows that"]
_WEATHER = ["It was windy and cold on Tuesday.", "The shop on the corner sells pears and bread.",
            "Snow fell in the night, and the roads were white.", "The train was ten minutes late.",
            "A dog barked somewhere down the street.", "The tea had gone cold."]


def _base(comparative: str) -> str:
    stem = comparative[:-2]
    return stem[:-1] + "y" if stem.endswith("i") else stem


def _variants(rng: random.Random, clean: dict, premises: list[str], extra: list[str], paraphrase, unseen: dict,
              wanted: list[str]) -> list[dict]:
    """The pressure variants of a clean item: same facts, same answer (renamed where names change)."""
    out = []
    lines = interleave(random.Random(rng.random()), premises, extra) if extra else premises
    if "swapped" in wanted and len(premises) > 1:
        swapped = list(premises)[::-1]
        out.append({**clean, "measure": "pressure", "variant": "swapped",
                    "context": " ".join(interleave(random.Random(rng.random()), swapped, extra))})
    if "unseen_names" in wanted:
        out.append({**rename_item(clean, unseen), "measure": "pressure", "variant": "unseen_names"})
    if "paraphrase" in wanted:
        said = {p: paraphrase(p) for p in premises}
        out.append({**clean, "measure": "pressure", "variant": "paraphrase",
                    "context": " ".join(said.get(line, line) for line in lines)})
    for item in out:
        item.pop("steps", None)
    return out


def transitive(rng: random.Random, knobs: dict) -> list[dict]:
    steps, pool = int(knobs["steps"]), name_pool(knobs)
    people = rng.sample(pool, steps + 1)  # from most to least
    more, less = rng.choice(RELATIONS)
    premises = []
    for a, b in zip(people, people[1:], strict=False):
        use_less = knobs.get("mixed") and rng.random() < 0.5
        premises.append(f"{b} is {less} than {a}." if use_less else f"{a} is {more} than {b}.")
    if knobs.get("shuffle"):
        rng.shuffle(premises)
    extra = [rng.choice(_WEATHER) for _ in range(int(knobs.get("distractors", 0)))]
    top, bottom = people[0], people[-1]
    if not knobs.get("converse", True) or rng.random() < 0.5:  # asked with the premises' own word, or the other
        correct, wrong = f"{top} is {more} than {bottom}.", f"{bottom} is {more} than {top}."
    else:
        correct, wrong = f"{bottom} is {less} than {top}.", f"{top} is {less} than {bottom}."
    lines = interleave(rng, premises, extra) if extra else premises
    clean = choice_item(rng, correct, wrong, measure="depth", steps=steps, context=" ".join(lines),
                        prompt=rng.choice(_LEADS))

    def paraphrase(premise: str) -> str:
        a, _, word, _, b = premise[:-1].split(" ", 4)
        if word == more:  # "A is taller than B." -> "B is not as tall as A."
            return f"{b} is not as {_base(more)} as {a}."
        return f"Compared with {b}, {a} is {less}."

    unseen = dict(zip(people, rng.sample(UNSEEN_NAMES, len(people)), strict=True))
    return [clean] + _variants(rng, clean, premises, extra, paraphrase, unseen, knobs.get("variants", []))


def syllogism_chain(rng: random.Random, knobs: dict) -> list[dict]:
    """All c0s are c1s. All c1s are c2s. ... Zed is a c0. -> Zed is (not) a cN."""
    links = int(knobs["premises"])
    distractors = int(knobs.get("distractors", 0))
    words = rng.sample(FRESH_WORDS, links + 1 + 2 * distractors)
    cats, spare = words[: links + 1], words[links + 1:]
    who = rng.choice(name_pool(knobs))
    negative = rng.random() < 0.5
    premises = [f"All {plural(a)} are {plural(b)}." for a, b in zip(cats, cats[1:], strict=False)]
    if negative:
        premises[-1] = f"No {plural(cats[-2])} are {plural(cats[-1])}."
    premises.append(f"{who} is a {cats[0]}.")
    if knobs.get("shuffle"):
        rng.shuffle(premises)
    # Distractors are premises about other categories: they look like links but lead nowhere.
    extra = [f"All {plural(spare[2 * k])} are {plural(spare[2 * k + 1])}." for k in range(distractors)]
    yes, no = f"{who} is a {cats[-1]}.", f"{who} is not a {cats[-1]}."
    correct, wrong = (no, yes) if negative else (yes, no)
    lines = interleave(rng, premises, extra) if extra else premises
    clean = choice_item(rng, correct, wrong, measure="depth", steps=links, context=" ".join(lines),
                        prompt=rng.choice(_LEADS))

    def paraphrase(premise: str) -> str:
        parts = premise[:-1].split(" ")
        if parts[0] in ("All", "No"):
            a, b = parts[1], parts[3]
            a, b = next(w for w in words if plural(w) == a), next(w for w in words if plural(w) == b)
            return f"Each {a} is a {b}." if parts[0] == "All" else f"There is no {a} that is a {b}."
        return f"{parts[0]} is one of the {plural(parts[-1])}."

    others = [w for w in FRESH_WORDS if w not in words]
    unseen = dict(zip(cats, rng.sample(others, len(cats)), strict=True))
    unseen.update({plural(k): plural(v) for k, v in list(unseen.items())})
    unseen[who] = rng.choice(UNSEEN_NAMES)
    return [clean] + _variants(rng, clean, premises, extra, paraphrase, unseen, knobs.get("variants", []))


_PRESSURE = ["swapped", "unseen_names", "paraphrase"]

TRANSITIVE = Family(
    name="transitive", make=transitive,
    about="who is taller (older, faster, ...) at the two ends of a chain of comparisons",
    knobs={"steps": "comparisons between the two people asked about", "shuffle": "premises in random order",
           "converse": "the conclusion may use the other word ('shorter' for 'taller'); off: the premises' own word",
           "mixed": "each premise said as 'more' or 'less' at random", "distractors": "unrelated sentences among the premises",
           "names": "`fresh` (no corpus uses them) or `seen` (the teaching corpora's names: the contamination control)",
           "variants": "pressure variants made for every clean item"},
    defaults={"names": "fresh", "variants": _PRESSURE, "shuffle": False, "mixed": False, "distractors": 0,
              "converse": True},
    levels=({"steps": 1, "converse": False}, {"steps": 1}, {"steps": 2}, {"steps": 2, "shuffle": True, "mixed": True},
            {"steps": 3, "shuffle": True, "mixed": True}, {"steps": 4, "shuffle": True, "mixed": True, "distractors": 1},
            {"steps": 6, "shuffle": True, "mixed": True, "distractors": 2},
            {"steps": 8, "shuffle": True, "mixed": True, "distractors": 2},
            {"steps": 10, "shuffle": True, "mixed": True, "distractors": 3},
            {"steps": 12, "shuffle": True, "mixed": True, "distractors": 4}),
)

SYLLOGISM_CHAIN = Family(
    name="syllogism_chain", make=syllogism_chain,
    about="is Zed a wug? a chain of 'All A are B' links (the last one 'No ... are ...' half the time) over nonsense words",
    knobs={"premises": "links from the person's category to the asked one", "shuffle": "premises in random order",
           "distractors": "'All X are Y' premises about unrelated categories",
           "names": "`fresh` or `seen` (the teaching corpora's names)", "variants": "pressure variants per clean item"},
    defaults={"names": "fresh", "variants": _PRESSURE, "shuffle": False, "distractors": 0},
    levels=({"premises": 1}, {"premises": 2}, {"premises": 2, "shuffle": True}, {"premises": 3, "shuffle": True},
            {"premises": 4, "shuffle": True, "distractors": 1}, {"premises": 5, "shuffle": True, "distractors": 2},
            {"premises": 6, "shuffle": True, "distractors": 3}, {"premises": 8, "shuffle": True, "distractors": 4}),
)

__all__ = ["TRANSITIVE", "SYLLOGISM_CHAIN", "rename"]
