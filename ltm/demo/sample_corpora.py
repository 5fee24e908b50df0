"""Writes the ten sample corpora (corpora/), the embedded base's pretraining and held-out
text (ltm/data/), and the two-choice items of the lm-eval task ``ltm_relations`` (ltm/tasks/).

Why generated: the demo must show the loop telling useful corpora from useless ones, with no
copyrighted text, and the same seed must always give the same bytes. Five corpora teach
reasoning patterns that later test scenes probe (`teaching`); five are distractors of similar
size (`distractors`, `diary_ru`). Each corpus has its own seeded stream, so changing one
generator leaves the others' bytes alone.

    python -m ltm.demo.sample_corpora   # rewrites corpora/, ltm/data/*.txt and ltm/tasks/ltm_relations.jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from pathlib import Path

from .diary_ru import _diary
from .distractors import _recipes_chapter, _shopping_list, _shuffled, _weather_line
from .pretrain_text import generate_pretrain_text
from .teaching import _CONCLUSION, _arithmetic, _cause, _holds, _syllogism_lines, _transitive, transitive_chain
from .words import SEED, WORDS_TARGET, _fill

_PACKAGE = Path(__file__).parent.parent  # ltm/: data/ and tasks/ live there

# koi8-r has no guillemets or em dash; files of that era used plain quotes and hyphens.
_KOI8_SAFE = str.maketrans({"«": '"', "»": '"', "—": "-"})


# ------------------------------------------------------------------ writers
def generate_corpora(out_dir: Path, seed: int = SEED) -> list[Path]:
    """Write the ten corpora under `out_dir`; each has its own seeded stream, so changing one
    generator leaves the others' bytes alone."""
    out_dir = Path(out_dir)
    written: list[Path] = []

    def put(rel: str, text: str, encoding: str = "utf-8") -> None:
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode(encoding))
        written.append(path)

    def rng_for(name: str) -> random.Random:
        return random.Random(f"{seed}:{name}")

    put("transitive_relations.txt", _fill(rng_for("transitive"), lambda r: " ".join(_transitive(r))))
    put("syllogisms.txt", _fill(rng_for("syllogisms"), lambda r: " ".join(_syllogism_lines(r))))
    stories = iter(range(1, 10_000))
    put("arithmetic_stories.md", "# Arithmetic stories\n\n"
        + _fill(rng_for("arithmetic"), lambda r: _arithmetic(r, next(stories)), sep="\n\n"))
    put("cause_and_effect.txt", _fill(rng_for("cause"), _cause))
    rng = rng_for("holds")
    for k in (1, 2, 3):
        put(f"who_holds_what/0{k}.txt",
            f"Chapter {k}\n\n" + _fill(rng, lambda r: " ".join(_holds(r)), WORDS_TARGET // 3, sep="\n\n"))
    rng = rng_for("recipes")
    for kind in ("soups", "breads", "desserts"):
        put(f"recipes/{kind}.md", _recipes_chapter(rng, kind, WORDS_TARGET // 3))
    days = (dt.date(2021, 1, 1) + dt.timedelta(days=k) for k in range(10_000))
    put("weather_log.txt", _fill(rng_for("weather"), lambda r: _weather_line(r, next(days))))
    rng = rng_for("shopping")
    shop_days = (dt.date(2021, 1, 2) + dt.timedelta(days=k * 3 + rng.randint(0, 2)) for k in range(10_000))
    put("shopping_lists.md", "# Shopping lists\n\n" + _fill(rng, lambda r: _shopping_list(r, next(shop_days))))
    put("shuffled_sentences.txt", _shuffled(rng_for("shuffled")))
    rng = rng_for("diary")
    put("diary_ru/2019.txt", _diary(rng, 2019, WORDS_TARGET // 2).replace("\n", "\r\n"), "cp1251")
    put("diary_ru/2020.txt", _diary(rng, 2020, WORDS_TARGET // 2).translate(_KOI8_SAFE), "koi8-r")
    return written


def generate_benchmark_items(seed: int = SEED, count: int = 60) -> list[dict]:
    """Two-choice transitive items for the shipped lm-eval task ``ltm_relations`` (offline).

    Fresh chains from their own seed, so the items are not training sentences; the wrong
    choice is the reversed conclusion.
    """
    rng = random.Random(f"{seed}:benchmark")
    items: list[dict] = []
    while len(items) < count:
        premises, conclusion = transitive_chain(rng)
        match = _CONCLUSION.match(conclusion)
        if not match:  # superlative conclusions have no simple reversal
            continue
        lead, (a, word, b) = conclusion[: match.start(1)].strip(), match.groups()
        right, wrong = f"{a} is {word} than {b}.", f"{b} is {word} than {a}."
        choices = [right, wrong] if rng.random() < 0.5 else [wrong, right]
        items.append({"context": " ".join(premises) + " " + lead, "choices": choices, "label": choices.index(right)})
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ltm.demo.sample_corpora", description="Regenerate the sample corpora and pretraining text.")
    parser.add_argument("--out", default="corpora", help="shelf folder to write (default: corpora)")
    parser.add_argument("--pretrain", default=str(_PACKAGE / "data" / "pretrain.txt"),
                        help="pretraining text to write (default: ltm/data/pretrain.txt)")
    parser.add_argument("--heldout", default=str(_PACKAGE / "data" / "general_heldout.txt"),
                        help="general held-out text for perplexity (default: ltm/data/general_heldout.txt)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    for path in generate_corpora(Path(args.out), args.seed):
        print(path)
    Path(args.pretrain).parent.mkdir(parents=True, exist_ok=True)
    Path(args.pretrain).write_bytes(generate_pretrain_text(args.seed).encode("utf-8"))
    print(args.pretrain)
    # Same kind of text as the pretraining, never seen in it: forgetting shows up here first.
    Path(args.heldout).write_bytes(generate_pretrain_text(args.seed + 1, target_words=6_000).encode("utf-8"))
    print(args.heldout)
    tasks = _PACKAGE / "tasks" / "ltm_relations.jsonl"
    tasks.parent.mkdir(parents=True, exist_ok=True)
    tasks.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in generate_benchmark_items(args.seed)),
                     encoding="utf-8")
    print(tasks)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
