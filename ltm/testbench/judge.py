"""Grade open answers with a judge model: an OpenAI-compatible endpoint or a local HF model.

Why: scenes with open answers have no exact-match key, so a judge scores each answer 1–10
against the scene's principles, and pairwise comparisons are judged in both orders to
cancel the judge's position bias. Verdicts are cached on disk (keyed by judge identity,
full judge prompt and answer) so a re-run or a resumed run pays for each judgement once.
A small local model rarely writes a parseable "Score: N", so the local backend reads the
score off its probabilities of each whole number "1".."10" instead of parsing generated text.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import inspect
import json
import logging
import math
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

CACHE_VERSION = 2  # 2: local scores read whole multi-token numbers; bump when prompts or scoring change what a cached verdict means
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

    A small model rarely writes a parseable "Score: N", so ``score`` reads the score off the
    model's probabilities instead: the expected value of N over the ten numbers "1".."10",
    each weighted by the probability of its whole spelling after "Score:" (see
    ``_continuation_logprobs``). ``prefer`` compares "A" and "B" after "Winner:" the same way.
    The critique is a short greedy generation. ``disable_adapter`` (e.g.
    ``peft_model.disable_adapter``) makes the judge see the base.
    """

    SCORE_LABELS = [str(n) for n in range(1, 11)]
    SPELLINGS = ("", " ")  # "Score:7" and "Score: 7" (the template's `Score: <1-10>` implies the space)

    def __init__(self, model, tokenizer, disable_adapter=None, max_new_tokens: int = 48, name: str | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.disable_adapter = disable_adapter or contextlib.nullcontext
        self.max_new_tokens = max_new_tokens
        self.name = name or f"local:{model_fingerprint(model, tokenizer)}"
        self._word_tokens = None  # bool mask over the vocabulary, built on first use

    def __repr__(self) -> str:
        return f"LocalBackend(name={self.name!r})"

    # -- token plumbing

    def _context_text(self, prompt: str) -> tuple[str, bool]:
        """The judge prompt as the model reads it, and whether ``encode`` should add special tokens."""
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
            return text, False
        return prompt + "\n", True

    def _truncate(self, ids: list[int], reserve: int) -> list[int]:
        """Left-truncate ``ids`` (keeping a leading BOS) so ``reserve`` more tokens fit the model's context."""
        tok = self.tokenizer
        limit = getattr(getattr(self.model, "config", None), "max_position_embeddings", None)
        if isinstance(limit, int) and len(ids) > limit - reserve:
            keep = max(limit - reserve, 1)
            bos = getattr(tok, "bos_token_id", None)
            head = ids[:1] if bos is not None and ids and ids[0] == bos else []
            ids = head + ids[len(ids) - (keep - len(head)):]
            log.debug("judge prompt left-truncated to %d tokens for the model's context", len(ids))
        return ids

    def _input_ids(self, prompt: str, tail: str, reserve: int):
        import torch

        text, special = self._context_text(prompt)
        ids = self._truncate(self.tokenizer.encode(text + tail, add_special_tokens=special), reserve)
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

    def _word_continuations(self, size: int):
        """Bool mask over ``size`` logits: True for tokens whose text starts with a letter or digit.

        Such a token would continue the word just written ("1" then "0" is 10, "A" then
        "nswer" is Answer), so the probability that a label *ends* is the mass on all other
        tokens (space, newline, punctuation, end of text). Each token is decoded after a fixed
        letter so tokenizers that drop a token's leading space when it stands alone
        (SentencePiece) still show it; ids past the tokenizer (padded vocabularies) never continue.
        """
        import torch

        if self._word_tokens is None or self._word_tokens.numel() != size:
            tok = self.tokenizer
            anchor = tok.encode("a", add_special_tokens=False)[-1:]
            lead = len(tok.decode(anchor, clean_up_tokenization_spaces=False))
            count = min(len(tok), size)
            texts = tok.batch_decode([anchor + [i] for i in range(count)], clean_up_tokenization_spaces=False)
            mask = torch.zeros(size, dtype=torch.bool)
            mask[:count] = torch.tensor([text[lead:lead + 1].isalnum() for text in texts], dtype=torch.bool)
            self._word_tokens = mask
        return self._word_tokens

    def _cache_name(self) -> str:
        """The forward keyword for a key/value cache: `cache` in newer transformers 5.x, `past_key_values` before.

        Read from the signature, because a model whose forward takes **kwargs would swallow
        the wrong name silently and score the candidates without the prompt.
        """
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"

    def _continuation_logprobs(self, prompt: str, tail: str, continuations: list[str]) -> list[float]:
        """log p(continuation, then a word boundary | prompt + tail) for each continuation.

        Why: a tokenizer may spell " 10" as " " + "1" + "0" (Qwen2, Llama-3, SmolLM2 split
        digits and the leading space), so no single next token is a score. Each continuation
        is encoded the way the tokenizer writes it after the context, and scored by the sum
        of the log-probabilities of all its tokens. The boundary term — the probability that
        the next token does not start with a letter or digit — makes the candidates disjoint
        events: without it "1" would collect the mass of "10", "100", ... since it is their
        prefix. (A bare newline would also be a boundary, but it would penalise a judge that
        writes "7/10" or "7 out of 10"; any non-word token ends the number just as well.)

        All candidates are scored from the longest token prefix they share with the context
        (a tokenizer may merge the context's last characters with a candidate), so their
        log-probabilities differ from the whole sequence's only by a common constant. The
        shared prefix runs once; the candidates then run together in one batched pass on its
        key/value cache.
        """
        import torch

        tok = self.tokenizer
        text, special = self._context_text(prompt)
        context = tok.encode(text + tail, add_special_tokens=special)
        fulls = [tok.encode(text + tail + c, add_special_tokens=special) for c in continuations]
        shared = len(context)
        for full in fulls:
            same = next((i for i, (a, b) in enumerate(zip(context, full, strict=False)) if a != b), min(len(context), len(full)))
            shared = min(shared, same, len(full) - 1)  # every candidate keeps at least one token of its own
        if shared < 1:
            raise LtmError("judge: the judge prompt tokenizes to nothing the candidates share — check the tokenizer")
        suffixes = [full[shared:] for full in fulls]
        width = max(len(s) for s in suffixes)
        prefix = self._truncate(context[:shared], reserve=width)
        device = self._device()

        first = self.model(input_ids=torch.tensor([prefix], device=device), use_cache=True)
        name = self._cache_name()
        cache = getattr(first, name)
        cache.batch_repeat_interleave(len(suffixes))
        pad = next((t for t in (tok.pad_token_id, tok.eos_token_id) if t is not None), 0)  # masked: any id will do
        ids = torch.full((len(suffixes), width), pad, dtype=torch.long)
        mask = torch.zeros((len(suffixes), len(prefix) + width), dtype=torch.long)
        mask[:, : len(prefix)] = 1
        for row, suffix in enumerate(suffixes):  # right-padded: a pad never precedes a real token
            ids[row, : len(suffix)] = torch.tensor(suffix)
            mask[row, len(prefix): len(prefix) + len(suffix)] = 1
        rest = self.model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=True, **{name: cache})

        start = first.logits[0, -1].float().log_softmax(-1)  # the distribution of each candidate's first token
        after = rest.logits.float().log_softmax(-1)  # after[row, j]: the distribution after the row's token j
        word = self._word_continuations(after.shape[-1]).to(after.device)
        values = []
        for row, suffix in enumerate(suffixes):
            total = start[suffix[0]]
            for j in range(1, len(suffix)):
                total = total + after[row, j - 1, suffix[j]]
            total = total + torch.logsumexp(after[row, len(suffix) - 1][~word], dim=0)
            values.append(float(total))
        return values

    def _label_logprobs(self, prompt: str, tail: str, labels: list[str]) -> list[float]:
        """log p(label) after ``tail`` for each label, summed over its spellings with and without a space."""
        import torch

        continuations = [spelling + label for label in labels for spelling in self.SPELLINGS]
        values = torch.tensor(self._continuation_logprobs(prompt, tail, continuations))
        return [float(v) for v in torch.logsumexp(values.view(len(labels), len(self.SPELLINGS)), dim=1)]

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
        """The expected score over "1".."10" (normalised over the ten), and a generated critique."""
        import torch

        with self._inference():
            logps = torch.tensor(self._label_logprobs(prompt, "Score:", self.SCORE_LABELS))
            if torch.isfinite(logps).any():
                weights = torch.softmax(logps, dim=0)
                value = float((weights * torch.arange(1, 11, dtype=weights.dtype)).sum())
            else:  # no number has any probability: the midpoint, as uninformative as it gets
                value = 5.5
            critique = self._generate(prompt, f"Score: {round(value)}\nCritique:")
        return value, _collapse(critique)

    def prefer(self, prompt: str) -> str:
        """"A", "B" or "tie" from p("A") vs p("B") after "Winner:" (tie when within 5% of each other)."""
        with self._inference():
            log_a, log_b = self._label_logprobs(prompt, "Winner:", ["A", "B"])
        high = max(log_a, log_b)
        if high == float("-inf") or math.exp(min(log_a, log_b) - high) >= 0.95:
            return "tie"
        return "A" if log_a > log_b else "B"


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
            raw = f"{self.name}: expected score over the sequence probabilities of '1'..'10' after 'Score:' = " + (
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
