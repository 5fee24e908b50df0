"""How long evaluating one row takes on this machine, for `ltm estimate`'s sweep time.

Why: a sweep's night is training *and* evaluation, and on the real shelf evaluating a row cost
as much as training its adapter (docs/benchmarks.md). The estimate used to leave it out.

A short calibration times ltm's own three kinds of work on the real base, with the configured
batch settings: choice items (log-likelihood of every choice, `items.score_choices`), generated
items (short and open answers, `generate` to `testbench.decoding.max_new_tokens`), and
perplexity (per token, `perplexity.perplexity`). A row is then counted, not guessed: its scene
items by kind (after `testbench.tags`), the general text's tokens, and its corpus's held-out
tokens, and the configured lm-eval benchmarks from a table of their sizes (`BENCHMARKS`: items,
choices, assumed tokens per request; a task not in it is listed as not counted). Open items are
judged (the judge reads each answer, and pairwise against the base in both orders): each counts
as one generated item plus three choice items — an assumption, said here and in the output. Cached per machine, base and batch settings under the config's runs_dir, like the training one.

Where nothing can be measured (ltm/estimate_assumed.py's assumed mode: a card this machine does not have),
`assumed_eval` derives the same rates from FLOPs and bytes: a scored or perplexity token costs its
forward FLOPs at an assumed share of the card's peak; a `generate` step reads the weights once at
an assumed share of its bandwidth (or its batch's FLOPs, when more); every answer is assumed to run
to its token limit; a base load reads the weights at an assumed rate.
"""

from __future__ import annotations

import hashlib
import json
import math
import time

from . import atomic, basemodel

CHOICE_ITEMS = 16   # choice items timed (after 2 of warm-up)
GENERATED_ITEMS = 4
PERPLEXITY_TOKENS = 2048
JUDGE_CHOICE_EQUIVALENT = 3  # an open item's judging ≈ this many choice items (verdict + 2 pairwise orders)


def _key(config) -> str:
    from .estimate_measure import machine_id

    tb = config.testbench
    spec = {"machine": machine_id(), "base": config.base.model, "quantization": config.base.quantization,
            "dtype": config.base.dtype, "attn": config.base.attn_implementation, "batch": tb.batch_size,
            "batch_tokens": tb.batch_tokens, "new_tokens": tb.decoding.max_new_tokens, "v": 2}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def calibration_path(config):
    """Beside the training calibration, under the config's runs_dir (ltm/estimate.py)."""
    return config.runs_path / "estimate" / f"eval-{_key(config)}.json"


def calibrate_eval(config, force: bool = False) -> dict:
    """Seconds per choice item, per generated item and per perplexity token, measured here (a cached one is marked)."""
    path = calibration_path(config)
    if path.exists() and not force:
        return {**json.loads(path.read_text()), "cached": True}
    import torch

    from .estimate_measure import machine_id
    from .testbench.generate import generate
    from .testbench.items import score_choices
    from .testbench.perplexity import general_text, perplexity
    from .testbench.run import tested_scenes

    tb = config.testbench
    scenes = tested_scenes(config, stand_in=True)
    choice = [s for s in scenes.items if s.kind == "choice"][:CHOICE_ITEMS + 2]
    generated = [s for s in scenes.items if s.kind != "choice"][:GENERATED_ITEMS]
    if not generated:  # a choice-only shelf still gets a generation rate, from choice prompts
        generated = [s for s in scenes.items][:GENERATED_ITEMS]
    ref = basemodel.resolve(config.base.model, config.base.revision)
    tokenizer = basemodel.load_tokenizer(config.base.model, config.base.revision)
    loading = time.perf_counter()
    model = basemodel.load_model(ref, config.base.quantization, config.base.dtype, config.base.trust_remote_code,
                                 config.base.attn_implementation)
    model.eval()
    load_s = time.perf_counter() - loading

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
        "seconds_per_load": load_s,
        "new_tokens": tb.decoding.max_new_tokens,
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    atomic.write_json(path, result)
    return result


# lm-eval tasks ltm can count without their data: items in the split lm-eval scores, answer choices
# per item (requests per item; lm-eval scores one-token answers like MMLU's " A" from one shared
# forward pass), and assumed tokens per request (prompt + one answer, zero-shot, ~150k-vocabulary
# tokenizer). Generation tasks: tokens generated at most (lm-eval's max_gen_toks). Sizes from the
# datasets' published splits; `benchmark_limit` caps each task (each MMLU subject).
MMLU_SUBJECTS = dict(
    abstract_algebra=100, anatomy=135, astronomy=152, business_ethics=100, clinical_knowledge=265, college_biology=144,
    college_chemistry=100, college_computer_science=100, college_mathematics=100, college_medicine=173,
    college_physics=102, computer_security=100, conceptual_physics=235, econometrics=114, electrical_engineering=145,
    elementary_mathematics=378, formal_logic=126, global_facts=100, high_school_biology=310, high_school_chemistry=203,
    high_school_computer_science=100, high_school_european_history=165, high_school_geography=198,
    high_school_government_and_politics=193, high_school_macroeconomics=390, high_school_mathematics=270,
    high_school_microeconomics=238, high_school_physics=151, high_school_psychology=545, high_school_statistics=216,
    high_school_us_history=204, high_school_world_history=237, human_aging=223, human_sexuality=131,
    international_law=121, jurisprudence=108, logical_fallacies=163, machine_learning=112, management=103,
    marketing=234, medical_genetics=100, miscellaneous=783, moral_disputes=346, moral_scenarios=895, nutrition=306,
    philosophy=311, prehistory=324, professional_accounting=282, professional_law=1534, professional_medicine=272,
    professional_psychology=612, public_relations=110, security_studies=245, sociology=201, us_foreign_policy=100,
    virology=166, world_religions=171)
BENCHMARKS = {
    "arc_challenge": {"items": [1172], "requests": 4, "tokens": 50},
    "arc_easy": {"items": [2376], "requests": 4, "tokens": 45},
    "hellaswag": {"items": [10042], "requests": 4, "tokens": 100},
    "winogrande": {"items": [1267], "requests": 2, "tokens": 30},
    "piqa": {"items": [1838], "requests": 2, "tokens": 50},
    "truthfulqa_mc1": {"items": [817], "requests": 5, "tokens": 250},   # a six-question QA preamble in every prompt
    "truthfulqa_mc2": {"items": [817], "requests": 7.5, "tokens": 250},
    "mmlu": {"items": list(MMLU_SUBJECTS.values()), "requests": 1, "tokens": 130},
    "gsm8k": {"items": [1319], "requests": 1, "tokens": 90, "generate": 256},
}


def benchmark_plan(config) -> dict:
    """Forward tokens and generations of the configured benchmarks on one row (assumed sizes)."""
    tb = config.testbench
    limit = tb.benchmark_limit
    counted, missing = {}, []
    for task in tb.benchmarks:
        spec = BENCHMARKS.get(task)
        if spec is None:
            missing.append(task)
            continue
        items = sum(min(n, limit) if limit else n for n in spec["items"])
        shots = 1 + tb.num_fewshot  # each few-shot example lengthens every prompt by about one request
        generated = spec.get("generate", 0)
        counted[task] = {"items": items, "forward_tokens": int(items * spec["requests"] * spec["tokens"] * shots),
                         "generations": items if generated else 0, "new_tokens": generated,
                         "tokens_per_request": spec["tokens"] * shots}
    return {"counted": counted, "not_counted": missing,
            "forward_tokens": sum(c["forward_tokens"] for c in counted.values()),
            "generations": sum(c["generations"] for c in counted.values()),
            "new_tokens": max([c["new_tokens"] for c in counted.values()] or [0])}


def row_plan(config, count) -> dict:
    """What one row evaluates: items by kind, their tokens (`count`: text → tokens), the general
    text's tokens (held-out come per corpus) and the benchmarks."""
    from .testbench.perplexity import MAX_TOKENS, general_text
    from .testbench.run import tested_scenes

    scenes = tested_scenes(config, stand_in=True)
    kinds = [s.kind for s in scenes.items]
    choice_tokens = choice_requests = prompt_short = prompt_open = 0
    for scene in scenes.items:
        prompt = count(scenes.input_text(scene))
        if scene.kind == "choice":
            choice_tokens += sum(prompt + count(" " + choice) for choice in scene.choices)
            choice_requests += len(scene.choices)
        elif scene.kind == "short":
            prompt_short += prompt
        else:
            prompt_open += prompt
    stand_in = bool(config.testbench.families) and not any(s.source for s in scenes.items if s.family)
    return {"families_stand_in": stand_in, "choice": kinds.count("choice"), "short": kinds.count("short"), "open": kinds.count("open"),
            "choice_tokens": choice_tokens, "choice_requests": choice_requests, "short_prompt_tokens": prompt_short, "open_prompt_tokens": prompt_open,
            "general_tokens": min(MAX_TOKENS, count(general_text(config.scoring.general_text))),
            "benchmarks": benchmark_plan(config)}


def assumed_eval(config, arch, assumed, plan: dict) -> dict:
    """The calibration's rates from FLOPs and bytes on the assumed card (see the module docstring)."""
    from .estimate_assumed import forward_flops

    tb = config.testbench
    peak = assumed["peak_tflops"] * 1e12
    bandwidth = assumed["bandwidth_tbs"] * 1e12
    weight_bytes = arch.parameters * (0.53 if config.base.quantization == "nf4" else 2.0)

    def per_token(context: float) -> float:
        if assumed["forward_tokens_per_s"]:
            return 1 / assumed["forward_tokens_per_s"]
        return forward_flops(arch, int(context)) / (peak * assumed["eval_mfu"])

    def step(batch: int, context: float) -> float:
        if assumed["decode_ms_per_step"]:
            return assumed["decode_ms_per_step"] / 1000
        return max(weight_bytes / (bandwidth * assumed["decode_bandwidth"]), batch * per_token(context))

    def generated(items: int, prompt_tokens: int, new_tokens: int) -> float:
        """Seconds for `items` answers: batches of batch_size, each `new_tokens` steps long."""
        if not items:
            return 0.0
        batch = min(items, tb.batch_size)
        context = prompt_tokens / items + new_tokens / 2
        return math.ceil(items / tb.batch_size) * new_tokens * step(batch, context) + prompt_tokens * per_token(context)

    choice_context = plan["choice_tokens"] / max(1, plan["choice_requests"])
    short_new = min(16, tb.decoding.max_new_tokens)  # items.score_short's limit
    bench = plan["benchmarks"]
    per_request = (bench["forward_tokens"] / max(1, sum(c["items"] for c in bench["counted"].values()))
                   if bench["counted"] else 100)
    result = {
        "machine": f"assumed|-|{assumed.card.name}", "assumed": True,
        "seconds_per_choice_item": plan["choice_tokens"] * per_token(choice_context) / max(1, plan["choice"]),
        "seconds_per_short_item": generated(plan["short"], plan["short_prompt_tokens"], short_new) / max(1, plan["short"]),
        "seconds_per_open_item": (generated(plan["open"], plan["open_prompt_tokens"], tb.decoding.max_new_tokens)
                                  / max(1, plan["open"])),
        "seconds_per_perplexity_token": per_token(2048),
        "seconds_per_benchmark_token": per_token(per_request),
        "seconds_per_benchmark_generation": (generated(bench["generations"], 0, bench["new_tokens"]) / bench["generations"]
                                             if bench["generations"] else 0.0),
        "seconds_per_load": weight_bytes / (assumed["load_gbps"] * 1e9),
        "forward_tokens_per_second": 1 / per_token(2048),
        "decode_step_seconds": step(1, 512),
        "weight_bytes": weight_bytes,
    }
    result["seconds_per_generated_item"] = result["seconds_per_open_item"]
    return result


def row_parts(calibration: dict, plan: dict, heldout_tokens: int = 0) -> dict:
    """Seconds of one row by part: scene items, their judging, perplexity, benchmarks."""
    from .testbench.perplexity import MAX_TOKENS

    generated = calibration["seconds_per_generated_item"]
    scenes = (plan["choice"] * calibration["seconds_per_choice_item"]
              + plan["short"] * calibration.get("seconds_per_short_item", generated)
              + plan["open"] * calibration.get("seconds_per_open_item", generated))
    judged = plan["open"] * JUDGE_CHOICE_EQUIVALENT * calibration["seconds_per_choice_item"]
    tokens = plan["general_tokens"] + min(MAX_TOKENS, heldout_tokens)
    bench = plan.get("benchmarks") or {"forward_tokens": 0, "generations": 0, "new_tokens": 0}
    per_generation = calibration.get("seconds_per_benchmark_generation")
    if per_generation is None:  # measured: the calibration's answers ran to testbench.decoding.max_new_tokens
        per_generation = generated * bench["new_tokens"] / max(1, calibration.get("new_tokens", 256))
    benchmarks = (bench["forward_tokens"] * calibration.get("seconds_per_benchmark_token",
                                                            calibration["seconds_per_perplexity_token"])
                  + bench["generations"] * per_generation)
    return {"scenes": scenes, "judge": judged, "perplexity": tokens * calibration["seconds_per_perplexity_token"],
            "benchmarks": benchmarks}


def row_seconds(calibration: dict, plan: dict, heldout_tokens: int = 0, choice_only: bool = False) -> float:
    """Predicted seconds of one row (`choice_only`: the sweep's stage-2 pruning pass)."""
    if choice_only:
        return plan["choice"] * calibration["seconds_per_choice_item"]
    return sum(row_parts(calibration, plan, heldout_tokens).values())
