"""Build the embedded base models (`ltm-tiny`, `ltm-nano`) offline from shipped text.

Why: on a machine with no GPU and no model hub the loop must still run end to end, and
LoRA on a randomly initialised model does not learn (loss stays at ln(vocab)). So we train
a byte-level BPE tokenizer and briefly pretrain a small Llama on `ltm/data/pretrain.txt`.
The result is deterministic from the recipe's seed and cached under the user cache dir,
keyed by a hash of the recipe and the text, so it is built once per machine.

- `ltm-tiny`: the demo base (hidden 256, 4 layers, 3.5M parameters). Measured on 2 cores,
  this size with name-repetition pretraining is what lets a reasoning corpus separate from
  distractors (see docs/benchmarks.md for its build time).
- `ltm-nano`: a ~0.2M-parameter base for fast tests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from . import atomic
from .keys import version
from .progress import progress_bar

PRETRAIN_TEXT = Path(__file__).parent / "data" / "pretrain.txt"
RECIPE_VERSION = version("embedded base")  # ltm/keys.py: every cached artifact, its key and its code
SPECIAL_TOKENS = ["<|endoftext|>", "<|pad|>"]


@dataclass(frozen=True)
class TinyRecipe:
    name: str
    hidden: int
    layers: int
    heads: int
    intermediate: int
    context: int
    steps: int
    batch: int
    lr: float
    vocab_size: int = 2048
    seed: int = 0


RECIPES = {
    "ltm-tiny": TinyRecipe("ltm-tiny", hidden=256, layers=4, heads=4, intermediate=688, context=128, steps=1000, batch=16, lr=3e-3),
    "ltm-nano": TinyRecipe("ltm-nano", hidden=64, layers=2, heads=2, intermediate=176, context=128, steps=300, batch=16, lr=5e-3),
}


def cache_root() -> Path:
    """`$LTM_CACHE_DIR`, else `$XDG_CACHE_HOME/ltm`, else `~/.cache/ltm`."""
    if os.environ.get("LTM_CACHE_DIR"):
        return Path(os.environ["LTM_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "ltm"


def _text_sha() -> str:
    return hashlib.sha256(PRETRAIN_TEXT.read_bytes()).hexdigest()


def tokenizer_hash(vocab_size: int) -> str:
    blob = json.dumps({"v": RECIPE_VERSION, "vocab": vocab_size, "text": _text_sha(), "special": SPECIAL_TOKENS})
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def recipe_hash(recipe: TinyRecipe) -> str:
    blob = json.dumps({"v": RECIPE_VERSION, "recipe": dataclasses.asdict(recipe), "text": _text_sha()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _locked(path: Path):
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path) + ".lock")


def tokenizer_dir(vocab_size: int = 2048) -> Path:
    """Folder of the trained tokenizer, training it first if needed (< 1 s)."""
    final = cache_root() / "tokenizers" / f"bpe{vocab_size}-{tokenizer_hash(vocab_size)}"
    with _locked(final):
        if not (final / "tokenizer.json").exists():
            with atomic.directory(final) as tmp:
                _train_tokenizer(vocab_size).save_pretrained(tmp)
    return final


def _train_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    text = PRETRAIN_TEXT.read_text(encoding="utf-8")
    tok.train_from_iterator(text.split("\n\n"), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|pad|>",
        model_max_length=4096,
    )


def model_dir(name: str) -> Path:
    """Folder of the built model `name`, building it first if it is not cached."""
    recipe = RECIPES[name]
    final = cache_root() / "models" / f"{name}-{recipe_hash(recipe)}"
    with _locked(final):
        if not (final / "ltm_recipe.json").exists():
            with atomic.directory(final) as tmp:
                _build_model(recipe, tmp)
    return final


def _build_model(recipe: TinyRecipe, out: Path) -> None:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir(recipe.vocab_size))
    ids = tokenizer(PRETRAIN_TEXT.read_text(encoding="utf-8"), verbose=False)["input_ids"]
    data = torch.tensor(ids, dtype=torch.long)

    torch.manual_seed(recipe.seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.hidden,
        intermediate_size=recipe.intermediate,
        num_hidden_layers=recipe.layers,
        num_attention_heads=recipe.heads,
        num_key_value_heads=recipe.heads,
        max_position_embeddings=recipe.context,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.01, betas=(0.9, 0.95))
    warmup = max(1, recipe.steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, recipe.steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    generator = torch.Generator().manual_seed(recipe.seed)
    window = recipe.context
    losses = []
    n_params = sum(p.numel() for p in model.parameters())
    with progress_bar(f"building {recipe.name} ({n_params / 1e6:.2f}M params)", total=recipe.steps) as advance:
        for _ in range(recipe.steps):
            starts = torch.randint(0, len(data) - window - 1, (recipe.batch,), generator=generator)
            batch = torch.stack([data[s : s + window] for s in starts])
            loss = model(input_ids=batch, labels=batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            advance(1, loss=losses[-1])
    model.eval()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    info = {
        "recipe": dataclasses.asdict(recipe),
        "recipe_hash": recipe_hash(recipe),
        "parameters": n_params,
        "pretrain_tokens": len(ids),
        "first_loss": losses[0],
        "last_loss": sum(losses[-20:]) / len(losses[-20:]),
        "build_seconds": round(time.perf_counter() - started, 1),
        "torch": torch.__version__,
    }
    atomic.write_json(out / "ltm_recipe.json", info)
