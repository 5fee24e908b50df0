"""The ranking as written and printed: ``ltm_results_table.csv``, its Markdown and PNG, the legend.

Turns the scored rows of ltm/score_stats.py into table rows (one column per measure with its
interval, provenance columns, the behaviour note) and writes them atomically; the terminal
table of `ltm score` (ltm/cli.py) reuses its cell texts and legend. Nothing here
computes a statistic: a change of layout cannot change a number.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from . import atomic
from .score_stats import MEASURES, Interval, Scored

SHOWN = ("accuracy", "margin") + MEASURES
TABLE = "ltm_results_table"


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
            "ppl_heldout_base": _num(s.get("ppl_heldout_base")),
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
