"""`ltm eval`: every row sits the scenes and benchmarks; results go to disk and MLflow.

Order of work: validate the scenes (before loading anything), load the base once, then for
each row — the base (adapters disabled), each adapter (set active, checked on a probe),
then each format row (a second load, freed after) — score the scene items not already
in the item cache, perplexity, benchmarks, latency and attention entropy. Each row writes
``results/<run>/<row>.jsonl`` (one record per item) and ``<row>.summary.json`` atomically,
and one MLflow run with its metrics and transcripts.

One job per module: this one orders the work and writes the results; `row_scoring` scores
one row (its item cache, scene items, the vLLM engine), `row_measures` its perplexity,
benchmarks, latency and attention, `row_judge` the judge's lifetime and pairwise comparison,
`row_info` the row's provenance, `table` the printed table.
"""

from __future__ import annotations

import dataclasses
import gc
import json
from dataclasses import dataclass
from pathlib import Path

from .. import atomic, basemodel
from ..config import adapters_dir
from ..errors import LtmError
from ..progress import progress_bar
from ..scenes import SceneSet, load_scenes
from .metrics import flat_metrics
from .row_info import tokenizer_label
from .row_scoring import RowScorer
from .rows import LoadedBase, Row, adapter_rows
from .table import TABLE_LEGEND, print_table

# Imported from here by the command line, the sweep and the tests; each lives in the module of its job.
__all__ = ["TABLE_LEGEND", "EvalResult", "configured_benchmarks", "evaluate", "find_adapters", "print_table",
           "results_dir", "scenes_path", "tested_scenes", "tokenizer_label"]


@dataclass
class EvalResult:
    run_dir: Path
    summaries: dict[str, dict]  # row name -> summary


def scenes_path(config) -> Path:
    return config.path(config.testbench.scenes)


def results_dir(config, run: str | None = None) -> Path:
    return config.runs_path / "results" / (run or config.name)


def find_adapters(config, ref) -> list[Path]:
    """Finished adapters under runs/adapters trained on this base (folders with a manifest)."""
    found = []
    for folder in sorted(adapters_dir(config).glob("*")):
        manifest = folder / "manifest.json"
        if folder.is_dir() and manifest.is_file() and not folder.name.startswith("."):
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                continue
            if data.get("base", {}).get("fingerprint") == ref.fingerprint:
                found.append(folder)
    return found


def _format_rows(config) -> list[Row]:
    """The base again in each other format of `testbench.formats` (`base-bf16`, `base-nf4`)."""
    rows = []
    for fmt in dict.fromkeys(config.testbench.formats):
        quantization, dtype = ("nf4", config.base.dtype) if fmt == "nf4" else ("none", "bf16")
        if (quantization, dtype) == (config.base.quantization, config.base.dtype):
            continue  # the base row is already in this format
        rows.append(Row(name=f"base-{fmt}", kind="format", quantization=quantization, dtype=dtype))
    return rows


def _rows(config, ref, adapters: list[Path] | None) -> list[Row]:
    """The base, each adapter (default: all finished ones on this base; each checked to be trained
    on it, and evaluated in the base's format) and the format rows, in that order."""
    folders = [Path(a) for a in adapters] if adapters is not None else find_adapters(config, ref)
    rows = [Row(name="base", kind="base", quantization=config.base.quantization, dtype=config.base.dtype)]
    rows += adapter_rows(folders)
    for row in rows[1:]:
        trained_on = row.manifest.get("base", {}).get("fingerprint")
        if trained_on and trained_on != ref.fingerprint:
            raise LtmError(f"{row.adapter}: trained on base {row.manifest['base'].get('spec')!r} "
                           f"({trained_on}), not on {config.base.model!r} ({ref.fingerprint}) — "
                           "evaluate it with the config it was trained with")
        row.quantization, row.dtype = config.base.quantization, config.base.dtype
    return rows + _format_rows(config)


def tested_scenes(config, stand_in: bool = False) -> SceneSet:
    """The scene items every row is tested on: the scenes folder, narrowed to `testbench.tags`,
    and the scene families of `testbench.families` at their calibrated difficulty (ltm/calibrate.py).

    `stand_in` (for `ltm estimate`, which counts items before any calibration): a family not yet
    calibrated is counted at its middle level instead of stopping with "run ltm scenes calibrate".
    """
    from ..calibrate import calibrated_scenes_path, find_calibration, stand_in_scenes

    if stand_in and config.testbench.families:
        from ..estimate import local_base

        ref = local_base(config)  # never downloads: an estimate must not fetch a 15 GB model
        families = find_calibration(config, ref) if ref is not None else None
    else:
        families = calibrated_scenes_path(config)
    scenes = load_scenes([scenes_path(config), families] if families else scenes_path(config))
    if stand_in and config.testbench.families and families is None:
        scenes = SceneSet(scenes.items + stand_in_scenes(config), scenes.file_hashes)
    if config.testbench.tags:
        wanted = set(config.testbench.tags)
        scenes = scenes.subset(lambda s: bool(wanted & set(s.tags)) or s.family is not None)
        if not scenes.items:
            raise LtmError(f"{config.source}: testbench.tags {sorted(wanted)} match no scene item under "
                           f"{scenes_path(config)} — use tags that the scenes' `tags:` lists carry")
    return scenes


def evaluate(config, adapters: list[Path] | None = None, run: str | None = None, track: bool = True,
             quiet: bool = False, kinds: set[str] | None = None, scenes_only: bool = False,
             loaded: LoadedBase | None = None) -> EvalResult:
    """Evaluate the base, `adapters` (default: all finished ones on this base) and the format rows.

    `loaded`: a base already loaded in the config's format (the sweep's stage-2 trial passes the
    same one to its pruning and its full pass, so the base is loaded once per trial).

    `kinds` limits the scene items (e.g. {"choice"} for a cheap intermediate score);
    `scenes_only` leaves out perplexity, benchmarks, latency, attention and the pairwise judge —
    what a pruning pass does not read (the sweep's full pass then reuses the items it scored).
    """
    scenes = tested_scenes(config)  # fail on a bad scene before loading any model
    if config.testbench.backend == "vllm":
        from .vllm_backend import require_vllm

        require_vllm()
    if kinds is not None:
        scenes = scenes.subset(lambda s: s.kind in kinds)
    basemodel.quiet_bitsandbytes()
    ref = basemodel.resolve(config.base.model, config.base.revision)
    tokenizer = basemodel.load_tokenizer(config.base.model, config.base.revision)
    scenes = _chat_template(config, scenes, tokenizer)
    rows = _rows(config, ref, adapters)
    benchmarks = None if scenes_only else configured_benchmarks(config)  # lm-eval's task index is not cheap
    out = results_dir(config, run)
    out.mkdir(parents=True, exist_ok=True)
    cache_root = config.runs_path / "cache" / "testbench"
    summaries: dict[str, dict] = {}
    attention_rows: dict[str, list[float]] = {}
    scorer = RowScorer(config, scenes, tokenizer, ref, benchmarks, cache_root, quiet, scenes_only)
    base_records: list[dict] = []

    if loaded is None:
        loaded = LoadedBase.of_config(ref, config.base)
    scorer.judging.base = loaded  # a local judge runs on it, adapters disabled
    if config.testbench.backend == "vllm" and (benchmarks is not None or any(s.kind != "choice" for s in scenes.items)):
        from . import vllm_backend

        scorer.engine = vllm_backend.engine(ref.path, config, [r.adapter for r in rows if r.adapter is not None])
    with progress_bar("evaluating rows", total=len(rows)) as advance:
        for row in rows:
            if row.kind == "format":
                holder = LoadedBase(ref, row.quantization, row.dtype, config.base.trust_remote_code,
                                    config.base.attn_implementation)
            else:
                holder = loaded
            summary, records, attention, bench_records = scorer.row(holder, row)
            if row.kind == "base":
                base_records = records
            if holder is not loaded:
                del holder
                gc.collect()
            else:
                holder.detach(row)
            _write_row(out, row, records, summary, bench_records)
            if track and scorer.computed.pop(row.name, True):
                _track(config, row, summary, out)
            summaries[row.name] = summary
            if attention:
                attention_rows[row.name] = attention
            advance(1, row=row.name)
    if attention_rows:
        from .attention import write_attention_report

        table, _png = write_attention_report(attention_rows, out)
        atomic.write_text(out / "attention_entropy.md", table + "\n")
    atomic.write_json(out / "summary.json", {"run": out.name, "base": basemodel.describe(ref),
                                             "scenes": str(scenes_path(config)), "scenes_sha256": scenes.sha256,
                                             "decoding": dataclasses.asdict(config.testbench.decoding),
                                             "rows": summaries})
    if not quiet:
        print_table(summaries)
        from .sensitivity import base_warnings

        for line in base_warnings(base_records):
            print(f"warning: {line}")
        print(f"results: {out}")
    return EvalResult(out, summaries)


def configured_benchmarks(config):
    if not config.testbench.benchmarks:
        return None
    from .lmeval_bridge import Benchmarks, materialize_builtin_tasks

    include = [materialize_builtin_tasks(config.runs_path / "lmeval_tasks")]
    bigbench_tasks = [t for t in config.testbench.benchmarks if t.startswith("bb_")]
    if bigbench_tasks:  # BIG-bench's tasks, fetched once from PyPI, written beside the builtin ones
        from .. import bigbench

        bigbench.materialize(bigbench_tasks, include[0])
    include += [config.path(p) for p in config.testbench.benchmark_include]
    tb = config.testbench
    return Benchmarks(tb.benchmarks, include, tb.benchmark_limit, tb.num_fewshot, tb.batch_size)


def _chat_template(config, scenes: SceneSet, tokenizer) -> SceneSet:
    """Scene inputs as an instruct model is used to reading them: one user turn, then the assistant's."""
    mode = config.base.chat_template
    if mode == "off":
        return scenes
    if not getattr(tokenizer, "chat_template", None):
        raise LtmError(f"base.chat_template: {mode}, but {config.base.model!r} has no chat template — "
                       "set base.chat_template: off (a base model, not an instruct model)")

    def wrap(scene, text: str) -> str:
        if mode == "generate" and scene.kind == "choice":
            return text
        return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                             add_generation_prompt=True)

    return scenes.with_template(wrap)


def _write_row(out: Path, row: Row, records: list[dict], summary: dict, bench_records: list[dict]) -> None:
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    atomic.write_text(out / f"{row.name}.jsonl", lines)
    if bench_records:
        lines = "".join(json.dumps({**r, "row": row.name}, ensure_ascii=False) + "\n" for r in bench_records)
        atomic.write_text(out / f"{row.name}.benchmarks.jsonl", lines)
    atomic.write_json(out / f"{row.name}.summary.json", summary)


def _track(config, row: Row, summary: dict, out: Path) -> None:
    from .. import tracking

    tags = {"ltm.kind": "eval", "ltm.row": row.name, "ltm.row_kind": row.kind, "ltm.base": config.base.model,
            "ltm.quantization": row.quantization, "ltm.run": out.name}
    if row.adapter is not None:
        tags.update({"ltm.adapter": row.name, "ltm.corpus": row.corpus})
    params = {f"decoding.{k}": str(v) for k, v in dataclasses.asdict(config.testbench.decoding).items()}
    params["scenes"] = str(scenes_path(config))
    # An adapter's evaluation is a nested run of the run that trained it (one place per adapter);
    # the base and format rows have no training run and stay top-level.
    parent = tracking.training_run(config, row.name, row.manifest.get("mlflow_run_id")) if row.adapter else None
    with tracking.run(config, f"eval:{out.name}:{row.name}", tags, params,
                      parent_run_id=parent) as (mlflow_client, run_id):
        metrics = {k: v for k, v in flat_metrics(summary).items() if not k.startswith(("training.", "eval_seconds"))}
        tracking.log_metrics(mlflow_client, run_id, metrics)
        tracking.log_artifact(mlflow_client, run_id, out / f"{row.name}.jsonl", "transcripts")
        tracking.log_artifact(mlflow_client, run_id, out / f"{row.name}.summary.json", "transcripts")
