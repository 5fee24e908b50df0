"""Turn one row's item records into the five reasoning measures (see docs/scenes.md).

* depth — accuracy per step count, and the deepest step count solved at or above
  ``DEPTH_THRESHOLD`` (0 when none);
* consistency — share of groups whose items are all answered correctly (a group answered
  "consistently wrong" is not consistent reasoning, so it does not count);
* pressure — share of (clean item, variant) pairs answered right both times: reasoning that
  survives the distortion. A model at chance keeps its (chance) accuracy perfectly, so the
  plain ratio variant/clean ("accuracy kept", ``pressure_kept``) is reported beside it but
  not used as the score; plus accuracy per variant kind;
* novelty, compression — mean judged score (0–1) after the automatic checks;
* family.<name> — accuracy on a scene family's clean items (docs/scenes.md, families);
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


def units(records: list[dict]) -> dict[str, dict[str, float]]:
    """Per-measure scores of the units a confidence interval resamples: items, groups, pairs.

    Keys are unit ids, the same in every row, so two rows can be resampled in pairs.
    """
    graded = [r for r in records if r.get("correct") is not None]
    by_id = {r["id"]: r for r in records}
    out: dict[str, dict[str, float]] = {
        "accuracy": {r["id"]: float(r["correct"]) for r in graded},
        "margin": {r["id"]: float(r["margin"]) for r in graded if r.get("margin") is not None},
        "depth": {r["id"]: float(r["correct"]) for r in graded if r["measure"] == "depth"},
    }
    groups: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        if r["measure"] == "consistency" and r.get("group"):
            groups[r["group"]].append(r.get("correct") is True)
    out["consistency"] = {g: float(all(v)) for g, v in groups.items()}
    out["pressure"] = {r["id"]: float(bool(r["correct"] and by_id[r["variant_of"]]["correct"]))
                       for r in graded if r.get("variant_of") and by_id.get(r["variant_of"], {}).get("correct") is not None}
    for measure in ("novelty", "compression"):
        out[measure] = {r["id"]: float(r["score"]) for r in records if r["measure"] == measure and r.get("score") is not None}
    # A scene family's own column: its clean items at the calibrated difficulty (variants feed pressure).
    for r in graded:
        if r.get("family") and not r.get("variant_of"):
            out.setdefault(f"family.{r['family']}", {})[r["id"]] = float(r["score"])  # a scorer's partial credit too
    return {k: v for k, v in out.items() if v}


def clusters(records: list[dict]) -> dict[str, str]:
    """Each item's cluster: the items whose correctness moves together, resampled as one.

    A clean item and its pressure variants, the items of one consistency group and the scenes
    of one ``follows`` chain share their facts, so they are right or wrong together; resampling
    them one by one counts one fact several times and makes intervals too narrow. Clusters are
    the connected components of the links group, variant_of and follows.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def join(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for r in records:
        item = f"item:{r['id']}"
        find(item)
        if r.get("group"):
            join(item, f"group:{r['group']}")
        for link in ("variant_of", "follows"):
            if r.get(link):
                join(item, f"item:{r[link]}")
    return {r["id"]: find(f"item:{r['id']}") for r in records}


def unit_clusters(records: list[dict]) -> dict[str, dict[str, str]]:
    """For every measure's unit (as ``units`` names them), the cluster it belongs to."""
    item_cluster = clusters(records)
    group_cluster = {r["group"]: item_cluster[r["id"]] for r in records if r.get("group")}
    out: dict[str, dict[str, str]] = {}
    for measure, values in units(records).items():
        owner = group_cluster if measure == "consistency" else item_cluster
        out[measure] = {unit: owner.get(unit, f"item:{unit}") for unit in values}
    return out


def summarize(records: list[dict]) -> dict:
    per_unit = units(records)
    graded = [r for r in records if r.get("correct") is not None]
    out: dict = {"items": len(records)}
    for measure in ("accuracy", "margin", "depth", "consistency", "pressure", "novelty", "compression"):
        out[measure] = _mean(per_unit.get(measure, {}).values())

    by_steps: dict[int, list[bool]] = defaultdict(list)
    for r in graded:
        if r["measure"] == "depth" and r.get("steps"):
            by_steps[int(r["steps"])].append(r["correct"])
    depth_acc = {str(k): _mean(v) for k, v in sorted(by_steps.items())}
    solved = [int(k) for k, v in depth_acc.items() if v is not None and v >= DEPTH_THRESHOLD]
    out["depth_by_steps"] = depth_acc
    out["depth_max_steps"] = max(solved) if solved else 0
    out["consistency_groups"] = len(per_unit.get("consistency", {}))

    by_id = {r["id"]: r for r in records}
    variants = [r for r in graded if r.get("variant_of") and by_id.get(r["variant_of"], {}).get("correct") is not None]
    clean_acc = _mean(by_id[i]["correct"] for i in sorted({r["variant_of"] for r in variants}))
    variant_acc = _mean(r["correct"] for r in variants)
    out["pressure_clean"] = clean_acc
    out["pressure_variants"] = variant_acc
    out["pressure_kept"] = round(variant_acc / clean_acc, 6) if clean_acc and variant_acc is not None else None
    kinds: dict[str, list[bool]] = defaultdict(list)
    for r in variants:
        kinds[r["variant"]].append(r["correct"])
    out["pressure_by_variant"] = {k: _mean(v) for k, v in sorted(kinds.items())}
    families = {m.split(".", 1)[1]: _mean(v.values()) for m, v in sorted(per_unit.items()) if m.startswith("family.")}
    if families:
        out["family"] = families
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
