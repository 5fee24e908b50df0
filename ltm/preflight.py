"""CUDA preflight: say plainly, before loading a large model, what will not work — and stop.

A Blackwell card (sm_120) under a torch built for CUDA < 12.8 fails with "no kernel image is
available" minutes into a model load; a bitsandbytes without kernels for the card fails the
first 4-bit matmul. Both are certain failures, so `ltm train`, `ltm eval`, `ltm sweep` and
`ltm overnight` check first and stop with one line naming the problem and the fix (LtmError),
unless `--skip-preflight` (the user may know better: a custom build, a patched wheel). Too
little free memory is only a warning: the memory figure is an estimate.

The decision is a pure function of the facts (`problems(Facts, …)`), so its logic is tested on
CPU with the facts given; `gather` reads them from torch and bitsandbytes on the real machine.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from .errors import LtmError

BLACKWELL_CUDA = (12, 8)  # first CUDA with sm_120 kernels

_forced: set[str] = set()      # problems the user chose to run past (--skip-preflight), this process
_reported: set[tuple] = set()  # GPU lines already printed, this process


@dataclass(frozen=True)
class Facts:
    """What the check needs to know about this machine; gpu None = no CUDA GPU."""

    gpu: str | None = None
    capability: tuple[int, int] | None = None
    torch_version: str = ""
    torch_cuda: str | None = None
    arch_list: tuple[str, ...] = ()
    bnb_version: str | None = None
    bnb_error: str | None = None      # None: imports and runs a 4-bit round trip (checked only for nf4)
    free_bytes: int | None = None
    total_bytes: int | None = None

    @property
    def arch(self) -> str:
        major, minor = self.capability or (0, 0)
        return f"sm_{major}{minor}"

    def key(self, quantization: str) -> tuple:
        return (self.gpu, self.capability, self.torch_cuda, self.arch_list, quantization,
                self.bnb_error if quantization == "nf4" else None)


@dataclass(frozen=True)
class Problem:
    text: str
    fatal: bool


def _version(text: str | None) -> tuple[int, int]:
    try:
        major, minor = str(text).split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return (0, 0)


def _has_kernels(arch_list: tuple[str, ...], capability: tuple[int, int]) -> bool:
    """sm_XY built in, or PTX (compute_XY) of this or an older architecture, which the driver
    compiles for the card. An empty list (torch did not say) is given the benefit of the doubt."""
    if not arch_list:
        return True
    number = capability[0] * 10 + capability[1]
    for entry in arch_list:
        kind, _, digits = entry.partition("_")
        if not digits.isdigit():
            continue
        if kind == "sm" and int(digits) == number:
            return True
        if kind == "compute" and int(digits) <= number:
            return True
    return False


def problems(facts: Facts, quantization: str, memory_needed: int | None = None,
             nf4_fix: str = "set base.quantization: none") -> list[Problem]:
    """Problems found (empty = fine), the certain failures marked fatal. No GPU: nothing to check.

    `quantization` is "nf4" when anything will load 4-bit weights; `nf4_fix` names the setting
    that asks for them (the base, or an nf4 format row)."""
    if facts.gpu is None or facts.capability is None:
        return []
    found: list[Problem] = []
    name, arch, cuda = facts.gpu, facts.arch, facts.torch_cuda or "none"
    if facts.capability[0] >= 12 and _version(cuda) < BLACKWELL_CUDA:
        found.append(Problem(f"{name} is {arch} (Blackwell), but torch {facts.torch_version} is built for CUDA {cuda}; "
                             "sm_120 needs CUDA ≥ 12.8 — install a torch built for it (the cu128 wheels: "
                             "pip install torch --index-url https://download.pytorch.org/whl/cu128)", True))
    elif not _has_kernels(facts.arch_list, facts.capability):
        found.append(Problem(f"{name} is {arch}, but torch {facts.torch_version} (CUDA {cuda}) has kernels only for "
                             f"{', '.join(facts.arch_list)} — install a torch built for {arch}", True))
    if quantization == "nf4" and facts.bnb_error:
        if facts.bnb_version is None:
            found.append(Problem(f"base.quantization: nf4 needs bitsandbytes, which does not load ({facts.bnb_error}) — "
                                 f"pip install -U bitsandbytes, or {nf4_fix}", True))
        else:
            found.append(Problem(f"bitsandbytes {facts.bnb_version} has no working 4-bit kernel for {name} ({arch}): "
                                 f"{facts.bnb_error} — pip install -U bitsandbytes (a build with {arch} kernels), "
                                 f"or {nf4_fix}", True))
    if memory_needed and facts.free_bytes is not None and memory_needed > facts.free_bytes:
        gib = 2 ** 30
        found.append(Problem(f"training needs about {memory_needed / gib:.1f} GiB but {name} has {facts.free_bytes / gib:.1f} "
                             f"GiB free of {(facts.total_bytes or 0) / gib:.1f} — lower training.batch_size or max_length, "
                             "enable gradient_checkpointing, or use base.quantization: nf4", False))
    return found


def gather(quantization: str) -> Facts:
    """The facts of this machine (the bitsandbytes probe runs only when nf4 is asked)."""
    import torch

    if not torch.cuda.is_available():
        return Facts(torch_version=torch.__version__)
    major, minor = torch.cuda.get_device_capability(0)
    free, total = torch.cuda.mem_get_info(0)
    bnb_version, bnb_error = _bitsandbytes() if quantization == "nf4" else (None, None)
    return Facts(gpu=torch.cuda.get_device_name(0), capability=(major, minor), torch_version=torch.__version__,
                 torch_cuda=torch.version.cuda, arch_list=tuple(torch.cuda.get_arch_list()),
                 bnb_version=bnb_version, bnb_error=bnb_error, free_bytes=int(free), total_bytes=int(total))


def _bitsandbytes() -> tuple[str | None, str | None]:
    """(version, error): a 4-bit NF4 round trip on the GPU, the operation QLoRA needs."""
    try:
        import bitsandbytes
    except Exception as exc:  # import fails in several ways when CUDA libraries mismatch
        return None, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}"
    try:
        import torch
        from bitsandbytes.functional import dequantize_4bit, quantize_4bit

        probe = torch.randn(64, 64, device="cuda", dtype=torch.bfloat16)
        packed, state = quantize_4bit(probe, quant_type="nf4")
        dequantize_4bit(packed, state)
        torch.cuda.synchronize()
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        return getattr(bitsandbytes, "__version__", "?"), f"{type(exc).__name__}: {first}".rstrip(": ")
    return getattr(bitsandbytes, "__version__", "?"), None


def ensure(config, force: bool = False, memory_needed: int | None = None, facts: Facts | None = None,
           evaluating: bool = True) -> None:
    """Stop on a certain failure (one line), warn on the rest; `force` (--skip-preflight) only warns.

    `evaluating`: the command also evaluates, so an nf4 format row (testbench.formats) needs
    bitsandbytes too. A mismatch forced once is not stopped again in the same process: a sweep
    checks at its start and then trains many adapters."""
    quantization, nf4_fix = config.base.quantization, "set base.quantization: none"
    if quantization != "nf4" and evaluating and "nf4" in config.testbench.formats:
        quantization, nf4_fix = "nf4", "remove nf4 from testbench.formats"
    facts = gather(quantization) if facts is None else facts
    if facts.gpu is None:
        return
    key = facts.key(quantization)
    found = problems(facts, quantization, memory_needed, nf4_fix)
    fatal = [p.text for p in found if p.fatal and p.text not in _forced]
    if fatal and not force:
        raise LtmError("; ".join(fatal) + " (--skip-preflight runs anyway)")
    if force:
        _forced.update(fatal)
    if key not in _reported:
        _reported.add(key)
        print(f"GPU {facts.gpu} ({facts.arch}), torch {facts.torch_version} CUDA {facts.torch_cuda}", file=sys.stderr)
    for problem in found:
        if not problem.fatal or problem.text in fatal:  # a forced problem is told once
            print(f"warning: {problem.text}", file=sys.stderr)


def memory_needed(config, ref) -> int | None:
    """The training memory estimate for the preflight, when the model's config can be read."""
    try:
        from transformers import AutoConfig

        from .estimate import memory_estimate

        model_config = AutoConfig.from_pretrained(ref.path, trust_remote_code=config.base.trust_remote_code)
        return memory_estimate(config, model_config)["total"]
    except (OSError, ValueError, KeyError, AttributeError):
        return None
