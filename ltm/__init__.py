"""ltm: which of my texts make a language model reason better?

Train one LoRA/QLoRA adapter per corpus, test each on reasoning scenes and standard
benchmarks, score them, and let Optuna search corpora and mixtures. See README.md.

Where each command lives. ``ltm X`` is ``cmd_X`` in ltm/cli.py (its flags: ltm/cli_parser.py),
which loads the config (ltm/config.py) and calls one stage module:

=============  ==========================================================================
command        module (and the modules it is split into)
=============  ==========================================================================
corpora, text  ltm/corpora.py (decoding: encoding.py, mojibake.py; cleaning: textclean.py)
shelf          ltm/shelf.py (the books: shelf_texts.py)
base           ltm/basemodel.py (embedded bases: tinybase.py, realbase.py)
train          ltm/train.py (its data: train_data.py; the trainer: trainer_backend.py, recipe.py)
estimate       ltm/estimate.py (estimate_measure.py, estimate_assumed.py, estimate_memory.py,
               estimate_eval.py, estimate_report.py)
eval           ltm/testbench/run.py (``evaluate``; the rest of ltm/testbench/)
score          ltm/score.py (score_stats.py, score_table.py, score_warnings.py, score_merges.py)
merge          ltm/merge.py
fork           ltm/fork.py
scenes         ltm/families/ (list, generate) and ltm/calibrate.py (calibrate)
sweep          ltm/pipeline.py → ltm/sweep.py (sweep_study.py, sweep_trial.py)
overnight      ltm/pipeline.py (the same steps as sweep)
ui             ltm/ui.py
=============  ==========================================================================

The loop on disk, under the config's ``runs_dir`` (default ``runs/``):

1. corpus → adapter: ltm/train.py reads a corpus (ltm/corpora.py), packs it (ltm/train_data.py)
   and writes ``runs/adapters/<name>-<hash>/`` (weights, ``manifest.json``, ``heldout/``); the
   hash covers base, corpus content and training settings, so the same request reuses it.
2. adapter → results: ltm/testbench/run.py loads the base once, tests the base, its format
   rows and every adapter, and writes ``runs/results/<run>/<row>.jsonl`` and
   ``<row>.summary.json`` (``<run>`` is the experiment name unless given).
3. results → table: ltm/score.py reads that folder and writes
   ``runs/results/<run>/ltm_results_table.csv`` (and ``.md``, ``.png``) beside it.

``ltm sweep`` / ``ltm overnight`` run 1–3 once per Optuna trial, then score the whole run.
Every cached artifact (bases, adapters, scored items, verdicts, calibrations), where it lives
and what its key depends on: ltm/keys.py (``python -m ltm.keys``). Not on the loop: ltm/demo/
makes the sample corpora and shipped scenes that the demo and the tests run on.
"""

__version__ = "0.1.0"
