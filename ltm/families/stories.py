"""ltm's own story families: who holds what after many moves, and arithmetic stories of k steps.

Both are choice items among several candidates (names in the story; nearby numbers), so
chance is 1 / choices and a base model's log-likelihood can score them at any size.
Difficulty grows with the number of moves (steps), people, objects moving at the same time
and idle sentences; for arithmetic with the steps and the size of the numbers.
"""

from __future__ import annotations

import random

from ..demo.words import UNSEEN_NAMES
from .base import Family, choice_item, name_pool, rename_item

_OBJECTS = ["key", "ball", "book", "coin", "cup", "hat", "lamp", "letter", "ring", "spoon"]
_MOVES = ["{h} gives the {t} to {x}.", "{x} takes the {t} from {h}.", "{h} hands the {t} to {x}.",
          "{h} throws the {t} to {x}, and {x} catches it."]
_IDLE = ["{h} waves to {x}.", "{h} sits down next to {x}.", "{h} asks {x} about the weather.", "{x} smiles at {h}."]


def who_holds(rng: random.Random, knobs: dict) -> list[dict]:
    people = rng.sample(name_pool(knobs), int(knobs["people"]))
    things = rng.sample(_OBJECTS, int(knobs.get("objects", 1)))
    holder = {t: rng.choice(people) for t in things}
    lines = [f"{holder[t]} has the {t}." for t in things]
    target = things[0]
    moves = int(knobs["moves"])
    order = [target] * moves + [t for t in things[1:] for _ in range(max(1, moves // 2))]
    rng.shuffle(order)
    idle_left = int(knobs.get("idle", 0))
    for thing in order:
        h = holder[thing]
        x = rng.choice([p for p in people if p != h])
        lines.append(rng.choice(_MOVES).format(h=h, x=x, t=thing))
        holder[thing] = x
        if idle_left and rng.random() < 0.5:
            a, b = rng.sample(people, 2)
            lines.append(rng.choice(_IDLE).format(h=a, x=b))
            idle_left -= 1
    for _ in range(idle_left):
        a, b = rng.sample(people, 2)
        lines.append(rng.choice(_IDLE).format(h=a, x=b))
    answer = holder[target]
    wrong = [p for p in people if p != answer]
    rng.shuffle(wrong)
    clean = choice_item(rng, answer, wrong[:3], measure="general", steps=moves, context=" ".join(lines),
                        prompt=f"So now the {target} is with")
    clean["choices"] = [f"{c}." for c in clean["choices"]]
    clean["answer"] = f"{answer}."
    variants = []
    if "unseen_names" in knobs.get("variants", []):
        mapping = dict(zip(people, rng.sample(UNSEEN_NAMES, len(people)), strict=True))
        variants.append({**rename_item(clean, mapping), "measure": "pressure", "variant": "unseen_names"})
        variants[-1].pop("steps", None)
    return [clean] + variants


_FOODS = ["apples", "pears", "plums", "nuts", "rolls", "lemons", "cookies", "carrots", "eggs", "cakes"]


def arithmetic(rng: random.Random, knobs: dict) -> list[dict]:
    steps, top = int(knobs["steps"]), int(knobs["max_number"])
    a, b = rng.sample(name_pool(knobs), 2)
    food = rng.choice(_FOODS)
    have = rng.randint(2, top)
    lines = [f"{a} has {have} {food}."]
    history = [have]
    for _ in range(steps):
        kind = rng.choice(["buy", "give", "get", "eat"] if have > 1 else ["buy", "get"])
        if kind in ("buy", "get"):
            m = rng.randint(1, top)
            lines.append(f"{a} buys {m} more {food}." if kind == "buy" else f"{b} gives {a} {m} {food}.")
            have += m
        else:
            m = rng.randint(1, have - 1)
            lines.append(f"{a} gives {m} {food} to {b}." if kind == "give" else f"{a} eats {m} of the {food}.")
            have -= m
        history.append(have)
    wrong = {history[-2], have + 1, have - 1, have + 10, history[0]} - {have}
    wrong = sorted(w for w in wrong if w > 0)
    rng.shuffle(wrong)
    clean = choice_item(rng, f"{have} {food}.", [f"{w} {food}." for w in wrong[:3]], measure="general", steps=steps,
                        context=" ".join(lines), prompt=f"How many {food} does {a} have now? {a} has")
    return [clean]


WHO_HOLDS = Family(
    name="who_holds", make=who_holds,
    about="who has the object after a run of gives, takes and throws (other objects moving too)",
    knobs={"moves": "moves of the asked object", "people": "people in the story (the choices are up to 4 of them)",
           "objects": "objects moving in the story (the others are distractors)", "idle": "sentences where nothing moves",
           "names": "`fresh` or `seen` (the teaching corpora's names)", "variants": "pressure variants per clean item"},
    defaults={"names": "fresh", "variants": ["unseen_names"], "objects": 1, "idle": 0},
    levels=({"moves": 1, "people": 3}, {"moves": 2, "people": 3}, {"moves": 3, "people": 4},
            {"moves": 4, "people": 4, "objects": 2}, {"moves": 6, "people": 5, "objects": 2, "idle": 1},
            {"moves": 8, "people": 5, "objects": 3, "idle": 2}, {"moves": 10, "people": 6, "objects": 3, "idle": 3},
            {"moves": 12, "people": 6, "objects": 3, "idle": 4}),
)

ARITHMETIC = Family(
    name="arithmetic", make=arithmetic,
    about="how many are left after k buys, gifts and meals (choices: the answer and near misses)",
    knobs={"steps": "operations after the start", "max_number": "largest number in a step",
           "names": "`fresh` or `seen` (the teaching corpora's names)"},
    defaults={"names": "fresh"},
    levels=({"steps": 1, "max_number": 5}, {"steps": 1, "max_number": 10}, {"steps": 2, "max_number": 10},
            {"steps": 3, "max_number": 20}, {"steps": 4, "max_number": 50}, {"steps": 5, "max_number": 100},
            {"steps": 6, "max_number": 200}, {"steps": 8, "max_number": 1000}),
)
