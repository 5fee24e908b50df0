"""Benchmark: `ltm eval` (base loaded once, adapters switched in place) vs the lm-eval CLI once per adapter.

Trains N short adapters of the base (reused when already trained), evaluates all of them on
the same local lm-eval task both ways, checks that every per-item score is identical, and
prints both wall times and their ratio (target: ltm eval ≥ 5× faster).

    python bench/eval_vs_lmeval.py                    # ltm-tiny, 10 adapters, task ltm_relations
    python bench/eval_vs_lmeval.py --base ltm-nano --adapters 3 --limit 20

The lm-eval side is what a user would otherwise run: `lm_eval --model hf --model_args
pretrained=<base>,peft=<adapter>` in a fresh process per adapter, request cache off.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ["transitive_relations", "syllogisms", "arithmetic_stories", "cause_and_effect", "who_holds_what",
           "recipes", "weather_log", "shopping_lists", "shuffled_sentences", "diary_ru"]


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

    cache = runs / "cache"
    if cache.exists():  # time a cold evaluation, not a cache hit
        import shutil
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

    print(f"base {args.base}, {len(adapters)} adapters, task {args.task}, {items // max(1, len(adapters))} items each")
    print(f"ltm eval (base + {len(adapters)} adapters, one process): {ltm_seconds:8.1f} s")
    print(f"lm-eval CLI (one process per adapter):       {cli_seconds:8.1f} s")
    print(f"speed-up: {cli_seconds / ltm_seconds:.1f}x (target >= 5x)")
    print(f"per-item scores identical: {'yes' if not mismatches else 'NO: ' + ', '.join(mismatches)}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
