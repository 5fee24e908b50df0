"""The memory a training needs, as arithmetic: weights + LoRA + optimizer + activations + logits.

An analytic upper bound from the base's architecture (hidden size, layers, heads, vocabulary)
and the training settings, with the parts shown; `ltm estimate` prints it and the preflight
(ltm/preflight.py) warns with it before a large load. `memory_parts` also gives the parameter
counts the assumed-card FLOP model (ltm/estimate_assumed.py) multiplies.
"""

from __future__ import annotations


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
