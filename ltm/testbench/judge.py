"""Grade open answers with a judge model: an OpenAI-compatible endpoint or a local HF model.

Why: scenes with open answers have no exact-match key, so a judge scores each answer 1–10
against the scene's principles, and pairwise comparisons are judged in both orders to
cancel the judge's position bias. Verdicts are cached on disk (keyed by judge identity,
full judge prompt and answer) so a re-run or a resumed run pays for each judgement once.
A small local model rarely writes a parseable "Score: N", so the local backend reads the
score off its next-token distribution instead of parsing generated text.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import LtmError

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when prompts or scoring change what a cached verdict means
CRITIQUE_CHARS = 300

GRADE_TEMPLATE = """You are a strict grader. Grade the answer to the task below against the principles.

## Task
{prompt}

## Principles
{principles}
{reference}
## Answer
{answer}

## Instructions
Reply with `Score: <1-10>` on the first line (10 = follows every principle, 1 = fails them),
then `Critique: <one sentence>` on the second line."""

PAIR_TEMPLATE = """You are a strict grader. Two answers to the task below are shown; decide which better follows the principles.

## Task
{prompt}

## Principles
{principles}

## Answer A
{answer_a}

## Answer B
{answer_b}

## Instructions
Reply with `Winner: A`, `Winner: B` or `Winner: tie` on the first line,
then `Reason: <one sentence>` on the second line."""

DEFAULT_PRINCIPLES = ["The answer is correct, relevant to the task and clearly reasoned."]


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


# --------------------------------------------------------------------------- parsing

_NUM = r"(\d{1,3}(?:\.\d+)?)"
_OUT_OF = r"(?:\s*(?:/|out\s+of)\s*(\d+)\b(?!\.\d))"  # "/10", "out of 10"; another scale gives no score
_SCORE_PATTERNS = [
    # "Score: 7", "**Score**: 8.5", "Rating: 3 out of 10", "Grade = 6/10", "Score - 4"
    re.compile(r"\b(?:score|rating|grade)\b\s*\**\s*[:=\-–]?\s*\**\s*" + _NUM + _OUT_OF + "?", re.I),
    # "7/10 - good", "8 out of 10"
    re.compile(r"(?<![\d.])" + _NUM + _OUT_OF, re.I),
    # a reply whose first line is just the number: "8\nGood answer."
    re.compile(r"\A\s*\**\s*" + _NUM + r"\s*\**\s*(?:\n|\Z)"),
]
_LABEL = re.compile(r"^\s*\**\s*(?:critique|reason|explanation|feedback|justification)\s*\**\s*[:\-–]\s*\**\s*", re.I)


def _collapse(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > CRITIQUE_CHARS:
        text = text[: CRITIQUE_CHARS - 1].rstrip() + "…"
    return text


def parse_verdict(text: str) -> tuple[float | None, str]:
    """The 1–10 score and the critique in a judge's reply; score None if absent or out of range."""
    text = text or ""
    for pattern in _SCORE_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        value = float(match.group(1))
        scale = match.group(2) if pattern.groups >= 2 else None
        score = value if 1.0 <= value <= 10.0 and scale in (None, "10") else None
        line_start = text.rfind("\n", 0, match.start(1)) + 1
        line_end = text.find("\n", match.end(1))
        line_end = len(text) if line_end < 0 else line_end
        rest = (text[:line_start] + text[line_end:]).strip()
        if not rest:  # "7/10 - good": the critique shares the score's line
            rest = (text[line_start : match.start()] + text[min(match.end(), line_end) : line_end]).strip()
            rest = rest.lstrip("-–—:,.* \t").rstrip("-–—:,* \t")
        return score, _collapse(_LABEL.sub("", rest))
    return None, _collapse(_LABEL.sub("", text.strip()))


_PREF_PATTERNS = [
    re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.I),  # MT-bench style; [[C]] is its tie
    re.compile(r"\b(?:winner|verdict|preferred|better answer|choice)\b\s*\**\s*(?:is)?\s*[:=\-]?\s*\**\s*"
               r"(?:answer|response|assistant|option)?\s*\**\s*\b(A|B|tie)\b", re.I),
    re.compile(r"\b(?:answer|response|assistant|option)\s+(A|B)\b\s+(?:is\s+(?:clearly\s+|slightly\s+|much\s+)?"
               r"(?:better|stronger|preferred|superior|more)|wins)", re.I),
    re.compile(r"\bprefer\s+(?:answer|response|assistant|option)?\s*\b(A|B)\b", re.I),
    re.compile(r"(?:^|\s)(A|B)\s+is\s+(?:clearly\s+|slightly\s+|much\s+)?(?:better|stronger|preferred|superior)\b"),
    re.compile(r"\b(tie|equally\s+good|equally\s+bad|neither|both\s+(?:are\s+)?equal(?:ly)?)\b", re.I),
    re.compile(r"\A\s*\**\s*(A|B)\s*\**\s*[.!]?\s*(?:\n|\Z)"),  # a bare "A" reply
]


def parse_preference(text: str) -> str:
    """"A", "B" or "tie" from a pairwise judge reply; anything unreadable counts as a tie."""
    text = text or ""
    for pattern in _PREF_PATTERNS:
        match = pattern.search(text)
        if match:
            word = match.group(1).strip().lower()
            if word in ("a", "b"):
                return word.upper()
            return "tie"
    return "tie"


# --------------------------------------------------------------------------- prompts

def _numbered(principles: list[str]) -> str:
    items = [p.strip() for p in principles if p and p.strip()] or DEFAULT_PRINCIPLES
    return "\n".join(f"{i}. {p}" for i, p in enumerate(items, 1))


def grade_prompt(prompt: str, answer: str, principles: list[str], reference: str | None = None) -> str:
    ref = f"\n## Reference answer\n{reference.strip()}\n" if reference and reference.strip() else ""
    return GRADE_TEMPLATE.format(prompt=prompt.strip(), principles=_numbered(principles), reference=ref, answer=answer.strip())


def pair_prompt(prompt: str, answer_a: str, answer_b: str, principles: list[str]) -> str:
    return PAIR_TEMPLATE.format(prompt=prompt.strip(), principles=_numbered(principles),
                                answer_a=answer_a.strip(), answer_b=answer_b.strip())


# --------------------------------------------------------------------------- backends

def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class OpenAIBackend:
    """Any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, OpenAI, ...).

    The API key is read from ``os.environ[api_key_env]`` at call time and never stored.
    """

    def __init__(self, url: str, model: str, api_key_env: str | None = None, timeout: float = 60,
                 retries: int = 2, backoff: float = 0.5):
        self.url = url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        parts = urllib.parse.urlsplit(self.url)  # credentials in the URL never reach names, caches or messages
        self.shown_url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl() if "@" in parts.netloc else self.url
        self.name = f"openai:{self.shown_url}:{model}"

    def __repr__(self) -> str:
        return f"OpenAIBackend(url={self.shown_url!r}, model={self.model!r}, api_key_env={self.api_key_env!r})"

    @property
    def endpoint(self) -> str:
        return f"{self.url}/chat/completions"

    def _key(self) -> str | None:
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise LtmError(f"judge: environment variable {self.api_key_env} is not set — export it or remove `testbench.judge.api_key_env`")
        return key

    def _opener(self):
        host = urllib.parse.urlsplit(self.url).hostname or ""
        if host in ("localhost", "127.0.0.1", "::1"):  # never send a local judge through a proxy
            return urllib.request.build_opener(urllib.request.ProxyHandler({}))
        return urllib.request.build_opener()

    def complete(self, prompt: str) -> str:
        key = self._key()
        body = json.dumps({"model": self.model, "messages": [{"role": "user", "content": prompt}], "temperature": 0}).encode()
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        opener = self._opener()
        endpoint, shown = self.endpoint, f"{self.shown_url}/chat/completions"
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * attempt)
            request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")
            try:
                with opener.open(request, timeout=self.timeout) as response:
                    payload = response.read()
            except urllib.error.HTTPError as exc:
                code = exc.code
                with contextlib.suppress(Exception):
                    exc.close()
                if code >= 500:
                    problem = f"HTTP {code}"
                    continue
                hint = ("check `testbench.judge.url` (it should end in /v1)" if code == 404 else
                        f"check the API key in ${self.api_key_env}" if code in (401, 403) and self.api_key_env else
                        "check `testbench.judge.model` and `testbench.judge.url`")
                raise LtmError(self._scrub(f"judge: {shown} answered HTTP {code} — {hint}", key)) from None
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                problem = _one_line(reason if str(reason) else type(exc).__name__)
                continue
            return self._content(payload, shown, key)
        raise LtmError(self._scrub(
            f"judge: cannot reach {shown} ({problem}) after {self.retries + 1} tries — "
            "start the judge server or fix `testbench.judge.url`", key)) from None

    def _content(self, payload: bytes, endpoint: str, key: str | None) -> str:
        try:
            data = json.loads(payload.decode("utf-8"))
            content = data["choices"][0]["message"]["content"]
            if not isinstance(content, str):
                raise TypeError("content is not a string")
            return content
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            detail = _one_line(f"{type(exc).__name__}: {exc}", 80)
            raise LtmError(self._scrub(
                f"judge: {endpoint} did not return chat-completion JSON ({detail}) — "
                "point `testbench.judge.url` at an OpenAI-compatible /v1 base URL", key)) from None

    @staticmethod
    def _scrub(message: str, key: str | None) -> str:
        return message.replace(key, "***") if key else message


def model_fingerprint(model, tokenizer=None) -> str:
    """A short hash of a model's config and a sample of its base weights (LoRA weights excluded)."""
    digest = hashlib.sha256()
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        cfg = {k: v for k, v in config.to_dict().items() if k not in ("_name_or_path", "transformers_version")}
        digest.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    for name, param in model.named_parameters():
        if "lora_" in name or "modules_to_save" in name or param.device.type == "meta":
            continue
        flat = param.detach().reshape(-1)
        sample = flat[:64].float().cpu().numpy().tobytes() + flat[-64:].float().cpu().numpy().tobytes()
        digest.update(str(tuple(param.shape)).encode() + sample)
    if tokenizer is not None:
        digest.update(str(len(tokenizer)).encode())
    return digest.hexdigest()[:12]


class LocalBackend:
    """A local Hugging Face causal LM as judge.

    ``score`` is the probability-weighted mean of the tokens "1".."10" after "Score:" (a small
    model rarely writes a parseable score); the critique is a short greedy generation.
    ``disable_adapter`` (e.g. ``peft_model.disable_adapter``) makes the judge see the base.
    """

    def __init__(self, model, tokenizer, disable_adapter=None, max_new_tokens: int = 48, name: str | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.disable_adapter = disable_adapter or contextlib.nullcontext
        self.max_new_tokens = max_new_tokens
        self.name = name or f"local:{model_fingerprint(model, tokenizer)}"
        self._digit_sets: dict[str, list[tuple[int, int]]] | None = None

    def __repr__(self) -> str:
        return f"LocalBackend(name={self.name!r})"

    # -- token plumbing

    def _continuation_token(self, context: str, text: str) -> int | None:
        """First token ``text`` adds after ``context`` (handles tokenizers that merge a leading space)."""
        tok = self.tokenizer
        ctx = tok.encode(context, add_special_tokens=False)
        full = tok.encode(context + text, add_special_tokens=False)
        if len(full) > len(ctx) and full[: len(ctx)] == ctx:
            return full[len(ctx)]
        alone = tok.encode(text, add_special_tokens=False)
        return alone[0] if alone else None

    def _candidates(self, context: str, labels: list[str]) -> dict[str, list[tuple[int, str]]]:
        """For "label" and " label" spellings: (token id, label) pairs, a shared first token kept once."""
        sets = {}
        for variant, prefix in (("bare", ""), ("space", " ")):
            seen: dict[int, str] = {}
            for label in labels:
                token = self._continuation_token(context, prefix + label)
                if token is not None and token not in seen:
                    seen[token] = label
            sets[variant] = [(token, label) for token, label in seen.items()]
        return sets

    def _input_ids(self, prompt: str, tail: str, reserve: int):
        import torch

        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
            ids = tok.encode(text + tail, add_special_tokens=False)
        else:
            ids = tok.encode(prompt + "\n" + tail, add_special_tokens=True)
        limit = getattr(getattr(self.model, "config", None), "max_position_embeddings", None)
        if isinstance(limit, int) and len(ids) > limit - reserve:
            keep = max(limit - reserve, 1)
            bos = getattr(tok, "bos_token_id", None)
            head = ids[:1] if bos is not None and ids and ids[0] == bos else []
            ids = head + ids[len(ids) - (keep - len(head)):]
            log.debug("judge prompt left-truncated to %d tokens for the model's context", len(ids))
        return torch.tensor([ids], device=self._device())

    def _device(self):
        device = getattr(self.model, "device", None)
        if device is None:
            device = next(self.model.parameters()).device
        return device

    @contextlib.contextmanager
    def _inference(self):
        import torch

        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad(), self.disable_adapter():
                yield
        finally:
            if was_training:
                self.model.train()

    def _next_token_probs(self, prompt: str, tail: str):
        import torch

        ids = self._input_ids(prompt, tail, reserve=1)
        logits = self.model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, -1].float()
        return torch.softmax(logits, dim=-1)

    def _generate(self, prompt: str, tail: str) -> str:
        import torch

        tok = self.tokenizer
        ids = self._input_ids(prompt, tail, reserve=self.max_new_tokens)
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=self.max_new_tokens,
                                  do_sample=False, num_beams=1, pad_token_id=pad)
        text = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        return text.strip().split("\n")[0].strip()

    # -- backend API

    def complete(self, prompt: str) -> str:
        with self._inference():
            return self._generate(prompt, "")

    def score(self, prompt: str) -> tuple[float, str]:
        labels = [str(n) for n in range(1, 11)]
        if self._digit_sets is None:
            self._digit_sets = self._candidates("Score:", labels)
        with self._inference():
            probs = self._next_token_probs(prompt, "Score:")
            best = None
            for pairs in self._digit_sets.values():
                mass = sum(float(probs[token]) for token, _ in pairs)
                # prefer a (nearly) complete spelling, then the one the model puts more mass on
                rank = (len(pairs) >= 9, mass, len(pairs))
                if pairs and (best is None or rank > best[0]):
                    best = (rank, mass, pairs)
            if best is None or best[1] <= 0.0:
                value = 5.5
            else:
                value = sum(float(probs[token]) * int(label) for token, label in best[2]) / best[1]
            critique = self._generate(prompt, f"Score: {round(value)}\nCritique:")
        return value, _collapse(critique)

    def prefer(self, prompt: str) -> str:
        """"A", "B" or "tie" from p("A") vs p("B") after "Winner:" (tie when within 5% of each other)."""
        sets = self._candidates("Winner:", ["A", "B"])
        with self._inference():
            probs = self._next_token_probs(prompt, "Winner:")
        mass = {"A": 0.0, "B": 0.0}
        for pairs in sets.values():
            for token, label in pairs:
                mass[label] += float(probs[token])
        high = max(mass.values())
        if high <= 0.0 or abs(mass["A"] - mass["B"]) <= 0.05 * high:
            return "tie"
        return "A" if mass["A"] > mass["B"] else "B"


# --------------------------------------------------------------------------- judge + cache

_PREF_VALUE = {"A": 1.0, "B": -1.0, "tie": 0.0}


class Judge:
    """Grades and compares answers through a backend, with an on-disk JSON-lines cache."""

    def __init__(self, backend, cache_path: Path | None = None):
        self.backend = backend
        self.name: str = backend.name
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self._cache: dict[str, dict] = {}
        self._lock = threading.Lock()
        if self.cache_path is not None:
            self._load()

    def __repr__(self) -> str:
        return f"Judge(name={self.name!r}, cache_path={str(self.cache_path) if self.cache_path else None!r})"

    # -- cache

    def _key(self, kind: str, *parts: str) -> str:
        blob = json.dumps([CACHE_VERSION, kind, self.name, *parts], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _load(self) -> None:
        path = self.cache_path
        if not path.exists():
            return
        data = path.read_bytes()
        lines = data.split(b"\n")
        offset = 0
        for number, line in enumerate(lines, 1):
            start, offset = offset, offset + len(line) + 1
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                self._cache[record["key"]] = record
            except (ValueError, KeyError, TypeError):
                if number == len(lines) or (number == len(lines) - 1 and not lines[-1]):
                    # a run killed mid-write: drop the torn last line so the next append starts clean
                    log.warning("%s: dropping a corrupt last line (an interrupted write)", path)
                    with open(path, "r+b") as handle:
                        handle.truncate(start)
                    return
                log.warning("%s:%d: skipping a corrupt cache line", path, number)
        if data and not data.endswith(b"\n"):
            with open(path, "ab") as handle:
                handle.write(b"\n")

    def _store(self, record: dict) -> None:
        self._cache[record["key"]] = record
        if self.cache_path is None:
            return
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.cache_path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())

    # -- judging

    def grade(self, prompt: str, answer: str, principles: list[str], reference: str | None = None) -> Verdict:
        text = grade_prompt(prompt, answer, principles, reference)
        key = self._key("grade", text, answer)
        hit = self._cache.get(key)
        if hit is not None:
            return Verdict(hit["score"], hit["critique"], hit["raw"], cached=True)
        if hasattr(self.backend, "score"):
            score, critique = self.backend.score(text)
            score = float(score) if score is not None else None
            raw = f"{self.name}: probability-weighted mean of the next-token scores 1-10 after 'Score:' = " + (
                f"{score:.3f}" if score is not None else "none") + f"; critique: {critique}"
        else:
            raw = self.backend.complete(text)
            score, critique = parse_verdict(raw)
        self._store({"key": key, "kind": "grade", "judge": self.name, "score": score, "critique": critique, "raw": raw})
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
        self._store({"key": key, "kind": "pair", "judge": self.name, "preference": preference,
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
    from ..basemodel import load_model, load_tokenizer, resolve

    ref = resolve(spec)
    model = load_model(ref)
    tokenizer = load_tokenizer(spec)
    return Judge(LocalBackend(model, tokenizer, name=f"local:{ref.fingerprint}"), cache_path)
