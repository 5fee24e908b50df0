"""One progress-bar helper for long work (model builds, training, evaluation).

A rich bar with ETA on a terminal; on a pipe or CI log it prints a line every ~10 %, so logs
stay readable and a long job is never silent.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def progress_bar(description: str, total: int) -> Iterator[Callable[..., None]]:
    """Yield ``advance(n=1, **fields)``; fields (e.g. loss=2.3) are shown beside the bar.
    Under `accelerate launch` only the main process draws it (RANK 0), not one bar per rank."""
    from .basemodel import is_main_process

    if not is_main_process():
        yield lambda n=1, **fields: None
        return
    if sys.stderr.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        columns = [
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        ]
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task(description, total=total, info="")

            def advance(n: int = 1, **fields) -> None:
                progress.update(task, advance=n, info=_fmt(fields))

            yield advance
        return

    started = time.perf_counter()
    state = {"done": 0, "next": max(1, total // 10)}

    def advance(n: int = 1, **fields) -> None:
        state["done"] += n
        if state["done"] >= state["next"] or state["done"] == total:
            elapsed = time.perf_counter() - started
            eta = elapsed / state["done"] * (total - state["done"]) if state["done"] else 0.0
            print(f"{description}: {state['done']}/{total} {_fmt(fields)} elapsed {elapsed:.0f}s ETA {eta:.0f}s",
                  file=sys.stderr, flush=True)
            state["next"] = state["done"] + max(1, total // 10)

    yield advance


def _fmt(fields: dict) -> str:
    return " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())


def quiet_libraries() -> None:
    """Libraries' own bars (dataset maps, weight loading, shard writing) would bury ours."""
    import os
    import warnings

    # Raised inside transformers when trl/peft ask the old name; nothing for a user to change.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:  # the environment variable only works before datasets is first imported
        import datasets

        datasets.disable_progress_bars()
    except ImportError:  # pragma: no cover
        pass
    try:
        import transformers

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass
