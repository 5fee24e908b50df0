"""The judge: grades one answer (a 1–10 score and a critique) and compares two in both orders
(cancelling the judge's position bias) through a backend, with every verdict cached;
`make_judge` builds the judge that ``testbench.judge`` names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import LtmError
from .cache import VerdictCache, cache_key
from .local import LocalBackend
from .openai_client import OpenAIBackend
from .parse import parse_preference, parse_verdict
from .prompts import grade_prompt, pair_prompt


@dataclass
class Verdict:
    score: float | None  # 1–10, None when the judge's reply could not be parsed
    critique: str  # one or two sentences
    raw: str  # the judge's raw reply (or a description for the local scorer)
    cached: bool = False


@dataclass
class PairVerdict:
    preference: float  # in [-1, 1]: +1 = A better in both orders, -1 = B better in both orders, 0 = tie / position-biased
    first_order: str  # "A", "B" or "tie" as judged with A shown first
    second_order: str  # judged with B shown first, mapped back to A/B
    cached: bool = False


_PREF_VALUE = {"A": 1.0, "B": -1.0, "tie": 0.0}


class Judge:
    """Grades and compares answers through a backend, with an on-disk JSON-lines cache."""

    def __init__(self, backend, cache_path: Path | None = None):
        self.backend = backend
        self.name: str = backend.name
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self._cache = VerdictCache(self.cache_path)

    def __repr__(self) -> str:
        return f"Judge(name={self.name!r}, cache_path={str(self.cache_path) if self.cache_path else None!r})"

    def _key(self, kind: str, *parts: str) -> str:
        return cache_key(kind, self.name, *parts)

    def grade(self, prompt: str, answer: str, principles: list[str], reference: str | None = None) -> Verdict:
        text = grade_prompt(prompt, answer, principles, reference)
        key = self._key("grade", text, answer)
        hit = self._cache.get(key)
        if hit is not None:
            return Verdict(hit["score"], hit["critique"], hit["raw"], cached=True)
        if hasattr(self.backend, "score"):
            score, critique = self.backend.score(text)
            score = float(score) if score is not None else None
            raw = f"{self.name}: expected score over the sequence probabilities of '1'..'10' after 'Score:' = " + (
                f"{score:.3f}" if score is not None else "none") + f"; critique: {critique}"
        else:
            raw = self.backend.complete(text)
            score, critique = parse_verdict(raw)
        self._cache.put({"key": key, "kind": "grade", "judge": self.name, "score": score, "critique": critique, "raw": raw})
        return Verdict(score, critique, raw)

    def _prefer(self, text: str) -> str:
        if hasattr(self.backend, "prefer"):
            return self.backend.prefer(text)
        return parse_preference(self.backend.complete(text))

    def compare(self, prompt: str, answer_a: str, answer_b: str, principles: list[str]) -> PairVerdict:
        first_text = pair_prompt(prompt, answer_a, answer_b, principles)
        second_text = pair_prompt(prompt, answer_b, answer_a, principles)
        key = self._key("pair", first_text, second_text)
        hit = self._cache.get(key)
        if hit is not None:
            return PairVerdict(hit["preference"], hit["first_order"], hit["second_order"], cached=True)
        first = self._prefer(first_text)
        shown_first = self._prefer(second_text)  # "A" here means answer_b, shown first
        second = {"A": "B", "B": "A"}.get(shown_first, "tie")
        preference = (_PREF_VALUE[first] + _PREF_VALUE[second]) / 2
        self._cache.put({"key": key, "kind": "pair", "judge": self.name, "preference": preference,
                     "first_order": first, "second_order": second})
        return PairVerdict(preference, first, second)


def make_judge(judge_config, cache_path: Path | None, local_model=None, local_tokenizer=None, disable_adapter=None) -> Judge:
    """The judge named by ``testbench.judge``; the local default is the base with adapters disabled."""
    backend_kind = getattr(judge_config, "backend", "local")
    if backend_kind == "openai":
        url = getattr(judge_config, "url", None)
        model = getattr(judge_config, "model", None)
        if not url:
            raise LtmError("judge: backend `openai` needs `testbench.judge.url` (e.g. http://127.0.0.1:8000/v1) — set it")
        if not model:
            raise LtmError("judge: backend `openai` needs `testbench.judge.model` (the endpoint's model name) — set it")
        backend = OpenAIBackend(url, model, api_key_env=getattr(judge_config, "api_key_env", None))
        return Judge(backend, cache_path)
    if backend_kind != "local":
        raise LtmError(f"judge: unknown backend {backend_kind!r} — set `testbench.judge.backend` to `local` or `openai`")
    spec = getattr(judge_config, "model", None)
    if spec is None:
        if local_model is None or local_tokenizer is None:
            raise ValueError("make_judge: a local judge without testbench.judge.model needs local_model and local_tokenizer")
        return Judge(LocalBackend(local_model, local_tokenizer, disable_adapter=disable_adapter), cache_path)
    from ...basemodel import load_model, load_tokenizer, resolve

    ref = resolve(spec)
    model = load_model(ref)
    tokenizer = load_tokenizer(spec)
    return Judge(LocalBackend(model, tokenizer, name=f"local:{ref.fingerprint}"), cache_path)
