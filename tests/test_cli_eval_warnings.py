"""An eval row prints no FutureWarning: every call that hands the model a KV cache names it the way
this transformers wants (`cache` since 5.25, `past_key_values` before; ltm/kvcache.py).

The paths are the ones `ltm eval` runs per row — choices scored against a shared context's cache,
greedy generation, the latency loop with its top-k cloud, the judge's continuation scores — on
ltm-nano, plain and under a LoRA (peft), with FutureWarning turned into an error."""

from __future__ import annotations

import warnings

import pytest


@pytest.fixture(scope="module")
def nano():
    from ltm import basemodel

    return basemodel.load_model(basemodel.resolve("ltm-nano")), basemodel.load_tokenizer("ltm-nano")


@pytest.fixture(scope="module")
def nano_lora(nano):
    import copy

    from peft import LoraConfig, get_peft_model

    model, _ = nano
    return get_peft_model(copy.deepcopy(model), LoraConfig(r=2, target_modules="all-linear"))


def _eval_paths(model, tokenizer):
    from ltm.config import DecodingConfig
    from ltm.testbench.generate import generate
    from ltm.testbench.latency import measure_latency
    from ltm.testbench.loglik import loglikelihood

    pairs = [("Anna is taller than Ben. Ben is taller than Carl. So Anna is", c) for c in (" taller", " shorter")]
    loglikelihood(model, tokenizer, pairs, batch_size=4)  # the shared-context path: a cache per context
    generate(model, tokenizer, ["Emma has the cup. So now"], DecodingConfig(max_new_tokens=4))
    measure_latency(model, tokenizer, new_tokens=3, repeats=1, warmup=0)


@pytest.mark.parametrize("which", ["base", "lora"])
def test_an_eval_row_emits_no_future_warning(nano, nano_lora, which):
    model, tokenizer = nano
    model = model if which == "base" else nano_lora
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        _eval_paths(model, tokenizer)


def test_the_cache_goes_under_the_name_this_transformers_takes(nano):
    import inspect

    from ltm import kvcache

    model, _ = nano
    parameters = inspect.signature(type(model).forward).parameters
    assert kvcache._argument_for(type(model)) == ("cache" if "cache" in parameters else "past_key_values")
