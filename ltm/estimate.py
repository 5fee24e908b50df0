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
from dataclasses import dataclass
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


def steps_for_tokens(config, tokens: int) -> int:
    """Optimizer steps `ltm train` makes on `tokens` training tokens: the same plan (ltm/recipe.py)."""
    tc = config.training
    return recipe.plan(recipe.sequences_for_tokens(tokens, tc.max_length), tc).steps


def memory_parts(model_config, rank: int) -> tuple[int, int]:
    """(parameters, LoRA parameters at `rank` on every linear layer) of a Llama-style model."""
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
    # LoRA on every linear: r × (in + out) per matrix, 7 matrices per Llama-style layer.
    lora_per_layer = rank * ((h + heads * head_dim) * 2 + (h + kv * head_dim) * 2 + (h + inter) * 3)
    return n_params, layers * lora_per_layer


def memory_estimate(config, model_config, on_cuda: bool | None = None) -> dict:
    """Bytes needed to train: a rough upper bound with the parts shown, for the preflight.
    `on_cuda`: the machine trained on (default: this one)."""
    tc = config.training
    cuda = _on_cuda() if on_cuda is None else on_cuda
    h = model_config.hidden_size
    layers = model_config.num_hidden_layers
    vocab = model_config.vocab_size
    heads = model_config.num_attention_heads
    n_params, lora = memory_parts(model_config, tc.rank)
    bytes_per_weight = {"nf4": 0.5 + 0.5 / 64 * 1.06, "none": 2.0}[config.base.quantization]
    if config.base.quantization == "none" and not cuda and config.base.dtype in ("auto", "fp32"):
        bytes_per_weight = 4.0
    seq, batch = tc.max_length, tc.batch_size
    act_width = 2 if cuda else 4
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


# ---------------------------------------------------------------- assumed rates (a card this machine does not have)
# When nothing can be measured here (no CUDA while the config runs bf16 on a GPU, or the base is
# not on this machine), every rate is derived from stated figures instead: the card's peak and
# bandwidth, the base's size, and an assumed share of the peak. Each figure is printed with
# "assumed" and where it comes from, and `--assume KEY=VALUE` replaces any of them.

@dataclass(frozen=True)
class Card:
    name: str
    bf16_flops: float      # dense bf16 tensor FLOP/s (no sparsity)
    bandwidth: float       # memory bytes/s
    memory_gib: float
    source: str


CARDS = {
    "rtx-pro-6000": Card("RTX PRO 6000 Blackwell (96 GB, sm_120)", 504e12, 1.8e12, 96,
                         "the user's card: ≈504 dense bf16 TFLOP/s, 1.8 TB/s (issue 16, NVIDIA's figures)"),
    "h100": Card("H100 SXM (80 GB)", 989e12, 3.35e12, 80, "NVIDIA datasheet, dense bf16"),
    "h200": Card("H200 (141 GB)", 989e12, 4.8e12, 141, "NVIDIA datasheet, dense bf16"),
    "a6000": Card("RTX A6000 (48 GB)", 154.8e12, 0.768e12, 48, "NVIDIA datasheet, dense bf16"),
    "rtx-4090": Card("RTX 4090 (24 GB)", 165.2e12, 1.008e12, 24, "NVIDIA datasheet, dense bf16, fp32 accumulate"),
}
DEFAULT_CARD = "rtx-pro-6000"

# Architectures of a few hub models, from their published config.json, so a base that is not on
# this machine still has a size. Keys: lower-case model name without the organisation and "-instruct".
KNOWN_CONFIGS = {
    "qwen2.5-3b": dict(hidden_size=2048, num_hidden_layers=36, num_attention_heads=16, num_key_value_heads=2,
                       intermediate_size=11008, vocab_size=151936, tie_word_embeddings=True),
    "qwen2.5-7b": dict(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                       intermediate_size=18944, vocab_size=152064, tie_word_embeddings=False),
    "qwen2.5-14b": dict(hidden_size=5120, num_hidden_layers=48, num_attention_heads=40, num_key_value_heads=8,
                        intermediate_size=13824, vocab_size=152064, tie_word_embeddings=False),
    "qwen2.5-32b": dict(hidden_size=5120, num_hidden_layers=64, num_attention_heads=40, num_key_value_heads=8,
                        intermediate_size=27648, vocab_size=152064, tie_word_embeddings=False),
    "llama-3.1-8b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                         intermediate_size=14336, vocab_size=128256, tie_word_embeddings=False),
}

# name: (default, what it is, where the default comes from)
ASSUMPTIONS = {
    "peak_tflops": (None, "dense bf16 TFLOP/s of the card", "the card's datasheet (--card)"),
    "bandwidth_tbs": (None, "memory bandwidth of the card, TB/s", "the card's datasheet (--card)"),
    "train_mfu": (0.30, "share of the peak that LoRA training sustains on the FLOPs it runs",
                  "DESIGN.md's ≈5,000 tok/s for Llama-3.1-8B LoRA (r 16) with plain HF on an RTX PRO 6000 is 31 % of "
                  "504 TFLOP/s under this FLOP count (2 × forward, no checkpointing); torchtune's published 4,699 tok/s "
                  "(A6000) and 2,413 tok/s (QLoRA, 4090) come to 95 % and 46 % of those cards' 155 and 165 TFLOP/s, "
                  "not plain HF's kernels, so they only bound it"),
    "nf4_slowdown": (1.75, "how much slower NF4 QLoRA trains than bf16 LoRA",
                     "DESIGN.md: bf16 LoRA is typically 1.5–2x faster than NF4 QLoRA at 7B–14B"),
    "eval_mfu": (0.40, "share of the peak a forward pass reaches when scoring (log-likelihoods, perplexity)",
                 "ltm's assumption: forward-only batches of 1–16k tokens; nothing measured on this card"),
    "decode_bandwidth": (0.35, "share of the bandwidth one `generate` step reaches while reading the weights",
                         "ltm's assumption for plain HF generate (no CUDA graphs, no paged cache)"),
    "tokens_per_word": (1.3, "tokens per word of the corpora and scenes, when the base's tokenizer is not here",
                        "ltm's assumption for English prose under a ~150k-vocabulary BPE (Qwen2.5, Llama 3); "
                        "other languages take more"),
    "load_gbps": (2.0, "GB/s at which the base's weights load (training, each evaluation, each variant)",
                  "ltm's assumption: safetensors from a local NVMe or the page cache"),
    "parameters": (None, "the base's parameters, in billions", "the model's config.json"),
    "train_tokens_per_s": (None, "training tokens/s (replaces the FLOP model)", "the FLOP model above"),
    "forward_tokens_per_s": (None, "scoring/perplexity tokens/s (replaces the FLOP model)", "the FLOP model above"),
    "decode_ms_per_step": (None, "milliseconds per generate step (replaces the bandwidth model)", "the bandwidth model above"),
}


def parse_assumptions(pairs: list[str] | None) -> dict[str, float]:
    """`--assume KEY=VALUE` pairs as numbers; an unknown key or a bad value is one error naming the keys."""
    out: dict[str, float] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in ASSUMPTIONS:
            raise LtmError(f"--assume {pair!r}: use KEY=VALUE with KEY one of {', '.join(ASSUMPTIONS)}")
        try:
            value = float(raw.replace(",", "").replace("_", ""))
        except ValueError:
            raise LtmError(f"--assume {pair!r}: {raw!r} is not a number") from None
        if value <= 0:
            raise LtmError(f"--assume {pair!r}: must be above 0")
        out[key] = value
    return out


@dataclass
class Assumed:
    """The assumed figures in use: the value of each and where it comes from ("yours" when given)."""

    card: Card
    values: dict[str, float]
    sources: dict[str, str]

    def __getitem__(self, key: str) -> float | None:
        return self.values.get(key)

    def label(self, key: str) -> str:
        return self.sources[key]

    def as_dict(self) -> dict:
        return {"card": dataclasses.asdict(self.card),
                **{k: {"value": v, "source": self.sources[k]} for k, v in self.values.items()}}


def assumptions(card: str | None = None, given: dict[str, float] | None = None) -> Assumed:
    name = card or DEFAULT_CARD
    if name not in CARDS:
        raise LtmError(f"--card {name!r}: not known — use one of {', '.join(CARDS)}, or give its figures with "
                       "--assume peak_tflops=… --assume bandwidth_tbs=…")
    spec, given = CARDS[name], dict(given or {})
    values: dict[str, float] = {"peak_tflops": spec.bf16_flops / 1e12, "bandwidth_tbs": spec.bandwidth / 1e12}
    sources = {"peak_tflops": spec.source, "bandwidth_tbs": spec.source}
    for key, (default, _what, source) in ASSUMPTIONS.items():
        if default is not None:
            values[key], sources[key] = default, source
    for key, value in given.items():
        values[key], sources[key] = value, f"yours (--assume {key}={value:g})"
    return Assumed(spec, values, sources)


def known_config(spec: str) -> dict | None:
    """The size table's architecture for a hub id, e.g. Qwen/Qwen2.5-7B-Instruct → qwen2.5-7b."""
    name = spec.rstrip("/").rsplit("/", 1)[-1].lower()
    for suffix in ("-instruct", "-it", "-chat"):
        name = name.removesuffix(suffix)
    name = name.replace("meta-llama-", "llama-")
    return KNOWN_CONFIGS.get(name)


def local_base(config):
    """The base's BaseRef when it is on this machine (embedded, a folder, or a hub id in the Hugging
    Face cache); None when it is not. Never downloads a hub model."""
    from . import realbase

    spec = config.base.model
    if spec in tinybase.RECIPES or spec in realbase.BASES or basemodel.looks_like_path(spec) \
            or Path(spec).expanduser().is_dir():
        return basemodel.resolve(spec, config.base.revision)  # a missing folder is its one-line error
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(spec, revision=config.base.revision, local_files_only=True))
    except Exception:
        return None
    return basemodel.BaseRef(spec, "hub", path, f"{spec.replace('/', '--')}@{path.name[:12]}")


@dataclass
class Architecture:
    """What the FLOP model needs of the base, and where it came from."""

    model_config: object | None   # a transformers-like config (None: only a parameter count is known)
    parameters: float             # all parameters
    matmul_parameters: float      # weights multiplied per token: every linear layer and the output head
    layers: int
    attention_width: int          # heads × head_dim
    source: str


def architecture(config, ref, given: dict[str, float]) -> Architecture:
    from types import SimpleNamespace

    if ref is not None:
        from transformers import AutoConfig

        model_config = AutoConfig.from_pretrained(ref.path, trust_remote_code=config.base.trust_remote_code)
        source = f"the model's config.json ({ref.path})"
    elif (known := known_config(config.base.model)) is not None:
        model_config = SimpleNamespace(**known)
        source = f"{config.base.model}'s published config.json (ltm's size table, ltm/estimate.py)"
    else:
        model_config = None
        source = ""
    if model_config is None:
        if "parameters" not in given:
            raise LtmError(f"base {config.base.model!r} is not on this machine and not in ltm's size table "
                           f"({', '.join(KNOWN_CONFIGS)}) — fetch it once with `ltm base {config.base.model}`, or give "
                           "its size: --assume parameters=7.6 (billions)")
        n = given["parameters"] * 1e9
        return Architecture(None, n, n, 0, 0, f"yours (--assume parameters={given['parameters']:g})")
    h = model_config.hidden_size
    heads = model_config.num_attention_heads
    head_dim = getattr(model_config, "head_dim", None) or h // heads
    vocab = model_config.vocab_size
    n = _parameters(model_config)
    embedding_lookup = 0 if getattr(model_config, "tie_word_embeddings", False) else vocab * h
    if "parameters" in given:  # the user's count wins; the shape still sets attention and memory
        scale = given["parameters"] * 1e9 / n
        n, embedding_lookup = n * scale, embedding_lookup * scale
        source = f"yours (--assume parameters={given['parameters']:g}); shape from {source}"
    return Architecture(model_config, n, n - embedding_lookup, model_config.num_hidden_layers, heads * head_dim, source)


def _parameters(model_config) -> float:
    return memory_parts(model_config, rank=0)[0]


def forward_flops(arch: Architecture, context: int) -> float:
    """FLOPs of one token's forward pass at `context` tokens: 2 per weight multiplied, plus causal
    attention (QKᵀ and AV over context/2 earlier tokens on average, each 2 FLOPs per pair and width)."""
    return 2 * arch.matmul_parameters + 2 * arch.layers * context * arch.attention_width


def lora_parameters(arch: Architecture, rank: int) -> float:
    return memory_parts(arch.model_config, rank)[1] if arch.model_config is not None else 0.0


def assumed_training(config, arch: Architecture, assumed: Assumed) -> dict:
    """Training tokens/s on the card from the FLOP model (or the user's figure), as a calibration dict."""
    tc = config.training
    passes = 3 if tc.gradient_checkpointing else 2  # forward + backward to the inputs (+ recomputed forward)
    per_token = passes * forward_flops(arch, tc.max_length) + 6 * lora_parameters(arch, tc.rank)
    peak = assumed["peak_tflops"] * 1e12
    if assumed["train_tokens_per_s"]:
        tokens_per_second = assumed["train_tokens_per_s"]
        how = f"{tokens_per_second:,.0f} tokens/s, {assumed.label('train_tokens_per_s')}"
    else:
        tokens_per_second = assumed["train_mfu"] * peak / per_token
        how = (f"{_percent(assumed['train_mfu'])} of {assumed['peak_tflops']:g} TFLOP/s on "
               f"{passes} × (2·N + attention) + 6·LoRA = {per_token / 1e9:.1f} GFLOP per token ("
               + ("forward, backward to the inputs, and the forward again for gradient checkpointing" if passes == 3
                  else "forward and backward to the inputs") + ")")
        if config.base.quantization == "nf4":
            tokens_per_second /= assumed["nf4_slowdown"]
            how += f", NF4 {assumed['nf4_slowdown']:g}x slower ({assumed.label('nf4_slowdown')})"
    tokens_per_step = tc.batch_size * tc.grad_accum * recipe.world_size() * tc.max_length
    return {"machine": f"assumed|-|{assumed.card.name}", "assumed": True, "tokens_per_second": tokens_per_second,
            "seconds_per_step": tokens_per_step / tokens_per_second, "startup_seconds": 0.0,
            "tokens_per_step": tokens_per_step, "flops_per_token": per_token, "how": how}


CPU_CALIBRATION_LIMIT = 2e9  # parameters: above this a CPU calibration takes hours and says nothing of a GPU


def _percent(share: float) -> str:
    return f"{share * 100:.0f} %"


def assumption_reason(config, ref, forced: bool, parameters: float) -> str | None:
    """Why this machine cannot measure the config (None: it can, and `ltm estimate` measures)."""
    if forced:
        return "--card or --assume given"
    import torch

    if ref is None:
        return f"{config.base.model} is not on this machine" + ("" if torch.cuda.is_available() else " and it has no CUDA")
    if torch.cuda.is_available():
        return None
    if config.base.dtype in ("bf16", "fp16"):
        return f"the config runs {config.base.dtype} on a GPU and this machine has no CUDA"
    if parameters > CPU_CALIBRATION_LIMIT:
        return (f"a {parameters / 1e9:.1f} B model on a machine without CUDA: a calibration here would take hours "
                "and would not tell a GPU's time")
    return None


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


def parse_books(text: str | None) -> tuple[int, float] | None:
    """`--books 10x100`: ten corpora of 100 pages each, in place of the shelf."""
    if not text:
        return None
    count, sep, pages = text.lower().replace("×", "x").partition("x")
    try:
        result = int(count), float(pages)
    except ValueError:
        result = None
    if not sep or result is None or result[0] < 1 or result[1] <= 0:
        raise LtmError(f"--books {text!r}: use COUNTxPAGES, e.g. --books 10x100 for ten 100-page books")
    return result


def estimate(config, paths: list[Path], pages: list[float], recalibrate: bool = False, card: str | None = None,
             assume: dict[str, float] | None = None, books: tuple[int, float] | None = None) -> dict:
    """Everything `ltm estimate` prints, as data.

    Measured on this machine when it can run the config (CUDA, or a small base on CPU); otherwise,
    or with `card`/`assume`, from the stated assumptions (`ASSUMPTIONS`, `CARDS`) for that card."""
    given = dict(assume or {})
    ref = local_base(config)
    arch = architecture(config, ref, given)
    reason = assumption_reason(config, ref, card is not None or bool(given), arch.parameters)
    assumed = assumptions(card, given) if reason is not None else None
    tokenizer = basemodel.load_tokenizer(config.base.model, config.base.revision) if ref is not None else None
    count = TokenCount(tokenizer, assumed["tokens_per_word"] if assumed else None)
    per_page, rows = tokens_per_page(config, paths, count)
    if not rows or not per_page:
        per_page = 500 * (assumed["tokens_per_word"] if assumed else 1.3)  # corpora.WORDS_PER_PAGE words
    if books:
        n, book_pages = books
        rows = [{"corpus": f"{book_pages:g}-page book", "tokens": int(round(book_pages * per_page)), "pages": book_pages,
                 "count": n, "tokens_per_page": round(per_page, 1)}]
    if assumed is None:
        calibration = calibrate(config, force=recalibrate)
        memory = memory_estimate(config, arch.model_config)
    else:
        calibration = assumed_training(config, arch, assumed)
        memory = memory_estimate(config, arch.model_config, on_cuda=True) if arch.model_config is not None else None
    tc = config.training
    table = []
    for p in pages:
        tokens = int(round(p * per_page))
        steps = steps_for_tokens(config, tokens)
        table.append({"pages": p, "tokens": tokens, "steps": steps, "seconds": round(seconds_for_steps(calibration, steps), 1)})
    for row in rows:
        row["steps"] = steps_for_tokens(config, int(row["tokens"] * (1 - config.corpora.heldout_fraction)))
        row["train_seconds"] = round(seconds_for_steps(calibration, row["steps"]), 1)
        row["too_few_steps"] = row["steps"] < recipe.MIN_STEPS
    sweep = config.sweep
    corpora_count = sum(r["count"] for r in rows)
    extra_seeds = max(0, len(sweep.seeds) - 1) * (corpora_count if sweep.seed_every_corpus else min(1, corpora_count))
    runs = corpora_count + extra_seeds + sweep.trials
    trained = sum(r["count"] * r["train_seconds"] for r in rows)
    mean = trained / corpora_count if corpora_count else 0.0
    overnight = {"trainings": runs, "seconds": round(trained + (runs - corpora_count) * mean, 1)}
    try:
        evaluation = _evaluation(config, rows, recalibrate, count, arch, assumed, extra_seeds, runs)
    except LtmError as exc:  # no scenes yet: the training estimate still stands
        evaluation = {"error": str(exc).splitlines()[0], "sweep_seconds": 0.0, "load_seconds": 0.0}
    return {
        "base": config.base.model, "quantization": config.base.quantization,
        "measured": assumed is None, "why_assumed": reason,
        "assumptions": assumed.as_dict() if assumed else None,
        "parameters": arch.parameters, "parameters_source": arch.source,
        "tokens_counted": "tokenizer" if count.measured else "assumed tokens per word",
        "tokens_per_page": round(per_page, 1), "corpora": rows, "calibration": calibration,
        "pages": table, "memory": memory, "overnight_training": overnight, "evaluation": evaluation,
        "overnight_seconds": round(overnight["seconds"] + evaluation["sweep_seconds"] + evaluation.get("load_seconds", 0.0), 1),
        "training": dataclasses.asdict(tc),
    }


def _evaluation(config, rows: list[dict], recalibrate: bool, count: TokenCount, arch: Architecture,
                assumed: Assumed | None, extra_seeds: int, trainings: int) -> dict:
    """Evaluation time of the configured sweep (ltm/estimate_eval.py): the base row and each format
    variant once, one row per training, and a choice-only pruning pass per stage-2 trial; plus the
    base loads (once per training, and per evaluation the base and each variant again)."""
    from .estimate_eval import assumed_eval, calibrate_eval, row_parts, row_plan, row_seconds
    from .testbench.run import _variant_rows

    plan = row_plan(config, count)
    if assumed is None:
        calibration = calibrate_eval(config, force=recalibrate)
    else:
        calibration = assumed_eval(config, arch, assumed, plan)
    for row in rows:
        row["eval_seconds"] = round(row_seconds(calibration, plan, int(row["tokens"] * config.corpora.heldout_fraction)), 1)
    corpora_count = sum(r["count"] for r in rows)
    trained = sum(r["count"] * r["eval_seconds"] for r in rows)
    base_row = row_seconds(calibration, plan)
    mean = trained / corpora_count if corpora_count else base_row
    sweep = config.sweep
    variants = len(_variant_rows(config))
    choice_only = row_seconds(calibration, plan, choice_only=True)
    seconds = ((1 + variants) * base_row + trained + extra_seeds * (rows[0]["eval_seconds"] if rows else mean)
               + sweep.trials * (mean + choice_only))
    # Loads: one per training; per evaluation the base and each variant (ltm/testbench/run.py loads them
    # anew each call); a stage-2 trial's pruning pass shares its full pass's base, without variants (ltm/sweep.py).
    loads = trainings + (corpora_count + extra_seeds + sweep.trials) * (1 + variants)
    load_seconds = loads * calibration.get("seconds_per_load", 0.0)
    return {"calibration": calibration, "row": plan, "row_seconds": round(mean, 1), "parts": row_parts(calibration, plan),
            "rows": 1 + variants + corpora_count + extra_seeds + sweep.trials, "variants": variants,
            "pruning_passes": sweep.trials, "choice_only_seconds": round(choice_only, 1),
            "sweep_seconds": round(seconds, 1), "loads": loads, "load_seconds": round(load_seconds, 1)}
