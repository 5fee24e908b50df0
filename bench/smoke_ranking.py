"""Benchmark: does the ranking on the embedded default separate teaching corpora from a distractor?

Runs `ltm sweep` on experiments/smoke.yaml (ltm-tiny; transitive_relations and syllogisms
teach the scenes' patterns, weather_log is a distractor) in a fresh runs folder, then prints
the ranking and, for each teaching corpus, the paired bootstrap difference of the composite
against the distractor and whether its 95 % interval excludes 0.

    python bench/smoke_ranking.py [--runs DIR] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEACHING = ("transitive_relations", "syllogisms")
DISTRACTOR = "weather_log"


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
    by_corpus = {r.summary.get("corpus"): r for r in rows if r.summary.get("corpus")}
    rng = np.random.default_rng(0)
    print(f"\nsweep wall time {seconds:.0f} s")
    for measure in ("accuracy", "depth", "pressure", "consistency"):
        for corpus in TEACHING:
            a, b = by_corpus[corpus].units.get(measure, {}), by_corpus[DISTRACTOR].units.get(measure, {})
            ids = sorted(set(a) & set(b))
            if not ids:
                continue
            diff = np.array([a[i] - b[i] for i in ids])
            reps = diff[rng.integers(0, len(ids), (2000, len(ids)))].mean(axis=1)
            lo, hi = np.quantile(reps, [0.025, 0.975])
            verdict = "separated" if lo > 0 else "NOT separated"
            print(f"{measure:<12} {corpus} − {DISTRACTOR}: {diff.mean():+.3f} [{lo:+.3f}, {hi:+.3f}] ({len(ids)} units) {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
