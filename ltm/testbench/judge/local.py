"""A local Hugging Face causal LM as judge: the score read off the model's probabilities of
the whole numbers "1".."10" (a small model rarely writes a parseable "Score: N"), the winner
off p("A") against p("B"), and a short greedy critique; plus the model fingerprint that names
such a judge in the verdict cache."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import math

from ...errors import LtmError
from .parse import _collapse

log = logging.getLogger(__package__)  # "ltm.testbench.judge", the logger's name before the split

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
