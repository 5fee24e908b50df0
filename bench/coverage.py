"""Do ltm's 95 % intervals cover the true Δ? A simulation with clustered items and a known truth.

Each simulated testbench has ``clusters`` clusters of ``size`` items (a clean item and its
variants, a consistency group): a cluster's difficulty decides whether the base and the
adapter get it right, and each item copies its cluster's outcome but flips with probability
``flip``. The adapter's true gain in expected accuracy is known in closed form. The paired Δ
interval is computed by ltm's own ``Plan`` (the code ``ltm score`` runs), once resampling
clusters and once resampling items one by one (what ltm did before), and the share of
datasets whose interval holds the true Δ is printed.

    python bench/coverage.py --datasets 1000
"""

from __future__ import annotations

import argparse

import numpy as np

from ltm.bootstrap import Plan, interval


def true_delta(p_base: float, p_adapter: float, flip: float) -> float:
    expected = lambda p: p * (1 - flip) + (1 - p) * flip  # noqa: E731
    return expected(p_adapter) - expected(p_base)


def dataset(rng, clusters: int, size: int, p_base: float, p_adapter: float, flip: float):
    """Item correctness of the base and the adapter, and each item's cluster id."""
    difficulty = rng.random(clusters)
    ids = np.repeat(np.arange(clusters), size)
    base = (difficulty < p_base)[ids]
    adapter = (difficulty < p_adapter)[ids]
    base = np.where(rng.random(len(ids)) < flip, ~base, base).astype(float)
    adapter = np.where(rng.random(len(ids)) < flip, ~adapter, adapter).astype(float)
    return base, adapter, ids


def simulate(datasets: int = 1000, clusters: int = 150, size: int = 4, p_base: float = 0.5, p_adapter: float = 0.6,
             flip: float = 0.1, resamples: int = 1000, confidence: float = 0.95, clustered: bool = True,
             seed: int = 0) -> float:
    """Share of simulated datasets whose paired Δ interval contains the true Δ."""
    rng = np.random.default_rng(seed)
    truth = true_delta(p_base, p_adapter, flip)
    hits = 0
    for k in range(datasets):
        base, adapter, ids = dataset(rng, clusters, size, p_base, p_adapter, flip)
        units = [f"c{c}" for c in ids] if clustered else [f"i{i}" for i in range(len(ids))]
        plan = Plan(units, resamples, seed=seed + k + 1)
        delta = plan.replicates(units, adapter) - plan.replicates(units, base)
        _, lo, hi = interval(adapter.mean() - base.mean(), delta, confidence)
        hits += lo <= truth <= hi
    return hits / datasets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--clusters", type=int, default=150)
    parser.add_argument("--size", type=int, default=4)
    args = parser.parse_args()
    for clustered in (True, False):
        share = simulate(args.datasets, args.clusters, args.size, clustered=clustered)
        label = "clusters resampled (ltm)" if clustered else "items resampled one by one"
        print(f"{label:<28} coverage of the true Δ by 95% intervals: {share:.3f} over {args.datasets} datasets")


if __name__ == "__main__":
    main()
