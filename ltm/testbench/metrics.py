"""Turn one row's item records into the five reasoning measures (see docs/scenes.md).

* depth — accuracy per step count, and the deepest step count solved at or above
  ``DEPTH_THRESHOLD`` (0 when none);
* consistency — share of groups whose items are all answered correctly (a group answered
  "consistently wrong" is not consistent reasoning, so it does not count);
* pressure — accuracy on the distorted variants divided by accuracy on their clean items
  ("accuracy kept"), plus accuracy per variant kind;
* novelty, compression — mean judged score (0–1) after the automatic checks;
* accuracy / margin — over every choice and short item; the mean log-likelihood margin of
  the right choice separates rows more finely than accuracy on a small model.
"""

from __future__ import annotations

from collections import defaultdict
from statistics import mean

DEPTH_THRESHOLD = 0.6
MEASURES = ("depth", "consistency", "pressure", "novelty", "compression")


def _mean(values) -> float | None:
    values = [float(v) for v in values if v is not None]
    return round(mean(values), 6) if values else None


def summarize(records: list[dict]) -> dict:
    graded = [r for r in records if r.get("correct") is not None]
    out: dict = {"items": len(records), "accuracy": _mean(r["correct"] for r in graded),
                 "margin": _mean(r.get("margin") for r in graded)}

    by_steps: dict[int, list[bool]] = defaultdict(list)
    for r in graded:
        if r["measure"] == "depth" and r.get("steps"):
            by_steps[int(r["steps"])].append(r["correct"])
    depth_acc = {str(k): _mean(v) for k, v in sorted(by_steps.items())}
    solved = [int(k) for k, v in depth_acc.items() if v is not None and v >= DEPTH_THRESHOLD]
    out["depth"] = _mean(r["correct"] for r in graded if r["measure"] == "depth")
    out["depth_by_steps"] = depth_acc
    out["depth_max_steps"] = max(solved) if solved else 0

    groups: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        if r["measure"] == "consistency" and r.get("group"):
            groups[r["group"]].append(r.get("correct") is True)
    out["consistency"] = _mean(all(v) for v in groups.values()) if groups else None
    out["consistency_groups"] = len(groups)

    by_id = {r["id"]: r for r in records}
    variants = [r for r in graded if r.get("variant_of") and by_id.get(r["variant_of"], {}).get("correct") is not None]
    clean_ids = sorted({r["variant_of"] for r in variants})
    clean_acc = _mean(by_id[i]["correct"] for i in clean_ids)
    variant_acc = _mean(r["correct"] for r in variants)
    out["pressure_clean"] = clean_acc
    out["pressure_variants"] = variant_acc
    out["pressure"] = round(min(variant_acc / clean_acc, 1.0), 6) if clean_acc and variant_acc is not None else (
        0.0 if clean_acc == 0 and variant_acc is not None else None)
    kinds: dict[str, list[bool]] = defaultdict(list)
    for r in variants:
        kinds[r["variant"]].append(r["correct"])
    out["pressure_by_variant"] = {k: _mean(v) for k, v in sorted(kinds.items())}

    for measure in ("novelty", "compression"):
        out[measure] = _mean(r.get("score") for r in records if r["measure"] == measure)
    out["by_kind"] = {kind: _mean(r.get("score") for r in records if r["kind"] == kind)
                      for kind in sorted({r["kind"] for r in records})}
    return out


def flat_metrics(summary: dict, prefix: str = "") -> dict[str, float]:
    """Numbers only, dotted keys: what goes to MLflow and the results table."""
    flat: dict[str, float] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_metrics(value, name + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat
