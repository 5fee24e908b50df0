"""The judge of one evaluation's open answers: made on first use, named for the item cache, and
the pairwise comparison of a row's open answers with the base's.

The judge itself (prompts, backends, verdict cache) is the package ``ltm/testbench/judge``;
this module only holds its lifetime over the rows of `ltm eval`.
"""

from __future__ import annotations

import hashlib
import json

from ..scenes import SceneSet
from .rows import LoadedBase


class RowJudge:
    """The judge every row shares. A local judge runs on the evaluation's loaded base with the
    adapters disabled, so `base` is set (by run.evaluate) before the first open item is judged."""

    def __init__(self, config, scenes: SceneSet, tokenizer, ref):
        self.config, self.scenes, self.tokenizer, self.ref = config, scenes, tokenizer, ref
        self.base: LoadedBase | None = None
        self.base_records: dict[str, dict] = {}  # the base row's records by item id, for pairwise
        self.has_open = any(s.kind == "open" for s in scenes.items)
        self._judge = None

    def judge(self):
        if not self.has_open:
            return None
        if self._judge is None:
            from .judge import make_judge

            self._judge = make_judge(self.config.testbench.judge, self.config.runs_path / "cache" / "judge.jsonl",
                                     local_model=self.base.current, local_tokenizer=self.tokenizer,
                                     disable_adapter=self.base.disabled)
        return self._judge

    def name(self) -> str | None:
        """The judge's identity in a row's cache key (None without open items: nothing is judged)."""
        judge = self.config.testbench.judge
        if not self.has_open:
            return None
        from .judge import CACHE_VERSION  # a change in how verdicts are read invalidates judged records

        if judge.backend == "openai":
            return f"openai:v{CACHE_VERSION}:{judge.url}:{judge.model}"
        return f"local:v{CACHE_VERSION}:{judge.model or self.ref.fingerprint}"

    def pairwise(self, records: list[dict], cached) -> float | None:
        """Mean judge preference of this row's open answers over the base's (+1 all better, -1 all worse).

        Each pair is judged in both orders (the judge's position bias cancels); cached by the judge,
        and the mean by `cached(name, compute)` in the row's item cache.
        """
        pairs = [(r, self.base_records.get(r["id"])) for r in records if r["kind"] == "open" and r.get("answer")]
        pairs = [(r, b) for r, b in pairs if b and b.get("answer") and b["answer"] != r["answer"]]
        judge = self.judge() if pairs else None
        if judge is None:
            return None
        index = self.scenes.by_id()

        def compute():
            with self.base.disabled():
                return [judge.compare(r["prompt"], r["answer"], b["answer"], index[r["id"]].judge_principles()).preference
                        for r, b in pairs]
        digest = hashlib.sha256(json.dumps([(r["id"], r["answer"], b["answer"]) for r, b in pairs]).encode()).hexdigest()
        values = cached(f"pairwise:{digest[:16]}", compute)
        return round(sum(values) / len(values), 6) if values else None
