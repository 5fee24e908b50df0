"""`ltm score`: one trustworthy ranking from a testbench run — read, warn, score, write.

This module is the command's path from a results folder to its table: `load_run` reads every
row's items and benchmark records from ``runs/results/<run>/`` into per-unit measures,
`score_run` prints the warnings (ltm/score_warnings.py), computes the intervals, composite,
noise floor and forgetting (ltm/score_stats.py), sets merges against their members
(ltm/score_merges.py), writes ``ltm_results_table.csv`` (and ``.md``, ``.png``) into the run
folder atomically (ltm/score_table.py) and logs the numbers to MLflow. The names of those
modules stay importable from here, as before the split.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import atomic
from .errors import LtmError

# The pieces of `ltm score`, importable from here as before (ltm.score.score, ltm.score.markdown, ...).
from .score_stats import MEASURES, Interval, RowData, Scored, difference, noise_floor, score  # noqa: F401
from .score_table import LEGEND, SHOWN, TABLE, delta_text, forgetting_text, markdown, plot, table_rows, write_csv  # noqa: F401
from .score_warnings import JUDGED, effective_weights, missing_controls, mixed_provenance  # noqa: F401
from .testbench.metrics import unit_clusters, units
from .testbench.sensitivity import base_warnings


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
        if summary.get("kind") == "variant":  # a format row, as results written before the rename call it
            summary["kind"] = "format"
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


def score_run(config, run_dir: Path, out: Path | None = None, quiet: bool = False,
              track: bool = True) -> tuple[list[Scored], Path]:
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
    if track:  # the same numbers on the rows' eval runs in MLflow (none when evaluated untracked)
        from . import tracking

        tracking.log_scores(config, Path(run_dir).name, scored)
    return scored, csv_path
