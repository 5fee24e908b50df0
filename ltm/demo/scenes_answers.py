"""The scenes answered in words rather than by a choice: short answers (scenes/short.yaml: a
name or a number) and judged open answers (scenes/open.yaml: novelty and compression)."""

from __future__ import annotations

import random
import re

from .scene_tools import _THINGS, _Guard, _pick
from .teaching import _arithmetic, _holds
from .words import FOODS, NAMES, NONSENSE_WORDS, OBJECTS, PLACES


def short_scenes(rng: random.Random, guard: _Guard) -> list[dict]:
    """6 who-holds-what stories ("So now" -> a name) and 6 arithmetic stories (-> a number)."""
    out = [{"id": f"short-holds-{k:02d}", **_pick(rng, lambda: _holds_item(rng), guard), "tags": ["who_holds_what"]}
           for k in range(1, 7)]
    out += [{"id": f"short-arith-{k:02d}", **_pick(rng, lambda: _arith_item(rng), guard), "tags": ["arithmetic_stories"]}
            for k in range(1, 7)]
    return out


def _holds_item(rng: random.Random) -> dict | None:
    story = _holds(rng)
    *body, last = story
    match = re.fullmatch(r"So now (\w+) has the (\w+)\.", last)
    objects = {t for t in OBJECTS if re.search(rf"\bthe {t}\b", " ".join(body))}
    if not match or objects != {match[2]}:  # one object only: "So now" must have a single answer
        return None
    return {"kind": "short", "measure": "general", "context": " ".join(body), "prompt": "So now", "answer": match[1]}


_ARITH_ENDS = [
    r"(If \w+ shares them equally among \d+ friends, each friend gets) (\d+)\.",
    r"(How many \w+ does \w+ have now\? \w+ has) (\d+) \w+\.",
    r"(So \w+ has) (\d+) \w+ now\.",
    r"(Together they have \d+ \+ \d+ =) (\d+) \w+\.",
    r"(So now \w+ has) (\d+) \w+ and \w+ has \d+\.",
]


def _arith_item(rng: random.Random) -> dict | None:
    story = _arithmetic(rng, 1).split("\n\n", 1)[1]
    for pattern in _ARITH_ENDS:
        match = re.search(pattern + "$", story)
        if match:
            context = story[: match.start()].strip()
            return {"kind": "short", "measure": "general", "context": context, "prompt": match[1], "answer": match[2]}
    raise ValueError(f"scenes: unknown arithmetic story ending: {story[-80:]!r}")


# ------------------------------------------------------------------ open (judged)
_NOVELTY = [
    ("who_holds_what", "{a} has the {t}. {a} gives the {t} to {b}. {b} puts the {t} in {p}.",
     "Continue the scene in an unexpected way:",
     ["The continuation keeps track of where the {t} is.", "Something happens that the story so far does not predict.",
      "It does not repeat sentences from the scene."]),
    ("cause_and_effect", "The night was very cold. The water pipe froze, and in the morning {a} heard a strange noise.",
     "Continue the scene in an unexpected way:",
     ["Every event follows from the one before it.", "The turn is surprising but still possible.",
      "It does not simply retell the scene."]),
    ("transitive_relations", "{a} is {strong} than {b}. {b} is {strong} than {c}. The three of them enter a contest.",
     "Tell how the contest ends, in a way nobody expects:",
     ["It never contradicts that {a} is {strong} than {c}.", "The ending is surprising, not the obvious winner story.",
      "It is coherent from start to end."]),
    ("arithmetic_stories", "{a} had {n} {f}. {b} gave {a} {m} more, so {a} had {s}.",
     "Continue the story with a surprising turn that keeps the count right:",
     ["Every number it states is right.", "The turn is unexpected.", "It goes beyond repeating the scene."]),
    ("syllogisms", "Every {x} is a {y}. {a} is a {x}. Nobody in the village has ever seen a {y}.",
     "Continue the scene in an unexpected way:",
     ["It respects that {a} is a {y}.", "It makes something new of the nonsense words.",
      "It does not repeat the premises."]),
    ("cause_and_effect", "The alarm did not ring, so {a} woke up late and missed the train.",
     "Continue the scene in an unexpected way:",
     ["The consequences follow from missing the train.", "The turn is one a reader would not guess.",
      "It is coherent and not a retelling."]),
]
_COMPRESSION = [
    ("who_holds_what", "{a} lent the only {t} to {b}. {b} gave the {t} to {c}, who left for the market. "
     "Now {a} needs the {t} and cannot find {c}.", 12,
     "{a} needs the {t}, but {c} has it and is away.",
     ["It says that {a} needs the {t} that {c} now holds.", "It is brief and plain."]),
    ("cause_and_effect", "The phone battery was empty, so {a} could not call {b}. {b} waited at the cafe alone "
     "and thought {a} had forgotten.", 12,
     "{b} thinks {a} forgot; really {a}'s phone was dead.",
     ["It names the misunderstanding between {b} and {a}.", "It keeps the cause: the empty battery."]),
    ("arithmetic_stories", "{a} had {k} {f} and promised 3 to each of 4 friends. On the way home {a} dropped {m} {f}.", 10,
     "{a} has too few {f} to keep the promise.",
     ["It says that {a} now has fewer {f} than promised.", "It is brief."]),
    ("transitive_relations", "{a} is faster than {b}, and {b} is faster than {c}. {c} bet a whole cake on beating {a} "
     "in a race.", 12, "{c} bet on outrunning {a}, who is faster.",
     ["It sees that {c} will likely lose the bet.", "It is brief and plain."]),
    ("syllogisms", "Every {x} is afraid of water. {a} is a {x}. {a}'s friends planned a boat trip for {a}'s birthday.", 12,
     "{a} fears water, but the party is on a boat.",
     ["It names the clash between {a}'s fear and the boat trip.", "It is brief and plain."]),
    ("cause_and_effect", "The river rose after the storm, and the low bridge was under water. {a} has an exam at the "
     "school across the river this morning.", 8,
     "The flood blocks {a}'s way to the exam.",
     ["It says the flooded bridge stands between {a} and the exam.", "It is brief."]),
]


def _slots(rng: random.Random) -> dict[str, str]:
    a, b, c = rng.sample(NAMES, 3)
    x, y = rng.sample(NONSENSE_WORDS, 2)
    n, m = rng.randint(5, 12), rng.randint(2, 4)
    return {"a": a, "b": b, "c": c, "t": rng.choice(_THINGS), "p": rng.choice(PLACES), "x": x, "y": y,
            "strong": rng.choice(["faster", "stronger", "louder"]), "f": rng.choice(FOODS), "n": str(n), "m": str(m),
            "s": str(n + m), "k": str(rng.randint(12, 13))}


def open_scenes(rng: random.Random, guard: _Guard) -> list[dict]:
    """6 novelty and 6 compression items built on the corpora's situations."""

    def novelty(k: int, tag: str, context: str, prompt: str, principles: list[str]) -> dict:
        slots = _slots(rng)
        return {"id": f"open-novelty-{k:02d}", "kind": "open", "measure": "novelty", "context": context.format(**slots),
                "prompt": prompt, "principles": [p.format(**slots) for p in principles], "tags": [tag]}

    def compression(k: int, tag: str, context: str, words: int, reference: str, principles: list[str]) -> dict:
        slots = _slots(rng)
        answer = reference.format(**slots)
        assert len(answer.split()) <= words, answer
        return {"id": f"open-compress-{k:02d}", "kind": "open", "measure": "compression",
                "context": context.format(**slots),
                "prompt": f"In at most {words} words, say what the tension in this scene is:", "answer": answer,
                "principles": [p.format(**slots) for p in principles] + [f"It uses at most {words} words."],
                "max_words": words, "tags": [tag]}

    # Names and words are drawn again when a sentence would copy a corpus conclusion ("So Paul is a fep.").
    out = [_pick(rng, lambda k=k, args=args: novelty(k, *args), guard) for k, args in enumerate(_NOVELTY, 1)]
    out += [_pick(rng, lambda k=k, args=args: compression(k, *args), guard) for k, args in enumerate(_COMPRESSION, 1)]
    return out
