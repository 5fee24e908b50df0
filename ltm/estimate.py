"""How long will my card take on 1, 10, 100, 1000 pages, and how much memory does it need?

Time = steps × measured seconds per step. Seconds per step come from a short calibration
run of the real training code on this machine with this config (cached per machine and
config); tokens per page are measured with the base tokenizer on the user's own corpora.
Memory is an analytic estimate: weights in the chosen format + LoRA + optimizer +
activations + logits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import time
from pathlib import Path

from . import atomic, basemodel, recipe, tinybase
from .errors import LtmError

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
    return tinybase.cache_root() / "calibration" / f"{calibration_key(config)}.json"


def cached_calibration(config) -> dict | None:
    path = calibration_path(config)
    return json.loads(path.read_text()) if path.exists() else None


def calibrate(config, force: bool = False) -> dict:
    """Time a few real optimizer steps of full blocks; cache seconds per step."""
    if not force and (cached := cached_calibration(config)):
        return cached
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


def steps_for_tokens(config, tokens: int) -> int:
    """Optimizer steps `ltm train` makes on `tokens` training tokens: the same plan (ltm/recipe.py)."""
    tc = config.training
    return recipe.plan(recipe.sequences_for_tokens(tokens, tc.max_length), tc).steps


def memory_estimate(config, model_config) -> dict:
    """Bytes needed to train: a rough upper bound with the parts shown, for the preflight."""
    tc = config.training
    h = model_config.hidden_size
    layers = model_config.num_hidden_layers
    inter = getattr(model_config, "intermediate_size", 4 * h)
    vocab = model_config.vocab_size
    heads = model_config.num_attention_heads
    kv = getattr(model_config, "num_key_value_heads", heads) or heads
    head_dim = getattr(model_config, "head_dim", None) or h // heads
    per_layer_linear = h * heads * head_dim + 2 * h * kv * head_dim + heads * head_dim * h + 3 * h * inter
    tied = getattr(model_config, "tie_word_embeddings", False)
    n_params = layers * per_layer_linear + vocab * h * (1 if tied else 2)
    bytes_per_weight = {"nf4": 0.5 + 0.5 / 64 * 1.06, "none": 2.0}[config.base.quantization]
    if config.base.quantization == "none" and not _on_cuda() and config.base.dtype in ("auto", "fp32"):
        bytes_per_weight = 4.0
    # LoRA on every linear: r × (in + out) per matrix, 7 matrices per Llama-style layer.
    lora_per_layer = tc.rank * ((h + heads * head_dim) * 2 + (h + kv * head_dim) * 2 + (h + inter) * 3)
    lora = layers * lora_per_layer
    seq, batch = tc.max_length, tc.batch_size
    act_width = 2 if _on_cuda() else 4
    if tc.gradient_checkpointing:
        activations = layers * seq * batch * h * act_width + seq * batch * (34 * h + 5 * heads * seq) * act_width / 2
    else:
        activations = layers * seq * batch * (34 * h + 5 * heads * seq) * act_width / 2
    logits = seq * batch * vocab * 4 * 2  # fp32 logits and their gradient
    parts = {
        "weights": n_params * bytes_per_weight,
        "lora_and_optimizer": lora * 16,  # fp32 param + grad + two Adam moments
        "activations": activations,
        "logits": logits,
    }
    parts["total"] = sum(parts.values()) * 1.1  # allocator slack
    return {"parameters": n_params, "lora_parameters": lora, **{k: int(v) for k, v in parts.items()}}


def _on_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def tokens_per_page(config, paths: list[Path]) -> tuple[float, list[dict]]:
    """Measured tokens per A4 page over the given corpora (the user's own text)."""
    from . import corpora

    tokenizer = basemodel.load_tokenizer(config.base.model, config.base.revision)
    rows, total_tokens, total_pages = [], 0, 0.0
    for path in paths:
        corpus = corpora.read_corpus(path)
        tokens = corpora.count_tokens(corpus.text, tokenizer)
        rows.append({"corpus": corpus.name, "tokens": tokens, "pages": round(corpus.pages, 2),
                     "tokens_per_page": round(tokens / corpus.pages, 1) if corpus.pages else None})
        total_tokens += tokens
        total_pages += corpus.pages
    return (total_tokens / total_pages if total_pages else 0.0), rows


def estimate(config, paths: list[Path], pages: list[float], recalibrate: bool = False) -> dict:
    """Everything `ltm estimate` prints, as data."""
    from transformers import AutoConfig

    per_page, rows = tokens_per_page(config, paths)
    calibration = calibrate(config, force=recalibrate)
    ref = basemodel.resolve(config.base.model, config.base.revision)
    memory = memory_estimate(config, AutoConfig.from_pretrained(ref.path, trust_remote_code=config.base.trust_remote_code))
    tc = config.training
    table = []
    for p in pages:
        tokens = int(p * per_page)
        steps = steps_for_tokens(config, tokens)
        table.append({"pages": p, "tokens": tokens, "steps": steps, "seconds": round(seconds_for_steps(calibration, steps), 1)})
    corpus_seconds = []
    for row in rows:
        steps = steps_for_tokens(config, int(row["tokens"] * (1 - config.corpora.heldout_fraction)))
        corpus_seconds.append(seconds_for_steps(calibration, steps))
    sweep = config.sweep
    runs = len(rows) + max(0, len(sweep.seeds) - 1) + sweep.trials
    mean = sum(corpus_seconds) / len(corpus_seconds) if corpus_seconds else 0.0
    overnight = {"trainings": runs, "seconds": round(sum(corpus_seconds) + (runs - len(rows)) * mean, 1)}
    try:
        evaluation = _evaluation(config, rows, recalibrate)
    except LtmError as exc:  # no scenes yet: the training estimate still stands
        evaluation = {"error": str(exc).splitlines()[0], "sweep_seconds": 0.0}
    return {
        "base": config.base.model, "quantization": config.base.quantization,
        "tokens_per_page": round(per_page, 1), "corpora": rows, "calibration": calibration,
        "pages": table, "memory": memory, "overnight_training": overnight, "evaluation": evaluation,
        "overnight_seconds": round(overnight["seconds"] + evaluation["sweep_seconds"], 1),
        "training": dataclasses.asdict(tc),
    }


def _evaluation(config, rows: list[dict], recalibrate: bool) -> dict:
    """Evaluation time of the configured sweep (ltm/estimate_eval.py): the base row once, one row
    per training, and a choice-only pruning pass per stage-2 trial."""
    from .estimate_eval import calibrate_eval, row_plan, row_seconds

    calibration = calibrate_eval(config, force=recalibrate)
    plan = row_plan(config, basemodel.load_tokenizer(config.base.model, config.base.revision))
    heldout = [int(r["tokens"] * config.corpora.heldout_fraction) for r in rows]
    corpus_rows = [row_seconds(calibration, plan, h) for h in heldout]
    mean = sum(corpus_rows) / len(corpus_rows) if corpus_rows else row_seconds(calibration, plan)
    sweep = config.sweep
    extra_seeds = max(0, len(sweep.seeds) - 1)
    seconds = (row_seconds(calibration, plan) + sum(corpus_rows) + extra_seeds * (corpus_rows[0] if corpus_rows else mean)
               + sweep.trials * (mean + row_seconds(calibration, plan, choice_only=True)))
    return {"calibration": calibration, "row": plan, "row_seconds": round(mean, 1), "rows": 1 + len(rows) + extra_seeds + sweep.trials,
            "sweep_seconds": round(seconds, 1)}
