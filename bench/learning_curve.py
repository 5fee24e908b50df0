"""What does a real model learn, and after how many LoRA steps? A learning curve on the real shelf.

Trains the teaching corpus at several step budgets and a book at the largest one (same
config otherwise), evaluates them beside the base on the configured scenes, and prints
accuracy, margin and the three choice measures per budget, with the row's composite
interval and Δ vs base from ``ltm score`` — the figures that say whether the budget of
``experiments/real-shelf.yaml`` is a measured choice.

    python bench/learning_curve.py --config experiments/real-shelf.yaml --teach syllogisms \
        --book hamlet --steps 30 100
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ltm(*args: str) -> str:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "ltm.cli", *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"ltm {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    print(f"  ltm {' '.join(args[:2])} … {time.perf_counter() - started:.0f} s", flush=True)
    return out.stdout


def adapter_of(train_output: str) -> str:
    return next(line.split()[0] for line in train_output.splitlines() if "/adapters/" in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="experiments/real-shelf.yaml")
    parser.add_argument("--teach", default="syllogisms")
    parser.add_argument("--book", default="hamlet")
    parser.add_argument("--steps", type=int, nargs="+", default=[30, 100])
    parser.add_argument("--run", default="learning-curve")
    args = parser.parse_args()

    adapters, budget = [], {}
    for steps in args.steps:
        path = adapter_of(ltm("train", args.teach, "--config", args.config, "--set", f"training.max_steps={steps}",
                              "--no-mlflow"))
        adapters.append(path)
        budget[Path(path).name] = (args.teach, steps)
    path = adapter_of(ltm("train", args.book, "--config", args.config, "--set", f"training.max_steps={max(args.steps)}",
                          "--no-mlflow"))
    adapters.append(path)
    budget[Path(path).name] = (args.book, max(args.steps))
    started = time.perf_counter()
    ltm("eval", "--config", args.config, "--adapters", *adapters, "--run", args.run, "--no-mlflow")
    eval_seconds = time.perf_counter() - started
    ltm("score", args.run, "--config", args.config)
    results = ROOT / "runs" / "results" / args.run
    table = {row["row"]: row for row in _csv(results / "ltm_results_table.csv")}
    print(f"\nevaluation of {len(adapters) + 1} rows: {eval_seconds:.0f} s ({eval_seconds / (len(adapters) + 1):.0f} s per row)")
    print(f"{'row':<34} {'corpus':<14} {'steps':>5} {'accuracy':>8} {'margin':>7} {'depth':>6} {'cons.':>6} "
          f"{'press.':>6}  composite [95% CI]        Δ vs base")
    for name, row in table.items():
        corpus, steps = budget.get(name, ("(base)" if row["kind"] == "base" else row["corpus"], 0))
        cells = [row.get(k) or "" for k in ("accuracy", "margin", "depth", "consistency", "pressure")]
        composite = f"{row['composite']} [{row['composite_lo']}, {row['composite_hi']}]"
        delta = f"{row['delta_vs_base']} [{row['delta_lo']}, {row['delta_hi']}]" if row["delta_vs_base"] else "—"
        print(f"{name:<34} {corpus:<14} {steps:>5} " + " ".join(f"{_short(c):>7}" for c in cells)
              + f"  {composite:<26} {delta}")
    for name in budget:
        manifest = json.loads((ROOT / "runs" / "adapters" / name / "manifest.json").read_text())
        print(f"{name}: {manifest.get('tokens_seen')} tokens in {manifest.get('train_seconds')} s "
              f"({manifest.get('tokens_per_second')} tok/s)")


def _short(value: str) -> str:
    try:
        return f"{float(value):.3f}"
    except ValueError:
        return value or "—"


def _csv(path: Path) -> list[dict]:
    import csv

    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


if __name__ == "__main__":
    main()
