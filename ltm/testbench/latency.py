"""Measured latency of a model (base or adapter) in milliseconds.

Why: the user wants a latency model in milliseconds — time to first token, cost per further
token, and the cost of a top-k "cloud" step — measured on the actual device rather than guessed
from parameter counts. Each greedy decode step is timed individually (a manual loop with the KV
cache, not ``generate``), and every figure is the median over ``repeats`` runs.

The top-k cloud step expands the prefill KV cache to k rows (``DynamicCache.batch_repeat_interleave``)
and runs one batched decoding step for the k candidates, then takes the top-k of each row; the
timed span is expand + forward + top-k (the prefill before it is not timed). Caches without
``batch_repeat_interleave`` fall back to recomputing the prompt repeated k times with the
candidates appended — that fallback includes a prefill and is reported as ``topk_mode``.
"""

from __future__ import annotations

import math
import statistics
import time

from .. import kvcache

FIXED_PROMPT = (
    "The old lighthouse keeper climbed the narrow stairs every evening, lit the great lamp, "
    "and wrote a short note in his logbook about the wind, the waves and the ships passing by."
)


def _device(model):
    import torch

    try:
        return next(model.parameters()).device
    except StopIteration:  # pragma: no cover - a model always has parameters
        return torch.device("cpu")


def _dtype(model):
    for param in model.parameters():
        if param.is_floating_point():
            return param.dtype
    return None  # pragma: no cover


class _Clock:
    """Wall clock in ms that synchronises CUDA before reading, so GPU work is counted."""

    def __init__(self, device):
        import torch

        self.cuda = device.type == "cuda" and torch.cuda.is_available()

    def now(self) -> float:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        return time.perf_counter() * 1000.0


def _one_run(model, input_ids, new_tokens: int, k: int, clock: _Clock) -> tuple[float, float, float, str]:
    import torch

    # Time to first token: one prefill forward + argmax.
    start = clock.now()
    out, past = kvcache.step(model, input_ids)
    token = out.logits[:, -1, :].argmax(dim=-1, keepdim=True)
    token.item()
    ttft = clock.now() - start

    # Greedy decode with the KV cache, each step timed.
    steps = []
    for _ in range(new_tokens - 1):
        start = clock.now()
        out, past = kvcache.step(model, token, past)
        token = out.logits[:, -1, :].argmax(dim=-1, keepdim=True)
        token.item()
        steps.append(clock.now() - start)
    per_token = statistics.fmean(steps)

    # Top-k cloud: fresh (untimed) prefill, then the timed branching step.
    out, cache = kvcache.step(model, input_ids)
    candidates = out.logits[:, -1, :].topk(k, dim=-1).indices.reshape(k, 1)
    candidates.cpu()
    if hasattr(cache, "batch_repeat_interleave"):
        mode = "expand-cache"
        start = clock.now()
        cache.batch_repeat_interleave(k)
        branch, _ = kvcache.step(model, candidates, cache)
        cloud = branch.logits[:, -1, :].topk(k, dim=-1).indices
        cloud.cpu()
        cloud_ms = clock.now() - start
    else:  # pragma: no cover - DynamicCache has it; kept for other cache classes
        mode = "recompute-prompt"
        start = clock.now()
        batch = torch.cat([input_ids.expand(k, -1), candidates], dim=1)
        branch = model(input_ids=batch, use_cache=False)
        cloud = branch.logits[:, -1, :].topk(k, dim=-1).indices
        cloud.cpu()
        cloud_ms = clock.now() - start
    assert cloud.shape == (k, k)
    return ttft, per_token, cloud_ms, mode


def measure_latency(model, tokenizer, prompt: str = FIXED_PROMPT, new_tokens: int = 32, k: int = 5,
                    repeats: int = 3, warmup: int = 1) -> dict:
    """Median over ``repeats`` of TTFT, ms per further token and the top-k cloud step (ms).

    Works on a plain causal LM or a PeftModel, on the model's own device; the model is put in
    eval mode for the measurement and its previous mode restored.
    """
    import torch

    if new_tokens < 2:
        raise ValueError("new_tokens must be at least 2 (one first token, then timed decode steps)")
    if k < 1 or repeats < 1 or warmup < 0:
        raise ValueError("k and repeats must be >= 1, warmup >= 0")
    device = _device(model)
    clock = _Clock(device)
    input_ids = tokenizer(prompt, return_tensors="pt").input_ids.to(device)
    if input_ids.shape[1] == 0:
        raise ValueError("the prompt tokenizes to nothing")

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                _one_run(model, input_ids, new_tokens, k, clock)
            runs = [_one_run(model, input_ids, new_tokens, k, clock) for _ in range(repeats)]
    finally:
        model.train(was_training)

    ttft = statistics.median(r[0] for r in runs)
    per_token = statistics.median(r[1] for r in runs)
    cloud = statistics.median(r[2] for r in runs)
    overhead = cloud / per_token if per_token > 0 else math.inf
    return {
        "ttft_ms": round(ttft, 3),
        "ms_per_token": round(per_token, 3),
        "topk_cloud_ms": round(cloud, 3),
        "topk_overhead": round(overhead, 3),
        "topk_mode": runs[-1][3],
        "prompt_tokens": int(input_ids.shape[1]),
        "new_tokens": new_tokens,
        "k": k,
        "repeats": repeats,
        "device": str(device),
        "dtype": str(_dtype(model)).replace("torch.", ""),
    }


def _ms(value: float) -> str:
    return f"{value:.3g}"


def latency_model(result: dict) -> str:
    """One line: ``≈ TTFT ms + per-token ms × tokens (top-k cloud: … ms per step)``.

    ``tokens`` counts the tokens after the first; the first one costs the TTFT.
    """
    return (
        f"≈ {_ms(result['ttft_ms'])} ms + {_ms(result['ms_per_token'])} ms × tokens after the first "
        f"(top-{result['k']} cloud: {_ms(result['topk_cloud_ms'])} ms per step, "
        f"{result['topk_overhead']:.2f}× a decode step; {result['device']}, {result['dtype']})"
    )
