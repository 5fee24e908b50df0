"""Benchmark: does the ranking on the embedded default separate teaching corpora from a distractor?

Runs `ltm sweep` on experiments/smoke.yaml (ltm-tiny; syllogisms teaches the pattern of the
scene items tagged `syllogisms`, weather_log and shopping_lists are distractors) in a fresh runs
folder, then prints the ranking, whether the teaching corpus's composite interval lies above
every distractor's, and per measure the paired bootstrap difference teaching − distractor.

    python bench/smoke_ranking.py [--runs DIR] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEACHING = ("syllogisms",)
DISTRACTORS = ("weather_log", "shopping_lists")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=None)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"

    import numpy as np

    from ltm.config import apply_overrides, load_config
    from ltm.score import load_run, markdown, score
    from ltm.sweep import results_run, run_sweep

    runs = args.runs or tempfile.mkdtemp(prefix="ltm-smoke-")
    config = apply_overrides(load_config(ROOT / "experiments" / "smoke.yaml"), [f"runs_dir={runs}", *args.set])
    started = time.perf_counter()
    run_sweep(config, track=False)
    seconds = time.perf_counter() - started
    rows = load_run(results_run(config))
    ranked = score(rows, config.scoring.weights, config.scoring.bootstrap, config.scoring.confidence)
    print(markdown(ranked))
    rng = np.random.default_rng(0)
    print(f"\nsweep wall time {seconds:.0f} s")
    by_row = {item.row.summary.get("corpus"): item for item in ranked}
    for corpus in TEACHING:
        for other in DISTRACTORS:
            a, b = by_row[corpus].composite, by_row[other].composite
            verdict = "separated" if a.lo > b.hi else "NOT separated"
            print(f"composite    {corpus} {a.text(3)} vs {other} {b.text(3)}: intervals {verdict}")
    for measure in ("accuracy", "depth", "pressure", "consistency"):
        for corpus in TEACHING:
            for other in DISTRACTORS:
                a, b = by_row[corpus].row.units.get(measure, {}), by_row[other].row.units.get(measure, {})
                ids = sorted(set(a) & set(b))
                if not ids:
                    continue
                diff = np.array([a[i] - b[i] for i in ids])
                reps = diff[rng.integers(0, len(ids), (2000, len(ids)))].mean(axis=1)
                lo, hi = np.quantile(reps, [0.025, 0.975])
                verdict = "separated" if lo > 0 else "NOT separated"
                print(f"{measure:<12} {corpus} − {other}: {diff.mean():+.3f} [{lo:+.3f}, {hi:+.3f}] ({len(ids)} units) {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
