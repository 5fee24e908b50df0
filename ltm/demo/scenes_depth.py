"""The depth scenes (scenes/depth.yaml): transitive chains of 2, 3 and 4 steps, balanced
against the first-named shortcut, and syllogisms of 1 and 2 steps."""

from __future__ import annotations

import random

from .scene_tools import MAX_PIECES, _choice_item, _first_mentioned, _Guard, _order, _pick, _size, _syllogism_item
from .teaching import _CONCLUSION, derivable, transitive_chain


def depth_scenes(rng: random.Random, guard: _Guard) -> list[dict]:
    """12 transitive items each of 2, 3 and 4 steps (half of each set against the shortcut), 48 syllogisms (24 of 1 step, 24 of 2)."""
    buckets: dict[tuple[int, bool], list[dict]] = {(s, ok): [] for s in (2, 3, 4) for ok in (True, False)}
    seen: set[str] = set()
    for _ in range(100_000):
        if all(len(b) == 6 for b in buckets.values()):
            break
        premises, conclusion = transitive_chain(rng, steps=rng.choice([2, 3, 4, 4]))
        match = _CONCLUSION.match(conclusion)
        if not match:  # a superlative conclusion: depth asks pairs
            continue
        a, word, b = match.groups()
        lead = conclusion[: match.start(1)].strip()
        _, _, people = _order(premises)
        steps = abs(people.index(a) - people.index(b))
        context = " ".join(premises)
        shortcut_right = _first_mentioned(context, (a, b)) == a
        bucket = buckets[(steps, shortcut_right)]
        correct, wrong = f"{a} is {word} than {b}.", f"{b} is {word} than {a}."
        assert derivable(premises, conclusion) and not derivable(premises, f"So {wrong}")
        item = _choice_item(rng, correct, wrong, kind="choice", measure="depth", steps=steps,
                            context=context, prompt=lead)
        if len(bucket) < 6 and context not in seen and guard.fresh(item) and _size(item) <= MAX_PIECES:
            seen.add(context)
            bucket.append(item)
    else:
        raise RuntimeError("scenes: depth buckets not filled")
    out: list[dict] = []
    for steps in (2, 3, 4):
        items = buckets[(steps, True)] + buckets[(steps, False)]
        rng.shuffle(items)
        out += [{"id": f"depth-tr-{steps}-{k:02d}", **item, "tags": ["transitive_relations"]}
                for k, item in enumerate(items, 1)]
    seen_syl: set[str] = set()
    for premises in (2, 3):  # 1 and 2 steps; 12 affirmative and 12 negative conclusions each
        items = [_pick(rng, lambda n=premises, neg=negative: _syllogism_item(rng, n, neg, seen_syl), guard)
                 for negative in (False, True) * 12]
        rng.shuffle(items)
        out += [{"id": f"depth-syl-{premises - 1}-{k:02d}", **item, "measure": "depth", "tags": ["syllogisms"]}
                for k, item in enumerate(items, 1)]
    return out
