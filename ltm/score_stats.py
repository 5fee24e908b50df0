"""The statistics of `ltm score`: bootstrap intervals, the composite, the seed noise floor, forgetting.

For every row (base, format rows, adapters) each measure gets a bootstrap confidence interval
over its units (items, consistency groups, pressure pairs, benchmark documents); the delta vs
the base uses a *paired* bootstrap (the same resampled units for both rows), so item difficulty
cancels. The composite reasoning score is a weighted mean of the measures (``scoring.weights``);
forgetting is the relative rise of perplexity on general held-out text vs the base. The noise
floor is the largest composite difference between two adapters that differ only in their
training seed: a delta inside it is marked as not a real gain. Held apart from reading the run
(ltm/score.py) and writing the table (ltm/score_table.py) so the numbers can be read on their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .bootstrap import Plan, holm, interval, pooled_seed_sd, two_sided_p

MEASURES = ("depth", "consistency", "pressure", "novelty", "compression")


@dataclass
class RowData:
    name: str
    summary: dict
    units: dict[str, dict[str, float]]
    clusters: dict[str, dict[str, str]] = field(default_factory=dict)
    failure: str | None = None
    warnings: list[str] = field(default_factory=list)  # the base row's: measures at chance or ceiling


@dataclass
class Interval:
    value: float | None
    lo: float | None = None
    hi: float | None = None

    def text(self, digits: int = 3, sign: str = "") -> str:
        """`0.52 [0.47, 0.57]`; with sign="+" every number carries its sign (a Δ)."""
        if self.value is None:
            return "—"
        spec = f"{sign}.{digits}f"
        if self.lo is None:
            return f"{self.value:{spec}}"
        return f"{self.value:{spec}} [{self.lo:{spec}}, {self.hi:{spec}}]"

    def signed(self, digits: int = 3) -> str:
        return self.text(digits, sign="+")


@dataclass
class Scored:
    row: RowData
    metrics: dict[str, Interval] = field(default_factory=dict)
    composite: Interval = field(default_factory=lambda: Interval(None))
    delta: Interval = field(default_factory=lambda: Interval(None))
    delta_p: float | None = None          # Holm-adjusted p-value of "no difference from the base"
    delta_control: Interval = field(default_factory=lambda: Interval(None))
    control_explains: bool = False        # the controls show the same gain: not this corpus's reasoning
    p_first: float | None = None          # share of bootstrap replicates in which this row ranks first
    forgetting: float | None = None       # percent rise of general perplexity vs the base
    damaged: bool = False                 # forgetting past scoring.max_forgetting
    within_noise: bool | None = None
    rank: int | None = None
    seeds: list = field(default_factory=list)  # a combined row: the training seeds it pools
    note: str = ""
    replicates: object = field(default=None, repr=False)  # composite per bootstrap replicate (paired across rows)


def _seed_key(row: RowData) -> str | None:
    """Rows with the same key differ only in their training seed."""
    summary = row.summary
    training = summary.get("training") or {}
    if (summary.get("kind") != "adapter" or not summary.get("corpus") or training.get("seed") is None
            or summary.get("merge")):  # merges of one set of members differ in weights, not in seed
        return None
    same = {k: training.get(k) for k in ("rank", "learning_rate", "max_length", "steps")}
    return json.dumps({"corpus": summary["corpus"], **same}, sort_keys=True, default=str)


def score(rows: list[RowData], weights: dict[str, float], resamples: int = 1000, confidence: float = 0.95,
          seed: int = 0, controls: list[str] | tuple = (), max_forgetting: float | None = None) -> list[Scored]:
    """Score every row; rank the candidates (base, rows trained once, corpora pooled over seeds).

    Intervals resample clusters, shared by all rows (paired); a row trained once carries the
    pooled seed-to-seed spread, a corpus trained with several seeds is a two-level bootstrap.
    """
    import numpy as np

    base = next(r for r in rows if r.summary.get("kind") == "base")
    live = [r for r in rows if not r.failure]
    measures = sorted({m for r in live for m in r.units})
    ids = {m: sorted(set().union(*(r.units.get(m, {}).keys() for r in live))) for m in measures}
    owner = {m: {} for m in measures}
    for r in live:
        for m, mapping in r.clusters.items():
            owner.setdefault(m, {}).update(mapping)
    unit_cluster = {m: [owner[m].get(u, f"{m}:{u}") for u in ids[m]] for m in measures}
    plan = Plan({c for m in measures for c in unit_cluster[m]}, resamples, seed)
    rng = np.random.default_rng(seed + 1)

    def replicates(row: RowData, measure: str):
        values = row.units.get(measure, {})
        if not values or any(u not in values for u in ids[measure]):
            return None
        vector = np.array([values[u] for u in ids[measure]])
        return float(vector.mean()), plan.replicates(unit_cluster[measure], vector)

    weighted = [m for m, w in weights.items() if w > 0]
    base_measures = {m: replicates(base, m) for m in measures}
    composite_over = [m for m in weighted if base_measures.get(m) is not None]

    def composite(got: dict):
        missing = [m for m in composite_over if got.get(m) is None]
        if missing or not composite_over:
            return None, missing
        total = sum(weights[m] for m in composite_over)
        point = sum(weights[m] * got[m][0] for m in composite_over) / total
        reps = sum(weights[m] * got[m][1] for m in composite_over) / total
        return (point, reps), []

    raw: dict[str, dict] = {}
    for row in live:
        got = {m: replicates(row, m) for m in measures} if row is not base else base_measures
        raw[row.name] = {"measures": got, "composite": composite(got)}

    # Training-seed groups and the pooled seed spread of every measure and of the composite.
    groups: dict[str, list[RowData]] = {}
    for row in live:
        key = _seed_key(row)
        if key and raw[row.name]["composite"][0] is not None:
            groups.setdefault(key, []).append(row)
    groups = {k: v for k, v in groups.items()
              if len({(r.summary.get("training") or {}).get("seed") for r in v}) >= 2}
    spread = {m: pooled_seed_sd([[raw[r.name]["measures"][m][0] for r in members if raw[r.name]["measures"].get(m)]
                                 for members in groups.values()]) for m in measures}
    spread["composite"] = pooled_seed_sd([[raw[r.name]["composite"][0][0] for r in members] for members in groups.values()])

    # A share stays a share: seed noise added to a measure whose units all lie in [0, 1] is clipped there.
    bounded = {m: all(0.0 <= v <= 1.0 for r in live for v in r.units.get(m, {}).values()) for m in measures}
    bounded["composite"] = all(bounded.get(m, False) for m in composite_over)

    def with_seed_noise(reps, sd, measure):
        if sd <= 0:
            return reps
        noisy = reps + rng.normal(0.0, sd, size=len(reps))
        return np.clip(noisy, 0.0, 1.0) if bounded.get(measure) else noisy

    scored: dict[str, Scored] = {}
    for row in rows:
        item = Scored(row)
        scored[row.name] = item
        if row.failure:
            item.note = f"failed: {row.failure}"
            continue
        got, (comp, missing) = raw[row.name]["measures"], raw[row.name]["composite"]
        trained = row.summary.get("kind") == "adapter"
        for measure, value in got.items():
            if value is not None:
                reps = with_seed_noise(value[1], spread.get(measure, 0.0), measure) if trained else value[1]
                item.metrics[measure] = _interval(value[0], reps, confidence)
        if comp is not None:
            reps = with_seed_noise(comp[1], spread["composite"], "composite") if trained else comp[1]
            item.replicates = reps
            item.composite = _interval(comp[0], reps, confidence)
        elif missing:
            item.note = f"no composite: {', '.join(missing)} not scored for this row (the base has them)"
    # A corpus trained with several seeds: one combined row, seeds drawn with replacement.
    members_of: dict[str, list[str]] = {}
    for members in groups.values():
        item = _seed_pooled_row(members, raw, measures, rng, resamples, confidence)
        scored[item.row.name] = item
        members_of[item.row.name] = item.row.summary["members"]
    member_names = {n for names in members_of.values() for n in names}

    base_reps = scored[base.name].replicates
    base_point = scored[base.name].composite.value
    pvalues = {}
    for name, item in scored.items():
        if item.row is base or item.replicates is None or base_reps is None:
            continue
        delta = item.replicates - base_reps
        item.delta = _interval(item.composite.value - base_point, delta, confidence)
        pvalues[name] = two_sided_p(delta)
    adjusted = holm(pvalues)
    floor = noise_floor(list(scored.values()))
    for name, p in adjusted.items():
        item = scored[name]
        item.delta_p = round(p, 6)
        inside_floor = floor is not None and abs(item.delta.value) <= floor and name not in members_of
        item.within_noise = p >= 1 - confidence or inside_floor

    # Forgetting, in percent; a row past the threshold is damaged and never ranked above a healthy one.
    ppl_base = base.summary.get("ppl_general")
    for item in scored.values():
        ppl = item.row.summary.get("ppl_general")
        if ppl and ppl_base and item.row is not base:
            item.forgetting = round((ppl / ppl_base - 1) * 100, 4)
            item.damaged = max_forgetting is not None and item.forgetting > max_forgetting

    candidates = [n for n in scored if n not in member_names and scored[n].replicates is not None]
    _controls(scored, candidates, set(controls), confidence)
    # P(rank 1) among the rows that can be first: a damaged row is ranked below every healthy one.
    contenders = [n for n in candidates if not scored[n].damaged] or candidates
    if contenders:
        stack = np.stack([scored[n].replicates for n in contenders])
        wins = np.bincount(stack.argmax(axis=0), minlength=len(contenders)) / stack.shape[1]
        for n, share in zip(contenders, wins, strict=True):
            scored[n].p_first = round(float(share), 4)
    base_item = scored[base.name]
    for item in scored.values():
        if item.row is not base and not item.row.failure:
            parts = [item.note] if item.note else []
            parts.append(_behaviour(item, base_item))
            if item.damaged:
                parts.append(f"⚠ forgetting {item.forgetting:+.0f}% > {max_forgetting:g}%: damaged, ranked below healthy rows")
            for combined, names in members_of.items():
                if item.row.name in names:
                    parts.append(f"one seed of {combined!r}, which is ranked")
            item.note = "; ".join(p for p in parts if p)
    for item in scored.values():
        item.row.summary["_noise_floor"] = floor
    ranked = sorted((scored[n] for n in candidates), key=lambda s: (s.damaged, -s.composite.value))
    for rank, item in enumerate(ranked, 1):
        item.rank = rank
    rest = [s for n, s in scored.items() if s not in ranked]
    rest.sort(key=lambda s: (s.composite.value is None, -(s.composite.value or 0)))
    return ranked + rest


def _seed_pooled_row(members: list[RowData], raw: dict, measures: list[str], rng, resamples: int,
                     confidence: float) -> Scored:
    """One row for a corpus trained with several seeds: each replicate draws the seeds with
    replacement (on top of the clusters each member's replicates already drew)."""
    import numpy as np

    first = min(members, key=lambda r: (r.summary.get("training") or {}).get("seed"))
    name = f"{first.summary['corpus']} ({len(members)} seeds)"
    summary = {**first.summary, "row": name, "kind": "corpus", "members": [r.name for r in members]}
    for key in ("ppl_general", "ppl_heldout", "ppl_heldout_base"):
        values = [r.summary.get(key) for r in members if r.summary.get(key)]
        summary[key] = float(np.mean(values)) if values else None
    item = Scored(RowData(name, summary, {}), seeds=sorted((r.summary.get("training") or {}).get("seed") for r in members))
    draws = rng.integers(0, len(members), size=(resamples, len(members)))

    def pooled(values_of) -> tuple:
        stack = np.stack([values_of(r)[1] for r in members])
        reps = stack[draws, np.arange(resamples)[:, None]].mean(axis=1)
        return float(np.mean([values_of(r)[0] for r in members])), reps

    for measure in measures:
        if all(raw[r.name]["measures"].get(measure) for r in members):
            item.metrics[measure] = _interval(*pooled(lambda r, m=measure: raw[r.name]["measures"][m]), confidence)
    point, item.replicates = pooled(lambda r: raw[r.name]["composite"][0])
    item.composite = _interval(point, item.replicates, confidence)
    return item


def difference(a: Scored, b: Scored, confidence: float = 0.95) -> tuple[Interval, float]:
    """Paired Δ composite of row a over row b, with its interval and bootstrap p-value."""
    if a.replicates is None or b.replicates is None:
        return Interval(None), 1.0
    reps = a.replicates - b.replicates
    return _interval(a.composite.value - b.composite.value, reps, confidence), two_sided_p(reps)


def _controls(scored: dict, candidates: list[str], controls: set[str], confidence: float) -> None:
    """Δ against the median control (the corpora named in ``scoring.controls``), paired.

    A gain over the base that the controls — text without the corpus's structure — show as
    well is a change the training itself causes (format, answer bias), not this corpus's
    reasoning: such a row is marked.
    """
    import numpy as np

    names = [n for n in candidates if (scored[n].row.summary.get("corpus") in controls) and scored[n].row.summary.get("kind") != "base"]
    if not names:
        return
    median_reps = np.median(np.stack([scored[n].replicates for n in names]), axis=0)
    median_point = float(np.median([scored[n].composite.value for n in names]))
    for n in candidates:
        item = scored[n]
        if item.row.summary.get("kind") == "base":
            continue
        is_control = n in names
        if not is_control:
            delta = item.replicates - median_reps
            item.delta_control = _interval(item.composite.value - median_point, delta, confidence)
        gain = item.within_noise is False and (item.delta.value or 0) > 0
        if gain and (is_control or item.delta_control.lo is None or item.delta_control.lo <= 0):
            item.control_explains = True
            item.within_noise = True
            item.note = "; ".join(x for x in (item.note, "a control: its gain is not reasoning" if is_control else
                                              "its controls gain as much: not this corpus's reasoning") if x)


def _interval(point: float, replicates, confidence: float) -> Interval:
    """The point estimate and the percentile interval of its replicates, rounded for the table."""
    return Interval(*(round(float(v), 6) for v in interval(point, replicates, confidence)))


def noise_floor(scored: list[Scored]) -> float | None:
    """Largest |composite difference| between adapters that differ only in their seed."""
    groups: dict[str, list[Scored]] = {}
    for item in scored:
        key = _seed_key(item.row)
        if key and item.composite.value is not None:
            groups.setdefault(key, []).append(item)
    gaps = [abs(a.composite.value - b.composite.value) for members in groups.values() for i, a in enumerate(members)
            for b in members[i + 1:] if (a.row.summary.get("training") or {}).get("seed")
            != (b.row.summary.get("training") or {}).get("seed")]
    return round(max(gaps), 6) if gaps else None


def _behaviour(item: Scored, base: Scored | None) -> str:
    parts = []
    if base is not None:
        deltas = {m: item.metrics[m].value - base.metrics[m].value for m in MEASURES
                  if m in item.metrics and m in base.metrics}
        if deltas:
            best = max(deltas, key=deltas.get)
            worst = min(deltas, key=deltas.get)
            if deltas[best] > 0:
                parts.append(f"largest gain: {best} {deltas[best]:+.2f}")
            if deltas[worst] < 0:
                parts.append(f"largest loss: {worst} {deltas[worst]:+.2f}")
    swapped = (item.row.summary.get("pressure_by_variant") or {}).get("swapped")
    clean = item.row.summary.get("pressure_clean")
    if swapped is not None and clean is not None and clean - swapped >= 0.25:
        parts.append(f"swapped premises drop accuracy {clean:.2f}→{swapped:.2f} (shortcut?)")
    return "; ".join(parts)
