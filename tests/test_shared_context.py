"""Multiple-choice scoring runs each item's context once and scores every choice against its KV cache.

The numbers must be the ones the plain path gives (one padded forward per context + continuation
pair, lm-eval's encoding and left truncation), to float tolerance: these tests compare the two paths
on ltm-nano (128-token context) for items of 2–4 choices of different lengths, contexts of different
lengths, contexts cut on the left at the model's length (which fall back to the plain path), and
batch settings that split the items and the choices of one item across batches.
"""

from __future__ import annotations

import pytest
import torch
from helpers import reference_loglik

from ltm.testbench.loglik import encode_pair, loglikelihood, model_max_length

LONG = " ".join(["Ivy gives the cup to Will and Will gives it back to Ivy."] * 20)  # > 128 tokens: cut on the left

ITEMS = [
    ("Every zorp is a dax. Will is a zorp. So Will is", ["a dax", "not a dax", "a krell that sings loudly", "Anna"]),
    ("Emma has the cup. Emma gives the cup to Will. So now", ["Will has the cup", "Emma has the cup still"]),
    ("If it rains the road is wet. It rains. So the road is", ["wet", "dry and dusty", "closed"]),
    (LONG + " So Ivy has", ["the cup", "nothing at all, not even the cup"]),
    ("No wug is a krell. Anna is a wug.  ", ["So Anna is not a krell.", "So Anna is a krell."]),  # spaces move over
    ("", ["Anna is a wug.", "Anna is a krell and a wug."]),  # empty context: the end-of-text token
    ("A", ["b", "c d e"]),  # a one-token context: nothing to share
    ("Every zorp is a dax. Will is a zorp. So Will is", ["a wug", "a dax"]),  # the same context as item 1
    ("Tom is older than Sue. Sue is older than Max. So the oldest is", ["Tom", "Max", "Sue", "nobody at all"]),
]


def _near_limit_item(tokenizer, limit: int):
    """A context whose short choice fits the model's context and whose long choice must be cut: the
    long one loses context tokens the short one keeps, so only the short one may share."""
    words = ("Ivy gives the cup to Will and Will gives it back to Ivy. " * 30).split()
    short, long_ = "the cup", "nothing at all, not even the cup"
    for k in range(len(words), 0, -1):
        context = " ".join(words[:k]) + " So Ivy has"
        ctx, cont_short = encode_pair(tokenizer, context, " " + short)
        _, cont_long = encode_pair(tokenizer, context, " " + long_)
        if len(ctx) + len(cont_short) <= limit + 1 < len(ctx) + len(cont_long):
            return context, [short, "a cup", long_]
    raise AssertionError("no context of the right length")


def _requests(tokenizer, limit):
    items = [*ITEMS, _near_limit_item(tokenizer, limit)]
    return [(context, " " + choice) for context, choices in items for choice in choices]


@pytest.fixture(scope="module")
def nano():
    from ltm import basemodel

    model = basemodel.load_model(basemodel.resolve("ltm-nano"))
    model.eval()
    return model, basemodel.load_tokenizer("ltm-nano")


@pytest.fixture(scope="module")
def nano_eager():
    from ltm import basemodel

    model = basemodel.load_model(basemodel.resolve("ltm-nano"), attn_implementation="eager")
    model.eval()
    return model, basemodel.load_tokenizer("ltm-nano")


@pytest.fixture(scope="module")
def nano_lora(nano):
    """ltm-nano with a LoRA adapter whose weights are not zero (so the adapter changes the scores)."""
    from peft import LoraConfig, get_peft_model

    from ltm import basemodel

    base = basemodel.load_model(basemodel.resolve("ltm-nano"))
    torch.manual_seed(0)
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                                           init_lora_weights=False))
    peft.eval()
    return peft, nano[1]


class Forwards:
    """Every forward's input size and whether it continued a cache."""

    def __init__(self, model):
        self.calls: list[tuple[int, int, bool]] = []
        self.handle = model.register_forward_pre_hook(self._record, with_kwargs=True)

    def _record(self, module, args, kwargs):
        rows, width = kwargs["input_ids"].shape
        cached = kwargs.get("cache", kwargs.get("past_key_values")) is not None
        self.calls.append((rows, width, cached))

    def tokens(self) -> int:
        return sum(rows * width for rows, width, _ in self.calls)


def _assert_same(got, expected):
    """Equal to float32 rounding: 1e-5, or 1e-6 of the value for sums near -100 (where one float32
    step is 7.6e-6, and the per-token values differ in their last bits between kernels)."""
    assert len(got) == len(expected)
    for i, (result, (logprob, greedy, tokens)) in enumerate(zip(got, expected, strict=True)):
        assert result.logprob == pytest.approx(logprob, abs=1e-5, rel=1e-6), i
        assert result.is_greedy == greedy, i
        assert result.tokens == tokens, i


SETTINGS = [(16, None), (4, None), (3, None), (2, None), (16, 80), (16, 40), (8, 25), (16, 1), (1, None)]


@pytest.mark.parametrize("batch_size,batch_tokens", SETTINGS)
def test_shared_context_equals_the_plain_path(nano, batch_size, batch_tokens):
    model, tokenizer = nano
    requests = _requests(tokenizer, model_max_length(model))
    plain = loglikelihood(model, tokenizer, requests, batch_size, batch_tokens=batch_tokens, share_context=False)
    _assert_same(plain, reference_loglik(model, tokenizer, requests))
    forwards = Forwards(model)
    try:
        shared = loglikelihood(model, tokenizer, requests, batch_size, batch_tokens=batch_tokens)
    finally:
        forwards.handle.remove()
    _assert_same(shared, [(r.logprob, r.is_greedy, r.tokens) for r in plain])
    continued = [c for c in forwards.calls if c[2]]
    if batch_size >= 2 and batch_tokens != 1:
        assert continued, "no choice was scored against a shared context"
    else:  # one request per batch (or per token budget): nothing can share, the plain path alone
        assert not continued


def test_shared_context_runs_fewer_tokens(nano):
    model, tokenizer = nano
    requests = _requests(tokenizer, model_max_length(model))
    forwards = Forwards(model)
    try:
        loglikelihood(model, tokenizer, requests, 16, share_context=False)
        plain_tokens, forwards.calls = forwards.tokens(), []
        loglikelihood(model, tokenizer, requests, 16)
        shared_tokens = forwards.tokens()
    finally:
        forwards.handle.remove()
    assert shared_tokens < 0.8 * plain_tokens, (shared_tokens, plain_tokens)


@pytest.mark.parametrize("batch_size,batch_tokens", [(16, 80), (16, 40), (8, 25), (3, 60)])
def test_shared_batches_keep_the_budget(nano, batch_size, batch_tokens):
    """A context pass and its continuation pass together hold at most `batch_tokens` padded tokens
    (the context once, plus each choice) and at most `batch_size` choices; only a request over the
    budget by itself goes alone (on the plain path)."""
    model, tokenizer = nano
    requests = _requests(tokenizer, model_max_length(model))
    forwards = Forwards(model)
    try:
        loglikelihood(model, tokenizer, requests, batch_size, batch_tokens=batch_tokens)
    finally:
        forwards.handle.remove()
    calls = forwards.calls
    i = shared = 0
    while i < len(calls):
        rows, width, cached = calls[i]
        assert not cached  # every continuation pass follows its context pass
        if i + 1 < len(calls) and calls[i + 1][2]:
            choice_rows, choice_width, _ = calls[i + 1]
            assert choice_rows <= batch_size and choice_rows >= 2
            assert rows * width + choice_rows * choice_width <= batch_tokens
            i, shared = i + 2, shared + 1
        else:
            assert rows <= batch_size
            assert rows * width <= batch_tokens or rows == 1
            i += 1
    assert shared, "no batch shared its contexts under this budget"


def test_plan_shares_only_whole_contexts(nano):
    from ltm.testbench.loglik import shared_units

    model, tokenizer = nano
    limit = model_max_length(model)
    requests = _requests(tokenizer, limit)
    pairs = [encode_pair(tokenizer, c, k) if c else ([tokenizer.eos_token_id], tokenizer.encode(k)) for c, k in requests]
    units, plain = shared_units(pairs, limit, batch_size=16, batch_tokens=None)
    assert sorted([i for u in units for i in u] + plain) == list(range(len(requests)))  # each request once
    for unit in units:
        assert len(unit) >= 2
        assert len({tuple(pairs[i][0]) for i in unit}) == 1  # one context
        assert all(len(pairs[i][0]) + len(pairs[i][1]) <= limit + 1 for i in unit)  # none cut on the left
    for i in plain:
        ctx, cont = pairs[i]
        alone = sum(tuple(p[0]) == tuple(ctx) and len(p[0]) + len(p[1]) <= limit + 1 for p in pairs) < 2
        assert len(ctx) < 2 or len(ctx) + len(cont) > limit + 1 or alone, i
    # Item 1 and item 8 share a context: one unit of 6 choices; the near-limit item shares its two short choices.
    assert sorted(len(u) for u in units) == [2, 2, 2, 3, 4, 6]
    # batch_size splits the choices of a context; a leftover single choice goes the plain way.
    units, plain = shared_units(pairs, limit, batch_size=4, batch_tokens=None)
    assert max(len(u) for u in units) == 4
    assert sorted(len(u) for u in units) == [2, 2, 2, 2, 3, 4, 4]


def test_eager_attention_shares_too(nano_eager):
    model, tokenizer = nano_eager
    requests = _requests(tokenizer, model_max_length(model))
    plain = loglikelihood(model, tokenizer, requests, 8, share_context=False)
    shared = loglikelihood(model, tokenizer, requests, 8)
    _assert_same(shared, [(r.logprob, r.is_greedy, r.tokens) for r in plain])


def test_lora_adapter_scores_through_the_shared_context(nano_lora, nano):
    model, tokenizer = nano_lora
    requests = _requests(tokenizer, model_max_length(model))
    plain = loglikelihood(model, tokenizer, requests, 8, batch_tokens=100, share_context=False)
    forwards = Forwards(model.get_base_model().model)  # peft calls the top module's forward directly
    try:
        shared = loglikelihood(model, tokenizer, requests, 8, batch_tokens=100)
    finally:
        forwards.handle.remove()
    assert any(cached for _, _, cached in forwards.calls)
    _assert_same(shared, [(r.logprob, r.is_greedy, r.tokens) for r in plain])
    base = loglikelihood(nano[0], tokenizer, requests, 8)
    assert max(abs(a.logprob - b.logprob) for a, b in zip(shared, base, strict=True)) > 1e-3  # the adapter counts


def test_a_cache_that_cannot_be_expanded_falls_back(nano, monkeypatch):
    from ltm.testbench import loglik

    model, tokenizer = nano
    requests = _requests(tokenizer, model_max_length(model))
    plain = loglikelihood(model, tokenizer, requests, 8, share_context=False)
    monkeypatch.setattr(loglik, "_expandable", lambda cache: False)
    forwards = Forwards(model)
    try:
        got = loglikelihood(model, tokenizer, requests, 8)
    finally:
        forwards.handle.remove()
    assert not any(cached for _, _, cached in forwards.calls)
    _assert_same(got, [(r.logprob, r.is_greedy, r.tokens) for r in plain])
