"""Clustered, paired bootstrap with training-seed noise: the intervals behind the ranking.

Why each part:

* **Clusters.** A clean item and its pressure variants, a consistency group, a ``follows``
  chain: their answers move together. Resampling their units one by one counts one fact
  several times and gives intervals that are too narrow (``bench/coverage.py`` measures by how
  much). Every replicate draws whole clusters with replacement.
* **One plan for every row and measure.** All rows see the same drawn clusters in a replicate,
  so a difference between two rows is *paired* (item difficulty cancels), and a composite
  combines its measures as they co-vary.
* **Training seeds.** Items are not the only noise: the same corpus trained with another seed
  scores differently. Where a corpus was trained with several seeds, its combined row draws
  seeds with replacement inside each replicate (a two-level bootstrap). A row trained once gets
  the pooled seed-to-seed variance of the corpora that have several seeds added to its
  replicates, so it is never more certain than a retrained corpus would be.

numpy does the arithmetic; scipy's ``bootstrap`` has no clustered, paired, shared-plan mode.
"""

from __future__ import annotations

from collections.abc import Iterable


class Plan:
    """``resamples`` draws of the clusters, as counts: ``weights[b, c]`` = times cluster c was drawn."""

    def __init__(self, clusters: Iterable[str], resamples: int, seed: int = 0):
        import numpy as np

        self.clusters = sorted(set(clusters))
        self.index = {c: i for i, c in enumerate(self.clusters)}
        self.rng = np.random.default_rng(seed)
        n = len(self.clusters)
        self.weights = (self.rng.multinomial(n, [1.0 / n] * n, size=resamples).astype(float) if n
                        else np.zeros((resamples, 0)))
        self.resamples = resamples

    def replicates(self, unit_clusters: list[str], values):
        """Mean of ``values`` in every replicate: each unit weighs as often as its cluster was drawn."""
        import numpy as np

        values = np.asarray(values, dtype=float)
        columns = self.weights[:, [self.index[c] for c in unit_clusters]]
        totals = columns.sum(axis=1)
        sums = columns @ values
        # A replicate that drew none of this measure's clusters (possible for a small measure)
        # has no mean: use the point estimate there rather than dividing by zero.
        return np.where(totals > 0, sums / np.where(totals > 0, totals, 1.0), values.mean())


def pooled_seed_sd(groups: list[list[float]]) -> float:
    """Pooled standard deviation between seeds of one corpus, over every corpus with several seeds."""
    import numpy as np

    numerator, dof = 0.0, 0
    for values in groups:
        if len(values) >= 2:
            numerator += float(np.var(values, ddof=1)) * (len(values) - 1)
            dof += len(values) - 1
    return (numerator / dof) ** 0.5 if dof else 0.0


def two_sided_p(replicates) -> float:
    """Bootstrap p-value of "no difference": twice the share of replicates on the far side of 0."""
    import numpy as np

    reps = np.asarray(replicates, dtype=float)
    if not len(reps):
        return 1.0
    tail = min(float((reps <= 0).mean()), float((reps >= 0).mean()))
    return min(1.0, max(2.0 * tail, 1.0 / len(reps)))


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm–Bonferroni adjusted p-values (controls the family-wise error over all rows compared)."""
    order = sorted(pvalues, key=pvalues.get)
    adjusted, running = {}, 0.0
    m = len(order)
    for i, name in enumerate(order):
        running = max(running, min(1.0, (m - i) * pvalues[name]))
        adjusted[name] = running
    return adjusted


def interval(point: float, replicates, confidence: float) -> tuple[float, float, float]:
    import numpy as np

    alpha = (1 - confidence) / 2
    return (float(point), float(np.quantile(replicates, alpha)), float(np.quantile(replicates, 1 - alpha)))
