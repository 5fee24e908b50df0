"""reasoning-gym's generators as scene families (wrapped, not rewritten).

reasoning-gym (Apache-2.0) makes seeded items with difficulty settings and scores answers
with its own scorer. A base model that was never instructed rarely writes an answer in the
requested format, so by default each item becomes a *choice* item: the right answer among
wrong ones of the same shape (other relations, other knight/knave assignments, nearby
numbers), scored by log-likelihood like every choice scene. ``form: short`` keeps the
generated-answer form instead, scored by reasoning-gym's own ``score_answer``
(``scorer: reasoning_gym:<dataset>`` on the item).

Names that ltm's teaching corpora use are renamed to fresh ones (``names: seen`` keeps
them: the contamination control).
"""

from __future__ import annotations

import random
import re
from functools import cache

from ..demo.words import NAMES, UNSEEN_NAMES
from ..errors import LtmError
from .base import FRESH_NAMES, Family, choice_item, rename_item

_RELATIONS = ["mother", "father", "sister", "brother", "daughter", "son", "wife", "husband", "grandmother",
              "grandfather", "aunt", "uncle", "niece", "nephew", "mother-in-law", "father-in-law"]


def _gym():
    try:
        import reasoning_gym
    except ImportError:
        raise LtmError("the reasoning-gym families need the package reasoning-gym — pip install 'reasoning-gym==0.1.25' "
                       "(or pip install -e '.[families]')") from None
    return reasoning_gym


def _entry(dataset: str, rng: random.Random, config: dict) -> dict:
    """One item; some generators fail on an unlucky seed (no puzzle found), so a few seeds are tried."""
    problem = None
    for _ in range(20):
        try:
            return _gym().create_dataset(dataset, size=1, seed=rng.randrange(2**31), **config)[0]
        except (IndexError, ValueError, RecursionError) as exc:
            problem = exc
    raise LtmError(f"reasoning-gym {dataset} made no item at {config} ({type(problem).__name__}: {problem}) — "
                   "use an easier difficulty")


def _avoid_corpus_names(item: dict, knobs: dict, rng: random.Random) -> dict:
    if knobs.get("names") == "seen":
        return item
    text = " ".join([item.get("context", ""), item["prompt"], *item.get("choices", []), str(item.get("answer") or "")])
    taken = [n for n in NAMES + UNSEEN_NAMES if re.search(rf"\b{n}\b", text)]
    free = [n for n in FRESH_NAMES if not re.search(rf"\b{n}\b", text)]
    return rename_item(item, dict(zip(taken, rng.sample(free, len(taken)), strict=True))) if taken else item


def _numbers(entry: dict, rng: random.Random, k: int = 3) -> list[str]:
    """Near misses of a numeric answer: off by one, by ten, a digit dropped, the sign flipped."""
    value = int(float(entry["answer"]))
    wrong = {value + 1, value - 1, value + 10, value - 10, -value, value * 2, value // 10}
    wrong = sorted(str(w) for w in wrong if w != value)
    rng.shuffle(wrong)
    return wrong[:k]


def _knights(entry: dict, rng: random.Random, k: int = 3) -> list[str]:
    """Other truth assignments, written as reasoning-gym writes the answer."""
    meta = entry["metadata"]
    names, terms, solution = [str(n) for n in meta["names"]], meta["knight_knave_terms"], tuple(meta["solution"])
    combos = {tuple(rng.random() < 0.5 for _ in names) for _ in range(64)} - {solution}
    combos = sorted(combos)
    rng.shuffle(combos)

    def say(assignment) -> str:
        parts = [f"{n} is {terms['a_knight'] if good else terms['a_knave']}" for n, good in zip(names, assignment, strict=True)]
        return (", ".join(parts[:-1]) + ", and " + parts[-1] + ".") if len(parts) > 1 else parts[0] + "."

    assert say(solution) == entry["answer"], (say(solution), entry["answer"])
    return [say(c) for c in combos[:k]]


def _relations(entry: dict, rng: random.Random, k: int = 3) -> list[str]:
    return rng.sample([r for r in _RELATIONS if r != entry["answer"]], k)


def _yes_no(entry: dict, rng: random.Random, k: int = 1) -> list[str]:
    return ["No" if entry["answer"] == "Yes" else "Yes"]


def _wrap(dataset: str, wrong_answers) -> callable:
    def make(rng: random.Random, knobs: dict) -> list[dict]:
        config = {k: v for k, v in knobs.items() if k not in ("names", "form")}
        entry = _entry(dataset, rng, config)
        question, answer = entry["question"].strip(), str(entry["answer"]).strip()
        if knobs.get("form") == "short":
            item = {"kind": "short", "measure": "general", "context": question, "prompt": "Answer:", "answer": answer,
                    "scorer": f"reasoning_gym:{dataset}"}
        else:
            item = choice_item(rng, answer, wrong_answers(entry, rng), measure="general", context=question,
                               prompt="Answer:")
        return [_avoid_corpus_names(item, knobs, rng)]

    return make


def score_short(scorer: str, answer: str, expected: str) -> float:
    """reasoning-gym's own score of a generated answer (1.0 = right; some give partial credit)."""
    dataset = scorer.split(":", 1)[1]
    return float(_scorer(dataset)(answer.strip(), {"answer": expected, "metadata": {}}))


@cache
def _scorer(dataset: str):
    return _gym().create_dataset(dataset, size=1, seed=0).score_answer


_COMMON = {"names": "`fresh` (corpus names renamed) or `seen`", "form": "`choice` (default) or `short` (generated, reasoning-gym's scorer)"}

GYM_FAMILIES = [
    Family(name="rg_family_relationships", source="reasoning-gym family_relationships",
           about="kinship through a family tree (CLUTRR-like): what is X to Y?", make=_wrap("family_relationships", _relations),
           knobs={"min_family_size": "fewest people in the family", "max_family_size": "most people", **_COMMON},
           defaults={"names": "fresh", "form": "choice"},
           levels=({"min_family_size": 3, "max_family_size": 3}, {"min_family_size": 4, "max_family_size": 4},
                   {"min_family_size": 5, "max_family_size": 6}, {"min_family_size": 7, "max_family_size": 8},
                   {"min_family_size": 9, "max_family_size": 11}, {"min_family_size": 12, "max_family_size": 15})),
    Family(name="rg_knights_knaves", source="reasoning-gym knights_knaves",
           about="truth-tellers and liars: who is which, from what they say", make=_wrap("knights_knaves", _knights),
           knobs={"n_people": "people on the island", "depth_constraint": "nesting of the statements",
                  "width_constraint": "clauses per statement", **_COMMON},
           defaults={"names": "fresh", "form": "choice", "width_constraint": 2},
           levels=({"n_people": 2, "depth_constraint": 2}, {"n_people": 3, "depth_constraint": 2},
                   {"n_people": 4, "depth_constraint": 2}, {"n_people": 5, "depth_constraint": 2},
                   {"n_people": 5, "depth_constraint": 3})),
    Family(name="rg_syllogism", source="reasoning-gym syllogism",
           about="does a conclusion follow from two quantified premises? (Yes/No)", make=_wrap("syllogism", _yes_no),
           knobs={"allow_some": "'Some A are B' premises", "allow_some_not": "'Some A are not B' premises",
                  "inversion_probability": "share of conclusions with the terms swapped", **_COMMON},
           defaults={"names": "fresh", "form": "choice"},
           levels=({"allow_some": False, "allow_some_not": False, "inversion_probability": 0.0},
                   {"allow_some": True, "allow_some_not": False, "inversion_probability": 0.2},
                   {"allow_some": True, "allow_some_not": True, "inversion_probability": 0.3},
                   {"allow_some": True, "allow_some_not": True, "inversion_probability": 0.6})),
    Family(name="rg_chain_sum", source="reasoning-gym chain_sum",
           about="a chain of additions and subtractions (choices: the sum and near misses)", make=_wrap("chain_sum", _numbers),
           knobs={"min_terms": "fewest terms", "max_terms": "most terms", "min_digits": "fewest digits",
                  "max_digits": "most digits", **_COMMON},
           defaults={"names": "fresh", "form": "choice"},
           levels=({"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1},
                   {"min_terms": 3, "max_terms": 3, "min_digits": 1, "max_digits": 1},
                   {"min_terms": 3, "max_terms": 4, "min_digits": 1, "max_digits": 2},
                   {"min_terms": 4, "max_terms": 5, "min_digits": 2, "max_digits": 2},
                   {"min_terms": 5, "max_terms": 6, "min_digits": 2, "max_digits": 3},
                   {"min_terms": 6, "max_terms": 8, "min_digits": 3, "max_digits": 4})),
    Family(name="rg_gsm_symbolic", source="reasoning-gym gsm_symbolic",
           about="GSM8K-style word problems from templates (choices: the answer and near misses)",
           make=_wrap("gsm_symbolic", _numbers), knobs={"difficulty": "reasoning-gym's template difficulty", **_COMMON},
           defaults={"names": "fresh", "form": "choice"}, levels=({"difficulty": 1.0},)),
]
