"""Grade open answers with a judge model: an OpenAI-compatible endpoint or a local HF model.

Why: scenes with open answers have no exact-match key, so a judge scores each answer 1–10
against the scene's principles, and pairwise comparisons are judged in both orders to
cancel the judge's position bias. Verdicts are cached on disk (keyed by judge identity,
full judge prompt and answer) so a re-run or a resumed run pays for each judgement once.
A small local model rarely writes a parseable "Score: N", so the local backend reads the
score off its probabilities of each whole number "1".."10" instead of parsing generated text.

One job per module:

- `prompts`: the grading and pairwise prompts sent to the judge;
- `parse`: reading the score, critique or winner out of a judge's reply;
- `openai_client`: the HTTP client for an OpenAI-compatible chat endpoint;
- `local`: a local Hugging Face model as judge, scored from its probabilities;
- `cache`: the on-disk JSON-lines verdict cache and its version;
- `judging`: `Judge` (grade, compare, cached) and `make_judge` (from ``testbench.judge``).
"""

from .cache import CACHE_VERSION, VerdictCache
from .judging import Judge, PairVerdict, Verdict, make_judge
from .local import LocalBackend, model_fingerprint
from .openai_client import OpenAIBackend
from .parse import CRITIQUE_CHARS, parse_preference, parse_verdict
from .prompts import DEFAULT_PRINCIPLES, GRADE_TEMPLATE, PAIR_TEMPLATE, grade_prompt, pair_prompt

__all__ = [
    "CACHE_VERSION", "CRITIQUE_CHARS", "DEFAULT_PRINCIPLES", "GRADE_TEMPLATE", "PAIR_TEMPLATE", "Judge", "LocalBackend",
    "OpenAIBackend", "PairVerdict", "Verdict", "VerdictCache", "grade_prompt", "make_judge", "model_fingerprint",
    "pair_prompt", "parse_preference", "parse_verdict",
]
