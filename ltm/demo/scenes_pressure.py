"""The pressure scenes (scenes/pressure.yaml): clean chains and syllogisms, each with six
variants that keep the facts and the answer (swapped premises, unseen names or words, a
distracting sentence, a conflicting claim marked untrue, a distorted copy, a paraphrase)."""

from __future__ import annotations

import random
import re

from .scene_tools import (
    SYLLOGISM_GROUPS,
    _base,
    _choice_item,
    _first_mentioned,
    _Guard,
    _pick,
    _rename,
    _syllogism_item,
    sentences,
)
from .teaching import _CONNECTIVES, _PREMISE, _fact, derivable
from .words import NAMES, NONSENSE_WORDS, RELATIONS, UNSEEN_NAMES, UNSEEN_WORDS, plural

_DISTRACTIONS = ["It was windy and cold on Tuesday.", "It rained all morning, and the wind came from the north.",
                 "{x} needs to buy flour, eggs and tea.", "The shop on the corner sells pears and bread.",
                 "{x} wrote a list: milk, soap and honey.", "The morning was foggy, 4 C at noon.",
                 "{x} bought two lemons and a bag of rice.", "Snow fell in the night, and the roads were white."]
_CONFLICTS = ["Someone joked that {w}, but that was not true.", "A child once said that {w}, but that was a mistake.",
              "A rumour said that {w}, but it was wrong.", "Someone guessed that {w}, but the guess was false."]


def _paraphrase(rng: random.Random, premise: str) -> str:
    """The same fact in words the corpora never use: "B is not as tall as A", "Compared with B, A is taller"."""
    more, hi, lo = _fact(_PREMISE.match(premise))
    if rng.random() < 0.5:
        return f"{lo} is not as {_base(more)} as {hi}."
    return f"Compared with {lo}, {hi} is {more}."


def _double_a_word(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    k = rng.randrange(len(words) - 1)
    return " ".join(words[: k + 1] + [words[k].rstrip(".")] + words[k + 1:])


def pressure_scenes(rng: random.Random, guard: _Guard) -> list[dict]:
    """12 clean chains (4 each of 2, 3, 4 steps) that the shortcut gets right, each with six variants;
    24 clean syllogisms (half of them negative), each with six variants."""
    out: list[dict] = []
    for k in range(1, 13):
        steps = (2, 3, 4)[(k - 1) % 3]
        out += _pick(rng, lambda k=k, steps=steps: _pressure_group(rng, k, steps), guard)
    for k in range(1, SYLLOGISM_GROUPS + 1):
        premises, negative = (2, 3)[(k - 1) % 2], k % 4 in (0, 3)
        out += _pick(rng, lambda k=k, n=premises, neg=negative: _syllogism_pressure_group(rng, k, n, neg), guard)
    return out


# Unrelated sentences for syllogism scenes: half hold a "no"/"not", which a model that only
# looks for a negation anywhere (instead of in the premises) takes for a negative premise.
_SYL_DISTRACTIONS = ["The shop was not open on Sunday.", "There was no milk for the tea.", "{x} did not like the rain.",
                     "It was windy and cold on Tuesday.", "{x} bought two lemons and a bag of rice.",
                     "The morning was foggy, 4 C at noon."]
# Claims of the wrong conclusion marked as untrue without a "not" (which would give it away).
_SYL_CONFLICTS = ["A child once said that {w}, but that was a mistake.", "A rumour said that {w}, but it was wrong.",
                  "Someone guessed that {w}, but the guess was false."]
_SYL_PARAPHRASES = [  # the same premise in words the corpora never use; plural All/No premises: below
    (r"^Every (\w+) is a (\w+)\.$", r"Each \1 is a \2."),
    (r"^No (\w+) is a (\w+)\.$", r"There is no \1 that is a \2."),
    (r"^(\w+) is a (\w+)\.$", lambda m: f"{m[1]} is one of the {plural(m[2])}."),
    (r"^(\w+) is not a (\w+)\.$", lambda m: f"{m[1]} is not one of the {plural(m[2])}."),
]


def _singular(word: str) -> str:
    return next(w for w in NONSENSE_WORDS + UNSEEN_WORDS if plural(w) == word)


def _paraphrase_syllogism(premise: str) -> str:
    """All daxes are wugs -> Each dax is a wug; No dax is a wug -> There is no dax that is a wug; ..."""
    match = re.match(r"^(All|No) (\w+) are (\w+)\.$", premise)
    if match:
        a, b = _singular(match[2]), _singular(match[3])
        return f"Each {a} is a {b}." if match[1] == "All" else f"There is no {a} that is a {b}."
    for pattern, replace in _SYL_PARAPHRASES:
        if re.match(pattern, premise):
            return re.sub(pattern, replace, premise)
    raise ValueError(f"scenes: no paraphrase for {premise!r}")


def _syllogism_pressure_group(rng: random.Random, k: int, premises: int, negative: bool) -> list[dict] | None:
    clean = _syllogism_item(rng, premises, negative, leads=["So"])
    clean_id = f"press-syl-{k:02d}"
    clean.update(id=clean_id, measure="pressure")
    del clean["steps"]
    lines = sentences(clean["context"])
    correct, wrong = clean["answer"], next(c for c in clean["choices"] if c != clean["answer"])

    def variant(name: str, context: str, **changes) -> dict:
        return {"id": f"{clean_id}-{name}", "kind": "choice", "measure": "pressure", "variant_of": clean_id,
                "variant": name, "context": context, "prompt": clean["prompt"],
                "choices": changes.get("choices", clean["choices"]), "answer": changes.get("answer", correct)}

    swapped = list(lines)
    while swapped == lines:
        rng.shuffle(swapped)
    words = sorted({w for w in NONSENSE_WORDS for line in lines if re.search(rf"\b{w}(e?s)?\b", line)})
    mapping = dict(zip(words, rng.sample(UNSEEN_WORDS, len(words)), strict=True))
    mapping.update({plural(w): plural(u) for w, u in list(mapping.items())})
    names = [n for n in NAMES if re.search(rf"\b{n}\b", clean["context"])]
    spot = rng.randrange(1, len(lines))
    distraction = rng.choice(_SYL_DISTRACTIONS).format(x=names[0] if names else rng.choice(NAMES))
    conflict = rng.choice(_SYL_CONFLICTS).format(w=wrong[:-1])
    group = [
        clean,
        variant("swapped", " ".join(swapped)),
        variant("unseen_names", _rename(clean["context"], mapping), choices=[_rename(c, mapping) for c in clean["choices"]],
                answer=_rename(correct, mapping)),
        variant("distracting", " ".join(lines[:spot] + [distraction] + lines[spot:])),
        variant("conflicting", " ".join(lines + [conflict])),
        variant("distorted", _double_a_word(rng, lines[0].lower()) + " " + " ".join(lines[1:]).lower()),
        variant("paraphrase", " ".join(_paraphrase_syllogism(line) for line in lines)),
    ]
    return [{**item, "tags": ["syllogisms"]} for item in group]


def _pressure_group(rng: random.Random, k: int, steps: int) -> list[dict]:
    more, less = rng.choice(RELATIONS)
    people = rng.sample(NAMES, steps + 1)  # most to least
    if rng.random() < 0.5:
        premises = [f"{a} is {more} than {b}." for a, b in zip(people, people[1:], strict=False)]
        correct, wrong = f"{people[0]} is {more} than {people[-1]}.", f"{people[-1]} is {more} than {people[0]}."
        first, second = people[0], people[-1]
    else:
        premises = [f"{b} is {less} than {a}." for a, b in zip(people, people[1:], strict=False)][::-1]
        correct, wrong = f"{people[-1]} is {less} than {people[0]}.", f"{people[0]} is {less} than {people[-1]}."
        first, second = people[-1], people[0]
    lead = rng.choice(_CONNECTIVES)
    assert derivable(premises, f"So {correct}") and not derivable(premises, f"So {wrong}")
    clean_id = f"press-{k:02d}"
    clean = _choice_item(rng, correct, wrong, id=clean_id, kind="choice", measure="pressure", context=" ".join(premises),
                         prompt=lead)
    assert _first_mentioned(clean["context"], (first, second)) == first  # the shortcut is right here
    choices = clean["choices"]

    def variant(name: str, context: str, **changes) -> dict:
        return {"id": f"{clean_id}-{name}", "kind": "choice", "measure": "pressure", "variant_of": clean_id,
                "variant": name, "context": context, "prompt": lead, "choices": changes.get("choices", choices),
                "answer": changes.get("answer", correct)}

    swapped = list(premises)
    while _first_mentioned(" ".join(swapped), (first, second)) == first:
        rng.shuffle(swapped)
    assert derivable(swapped, f"So {correct}")
    mapping = dict(zip(people, rng.sample(UNSEEN_NAMES, len(people)), strict=True))
    unseen = _rename(clean["context"], mapping)
    assert derivable(sentences(unseen), f"So {_rename(correct, mapping)}")
    spot = rng.randrange(1, len(premises))
    distraction = rng.choice(_DISTRACTIONS).format(x=rng.choice(people))
    conflict = rng.choice(_CONFLICTS).format(w=wrong[:-1])
    distorted = _double_a_word(rng, premises[0].lower()) + " " + " ".join(premises[1:]).lower()
    group = [
        clean,
        variant("swapped", " ".join(swapped)),
        variant("unseen_names", unseen, choices=[_rename(c, mapping) for c in choices], answer=_rename(correct, mapping)),
        variant("distracting", " ".join(premises[:spot] + [distraction] + premises[spot:])),
        variant("conflicting", " ".join(premises + [conflict])),
        variant("distorted", distorted),
        variant("paraphrase", " ".join(_paraphrase(rng, p) for p in premises)),
    ]
    return [{**item, "tags": ["transitive_relations"]} for item in group]
