"""`ltm train`: one LoRA/QLoRA adapter per corpus (or per weighted mixture), losing no token.

This module is the training run: resolve the base once, reuse or train each adapter under a
file lock, run the trainer (ltm/trainer_backend.py) and write the adapter folder with its
manifest and held-out text, logged to MLflow. What it trains on — sources, the held-out split,
the packed token blocks — is ltm/train_data.py; those names stay importable from here.

The adapter folder name is `<corpus>-<hash>`, where the hash covers base + corpus content +
the training config: the same request reuses the finished adapter. Folders are written
atomically, so a killed run never leaves one that looks complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import json
import math
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from . import atomic, basemodel, filehash, recipe
from .config import adapters_dir
from .errors import LtmError
from .keys import version
from .progress import progress_bar

# The data path, importable from here as before (ltm.train.load_sources, ltm.train.pack, ...); `train`
# below calls `load_sources` through this module, so a test may replace it here.
from .train_data import (  # noqa: F401
    Block,
    Source,
    load_sources,
    mixture_blocks,
    pack,
    pack_documents,
    split_documents,
    split_heldout,
    training_blocks,
)
from .versions import library_versions

# Bump when the training recipe changes what an adapter is. 2: steps count the processes and
# warmup has a floor (ltm/recipe.py), so an adapter of version 1 may have been trained otherwise.
TRAIN_VERSION = version("adapter")  # ltm/keys.py: every cached artifact, its key and its code
MANIFEST = "manifest.json"


@dataclass
class TrainResult:
    path: Path
    manifest: dict
    reused: bool


def adapter_hash(base_fingerprint: str, source: Source, config, world: int | None = None) -> str:
    """The adapter's identity: base, format, corpus content and training settings; and the number
    of training processes when it is not 1 (each step then sees that many times more sequences)."""
    world = recipe.world_size() if world is None else world
    spec = {
        "v": TRAIN_VERSION,
        "base": base_fingerprint,
        "quantization": config.base.quantization,
        "dtype": config.base.dtype,
        "source": [(c.sha256, w) for c, w in source.parts],
        "heldout": config.corpora.heldout_fraction,
        "training": _hashed_training(config.training),
        **({"world_size": world} if world != 1 else {}),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def _hashed_training(training) -> dict:
    """Training settings that define an adapter; a new setting at its default is left out, so
    adapters trained before it existed keep their hash (and are reused, not retrained)."""
    settings = dataclasses.asdict(training)
    if settings.get("documents") == "stream":
        del settings["documents"]
    return settings


def peak_memory_bytes() -> dict:
    import torch

    if torch.cuda.is_available():
        return {"peak_gpu_bytes": int(torch.cuda.max_memory_allocated())}
    return {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def train(config, names: list[str], force: bool = False, track: bool = True) -> list[TrainResult]:
    """Train (or reuse) one adapter per corpus/mixture name or path."""
    return train_sources(config, load_sources(config, names), force=force, track=track)


class _Processes:
    """The processes of one training: one, or the ranks of `accelerate launch` / torchrun.

    Under several processes every rank must reach each training together (they all-reduce
    gradients), so only the main process takes the adapter's file lock and decides whether a
    finished adapter is reused; the others follow its decision (broadcast). Were every rank to
    take the lock, rank 1 would wait on it while rank 0 waited on rank 1 inside the first
    all-reduce: the deadlock this replaces."""

    def __init__(self):
        self.world = recipe.world_size()
        self.main = basemodel.is_main_process()
        self.state = None
        if self.world > 1:
            from accelerate import PartialState

            self.state = PartialState()  # joins the process group (gloo on CPU, nccl on CUDA)

    def lock(self, final: Path):
        if not self.main:
            return contextlib.nullcontext()
        return FileLock(str(final.parent / f".{final.name}.lock"))

    def agree(self, value: bool) -> bool:
        """The main process's value, on every process."""
        if self.state is None:
            return value
        from accelerate.utils import broadcast_object_list

        box = [value]
        broadcast_object_list(box, from_process=0)
        return bool(box[0])

    def say(self, text: str) -> None:
        if self.main:
            print(text)


def train_sources(config, sources: list[Source], force: bool = False, track: bool = True) -> list[TrainResult]:
    """Train (or reuse) one adapter per already-read source; the base is resolved once per call."""
    ref = basemodel.resolve(config.base.model, config.base.revision)
    processes = _Processes()
    results = []
    todo = []
    for source in sources:
        final = adapters_dir(config) / f"{source.name}-{adapter_hash(ref.fingerprint, source, config)}"
        if processes.agree((final / MANIFEST).exists() and not force):
            manifest = json.loads((final / MANIFEST).read_text())
            processes.say(f"reusing adapter {final.name} (same base, corpus and config; --force retrains)")
            results.append(TrainResult(final, manifest, True))
        else:
            todo.append((source, final))
    for source, final in todo:
        # Two sweep workers may be handed the same adapter (e.g. one mixture chosen twice):
        # the second waits for the first and reuses its folder instead of training it again.
        final.parent.mkdir(parents=True, exist_ok=True)
        with processes.lock(final):
            if processes.agree((final / MANIFEST).exists() and not force):
                processes.say(f"reusing adapter {final.name} (trained meanwhile by another worker)")
                results.append(TrainResult(final, json.loads((final / MANIFEST).read_text()), True))
                continue
            results.append(train_one(config, ref, source, final, track=track))
    return results


def train_one(config, ref, source: Source, final: Path, track: bool = True) -> TrainResult:
    """Train one adapter into `final` (atomically) and log it to MLflow."""
    import torch

    from .trainer_backend import build_trainer

    started = time.perf_counter()
    tokenizer = basemodel.load_tokenizer(config.base.model, config.base.revision)
    blocks, part_info, heldout = training_blocks(config, source, tokenizer)
    tokens_per_epoch = sum(len(b) for b in blocks)
    if not blocks:
        raise LtmError(f"{source.name}: nothing left to train on after holding out "
                       f"{config.corpora.heldout_fraction:.0%} — lower corpora.heldout_fraction or add text")

    from .estimate_measure import predict_train_seconds

    tc = config.training
    plan = recipe.plan(len(blocks), tc)
    steps = plan.steps
    pages = sum(part["pages"] for part in part_info)
    for warning in (plan.warning(final.name), plan.repeat_warning(final.name, pages)):
        if warning is not None and basemodel.is_main_process():
            print(f"warning: {warning}", file=sys.stderr)
    estimate = predict_train_seconds(config, steps)

    _preflight(config, ref)
    model = basemodel.load_model(ref, config.base.quantization, config.base.dtype, config.base.trust_remote_code,
                                 config.base.attn_implementation)
    params = {"corpus": source.name, "base": ref.spec, "quantization": config.base.quantization,
              **{f"training.{k}": str(v) for k, v in dataclasses.asdict(tc).items()}}
    tags = {"ltm.kind": "adapter", "ltm.corpus": source.name, "ltm.base": ref.spec,
            "ltm.quantization": config.base.quantization, "ltm.adapter": final.name}

    # Under `accelerate launch` every process trains; only the main one writes and logs.
    main_process = basemodel.is_main_process()
    output = atomic.directory(final) if main_process else tempfile.TemporaryDirectory(prefix="ltm-rank-")
    with output as tmp_name:
        tmp = Path(tmp_name)
        with _maybe_run(config, final.name, tags, params, track and main_process) as (mlflow_client, run_id):
            trainer, stats = build_trainer(config, model, tokenizer, blocks, tmp / "checkpoints", steps,
                                           mlflow_client, run_id)
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            with progress_bar(f"training {final.name}", total=steps) as advance:
                stats.advance = advance
                train_started = time.perf_counter()
                try:
                    trainer.train()
                except torch.OutOfMemoryError:
                    raise LtmError(f"{final.name}: out of memory while training — lower training.batch_size or "
                                   "training.max_length, set training.gradient_checkpointing: true, or use "
                                   "base.quantization: nf4") from None
                train_seconds = time.perf_counter() - train_started
            tokens_seen = int(trainer.state.num_input_tokens_seen)  # non-padding, summed over GPUs
            _check_finite(stats.losses, final.name)
            trainer.model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            for name, text in heldout.items():
                atomic.write_text(tmp / "heldout" / f"{name}.txt", text)
            import shutil
            shutil.rmtree(tmp / "checkpoints", ignore_errors=True)
            manifest = {
                "adapter": final.name,
                "hash": final.name.rsplit("-", 1)[-1],
                # What the weights are, not what produced them (a retrain under the same name and
                # config hash may differ); eval keys its row cache on this hash of the files it loads.
                "weights_sha256": filehash.weights_sha256(tmp, remember=False),
                "source": source.name,
                "corpora": part_info,
                "corpus_sha256": source.sha256,
                "base": basemodel.describe(ref),
                "quantization": config.base.quantization,
                "config": {"training": dataclasses.asdict(tc), "heldout_fraction": config.corpora.heldout_fraction,
                           "base": dataclasses.asdict(config.base)},
                "tokens_per_epoch": tokens_per_epoch,
                "tokens_seen": tokens_seen,
                "padding_fraction": round(stats.padding / max(1, stats.padding + stats.collated), 6),
                "token_coverage": min(1.0, tokens_seen / tokens_per_epoch),
                "steps": stats.steps,
                # the schedule (ltm/recipe.py) and the warmup the trainer itself derived from it
                "plan": {**plan.as_dict(), "trainer_warmup_steps": trainer.args.get_warmup_steps(steps)},
                "epochs": round(tokens_seen / tokens_per_epoch, 3),
                "first_loss": stats.losses[0] if stats.losses else None,
                "last_loss": stats.losses[-1] if stats.losses else None,
                "min_loss": min(stats.losses) if stats.losses else None,
                "train_seconds": round(train_seconds, 2),
                "wall_seconds": round(time.perf_counter() - started, 2),
                "tokens_per_second": round(tokens_seen / train_seconds, 1),
                **peak_memory_bytes(),
                "estimate": {"train_seconds": estimate, "error": None if not estimate else round(train_seconds / estimate - 1, 3)},
                "versions": library_versions(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "mlflow_run_id": run_id,
            }
            atomic.write_json(tmp / MANIFEST, manifest)
            if mlflow_client is not None:
                from . import tracking

                tracking.log_metrics(mlflow_client, run_id, {
                    "tokens_per_second": manifest["tokens_per_second"], "tokens_seen": tokens_seen,
                    "token_coverage": manifest["token_coverage"], "padding_fraction": manifest["padding_fraction"],
                    "train_seconds": manifest["train_seconds"], "final_loss": manifest["last_loss"],
                })
                tracking.log_artifacts(mlflow_client, run_id, tmp, "adapter")
    steps_done = stats.steps
    del trainer, model, stats
    release_training_memory()
    if main_process:
        print(f"trained {final.name}: {steps_done} steps, loss {manifest['first_loss']:.3f} → {manifest['last_loss']:.3f}, "
              f"{manifest['tokens_per_second']:,.0f} tok/s, {manifest['train_seconds']:.0f} s")
    return TrainResult(final, manifest, False)


def tokens_text(manifest: dict) -> str:
    """Tokens trained, spelt out ("2,541 tokens per epoch × 20 epochs = 50,820 tokens trained"):
    "50,820/2,541 per epoch" read as a fraction."""
    per_epoch, seen = manifest["tokens_per_epoch"], manifest["tokens_seen"]
    epochs = manifest.get("epochs", round(seen / per_epoch, 3) if per_epoch else 0.0)
    text = f"{per_epoch:,} tokens per epoch × {epochs:g} epoch{'' if epochs == 1 else 's'} = {seen:,} tokens trained"
    return text + (f" ({seen / per_epoch:.0%} of the corpus)".replace("%", " %") if per_epoch and seen < per_epoch else "")


def release_training_memory() -> None:
    """Free the training model, its optimizer state and the trainer now, before the sweep's
    evaluation loads the base: the trainer, accelerate and peft hold each other in reference cycles,
    which Python frees only when its cycle collector next runs (Optuna's gc_after_trial runs it after
    the evaluation, too late); until then their GPU memory stays taken beside the evaluation's model."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _preflight(config, ref) -> None:
    """On CUDA, stop on a GPU/torch/bitsandbytes mismatch (ltm/preflight.py) and warn when the
    free memory looks short, before a large load. A mismatch the command was told to run past
    (--skip-preflight) is not stopped again here."""
    from . import preflight

    facts = preflight.gather(config.base.quantization)
    if facts.gpu is None:
        return
    preflight.ensure(config, memory_needed=preflight.memory_needed(config, ref), facts=facts, evaluating=False)


def _check_finite(losses: list[float], name: str) -> None:
    bad = next((step for step, x in enumerate(losses, 1) if not math.isfinite(x)), None)
    if bad is not None:
        raise LtmError(f"{name}: the loss became NaN/inf at step {bad} — lower training.learning_rate "
                       "(or use fp32/bf16 instead of fp16)")


class _NoRun:
    def __enter__(self):
        return None, None

    def __exit__(self, *exc):
        return False


def _maybe_run(config, name, tags, params, track):
    if not track:
        return _NoRun()
    from . import tracking

    return tracking.run(config, name, tags=tags, params=params)
