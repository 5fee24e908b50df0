"""One row's scoring: its item cache, its scene items, then its other measures.

A row's cache key names what its figures depend on (base, format, adapter, decoding, judge, who
generates); inside it each scene item and each row-wide measure is cached on its own
(ltm/testbench/cache.py), so a re-run computes only what changed, and `computed` tells
run.evaluate whether a row's MLflow run needs logging again. With ``testbench.backend: vllm``
one engine (`engine`) writes the short and open answers of the base and the adapters; format rows
stay on transformers.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from ..scenes import SceneSet
from . import cache as item_cache
from . import row_measures
from .items import score_choices, score_open, score_short
from .metrics import summarize
from .row_info import provenance, row_info
from .row_judge import RowJudge
from .rows import LoadedBase, Row


class RowScorer:
    """What every row needs — scenes, tokenizer, judge, caches — and `row()`, which scores one."""

    def __init__(self, config, scenes: SceneSet, tokenizer, ref, benchmarks, cache_root: Path, quiet: bool,
                 scenes_only: bool = False):
        self.config, self.scenes, self.tokenizer, self.ref = config, scenes, tokenizer, ref
        self.benchmarks, self.cache_root, self.quiet = benchmarks, cache_root, quiet
        self.scenes_only = scenes_only  # evaluate(scenes_only=True): the pruning pass
        self.judging = RowJudge(config, scenes, tokenizer, ref)
        self.engine = None  # the vLLM engine (testbench.backend: vllm) that writes base and adapter answers
        self.computed: dict[str, bool] = {}  # row -> computed anything new (else its MLflow run exists)
        # The base row's item cache (the base row is scored first): what the base alone measures on an
        # adapter's text is the base's figure, kept once for every adapter and trial on that text.
        self._base_store = None
        self.provenance = provenance(config, ref)
        from .perplexity import general_text

        general = config.scoring.general_text  # read once, and before any model is loaded
        self.general_text = general_text(config.path(general) if general else None)

    def row(self, holder: LoadedBase, row: Row) -> tuple[dict, list[dict], list[float] | None, list[dict]]:
        tb = self.config.testbench
        key = item_cache.row_key(self.ref.fingerprint, row, tb.decoding, self.judging.name(), self._generator(row))
        self.computed[row.name] = False
        store = item_cache.ItemCache(self.cache_root, key)
        if row.kind == "base":
            self._base_store = store

        def cached_in(target):
            def cached(name: str, compute):
                hit = target.get(name)
                if hit is not None:
                    return hit["value"]
                self.computed[row.name] = True  # a new figure in this row's summary
                value = compute()
                target.put_many([(name, {"value": value})])
                return value
            return cached

        cached = cached_in(store)

        started = time.perf_counter()
        with holder.use(row) as model:
            if row.kind == "adapter":
                holder.check_active(row, self.tokenizer)
                if self._generator(row) == "vllm":
                    self.engine.check_active(row)
            records = self._scene_records(model, row, store)
            summary = summarize(records)
            bench_records: list[dict] = []
            attention = None
            if not self.scenes_only:
                base_cached = cached_in(self._base_store) if self._base_store is not None else cached
                summary.update(row_measures.perplexities(model, self.tokenizer, row, self.general_text, tb, cached,
                                                         base=(holder.disabled, base_cached)))
                if self.benchmarks is not None:
                    summary["benchmarks"], bench_records = row_measures.benchmarks(
                        self.benchmarks, model, self.tokenizer, self._bench_generator(row), cached)
                if tb.latency:
                    summary["latency"] = cached("latency", lambda: row_measures.latency(model, self.tokenizer))
                attention = row_measures.attention(model, self.tokenizer, self.scenes, cached)
        if row.kind != "base" and self.judging.base_records and not self.scenes_only:
            summary["judge_pairwise_vs_base"] = self.judging.pairwise(records, cached)
        if row.kind == "base":
            self.judging.base_records = {r["id"]: r for r in records}
        summary.update(row_info(self.config, row, self.tokenizer, self.provenance))
        critiques = [r["critique"] for r in records if r.get("kind") == "open" and r.get("critique")]
        summary["judge_summary"] = critiques[0][:160] if critiques else None
        summary["eval_seconds"] = round(time.perf_counter() - started, 3)
        return summary, records, attention, bench_records

    def _generator(self, row: Row) -> str:
        """Who writes this row's answers: vLLM for the base and adapters, transformers for a format row."""
        return "vllm" if self.engine is not None and row.kind != "format" else "hf"

    def _answerer(self, row: Row):
        if self._generator(row) != "vllm":
            return None
        return lambda prompts, decoding, **cut: self.engine.answers(row, prompts, decoding, **cut)

    def _bench_generator(self, row: Row):
        """generate_until requests go to the engine, log-likelihoods stay on the model."""
        if self._generator(row) != "vllm":
            return None
        from .vllm_backend import until

        return lambda requests: until(self.engine, row, requests, self.config.testbench.decoding)

    def _scene_records(self, model, row: Row, store) -> list[dict]:
        tb = self.config.testbench
        keyed = [(item_cache.item_key(s, self.scenes.input_text(s)), s) for s in self.scenes.items]
        missing = [(k, s) for k, s in keyed if store.get(k) is None]
        if missing:
            self.computed[row.name] = True
        by_kind: dict[str, list] = {"choice": [], "short": [], "open": []}
        for k, s in missing:
            by_kind[s.kind].append((k, s))
        grams = row_measures.corpus_grams(row) if by_kind["open"] else None  # read once, not per slice
        for kind, pairs in by_kind.items():
            if not pairs:
                continue
            items = [s for _, s in pairs]
            # Score in slices so a kill keeps what finished (the cache file is appended per slice).
            step = max(tb.batch_size * 4, 16)
            for start in range(0, len(items), step):
                chunk = items[start:start + step]
                if kind == "choice":
                    records = score_choices(model, self.tokenizer, self.scenes, chunk, tb.batch_size,
                                            batch_tokens=tb.batch_tokens)
                elif kind == "short":
                    records = score_short(model, self.tokenizer, self.scenes, chunk, tb.decoding, tb.batch_size,
                                          answerer=self._answerer(row))
                else:
                    records = score_open(model, self.tokenizer, self.scenes, chunk, tb.decoding, tb.batch_size,
                                         self.judging.judge(), grams,
                                         self.judging.base.disabled, answerer=self._answerer(row))
                store.put_many([(k, r) for (k, _), r in zip(pairs[start:start + step], records, strict=True)])
        decoding = dataclasses.asdict(tb.decoding)
        return [{**store.get(k), "row": row.name, "decoding": decoding} for k, _ in keyed]
