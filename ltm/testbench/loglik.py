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


def loglikelihood(model, tokenizer, requests: list[tuple[str, str]], batch_size: int = 16) -> list[LoglikResult]:
    """Score (context, continuation) pairs; returns results in request order."""
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
    # Longest first, as lm-eval does, so padding is small within a batch.
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    results: list[LoglikResult | None] = [None] * len(encoded)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            width = max(len(encoded[i][0]) for i in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                tokens = encoded[i][0]
                ids[row, :len(tokens)] = torch.tensor(tokens)
                mask[row, :len(tokens)] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
            for row, i in enumerate(batch):
                inputs, cont = encoded[i]
                length = len(inputs)
                span = logprobs[row, length - len(cont):length]
                target = torch.tensor(cont, dtype=torch.long)
                picked = span.gather(1, target.unsqueeze(1)).squeeze(1)
                results[i] = LoglikResult(
                    logprob=float(picked.sum()),
                    is_greedy=bool((span.argmax(dim=-1) == target).all()),
                    tokens=len(cont),
                )
    return results  # type: ignore[return-value]
