"""What `ltm estimate` prints: the page table, memory, a row's evaluation, per corpus and the sweep.

Kept apart from the command line (ltm/cli.py parses, ltm/estimate.py computes): the report reads
the dict ``estimate()`` returns, in both modes — measured on this machine, or from stated
assumptions for a card it does not have (each assumed figure printed with its source).
"""

from __future__ import annotations


def print_estimate(result: dict, books) -> None:
    """Print an ``estimate()`` result (``books``: the ``--books NxPAGES`` pair, or None)."""
    cal = result["calibration"]
    measured = result["measured"]
    corpora_label = (f"{len(result['corpora'])} corpora" if not books
                     else f"the shelf, for {books[0]} books of {books[1]:g} pages")
    if measured:
        print(f"base {result['base']} ({result['quantization']}), measured {cal['tokens_per_second']:,.0f} tokens/s "
              f"{_when_where(cal)} ({cal['seconds_per_step']:.3f} s per step of {cal['tokens_per_step']} tokens)")
        print(f"tokens per A4 page, measured on {corpora_label}: {result['tokens_per_page']:.0f}")
    else:
        _print_assumed(result, corpora_label)
    _print_pages(result)
    mem = result["memory"]
    gib = 1024 ** 3
    if mem:
        fits = ""
        if not measured:
            card_gib = result["assumptions"]["card"]["memory_gib"]
            fits = f"; the card has {card_gib:g} GB: {'fits' if mem['total'] <= card_gib * 1e9 else 'DOES NOT FIT'}"
        print(f"memory: {mem['total'] / gib:.2f} GiB = weights {mem['weights'] / gib:.2f} + LoRA/optimizer "
              f"{mem['lora_and_optimizer'] / gib:.2f} + activations {mem['activations'] / gib:.2f} + logits "
              f"{mem['logits'] / gib:.2f} (+10%){fits}")
    ov, ev = result["overnight_training"], result["evaluation"]
    if "error" in ev:
        print(f"configured sweep: {ov['trainings']} trainings ≈ {_duration(ov['seconds'])} of training; evaluation "
              f"not estimated ({ev['error']})")
        return
    row, ecal = ev["row"], ev["calibration"]
    if measured:
        print(f"evaluation, measured: {ecal['seconds_per_choice_item'] * 1000:,.0f} ms per choice item, "
              f"{ecal['seconds_per_generated_item']:.2f} s per generated answer, "
              f"{ecal['seconds_per_perplexity_token'] * 1000:.2f} ms per perplexity token"
              + (f", {ecal['seconds_per_load']:.1f} s per base load" if "seconds_per_load" in ecal else "")
              + f" ({_when_where(ecal)})")
    bench = row["benchmarks"]
    benchmarks = ""
    if bench["counted"]:
        scored = [f"{t} {c['items']:,}" for t, c in bench["counted"].items() if not c["generations"]]
        generated = [f"{t} {c['generations']:,} answers of ≤ {c['new_tokens']} tokens"
                     for t, c in bench["counted"].items() if c["generations"]]
        benchmarks = (" + benchmarks " + ", ".join(scored + generated)
                      + f" ({bench['forward_tokens']:,} tokens scored; item counts and tokens per request assumed, "
                        "ltm/estimate_eval.py BENCHMARKS)")
    parts = ev["parts"]
    print(f"a row = {row['choice']} choice items ({row['choice_tokens']:,} tokens) + {row['short']} short + {row['open']} "
          f"open answers (judged: + 3 choice items each) + {row['general_tokens']:,} general-text tokens + its held-out "
          f"slice{benchmarks} ≈ {_duration(ev['row_seconds'])} (scenes {_duration(parts['scenes'] + parts['judge'])}, "
          f"perplexity {_duration(parts['perplexity'])}, benchmarks {_duration(parts['benchmarks'])})")
    if row.get("families_stand_in"):
        print("  (scene families counted at their middle level: the base has no calibration here yet, ltm scenes calibrate)")
    if bench["not_counted"]:
        print(f"not counted: benchmarks {', '.join(bench['not_counted'])} (no size in ltm/estimate_eval.py BENCHMARKS)")
    print("per corpus:")
    print(f"  {'corpus':<28} {'pages':>7} {'tokens':>10} {'steps':>7} {'training':>10} {'evaluation':>11}")
    for item in result["corpora"]:
        name = item["corpus"] + (f" ×{item['count']}" if item["count"] > 1 else "")
        print(f"  {name:<28} {item['pages']:>7g} {item['tokens']:>10,} {item['steps']:>7,}{'!' if item['too_few_steps'] else ' '}"
              f"{_duration(item['train_seconds']):>9} {_duration(item['eval_seconds']):>11}")
    few = [item for item in result["corpora"] if item["too_few_steps"]]
    if few:
        from .recipe import MIN_STEPS

        tc = result["training"]
        print(f"  ! fewer than {MIN_STEPS} optimizer steps: {tc['batch_size']} batch × {tc['grad_accum']} grad_accum × "
              f"{tc['max_length']:,} tokens = {tc['batch_size'] * tc['grad_accum'] * tc['max_length']:,} tokens per step"
              f"{'' if tc['max_steps'] > 0 else ' over ' + format(tc['epochs'], 'g') + ' epochs'} — too few to train a LoRA "
              "adapter; lower training.batch_size or training.grad_accum, raise training.epochs, or set training.max_steps")
    loads = (f" + {ev['loads']} base loads ≈ {_duration(ev['load_seconds'])}" if ev.get("load_seconds") else "")
    formats = f", {ev['formats']} format row{'s' if ev['formats'] != 1 else ''}" if ev["formats"] else ""
    print(f"configured sweep: {ov['trainings']} trainings ≈ {_duration(ov['seconds'])} of training + {ev['rows']} rows"
          f"{formats} + {ev['pruning_passes']} choice-only passes ≈ {_duration(ev['sweep_seconds'])} of evaluation{loads}"
          f" = {_duration(result['overnight_seconds'])}" + ("" if measured else " (assumed, not measured)"))


def _when_where(cal: dict) -> str:
    """Where and when a calibration was measured: a cached one may be months old, or from another setup."""
    host, _cpu, device = (cal.get("machine", "").split("|") + ["", "", ""])[:3]
    when = cal.get("measured", "").replace("T", " ")[:16] or "at an unrecorded date"
    where = f"on {device or 'this machine'}" + (f" of {host}" if host else "")
    if cal.get("cached"):
        return f"{where}, {when} (cached; --recalibrate measures again)"
    return f"{where}, {when} (just now)"


def _passes(passes: float) -> str:
    return f"{passes:.0f}" if passes >= 10 else f"{passes:.1f}" if passes >= 1 else f"{passes:.2f}"


def _print_pages(result: dict) -> None:
    """The page table, with the passes each page count gets: max_steps fixes the steps, so a large
    text is only partly trained (*) and a small one repeated many times (!) — the time alone hid both."""
    from .recipe import MAX_PASSES

    tc = result["training"]
    print(f"{'pages':>8} {'tokens':>12} {'steps':>8} {'passes':>8}   {'time':>10}")
    capped = repeated = False
    for row in result["pages"]:
        mark = "*" if row["capped"] else "!" if tc["max_steps"] > 0 and row["passes"] > MAX_PASSES else " "
        capped, repeated = capped or mark == "*", repeated or mark == "!"
        print(f"{row['pages']:>8g} {row['tokens']:>12,} {row['steps']:>8,} {_passes(row['passes']):>8} {mark} "
              f"{_duration(row['seconds']):>10}")
    if capped:
        print(f"* capped by training.max_steps={tc['max_steps']}: training stops before one full pass, so the rest "
              "of the text is never trained on — raise training.max_steps, or unset it to train training.epochs passes")
    if repeated:
        print(f"! training.max_steps={tc['max_steps']} repeats the text more than {MAX_PASSES} times: it is memorised "
              "rather than learned from — lower training.max_steps or add text")


def _print_assumed(result: dict, corpora_label: str) -> None:
    """The assumed mode's header: why nothing is measured, and every assumed figure with its source."""
    from .estimate_assumed import ASSUMPTIONS

    a = result["assumptions"]
    cal = result["calibration"]
    card = a["card"]
    print(f"not measured: {result['why_assumed']} — every rate below is ASSUMED for one {card['name']}; replace any "
          f"with --assume KEY=VALUE ({', '.join(ASSUMPTIONS)}) or pick a card with --card")
    print(f"  assumed card: {a['peak_tflops']['value']:g} dense bf16 TFLOP/s, {a['bandwidth_tbs']['value']:g} TB/s, "
          f"{card['memory_gib']:g} GB — {a['peak_tflops']['source']}")
    print(f"  base {result['base']} ({result['quantization']}): {result['parameters'] / 1e9:.2f} B parameters — "
          f"from {result['parameters_source']}")
    print(f"  assumed training: {cal['tokens_per_second']:,.0f} tokens/s = {cal['how']}; {cal['seconds_per_step']:.2f} s "
          f"per step of {cal['tokens_per_step']:,} tokens")
    if "train_tokens_per_s" not in a:
        print(f"    train_mfu {a['train_mfu']['value']:g}: {a['train_mfu']['source']}")
    if result["tokens_counted"] == "tokenizer":
        print(f"  tokens per A4 page, measured with the base's tokenizer on {corpora_label}: {result['tokens_per_page']:.0f}")
    else:
        print(f"  tokens per A4 page: {result['tokens_per_page']:.0f} = 500 words × {a['tokens_per_word']['value']:g} "
              f"assumed tokens per word ({a['tokens_per_word']['source']})")
    ev = result["evaluation"]
    if "error" in ev:
        return
    e = ev["calibration"]
    print(f"  assumed evaluation: forward passes at {a['eval_mfu']['value'] * 100:.0f} % of the peak ({a['eval_mfu']['source']})"
          f" = {e['forward_tokens_per_second']:,.0f} tokens/s at 2,048-token windows; a generate step reads "
          f"{e['weight_bytes'] / 1e9:.1f} GB of weights at {a['decode_bandwidth']['value'] * 100:.0f} % of the bandwidth "
          f"({a['decode_bandwidth']['source']}) = {e['decode_step_seconds'] * 1000:.0f} ms, and every answer runs to its "
          f"token limit; a base load reads them at {a['load_gbps']['value']:g} GB/s ({a['load_gbps']['source']}) = "
          f"{e['seconds_per_load']:.0f} s")
    for key in ("forward_tokens_per_s", "decode_ms_per_step", "parameters"):
        if key in a:
            print(f"  {key} = {a[key]['value']:g}: {a[key]['source']}")



def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
