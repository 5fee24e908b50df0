"""Attention entropy per layer: does an adapter sharpen or spread the network's attention?

Why: the user asked to look into the trained network's attention structure. The mean entropy
(nats) of each layer's attention rows is a compact summary: lower than the base means the
adapter makes heads focus on fewer tokens, higher means it spreads attention out.

Conventions:
- texts are tokenized without padding and padded on the right here, with an attention mask;
  padding keys and padding queries are excluded, so a text gives the same figure alone or
  in a batch;
- the first query position is skipped: under the causal mask it can attend only to itself,
  so its entropy is 0 by construction and would only dilute the mean;
- a layer's figure is the mean over heads and query positions of each text, then the mean
  over texts (every text weighs the same); texts of a single token have no query to count
  and are skipped.
Attention weights come from ``output_attentions=True``, which needs the eager attention
implementation; an sdpa/flash model is switched to eager for the call and switched back after.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from .. import atomic


def _base_model(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _attn_implementation(model) -> str | None:
    return getattr(_base_model(model).config, "_attn_implementation", None)


def _entropy_sums(attentions, mask):
    """Per text and layer: (sum of row entropies over heads and counted queries, count)."""
    import torch

    valid = mask.bool()                                   # (B, L) non-padding tokens
    length = valid.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=valid.device).tril()
    allowed = causal[None] & valid[:, None, :]            # (B, Q, K) keys a query may see
    queries = valid.clone()
    queries[:, 0] = False                                 # first position: entropy 0 by construction
    sums, counts = [], queries.sum(dim=1)                  # counts: (B,)
    for layer in attentions:                               # (B, H, Q, K)
        probs = layer.float()
        row = -(torch.xlogy(probs, probs) * allowed[:, None]).sum(dim=-1)   # (B, H, Q)
        row = row * queries[:, None]
        sums.append(row.sum(dim=(1, 2)) / layer.shape[1])  # mean over heads, sum over queries
    return torch.stack(sums, dim=1), counts               # (B, layers), (B,)


def attention_entropy(model, tokenizer, texts: list[str], batch_size: int = 8, max_length: int | None = None) -> list[float]:
    """Mean attention entropy (nats) per layer over heads, non-padding queries (but the first) and texts."""
    import torch

    if not texts:
        raise ValueError("attention_entropy needs at least one text")
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    encoded = [tokenizer(text, truncation=max_length is not None, max_length=max_length)["input_ids"] for text in texts]

    base = _base_model(model)
    previous = _attn_implementation(model)
    was_training = model.training
    per_text = []
    try:
        if previous != "eager":
            base.set_attn_implementation("eager")
        model.eval()
        with torch.inference_mode():
            for start in range(0, len(encoded), batch_size):
                chunk = [ids for ids in encoded[start:start + batch_size] if len(ids) >= 2]
                if not chunk:
                    continue
                width = max(len(ids) for ids in chunk)
                input_ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, ids in enumerate(chunk):
                    input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                    mask[row, : len(ids)] = 1
                input_ids, mask = input_ids.to(device), mask.to(device)
                out = model(input_ids=input_ids, attention_mask=mask, output_attentions=True, use_cache=False)
                if not out.attentions or out.attentions[0] is None:
                    raise RuntimeError("the model returned no attention weights (output_attentions=True under eager)")
                sums, counts = _entropy_sums(out.attentions, mask)
                per_text.append((sums / counts[:, None]).cpu())
    finally:
        model.train(was_training)
        if previous is not None and _attn_implementation(model) != previous:
            base.set_attn_implementation(previous)
    if not per_text:
        raise ValueError("every text is a single token: no query position to measure")
    means = torch.cat(per_text).double().mean(dim=0)
    return [float(value) for value in means]


def write_attention_report(rows: dict[str, list[float]], out_dir: Path) -> tuple[str, Path]:
    """Write ``attention_entropy.csv`` and ``.png`` atomically; return (Markdown table, PNG path).

    The table has a column per row (3 decimals) and, for every row after the first, a
    ``Δ vs <first row>`` column (negative: that row's attention is sharper than the first's).
    """
    if not rows:
        raise ValueError("write_attention_report needs at least one row")
    names = list(rows)
    layers = len(rows[names[0]])
    if any(len(values) != layers for values in rows.values()):
        raise ValueError("every row must have one value per layer: " + ", ".join(f"{n}={len(v)}" for n, v in rows.items()))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["layer", *names])
    for layer in range(layers):
        writer.writerow([layer, *(f"{rows[name][layer]:.6f}" for name in names)])
    atomic.write_text(out_dir / "attention_entropy.csv", buffer.getvalue())

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.0))
    FigureCanvasAgg(figure)  # Agg canvas on this figure only: no global backend switch, no display
    axes = figure.subplots()
    for name in names:
        axes.plot(range(layers), rows[name], marker="o", label=name)
    axes.set_xlabel("layer")
    axes.set_ylabel("mean attention entropy (nats)")
    axes.set_title("Attention entropy per layer")
    axes.set_xticks(range(layers))
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=120)
    png = out_dir / "attention_entropy.png"
    atomic.write_bytes(png, image.getvalue())

    first = names[0]
    header = ["layer", *names, *(f"Δ {name} vs {first}" for name in names[1:])]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    for layer in range(layers):
        cells = [str(layer), *(_cell(rows[name][layer]) for name in names)]
        cells += [_cell(rows[name][layer] - rows[first][layer], signed=True) for name in names[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines), png


def _cell(value: float, signed: bool = False) -> str:
    if not math.isfinite(value):
        return "—"
    return f"{value:+.3f}" if signed else f"{value:.3f}"
