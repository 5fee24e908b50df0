"""`ltm estimate`: how long will my card take on 1, 10, 100, 1000 pages, and how much memory?

This module is the arithmetic of the answer: pages → tokens → optimizer steps (the same plan
`ltm train` makes, ltm/recipe.py) → seconds, per page count, per corpus and for the configured
sweep's night (training + evaluation + base loads). The rates it multiplies come from one of
two places: measured on this machine (ltm/estimate_measure.py: the calibration run, tokens per
page) or, where this machine cannot run the config, assumed for a card (ltm/estimate_assumed.py).
Memory is ltm/estimate_memory.py, evaluation time ltm/estimate_eval.py, the printed report
ltm/estimate_report.py. Their names stay importable from here, as before the split.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from . import basemodel, recipe
from .errors import LtmError

# The pieces of `ltm estimate`, importable from here as before; `estimate` below calls `calibrate`
# and `local_base` through this module, so a test may replace them here.
from .estimate_assumed import (  # noqa: F401
    ASSUMPTIONS,
    CARDS,
    CPU_CALIBRATION_LIMIT,
    DEFAULT_CARD,
    KNOWN_CONFIGS,
    Architecture,
    Assumed,
    Card,
    architecture,
    assumed_training,
    assumption_reason,
    assumptions,
    forward_flops,
    known_config,
    local_base,
    lora_parameters,
    parse_assumptions,
)
from .estimate_measure import (  # noqa: F401
    CALIBRATION_STEPS,
    WARMUP_STEPS,
    TokenCount,
    cached_calibration,
    calibrate,
    calibration_key,
    calibration_path,
    machine_id,
    predict_train_seconds,
    seconds_for_steps,
    tokens_per_page,
)
from .estimate_memory import memory_estimate, memory_parts  # noqa: F401


def steps_for_tokens(config, tokens: int) -> int:
    """Optimizer steps `ltm train` makes on `tokens` training tokens: the same plan (ltm/recipe.py)."""
    tc = config.training
    return recipe.plan(recipe.sequences_for_tokens(tokens, tc.max_length), tc).steps


def check_pages(pages: list[float]) -> None:
    """`--pages` counts must be above 0: a table row for 0 or -5 pages means nothing."""
    bad = next((p for p in pages if not p > 0), None)
    if bad is not None:
        raise LtmError(f"--pages {bad:g}: a page count must be above 0 — e.g. --pages 1 10 100 1000")


def parse_books(text: str | None) -> tuple[int, float] | None:
    """`--books 10x100`: ten corpora of 100 pages each, in place of the shelf."""
    if not text:
        return None
    count, sep, pages = text.lower().replace("×", "x").partition("x")
    try:
        result = int(count), float(pages)
    except ValueError:
        result = None
    if not sep or result is None or result[0] < 1 or result[1] <= 0:
        raise LtmError(f"--books {text!r}: use COUNTxPAGES, e.g. --books 10x100 for ten 100-page books")
    return result


def estimate(config, paths: list[Path], pages: list[float], recalibrate: bool = False, card: str | None = None,
             assume: dict[str, float] | None = None, books: tuple[int, float] | None = None) -> dict:
    """Everything `ltm estimate` prints, as data.

    Measured on this machine when it can run the config (CUDA, or a small base on CPU); otherwise,
    or with `card`/`assume`, from the stated assumptions (`ASSUMPTIONS`, `CARDS`) for that card."""
    check_pages(pages)
    given = dict(assume or {})
    ref = local_base(config)
    arch = architecture(config, ref, given)
    reason = assumption_reason(config, ref, card is not None or bool(given), arch.parameters)
    assumed = assumptions(card, given) if reason is not None else None
    tokenizer = basemodel.load_tokenizer(config.base.model, config.base.revision) if ref is not None else None
    count = TokenCount(tokenizer, assumed["tokens_per_word"] if assumed else None)
    per_page, rows = tokens_per_page(config, paths, count)
    if not rows or not per_page:
        per_page = 500 * (assumed["tokens_per_word"] if assumed else 1.3)  # corpora.WORDS_PER_PAGE words
    if books:
        n, book_pages = books
        rows = [{"corpus": f"{book_pages:g}-page book", "tokens": int(round(book_pages * per_page)), "pages": book_pages,
                 "count": n, "tokens_per_page": round(per_page, 1)}]
    if assumed is None:
        calibration = calibrate(config, force=recalibrate)
        memory = memory_estimate(config, arch.model_config)
    else:
        calibration = assumed_training(config, arch, assumed)
        memory = memory_estimate(config, arch.model_config, on_cuda=True) if arch.model_config is not None else None
    tc = config.training
    table = []
    for p in pages:
        tokens = int(round(p * per_page))
        plan = recipe.plan(recipe.sequences_for_tokens(tokens, tc.max_length), tc)
        table.append({"pages": p, "tokens": tokens, "steps": plan.steps, "passes": round(plan.passes, 3),
                      "capped": plan.partial, "seconds": round(seconds_for_steps(calibration, plan.steps), 1)})
    for row in rows:
        row["steps"] = steps_for_tokens(config, int(row["tokens"] * (1 - config.corpora.heldout_fraction)))
        row["train_seconds"] = round(seconds_for_steps(calibration, row["steps"]), 1)
        row["too_few_steps"] = row["steps"] < recipe.MIN_STEPS
    sweep = config.sweep
    corpora_count = sum(r["count"] for r in rows)
    extra_seeds = max(0, len(sweep.seeds) - 1) * (corpora_count if sweep.seed_every_corpus else min(1, corpora_count))
    runs = corpora_count + extra_seeds + sweep.trials
    trained = sum(r["count"] * r["train_seconds"] for r in rows)
    mean = trained / corpora_count if corpora_count else 0.0
    overnight = {"trainings": runs, "seconds": round(trained + (runs - corpora_count) * mean, 1)}
    try:
        evaluation = _evaluation(config, rows, recalibrate, count, arch, assumed, extra_seeds, runs)
    except LtmError as exc:  # no scenes yet: the training estimate still stands
        evaluation = {"error": str(exc).splitlines()[0], "sweep_seconds": 0.0, "load_seconds": 0.0}
    return {
        "base": config.base.model, "quantization": config.base.quantization,
        "measured": assumed is None, "why_assumed": reason,
        "assumptions": assumed.as_dict() if assumed else None,
        "parameters": arch.parameters, "parameters_source": arch.source,
        "tokens_counted": "tokenizer" if count.measured else "assumed tokens per word",
        "tokens_per_page": round(per_page, 1), "corpora": rows, "calibration": calibration,
        "pages": table, "memory": memory, "overnight_training": overnight, "evaluation": evaluation,
        "overnight_seconds": round(overnight["seconds"] + evaluation["sweep_seconds"] + evaluation.get("load_seconds", 0.0), 1),
        "training": dataclasses.asdict(tc),
    }


def _evaluation(config, rows: list[dict], recalibrate: bool, count: TokenCount, arch: Architecture,
                assumed: Assumed | None, extra_seeds: int, trainings: int) -> dict:
    """Evaluation time of the configured sweep (ltm/estimate_eval.py): the base row and each format
    row once, one row per training, and a choice-only pruning pass per stage-2 trial; plus the
    base loads (once per training, and per evaluation the base and each format row again)."""
    from .estimate_eval import assumed_eval, calibrate_eval, row_parts, row_plan, row_seconds
    from .testbench.run import _format_rows

    plan = row_plan(config, count)
    if assumed is None:
        calibration = calibrate_eval(config, force=recalibrate)
    else:
        calibration = assumed_eval(config, arch, assumed, plan)
    for row in rows:
        row["eval_seconds"] = round(row_seconds(calibration, plan, int(row["tokens"] * config.corpora.heldout_fraction)), 1)
    corpora_count = sum(r["count"] for r in rows)
    trained = sum(r["count"] * r["eval_seconds"] for r in rows)
    base_row = row_seconds(calibration, plan)
    mean = trained / corpora_count if corpora_count else base_row
    sweep = config.sweep
    formats = len(_format_rows(config))
    choice_only = row_seconds(calibration, plan, choice_only=True)
    seconds = ((1 + formats) * base_row + trained + extra_seeds * (rows[0]["eval_seconds"] if rows else mean)
               + sweep.trials * (mean + choice_only))
    # Loads: one per training; per evaluation the base and each format row (ltm/testbench/run.py loads them
    # anew each call); a stage-2 trial's pruning pass shares its full pass's base, without format rows (ltm/sweep.py).
    loads = trainings + (corpora_count + extra_seeds + sweep.trials) * (1 + formats)
    load_seconds = loads * calibration.get("seconds_per_load", 0.0)
    return {"calibration": calibration, "row": plan, "row_seconds": round(mean, 1), "parts": row_parts(calibration, plan),
            "rows": 1 + formats + corpora_count + extra_seeds + sweep.trials, "formats": formats,
            "pruning_passes": sweep.trials, "choice_only_seconds": round(choice_only, 1),
            "sweep_seconds": round(seconds, 1), "loads": loads, "load_seconds": round(load_seconds, 1)}
