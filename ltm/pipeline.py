"""The main job (`make overnight`): every stage that exists, in order, resumable.

Each stage reuses what is already finished (cached base, adapters by content hash), so
running it again after a kill continues where it stopped. Stages that are not built yet
are named at the end, so the user knows what the run did not cover.
"""

from __future__ import annotations

import time

from . import basemodel, corpora, train

NOT_YET = ["evaluate every row on scenes and benchmarks (ltm eval)", "score and rank (ltm score)",
           "Optuna search over mixtures (ltm sweep)"]


def run_overnight(config) -> int:
    started = time.perf_counter()
    print(f"[1/3] base model {config.base.model}")
    ref = basemodel.resolve(config.base.model, config.base.revision)
    print(f"      ready: {ref.path}")

    print(f"[2/3] corpora in {config.corpora_root}")
    paths = corpora.select(config.corpora_root, config.corpora.include)
    # Read every corpus once: the same sources are shown here and trained below.
    sources = train.load_sources(config, [p.stem if p.is_file() else p.name for p in paths])
    tokenizer = basemodel.load_tokenizer(config.base.model, config.base.revision)
    for source in sources:
        ((corpus, _),) = source.parts
        tokens = corpora.count_tokens(corpus.text, tokenizer)
        print(f"      {corpus.name:<24} {corpus.words:>8,} words {tokens:>9,} tokens {corpus.pages:>6.1f} pages "
              f"{', '.join(corpus.encodings)}")
        for warning in corpus.warnings:
            print(f"      warning: {warning}")

    print(f"[3/3] training one adapter per corpus ({len(sources)})")
    results = train.train_sources(config, sources)
    for result in results:
        m = result.manifest
        how = "reused" if result.reused else f"{m['train_seconds']:.0f} s"
        print(f"      {result.path.name:<32} loss {m['first_loss']:.3f} → {m['last_loss']:.3f} ({how})")
    print(f"done in {time.perf_counter() - started:.0f} s. Adapters: {train.adapters_dir(config)}")
    print("not built yet (next): " + "; ".join(NOT_YET))
    return 0
