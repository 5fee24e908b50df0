"""Testbench probes on ltm-nano: measured latency (ms) and per-layer attention entropy."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from ltm.basemodel import load_model, load_tokenizer, resolve
from ltm.testbench.attention import attention_entropy, write_attention_report
from ltm.testbench.latency import FIXED_PROMPT, latency_model, measure_latency

TEXTS = [
    "Alice went to the market and bought three apples.",
    "The river flows quietly past the old mill, where the miller keeps his bread warm by the stove.",
    "Bob said hello.",
]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("ltm-nano")


@pytest.fixture(scope="module")
def ref():
    return resolve("ltm-nano")


@pytest.fixture
def model(ref):
    return load_model(ref)


@pytest.fixture
def peft_model(ref):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    return get_peft_model(load_model(ref), LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))


def _impl(model):
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.config._attn_implementation


# --- latency -----------------------------------------------------------------------------------

LATENCY_KEYS = {"ttft_ms", "ms_per_token", "topk_cloud_ms", "topk_overhead", "prompt_tokens", "new_tokens", "k", "device", "dtype"}


def _check_latency(result):
    assert LATENCY_KEYS <= set(result)
    for key in ("ttft_ms", "ms_per_token", "topk_cloud_ms", "topk_overhead"):
        assert math.isfinite(result[key]) and result[key] > 0, (key, result[key])
    assert result["prompt_tokens"] > 10 and result["k"] == 5 and result["new_tokens"] == 8
    line = latency_model(result)
    assert "ms" in line and "top-5" in line
    return line


def test_fixed_prompt_is_about_thirty_words():
    assert 25 <= len(FIXED_PROMPT.split()) <= 40


def test_latency_on_the_base(model, tokenizer):
    model.train()
    result = measure_latency(model, tokenizer, new_tokens=8, repeats=3)
    line = _check_latency(result)
    assert model.training  # mode restored
    assert result["device"] == "cpu" or result["device"].startswith("cuda")
    print(f"\nbase latency: {result}\n  {line}")


def test_latency_on_a_peft_model(peft_model, tokenizer):
    result = measure_latency(peft_model, tokenizer, new_tokens=8, repeats=3)
    line = _check_latency(result)
    print(f"\nadapter latency: {result}\n  {line}")


def test_latency_rejects_too_few_tokens(model, tokenizer):
    with pytest.raises(ValueError):
        measure_latency(model, tokenizer, new_tokens=1)


# --- attention entropy -------------------------------------------------------------------------

def test_one_value_per_layer_within_bounds(model, tokenizer):
    values = attention_entropy(model, tokenizer, TEXTS)
    assert len(values) == model.config.num_hidden_layers
    longest = max(len(tokenizer(text).input_ids) for text in TEXTS)
    for value in values:
        assert 0.0 < value <= math.log(longest), values
    print(f"\nbase attention entropy per layer: {[round(v, 4) for v in values]} (ln {longest} = {math.log(longest):.3f})")


def test_padding_is_masked(model, tokenizer):
    short, long = TEXTS[2], TEXTS[1]
    assert len(tokenizer(short).input_ids) < len(tokenizer(long).input_ids)
    alone = attention_entropy(model, tokenizer, [short])
    long_alone = attention_entropy(model, tokenizer, [long])
    batched = attention_entropy(model, tokenizer, [short, long], batch_size=2)
    one_by_one = attention_entropy(model, tokenizer, [short, long], batch_size=1)
    for a, b, c, d in zip(alone, long_alone, batched, one_by_one, strict=True):
        assert c == pytest.approx(d, abs=1e-4)
        assert c == pytest.approx((a + b) / 2, abs=1e-4)  # mean over texts, each weighing the same


def test_uniform_attention_gives_the_log_of_the_key_count(ref, tokenizer):
    model = load_model(ref)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.zero_()  # all scores 0 -> uniform over the allowed keys
            if layer.self_attn.q_proj.bias is not None:
                layer.self_attn.q_proj.bias.zero_()

    def expected(text):
        length = len(tokenizer(text).input_ids)
        return sum(math.log(i + 1) for i in range(1, length)) / (length - 1)  # query i sees i+1 keys

    for value in attention_entropy(model, tokenizer, [TEXTS[1]]):
        assert value == pytest.approx(expected(TEXTS[1]), abs=1e-4)
    # In a padded batch the short text must still see only its own keys.
    both = (expected(TEXTS[1]) + expected(TEXTS[2])) / 2
    for value in attention_entropy(model, tokenizer, [TEXTS[1], TEXTS[2]], batch_size=2):
        assert value == pytest.approx(both, abs=1e-4)


def test_adapter_changes_entropy_and_the_implementation_is_restored(peft_model, tokenizer):
    before = _impl(peft_model)
    assert before != "eager"  # the base loads with sdpa, so the switch is exercised
    adapted = attention_entropy(peft_model, tokenizer, TEXTS)
    assert _impl(peft_model) == before
    with peft_model.disable_adapter():
        base = attention_entropy(peft_model, tokenizer, TEXTS)
    assert _impl(peft_model) == before
    assert len(adapted) == len(base) == peft_model.get_base_model().config.num_hidden_layers
    assert max(abs(a - b) for a, b in zip(adapted, base, strict=True)) > 1e-3
    print(f"\nentropy base {[round(v, 4) for v in base]} vs adapter {[round(v, 4) for v in adapted]}")


def test_implementation_restored_after_an_error(model, tokenizer):
    before = _impl(model)
    with pytest.raises(ValueError):
        attention_entropy(model, tokenizer, [])
    with pytest.raises(ValueError):
        attention_entropy(model, tokenizer, ["x"], max_length=1)  # one token: nothing to measure
    assert _impl(model) == before


def test_write_attention_report(tmp_path):
    rows = {"base": [1.2, 0.9, 0.7], "adapter-a": [1.1, 1.0, 0.5]}
    markdown, png = write_attention_report(rows, tmp_path / "report")
    assert png == tmp_path / "report" / "attention_entropy.png"
    assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(tmp_path / "report" / "attention_entropy.csv", newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == ["layer", "base", "adapter-a"] and len(table) == 4
    assert float(table[3][2]) == pytest.approx(0.5)
    lines = markdown.splitlines()
    assert lines[0] == "| layer | base | adapter-a | Δ adapter-a vs base |"
    assert len(lines) == 2 + 3
    assert lines[2] == "| 0 | 1.200 | 1.100 | -0.100 |"
    assert not [p for p in (tmp_path / "report").iterdir() if p.name.startswith(".")]  # no temp files left
    print("\n" + markdown)
    with pytest.raises(ValueError):
        write_attention_report({"a": [1.0], "b": [1.0, 2.0]}, tmp_path)
