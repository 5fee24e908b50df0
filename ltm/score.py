"""`ltm score`: one trustworthy ranking from a testbench run.

For every row (base, variants, adapters) each measure gets a bootstrap confidence interval
over its units (items, consistency groups, pressure pairs, benchmark documents); the delta
vs the base uses a *paired* bootstrap (the same resampled units for both rows), so item
difficulty cancels. The composite reasoning score is a weighted mean of the measures
(``scoring.weights``); forgetting is the relative rise of perplexity on general held-out
text vs the base. The noise floor is the largest composite difference between two adapters
that differ only in their training seed: a delta inside it is marked as not a real gain.

Writes ``ltm_results_table.csv`` (and ``.md``, ``.png``) into the run folder atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from . import atomic
from .bootstrap import Plan, holm, interval, pooled_seed_sd, two_sided_p
from .errors import LtmError
from .testbench.metrics import unit_clusters, units
from .testbench.sensitivity import base_warnings

MEASURES = ("depth", "consistency", "pressure", "novelty", "compression")
SHOWN = ("accuracy", "margin") + MEASURES
TABLE = "ltm_results_table"


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


def load_run(run_dir: Path) -> list[RowData]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LtmError(f"{run_dir}: no such results folder — run `ltm eval` (or `ltm sweep`) first")
    rows = []
    for path in sorted(run_dir.glob("*.summary.json")):
        name = path.name[: -len(".summary.json")]
        records_path = run_dir / f"{name}.jsonl"
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
            records = [json.loads(line) for line in records_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, json.JSONDecodeError) as exc:
            raise LtmError(f"{path}: unreadable results ({exc}) — re-run `ltm eval`; cached items make it quick") from None
        per_unit, per_cluster = units(records), unit_clusters(records)
        # Scene measures only (before the benchmarks join them): what testbench/sensitivity.py knows the chance of.
        warned = base_warnings(records, per_unit) if summary.get("kind") == "base" else []
        bench = run_dir / f"{name}.benchmarks.jsonl"
        if bench.exists():
            _benchmark_units(bench, per_unit, per_cluster)
        rows.append(RowData(name, summary, per_unit, per_cluster, warnings=warned))
    failures = run_dir / "failures.json"
    if failures.exists():
        for name, reason in json.loads(failures.read_text(encoding="utf-8")).items():
            if name not in {r.name for r in rows}:
                rows.append(RowData(name, {"row": name, "kind": "adapter"}, {}, failure=reason))
    if not any(r.summary.get("kind") == "base" for r in rows):
        raise LtmError(f"{run_dir}: no base row — run `ltm eval` on this folder first")
    return rows


_NOT_METRICS = {"task", "doc_id", "target", "logprobs", "row", "filter", "groups"}


def _benchmark_units(path: Path, per_unit: dict, per_cluster: dict) -> None:
    """Every per-item lm-eval metric becomes a measure, per task and per group (MMLU's aggregate).

    ``bench.<task>`` is accuracy; other metrics are ``bench.<task>.<metric>`` (with the filter,
    e.g. ``bench.gsm8k.exact_match.strict-match``, when the task has several). A group's
    measure pools its subtasks' items, as lm-eval's size-weighted group mean does.
    """
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        task, doc = record["task"], str(record["doc_id"])
        flt = record.get("filter") or "none"
        for metric, value in record.items():
            if metric in _NOT_METRICS or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            suffix = "" if metric == "acc" else f".{metric}"
            suffix += "" if flt == "none" else f".{flt}"
            for owner, unit in [(task, doc)] + [(g, f"{task}:{doc}") for g in record.get("groups") or []]:
                measure = f"bench.{owner}{suffix}"
                per_unit.setdefault(measure, {})[unit] = float(value)
                per_cluster.setdefault(measure, {})[unit] = f"bench:{task}:{doc}"


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
    for key in ("ppl_general", "ppl_heldout"):
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


# ----------------------------------------------------------------------------- output
def table_rows(scored: list[Scored], merges: dict[str, dict] | None = None) -> list[dict]:
    out = []
    for item in scored:
        s = item.row.summary
        training = s.get("training") or {}
        row = {
            "rank": item.rank or "", "row": item.row.name, "kind": s.get("kind", ""), "corpus": s.get("corpus") or "",
            "corpus_files": ";".join(s.get("corpus_files") or []), "base_model": s.get("base", ""),
            "base_fingerprint": s.get("base_fingerprint", ""), "base_content": s.get("base_content") or "",
            "format": f"{s.get('quantization', '')}/{s.get('dtype', '')}", "lora_rank": training.get("rank", ""),
            "context_length": training.get("max_length", ""), "tokenizer": s.get("tokenizer", ""),
            "decoding": json.dumps(s.get("decoding") or {}, sort_keys=True), "chat_template": s.get("chat_template") or "off",
            "training_tokens": training.get("tokens_seen", ""), "pages": training.get("pages", ""),
            "train_seconds": training.get("train_seconds", ""),
            "seed": ";".join(str(x) for x in item.seeds) if item.seeds else training.get("seed", ""),
            "p_rank1": _num(item.p_first),
        }
        for measure in SHOWN + tuple(sorted(m for m in item.metrics if m.startswith(("family.", "bench.")))):
            interval = item.metrics.get(measure, Interval(None))
            row[measure] = _num(interval.value)
            row[f"{measure}_lo"] = _num(interval.lo)
            row[f"{measure}_hi"] = _num(interval.hi)
        row.update({
            "ppl_general": _num(s.get("ppl_general")), "ppl_heldout": _num(s.get("ppl_heldout")),
            "composite": _num(item.composite.value), "composite_lo": _num(item.composite.lo),
            "composite_hi": _num(item.composite.hi), "delta_vs_base": _num(item.delta.value),
            "delta_lo": _num(item.delta.lo), "delta_hi": _num(item.delta.hi), "delta_p_holm": _num(item.delta_p),
            "within_noise": "" if item.within_noise is None else ("yes" if item.within_noise else "no"),
            "delta_vs_controls": _num(item.delta_control.value), "delta_vs_controls_lo": _num(item.delta_control.lo),
            "delta_vs_controls_hi": _num(item.delta_control.hi),
            "control_explains": "yes" if item.control_explains else "",
            "noise_floor": _num(s.get("_noise_floor")), "forgetting_pct": _num(item.forgetting),
            "forgetting_flag": "⚠" if item.damaged else "",
            "ms_per_token": _num((s.get("latency") or {}).get("ms_per_token")), "behaviour": item.note,
            "judge_summary": s.get("judge_summary") or "", "versions": json.dumps(s.get("versions") or {}, sort_keys=True),
        })
        if merges:  # merged adapters against their members and the mixture (ltm/score_merges.py)
            row.update(merges.get(item.row.name, dict.fromkeys(next(iter(merges.values())), "")))
        out.append(row)
    return out


def _num(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def write_csv(rows: list[dict], path: Path) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(path, buffer.getvalue())


def delta_text(item: Scored) -> str:
    if item.row.summary.get("kind") == "base":
        return "—"
    return item.delta.signed(3) + (" ~" if item.within_noise else "")


def forgetting_text(item: Scored) -> str:
    if item.forgetting is None:
        return "—"
    return f"{item.forgetting:+.1f}" + (" ⚠" if item.damaged else "")


LEGEND = ("~ = not a reliable difference from the base: Holm-adjusted p ≥ 1 − scoring.confidence (0.05 by default; Holm over every row compared), inside the "
          "seed noise floor, or a gain the control corpora show as well. ⚠ = forgetting past scoring.max_forgetting: "
          "the adapter damaged the model; it is ranked below every healthy row. P(rank 1) = share of bootstrap "
          "replicates (items and training seeds resampled) in which the row scores highest.")


def markdown(scored: list[Scored]) -> str:
    head = ["rank", "row", "composite [CI]", "Δ vs base [CI]", "P(rank 1)", *MEASURES, "forgetting %", "behaviour"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for item in scored:
        cells = [str(item.rank or "—"), item.row.name, item.composite.text(3), delta_text(item),
                 "—" if item.p_first is None else f"{item.p_first:.2f}",
                 *(item.metrics.get(m, Interval(None)).text(2) if m in item.metrics else "—" for m in MEASURES),
                 forgetting_text(item), item.note or ""]
        lines.append("| " + " | ".join(cells) + " |")
    extra = sorted({m for item in scored for m in item.metrics if m.startswith(("family.", "bench."))})
    if extra:  # scene families at their calibrated level and lm-eval tasks, each with its interval
        lines += ["", "| row | " + " | ".join(extra) + " |", "|" + "---|" * (len(extra) + 1)]
        for item in scored:
            lines.append(f"| {item.row.name} | " + " | ".join(
                item.metrics[m].text(2) if m in item.metrics else "—" for m in extra) + " |")
    lines.append("")
    lines.append(LEGEND)
    return "\n".join(lines)


def plot(scored: list[Scored], path: Path, max_forgetting: float | None = None) -> None:
    """Composite with its interval beside forgetting: a damaged adapter cannot pass for the winner."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    items = [s for s in scored if s.composite.value is not None][::-1]
    figure = Figure(figsize=(11, 0.45 * len(items) + 1.6))
    FigureCanvasAgg(figure)
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    names = [("⚠ " if s.damaged else "") + s.row.name for s in items]
    values = [s.composite.value for s in items]
    errors = [[v - (s.composite.lo if s.composite.lo is not None else v) for s, v in zip(items, values, strict=True)],
              [(s.composite.hi if s.composite.hi is not None else v) - v for s, v in zip(items, values, strict=True)]]
    colours = ["#888888" if s.row.summary.get("kind") == "base" else "#c0392b" if s.damaged else "#3b75af" for s in items]
    left.barh(names, values, xerr=errors, color=colours, capsize=3)
    left.set_xlabel("composite reasoning score (95% CI)")
    left.set_title("ltm ranking")
    forgetting = [s.forgetting or 0.0 for s in items]
    right.barh(names, forgetting, color=["#c0392b" if s.damaged else "#999999" for s in items])
    right.set_yticks(range(len(items)), [""] * len(items))
    if max_forgetting is not None:
        right.axvline(max_forgetting, color="#c0392b", linestyle="--", linewidth=1)
    right.set_xlabel("forgetting: general perplexity rise vs base (%)")
    right.set_title("forgetting" + (f" (⚠ past {max_forgetting:g}%)" if max_forgetting is not None else ""))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    atomic.write_bytes(path, buffer.getvalue())


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


def score_run(config, run_dir: Path, out: Path | None = None, quiet: bool = False) -> tuple[list[Scored], Path]:
    rows = load_run(run_dir)
    weights, why = effective_weights(config)
    if why and not quiet:
        print(why)
    mixed = mixed_provenance(rows)
    if mixed and not quiet:
        print(mixed)
    missing = missing_controls(rows, config.scoring.controls)
    if missing and not quiet:
        print(missing)
    if not quiet:
        for line in (w for r in rows for w in r.warnings):
            print(f"warning: {line}")
    scored = score(rows, weights, config.scoring.bootstrap, config.scoring.confidence,
                   controls=config.scoring.controls, max_forgetting=config.scoring.max_forgetting)
    from .score_merges import compare

    merges = compare(scored, config.scoring.confidence)
    out = Path(out) if out else Path(run_dir)
    csv_path = out / f"{TABLE}.csv"
    write_csv(table_rows(scored, merges), csv_path)
    atomic.write_text(out / f"{TABLE}.md", markdown(scored) + "\n")
    plot(scored, out / f"{TABLE}.png", config.scoring.max_forgetting)
    return scored, csv_path
