"""Batched log-likelihood of continuations, computed exactly as lm-evaluation-harness does.

Multiple-choice items are scored by the summed log-probability of each choice after the
prompt. We follow lm-eval's encoding rule (trailing spaces of the context move to the
continuation; the pair is encoded whole and split at the context's length) and its
left-truncation to the model's context, so our scores equal lm-eval's on the same items
(tests/test_testbench.py checks it) while requests for all rows run in our own batches.
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


def loglikelihood(model, tokenizer, requests: list[tuple[str, str]], batch_size: int = 16,
                  batch_tokens: int | None = None) -> list[LoglikResult]:
    """Score (context, continuation) pairs; returns results in request order.

    Batches hold at most ``batch_size`` requests and ``batch_tokens`` padded tokens."""
    import torch

    max_length = model_max_length(model)
    device = next(model.parameters()).device
    encoded = []
    for context, continuation in requests:
        if context:
            ctx, cont = encode_pair(tokenizer, context, continuation)
        else:  # lm-eval conditions an empty context on the end-of-text token
            ctx, cont = [tokenizer.eos_token_id], tokenizer.encode(continuation)
        whole = (ctx + cont)[-(max_length + 1):]
        encoded.append((whole[:-1], cont))
    results: list[LoglikResult | None] = [None] * len(encoded)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with torch.no_grad():
        for batch in token_batches([len(inputs) for inputs, _ in encoded], batch_size, batch_tokens):
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
    return results  # type: ignore[return-value]
