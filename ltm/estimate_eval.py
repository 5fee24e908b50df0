"""How long evaluating one row takes on this machine, for `ltm estimate`'s sweep time.

Why: a sweep's night is training *and* evaluation, and on the real shelf evaluating a row cost
as much as training its adapter (docs/benchmarks.md). The estimate used to leave it out.

A short calibration times ltm's own three kinds of work on the real base, with the configured
batch settings: choice items (log-likelihood of every choice, `items.score_choices`), generated
items (short and open answers, `generate` to `testbench.decoding.max_new_tokens`), and
perplexity (per token, `perplexity.perplexity`). A row is then counted, not guessed: its scene
items by kind (after `testbench.tags`), the general text's tokens, and its corpus's held-out
tokens. Open items are judged (the judge reads each answer, and pairwise against the base in
both orders): each counts as one generated item plus three choice items — an assumption, said
here and in the output. Cached per machine, base and batch settings, like the training one.
"""

from __future__ import annotations

import hashlib
import json
import time

from . import atomic, basemodel, tinybase

CHOICE_ITEMS = 16   # choice items timed (after 2 of warm-up)
GENERATED_ITEMS = 4
PERPLEXITY_TOKENS = 2048
JUDGE_CHOICE_EQUIVALENT = 3  # an open item's judging ≈ this many choice items (verdict + 2 pairwise orders)


def _key(config) -> str:
    from .estimate import machine_id

    tb = config.testbench
    spec = {"machine": machine_id(), "base": config.base.model, "quantization": config.base.quantization,
            "dtype": config.base.dtype, "attn": config.base.attn_implementation, "batch": tb.batch_size,
            "batch_tokens": tb.batch_tokens, "new_tokens": tb.decoding.max_new_tokens, "v": 1}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def calibrate_eval(config, force: bool = False) -> dict:
    """Seconds per choice item, per generated item and per perplexity token, measured here."""
    path = tinybase.cache_root() / "calibration" / f"eval-{_key(config)}.json"
    if path.exists() and not force:
        return json.loads(path.read_text())
    import torch

    from .estimate import machine_id
    from .testbench.generate import generate
    from .testbench.items import score_choices
    from .testbench.perplexity import general_text, perplexity
    from .testbench.run import tested_scenes

    tb = config.testbench
    scenes = tested_scenes(config)
    choice = [s for s in scenes.items if s.kind == "choice"][:CHOICE_ITEMS + 2]
    generated = [s for s in scenes.items if s.kind != "choice"][:GENERATED_ITEMS]
    if not generated:  # a choice-only shelf still gets a generation rate, from choice prompts
        generated = [s for s in scenes.items][:GENERATED_ITEMS]
    ref = basemodel.resolve(config.base.model, config.base.revision)
    tokenizer = basemodel.load_tokenizer(config.base.model, config.base.revision)
    model = basemodel.load_model(ref, config.base.quantization, config.base.dtype, config.base.trust_remote_code,
                                 config.base.attn_implementation)
    model.eval()

    def timed(run) -> float:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter() - start

    with torch.inference_mode():
        score_choices(model, tokenizer, scenes, choice[:2], tb.batch_size, tb.batch_tokens)  # warm-up
        timed_choice = choice[2:] or choice
        choice_s = timed(lambda: score_choices(model, tokenizer, scenes, timed_choice, tb.batch_size, tb.batch_tokens))
        prompts = [scenes.input_text(s) for s in generated]
        gen_s = timed(lambda: generate(model, tokenizer, prompts, tb.decoding, tb.batch_size))
        from .corpora import tokenize

        text = general_text(config.scoring.general_text)
        ids = tokenize(text, tokenizer)[:PERPLEXITY_TOKENS]
        sample = tokenizer.decode(ids)
        ppl_s = timed(lambda: perplexity(model, tokenizer, sample, max(1, tb.batch_size // 2), batch_tokens=tb.batch_tokens))
    result = {
        "machine": machine_id(),
        "seconds_per_choice_item": choice_s / len(timed_choice),
        "seconds_per_generated_item": gen_s / len(prompts),
        "seconds_per_perplexity_token": ppl_s / max(1, len(ids)),
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    atomic.write_json(path, result)
    return result


def row_plan(config, tokenizer) -> dict:
    """What one row evaluates: items by kind and the general text's tokens (held-out come per corpus)."""
    from .corpora import tokenize
    from .testbench.perplexity import MAX_TOKENS, general_text
    from .testbench.run import tested_scenes

    scenes = tested_scenes(config)
    kinds = [s.kind for s in scenes.items]
    return {"choice": kinds.count("choice"), "short": kinds.count("short"), "open": kinds.count("open"),
            "general_tokens": min(MAX_TOKENS, len(tokenize(general_text(config.scoring.general_text), tokenizer)))}


def row_seconds(calibration: dict, plan: dict, heldout_tokens: int = 0, choice_only: bool = False) -> float:
    """Predicted seconds of one row (`choice_only`: the sweep's stage-2 pruning pass)."""
    from .testbench.perplexity import MAX_TOKENS

    choice = plan["choice"] * calibration["seconds_per_choice_item"]
    if choice_only:
        return choice
    generated = (plan["short"] + plan["open"]) * calibration["seconds_per_generated_item"]
    judged = plan["open"] * JUDGE_CHOICE_EQUIVALENT * calibration["seconds_per_choice_item"]
    tokens = plan["general_tokens"] + min(MAX_TOKENS, heldout_tokens)
    return choice + generated + judged + tokens * calibration["seconds_per_perplexity_token"]
