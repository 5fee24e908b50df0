"""Benchmark: `ltm eval` (base loaded once, adapters switched in place) vs lm-eval, two ways.

Trains N short adapters of the base (reused when already trained), then:

1. In-process, the fair peer: the task's items scored by ltm's own choice scoring (the same items
   as scene YAML, `evaluate(scenes_only=True)`: the base row + N adapter rows) against lm-eval in
   this same process on one loaded model — `HFLM(pretrained=<the peft model>, tokenizer=...)`,
   `simple_evaluate` once per row, adapters switched with peft's `set_adapter` (all disabled for
   the base row), request cache off. Each side loads the base once; the figures are the wall time
   of the whole pass (load + every row) and of the rows alone. Every per-item accuracy must agree
   and the log-likelihoods match to float tolerance. Target: ltm ≥ 1.5x.
2. Against the lm-eval CLI once per adapter (what a user would otherwise run: `lm_eval --model hf
   --model_args pretrained=<base>,peft=<adapter>` in a fresh process per adapter, request cache
   off) with `ltm eval`'s whole pass on the benchmark; every per-item score must be identical.
   Target: ltm eval ≥ 5x. `--no-cli` leaves it out.

    python bench/eval_vs_lmeval.py                    # ltm-tiny, 10 adapters, task ltm_relations
    python bench/eval_vs_lmeval.py --base ltm-nano --adapters 3 --limit 20 --no-cli
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ["transitive_relations", "syllogisms", "arithmetic_stories", "cause_and_effect", "who_holds_what",
           "recipes", "weather_log", "shopping_lists", "shuffled_sentences", "diary_ru"]
PREFIX = "doc-"  # scene id of the task's document i: doc-<i>


def _config(args, runs: Path, scenes: Path):
    from ltm.config import ExperimentConfig

    config = ExperimentConfig(name="bench-eval", runs_dir=str(runs))
    config.source = ROOT / "experiments" / "bench.yaml"
    config.corpora.root = str(ROOT / "corpora")
    config.base.model = args.base
    config.training.max_steps = args.steps
    config.training.batch_size = 16
    config.testbench.scenes = str(scenes)
    config.testbench.benchmarks = [args.task]
    config.testbench.benchmark_limit = args.limit
    config.testbench.batch_size = args.batch_size
    config.testbench.latency = False
    return config


def _scene_file(folder: Path) -> Path:
    """`ltm eval` needs scenes; one item keeps the comparison about the benchmark."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "one.yaml").write_text("scenes:\n  - id: one\n    kind: choice\n    context: Anna is taller than Ben.\n"
                                     "    prompt: So\n    choices: [Anna is taller., Ben is taller.]\n"
                                     "    answer: Anna is taller.\n")
    return folder


def _task_scenes(folder: Path, task_data: Path, limit: int) -> Path:
    """The lm-eval task's items as ltm choice scenes: the same text, choices and answer, so both sides
    score the same (context, " " + choice) requests. `input_text` joins context and prompt with one
    space, so the task's context is split at its last space."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    docs = [json.loads(line) for line in task_data.read_text().splitlines() if line.strip()]
    docs = docs[:limit] if limit else docs
    scenes = []
    for i, doc in enumerate(docs):
        head, _, last = doc["context"].rpartition(" ")
        scenes.append({"id": f"{PREFIX}{i}", "kind": "choice", "measure": "general", "context": head, "prompt": last,
                       "choices": list(doc["choices"]), "answer": doc["choices"][int(doc["label"])]})
    (folder / "items.yaml").write_text(yaml.safe_dump({"scenes": scenes}, sort_keys=False, allow_unicode=True))
    return folder


def _lm_eval_in_process(config, adapters: list[Path], task: str, include: Path, limit: int | None,
                        batch: int) -> tuple[float, float, dict[str, dict[int, tuple[float, list[float]]]]]:
    """lm-eval in this process on one loaded base: (wall seconds with the load, seconds of the rows
    alone, {row: {doc_id: (acc, log-likelihoods)}})."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    from peft import PeftModel

    from ltm import basemodel

    os.environ["TQDM_DISABLE"] = "1"
    started = time.perf_counter()
    ref = basemodel.resolve(config.base.model)
    tokenizer = basemodel.load_tokenizer(config.base.model)
    model = basemodel.load_model(ref, config.base.quantization, config.base.dtype, config.base.trust_remote_code,
                                 config.base.attn_implementation)
    model.eval()
    peft = PeftModel.from_pretrained(model, str(adapters[0]), adapter_name="a0", is_trainable=False)
    for i, adapter in enumerate(adapters[1:], start=1):
        peft.load_adapter(str(adapter), adapter_name=f"a{i}", is_trainable=False)
    peft.eval()
    manager = TaskManager(include_path=[str(include)], verbosity="ERROR")
    lm = HFLM(pretrained=peft, tokenizer=tokenizer, batch_size=batch)
    loaded = time.perf_counter()

    def run() -> dict[int, tuple[float, list[float]]]:
        out = simple_evaluate(model=lm, tasks=[task], limit=limit, task_manager=manager, use_cache=None,
                              cache_requests=False, log_samples=True, bootstrap_iters=0, verbosity="ERROR")
        return {int(s["doc_id"]): (float(s["acc"]), [float(r[0]) for r in s["filtered_resps"]])
                for s in out["samples"][task]}

    scores = {}
    with peft.disable_adapter():
        scores["base"] = run()
    for i, adapter in enumerate(adapters):
        peft.set_adapter(f"a{i}")
        scores[adapter.name] = run()
    done = time.perf_counter()
    return done - started, done - loaded, scores


def _in_process(args, config, adapters: list[Path], runs: Path, include: Path) -> bool:
    """Part 1: ltm's choice scoring vs lm-eval in-process on the same items. True when they agree."""
    from ltm.testbench.lmeval_bridge import BUILTIN_TASKS
    from ltm.testbench.run import evaluate

    items = copy.deepcopy(config)
    items.testbench.scenes = str(_task_scenes(runs / "task-scenes", BUILTIN_TASKS / f"{args.task}.jsonl", args.limit))
    items.testbench.benchmarks = []
    cache = runs / "cache"
    if cache.exists():  # time a cold evaluation, not a cache hit
        shutil.rmtree(cache)
    started = time.perf_counter()
    result = evaluate(items, adapters=adapters, run="bench-items", track=False, quiet=True, scenes_only=True)
    ltm_wall = time.perf_counter() - started
    ltm_rows = sum(s["eval_seconds"] for s in result.summaries.values())
    ours = {}
    for name in ["base", *[a.name for a in adapters]]:
        records = [json.loads(line) for line in (result.run_dir / f"{name}.jsonl").read_text().splitlines()]
        ours[name] = {int(r["id"].removeprefix(PREFIX)): (float(r["correct"]), r["logprobs"]) for r in records}

    theirs_wall, theirs_rows, theirs = _lm_eval_in_process(config, adapters, args.task, include, args.limit or None,
                                                            args.batch_size)
    same_items = all(ours[row].keys() == theirs[row].keys() for row in ours)
    acc_same = same_items and all(ours[row][d][0] == theirs[row][d][0] for row in ours for d in ours[row])
    worst = max((abs(a - b) for row in ours for d in ours[row] if same_items
                 for a, b in zip(ours[row][d][1], theirs[row][d][1], strict=True)), default=float("inf"))
    print(f"in-process, the same {len(ours['base'])} items x {len(ours)} rows (base + {len(adapters)} adapters), "
          f"batch {args.batch_size}:")
    print(f"  ltm (evaluate scenes_only: one base load, set_adapter):  {ltm_wall:7.2f} s wall, rows {ltm_rows:7.2f} s")
    print(f"  lm-eval in-process (HFLM on the peft model, set_adapter): {theirs_wall:7.2f} s wall, rows {theirs_rows:7.2f} s")
    print(f"  ratio lm-eval / ltm: {theirs_wall / ltm_wall:.2f}x wall, {theirs_rows / ltm_rows:.2f}x rows (target >= 1.5x)")
    print(f"  per-item accuracy identical: {'yes' if acc_same else 'NO'}; largest |log-likelihood difference| {worst:.1e}")
    return acc_same and worst < 1e-3


def _lm_eval_cli(base_path: Path, adapter: Path, task: str, include: Path, limit: int, batch: int, out: Path) -> dict[int, float]:
    cmd = [sys.executable, "-m", "lm_eval", "--model", "hf",
           "--model_args", f"pretrained={base_path},peft={adapter},dtype=float32",
           "--tasks", task, "--include_path", str(include), "--batch_size", str(batch), "--device", "cpu",
           "--log_samples", "--output_path", str(out)]
    if limit:
        cmd += ["--limit", str(limit)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"lm_eval failed for {adapter.name}:\n{done.stderr[-3000:]}")
    samples = sorted(out.rglob(f"samples_{task}_*.jsonl"))
    if not samples:
        raise SystemExit(f"lm_eval wrote no samples for {adapter.name} under {out}")
    scores = {}
    for line in samples[-1].read_text().splitlines():
        record = json.loads(line)
        scores[int(record["doc_id"])] = float(record["acc"])
    return scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="ltm-tiny")
    parser.add_argument("--adapters", type=int, default=10)
    parser.add_argument("--steps", type=int, default=30, help="training steps per adapter (the adapters only need to differ)")
    parser.add_argument("--task", default="ltm_relations")
    parser.add_argument("--limit", type=int, default=0, help="items per task (0 = all)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--runs", default=None, help="runs folder (default: a fresh temporary one)")
    parser.add_argument("--no-cli", action="store_true", help="leave out part 2, the lm-eval CLI once per adapter")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"

    from ltm import basemodel, train
    from ltm.progress import quiet_libraries
    from ltm.testbench.lmeval_bridge import materialize_builtin_tasks
    from ltm.testbench.run import evaluate

    quiet_libraries()
    runs = Path(args.runs or tempfile.mkdtemp(prefix="ltm-bench-eval-"))
    config = _config(args, runs, _scene_file(runs / "scenes"))
    names = CORPORA[: args.adapters]
    adapters = [r.path for r in train.train(config, names, track=False)]
    ref = basemodel.resolve(args.base)
    include = materialize_builtin_tasks(runs / "lmeval_tasks")
    limit = args.limit or None
    config.testbench.benchmark_limit = limit
    print(f"base {args.base}, {len(adapters)} adapters, task {args.task}")

    agree = _in_process(args, config, adapters, runs, include)
    if args.no_cli:
        return 0 if agree else 1

    cache = runs / "cache"
    if cache.exists():  # time a cold evaluation, not a cache hit
        shutil.rmtree(cache)
    started = time.perf_counter()
    result = evaluate(config, adapters=adapters, run="bench", track=False, quiet=True)
    ltm_seconds = time.perf_counter() - started

    started = time.perf_counter()
    mismatches, items = [], 0
    for adapter in adapters:
        theirs = _lm_eval_cli(ref.path, adapter, args.task, include, args.limit, args.batch_size, runs / "lmeval-out" / adapter.name)
        ours = {int(r["doc_id"]): r["acc"] for r in map(json.loads, (result.run_dir / f"{adapter.name}.benchmarks.jsonl")
                                                         .read_text().splitlines())}
        items += len(theirs)
        if ours != theirs:
            mismatches.append(adapter.name)
    cli_seconds = time.perf_counter() - started

    print(f"against the CLI, {items // max(1, len(adapters))} items each:")
    print(f"  ltm eval (base + {len(adapters)} adapters, one process): {ltm_seconds:8.1f} s")
    print(f"  lm-eval CLI (one process per adapter):       {cli_seconds:8.1f} s")
    print(f"  speed-up: {cli_seconds / ltm_seconds:.1f}x (target >= 5x)")
    print(f"  per-item scores identical: {'yes' if not mismatches else 'NO: ' + ', '.join(mismatches)}")
    return 1 if mismatches or not agree else 0


if __name__ == "__main__":
    raise SystemExit(main())
