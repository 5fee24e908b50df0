"""The table `ltm eval` prints: one line per row with its headline measures, a line per scene
family when there are any, and a legend that explains each column and the dash."""

from __future__ import annotations


def print_table(summaries: dict[str, dict]) -> None:
    columns = ["accuracy", "margin", "depth", "depth_max_steps", "consistency", "pressure", "novelty", "compression",
               "ppl_general", "ppl_heldout", "ppl_heldout_base"]
    width = max([len(n) for n in summaries] + [4])
    print(f"{'row':<{width}}  " + "  ".join(f"{c:>11}" for c in columns))
    for name, summary in summaries.items():
        cells = []
        for c in columns:
            v = summary.get(c)
            cells.append(f"{'—':>11}" if v is None else f"{v:>11.3f}" if isinstance(v, float) else f"{v:>11}")
        print(f"{name:<{width}}  " + "  ".join(cells))
    families = sorted({f for s in summaries.values() for f in (s.get("family") or {})})
    if families:  # one column per scene family at its calibrated level (ltm/calibrate.py)
        names = [f"family.{f}" for f in families]
        sizes = [max(11, len(n)) for n in names]
        print(f"{'row':<{width}}  " + "  ".join(f"{n:>{w}}" for n, w in zip(names, sizes, strict=True)))
        for name, summary in summaries.items():
            values = [(summary.get("family") or {}).get(f) for f in families]
            print(f"{name:<{width}}  " + "  ".join(f"{'—':>{w}}" if v is None else f"{v:>{w}.3f}"
                                                   for v, w in zip(values, sizes, strict=True)))
    print(TABLE_LEGEND)


TABLE_LEGEND = """\
  accuracy: share right over every choice and short item · margin: mean log-likelihood of the right choice minus
    the best wrong one (nats; above 0 = the right answer preferred) · depth: accuracy on the multi-step items ·
    depth_max_steps: the most steps at which depth accuracy is still ≥ 0.6 (0: at none) · consistency: share of
    groups answered all right · pressure: share of clean items answered right both clean and distorted ·
    novelty, compression: judged, 0–1 · family.<name>: accuracy on a scene family at its calibrated level
  ppl_general: perplexity on general text (scoring.general_text; its rise vs the base is forgetting) ·
    ppl_heldout: perplexity on the held-out tail of the adapter's own corpus (corpora.heldout_fraction) ·
    ppl_heldout_base: the base's perplexity on that same tail, beside it; the base and its format rows have no
    corpus of their own, so theirs are — (compare them on ppl_general)
  — : not measured for this row"""
