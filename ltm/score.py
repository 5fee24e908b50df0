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
from .errors import LtmError
from .testbench.metrics import units

MEASURES = ("depth", "consistency", "pressure", "novelty", "compression")
SHOWN = ("accuracy", "margin") + MEASURES
TABLE = "ltm_results_table"


@dataclass
class RowData:
    name: str
    summary: dict
    units: dict[str, dict[str, float]]
    failure: str | None = None


@dataclass
class Interval:
    value: float | None
    lo: float | None = None
    hi: float | None = None

    def text(self, digits: int = 3) -> str:
        if self.value is None:
            return "—"
        if self.lo is None:
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


@dataclass
class Scored:
    row: RowData
    metrics: dict[str, Interval] = field(default_factory=dict)
    composite: Interval = field(default_factory=lambda: Interval(None))
    delta: Interval = field(default_factory=lambda: Interval(None))
    forgetting: float | None = None
    within_noise: bool | None = None
    rank: int | None = None
    note: str = ""


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
        per_unit = units(records)
        bench = run_dir / f"{name}.benchmarks.jsonl"
        if bench.exists():
            for line in bench.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                if "acc" in record:
                    per_unit.setdefault(f"bench.{record['task']}", {})[str(record["doc_id"])] = float(record["acc"])
        rows.append(RowData(name, summary, per_unit))
    failures = run_dir / "failures.json"
    if failures.exists():
        for name, reason in json.loads(failures.read_text(encoding="utf-8")).items():
            if name not in {r.name for r in rows}:
                rows.append(RowData(name, {"row": name, "kind": "adapter"}, {}, failure=reason))
    if not any(r.summary.get("kind") == "base" for r in rows):
        raise LtmError(f"{run_dir}: no base row — run `ltm eval` on this folder first")
    return rows


def score(rows: list[RowData], weights: dict[str, float], resamples: int = 1000, confidence: float = 0.95,
          seed: int = 0) -> list[Scored]:
    import numpy as np

    base = next(r for r in rows if r.summary.get("kind") == "base")
    alpha = (1 - confidence) / 2
    rng = np.random.default_rng(seed)
    measures = sorted({m for r in rows for m in r.units})
    # One resampling plan per measure, shared by every row: that is what makes deltas paired.
    plans: dict[str, tuple[list[str], np.ndarray]] = {}
    for measure in measures:
        ids = sorted(set().union(*(r.units.get(measure, {}).keys() for r in rows)))
        plans[measure] = (ids, rng.integers(0, len(ids), size=(resamples, len(ids))))

    def replicates(row: RowData, measure: str):
        ids, plan = plans[measure]
        values = row.units.get(measure, {})
        if not values or len(values) < len(ids):
            return None
        vector = np.array([values[i] for i in ids])
        return vector.mean(), vector[plan].mean(axis=1)

    def composite(row: RowData):
        total, reps, weight_sum = 0.0, 0.0, 0.0
        for measure, weight in weights.items():
            got = replicates(row, measure) if measure in plans else None
            if got is None or weight <= 0:
                continue
            total += weight * got[0]
            reps = reps + weight * got[1]
            weight_sum += weight
        return (total / weight_sum, reps / weight_sum) if weight_sum else None

    def interval(point, reps) -> Interval:
        return Interval(round(float(point), 6), round(float(np.quantile(reps, alpha)), 6),
                        round(float(np.quantile(reps, 1 - alpha)), 6))

    base_composite = composite(base)
    scored = []
    for row in [base] + [r for r in rows if r is not base]:
        item = Scored(row)
        scored.append(item)
        if row.failure:
            item.note = f"failed: {row.failure}"
            continue
        for measure in measures:
            got = replicates(row, measure)
            if got is not None:
                item.metrics[measure] = interval(*got)
        mine = composite(row)
        if mine is not None:
            item.composite = interval(*mine)
            if base_composite is not None:
                item.delta = interval(mine[0] - base_composite[0], mine[1] - base_composite[1])
        ppl, ppl_base = row.summary.get("ppl_general"), base.summary.get("ppl_general")
        if ppl and ppl_base:
            item.forgetting = round(ppl / ppl_base - 1, 6)
        item.note = _behaviour(item, next(s for s in scored if s.row is base) if row is not base else None)
    _noise(scored)
    ranked = sorted((s for s in scored if s.composite.value is not None), key=lambda s: -s.composite.value)
    for rank, item in enumerate(ranked, 1):
        item.rank = rank
    return ranked + [s for s in scored if s.composite.value is None]


def noise_floor(scored: list[Scored]) -> float | None:
    """Largest |composite difference| between adapters that differ only in their seed."""
    groups: dict[str, list[Scored]] = {}
    for item in scored:
        training = item.row.summary.get("training") or {}
        corpus = item.row.summary.get("corpus")
        if corpus and item.composite.value is not None:
            key = json.dumps({"corpus": corpus, **{k: v for k, v in training.items()
                                                   if k in ("rank", "learning_rate", "max_length")}}, sort_keys=True)
            groups.setdefault(key, []).append(item)
    gaps = [abs(a.composite.value - b.composite.value) for members in groups.values() for i, a in enumerate(members)
            for b in members[i + 1:] if (a.row.summary.get("training") or {}).get("seed")
            != (b.row.summary.get("training") or {}).get("seed")]
    return round(max(gaps), 6) if gaps else None


def _noise(scored: list[Scored]) -> None:
    floor = noise_floor(scored)
    for item in scored:
        if item.delta.value is None or item.row.summary.get("kind") == "base":
            continue
        inside_ci = item.delta.lo is not None and item.delta.lo <= 0 <= item.delta.hi
        item.within_noise = inside_ci or (floor is not None and abs(item.delta.value) <= floor)
    for item in scored:
        item.row.summary["_noise_floor"] = floor


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
def table_rows(scored: list[Scored]) -> list[dict]:
    out = []
    for item in scored:
        s = item.row.summary
        training = s.get("training") or {}
        row = {
            "rank": item.rank or "", "row": item.row.name, "kind": s.get("kind", ""), "corpus": s.get("corpus") or "",
            "corpus_files": ";".join(s.get("corpus_files") or []), "base_model": s.get("base", ""),
            "format": f"{s.get('quantization', '')}/{s.get('dtype', '')}", "lora_rank": training.get("rank", ""),
            "context_length": training.get("max_length", ""), "tokenizer": s.get("tokenizer", ""),
            "decoding": json.dumps(s.get("decoding") or {}, sort_keys=True),
            "training_tokens": training.get("tokens_seen", ""), "pages": training.get("pages", ""),
            "train_seconds": training.get("train_seconds", ""), "seed": training.get("seed", ""),
        }
        for measure in SHOWN + tuple(sorted(m for m in item.metrics if m.startswith("bench."))):
            interval = item.metrics.get(measure, Interval(None))
            row[measure] = _num(interval.value)
            row[f"{measure}_lo"] = _num(interval.lo)
            row[f"{measure}_hi"] = _num(interval.hi)
        row.update({
            "ppl_general": _num(s.get("ppl_general")), "ppl_heldout": _num(s.get("ppl_heldout")),
            "composite": _num(item.composite.value), "composite_lo": _num(item.composite.lo),
            "composite_hi": _num(item.composite.hi), "delta_vs_base": _num(item.delta.value),
            "delta_lo": _num(item.delta.lo), "delta_hi": _num(item.delta.hi),
            "within_noise": "" if item.within_noise is None else ("yes" if item.within_noise else "no"),
            "noise_floor": _num(s.get("_noise_floor")), "forgetting": _num(item.forgetting),
            "ms_per_token": _num((s.get("latency") or {}).get("ms_per_token")), "behaviour": item.note,
            "judge_summary": s.get("judge_summary") or "",
        })
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


def markdown(scored: list[Scored]) -> str:
    head = ["rank", "row", "composite [CI]", "Δ vs base [CI]", *MEASURES, "forgetting", "behaviour"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for item in scored:
        delta = item.delta.text(3) + (" ~" if item.within_noise else "") if item.row.summary.get("kind") != "base" else "—"
        cells = [str(item.rank or "—"), item.row.name, item.composite.text(3), delta,
                 *(item.metrics.get(m, Interval(None)).text(2) if m in item.metrics else "—" for m in MEASURES),
                 "—" if item.forgetting is None else f"{item.forgetting:+.1%}", item.note or ""]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("~ = inside the noise floor or the interval includes 0: not a reliable difference from the base.")
    return "\n".join(lines)


def plot(scored: list[Scored], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    items = [s for s in scored if s.composite.value is not None]
    figure = Figure(figsize=(8, 0.45 * len(items) + 1.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    names = [s.row.name for s in items][::-1]
    values = [s.composite.value for s in items][::-1]
    errors = [[v - (s.composite.lo if s.composite.lo is not None else v) for s, v in zip(items[::-1], values, strict=True)],
              [(s.composite.hi if s.composite.hi is not None else v) - v for s, v in zip(items[::-1], values, strict=True)]]
    colours = ["#888888" if s.row.summary.get("kind") == "base" else "#3b75af" for s in items][::-1]
    axes.barh(names, values, xerr=errors, color=colours, capsize=3)
    axes.set_xlabel("composite reasoning score (95% CI)")
    axes.set_title("ltm ranking")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    atomic.write_bytes(path, buffer.getvalue())


def score_run(config, run_dir: Path, out: Path | None = None) -> tuple[list[Scored], Path]:
    rows = load_run(run_dir)
    scored = score(rows, config.scoring.weights, config.scoring.bootstrap, config.scoring.confidence)
    out = Path(out) if out else Path(run_dir)
    csv_path = out / f"{TABLE}.csv"
    write_csv(table_rows(scored), csv_path)
    atomic.write_text(out / f"{TABLE}.md", markdown(scored) + "\n")
    plot(scored, out / f"{TABLE}.png")
    return scored, csv_path
