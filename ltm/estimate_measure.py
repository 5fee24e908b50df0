"""What `ltm estimate` measures on this machine: training throughput and tokens per page.

Seconds per optimizer step come from a short calibration run of the real training code with
this config, cached per machine and config under the config's runs_dir (`estimate/`, with the
date it was measured, so `rm -r runs` forgets it and a cached figure is never printed as new);
tokens per page are counted with the base's tokenizer on the user's own corpora (or words × an
assumed rate when the tokenizer is not here). Kept apart from the arithmetic of the page table
(ltm/estimate.py) and the assumed-card mode (ltm/estimate_assumed.py), which only read these.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from pathlib import Path

from . import atomic, basemodel

CALIBRATION_STEPS = 12


WARMUP_STEPS = 3


def machine_id() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    cpu = platform.processor() or platform.machine()
    return f"{platform.node()}|{cpu}|{gpu}|torch{torch.__version__}|threads{torch.get_num_threads()}"


def calibration_key(config) -> str:
    tc = config.training
    spec = {
        "machine": machine_id(),
        "base": config.base.model, "quantization": config.base.quantization, "dtype": config.base.dtype,
        "rank": tc.rank, "target": tc.target_modules, "max_length": tc.max_length, "batch": tc.batch_size,
        "accum": tc.grad_accum, "checkpointing": tc.gradient_checkpointing,
    }
    if config.base.attn_implementation != "sdpa":  # sdpa was the kernel before it was a setting: old keys stay valid
        spec["attn"] = config.base.attn_implementation
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def calibration_path(config) -> Path:
    return config.runs_path / "estimate" / f"train-{calibration_key(config)}.json"


def cached_calibration(config) -> dict | None:
    path = calibration_path(config)
    return json.loads(path.read_text()) if path.exists() else None


def calibrate(config, force: bool = False) -> dict:
    """Time a few real optimizer steps of full blocks; cache seconds per step (a cached one is marked "cached")."""
    if not force and (cached := cached_calibration(config)):
        return {**cached, "cached": True}
    import torch

    from .trainer_backend import build_trainer

    ref = basemodel.resolve(config.base.model, config.base.revision)
    tokenizer = basemodel.load_tokenizer(config.base.model, config.base.revision)
    tc = config.training
    steps = WARMUP_STEPS + CALIBRATION_STEPS
    generator = torch.Generator().manual_seed(0)
    n_blocks = steps * tc.batch_size * tc.grad_accum
    vocab = min(len(tokenizer), 32000)
    blocks = torch.randint(0, vocab, (n_blocks, tc.max_length), generator=generator).tolist()
    model = basemodel.load_model(ref, config.base.quantization, config.base.dtype, config.base.trust_remote_code,
                                 config.base.attn_implementation)
    import tempfile

    from transformers import TrainerCallback

    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            marks.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kwargs):
            marks.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        trainer, _ = build_trainer(config, model, tokenizer, blocks, Path(tmp), steps)
        trainer.add_callback(Clock())
        trainer.train()
    del trainer, model
    from .train import release_training_memory

    release_training_memory()
    # marks[0] is train begin, marks[k] the end of step k. The first steps are slower
    # (allocation, first-call overheads): keep that as a fixed start-up cost.
    seconds_per_step = (marks[-1] - marks[WARMUP_STEPS]) / CALIBRATION_STEPS
    startup = max(0.0, (marks[WARMUP_STEPS] - marks[0]) - WARMUP_STEPS * seconds_per_step)
    tokens_per_step = tc.batch_size * tc.grad_accum * tc.max_length
    result = {
        "machine": machine_id(),
        "seconds_per_step": seconds_per_step,
        "startup_seconds": startup,
        "tokens_per_step": tokens_per_step,
        "tokens_per_second": tokens_per_step / seconds_per_step,
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    atomic.write_json(calibration_path(config), result)
    return result


def predict_train_seconds(config, steps: int, calibration: dict | None = None) -> float | None:
    """Predicted trainer time for `steps` optimizer steps (ltm/recipe.py), from the cached calibration."""
    calibration = calibration or cached_calibration(config)
    if not calibration:
        return None
    return round(seconds_for_steps(calibration, steps), 2)


def seconds_for_steps(calibration: dict, steps: int) -> float:
    return calibration.get("startup_seconds", 0.0) + steps * calibration["seconds_per_step"]


class TokenCount:
    """Tokens of a text: the base's tokenizer when it is here (measured), else words × an assumed rate."""

    def __init__(self, tokenizer=None, per_word: float | None = None):
        self.tokenizer, self.per_word = tokenizer, per_word

    @property
    def measured(self) -> bool:
        return self.tokenizer is not None

    def __call__(self, text: str) -> int:
        if self.tokenizer is not None:
            return len(self.tokenizer.encode(text, add_special_tokens=False))
        return round(len(text.split()) * self.per_word)

    def corpus(self, corpus) -> int:
        from . import corpora

        if self.tokenizer is not None:
            return corpora.count_tokens(corpus.text, self.tokenizer)
        return round(corpus.words * self.per_word)


def tokens_per_page(config, paths: list[Path], count: TokenCount | None = None) -> tuple[float, list[dict]]:
    """Tokens per A4 page over the given corpora (the user's own text): measured with the base's
    tokenizer, or words × the assumed tokens per word when the tokenizer is not here."""
    from . import corpora

    count = count or TokenCount(basemodel.load_tokenizer(config.base.model, config.base.revision))
    rows, total_tokens, total_pages = [], 0, 0.0
    for path in paths:
        corpus = corpora.read_corpus(path)
        tokens = count.corpus(corpus)
        rows.append({"corpus": corpus.name, "tokens": tokens, "pages": round(corpus.pages, 2), "count": 1,
                     "tokens_per_page": round(tokens / corpus.pages, 1) if corpus.pages else None})
        total_tokens += tokens
        total_pages += corpus.pages
    return (total_tokens / total_pages if total_pages else 0.0), rows
