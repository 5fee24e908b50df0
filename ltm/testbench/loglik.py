"""Batched log-likelihood of continuations, computed exactly as lm-evaluation-harness does.

Multiple-choice items are scored by the summed log-probability of each choice after the
prompt. We follow lm-eval's encoding rule (trailing spaces of the context move to the
continuation; the pair is encoded whole and split at the context's length) and its
left-truncation to the model's context, so our scores equal lm-eval's on the same items
(tests/test_testbench.py checks it) while requests for all rows run in our own batches.

The choices of an item share their context: it runs once (batched over items) and each choice is
scored against its KV cache, instead of one forward per (context, choice) pair as lm-eval does —
the same numbers to float rounding (tests/test_shared_context.py); on SmolLM2's two-choice items
of docs/benchmarks.md 2,000 padded tokens through the model instead of 3,072. Pairs that cannot
share take the plain path.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LoglikResult:
    logprob: float       # sum of log-probabilities of the continuation tokens
    is_greedy: bool      # every continuation token was the argmax
    tokens: int          # continuation length in tokens


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-eval's ``_encode_pair`` for causal models (context must be non-empty)."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tokenizer.encode(context + continuation)
    context_ids = tokenizer.encode(context)
    return context_ids, whole[len(context_ids):]


def model_max_length(model) -> int:
    config = getattr(model, "config", None)
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, attr, None)
        if value:
            return int(value)
    return 2048


def token_batches(lengths: list[int], batch_size: int, batch_tokens: int | None = None) -> list[list[int]]:
    """Indices of items in forward-pass batches, longest first (as lm-eval orders them, so
    padding within a batch is small): at most ``batch_size`` items, and at most ``batch_tokens``
    padded tokens (items × the longest) per batch. An item longer than the budget goes alone;
    ``None`` = no token budget (the old batching by ``batch_size`` alone)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        current = batches[-1] if batches else None
        # Longest first: the batch's width is its first item's length.
        if (current is None or len(current) >= batch_size
                or (batch_tokens is not None and (len(current) + 1) * lengths[current[0]] > batch_tokens)):
            batches.append([i])
        else:
            current.append(i)
    return batches


def target_logprobs(logits, targets):
    """Per position: the log-probability of ``targets`` and whether it was the argmax.

    Computed where ``logits`` (batch × positions × vocabulary) lie, one row at a time, so the
    device holds one row's fp32 log-softmax beyond the logits and only the batch × positions
    values come back to the host (not batch × positions × vocabulary: 10 GB for 8 × 2,048
    tokens of a 152k vocabulary). The same fp32 log_softmax as before, so the values are
    unchanged. Returns (logprobs float32, greedy bool), both batch × positions, on the CPU."""
    import torch

    targets = targets.to(logits.device)
    picked = torch.empty(targets.shape, dtype=torch.float32, device=logits.device)
    greedy = torch.empty(targets.shape, dtype=torch.bool, device=logits.device)
    for row in range(logits.shape[0]):
        logprobs = torch.log_softmax(logits[row].float(), dim=-1)
        picked[row] = logprobs.gather(1, targets[row].unsqueeze(1)).squeeze(1)
        greedy[row] = logprobs.argmax(dim=-1) == targets[row]
        del logprobs
    return picked.cpu(), greedy.cpu()


def shared_units(pairs: list[tuple[list[int], list[int]]], max_length: int, batch_size: int,
                 batch_tokens: int | None = None) -> tuple[list[list[int]], list[int]]:
    """Which (context, continuation) token pairs can be scored from one shared context pass.

    Returns (units, plain): each unit is the indices of ≥ 2 requests with the same context tokens
    (the choices of an item), at most ``batch_size`` of them and, with a budget, at most
    ``batch_tokens`` padded tokens (the context once + each choice padded to the unit's longest);
    ``plain`` holds the requests scored one forward per pair as before (see the comments)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    plain: list[int] = []
    for i, (ctx, cont) in enumerate(pairs):
        # Left truncation: a pair longer than the model's context loses as many context tokens as its
        # continuation needs, so its prefix differs from its siblings' and cannot be shared. A
        # one-token context (or the end-of-text token of an empty one) leaves nothing to run once: the
        # shared pass runs the context but its last token, which goes in front of each choice.
        if len(ctx) < 2 or not cont or len(ctx) + len(cont) > max_length + 1:
            plain.append(i)
        else:
            groups.setdefault(tuple(ctx), []).append(i)
    units: list[list[int]] = []
    for ctx, members in groups.items():
        chunk: list[int] = []
        for i in members:
            widest = max([len(pairs[j][1]) for j in chunk] + [len(pairs[i][1])])
            if chunk and (len(chunk) >= batch_size
                          or (batch_tokens is not None and len(ctx) - 1 + (len(chunk) + 1) * widest > batch_tokens)):
                units.append(chunk)
                chunk = []
            chunk.append(i)
        units.append(chunk)
    # A choice left alone (one choice, or the rest of a split) saves nothing by sharing: plain path.
    plain += [unit[0] for unit in units if len(unit) == 1]
    return [unit for unit in units if len(unit) > 1], sorted(plain)


def unit_batches(units: list[list[int]], pairs: list[tuple[list[int], list[int]]], batch_size: int,
                 batch_tokens: int | None = None) -> list[list[int]]:
    """Indices of units in batches, longest context first: at most ``batch_size`` choices and at most
    ``batch_tokens`` padded tokens (units × the longest context + choices × the longest choice)."""
    context = [len(pairs[unit[0]][0]) - 1 for unit in units]  # the tokens of the context pass
    widest = [max(len(pairs[i][1]) for i in unit) for unit in units]
    order = sorted(range(len(units)), key=lambda u: (-context[u], -widest[u]))
    batches: list[list[int]] = []
    rows = width = 0
    for u in order:
        current = batches[-1] if batches else None
        if current is not None:
            fits = rows + len(units[u]) <= batch_size and (
                batch_tokens is None
                or (len(current) + 1) * context[current[0]] + (rows + len(units[u])) * max(width, widest[u]) <= batch_tokens)
            if fits:
                current.append(u)
                rows, width = rows + len(units[u]), max(width, widest[u])
                continue
        batches.append([u])
        rows, width = len(units[u]), widest[u]
    return batches


def _can_share(model) -> bool:
    """Whether the model can take a continuation against an expanded, right-padded context cache."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return False
    # The choices' rows attend to their context through a 2-D padding mask with a hole (the context's
    # right padding) between context and choice, with explicit position ids. sdpa and eager build the
    # full mask from it; flash-attention and other kernels (untested here) take the plain path.
    if getattr(config, "_attn_implementation", None) not in ("sdpa", "eager"):
        return False
    # Prompt-learning adapters (prefix tuning, ...) bring their own cache and positions.
    peft_config = getattr(model, "active_peft_config", None)
    return not getattr(peft_config, "is_prompt_learning", False)


def _expandable(cache) -> bool:
    """A cache of plain full-attention layers, whose rows can be repeated per choice. Sliding-window,
    linear-attention, quantized or static layers (or an old tuple cache) take the plain path: their
    length is not the token count, or they cannot be index-selected row by row."""
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:  # pragma: no cover - transformers>=5 has both
        return False
    layers = getattr(cache, "layers", None)
    return isinstance(cache, DynamicCache) and bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


def _score_plain(model, encoded, indices, batch_size, batch_tokens, results, pad, device) -> None:
    """One forward row per (context + continuation) pair, right-padded: the pair's input is the
    (left-truncated) context and continuation but its last token."""
    import torch

    for batch in token_batches([len(encoded[i][0]) for i in indices], batch_size, batch_tokens):
        batch = [indices[b] for b in batch]
        width = max(len(encoded[i][0]) for i in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        targets = torch.zeros((len(batch), width), dtype=torch.long)  # the continuation at its positions
        for row, i in enumerate(batch):
            tokens, cont = encoded[i]
            ids[row, :len(tokens)] = torch.tensor(tokens)
            mask[row, :len(tokens)] = 1
            targets[row, len(tokens) - len(cont):len(tokens)] = torch.tensor(cont)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        picked, greedy = target_logprobs(logits, targets)
        del logits
        for row, i in enumerate(batch):
            inputs, cont = encoded[i]
            span = slice(len(inputs) - len(cont), len(inputs))
            results[i] = LoglikResult(
                logprob=float(picked[row, span].sum()),
                is_greedy=bool(greedy[row, span].all()),
                tokens=len(cont),
            )


def _score_shared(model, pairs, units, max_length, batch_size, batch_tokens, results, pad, device) -> list[int]:
    """Each unit's context runs once; its choices are scored against the context's KV cache.

    Per batch of units: (1) the contexts but their last token, right-padded, in one forward that
    keeps the cache (logits of the last position only, where the model allows it); (2) the cache's
    rows repeated per choice, and one row per choice of [the context's last token] + the choice but
    its last token, at positions len(context) - 1 onwards, attending to its own context's tokens
    (the padding mask hides the other rows' padding). Row (2)'s logits are exactly the plain path's
    at the continuation's positions. Returns the requests left to the plain path (a cache found not
    expandable)."""
    import torch

    from .. import kvcache

    keep = {"logits_to_keep": 1} if kvcache.accepts(model, "logits_to_keep") else {}
    left: list[int] = []
    for batch in unit_batches(units, pairs, batch_size, batch_tokens):
        if left:  # the model's cache was found not expandable: the rest goes the plain way too
            left += [i for u in batch for i in units[u]]
            continue
        contexts = [pairs[units[u][0]][0][:-1] for u in batch]
        width = max(len(c) for c in contexts)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, context in enumerate(contexts):
            ids[row, :len(context)] = torch.tensor(context)
            mask[row, :len(context)] = 1
        cache = kvcache.step(model, ids.to(device), attention_mask=mask.to(device), **keep)[1]
        if not _expandable(cache):
            left += [i for u in batch for i in units[u]]
            continue
        rows = [(k, i) for k, u in enumerate(batch) for i in units[u]]
        span = max(len(pairs[i][1]) for _, i in rows)
        choice_ids = torch.full((len(rows), span), pad, dtype=torch.long)
        choice_mask = torch.zeros((len(rows), width + span), dtype=torch.long)
        targets = torch.zeros((len(rows), span), dtype=torch.long)
        positions = torch.arange(span).repeat(len(rows), 1)
        for r, (_, i) in enumerate(rows):
            ctx, cont = pairs[i]
            choice_ids[r, :len(cont)] = torch.tensor([ctx[-1], *cont[:-1]])
            choice_mask[r, :len(ctx) - 1] = 1
            choice_mask[r, width:width + len(cont)] = 1
            targets[r, :len(cont)] = torch.tensor(cont)
            positions[r] += len(ctx) - 1
        # The padding after a short choice may run past the model's positions; its outputs are unused.
        positions.clamp_(max=max_length - 1)
        cache.reorder_cache(torch.tensor([k for k, _ in rows], device=device))
        out = kvcache.step(model, choice_ids.to(device), cache, attention_mask=choice_mask.to(device),
                           position_ids=positions.to(device))[0]
        picked, greedy = target_logprobs(out.logits, targets)
        del out, cache  # the expanded cache goes before the next batch's context pass
        for r, (_, i) in enumerate(rows):
            cont = pairs[i][1]
            results[i] = LoglikResult(
                logprob=float(picked[r, :len(cont)].sum()),
                is_greedy=bool(greedy[r, :len(cont)].all()),
                tokens=len(cont),
            )
    return left


def loglikelihood(model, tokenizer, requests: list[tuple[str, str]], batch_size: int = 16,
                  batch_tokens: int | None = None, share_context: bool = True) -> list[LoglikResult]:
    """Score (context, continuation) pairs; returns results in request order.

    Batches hold at most ``batch_size`` requests and ``batch_tokens`` padded tokens. With
    ``share_context`` (the default), requests with the same context (the choices of an item) run
    the context once and score each continuation against its KV cache (`_score_shared`); the
    numbers are the plain path's (one forward per pair) to float rounding. Requests that cannot
    share (see `shared_units`, `_can_share`, `_expandable`) take the plain path."""
    import torch

    max_length = model_max_length(model)
    device = next(model.parameters()).device
    pairs = []
    for context, continuation in requests:
        if context:
            pairs.append(encode_pair(tokenizer, context, continuation))
        else:  # lm-eval conditions an empty context on the end-of-text token
            pairs.append(([tokenizer.eos_token_id], tokenizer.encode(continuation)))
    encoded = []
    for ctx, cont in pairs:
        whole = (ctx + cont)[-(max_length + 1):]
        encoded.append((whole[:-1], cont))
    results: list[LoglikResult | None] = [None] * len(encoded)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    plain = list(range(len(encoded)))
    with torch.no_grad():
        if share_context and batch_size >= 2 and _can_share(model):
            units, plain = shared_units(pairs, max_length, batch_size, batch_tokens)
            plain = sorted(plain + _score_shared(model, pairs, units, max_length, batch_size, batch_tokens, results,
                                                 pad, device))
        _score_plain(model, encoded, plain, batch_size, batch_tokens, results, pad, device)
    return results  # type: ignore[return-value]
