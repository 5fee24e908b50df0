"""The main job (`make overnight`, `ltm sweep`): base, corpora, then the sweep and its ranking.

Every stage reuses what is already finished (cached base, adapters and item results by
content hash, Optuna trials in the study's storage), so running it again after a kill
continues where it stopped.
"""

from __future__ import annotations

import time

from . import basemodel, corpora


def run_overnight(config, track: bool = True, skip_preflight: bool = False) -> int:
    from . import preflight
    from .score import markdown, score_run
    from .sweep import results_run, run_sweep

    # Before anything loads: a sweep whose adapters are all trained only evaluates, and the
    # trainings' own check would never run (ltm/preflight.py).
    preflight.ensure(config, force=skip_preflight)
    started = time.perf_counter()
    print(f"[1/3] base model {config.base.model}")
    ref = basemodel.resolve(config.base.model, config.base.revision)
    print(f"      ready: {ref.path}")

    print(f"[2/3] corpora in {config.corpora_root}")
    if config.corpora.shelf and not config.corpora_root.exists():
        from .shelf import build_shelf

        build_shelf(config.corpora_root)
    tokenizer = basemodel.load_tokenizer(config.base.model, config.base.revision)
    for path in corpora.select(config.corpora_root, config.corpora.include):
        corpus = corpora.read_corpus(path)
        tokens = corpora.count_tokens(corpus.text, tokenizer)
        print(f"      {corpus.name:<24} {corpus.words:>8,} words {tokens:>9,} tokens {corpus.pages:>6.1f} pages "
              f"{', '.join(corpus.encodings)}")
        for warning in corpus.warnings:
            print(f"      warning: {warning}")

    if config.testbench.backend == "vllm":  # a missing engine stops here, not after the first training
        from .testbench.vllm_backend import require_vllm

        require_vllm()
    if config.testbench.benchmarks:  # before the first training, not after it (lmeval_bridge.check_data)
        from .testbench.run import configured_benchmarks

        configured_benchmarks(config).check_data()
        print(f"      benchmarks {', '.join(config.testbench.benchmarks)}: data readable")

    if config.testbench.families:  # each family at the base's level, before any training (ltm/calibrate.py)
        from .calibrate import calibrate

        calibrate(config)

    print("[3/3] sweep: train → test → score → select")
    csv_path = run_sweep(config, track=track)
    scored, _ = score_run(config, results_run(config))
    print()
    print(markdown(scored))
    print()
    print(f"done in {time.perf_counter() - started:.0f} s. Ranking: {csv_path}")
    print("compare the runs in the MLflow UI: make ui (or ltm ui)")
    return 0
