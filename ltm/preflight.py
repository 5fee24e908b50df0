"""CUDA preflight: say plainly, before loading a large model, what will not work.

Checks the GPU name and compute capability, torch's CUDA version, whether torch and
bitsandbytes were built for this GPU (Blackwell, sm_120, needs CUDA ≥ 12.8 builds), and
free memory against the training estimate. Each problem is one sentence with a fix.
"""

from __future__ import annotations


def check(config, memory_needed: int | None = None) -> list[str]:
    """Problems found (empty = fine). CPU-only machines get no problems: CPU is supported."""
    import torch

    if not torch.cuda.is_available():
        return []
    problems = []
    name = torch.cuda.get_device_name(0)
    major, minor = torch.cuda.get_device_capability(0)
    arch = f"sm_{major}{minor}"
    cuda = torch.version.cuda or "none"
    built_for = torch.cuda.get_arch_list()
    if built_for and arch not in built_for and f"compute_{major}{minor}" not in built_for:
        problems.append(f"{name} is {arch}, but this torch {torch.__version__} (CUDA {cuda}) has kernels only for "
                        f"{', '.join(built_for)} — install a torch built for CUDA ≥ 12.8 (e.g. the cu128 wheels)")
    if major >= 12 and _version(cuda) < (12, 8):
        problems.append(f"{name} (Blackwell, {arch}) needs CUDA ≥ 12.8 builds, torch has CUDA {cuda} — upgrade torch")
    if config.base.quantization == "nf4":
        problems.extend(_bitsandbytes_problems(name, arch))
    if memory_needed:
        free, total = torch.cuda.mem_get_info(0)
        if memory_needed > free:
            gib = 2 ** 30
            problems.append(f"training needs about {memory_needed / gib:.1f} GiB but {name} has {free / gib:.1f} GiB free "
                            f"of {total / gib:.1f} — lower training.batch_size or max_length, enable "
                            "gradient_checkpointing, or use base.quantization: nf4")
    return problems


def _version(text: str) -> tuple[int, int]:
    try:
        major, minor = text.split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return (0, 0)


def _bitsandbytes_problems(name: str, arch: str) -> list[str]:
    try:
        import bitsandbytes  # noqa: F401
    except Exception as exc:  # import fails in several ways when CUDA libraries mismatch
        return [f"bitsandbytes does not load ({type(exc).__name__}: {exc}) — `pip install -U bitsandbytes` "
                "(≥ 0.45 for Blackwell), or set base.quantization: none"]
    try:
        import torch
        from bitsandbytes.functional import dequantize_4bit, quantize_4bit

        probe = torch.randn(64, 64, device="cuda", dtype=torch.bfloat16)
        packed, state = quantize_4bit(probe, quant_type="nf4")
        dequantize_4bit(packed, state)
    except Exception as exc:
        return [f"bitsandbytes has no working 4-bit kernel for {name} ({arch}): {type(exc).__name__} — "
                "upgrade bitsandbytes to a build with kernels for this GPU, or set base.quantization: none"]
    return []


def report(config, memory_needed: int | None = None) -> None:
    """Print the GPU line and any problem; problems do not stop the run (the user may know better)."""
    import sys

    import torch

    if not torch.cuda.is_available():
        return
    major, minor = torch.cuda.get_device_capability(0)
    print(f"GPU {torch.cuda.get_device_name(0)} (sm_{major}{minor}), torch {torch.__version__} CUDA {torch.version.cuda}",
          file=sys.stderr)
    for problem in check(config, memory_needed):
        print(f"warning: {problem}", file=sys.stderr)
