"""A row's measures beyond its scene items: perplexity (general text, the adapter's held-out
tail), lm-eval benchmarks, latency and attention entropy; and the n-grams of the row's own
corpus that the novelty of its open answers is judged against.

Each measure goes through `cached(name, compute)`: the row's item cache (run.py's row scorer),
under a name that carries the measure's inputs, so a re-run computes only what changed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import LtmError
from ..scenes import SceneSet
from .items import ngrams
from .rows import Row

ATTENTION_PROMPTS = 64  # scene prompts used for the attention view


def perplexities(model, tokenizer, row: Row, general_text: str, testbench, cached, base=None) -> dict:
    """ppl_general on `general_text`; for an adapter also ppl_heldout, the mean over its held-out files,
    and, with `base` = (a context that turns the adapters off, the base row's `cached`),
    ppl_heldout_base: the base's on the same files, kept with the base's figures. An adapter's own
    text has no base row to compare with otherwise."""
    from .perplexity import perplexity

    batch = max(1, testbench.batch_size // 2)
    tokens = testbench.batch_tokens
    out = {}
    digest = hashlib.sha256(general_text.encode()).hexdigest()[:12]
    out["ppl_general"] = cached(f"ppl:general:{digest}",
                                lambda: perplexity(model, tokenizer, general_text, batch, batch_tokens=tokens))
    if row.adapter is not None:
        values, base_values = [], []
        adapters_off, base_cached = base if base is not None else (None, None)
        for path in sorted((row.adapter / "heldout").glob("*.txt")):
            held = path.read_text(encoding="utf-8")
            digest = hashlib.sha256(held.encode()).hexdigest()[:12]
            values.append(cached(f"ppl:heldout:{digest}",
                                 lambda held=held: perplexity(model, tokenizer, held, batch, batch_tokens=tokens)))
            if base is not None:
                def on_base(held=held):
                    with adapters_off():
                        return perplexity(model, tokenizer, held, batch, batch_tokens=tokens)
                base_values.append(base_cached(f"ppl:heldout:{digest}", on_base))
        out["ppl_heldout"] = _mean(values)
        if base is not None:
            out["ppl_heldout_base"] = _mean(base_values)
    return out


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 6) if values else None


def benchmarks(bench, model, tokenizer, generator, cached) -> tuple[dict, list[dict]]:
    """The lm-eval tasks' metrics and per-document records. `generator`: who answers the
    generate_until requests (the vLLM engine), None for the model itself."""
    result = cached(bench.cache_key(),
                    lambda: dict(zip(("metrics", "records"), bench.run(model, tokenizer, generator), strict=True)))
    return result["metrics"], result["records"]


def corpus_grams(row: Row) -> set | None:
    """The n-grams of an adapter's held-out tail and training corpora (None for the base and format rows)."""
    if row.adapter is None:
        return None
    texts = [p.read_text(encoding="utf-8") for p in sorted((row.adapter / "heldout").glob("*.txt"))]
    from ..corpora import read_corpus

    for part in row.manifest.get("corpora", []):
        path = Path(part.get("path", ""))
        if path.exists():
            try:
                texts.append(read_corpus(path).text)
            except LtmError:
                pass
    return set().union(*(ngrams(t) for t in texts)) if texts else None


def latency(model, tokenizer) -> dict:
    from .latency import measure_latency

    return measure_latency(model, tokenizer)


def attention(model, tokenizer, scenes: SceneSet, cached) -> list[float]:
    """Attention entropy per layer on the first scene items' model inputs (new scenes, new measurement)."""
    from .attention import attention_entropy

    texts = [scenes.input_text(s) for s in scenes.items[:ATTENTION_PROMPTS]]
    digest = hashlib.sha256(json.dumps(texts).encode()).hexdigest()[:16]
    return cached(f"attention:{digest}",
                  lambda: [round(v, 6) for v in attention_entropy(model, tokenizer, texts)])
