"""The KV cache argument across transformers releases.

transformers 5.25 renamed the decoding cache from ``past_key_values`` to ``cache`` (argument
and output) and warns on the old name at every call; releases before it know only the old
name. ltm accepts both (``transformers>=5.0``), so decode loops ask here which one to use.
"""

from __future__ import annotations

import functools
import inspect


@functools.cache
def _argument_for(model_class) -> str:
    parameters = inspect.signature(model_class.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _base_class(model):
    get_base = getattr(model, "get_base_model", None)  # a PeftModel wraps the transformers model
    return type(get_base() if callable(get_base) else model)


def step(model, input_ids, cache=None, **kwargs):
    """One forward with the cache; returns (output, the cache to pass next time)."""
    if cache is not None:
        kwargs[_argument_for(_base_class(model))] = cache
    out = model(input_ids=input_ids, use_cache=True, **kwargs)
    new = getattr(out, "cache", None)
    return out, new if new is not None else out.past_key_values


def accepts(model, argument: str) -> bool:
    """Whether the (base) model's forward takes ``argument`` by name, e.g. ``logits_to_keep``."""
    return argument in inspect.signature(_base_class(model).forward).parameters
