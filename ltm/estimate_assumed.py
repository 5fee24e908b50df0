"""`ltm estimate` for a card this machine does not have: every rate from stated assumptions.

When nothing can be measured here (no CUDA while the config runs bf16 on a GPU, or the base is
not on this machine), every rate is derived from stated figures instead: the card's peak and
bandwidth (`CARDS`), the base's size (its config.json, or ltm's size table `KNOWN_CONFIGS`),
and an assumed share of the peak (`ASSUMPTIONS`). Each figure is printed with "assumed" and
where it comes from, and `--assume KEY=VALUE` replaces any of them. `assumption_reason` says
why this machine cannot measure; the measured path is ltm/estimate_measure.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from . import basemodel, recipe, tinybase
from .errors import LtmError
from .estimate_memory import memory_parts


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
    "load_gbps": (2.0, "GB/s at which the base's weights load (training, each evaluation, each format row)",
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
        source = f"{config.base.model}'s published config.json (ltm's size table, ltm/estimate_assumed.py)"
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
