"""Score scene items on one row: choices by log-likelihood, short answers by match, open ones by the judge.

Each item becomes one record (a dict) with the prompt the model saw, its answer, the
expected answer, ``score`` in [0, 1], and what the score came from (log-probs and margin,
the match rule, or the judge's 1–10 score, critique and the automatic checks).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..scenes import Scene, SceneSet
from .generate import generate
from .loglik import loglikelihood

_WORD = re.compile(r"\w+", re.UNICODE)


def normalize(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def short_score(scene: Scene, answer: str) -> float:
    """1.0 / 0.0 by `short_match`, or the item's own scorer (a family's, e.g. reasoning-gym's)."""
    if scene.scorer:
        from ..families import score_short

        return score_short(scene.scorer, answer, scene.answers[0] if scene.answers else "")
    return float(short_match(scene, answer))


def short_match(scene: Scene, answer: str) -> bool:
    """Prefix match at a word boundary (case and punctuation ignored), or the regex."""
    said = normalize(answer)
    for expected in scene.answers:
        want = normalize(expected)
        if want and (said == want or said.startswith(want + " ")):
            return True
    return bool(scene.pattern and re.search(scene.pattern, answer))


def ngrams(text: str, n: int = 4) -> set[tuple[str, ...]]:
    words = normalize(text).split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def copy_overlap(answer: str, sources: Iterable[set[tuple[str, ...]]], n: int = 4) -> float:
    """Share of the answer's word n-grams found in the prompt or the training corpus."""
    grams = ngrams(answer, n)
    if not grams:
        return 0.0
    seen = set().union(*sources) if sources else set()
    return len(grams & seen) / len(grams)


def _base_record(scenes: SceneSet, scene: Scene) -> dict:
    return {"id": scene.id, "kind": scene.kind, "measure": scene.measure, "steps": scene.steps, "group": scene.group,
            "variant": scene.variant, "variant_of": scene.variant_of, "follows": scene.follows, "tags": scene.tags,
            "family": scene.family, "level": scene.level, "prompt": scenes.input_text(scene)}


def score_choices(model, tokenizer, scenes: SceneSet, items: list[Scene], batch_size: int,
                  batch_tokens: int | None = None) -> list[dict]:
    requests, spans = [], []
    for scene in items:
        context = scenes.input_text(scene)
        spans.append((len(requests), len(scene.choices)))
        requests.extend((context, " " + choice) for choice in scene.choices)
    results = loglikelihood(model, tokenizer, requests, batch_size, batch_tokens=batch_tokens) if requests else []
    records = []
    for scene, (start, count) in zip(items, spans, strict=True):
        logprobs = [r.logprob for r in results[start:start + count]]
        lengths = [len(" " + c) for c in scene.choices]
        best = max(range(count), key=lambda i: logprobs[i])
        best_norm = max(range(count), key=lambda i: logprobs[i] / lengths[i])
        right = scene.choices.index(scene.answer)
        wrong = max(lp for i, lp in enumerate(logprobs) if i != right)
        record = _base_record(scenes, scene)
        record.update(answer=scene.choices[best], expected=scene.answer, correct=best == right,
                      score=float(best == right), acc_norm=float(best_norm == right),
                      margin=round(logprobs[right] - wrong, 6), logprobs=[round(lp, 6) for lp in logprobs])
        records.append(record)
    return records


def _answers(model, tokenizer, prompts: list[str], decoding, batch_size: int, answerer, **cut) -> list[str]:
    """The row's answers: from the transformers model, or from `answerer` (the vLLM engine's row)."""
    if not prompts:
        return []
    if answerer is not None:
        return answerer(prompts, decoding, **cut)
    return generate(model, tokenizer, prompts, decoding, batch_size, **cut)


def score_short(model, tokenizer, scenes: SceneSet, items: list[Scene], decoding, batch_size: int,
                answerer=None) -> list[dict]:
    prompts = [scenes.input_text(s) for s in items]
    answers = _answers(model, tokenizer, prompts, decoding, batch_size, answerer, max_new_tokens=16, stop_at_newline=True)
    records = []
    for scene, answer in zip(items, answers, strict=True):
        score = short_score(scene, answer)
        record = _base_record(scenes, scene)
        record.update(answer=answer, expected=scene.answers or scene.pattern, correct=score >= 1.0, score=score)
        records.append(record)
    return records


def score_open(model, tokenizer, scenes: SceneSet, items: list[Scene], decoding, batch_size: int,
               judge, corpus_grams: set | None, judge_context, answerer=None) -> list[dict]:
    """Generate, run the automatic checks, then ask the judge (with adapters disabled)."""
    prompts = [scenes.input_text(s) for s in items]
    answers = _answers(model, tokenizer, prompts, decoding, batch_size, answerer)
    records = []
    for scene, prompt, answer in zip(items, prompts, answers, strict=True):
        record = _base_record(scenes, scene)
        words = len(answer.split())
        checks = {"words": words}
        factor, note = 1.0, ""
        if scene.max_words is not None:
            checks["max_words"] = scene.max_words
            if words > scene.max_words:
                factor, note = 0.0, f"over the {scene.max_words}-word limit ({words} words)"
        if scene.measure == "novelty":
            overlap = copy_overlap(answer, [ngrams(prompt)] + ([corpus_grams] if corpus_grams else []))
            checks["copy_overlap"] = round(overlap, 4)
            factor *= 1.0 - overlap
        if not answer.strip():
            verdict_score, critique, factor = None, "empty answer", 0.0
        elif judge is None:
            verdict_score, critique = None, "no judge configured"
        else:
            with judge_context():
                verdict = judge.grade(prompt, answer, scene.judge_principles(), scene.answers[0] if scene.answers else None)
            verdict_score, critique = verdict.score, verdict.critique
        score = (verdict_score or 0.0) / 10.0 * factor if verdict_score is not None or factor == 0.0 else None
        record.update(answer=answer, expected=scene.answers[0] if scene.answers else None, correct=None,
                      score=None if score is None else round(score, 4), judge_score=verdict_score,
                      critique="; ".join(x for x in (note, critique) if x), checks=checks)
        records.append(record)
    return records
