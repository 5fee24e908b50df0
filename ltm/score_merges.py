"""A merged adapter against what it is made of: each member, and the mixture-trained adapter.

Why: a merge is worth keeping only if it beats each of its members — and it is a cheaper
answer than training on the mixture only if it is not worse than that. Both are paired Δ of
composites over one bootstrap plan (``score.difference``), so the comparison carries the same
intervals as the ranking.
"""

from __future__ import annotations

from pathlib import Path


def _corpus_set(summary: dict) -> frozenset:
    return frozenset(Path(p).name for p in summary.get("corpus_files") or [])


def _verdict(intervals) -> str:
    """yes: every Δ's interval is above 0; no: some Δ is below 0 for sure; ~: not separated."""
    if any(i.hi is not None and i.hi < 0 for i in intervals):
        return "no"
    if intervals and all(i.lo is not None and i.lo > 0 for i in intervals):
        return "yes"
    return "~"


def compare(scored: list, confidence: float = 0.95) -> dict[str, dict]:
    """Columns for every merged row: its members, Δ vs each member and vs the mixture."""
    from .score_stats import difference

    by_name = {s.row.name: s for s in scored}
    by_adapter = {Path(s.row.summary["adapter"]).name: s for s in scored if s.row.summary.get("adapter")}
    mixtures = [s for s in scored if s.row.summary.get("kind") == "adapter" and not s.row.summary.get("merge")
                and len(_corpus_set(s.row.summary)) > 1]
    out = {}
    for item in scored:
        merge = item.row.summary.get("merge")
        if not merge or item.replicates is None:
            continue
        parts, intervals = [], []
        for member in merge["members"]:
            other = by_adapter.get(member) or by_name.get(member)
            if other is None or other.replicates is None:
                parts.append(f"{member} not evaluated in this run")
                continue
            delta, _p = difference(item, other, confidence)
            intervals.append(delta)
            parts.append(f"{other.row.name} {delta.text(3, sign='+')}")
        mixture = next((m for m in mixtures if _corpus_set(m.row.summary) == _corpus_set(item.row.summary)
                        and m.replicates is not None), None)
        versus_mixture = ""
        if mixture is not None:
            delta, _p = difference(item, mixture, confidence)
            versus_mixture = f"{mixture.row.name} {delta.text(3, sign='+')}"
        verdict = _verdict(intervals) if len(intervals) == len(merge["members"]) else "~"
        out[item.row.name] = {
            "merge_method": merge["method"], "merge_members": ";".join(merge["members"]),
            "merge_weights": ";".join(f"{w:.4g}" for w in merge["weights"]),
            "merge_vs_members": "; ".join(parts), "merge_beats_members": verdict,
            "merge_vs_mixture": versus_mixture,
        }
        note = f"merge ({merge['method']}) beats each member: {verdict}"
        item.note = "; ".join(p for p in (item.note, note) if p)
    return out
