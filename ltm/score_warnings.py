"""The warnings `ltm score` prints before its table, and the weights it actually uses.

A ranking can be computed yet be misleading: the judged measures graded by a toy judge, rows
computed on different base weights or library versions, control corpora named but never
trained. Each check here returns the one line to print (or None), so ltm/score.py can say it
and the statistics in ltm/score_stats.py stay free of configuration.
"""

from __future__ import annotations

from .score_stats import RowData

JUDGED = ("novelty", "compression")


def effective_weights(config) -> tuple[dict[str, float], str | None]:
    """The configured weights, with the judged measures at 0 when the judge is an embedded toy base."""
    from .tinybase import RECIPES

    weights = dict(config.scoring.weights)
    judge = config.testbench.judge
    toy = judge.backend == "local" and (judge.model or config.base.model) in RECIPES
    if toy and any(weights.get(m, 0) > 0 for m in JUDGED):
        for m in JUDGED:
            weights[m] = 0.0
        return weights, (f"novelty and compression weigh 0 in the composite: their judge is the embedded toy base "
                         f"{judge.model or config.base.model!r}, which cannot grade prose (set testbench.judge to a real model)")
    return weights, None


def mixed_provenance(rows: list[RowData]) -> str | None:
    """A warning when the rows of one table were computed on different base weights or libraries."""
    seen: dict[str, set] = {}
    for row in rows:
        versions = row.summary.get("versions") or {}
        for key, value in [("base weights", row.summary.get("base_content"))] + sorted(versions.items()):
            if value is not None:
                seen.setdefault(key, set()).add(str(value))
    differ = [f"{key} ({', '.join(sorted(values))})" for key, values in seen.items() if len(values) > 1]
    if not differ:
        return None
    return ("warning: these rows were computed with different " + "; ".join(differ)
            + " — compare them with care, or re-run `ltm eval` on one machine (cached items are reused)")


def missing_controls(rows: list[RowData], controls: list[str]) -> str | None:
    """Control corpora the config names but this run has no row of: their check is not made."""
    present = {r.summary.get("corpus") for r in rows if not r.failure}
    absent = [c for c in controls if c not in present]
    if not absent:
        return None
    return (f"warning: scoring.controls {', '.join(absent)} have no row in this run"
            + (" — no gain is checked against a control" if len(absent) == len(controls) else "")
            + "; name corpora that were trained (ltm corpora lists them)")
