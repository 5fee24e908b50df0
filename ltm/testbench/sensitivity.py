"""Can a measure move at all? The base's score against chance and against perfect.

A ranking only shows a gain where the base is neither at chance nor at the ceiling: a 14B
base answering a family 0.98 right leaves no room for any adapter, and one at chance cannot
do the items at all, so a difference is mostly noise. ``ltm eval`` and ``ltm score`` print
one warning per such measure of the base row; ``ltm scenes calibrate`` is the fix (it picks
each family's difficulty for the base).

Chance is what a row that guesses gets: 1 / choices for a choice item, 0 for a generated
answer; for a consistency group the product over its items, for a pressure pair the product
of the clean item's and the variant's.
"""

from __future__ import annotations

from collections import defaultdict
from statistics import mean

MARGIN = 0.05  # "within a few points" of chance or of perfect


def item_chance(record: dict) -> float | None:
    if record.get("correct") is None:
        return None
    if record.get("logprobs"):
        return 1.0 / len(record["logprobs"])
    return 0.0 if record.get("kind") == "short" else None


def chance_levels(records: list[dict], per_unit: dict | None = None) -> dict[str, float]:
    """Per measure (as ``metrics.units`` names them; `per_unit`: their result when the caller has
    it), the expected score of a guessing row."""
    from .metrics import units

    by_id = {r["id"]: r for r in records}
    chance = {r["id"]: item_chance(r) for r in records}
    groups: dict[str, list[str]] = defaultdict(list)
    for r in records:
        if r.get("measure") == "consistency" and r.get("group"):
            groups[r["group"]].append(r["id"])
    out: dict[str, float] = {}
    for measure, values in (per_unit if per_unit is not None else units(records)).items():
        if measure in ("margin", "novelty", "compression"):
            continue
        per_unit = []
        for unit in values:
            if measure == "consistency":
                parts = [chance.get(i) for i in groups.get(unit, [])]
                value = None if not parts or None in parts else _product(parts)
            elif measure == "pressure":
                clean = by_id.get(unit, {}).get("variant_of")
                value = None if chance.get(unit) is None or chance.get(clean) is None else chance[unit] * chance[clean]
            else:
                value = chance.get(unit)
            if value is not None:
                per_unit.append(value)
        if per_unit:
            out[measure] = round(mean(per_unit), 6)
    return out


def _product(values) -> float:
    out = 1.0
    for v in values:
        out *= v
    return out


def warnings(values: dict[str, float | None], chance: dict[str, float], row: str = "base") -> list[str]:
    """One line per measure whose `row` score is within MARGIN of perfect or of chance."""
    out = []
    for measure in sorted(chance):
        value = values.get(measure)
        if value is None:
            continue
        if value >= 1.0 - MARGIN:
            out.append(f"{measure}: {row} {value:.2f} — at ceiling, no gain can show; run ltm scenes calibrate")
        elif value <= chance[measure] + MARGIN:
            out.append(f"{measure}: {row} {value:.2f} — at or below chance ({chance[measure]:.2f}): the items are beyond "
                       "this base, a gain is hard to tell from noise; run ltm scenes calibrate")
    return out


def base_warnings(records: list[dict], per_unit: dict | None = None) -> list[str]:
    """The warnings for a row's records (the base's, in ``ltm eval`` and ``ltm score``)."""
    from .metrics import units

    per_unit = per_unit if per_unit is not None else units(records)
    values = {m: mean(v.values()) for m, v in per_unit.items() if v}
    return warnings(values, chance_levels(records, per_unit))
