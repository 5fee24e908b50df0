"""The consistency scenes (scenes/consistency.yaml): one fact asked three ways, who-holds-what
chains that continue each other, and syllogisms asked after two leads and negated."""

from __future__ import annotations

import random

from .scene_tools import _LEADS, _THINGS, SYLLOGISM_GROUPS, _choice_item, _first_mentioned, _Guard, _pick, _syllogism_item
from .teaching import _CONNECTIVES, derivable
from .words import NAMES, PLACES, RELATIONS, superlative

_MOVES = ["{h} gives the {t} to {x}.", "{x} takes the {t} from {h}.", "{h} hands the {t} to {x}.",
          "{h} throws the {t} to {x}, and {x} catches it.", "{h} puts the {t} in {p}. Later {x} takes the {t} out of {p}."]

_IDLE = ["{h} waves to {x}.", "{h} sits down next to {x}.", "{h} asks {x} about the weather."]


def consistency_scenes(rng: random.Random, guard: _Guard) -> list[dict]:
    """10 groups asking one fact three ways (more, less, superlative), 4 who-holds-what chains and
    24 syllogisms asked after two leads and once negated; every group position- and answer-balanced."""
    out: list[dict] = []
    for g in range(1, 11):
        out += _pick(rng, lambda g=g: _fact_group(rng, g), guard)
    for c in range(1, 5):
        out += _pick(rng, lambda c=c: _holds_chain(rng, c, 10 + c, three=c % 2 == 1), guard)
    for g in range(1, SYLLOGISM_GROUPS + 1):
        out += _pick(rng, lambda g=g: _syllogism_group(rng, g, premises=(2, 3)[g % 2], negative=g % 4 in (1, 2)), guard)
    return out


# A consistency group must not be answerable all right by a preference that ignores the premises.
# Asked three times with the same two sentences, a model that always picks the sentence with a
# "not" (or the first listed) gets every negative (or every first-listed) group right: measured,
# that is how distractor adapters "gained" consistency (docs/benchmarks.md). So the right answer
# stands first in one item and second in another, and the third item asks for the contradiction
# ("It is false that ..."), whose right answer is the other sentence.
NEGATED_LEAD = "It is false that"


def _balanced(items: list[dict]) -> list[dict]:
    """Put the right answer first in the first item and second in the second (the rest keep theirs)."""
    out = []
    for k, item in enumerate(items):
        if k < 2:
            wrong = next(c for c in item["choices"] if c != item["answer"])
            item = {**item, "choices": [item["answer"], wrong] if k == 0 else [wrong, item["answer"]]}
        out.append(item)
    return out


def _syllogism_group(rng: random.Random, g: int, premises: int, negative: bool) -> list[dict]:
    """One syllogism asked after two different leads, then as "It is false that ...": the right
    sentence differs in position and in polarity across the group."""
    first = _syllogism_item(rng, premises, negative)
    wrong = next(c for c in first["choices"] if c != first["answer"])
    leads = rng.sample(_LEADS, 2)
    common = {"kind": "choice", "measure": "consistency", "group": f"s{g:02d}", "context": first["context"]}
    group = [_choice_item(rng, first["answer"], wrong, id=f"cons-syl-g{g:02d}-{n + 1}", **common, prompt=lead)
             for n, lead in enumerate(leads)]
    group.append(_choice_item(rng, wrong, first["answer"], id=f"cons-syl-g{g:02d}-3", **common, prompt=NEGATED_LEAD))
    return [{**item, "tags": ["syllogisms"]} for item in _balanced(group)]


def _fact_group(rng: random.Random, g: int) -> list[dict]:
    steps = rng.choice([2, 3])
    more, less = rng.choice(RELATIONS)
    people = rng.sample(NAMES, steps + 1)
    premises = [f"{a} is {more} than {b}." if rng.random() < 0.5 else f"{b} is {less} than {a}."
                for a, b in zip(people, people[1:], strict=False)]
    rng.shuffle(premises)
    context = " ".join(premises)
    top, bottom = people[0], people[-1]
    first = _first_mentioned(context, people)
    assert derivable(premises, f"So {top} is {more} than {bottom}.")
    assert derivable(premises, f"So {bottom} is {less} than {top}.")
    if rng.random() < 0.5:
        sup_right = f"{top} is the {superlative(more)} of them all."
        sup_wrong = f"{first if first != top else bottom} is the {superlative(more)} of them all."
    else:
        sup_right = f"{bottom} is the {superlative(less)} of them all."
        sup_wrong = f"{first if first != bottom else top} is the {superlative(less)} of them all."
    common = {"kind": "choice", "measure": "consistency", "group": f"g{g:02d}", "context": context}
    group = [
        _choice_item(rng, f"{top} is {more} than {bottom}.", f"{bottom} is {more} than {top}.", id=f"cons-g{g:02d}-more",
                     **common, prompt=rng.choice(_CONNECTIVES)),
        _choice_item(rng, f"{bottom} is {less} than {top}.", f"{top} is {less} than {bottom}.", id=f"cons-g{g:02d}-less",
                     **common, prompt=rng.choice(_CONNECTIVES)),
        _choice_item(rng, sup_right, sup_wrong, id=f"cons-g{g:02d}-most", **common, prompt=rng.choice(_CONNECTIVES)),
    ]
    return [{**item, "tags": ["transitive_relations"]} for item in _balanced(group)]


def _move(rng: random.Random, holder: str, taker: str, thing: str) -> str:
    return rng.choice(_MOVES).format(h=holder, x=taker, t=thing, p=rng.choice(PLACES))


def _holds_chain(rng: random.Random, c: int, g: int, three: bool) -> list[dict]:
    """Scene a: one pass; scene b follows it with another pass; scene c (sometimes) adds an idle sentence."""
    a, b, x, d = rng.sample(NAMES, 4)
    thing = rng.choice(_THINGS)
    common = {"kind": "short", "measure": "consistency", "group": f"g{g:02d}", "prompt": "So now"}
    chain = [{"id": f"cons-chain-{c:02d}-a", **common, "context": f"{a} has the {thing}. {_move(rng, a, b, thing)}",
              "answer": b},
             {"id": f"cons-chain-{c:02d}-b", **common, "follows": f"cons-chain-{c:02d}-a",
              "context": _move(rng, b, x, thing), "answer": x}]
    if three:  # nothing moves, and the last name said is not the holder's
        chain.append({"id": f"cons-chain-{c:02d}-c", **common, "follows": f"cons-chain-{c:02d}-b",
                      "context": rng.choice(_IDLE).format(h=x, x=d), "answer": x})
    return [{**item, "tags": ["who_holds_what"]} for item in chain]
